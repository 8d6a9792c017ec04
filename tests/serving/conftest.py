"""Fixtures of the serving tests (helpers: tests/serving/helpers.py)."""

import pytest

from tests.serving.helpers import SMALL
from trainer import contract
from trainer.transform_graph import write_transform_graph


@pytest.fixture(scope="session")
def serving_model(tmp_path_factory):
    """``(export_dir, loaded SavedModel, ArmConfig)`` in the Pusher's layout ``<serving>/<name>/<version>/``."""
    import tensorflow as tf
    import tensorflow_transform as tft

    from trainer import backbones, models
    from trainer.config import TrainingConfig
    from trainer.export import export_serving_model

    root = tmp_path_factory.mktemp("serving_model")
    training = TrainingConfig(**SMALL)
    config = training.for_arm(contract.LEARNABLE_RESIZER_ARM)
    graph = write_transform_graph(str(root / "transform_graph"), training, str(root / "tmp"))
    model = models.build_classifier(config, backbones.build_backbone(config))
    export_dir = str(root / "serving" / contract.SERVED_MODEL_NAME / "1700000000")
    export_serving_model(model, tft.TFTransformOutput(graph), config.class_names, export_dir)
    return export_dir, tf.saved_model.load(export_dir), config
