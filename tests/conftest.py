"""Test entry point: the project's Keras policy before anything imports TensorFlow; the shared fixtures."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from trainer.environment import apply_keras_policy

apply_keras_policy()

import pytest

# Session fixtures several folders share (a run is made once per session, whichever folder asks first):
# ingestion's demo folder and executor runs, the compiled Kubeflow specs, the pipeline run up to the Trainers.
pytest_plugins = ["tests.components.fixtures", "tests.pipeline.fixtures", "tests.trainer.fixtures"]


@pytest.fixture(autouse=True)
def environment_restored_after_each_test():
    """What a test (or the code it calls in-process, e.g. ``pipeline_runner.main``) sets in ``os.environ`` ends with it.

    A command run in-process with ``--verbose`` sets ``TF_CPP_MIN_LOG_LEVEL=0`` for its own process: left set, every
    later test on that test worker started TensorFlow processes (Beam's workers) that print their INFO lines.
    """
    before = dict(os.environ)
    yield
    for key in set(os.environ) - set(before):
        del os.environ[key]
    for key, value in before.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


@pytest.fixture(scope="session", autouse=True)
def temporary_files_under_pytests_folder(tmp_path_factory):
    """Temporary files of the code under test (and of the commands it starts) go under pytest's own folder.

    Pytest keeps its last three sessions' folders and removes older ones; what the code leaves on purpose (the
    copy of a failed ingestion's report) would otherwise pile up in /tmp run after run.
    """
    import tempfile

    folder = str(tmp_path_factory.mktemp("tempfile"))
    with pytest.MonkeyPatch.context() as patch:  # restores both at the session's end
        patch.setattr(tempfile, "tempdir", folder)
        patch.setenv("TMPDIR", folder)
        yield folder


@pytest.fixture(scope="session")
def transform_graph(tmp_path_factory):
    """``(transform graph directory, TrainingConfig)``: the project's Transform graph for the small model.

    The settings are ``tests/serving/helpers.py``'s ``SMALL`` (small_convnet, 64x64 images, 32x32 target).
    """
    from tests.serving.helpers import SMALL
    from trainer.config import TrainingConfig
    from trainer.transform_graph import write_transform_graph

    root = tmp_path_factory.mktemp("transform_graph")
    training = TrainingConfig(**SMALL)
    return write_transform_graph(str(root / "transform_graph"), training, str(root / "tmp")), training


@pytest.fixture(scope="session")
def serving_model(transform_graph, tmp_path_factory):
    """``(export_dir, loaded SavedModel, ArmConfig)`` in the Pusher's layout ``<serving>/<name>/<version>/``.

    A train-free SavedModel: the real Transform graph and export code around an untrained small classifier
    (the learnable-resizer arm).
    """
    import tensorflow as tf
    import tensorflow_transform as tft

    from trainer import backbones, contract, models
    from trainer.export import export_serving_model

    graph, training = transform_graph
    root = tmp_path_factory.mktemp("serving_model")
    config = training.for_arm(contract.LEARNABLE_RESIZER_ARM)
    model = models.build_classifier(config, backbones.build_backbone(config))
    export_dir = str(root / "serving" / contract.SERVED_MODEL_NAME / "1700000000")
    export_serving_model(model, tft.TFTransformOutput(graph), config.class_names, export_dir)
    return export_dir, tf.saved_model.load(export_dir), config
