"""The learnable resizer (Talebi & Milanfar 2021) and the two classifiers.

``learnable_resizer``: ``Rescaling(1/255) -> LearnableResizer -> backbone -> head``
``bilinear_baseline``: ``Rescaling(1/255) -> bilinear Resizing -> backbone -> head``

The backbone (DenseNet-121 by default, ``trainer/backbones.py``) is built
first and handed to :func:`build_classifier`; both arms built from the same
config start from identical backbone and head weights (the backbone is
seeded on its own, the head's initializer carries the seed).  The head is
global average pooling and a dense layer with ``num_classes`` outputs.
"""

import keras
from keras import layers

from trainer.backbones import input_scaling
from trainer.config import ARMS, INTERPOLATIONS, ArmConfig, ConfigError, TrainingConfig
from trainer.contract import BASELINE_ARM, CANDIDATE_ARM

_PACKAGE = "resizer_tfx"
# Layer names of the two resizing stages (what get_downscaler looks for).
LEARNABLE_RESIZER_LAYER = "learnable_resizer"
BILINEAR_RESIZE_LAYER = "bilinear_resize"
HEAD_LAYER = "logits"  # the classification head's dense layer


def _check_positive_int(field, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(field, f"must be a positive int, got {value!r}")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ResidualBlock(layers.Layer):
    """conv3x3-BN-LeakyReLU -> conv3x3-BN, plus the input (the seed's res_block)."""

    def __init__(self, filters=16, batchnorm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        _check_positive_int("filters", filters)
        self.filters = filters
        self.batchnorm_momentum = batchnorm_momentum
        self.conv1 = layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv1")
        self.bn1 = layers.BatchNormalization(momentum=batchnorm_momentum, name="bn1")
        self.conv2 = layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv2")
        self.bn2 = layers.BatchNormalization(momentum=batchnorm_momentum, name="bn2")

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        channels = input_shape[-1]
        if channels is not None and channels != self.filters:
            raise ValueError(
                f"{self.name}: input has {channels} channels, the block has {self.filters} filters"
            )
        self.conv1.build(input_shape)
        self.bn1.build(input_shape[:-1] + (self.filters,))
        self.conv2.build(input_shape[:-1] + (self.filters,))
        self.bn2.build(input_shape[:-1] + (self.filters,))

    def call(self, inputs, training=None):
        x = self.bn1(self.conv1(inputs), training=training)
        x = keras.ops.leaky_relu(x, negative_slope=0.2)
        x = self.bn2(self.conv2(x), training=training)
        return inputs + x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, batchnorm_momentum=self.batchnorm_momentum)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LearnableResizer(layers.Layer):
    """Resizes any (H, W, 3) image batch to ``target_size`` with learned filters.

    The naive resize of the input is the skip path.  In parallel: conv7x7
    (LeakyReLU 0.2) -> conv1x1 (LeakyReLU, BatchNorm) -> resize to the target
    (the bottleneck) -> ``num_res_blocks`` residual blocks, each feeding the
    next -> conv3x3 + BatchNorm -> + bottleneck -> conv7x7 to 3 channels ->
    + naive resize.  Inputs of any size and aspect ratio are accepted.
    """

    def __init__(
        self,
        target_size=(150, 150),
        filters=16,
        num_res_blocks=1,
        interpolation="bilinear",
        batchnorm_momentum=0.99,
        **kwargs,
    ):
        super().__init__(**kwargs)
        target_size = tuple(target_size)
        if len(target_size) != 2 or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in target_size
        ):
            raise ConfigError("target_size", f"expected two positive ints, got {target_size!r}")
        _check_positive_int("filters", filters)
        _check_positive_int("num_res_blocks", num_res_blocks)
        if interpolation not in INTERPOLATIONS:
            raise ConfigError(
                "interpolation", f"{interpolation!r} is not one of {', '.join(INTERPOLATIONS)}"
            )
        if not 0 <= batchnorm_momentum < 1:
            raise ConfigError("batchnorm_momentum", f"must be in [0, 1), got {batchnorm_momentum!r}")
        self.target_size = target_size
        self.filters = filters
        self.num_res_blocks = num_res_blocks
        self.interpolation = interpolation
        self.batchnorm_momentum = batchnorm_momentum

        height, width = target_size
        self.naive_resize = layers.Resizing(height, width, interpolation=interpolation, name="naive_resize")
        self.conv_in = layers.Conv2D(filters, 7, padding="same", name="conv_in")
        self.conv_mix = layers.Conv2D(filters, 1, padding="same", name="conv_mix")
        self.bn_mix = layers.BatchNormalization(momentum=batchnorm_momentum, name="bn_mix")
        self.bottleneck_resize = layers.Resizing(
            height, width, interpolation=interpolation, name="bottleneck_resize"
        )
        self.res_blocks = [
            ResidualBlock(filters, batchnorm_momentum, name=f"res_block_{i}")
            for i in range(num_res_blocks)
        ]
        self.conv_proj = layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv_proj")
        self.bn_proj = layers.BatchNormalization(momentum=batchnorm_momentum, name="bn_proj")
        self.conv_out = layers.Conv2D(3, 7, padding="same", name="conv_out")

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if input_shape[-1] != 3:
            raise ValueError(f"{self.name}: expects 3-channel images, got shape {input_shape}")
        batch = input_shape[0]
        small = (batch, *self.target_size, self.filters)
        self.conv_in.build(input_shape)
        self.conv_mix.build(input_shape[:-1] + (self.filters,))
        self.bn_mix.build(input_shape[:-1] + (self.filters,))
        for block in self.res_blocks:
            block.build(small)
        self.conv_proj.build(small)
        self.bn_proj.build(small)
        self.conv_out.build(small)

    def call(self, inputs, training=None):
        naive = self.naive_resize(inputs)
        x = keras.ops.leaky_relu(self.conv_in(inputs), negative_slope=0.2)
        x = keras.ops.leaky_relu(self.conv_mix(x), negative_slope=0.2)
        x = self.bn_mix(x, training=training)
        bottleneck = self.bottleneck_resize(x)
        x = bottleneck
        for block in self.res_blocks:
            x = block(x, training=training)
        x = self.bn_proj(self.conv_proj(x), training=training)
        x = self.conv_out(x + bottleneck)
        return naive + x

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.target_size, 3)

    def get_config(self):
        config = super().get_config()
        config.update(
            target_size=list(self.target_size),
            filters=self.filters,
            num_res_blocks=self.num_res_blocks,
            interpolation=self.interpolation,
            batchnorm_momentum=self.batchnorm_momentum,
        )
        return config


