"""The GPU default path on a CPU: every arm trained under mixed_float16, exported and served.

``precision='auto'`` means ``mixed_float16`` on a GPU (``trainer/distribution.py``), and no GPU trains
here. So every arm trains one step in float16 through the Trainer's own ``run_fn`` (small_convnet,
64 -> 32 px, batch 2), exports the serving SavedModel, and that model serves float32 probabilities
that sum to 1. The global Keras policy is restored after every Trainer: the rest of the suite runs
in float32.
"""

import json
import logging
import os
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from components import synthetic_examples
from tests.serving.helpers import SMALL, sample_images
from trainer import contract, distribution
from trainer.config import TrainingConfig
from trainer.run import run_fn
from trainer.transform_graph import write_transform_graph

pytestmark = pytest.mark.slow

MIXED = "mixed_float16"
# In this process (process="same"): the test checks that run_fn gives the process its Keras policy back.
TRAINING = TrainingConfig(**SMALL, batch_size=2, epochs=1, steps_per_epoch=1, precision=MIXED, picture_images=2,
                          batchnorm_momentum=0.5, process="same")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """(the Transform graph, the Examples artifact with a train and a validation split of 6 records each)."""
    root = tmp_path_factory.mktemp("mixed_inputs")
    graph = write_transform_graph(str(root / "transform_graph"), TRAINING, str(root / "tmp"))
    examples = root / "examples"
    for seed, split in enumerate((contract.TRAIN_SPLIT, contract.VALIDATION_SPLIT)):
        synthetic_examples.write_tfrecord_dataset(str(examples / f"Split-{split}"), 6, seed=seed)
    return graph, str(examples)


@pytest.fixture(scope="module", params=contract.ALL_ARMS)
def trained(request, inputs, tmp_path_factory):
    """One arm trained by ``run_fn`` under mixed_float16.

    Returns:
        (arm, Keras' global policy before run_fn, the policy after it, training_summary.json, the loaded
        serving SavedModel).
    """
    graph, examples = inputs
    out = tmp_path_factory.mktemp(f"mixed_{request.param}")
    fn_args = types.SimpleNamespace(
        custom_config=TRAINING.for_arm(request.param).to_custom_config(),
        train_files=[os.path.join(examples, f"Split-{contract.TRAIN_SPLIT}", "*")],
        eval_files=[os.path.join(examples, f"Split-{contract.VALIDATION_SPLIT}", "*")],
        transform_output=graph,
        serving_model_dir=str(out / "model" / "Format-Serving"),
        model_run_dir=str(out / "model_run"),
    )
    before = keras.mixed_precision.global_policy().name
    try:
        run_fn(fn_args)
    finally:
        keras.mixed_precision.set_global_policy(before)
    with open(os.path.join(fn_args.model_run_dir, contract.TRAINING_SUMMARY_FILE)) as f:
        summary = json.load(f)
    return request.param, before, keras.mixed_precision.global_policy().name, summary, \
        tf.saved_model.load(fn_args.serving_model_dir)


def _graph_dtypes(concrete_function):
    """Every dtype attribute of every node in a concrete function's graph and the functions it calls."""
    graph_def = concrete_function.graph.as_graph_def()
    nodes = list(graph_def.node) + [node for function in graph_def.library.function for node in function.node_def]
    return {tf.dtypes.as_dtype(value.type).name for node in nodes for value in node.attr.values()
            if value.WhichOneof("value") == "type"}


def test_every_arm_trains_in_float16_and_serves_float32_probabilities(trained):
    arm, policy_before, policy_after, summary, loaded = trained
    assert policy_after == policy_before != MIXED, "the global Keras policy was not restored"
    assert summary["arm"] == arm and summary["precision"] == MIXED
    assert summary["images_consumed"] == 2 and np.isfinite(summary["history"]["loss"]).all()
    serve = loaded.signatures[contract.SERVING_DEFAULT_SIGNATURE]
    # The exported model computes in float16 (else the float32 path would be under test, not the GPU's).
    assert "float16" in _graph_dtypes(serve)
    out = serve(**{contract.IMAGE_BYTES_INPUT: tf.constant(sample_images(4), tf.string)})
    probabilities = out[contract.PROBABILITIES_OUTPUT]
    assert probabilities.dtype == tf.float32 and probabilities.shape == (4, len(SMALL["class_names"]))
    values = probabilities.numpy()
    assert np.isfinite(values).all() and (values >= 0).all()
    np.testing.assert_allclose(values.sum(axis=1), 1.0, rtol=0, atol=1e-6)
    assert out[contract.CLASS_ID_OUTPUT].numpy().tolist() == values.argmax(axis=1).tolist()
    # The tf.Example signature (the Evaluator's) answers the same in float16.
    examples = [synthetic_examples.image_example(data, 0, "png" if data.startswith(b"\x89PNG") else "jpeg")
                .SerializeToString() for data in sample_images(4)]
    by_example = loaded.signatures[contract.SERVING_TF_EXAMPLE_SIGNATURE](
        **{contract.EXAMPLES_INPUT: tf.constant(examples, tf.string)})[contract.PROBABILITIES_OUTPUT]
    np.testing.assert_array_equal(by_example.numpy(), values)


def test_auto_precision_is_mixed_float16_where_a_gpu_is_visible(monkeypatch, caplog):
    """What resolves ``auto`` on a GPU machine, with the GPU list faked (placement only, nothing trains)."""
    slow_warning = "mixed_float16 on a machine without a GPU"
    before = keras.mixed_precision.global_policy().name
    visible, listed = [], tf.config.list_physical_devices
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: list(visible) if kind == "GPU" else listed(kind))
    try:
        with caplog.at_level(logging.WARNING):
            assert distribution.select_placement("auto", environ={}).precision == "float32"
            assert keras.mixed_precision.global_policy().name == "float32"
            assert not any(slow_warning in r.getMessage() for r in caplog.records)
            # Asked for on a CPU: used, with a warning that it is slow there.
            assert distribution.select_placement(MIXED, environ={}).precision == MIXED
            assert keras.mixed_precision.global_policy().name == MIXED
            assert any(slow_warning in r.getMessage() for r in caplog.records)
            caplog.clear()
            visible.append(tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU"))
            placement = distribution.select_placement("auto", environ={})
            assert not any(slow_warning in r.getMessage() for r in caplog.records)
        assert placement.precision == MIXED and keras.mixed_precision.global_policy().name == MIXED
        assert isinstance(placement.strategy, tf.distribute.MirroredStrategy)
    finally:
        keras.mixed_precision.set_global_policy(before)
