"""MULLER (trainer/muller.py): the untrained layer is the base resize, the formula with trained scalars, gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage
from scipy.signal import windows

from trainer import backbones, models
from trainer.config import ArmConfig, ConfigError
from trainer.contract import MULLER_ARM
from trainer.muller import MullerResizer, gaussian_taps


def images(shape=(2, 40, 36, 3), seed=0):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype("float32")


def test_untrained_layer_is_the_base_resize_bit_for_bit():
    x = images()
    for interpolation, antialias in (("bilinear", False), ("bicubic", False), ("bilinear", True)):
        muller = MullerResizer(target_size=(20, 18), interpolation=interpolation, antialias=antialias)
        base = keras.layers.Resizing(20, 18, interpolation=interpolation, antialias=antialias)
        np.testing.assert_array_equal(np.asarray(muller(x)), np.asarray(base(x)))


@pytest.mark.parametrize("layers", [1, 2, 5])
def test_two_trainable_parameters_per_layer_starting_at_zero(layers):
    muller = MullerResizer(target_size=(8, 8), num_layers=layers)
    muller.build((None, 16, 16, 3))
    assert len(muller.trainable_weights) == 2 * layers and muller.count_params() == 2 * layers
    assert all(float(w.numpy()) == 0.0 for w in muller.trainable_weights)


def test_gaussian_taps_are_scipys_normalised_gaussian():
    for size, sigma in ((5, 1.0), (7, 2.5), (3, 0.5)):
        expected = windows.gaussian(size, std=sigma)
        np.testing.assert_allclose(gaussian_taps(size, sigma), expected / expected.sum(), rtol=1e-6)


def reference(x, weights, biases, target, size=5, sigma=1.0):
    """The paper's formula, independently: scipy's zero-padded separable blur, TensorFlow's bilinear resize."""
    taps = windows.gaussian(size, std=sigma)
    taps /= taps.sum()

    def blur(a):
        a = ndimage.correlate1d(a, taps, axis=2, mode="constant", cval=0.0)
        return ndimage.correlate1d(a, taps, axis=1, mode="constant", cval=0.0)

    def resize(a):
        return tf.image.resize(a, target, method="bilinear", antialias=False).numpy()

    out, current = resize(x), x.astype(np.float64)
    for w, b in zip(weights, biases):
        blurred = blur(current)
        out = out + np.tanh(w * resize((blurred - current).astype(np.float32)) + b)
        current = blurred
    return out


def test_trained_scalars_follow_the_papers_formula():
    x = images((2, 30, 24, 3), seed=3)
    muller = MullerResizer(target_size=(15, 12), num_layers=3)
    muller.build(x.shape)
    weights, biases = (0.8, -1.5, 2.0), (0.05, -0.1, 0.2)
    for variable, value in zip(muller.layer_weights + muller.layer_biases, weights + biases):
        variable.assign(value)
    np.testing.assert_allclose(np.asarray(muller(x)), reference(x, weights, biases, (15, 12)), atol=2e-5)


def test_a_two_pixel_pattern_cancels_at_an_exact_2x_factor_away_from_the_border():
    """The demo's class cue: MULLER's residuals go through the same 2x2 average, so they cancel it too."""
    stripes = np.where(np.arange(40) % 2 == 0, 1.0, -1.0).astype("float32")
    horizontal = np.repeat(stripes[:, None], 40, axis=1)[None, :, :, None].repeat(3, axis=-1)
    muller = MullerResizer(target_size=(20, 20))
    muller.build(horizontal.shape)
    for variable, value in zip(muller.layer_weights + muller.layer_biases, (3.0, -2.0, 0.0, 0.0)):
        variable.assign(value)
    out = np.asarray(muller(0.5 + 0.2 * horizontal))
    flat = np.asarray(muller(np.full_like(horizontal, 0.5)))
    interior = (slice(None), slice(2, -2), slice(2, -2))
    np.testing.assert_allclose(out[interior], flat[interior], atol=1e-6)


def test_gradients_reach_every_scalar_in_a_classifier():
    config = ArmConfig(arm=MULLER_ARM, backbone="small_convnet", image_size=(32, 32), target_size=(16, 16))
    model = models.build_classifier(config, backbones.build_backbone(config))
    muller = models.get_resizer(model)
    assert isinstance(muller, MullerResizer) and len(muller.trainable_weights) == 4
    x = tf.constant(255.0 * images((2, 32, 32, 3), seed=5))
    with tf.GradientTape() as tape:
        loss = keras.losses.categorical_crossentropy(tf.one_hot([0, 1], 2), model(x, training=True))
    for weight, grad in zip(muller.trainable_weights, tape.gradient(loss, muller.trainable_weights)):
        assert grad is not None and float(tf.abs(grad)) > 0, weight.path


def test_config_round_trip():
    muller = MullerResizer(target_size=(20, 30), num_layers=3, kernel_size=7, sigma=1.5, interpolation="bicubic",
                           antialias=True)
    assert MullerResizer.from_config(muller.get_config()).get_config() == muller.get_config()


@pytest.mark.parametrize("kwargs, field", [
    (dict(num_layers=0), "muller.layers"),
    (dict(kernel_size=4), "muller.kernel_size"),
    (dict(sigma=0.0), "muller.sigma"),
    (dict(target_size=(0, 4)), "target_size"),
])
def test_invalid_arguments_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as info:
        MullerResizer(**kwargs)
    assert info.value.field == field
