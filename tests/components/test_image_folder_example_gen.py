"""ImageFolderExampleGen: executor runs on small folders (in-process Beam)."""

from __future__ import annotations

import collections
import glob
import json
import os

import numpy as np
import pytest
from PIL import Image

from components import read_label_names, splits
from components.example_records import FEATURE_KEYS
from tests.components.helpers import feature, png_bytes, read_bad_rows, read_records, read_report, run_executor
from trainer import contract

# What the component uses when not told otherwise (the demo_run fixture).
SPLITS = splits.parse_split_buckets(splits.DEFAULT_SPLIT_BUCKETS)


def _all_expected(summary):
    expected = {rel: tuple(v) for rel, v in summary["special_files"].items()}
    expected.update(summary["extra_files"])
    return expected


def test_component_api():
    from components.image_folder_example_gen import ImageFolderExampleGen, split_buckets_of

    c = ImageFolderExampleGen(input_base="/data", split_buckets={"train": 9, "eval": 1},
                              max_pixels=1000, max_bad_fraction=0.2)
    assert list(c.outputs) == ["examples"]
    assert c.exec_properties["max_pixels"] == 1000
    assert c.exec_properties["max_bad_fraction"] == 0.2
    assert split_buckets_of(c) == {"train": 9, "eval": 1}
    assert split_buckets_of(ImageFolderExampleGen(input_base="/d")) == splits.DEFAULT_SPLIT_BUCKETS
    for bad in ({"split_buckets": {}}, {"max_pixels": 0}, {"max_bad_fraction": 1.5}):
        with pytest.raises(ValueError):
            ImageFolderExampleGen(input_base="/d", **bad)


def test_special_file_outcomes(demo_run):
    """Every awkward file: the expected outcome, reason and one report line."""
    _, summary, examples = demo_run
    rows = {row["path"]: row for row in read_bad_rows(examples.uri)}
    expected = _all_expected(summary)
    records = {}
    for split in contract.REQUIRED_SPLITS:
        for ex in read_records(examples.uri, split):
            records[feature(ex, contract.FILENAME_KEY).decode()] = (split, ex)
    ignored = {e["path"]: e["reason"] for e in read_report(examples.uri)["ignored"]["entries"]}
    for rel, (outcome, reason) in expected.items():
        split = splits.assign_split(rel, SPLITS)
        if outcome == "ignored":
            assert ignored[rel] == reason and rel not in rows and rel not in records, rel
            continue
        if outcome == "kept":
            assert rel not in rows and rel in records, rel
        else:
            row = rows[rel]
            assert (row["outcome"], row["reason"], row["split"]) == (outcome, reason, split), row
        if outcome == "skipped":
            assert rel not in records, rel
        else:
            assert records[rel][0] == split
    # Nothing else is reported: every regular demo image is kept as is.
    assert set(rows) == {rel for rel, (o, _) in expected.items() if o not in ("kept", "ignored")}
    assert set(ignored) == {rel for rel, (o, _) in expected.items() if o == "ignored"}


def test_conservation_per_split(demo_run):
    root, summary, examples = demo_run
    report = read_report(examples.uri)
    on_disk = []
    for dirpath, _, files in os.walk(root):
        on_disk += [os.path.relpath(os.path.join(dirpath, f), root) for f in files]
    ignored = [rel for rel, (o, _) in _all_expected(summary).items() if o == "ignored"]
    assert report["ignored"]["count"] == len(ignored)
    on_disk = [rel for rel in on_disk if rel not in ignored]
    per_split = collections.Counter(splits.assign_split(rel, SPLITS) for rel in on_disk)
    skipped = collections.Counter(
        splits.assign_split(rel, SPLITS) for rel, (o, _) in _all_expected(summary).items()
        if o == "skipped")
    total_records = 0
    for split in contract.REQUIRED_SPLITS:
        n_records = len(read_records(examples.uri, split))
        entry = report["splits"][split]
        assert entry["files_in"] == per_split[split]
        assert entry["records_out"] == n_records
        assert entry["files_in"] == entry["records_out"] + entry["skipped"]
        assert entry["skipped"] == skipped[split] == sum(entry["skipped_by_reason"].values())
        assert entry["kept"] + entry["converted"] == entry["records_out"]
        total_records += n_records
    assert report["totals"]["files_in"] == len(on_disk) == summary["total_files"] + 3 - len(ignored)
    assert total_records == report["totals"]["records_out"]
    assert examples.get_int_custom_property("num_records") == total_records


