"""The backbone registry: every entry consistent, and the configuration's choices derived from it."""

import inspect
import math
import subprocess
import sys

import pytest

from trainer import backbone_registry, config
from trainer.backbone_registry import BACKBONES, BackboneSpec, Scaling

every_backbone = pytest.mark.parametrize("name", sorted(BACKBONES))


def test_the_configurations_choices_and_minimum_sizes_derive_from_the_registry():
    assert config.BACKBONES == tuple(BACKBONES)
    assert config.BACKBONE_MIN_SIZES == {name: spec.min_side for name, spec in BACKBONES.items()}
    assert config.TrainingConfig().backbone in BACKBONES


def test_an_unknown_backbone_is_refused_naming_the_known_ones():
    with pytest.raises(config.ConfigError) as raised:
        config.TrainingConfig(backbone="vgg16")
    assert raised.value.field == "backbone"
    assert "'vgg16' is not one of" in str(raised.value)
    for name in BACKBONES:
        assert repr(name) in str(raised.value)


@every_backbone
def test_each_entry_is_complete(name):
    spec = BACKBONES[name]
    assert isinstance(spec, BackboneSpec)
    assert spec.title and spec.title.strip() == spec.title
    assert isinstance(spec.min_side, int) and spec.min_side > 0
    assert isinstance(spec.batchnorm_layers, int) and spec.batchnorm_layers > 0
    assert isinstance(spec.classifier_parameters, int) and spec.classifier_parameters > 0
    assert spec.constructor.count(":") == 1


def test_titles_and_constructors_are_distinct():
    specs = list(BACKBONES.values())
    assert len({spec.title for spec in specs}) == len(specs)
    assert len({spec.constructor for spec in specs}) == len(specs)


@every_backbone
def test_the_constructor_path_imports_and_takes_the_applications_arguments(name):
    application = BACKBONES[name].application()
    assert callable(application)
    parameters = inspect.signature(application).parameters
    assert {"include_top", "weights", "input_shape"} <= set(parameters)


@every_backbone
def test_both_scalings_are_per_channel_maps_of_finite_numbers(name):
    spec = BACKBONES[name]
    for scaling in (spec.unit_input, spec.imagenet_input):
        assert isinstance(scaling, Scaling)
        assert len(scaling.scale) == len(scaling.offset) == 3
        assert all(math.isfinite(v) for v in (*scaling.scale, *scaling.offset))
        assert all(v > 0 for v in scaling.scale)
        assert isinstance(scaling.reverse_channels, bool)


def apply(scaling, rgb):
    """``scaling`` applied to one pixel (a 3-tuple in [0, 1]), as the model's input layer does."""
    pixel = rgb[::-1] if scaling.reverse_channels else rgb
    return tuple(x * s + o for x, s, o in zip(pixel, scaling.scale, scaling.offset))


def test_the_imagenet_scalings_match_the_keras_conventions_they_name():
    mean = backbone_registry.IMAGENET_MEAN_RGB
    # "torch" (DenseNet): the ImageNet mean goes to 0, mean + std to 1.
    torch = BACKBONES["densenet121"].imagenet_input
    assert apply(torch, mean) == pytest.approx((0.0, 0.0, 0.0), abs=1e-12)
    assert apply(torch, tuple(m + s for m, s in zip(mean, backbone_registry.IMAGENET_STD_RGB))) == pytest.approx(
        (1.0, 1.0, 1.0))
    # "caffe" (ResNet-50): BGR order, 0-255 minus the BGR mean.
    caffe = BACKBONES["resnet50"].imagenet_input
    bgr_mean = backbone_registry.CAFFE_MEAN_BGR
    assert apply(caffe, tuple(v / 255.0 for v in bgr_mean[::-1])) == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)
    assert apply(caffe, (1.0, 0.0, 0.0)) == pytest.approx((-bgr_mean[0], -bgr_mean[1], 255.0 - bgr_mean[2]))
    # "tf" (MobileNet-v2, Inception-v3): [0, 1] -> [-1, 1].
    for name in ("mobilenet_v2", "inception_v3"):
        assert apply(BACKBONES[name].imagenet_input, (0.0, 0.5, 1.0)) == pytest.approx((-1.0, 0.0, 1.0))
    # EfficientNet takes [0, 255] whatever the mode.
    assert apply(BACKBONES["efficientnet_b0"].unit_input, (0.0, 0.5, 1.0)) == pytest.approx((0.0, 127.5, 255.0))


def test_efficientnets_imagenet_map_gives_mean_over_std_to_the_power_1_5():
    scaling = BACKBONES["efficientnet_b0"].imagenet_input
    mean, std = backbone_registry.IMAGENET_MEAN_RGB, backbone_registry.IMAGENET_STD_RGB
    pixel = (0.2, 0.5, 0.9)
    # What the layers of EfficientNet built with weights=None (the model loads its weights afterwards) do with
    # x: x / 255, minus the mean, over std (its Normalization layer); the map supplies the imagenet weights'
    # further division by sqrt(std).
    seen = [(x / 255.0 - m) / s for x, m, s in zip(apply(scaling, pixel), mean, std)]
    assert seen == pytest.approx([(u - m) / s ** 1.5 for u, m, s in zip(pixel, mean, std)])


def test_identity_only_for_the_default_scaling():
    assert Scaling().is_identity
    assert not Scaling((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), reverse_channels=True).is_identity
    assert not Scaling((2.0, 2.0, 2.0)).is_identity
    assert BACKBONES["small_convnet"].unit_input.is_identity and BACKBONES["small_convnet"].imagenet_input.is_identity
    unit_identity = {name for name, spec in BACKBONES.items() if spec.unit_input.is_identity}
    assert unit_identity == set(BACKBONES) - {"efficientnet_b0"}


def test_the_registry_and_the_configuration_load_without_keras_or_tensorflow():
    code = ("import sys; import trainer.backbone_registry, trainer.config; "
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
