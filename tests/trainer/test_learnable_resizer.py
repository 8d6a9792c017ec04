"""The learnable resizer layer (trainer/learnable_resizer.py) on its own."""

import numpy as np
import pytest
import tensorflow as tf

from trainer.config import ConfigError
from trainer.learnable_resizer import LearnableResizer


def test_resizer_alone_adds_12163_parameters():
    resizer = LearnableResizer()
    resizer.build((None, None, None, 3))
    assert resizer.count_params() == 7_051_717 - 7_039_554


@pytest.mark.parametrize("height, width", [(300, 300), (500, 375), (64, 640)])
def test_resizer_output_shape_for_any_input_size(height, width):
    resizer = LearnableResizer(target_size=(150, 150))
    images = tf.random.uniform((2, height, width, 3))
    assert tuple(resizer(images).shape) == (2, 150, 150, 3)


def test_residual_blocks_chain():
    resizer = LearnableResizer(target_size=(40, 30), num_res_blocks=3)
    out = resizer(tf.random.uniform((1, 80, 90, 3)))
    assert tuple(out.shape) == (1, 40, 30, 3)
    assert [b.name for b in resizer.res_blocks] == ["res_block_0", "res_block_1", "res_block_2"]
    # Each block adds its own weights: 3 blocks = 2 more than 1 block.
    one = LearnableResizer(target_size=(40, 30), num_res_blocks=1)
    one(tf.random.uniform((1, 80, 90, 3)))
    per_block = 2 * (9 * 16 * 16) + 2 * 4 * 16  # two 3x3 convs, two BatchNorms
    assert resizer.count_params() - one.count_params() == 2 * per_block


def test_residual_blocks_feed_each_other():
    resizer = LearnableResizer(target_size=(16, 16), num_res_blocks=2)
    images = tf.random.uniform((1, 32, 32, 3))
    base = resizer(images)
    # Zeroing block 0's second conv makes it the identity; the output then changes
    # only if block 0's output is what block 1 consumes.
    conv = resizer.res_blocks[0].conv2
    conv.kernel.assign(tf.zeros_like(conv.kernel))
    assert not np.allclose(resizer(images).numpy(), base.numpy())


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "area", "nearest"])
def test_interpolations_accepted(interpolation):
    resizer = LearnableResizer(target_size=(20, 20), interpolation=interpolation)
    assert tuple(resizer(tf.random.uniform((1, 50, 40, 3))).shape) == (1, 20, 20, 3)


def test_resizer_config_round_trip():
    resizer = LearnableResizer(target_size=(20, 30), filters=8, num_res_blocks=2,
                                      interpolation="bicubic", batchnorm_momentum=0.9)
    clone = LearnableResizer.from_config(resizer.get_config())
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
        LearnableResizer(**kwargs)
    assert info.value.field == field