def test_records_and_labels(demo_run):
    import tensorflow as tf

    _, summary, examples = demo_run
    assert read_label_names(examples.uri) == ["stripes_horizontal", "stripes_vertical"]
    assert json.loads(examples.get_string_custom_property(contract.LABEL_NAMES_PROPERTY)) == [
        "stripes_horizontal", "stripes_vertical"]
    assert examples.split_names == json.dumps(list(contract.REQUIRED_SPLITS))
    assert os.path.isdir(os.path.join(examples.uri, "Split-train"))
    names = []
    for split in contract.REQUIRED_SPLITS:
        for ex in read_records(examples.uri, split):
            assert sorted(ex.features.feature.keys()) == sorted(FEATURE_KEYS)
            name = feature(ex, contract.FILENAME_KEY).decode()
            label_name = feature(ex, contract.LABEL_NAME_KEY).decode()
            assert name.split("/")[0] == label_name
            assert feature(ex, contract.LABEL_KEY) == ["stripes_horizontal", "stripes_vertical"].index(label_name)
            image = tf.io.decode_image(feature(ex, contract.IMAGE_KEY), channels=3,
                                       expand_animations=False)
            assert tuple(image.shape) == (feature(ex, contract.IMAGE_HEIGHT_KEY),
                                          feature(ex, contract.IMAGE_WIDTH_KEY), 3)
            assert feature(ex, contract.IMAGE_FORMAT_KEY) in (b"jpeg", b"png")
            names.append(name)
    assert len(names) == len(set(names))
    # The regular images are stored byte for byte.
    root = demo_run[0]
    sample = [n for n in names if not os.path.basename(n).startswith("special_")][0]
    for split in contract.REQUIRED_SPLITS:
        for ex in read_records(examples.uri, split):
            if feature(ex, contract.FILENAME_KEY).decode() == sample:
                with open(os.path.join(root, sample), "rb") as f:
                    assert feature(ex, contract.IMAGE_KEY) == f.read()


def test_same_input_gives_identical_outputs(demo_dir, demo_run, tmp_path):
    from components.image_folder_example_gen import ImageFolderExampleGen

    root, _ = demo_dir
    first = demo_run[2].uri
    second = run_executor(ImageFolderExampleGen(input_base=root, max_bad_fraction=0.5),
                          str(tmp_path / "again")).uri
    for name in (contract.BAD_IMAGES_FILE, contract.INGEST_REPORT_FILE, contract.LABEL_NAMES_FILE):
        with open(os.path.join(first, name), "rb") as a, open(os.path.join(second, name), "rb") as b:
            assert a.read() == b.read(), name
    for split in contract.REQUIRED_SPLITS:
        a = [ex.SerializeToString(deterministic=True) for ex in read_records(first, split)]
        b = [ex.SerializeToString(deterministic=True) for ex in read_records(second, split)]
        assert sorted(a) == sorted(b)
        # Single in-process runner: the files themselves are byte-identical too.
        fa = sorted(glob.glob(os.path.join(first, f"Split-{split}", "*")))
        fb = sorted(glob.glob(os.path.join(second, f"Split-{split}", "*")))
        assert [os.path.basename(p) for p in fa] == [os.path.basename(p) for p in fb]
        for pa, pb in zip(fa, fb):
            with open(pa, "rb") as x, open(pb, "rb") as y:
                assert x.read() == y.read()


