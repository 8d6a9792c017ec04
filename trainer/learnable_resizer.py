"""The learnable resizer of Talebi & Milanfar 2021, written as Keras 3 layers.

Talebi & Milanfar, "Learning to Resize Images for Computer Vision Tasks", ICCV 2021 (arXiv:2103.09950), as
the seed's Keras example builds it.

:class:`LearnableResizer` maps float images (B, H, W, 3) of any size to (B, *target_size, 3); its output is the
naive resize plus a learned residual.  With the seed's settings (16 filters, one residual block) it has 12,163
trainable parameters.
"""

import keras
from keras import layers

from trainer.batch_norm import FusedBatchNormalization
from trainer.config import INTERPOLATIONS, ConfigError
from trainer.contract import KERAS_PACKAGE


def _check_positive_int(field, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(field, f"must be a positive int, got {value!r}")


@keras.saving.register_keras_serializable(package=KERAS_PACKAGE)
class ResidualBlock(layers.Layer):
    """conv3x3-BN-LeakyReLU -> conv3x3-BN, plus the input (the seed's res_block).

    Args:
        filters: channels of both convolutions; the input must have as many.
        batchnorm_momentum: momentum of both BatchNorm layers, in [0, 1).

    Raises:
        ConfigError: ``filters`` is not a positive int.
        ValueError: (when built) the input's channels differ from ``filters``.
    """

    def __init__(self, filters=16, batchnorm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        _check_positive_int("filters", filters)
        self.filters = filters
        self.batchnorm_momentum = batchnorm_momentum
        self.conv1 = layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv1")
        self.bn1 = FusedBatchNormalization(momentum=batchnorm_momentum, name="bn1")
        self.conv2 = layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv2")
        self.bn2 = FusedBatchNormalization(momentum=batchnorm_momentum, name="bn2")

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


@keras.saving.register_keras_serializable(package=KERAS_PACKAGE)
class LearnableResizer(layers.Layer):
    """Resizes any (H, W, 3) image batch to ``target_size`` with learned filters.

    Talebi & Milanfar, "Learning to Resize Images for Computer Vision Tasks", ICCV 2021 (arXiv:2103.09950),
    as the seed's Keras example builds it.  The naive resize of the input is the skip path.  In
    parallel: conv7x7 (LeakyReLU 0.2) -> conv1x1 (LeakyReLU, BatchNorm) -> resize to the target (the
    bottleneck) -> ``num_res_blocks`` residual blocks, each feeding the next -> conv3x3 + BatchNorm ->
    + bottleneck -> conv7x7 to 3 channels -> + naive resize.  Inputs of any size and aspect ratio are
    accepted: float (B, H, W, 3) in, float (B, *target_size, 3) out (the model feeds it [0, 1] images; its
    output is not confined to that range).  With 16 filters and one residual block it has 12,163 parameters
    (12,035 trainable).  Its BatchNorm layers train on TensorFlow's fused kernel
    (:class:`trainer.batch_norm.FusedBatchNormalization`): the seed's function, rounded otherwise.

    Args:
        target_size: (height, width) of the output, in pixels.
        filters: channels inside the resizer.
        num_res_blocks: residual blocks at the target size.
        interpolation: the naive and bottleneck resize (``keras.layers.Resizing``'s names: bilinear,
            bicubic, area, nearest).
        batchnorm_momentum: momentum of every BatchNorm layer, in [0, 1).
        **kwargs: ``keras.layers.Layer``'s (``name``, ``dtype``...).

    Raises:
        ConfigError: a setting out of range, naming it.
        ValueError: (when built) the input does not have 3 channels.
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
        self.bn_mix = FusedBatchNormalization(momentum=batchnorm_momentum, name="bn_mix")
        self.bottleneck_resize = layers.Resizing(
            height, width, interpolation=interpolation, name="bottleneck_resize"
        )
        self.res_blocks = [
            ResidualBlock(filters, batchnorm_momentum, name=f"res_block_{i}")
            for i in range(num_res_blocks)
        ]
        self.conv_proj = layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv_proj")
        self.bn_proj = FusedBatchNormalization(momentum=batchnorm_momentum, name="bn_proj")
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
