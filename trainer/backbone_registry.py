"""The backbone registry: one dependency-light entry per backbone, the single place a backbone is declared.

Each :class:`BackboneSpec` names the constructor (imported only when a model is
built, so this module loads in the configuration's process without Keras), the
smallest input side it accepts, the input scaling of each ``training.backbone_input``
mode, and the figures the tests check every backbone against.  The
configuration's choices (``training.backbone``) and minimum sizes derive from
:data:`BACKBONES`; :mod:`trainer.backbones` builds from it.  Adding a backbone
is one entry here (the tests iterate the registry).
"""

import dataclasses
import importlib
import math
from collections.abc import Callable

# keras.applications.imagenet_utils' constants for its "torch" and "caffe" modes.
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@dataclasses.dataclass(frozen=True)
class Scaling:
    """``x -> x * scale + offset`` per channel, after reversing the channels (RGB -> BGR) if asked."""

    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    reverse_channels: bool = False

    @property
    def is_identity(self):
        """Whether the map changes nothing (the backbone takes the [0, 1] image as it is)."""
        return self == Scaling()


def _uniform(scale, offset=0.0):
    return Scaling((scale,) * 3, (offset,) * 3)


def _efficientnet_imagenet():
    # EfficientNet rescales by 1/255 and normalizes inside itself (its Normalization layer holds the ImageNet mean
    # and variance std**2 once the weights are loaded). With weights="imagenet" Keras adds a further division by
    # sqrt(std) that a weights=None model lacks; this input map puts it back: (u - mean) / std**1.5 in the end.
    scale = tuple(255.0 / math.sqrt(s) for s in IMAGENET_STD_RGB)
    offset = tuple(255.0 * m * (1.0 - 1.0 / math.sqrt(s)) for m, s in zip(IMAGENET_MEAN_RGB, IMAGENET_STD_RGB))
    return Scaling(scale, offset)


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """One backbone: how to build it, what it accepts and what it is fed.

    Attributes:
        constructor: ``"module:attribute"`` of a ``keras.applications``-style constructor taking
            ``include_top``, ``weights`` and ``input_shape`` and returning a ``keras.Model`` of feature maps.
        title: the name reports print.
        min_side: the smallest height and width (px) of its input, i.e. of ``training.target_size``.
        unit_input: the map from the resizer's [0, 1] image to what its layers see for ``backbone_input unit``.
        imagenet_input: what ``keras.applications.<module>.preprocess_input(255 * x)`` gives (``imagenet``).
        batchnorm_layers: its BatchNormalization layers (what the weight and momentum tests cover).
        classifier_parameters: parameters of the bilinear-baseline classifier on it with 2 classes (global
            average pooling makes this independent of the input size; tests and ``bench/bench_backbones.py``).
    """

    constructor: str
    title: str
    min_side: int
    unit_input: Scaling
    imagenet_input: Scaling
    batchnorm_layers: int
    classifier_parameters: int

    def application(self) -> Callable:
        """The constructor itself (imports its module)."""
        module, attribute = self.constructor.split(":")
        return getattr(importlib.import_module(module), attribute)


# Every backbone by its ``training.backbone`` name; the configuration's choices are these keys.
BACKBONES: dict[str, BackboneSpec] = {
    "densenet121": BackboneSpec(
        "keras.applications:DenseNet121", "DenseNet-121", 32, Scaling(),
        Scaling(tuple(1 / s for s in IMAGENET_STD_RGB),
                tuple(-m / s for m, s in zip(IMAGENET_MEAN_RGB, IMAGENET_STD_RGB))),
        batchnorm_layers=121, classifier_parameters=7_039_554),
    "resnet50": BackboneSpec(
        "keras.applications:ResNet50", "ResNet-50", 32, Scaling(),
        Scaling((255.0,) * 3, tuple(-m for m in CAFFE_MEAN_BGR), reverse_channels=True),
        batchnorm_layers=53, classifier_parameters=23_591_810),
    "mobilenet_v2": BackboneSpec(
        "keras.applications:MobileNetV2", "MobileNet-v2", 32, Scaling(), _uniform(2.0, -1.0),
        batchnorm_layers=52, classifier_parameters=2_260_546),
    # Expects [0, 255]: it rescales by 1/255 itself.
    "efficientnet_b0": BackboneSpec(
        "keras.applications:EfficientNetB0", "EfficientNet-B0", 32, _uniform(255.0), _efficientnet_imagenet(),
        batchnorm_layers=49, classifier_parameters=4_052_133),
    "inception_v3": BackboneSpec(
        "keras.applications:InceptionV3", "Inception-v3", 75, Scaling(), _uniform(2.0, -1.0),
        batchnorm_layers=94, classifier_parameters=21_806_882),
    # Ours, for smoke tests and the suite's pipeline runs (halves three times); no ImageNet convention of its own:
    # both modes feed it the [0, 1] image.
    "small_convnet": BackboneSpec(
        "trainer.backbones:small_convnet", "small ConvNet (smoke tests)", 8, Scaling(), Scaling(),
        batchnorm_layers=4, classifier_parameters=61_170),
}
