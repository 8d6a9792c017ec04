"""Batch normalization on TensorFlow's fused kernel while training: Keras 3's layer, computed in one op.

Keras 3's ``BatchNormalization`` computes a training step's statistics with ``tf.nn.moments`` and normalizes
with ``tf.nn.batch_normalization``: a dozen elementwise ops and reductions over the whole activation, and as
many again in the gradient.  TensorFlow's ``FusedBatchNormV3`` / ``FusedBatchNormGradV3`` do the same in one
pass each.  :class:`FusedBatchNormalization` is Keras' layer (same weights, config, inference path and
moving-statistics update: the biased batch variance, as Keras keeps it) whose training-mode forward pass
uses the fused kernel where it applies:

* the TensorFlow backend, channels-last 4-D inputs, no mask, not ``synchronized`` (a replica-wide batch
  needs Keras' all-reduce), an epsilon of at least 1.001e-5 (the kernel's least);
* everywhere else, and in inference, it is Keras' ``BatchNormalization`` unchanged.

Same function, other rounding: the fused kernel sums in another order (outputs, gradients and moving
statistics within 1e-5 of Keras' in float32, checked in ``tests/trainer/test_batch_norm.py``).  Measured on an
AMD EPYC (2 cores, AVX2 only): forward and backward of one layer on a (16, 300, 300, 16) float32 batch took
219 ms against 407 ms with Keras' ops; each arm's training step and first step: docs/trainer.md, "Measured
throughput".

The layer is registered with Keras, so saved models load it back.  No TensorFlow import at module level:
the backbones are built on any Keras backend.
"""

import keras
from keras import layers

from trainer.contract import KERAS_PACKAGE

# TensorFlow's fused kernel raises any smaller epsilon to this; such layers keep Keras' ops.
MIN_FUSED_EPSILON = 1.001e-5


