"""trainer/cost.py: FLOPs counted from the graph agree with hand counts; the resize kernels are counted."""

import keras
import pytest

from trainer import backbones, cost, models
from trainer.config import ArmConfig
from trainer.contract import BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM


def test_a_convolution_costs_two_flops_per_multiply_add():
    conv = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)
    conv.build((1, 20, 30, 3))
    assert cost.count_flops(conv, (1, 20, 30, 3)) == 2 * 3 * 3 * 3 * 16 * 20 * 30


@pytest.mark.parametrize("interpolation, antialias, expected", [
    ("bilinear", False, 8 * 150 * 150 * 3),  # 4 taps per output value
    ("bicubic", False, 32 * 150 * 150 * 3),  # 16 taps
    ("area", False, 2 * 4 * 150 * 150 * 3),  # a 2x2 block
    # Separable, 4 (12) taps per axis at 2x: 300 rows x 150 columns first, then 150 x 150; + 2 for the
    # division that computes the two scales.
    ("bilinear", True, 2 * 4 * 300 * 150 * 3 + 2 * 4 * 150 * 150 * 3 + 2),
    ("lanczos3", True, 2 * 12 * 300 * 150 * 3 + 2 * 12 * 150 * 150 * 3 + 2),
])
def test_resize_kernels_are_counted_per_tap(interpolation, antialias, expected):
    layer = keras.layers.Resizing(150, 150, interpolation=interpolation, antialias=antialias)
    assert cost.count_flops(layer, (1, 300, 300, 3)) == expected


def test_model_cost_of_each_kind_of_arm():
    costs = {}
    for arm in (BILINEAR_BASELINE_ARM, MULLER_ARM, LEARNABLE_RESIZER_ARM):
        config = ArmConfig(arm=arm, backbone="small_convnet", image_size=(64, 64), target_size=(32, 32))
        model = models.build_classifier(config, backbones.build_backbone(config))
        costs[arm] = cost.model_cost(model, config.image_size)
        assert costs[arm]["parameters"] == model.count_params()
    assert [costs[a]["resizer_parameters"] for a in (BILINEAR_BASELINE_ARM, MULLER_ARM)] == [0, 4]
    assert costs[LEARNABLE_RESIZER_ARM]["resizer_parameters"] == 12_035
    assert costs[BILINEAR_BASELINE_ARM]["resizer_flops"] == 8 * 32 * 32 * 3
    assert costs[BILINEAR_BASELINE_ARM]["resizer_flops"] < costs[MULLER_ARM]["resizer_flops"]
    assert costs[MULLER_ARM]["resizer_flops"] < costs[LEARNABLE_RESIZER_ARM]["resizer_flops"]
    # The same backbone and head behind every stage: the rest of the model costs the same.
    rest = {arm: c["model_flops"] - c["resizer_flops"] for arm, c in costs.items()}
    assert len(set(rest.values())) == 1


def test_the_cost_file_names_the_arm_beside_the_counts(tmp_path):
    import json

    from trainer.contract import MODEL_COST_FILE

    config = ArmConfig(arm=MULLER_ARM, backbone="small_convnet", image_size=(16, 16), target_size=(8, 8))
    model = models.build_classifier(config, backbones.build_backbone(config))
    counted = cost.write_model_cost(model, MULLER_ARM, config.image_size, str(tmp_path))
    assert counted == cost.model_cost(model, config.image_size)
    with open(tmp_path / MODEL_COST_FILE) as f:
        assert json.load(f) == {"arm": MULLER_ARM, **counted}
