"""TfdsExampleGen on a real TFDS-format cats_vs_dogs prepared offline (50 images)."""

from __future__ import annotations

import collections
import json

import pytest

from components import read_label_names
from components.splits import DEFAULT_TFDS_DATASET, DEFAULT_TFDS_SPLITS
from components.tfds_example_gen import TfdsExampleGen
from tests.components.helpers import TFDS_NUM_EXAMPLES, feature, read_bad_rows, read_records, read_report, run_executor
from trainer import contract


def test_component_api():
    c = TfdsExampleGen(data_dir="/tmp/x")
    assert list(c.outputs) == ["examples"]
    assert c.exec_properties["dataset"] == DEFAULT_TFDS_DATASET == "cats_vs_dogs"
    assert json.loads(c.exec_properties["splits"]) == DEFAULT_TFDS_SPLITS
    # The counts below (20, 5 and 5 of 50) follow from these.
    assert DEFAULT_TFDS_SPLITS == {"train": "train[:40%]", "validation": "train[40%:50%]", "test": "train[50%:60%]"}
    with pytest.raises(ValueError):
        TfdsExampleGen(splits={"bad name": "train"})


def _filenames(uri, split):
    return [feature(ex, contract.FILENAME_KEY).decode() for ex in read_records(uri, split)]


def test_default_slicing(tfds_data_dir, tmp_path):
    examples = run_executor(TfdsExampleGen(data_dir=tfds_data_dir), str(tmp_path / "ex"))
    train, validation, test = (_filenames(examples.uri, split) for split in contract.REQUIRED_SPLITS)
    assert (len(train), len(validation), len(test)) == (20, 5, 5)
    assert not set(train) & set(validation) and not set(train) & set(test) and not set(validation) & set(test)
    assert read_label_names(examples.uri) == ["cat", "dog"]
    assert json.loads(examples.get_string_custom_property(contract.LABEL_NAMES_PROPERTY)) == ["cat", "dog"]
    assert examples.split_names == json.dumps(list(contract.REQUIRED_SPLITS))
    for ex in read_records(examples.uri, "train"):
        name = feature(ex, contract.FILENAME_KEY).decode()
        assert feature(ex, contract.LABEL_NAME_KEY).decode() == ("cat" if "/Cat/" in name else "dog")
        assert feature(ex, contract.LABEL_KEY) == (0 if "/Cat/" in name else 1)
    report = read_report(examples.uri)
    assert report["splits"]["train"]["files_in"] == 20
    assert report["splits"][contract.VALIDATION_SPLIT]["files_in"] == 5
    assert report["splits"][contract.TEST_SPLIT]["files_in"] == 5


def test_three_way_slicing_matches_tfds(tfds_data_dir, tmp_path):
    import tensorflow_datasets as tfds

    splits = {"train": "train[:90%]", "eval": "train[90%:95%]", "test": "train[95%:]"}
    examples = run_executor(TfdsExampleGen(data_dir=tfds_data_dir, splits=splits),
                            str(tmp_path / "ex"))
    builder = tfds.builder("cats_vs_dogs", data_dir=tfds_data_dir)
    assert len(builder.info.splits["train"].file_instructions) == 3  # crosses shards
    seen = collections.Counter()
    for name, spec in splits.items():
        got = sorted(_filenames(examples.uri, name))
        ds = tfds.as_numpy(builder.as_dataset(split=spec))
        want = sorted(ex["image/filename"].decode() for ex in ds)
        assert got == want, name  # the very same examples TFDS gives for that slice
        seen.update(got)
    assert sum(seen.values()) == TFDS_NUM_EXAMPLES and max(seen.values()) == 1
    report = read_report(examples.uri)
    assert report["totals"]["files_in"] == TFDS_NUM_EXAMPLES
    # Example 7 was stored as a CMYK JPEG: converted, reported, still a record.
    rows = read_bad_rows(examples.uri)
    assert [(r["outcome"], r["reason"], r["path"]) for r in rows] == [
        ("converted", "cmyk", "PetImages/Dog/7.jpg")]
    assert report["totals"]["converted"] == 1 and report["totals"]["skipped"] == 0


def test_keeps_original_bytes(tfds_data_dir, tmp_path):
    import tensorflow_datasets as tfds

    examples = run_executor(TfdsExampleGen(data_dir=tfds_data_dir, splits={"all": "train[:10]"}),
                            str(tmp_path / "ex"))
    builder = tfds.builder("cats_vs_dogs", data_dir=tfds_data_dir)
    ds = builder.as_dataset(split="train[:10]", decoders={"image": tfds.decode.SkipDecoding()})
    raw = {ex["image/filename"].decode(): ex["image"] for ex in tfds.as_numpy(ds)}
    records = read_records(examples.uri, "all")
    assert len(records) == 10
    for ex in records:
        name = feature(ex, contract.FILENAME_KEY).decode()
        if name != "PetImages/Dog/7.jpg":
            assert feature(ex, contract.IMAGE_KEY) == raw[name]