@keras.saving.register_keras_serializable(package=KERAS_PACKAGE)
class FusedBatchNormalization(layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` whose training forward pass runs TensorFlow's fused kernel.

    Takes and returns what Keras' layer does (any float dtype, the output in the layer's compute dtype);
    its arguments, weights and config are Keras' layer's.
    """

    def _fuses(self, inputs, training, mask) -> bool:
        return (
            bool(training)
            and self.trainable
            and mask is None
            and not self.synchronized
            and self.epsilon >= MIN_FUSED_EPSILON
            and keras.backend.backend() == "tensorflow"
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fuses(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # the TensorFlow backend is in use: see _fuses

        # As Keras' layer: statistics in float32 whatever the compute dtype (float16 overflows).
        inputs = tf.cast(inputs, "float32")
        channels = inputs.shape[-1]
        outputs, mean, corrected_variance = tf.compat.v1.nn.fused_batch_norm(
            inputs,
            tf.cast(self.gamma, "float32") if self.scale else tf.ones([channels]),
            tf.cast(self.beta, "float32") if self.center else tf.zeros([channels]),
            epsilon=self.epsilon,
            is_training=True,
        )
        # The kernel returns the unbiased (n - 1) batch variance; Keras' moving variance averages the biased one.
        count = tf.cast(tf.size(inputs, out_type=tf.int64) // channels, tf.float32)
        variance = corrected_variance * ((count - 1.0) / count)
        moving_mean = tf.cast(self.moving_mean, "float32")
        moving_variance = tf.cast(self.moving_variance, "float32")
        self.moving_mean.assign(moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(outputs, self.compute_dtype)


def batchnorm_layers(model):
    """Every BatchNormalization layer in ``model``, inside nested models and custom layers too.

    Args:
        model: a Keras model or layer.

    Yields:
        Each ``keras.layers.BatchNormalization`` layer (fused or not), depth first.
    """
    # Keras' own walk: private, but Keras has no public recursive one.
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, layers.BatchNormalization):
            yield layer


def with_fused_batchnorm(model: keras.Model) -> keras.Model:
    """Makes every plain ``BatchNormalization`` layer of ``model`` a :class:`FusedBatchNormalization`, in place.

    The subclass adds no state, so each layer changes class and keeps everything else: its weights, its
    place in the graph, and whatever a rebuilt model would have to copy (a ``Normalization`` layer's loaded
    statistics, for instance).

    Args:
        model: a Keras model or layer (a ``keras.applications`` backbone, for instance).

    Returns:
        ``model``.
    """
    for layer in batchnorm_layers(model):
        if type(layer) is layers.BatchNormalization:
            layer.__class__ = FusedBatchNormalization
    return model


def recompute_moving_statistics(model: keras.Model, batches) -> dict:
    """Sets every BatchNorm layer's moving statistics to the population statistics of ``batches`` (PreciseBN).

    Wu & Johnson, "Rethinking 'Batch' in BatchNorm" (2021), section 3: after training, run the model in
    training mode over the data with the weights fixed and, per layer, aggregate each batch's statistics into
    the population's, ``mean = E[mean_B]`` and ``variance = E[variance_B + mean_B^2] - mean^2`` (expectations
    weighted by batch size; ``variance_B`` biased, as Keras keeps it).  Inference then normalises with the
    statistics of the trained network instead of an exponential average that mixes in earlier weights, which
    a short schedule (tens of steps) has not washed out.

    Only the ``moving_mean`` and ``moving_variance`` variables change: each layer's momentum is set to 0 while
    the batches run (so a batch's statistics land in them to be read) and restored after; trainable weights,
    the optimizer and a replica-wide layer's ``synchronized`` setting (off while the batches run: each
    process sees every batch whole) are as before.  A frozen layer (``trainable`` False) normalises with its
    moving statistics even in training mode, and keeps them.

    Args:
        model: a built Keras model (TensorFlow backend).
        batches: an iterable of float images (B, H, W, C) or of (images, labels) pairs, in the model's input
            format; every batch is used once.

    Returns:
        ``{"layers": BatchNorm layers updated, "batches": batches read, "images": images read}``.

    Raises:
        ValueError: ``batches`` is empty (no statistics to set); on this or any error from the batches or the
            model, every layer keeps the statistics it had.
    """
    import numpy as np
    import tensorflow as tf  # PreciseBN runs the TensorFlow backend's training-mode forward pass

    bn_layers = [layer for layer in batchnorm_layers(model) if layer.trainable]
    saved = [(layer.momentum, layer.synchronized) for layer in bn_layers]
    trained = [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in bn_layers]
    for layer in bn_layers:
        layer.momentum, layer.synchronized = 0.0, False

    def statistics(images):
        model(images, training=True)
        return ([tf.cast(layer.moving_mean, tf.float32) for layer in bn_layers],
                [tf.cast(layer.moving_variance, tf.float32) for layer in bn_layers])

    # A dataset says its batches' shape, a short last batch included: one trace (a second one of a
    # DenseNet-121's forward pass took seconds).  Anything else: retraced once for another batch size.
    spec = getattr(batches, "element_spec", None)
    spec = spec[0] if isinstance(spec, (tuple, list)) else spec
    if isinstance(spec, tf.TensorSpec):
        batch_statistics = tf.function(statistics, input_signature=[spec])
    else:
        batch_statistics = tf.function(statistics, reduce_retracing=True)

    sums = [[0.0, 0.0] for _ in bn_layers]  # per layer: sum of n * mean_B, sum of n * (variance_B + mean_B^2)
    images_read = batches_read = 0
    try:
        for batch in batches:
            images = batch[0] if isinstance(batch, (tuple, list)) else batch
            count = int(images.shape[0])
            means, variances = batch_statistics(images)
            for total, mean, variance in zip(sums, means, variances):
                mean = mean.numpy().astype(np.float64)
                total[0] = total[0] + count * mean
                total[1] = total[1] + count * (variance.numpy().astype(np.float64) + mean * mean)
            images_read += count
            batches_read += 1
        if not batches_read:
            raise ValueError("no batches to compute BatchNorm statistics from")
        for layer, (sum_mean, sum_square) in zip(bn_layers, sums):
            mean = sum_mean / images_read
            variance = np.maximum(sum_square / images_read - mean * mean, 0.0)
            layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
            layer.moving_variance.assign(variance.astype(layer.moving_variance.dtype))
    except BaseException:
        for layer, (mean, variance) in zip(bn_layers, trained):  # a failed pass leaves the trained statistics
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)
        raise
    finally:
        for layer, (momentum, synchronized) in zip(bn_layers, saved):
            layer.momentum, layer.synchronized = momentum, synchronized
    return {"layers": len(bn_layers), "batches": batches_read, "images": images_read}