def test_max_bad_fraction_fails_with_reasons(tmp_path):
    from components.bad_images import TooManyBadImagesError
    from components.image_folder_example_gen import ImageFolderExampleGen

    root = tmp_path / "images"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
    for i in range(6):
        (root / "a" / f"{i}.png").write_bytes(
            png_bytes(Image.fromarray(np.full((8, 8, 3), i * 30, np.uint8))))
    (root / "b" / "empty1.jpg").write_bytes(b"")
    (root / "b" / "empty2.jpg").write_bytes(b"")
    (root / "b" / "text.jpg").write_bytes(b"text")
    component = ImageFolderExampleGen(input_base=str(root), max_bad_fraction=0.2)
    out = str(tmp_path / "out")
    with pytest.raises(TooManyBadImagesError) as err:
        run_executor(component, out)
    message = str(err.value)
    assert "3 of 9" in message and "empty_file=2" in message and "not_an_image=1" in message
    assert message.index("empty_file") < message.index("not_an_image")
    # The report is there for the user to read.
    assert len(read_bad_rows(out)) == 3
    # Same folder, tolerant threshold: class b gave no record, which is an error of its own ...
    with pytest.raises(ValueError, match=r"'b' \(3 file\(s\), all skipped: 2 empty_file, 1 not_an_image\)"):
        run_executor(ImageFolderExampleGen(input_base=str(root), max_bad_fraction=0.5,
                                           split_buckets={"train": 1}), str(tmp_path / "out2"))
    # ... unless asked to go on: class b keeps its label, has no records and is reported.
    examples = run_executor(ImageFolderExampleGen(input_base=str(root), max_bad_fraction=0.5,
                                                  split_buckets={"train": 1},
                                                  ignore_empty_class_folders=True),
                            str(tmp_path / "out3"))
    assert read_label_names(examples.uri) == ["a", "b"]
    assert [e["class"] for e in read_report(examples.uri)["empty_class_folders"]["no_records"]] == ["b"]
    assert read_report(examples.uri)["totals"]["records_out"] == 6


def test_a_split_without_records_is_a_clear_error(tmp_path):
    from components.image_folder_example_gen import ImageFolderExampleGen

    root = tmp_path / "images"
    (root / "a").mkdir(parents=True)
    (root / "a" / "only.png").write_bytes(png_bytes(Image.fromarray(np.zeros((4, 4, 3), np.uint8))))
    component = ImageFolderExampleGen(input_base=str(root), split_buckets={"train": 1, "validation": 1, "test": 1})
    with pytest.raises(ValueError, match=r"split\(s\) .* got no records .*larger share"):
        run_executor(component, str(tmp_path / "out"))


def test_split_ratios_pipeline_1000_files(tmp_path):
    from components.image_folder_example_gen import ImageFolderExampleGen

    root = tmp_path / "many"
    for cls in ("x", "y"):
        (root / cls).mkdir(parents=True)
    for i in range(1000):  # distinct bytes: identical files would be grouped into one split
        pixels = np.array([[[i % 256, i // 256, 0]]], np.uint8)
        (root / ("x" if i % 2 else "y") / f"{i:04d}.png").write_bytes(png_bytes(Image.fromarray(pixels)))
    buckets = {"train": 8, "eval": 2}
    examples = run_executor(ImageFolderExampleGen(input_base=str(root), split_buckets=buckets),
                            str(tmp_path / "out"))
    n_train = len(read_records(examples.uri, "train"))
    n_eval = len(read_records(examples.uri, "eval"))
    assert n_train + n_eval == 1000
    assert abs(n_train - 800) <= 50  # 4 binomial sd
    expected = collections.Counter(
        splits.assign_split(f"{'x' if i % 2 else 'y'}/{i:04d}.png", list(buckets.items())) for i in range(1000))
    assert (n_train, n_eval) == (expected["train"], expected["eval"])
