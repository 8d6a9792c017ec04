"""Another backbone through TFX: MobileNet-v2 arms that train and serve.

The learnable resizer's and the baseline's Trainers train MobileNet-v2 arms and export models that serve.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from components import synthetic_examples
from tests.trainer.helpers import latest, read_summary, run_until_trainers
from trainer import backbone_registry, contract
from trainer.contract import BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM

pytestmark = pytest.mark.slow

MOBILENET_V2_BASELINE_PARAMETERS = backbone_registry.BACKBONES["mobilenet_v2"].classifier_parameters
ARMS = (BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM)  # MULLER's MobileNet-v2 step: tests/trainer/test_backbones.py


@pytest.fixture(scope="module")
def mobilenet_pipeline(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("mobilenet_pipeline"))
    return run_until_trainers(root, dict(backbone="mobilenet_v2"), arms=ARMS)


def test_both_arms_train_mobilenet_v2_from_identical_weights(mobilenet_pipeline):
    summaries = {arm: read_summary(mobilenet_pipeline[contract.trainer_id(arm)]) for arm in ARMS}
    for arm, summary in summaries.items():
        assert summary["config"]["backbone"] == "mobilenet_v2" and summary["arm"] == arm
        assert np.isfinite(summary["history"]["loss"][0])
    assert summaries[BILINEAR_BASELINE_ARM]["parameters"] == MOBILENET_V2_BASELINE_PARAMETERS
    assert summaries[LEARNABLE_RESIZER_ARM]["parameters"] - summaries[BILINEAR_BASELINE_ARM]["parameters"] == 12_163
    initial = {arm: summaries[arm]["initial_backbone_sha256"] for arm in (LEARNABLE_RESIZER_ARM, BILINEAR_BASELINE_ARM)}
    assert initial[LEARNABLE_RESIZER_ARM] == initial[BILINEAR_BASELINE_ARM]


def test_the_exported_models_serve_image_bytes(mobilenet_pipeline):
    rng = np.random.default_rng(3)
    images = [synthetic_examples.encode(synthetic_examples.make_image(rng, label, 90, 120), "jpeg")
              for label in (0, 1)]
    for arm in ARMS:
        model_dir = os.path.join(latest(os.path.join(mobilenet_pipeline[contract.trainer_id(arm)], "model", "*")),
                                 "Format-Serving")
        serve = tf.saved_model.load(model_dir).signatures[contract.SERVING_DEFAULT_SIGNATURE]
        out = serve(**{contract.IMAGE_BYTES_INPUT: tf.constant(images)})
        probabilities = out[contract.PROBABILITIES_OUTPUT].numpy()
        assert probabilities.shape == (2, 2) and np.allclose(probabilities.sum(-1), 1.0, atol=1e-5)
        names = {name.encode() for name in synthetic_examples.CLASS_NAMES}
        assert set(out[contract.CLASS_NAME_OUTPUT].numpy().tolist()) <= names
