"""DataGate: configured class names that disagree with the data's, and anomalies in label or image features,
stop the run."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.components.helpers import png_bytes
from trainer import contract
from trainer.config import ConfigError, TrainingConfig, check_class_names

# --------------------------------------------------------------------------
# Class names: the configured list must be the data's label names, in label order.


def test_class_names_in_another_order_stop_the_run_naming_both_lists():
    """The reported case: --training.class_names dog,cat on a folder whose classes sort as cat, dog."""
    with pytest.raises(ConfigError) as error:
        check_class_names(("dog", "cat"), ["cat", "dog"], "/x/label_names.txt")
    message = str(error.value)
    assert error.value.field == "training.class_names"
    assert "['dog', 'cat'] disagrees with the data's label names ['cat', 'dog']" in message
    assert "another order" in message and "/x/label_names.txt" in message
    assert "set training.class_names to cat,dog or leave it empty" in message


@pytest.mark.parametrize("configured, data, words", [
    (("cat", "dgo"), ["cat", "dog"], "only in the configuration: ['dgo'], only in the data: ['dog']"),
    (("Cat", "dog"), ["cat", "dog"], "only in the configuration: ['Cat'], only in the data: ['cat']"),
    (("bird", "cat", "dog"), ["cat", "dog", "bird"], "another order"),
    (("cat", "cat"), ["cat", "dog"], "only in the data: ['dog']"),
])
def test_class_names_that_differ_in_spelling_or_order_stop_the_run(configured, data, words):
    with pytest.raises(ConfigError, match="disagrees with the data's label names") as error:
        check_class_names(configured, data, contract.LABEL_NAMES_FILE)
    assert words in str(error.value)
    assert str(list(configured)) in str(error.value) and str(list(data)) in str(error.value)


def test_class_names_that_agree_or_are_not_configured_pass():
    check_class_names(("cat", "dog"), ["cat", "dog"])
    check_class_names((), ["cat", "dog"])


def _examples_dir(tmp_path, names):
    uri = tmp_path / "examples"
    (uri / "Split-train").mkdir(parents=True)
    (uri / "Split-train" / "data_tfrecord-00000-of-00001.gz").write_bytes(b"")
    (uri / contract.LABEL_NAMES_FILE).write_text("".join(f"{n}\n" for n in names))
    return [str(uri / "Split-train" / "data_tfrecord-00000-of-00001.gz")]


def test_the_trainer_serves_the_data_label_names_and_refuses_a_disagreeing_list(tmp_path):
    """Defence in depth: the Trainer (which writes the served class names) checks the same way."""
    from trainer.run import read_class_names

    train_files = _examples_dir(tmp_path, ["cat", "dog"])
    assert read_class_names(TrainingConfig(), train_files) == ["cat", "dog"]
    assert read_class_names(TrainingConfig(class_names="cat,dog"), train_files) == ["cat", "dog"]
    with pytest.raises(ConfigError, match=r"\['dog', 'cat'\] disagrees with the data's label names \['cat', 'dog'\]"):
        read_class_names(TrainingConfig(class_names="dog,cat"), train_files)


# --------------------------------------------------------------------------
# Anomalies: in label or image features they stop the run, in words; elsewhere they are listed.


def _anomalies(features=(), dataset=False):
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    proto = anomalies_pb2.Anomalies()
    for feature, short, long in features:
        info = proto.anomaly_info[feature]
        info.short_description, info.description = short, long
        info.reason.add(type=anomalies_pb2.AnomalyInfo.ENUM_TYPE_UNEXPECTED_STRING_VALUES,
                        short_description=short, description=long)
    if dataset:
        proto.dataset_anomaly_info.short_description = "Low num examples in dataset."
        proto.dataset_anomaly_info.reason.add(type=anomalies_pb2.AnomalyInfo.DATASET_LOW_NUM_EXAMPLES)
    return proto


def test_label_anomaly_stops_the_run_in_words_and_other_features_do_not():
    from components.data_gate import anomaly_entries, decide

    by_split = {
        "train": _anomalies(),
        "test": _anomalies([(contract.LABEL_NAME_KEY, "Unexpected string values",
                             "Examples contain values missing from the schema: bird (~33%).")]),
        "validation": _anomalies([(contract.FILENAME_KEY, "Unexpected string values", "odd.png")], dataset=True),
    }
    entries = anomaly_entries(by_split, contract.GATED_FEATURE_KEYS)
    assert [(e["split"], e["feature"], e["stops_run"]) for e in entries] == [
        ("test", contract.LABEL_NAME_KEY, True), ("validation", contract.FILENAME_KEY, False),
        ("validation", "", False)]
    with pytest.raises(ValueError) as error:
        decide((), ["cat", "dog"], contract.LABEL_NAMES_FILE, entries, continue_on_anomalies=False)
    message = str(error.value)
    assert message.startswith("DataGate: the ExampleValidator found 1 anomaly in label or image features")
    assert ("split 'test', feature 'label_name': Unexpected string values (Examples contain values missing from "
            "the schema: bird (~33%).)") in message
    assert "data.continue_on_anomalies=true" in message and contract.FILENAME_KEY not in message

    report = decide((), ["cat", "dog"], contract.LABEL_NAMES_FILE, entries, continue_on_anomalies=True)
    assert report["outcome"] == "continued_despite_anomalies"
    assert report["anomalies"]["count"] == 3 and report["anomalies"]["stopping"] == 1

    # Only anomalies outside the gated features: the run passes, every anomaly still listed.
    quiet = anomaly_entries({"validation": by_split["validation"]}, contract.GATED_FEATURE_KEYS)
    report = decide(("cat", "dog"), ["cat", "dog"], contract.LABEL_NAMES_FILE, quiet, continue_on_anomalies=False)
    assert report["outcome"] == "passed" and report["anomalies"]["count"] == 2
    assert report["class_names"] == {"configured": ["cat", "dog"], "data": ["cat", "dog"],
                                     "source": contract.LABEL_NAMES_FILE, "checked": True}


def test_class_names_are_checked_even_when_continuing_on_anomalies():
    from components.data_gate import decide

    with pytest.raises(ConfigError, match="another order"):
        decide(("dog", "cat"), ["cat", "dog"], contract.LABEL_NAMES_FILE, [], continue_on_anomalies=True)


def _folder(root, per_class=8, side=8):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
            (root / cls / f"{i}.png").write_bytes(png_bytes(Image.fromarray(pixels)))
    return root


@pytest.mark.slow
def test_gate_in_a_pipeline_on_real_validator_output(tmp_path):
    """ExampleGen -> StatisticsGen -> three schemas -> ExampleValidators -> DataGate -> a downstream node.

    Schemas: the right one (clean), one from data with other class names
    (label anomaly) and one for images of at most 4 px a side (image
    anomaly, the images have 8).  The gate on the label anomaly stops the
    pipeline before the downstream node; then the gate's executor on each
    validator's real output: clean passes, image anomaly stops, continue
    goes on with the anomalies listed, and class names dog,cat on this
    cat, dog folder stop the run naming both lists.
    """
    from tfx import v1 as tfx
    from tfx.orchestration import metadata
    from tfx.types import artifact_utils, standard_artifacts

    from components import data_gate
    from components.image_folder_example_gen import ImageFolderExampleGen
    from components.schema import write_curated_schema

    root = _folder(tmp_path / "images")
    schemas = {
        "clean": write_curated_schema(str(tmp_path / "clean"), ["cat", "dog"]),
        "label": write_curated_schema(str(tmp_path / "label"), ["cat", "puppy"]),
        "image": write_curated_schema(str(tmp_path / "image"), ["cat", "dog"], max_side=4),
    }
    gen = ImageFolderExampleGen(input_base=str(root), split_buckets={"train": 1, "validation": 1, "test": 1})
    statistics = tfx.components.StatisticsGen(examples=gen.outputs["examples"])
    components, validators = [gen, statistics], {}
    for name, path in schemas.items():
        schema = tfx.components.ImportSchemaGen(schema_file=path).with_id(f"ImportSchemaGen_{name}")
        validators[name] = tfx.components.ExampleValidator(
            statistics=statistics.outputs["statistics"], schema=schema.outputs["schema"]).with_id(
            f"ExampleValidator_{name}")
        components += [schema, validators[name]]
    gate = data_gate.DataGate(examples=gen.outputs["examples"], anomalies=validators["label"].outputs["anomalies"])
    for validator in validators.values():
        gate.add_upstream_node(validator)
    downstream = tfx.components.StatisticsGen(examples=gen.outputs["examples"]).with_id("AfterGate")
    downstream.add_upstream_node(gate)
    components += [gate, downstream]
    with pytest.raises(Exception) as error:
        tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
            pipeline_name="gate_test", pipeline_root=str(tmp_path / "pipeline_root"),
            metadata_connection_config=metadata.sqlite_metadata_connection_config(str(tmp_path / "m.sqlite")),
            components=components, enable_cache=False))
    assert "anomal" in str(error.value) and "feature 'label_name'" in str(error.value), str(error.value)
    assert not os.path.exists(tmp_path / "pipeline_root" / "AfterGate"), "a node after the gate ran"

    [examples_uri] = glob.glob(str(tmp_path / "pipeline_root" / gen.id / "examples" / "*"))
    examples = standard_artifacts.Examples()
    examples.uri = examples_uri

    def run_gate(validator, class_names=(), continue_on_anomalies=False):
        [uri] = glob.glob(str(tmp_path / "pipeline_root" / f"ExampleValidator_{validator}" / "anomalies" / "*"))
        anomalies = standard_artifacts.ExampleAnomalies()
        anomalies.uri = uri
        anomalies.split_names = artifact_utils.encode_split_names(list(contract.REQUIRED_SPLITS))
        result = data_gate.DataGateArtifact()
        result.uri = str(tmp_path / "gate" / f"{validator}-{len(class_names)}-{int(continue_on_anomalies)}")
        data_gate.Executor().Do(
            {"examples": [examples], "anomalies": [anomalies]}, {"result": [result]},
            {"class_names": json.dumps(list(class_names)), "continue_on_anomalies": int(continue_on_anomalies),
             "gated_features": json.dumps(list(contract.GATED_FEATURE_KEYS))})
        with open(os.path.join(result.uri, contract.DATA_GATE_FILE)) as f:
            return json.load(f)

    clean = run_gate("clean", class_names=("cat", "dog"))
    assert clean["outcome"] == "passed" and clean["anomalies"]["count"] == 0
    assert clean["class_names"]["data"] == ["cat", "dog"] and clean["class_names"]["checked"]

    with pytest.raises(ValueError) as image_error:
        run_gate("image")
    assert "feature 'image/height'" in str(image_error.value) and "feature 'image/width'" in str(image_error.value)

    continued = run_gate("image", continue_on_anomalies=True)
    assert continued["outcome"] == "continued_despite_anomalies"
    features = {(e["split"], e["feature"]) for e in continued["anomalies"]["entries"]}
    assert {(split, contract.IMAGE_HEIGHT_KEY) for split in contract.REQUIRED_SPLITS} <= features
    assert continued["anomalies"]["stopping"] == continued["anomalies"]["count"] >= 6

    with pytest.raises(ConfigError) as names_error:
        run_gate("clean", class_names=("dog", "cat"))
    assert "['dog', 'cat'] disagrees with the data's label names ['cat', 'dog']" in str(names_error.value)
    assert examples_uri in str(names_error.value)
