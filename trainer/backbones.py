"""The backbones: ``keras.applications`` models without their top, chosen by ``training.backbone``.

Each is declared once, in :mod:`trainer.backbone_registry`; this module builds them.

``small_convnet`` is the exception: a four-block ConvNet of our own for smoke tests and the test suite's
pipeline runs, where what is checked is the plumbing, not the model.

:func:`build_backbone` returns the feature extractor (images in, feature
maps out) that :func:`trainer.models.build_classifier` puts behind the
resizing stage and in front of its own classification head.  It is built from
scratch (``weights=None``) right after seeding, so its initial weights depend
on the seed alone; ``training.backbone_weights`` then loads a weights file
saved without the top (``include_top=False``; ImageNet weights fetched on a
machine with network access, for instance).  Every BatchNorm layer gets
``training.batchnorm_momentum`` and trains on TensorFlow's fused kernel
(:mod:`trainer.batch_norm`).

What the backbone is fed (``training.backbone_input``): ``unit`` keeps the
seed's [0, 1] images; ``imagenet`` applies the backbone's own
``keras.applications`` ``preprocess_input`` convention, which ImageNet weights
were trained with.  Both are a per-channel affine map (:class:`InputScaling`)
of the resizer's [0, 1] output.

Pure Keras (no TensorFlow import): the GPU benchmark builds these on any backend.
"""

import os

import keras
from keras import layers

from trainer.backbone_registry import BACKBONES
from trainer.batch_norm import batchnorm_layers, with_fused_batchnorm
from trainer.config import ConfigError, TrainingConfig
from trainer.contract import KERAS_PACKAGE, TRAINING_CONFIG_KEY, is_remote

WEIGHTS_FIELD = f"{TRAINING_CONFIG_KEY}.backbone_weights"


def small_convnet(include_top=False, weights=None, input_shape=None, name="small_convnet"):
    """Four Conv-BatchNorm-ReLU blocks: a backbone for smoke tests and plumbing checks. Not for results.

    16, 32, 64 and 64 filters, the last three of stride 2; traced in seconds where DenseNet-121 takes half a
    minute.  Takes the arguments of a ``keras.applications`` constructor it needs.

    Args:
        include_top: must be False (it has no top).
        weights: must be None (there are no pretrained weights).
        input_shape: (height, width, 3) of its input.
        name: the model's name.

    Returns:
        A ``keras.Model``: float (B, height, width, 3) in, feature maps (B, height/8, width/8, 64) out
        (sides rounded up).

    Raises:
        ValueError: a top or pretrained weights are asked for.
    """
    if include_top or weights is not None:
        raise ValueError("small_convnet has no top and no pretrained weights")
    inputs = keras.Input(input_shape)
    x = inputs
    for block, (filters, strides) in enumerate(((16, 1), (32, 2), (64, 2), (64, 2)), start=1):
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"block{block}_conv")(x)
        x = layers.BatchNormalization(name=f"block{block}_bn")(x)
        x = layers.ReLU(name=f"block{block}_relu")(x)
    return keras.Model(inputs, x, name=name)


@keras.saving.register_keras_serializable(package=KERAS_PACKAGE)
class InputScaling(layers.Layer):
    """Maps the resizer's [0, 1] images to what the backbone expects (a :class:`Scaling`).

    ``x -> x * scale + offset`` per channel, after reversing the channels (RGB -> BGR) when asked.

    Args:
        scale: per-channel factors.
        offset: per-channel offsets.
        reverse_channels: whether to reverse the channels first.
        **kwargs: ``keras.layers.Layer``'s (``name``, ``dtype``...).
    """

    def __init__(self, scale=(1.0, 1.0, 1.0), offset=(0.0, 0.0, 0.0), reverse_channels=False, **kwargs):
        super().__init__(**kwargs)
        self.scale = tuple(float(v) for v in scale)
        self.offset = tuple(float(v) for v in offset)
        self.reverse_channels = bool(reverse_channels)

    def call(self, inputs):
        if self.reverse_channels:
            inputs = keras.ops.flip(inputs, axis=-1)
        scale = keras.ops.convert_to_tensor(self.scale, dtype=inputs.dtype)
        offset = keras.ops.convert_to_tensor(self.offset, dtype=inputs.dtype)
        return inputs * scale + offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(scale=list(self.scale), offset=list(self.offset), reverse_channels=self.reverse_channels)
        return config


def input_scaling(config: TrainingConfig) -> InputScaling | None:
    """The layer between the resizing stage and the backbone; None when the backbone takes [0, 1] as it is.

    Args:
        config: the training configuration (``backbone``, ``backbone_input``, ``backbone_weights``).

    Returns:
        An :class:`InputScaling` named ``<mode>_input`` (``unit_input``, ``imagenet_input``), or None.
    """
    spec = BACKBONES[config.backbone]
    mode = config.backbone_input
    if mode == "auto":
        mode = "imagenet" if config.backbone_weights else "unit"
    scaling = spec.imagenet_input if mode == "imagenet" else spec.unit_input
    if scaling.is_identity:
        return None
    return InputScaling(scaling.scale, scaling.offset, scaling.reverse_channels, name=f"{mode}_input")


def load_backbone_weights(backbone, path, title):
    """Loads a Keras weights file (``.weights.h5``, ``.keras`` or legacy ``.h5``) into ``backbone``.

    Args:
        backbone: the built backbone, without its top.
        path: the weights file (a local path, or a remote ``scheme://`` one).
        title: the backbone's name in the error message.

    Raises:
        ConfigError: on ``training.backbone_weights``: the file is missing or does not fit the backbone.
    """
    remote = is_remote(path)
    if not remote and not os.path.isfile(path):
        raise ConfigError(WEIGHTS_FIELD, f"{path} does not exist")
    try:
        backbone.load_weights(path)
    except Exception as error:  # Keras raises ValueError, OSError, FileNotFoundError... for a bad file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(
            WEIGHTS_FIELD,
            f"cannot load {path} into {title} without its top (include_top=False): {reason}",
        ) from error


def build_backbone(config: TrainingConfig) -> keras.Model:
    """``config.backbone`` without its top on ``target_size`` inputs, seeded by ``config.seed``.

    Args:
        config: the training configuration (``backbone``, ``target_size``, ``seed``, ``backbone_weights``,
            ``batchnorm_momentum``).

    Returns:
        A ``keras.Model``: float (B, *target_size, 3) in, feature maps (B, h, w, C) out; the classifier adds
        pooling and its head.

    Raises:
        ConfigError: the backbone weights file is missing or does not fit.
    """
    spec = BACKBONES[config.backbone]
    keras.utils.set_random_seed(config.seed)
    backbone = spec.application()(include_top=False, weights=None, input_shape=(*config.target_size, 3))
    if config.backbone_weights:
        load_backbone_weights(backbone, config.backbone_weights, spec.title)
    with_fused_batchnorm(backbone)
    for layer in batchnorm_layers(backbone):
        layer.momentum = config.batchnorm_momentum
    return backbone
