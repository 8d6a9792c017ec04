import numpy as np
import pytest
import tensorflow as tf

import keras

from trainer import backbones, models
from trainer.config import ArmConfig, ConfigError, TrainingConfig
from trainer.contract import BASELINE_ARM, CANDIDATE_ARM

SEED_CONFIG = TrainingConfig()  # 2 classes, 300 -> 150: the seed's table


def small_config(arm=CANDIDATE_ARM, **changes):
    base = dict(image_size=(64, 64), target_size=(32, 32), batch_size=2)
    base.update(changes)
    return ArmConfig(arm=arm, **base)


def build(config):
    """(classifier, backbone), built as the Trainer builds them."""
    backbone = backbones.build_backbone(config)
    return models.build_classifier(config, backbone), backbone


@pytest.mark.parametrize(
    "arm, expected",
    [(CANDIDATE_ARM, 7_051_717), (BASELINE_ARM, 7_039_554)],
)
def test_parameter_counts_match_the_seed(arm, expected):
    model, _ = build(SEED_CONFIG.for_arm(arm))
    assert model.count_params() == expected


def test_resizer_alone_adds_12163_parameters():
    resizer = models.LearnableResizer()
    resizer.build((None, None, None, 3))
    assert resizer.count_params() == 7_051_717 - 7_039_554


@pytest.mark.parametrize("height, width", [(300, 300), (500, 375), (64, 640)])
def test_resizer_output_shape_for_any_input_size(height, width):
    resizer = models.LearnableResizer(target_size=(150, 150))
    images = tf.random.uniform((2, height, width, 3))
    assert tuple(resizer(images).shape) == (2, 150, 150, 3)


def test_residual_blocks_chain():
    resizer = models.LearnableResizer(target_size=(40, 30), num_res_blocks=3)
    out = resizer(tf.random.uniform((1, 80, 90, 3)))
    assert tuple(out.shape) == (1, 40, 30, 3)
    assert [b.name for b in resizer.res_blocks] == ["res_block_0", "res_block_1", "res_block_2"]
    # Each block adds its own weights: 3 blocks = 2 more than 1 block.
    one = models.LearnableResizer(target_size=(40, 30), num_res_blocks=1)
    one(tf.random.uniform((1, 80, 90, 3)))
    per_block = 2 * (9 * 16 * 16) + 2 * 4 * 16  # two 3x3 convs, two BatchNorms
    assert resizer.count_params() - one.count_params() == 2 * per_block


def test_residual_blocks_feed_each_other():
    resizer = models.LearnableResizer(target_size=(16, 16), num_res_blocks=2)
    images = tf.random.uniform((1, 32, 32, 3))
    base = resizer(images)
    # Zeroing block 0's second conv makes it the identity; the output then changes
    # only if block 0's output is what block 1 consumes.
    conv = resizer.res_blocks[0].conv2
    conv.kernel.assign(tf.zeros_like(conv.kernel))
    assert not np.allclose(resizer(images).numpy(), base.numpy())


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "area", "nearest"])
def test_interpolations_accepted(interpolation):
    resizer = models.LearnableResizer(target_size=(20, 20), interpolation=interpolation)
    assert tuple(resizer(tf.random.uniform((1, 50, 40, 3))).shape) == (1, 20, 20, 3)


def test_gradients_reach_every_resizer_weight():
    model, _ = build(small_config())
    resizer = models.get_downscaler(model)
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


def test_both_arms_share_initial_backbone_and_head_weights_for_a_seed():
    a = _backbone_and_head_weights(small_config(arm=CANDIDATE_ARM, seed=7))
    b = _backbone_and_head_weights(small_config(arm=BASELINE_ARM, seed=7))
    c = _backbone_and_head_weights(small_config(arm=BASELINE_ARM, seed=8))
    assert len(a) == len(b) > 100
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not any(np.array_equal(x, y) for x, y in zip(a[-2:-1], c[-2:-1]))  # the head's kernel too
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_saved_model_reloads_with_same_outputs(tmp_path):
    model, _ = build(small_config(num_res_blocks=2))
    images = tf.random.uniform((3, 64, 64, 3), maxval=255.0, seed=1)
    # A training step moves BatchNorm statistics away from their initial values.
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.train_on_batch(images, tf.one_hot([0, 1, 0], 2))
    expected = model.predict(images, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    assert isinstance(models.get_downscaler(reloaded), models.LearnableResizer)
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), expected, atol=1e-6)


def test_resizer_config_round_trip():
    resizer = models.LearnableResizer(target_size=(20, 30), filters=8, num_res_blocks=2,
                                      interpolation="bicubic", batchnorm_momentum=0.9)
    clone = models.LearnableResizer.from_config(resizer.get_config())
    assert clone.get_config() == resizer.get_config()


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(filters=0), "filters"),
        (dict(num_res_blocks=0), "num_res_blocks"),
        (dict(interpolation="lanczos9"), "interpolation"),
        (dict(target_size=(0, 10)), "target_size"),
        (dict(batchnorm_momentum=1.5), "batchnorm_momentum"),
    ],
)
def test_invalid_resizer_arguments_name_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field) as info:
        models.LearnableResizer(**kwargs)
    assert info.value.field == field
