"""The classifier of every arm (trainer/models.py): seed parameter counts, gradients, shared initial weights."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from trainer import backbones, models
from trainer.config import ArmConfig, TrainingConfig
from trainer.contract import ALL_ARMS, BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM
from trainer.learnable_resizer import LearnableResizer
from trainer.muller import MullerResizer

SEED_CONFIG = TrainingConfig()  # 2 classes, 300 -> 150: the seed's table


def small_config(arm=LEARNABLE_RESIZER_ARM, **changes):
    base = dict(image_size=(64, 64), target_size=(32, 32), batch_size=2)
    base.update(changes)
    return ArmConfig(arm=arm, **base)


def build(config):
    """(classifier, backbone), built as the Trainer builds them."""
    backbone = backbones.build_backbone(config)
    return models.build_classifier(config, backbone), backbone


@pytest.mark.parametrize(
    "arm, expected",
    [(LEARNABLE_RESIZER_ARM, 7_051_717), (BILINEAR_BASELINE_ARM, 7_039_554), (MULLER_ARM, 7_039_554 + 4)],
)
def test_parameter_counts_match_the_seed(arm, expected):
    model, _ = build(SEED_CONFIG.for_arm(arm))
    assert model.count_params() == expected


def test_gradients_reach_every_resizer_weight():
    model, _ = build(small_config())
    resizer = models.get_resizer(model)
    images = tf.random.uniform((2, 64, 64, 3), maxval=255.0)
    labels = tf.one_hot([0, 1], 2)
    with tf.GradientTape() as tape:
        probs = model(images, training=True)
        loss = keras.losses.categorical_crossentropy(labels, probs)
    grads = tape.gradient(loss, resizer.trainable_weights)
    # conv_in, conv_mix, conv_out (kernel+bias), conv_proj, 2 res convs, 4 BatchNorms (gamma+beta)
    assert len(resizer.trainable_weights) == 17
    for weight, grad in zip(resizer.trainable_weights, grads):
        assert grad is not None, weight.path
        assert float(tf.reduce_max(tf.abs(grad))) > 0, weight.path


def _backbone_and_head_weights(config):
    model, backbone = build(config)
    head = model.get_layer(models.HEAD_LAYER)
    return [w.numpy() for w in backbone.weights + head.weights]


def test_every_arm_shares_initial_backbone_and_head_weights_for_a_seed():
    reference = _backbone_and_head_weights(small_config(seed=7, backbone="small_convnet"))
    for arm in ALL_ARMS:
        weights = _backbone_and_head_weights(small_config(arm=arm, seed=7, backbone="small_convnet"))
        assert len(weights) == len(reference) > 10
        assert all(np.array_equal(x, y) for x, y in zip(weights, reference)), arm


def test_both_seed_arms_share_initial_densenet_and_head_weights_for_a_seed():
    a = _backbone_and_head_weights(small_config(arm=LEARNABLE_RESIZER_ARM, seed=7))
    b = _backbone_and_head_weights(small_config(arm=BILINEAR_BASELINE_ARM, seed=7))
    c = _backbone_and_head_weights(small_config(arm=BILINEAR_BASELINE_ARM, seed=8))
    assert len(a) == len(b) > 100
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not any(np.array_equal(x, y) for x, y in zip(a[-2:-1], c[-2:-1]))  # the head's kernel too
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("arm, layer", [(LEARNABLE_RESIZER_ARM, LearnableResizer), (MULLER_ARM, MullerResizer)])
def test_saved_model_reloads_with_same_outputs(tmp_path, arm, layer):
    # The resizer's round trip, behind the plumbing backbone: every backbone's own step and round trip with
    # each learned stage, DenseNet-121's included, is tests/trainer/test_backbones.py's.
    model, _ = build(small_config(arm=arm, num_res_blocks=2, backbone="small_convnet"))
    images = tf.random.uniform((3, 64, 64, 3), maxval=255.0, seed=1)
    # A training step moves BatchNorm statistics away from their initial values.
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.train_on_batch(images, tf.one_hot([0, 1, 0], 2))
    expected = model.predict(images, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    assert isinstance(models.get_resizer(reloaded), layer)
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), expected, atol=1e-6)
