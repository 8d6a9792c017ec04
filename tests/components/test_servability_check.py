"""The ServabilityCheck component's executor, then TFX's Pusher on its InfraBlessing (no pipeline run)."""

import json
import os
import shutil

import pytest

from components import servability_check, synthetic_examples
from trainer import contract


def artifact(kind, uri, **int_properties):
    item = kind()
    item.uri = str(uri)
    for name, value in int_properties.items():
        item.set_int_custom_property(name, value)
    return item


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    from tfx.types import standard_artifacts

    root = tmp_path_factory.mktemp("examples")
    synthetic_examples.write_tfrecord_dataset(str(root / f"Split-{contract.VALIDATION_SPLIT}"), 4)
    return artifact(standard_artifacts.Examples, root)


def chosen_model(tmp_path, saved_model_dir):
    """A Model artifact as the PairedComparison's ``chosen_model``: the SavedModel under Format-Serving."""
    from tfx.types import standard_artifacts

    shutil.copytree(saved_model_dir, tmp_path / "chosen" / "Format-Serving")
    return artifact(standard_artifacts.Model, tmp_path / "chosen")


def run_check(tmp_path, model, examples, gate_blessed=1):
    from tfx.types import standard_artifacts

    os.makedirs(tmp_path / "gate", exist_ok=True)
    blessing = artifact(standard_artifacts.InfraBlessing, tmp_path / "infra_blessing")
    servability_check.Executor().Do(
        {"model": [model], "examples": [examples],
         "model_blessing": [artifact(standard_artifacts.ModelBlessing, tmp_path / "gate", blessed=gate_blessed)]},
        {"blessing": [blessing]},
        {servability_check.SPLIT_KEY: contract.VALIDATION_SPLIT, servability_check.NUM_IMAGES_KEY: 2,
         servability_check.TIMEOUT_KEY: 300, servability_check.MODEL_NAME_KEY: contract.SERVED_MODEL_NAME})
    return blessing


def push(tmp_path, infra_blessing, gate_blessed=1):
    """TFX's Pusher as the pipeline wires it: model_blessing and infra_blessing, no model input."""
    from tfx.components.pusher import executor as pusher_executor
    from tfx.proto import pusher_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    pushed = artifact(standard_artifacts.PushedModel, tmp_path / "pushed_model")
    destination = tmp_path / "serving" / contract.SERVED_MODEL_NAME
    pusher_executor.Executor().Do(
        {"model_blessing": [artifact(standard_artifacts.ModelBlessing, tmp_path / "gate", blessed=gate_blessed)],
         "infra_blessing": [infra_blessing]},
        {"pushed_model": [pushed]},
        {"push_destination": proto_utils.proto_to_json(pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(destination))))})
    return pushed, destination


def test_a_servable_model_is_blessed_and_pushed_with_its_warmup_records(tmp_path, serving_model, examples):
    export_dir, _, _ = serving_model
    blessing = run_check(tmp_path, chosen_model(tmp_path, export_dir), examples)
    assert blessing.get_int_custom_property("blessed") == 1, blessing.get_string_custom_property("reason")
    assert blessing.get_int_custom_property("has_model") == 1
    assert os.path.exists(os.path.join(blessing.uri, "INFRA_BLESSED"))
    with open(os.path.join(blessing.uri, contract.SERVABILITY_FILE)) as f:
        result = json.load(f)
    # batch 1 and batch 2 of serving_default, and the tf.Example request of the same two validation images.
    assert result["blessed"] and result["warmup_records"] == 3 and result["num_classes"] == 2
    pushed, destination = push(tmp_path, blessing)
    assert pushed.get_int_custom_property("pushed") == 1
    [version] = os.listdir(destination)
    assert os.path.exists(destination / version / contract.SAVED_MODEL_FILE)
    warmup = destination / version / contract.WARMUP_DIR / contract.WARMUP_FILE
    assert warmup.stat().st_size > 0


def test_a_model_without_serving_default_is_refused_and_nothing_is_pushed(tmp_path, examples):
    import tensorflow as tf

    class Other(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.EXAMPLES_INPUT)])
        def predict(self, examples):
            return {contract.PROBABILITIES_OUTPUT: tf.ones([tf.shape(examples)[0], 2]) / 2}

    module = Other()
    saved = str(tmp_path / "broken")
    tf.saved_model.save(module, saved, signatures={
        contract.SERVING_TF_EXAMPLE_SIGNATURE: module.predict.get_concrete_function()})
    blessing = run_check(tmp_path, chosen_model(tmp_path, saved), examples)
    assert blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_int_custom_property("has_model") == 0
    reason = blessing.get_string_custom_property("reason")
    assert "signature 'serving_default' is missing" in reason
    assert os.path.exists(os.path.join(blessing.uri, "INFRA_NOT_BLESSED"))
    assert not os.path.exists(os.path.join(blessing.uri, "stamped_model"))
    pushed, destination = push(tmp_path, blessing)
    assert pushed.get_int_custom_property("pushed") == 0
    assert not destination.exists()


def test_nothing_blessed_by_the_gate_is_not_checked_and_not_an_error(tmp_path, examples):
    from tfx.types import standard_artifacts

    empty_model = artifact(standard_artifacts.Model, tmp_path / "empty")
    blessing = run_check(tmp_path, empty_model, examples, gate_blessed=0)
    assert blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_string_custom_property("reason") == servability_check.NOT_CHOSEN_REASON
    pushed, destination = push(tmp_path, blessing, gate_blessed=0)
    assert pushed.get_int_custom_property("pushed") == 0 and not destination.exists()


def test_a_split_without_images_names_the_split(tmp_path):
    with pytest.raises(FileNotFoundError, match="split 'validation'"):
        servability_check.request_records(str(tmp_path), contract.VALIDATION_SPLIT, 2)