def build_downscaler(config: ArmConfig):
    """The arm's resizing stage: the learnable resizer or a fixed bilinear resize."""
    if config.arm == CANDIDATE_ARM:
        return LearnableResizer(
            target_size=config.target_size,
            filters=config.filters,
            num_res_blocks=config.num_res_blocks,
            interpolation=config.interpolation,
            batchnorm_momentum=config.batchnorm_momentum,
            name=LEARNABLE_RESIZER_LAYER,
        )
    if config.arm == BASELINE_ARM:
        return layers.Resizing(*config.target_size, interpolation="bilinear", name=BILINEAR_RESIZE_LAYER)
    raise ConfigError("arm", f"{config.arm!r} is not one of {', '.join(ARMS)}")


def build_classifier(config: ArmConfig, backbone: keras.Model):
    """``Rescaling(1/255) -> resizing stage -> backbone -> head`` for ``config.arm``.

    ``backbone``: :func:`trainer.backbones.build_backbone` of the same config.
    Inputs: float images (B, *image_size, 3) in [0, 255].  Output: class
    probabilities (B, num_classes), float32 whatever the compute precision.
    """
    keras.utils.set_random_seed(config.seed + 1)
    downscaler = build_downscaler(config)
    inputs = keras.Input((*config.image_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = downscaler(x)
    scaling = input_scaling(config)
    if scaling is not None:
        x = scaling(x)
    x = backbone(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    # Seeded initializer: the head starts alike in both arms, whatever was drawn before.
    x = layers.Dense(config.num_classes, kernel_initializer=keras.initializers.GlorotUniform(seed=config.seed),
                     name=HEAD_LAYER)(x)
    # Mixed precision computes in float16/bfloat16; the softmax and the probabilities stay float32.
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=config.arm)


def compile_classifier(model, config: TrainingConfig):
    """Compiles ``model`` with the configured optimizer and the seed's loss (label-smoothed cross-entropy).

    Pure Keras, so every backend (and the GPU benchmark) trains exactly what the Trainer trains.
    """
    if config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(config.learning_rate, momentum=config.momentum)
    else:
        optimizer = keras.optimizers.Adam(config.learning_rate)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
        jit_compile=config.jit_compile,
    )
    return model


def get_downscaler(model):
    """The resizing stage of a classifier built by :func:`build_classifier`."""
    for name in (LEARNABLE_RESIZER_LAYER, BILINEAR_RESIZE_LAYER):
        try:
            return model.get_layer(name)
        except ValueError:
            continue
    raise ValueError(f"model {model.name!r} has no resizing stage")
