"""The resizing stages of every arm (trainer/resizers.py): the table, the fixed resizes' filters at 2x, coincidences."""

import numpy as np
import pytest

from trainer import contract, resizers
from trainer.config import ArmConfig, ConfigError
from trainer.learnable_resizer import LearnableResizer
from trainer.muller import MullerResizer


def stage(arm, image=(40, 40), target=(20, 20)):
    return resizers.build_resizer(ArmConfig(arm=arm, backbone="small_convnet", image_size=image, target_size=target))


def column_impulse_response(arm, size=40):
    """The output column of a fixed stage for one bright input row: its taps along that axis at 2x."""
    x = np.zeros((1, size, size, 1), np.float32)
    x[0, size // 2, :, 0] = 1.0
    layer = stage(arm, (size, size), (size // 2, size // 2))
    return np.asarray(layer(np.repeat(x, 3, axis=-1)))[0, :, size // 4, 0]


def stripes(size=40):
    signs = np.where(np.arange(size) % 2 == 0, 1.0, -1.0).astype(np.float32)
    return np.repeat(signs[:, None], size, axis=1)[None, :, :, None].repeat(3, axis=-1)


def test_the_table_has_every_arm_of_the_contract():
    assert tuple(resizers.RESIZERS) == contract.ALL_ARMS
    assert {a for a, s in resizers.RESIZERS.items() if not s.learned} == set(contract.FIXED_ARMS)
    with pytest.raises(ConfigError, match="not one of"):
        resizers.resizer_spec("nearest_please")


@pytest.mark.parametrize("arm", contract.ALL_ARMS)
def test_every_stage_resizes_to_the_target_and_only_learned_ones_train(arm):
    layer = stage(arm, (48, 36), (24, 18))
    out = layer(np.random.default_rng(0).uniform(0, 1, (2, 48, 36, 3)).astype(np.float32))
    assert tuple(out.shape) == (2, 24, 18, 3) and layer.name == resizers.RESIZER_LAYER
    learned = resizers.RESIZERS[arm].learned
    assert (len(layer.trainable_weights) > 0) == learned
    assert isinstance(layer, (LearnableResizer, MullerResizer)) == learned


def test_area_is_the_baseline_at_an_exact_2x_factor_and_differs_at_300_to_224():
    x = np.random.default_rng(1).uniform(0, 1, (2, 300, 300, 3)).astype(np.float32)
    baseline = np.asarray(stage(contract.BILINEAR_BASELINE_ARM, (300, 300), (150, 150))(x))
    area = np.asarray(stage(contract.AREA_ARM, (300, 300), (150, 150))(x))
    np.testing.assert_allclose(area, baseline, atol=1e-6)
    baseline = np.asarray(stage(contract.BILINEAR_BASELINE_ARM, (300, 300), (224, 224))(x))
    area = np.asarray(stage(contract.AREA_ARM, (300, 300), (224, 224))(x))
    assert np.abs(area - baseline).max() > 0.05


@pytest.mark.parametrize("arm, taps", [
    (contract.BILINEAR_BASELINE_ARM, [1, 1]),  # a 2x2 box: each output averages its two input rows
    (contract.AREA_ARM, [1, 1]),
    (contract.BICUBIC_ARM, [-1, 9, 9, -1]),  # Keys' cubic, a = -0.5, sampled halfway between pixels
    (contract.BILINEAR_ANTIALIAS_ARM, [1, 3, 3, 1]),  # the tent widened to 4 taps
])
def test_fixed_resizes_have_the_documented_taps_at_2x(arm, taps):
    """Output row i weighs input rows 2i+1-k/2 .. 2i+k/2 with the taps.

    A bright input row (20) therefore reaches output rows 9 and 10 (or 10 alone for 2 taps) with every other tap.
    """
    taps = np.array(taps, np.float64) / sum(taps)
    response = column_impulse_response(arm)
    np.testing.assert_allclose(sorted(response[response != 0]), sorted(taps[1::2]), atol=1e-6)


def test_lanczos3_antialias_spreads_over_twelve_input_rows_at_2x():
    assert np.count_nonzero(np.abs(column_impulse_response(contract.LANCZOS3_ANTIALIAS_ARM)) > 1e-7) == 6


@pytest.mark.parametrize("arm", contract.FIXED_ARMS)
def test_every_fixed_resize_cancels_a_two_pixel_pattern_at_2x_away_from_the_border(arm):
    """The demo's class cue dies in every fixed resize at the seed's exact 2x factor, not in the baseline alone."""
    out = np.asarray(stage(arm)(0.5 + 0.2 * stripes()))
    np.testing.assert_allclose(out[:, 3:-3, 3:-3], 0.5, atol=1e-6)
