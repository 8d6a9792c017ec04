"""trainer.batch_norm: the fused kernel computes Keras' batch normalization, forward, backward and statistics."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from trainer import backbones, batch_norm, config, contract
from trainer.batch_norm import FusedBatchNormalization, with_fused_batchnorm

SHAPE = (4, 9, 7, 5)


def pair(**kwargs):
    """A Keras layer and a fused one with the same random weights and moving statistics."""
    rng = np.random.default_rng(3)
    plain = keras.layers.BatchNormalization(momentum=0.8, **kwargs)
    fused = FusedBatchNormalization(momentum=0.8, **kwargs)
    for layer in (plain, fused):
        layer.build(SHAPE)
    values = [rng.normal(size=w.shape).astype("float32") for w in plain.weights]
    values = [np.abs(v) + 0.5 if "variance" in w.path else v for w, v in zip(plain.weights, values)]
    plain.set_weights(values)
    fused.set_weights(values)
    return plain, fused


def images(seed=0, shape=SHAPE):
    return tf.constant(np.random.default_rng(seed).normal(2.0, 3.0, size=shape).astype("float32"))


def forward_and_gradients(layer, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        # Not linear in y: a linear loss's gradient for gamma is 0 up to rounding (normalized values sum to 0).
        loss = tf.reduce_sum(tf.square(y) * tf.range(1.0, 1.0 + y.shape[-1]))
    return y, tape.gradient(loss, [x, *layer.trainable_variables])


@pytest.mark.parametrize("kwargs", [{}, {"scale": False}, {"center": False}, {"epsilon": 1.001e-5}])
def test_training_step_matches_keras_outputs_gradients_and_moving_statistics(kwargs):
    plain, fused = pair(**kwargs)
    x = images()
    y_plain, grads_plain = forward_and_gradients(plain, x)
    y_fused, grads_fused = forward_and_gradients(fused, x)
    np.testing.assert_allclose(y_fused, y_plain, rtol=1e-5, atol=1e-5)
    assert len(grads_fused) == len(grads_plain) == 1 + len(plain.trainable_variables)
    for g_fused, g_plain in zip(grads_fused, grads_plain):
        np.testing.assert_allclose(g_fused, g_plain, rtol=1e-4, atol=1e-4)
    # The biased variance, as Keras averages it (the kernel's own is n / (n - 1) larger: 252 / 251 here).
    np.testing.assert_allclose(fused.moving_mean, plain.moving_mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fused.moving_variance, plain.moving_variance, rtol=1e-6, atol=1e-6)
    assert not np.allclose(fused.moving_variance, pair(**kwargs)[1].moving_variance)  # it was updated


def test_the_fused_kernel_is_what_runs_in_training_and_not_in_inference():
    _, fused = pair()
    x = images()
    training_graph = tf.function(lambda: fused(x, training=True)).get_concrete_function().graph
    inference_graph = tf.function(lambda: fused(x, training=False)).get_concrete_function().graph
    assert "FusedBatchNormV3" in {op.type for op in training_graph.get_operations()}
    assert "FusedBatchNormV3" not in {op.type for op in inference_graph.get_operations()}


def test_inference_is_keras_bit_for_bit():
    plain, fused = pair()
    x = images(1)
    np.testing.assert_array_equal(fused(x, training=False), plain(x, training=False))


@pytest.mark.parametrize("kwargs", [{"synchronized": True}, {"epsilon": 1e-6}, {"axis": 1}])
def test_settings_the_kernel_cannot_take_fall_back_to_keras_bit_for_bit(kwargs):
    plain, fused = pair(**kwargs)
    x = images(2)
    np.testing.assert_array_equal(fused(x, training=True), plain(x, training=True))
    np.testing.assert_array_equal(fused.moving_variance, plain.moving_variance)


def test_a_mask_falls_back_to_keras_bit_for_bit():
    plain, fused = pair()
    x = images(4)
    mask = tf.constant(np.random.default_rng(5).random(SHAPE[:-1]) > 0.3)
    np.testing.assert_array_equal(fused(x, training=True, mask=mask), plain(x, training=True, mask=mask))


def test_mixed_precision_keeps_the_compute_dtype_and_float32_statistics():
    plain, fused = pair(dtype="mixed_float16")
    x = tf.cast(images(6), "float16")
    y_plain, y_fused = plain(x, training=True), fused(x, training=True)
    assert y_fused.dtype == y_plain.dtype == tf.float16
    np.testing.assert_allclose(np.asarray(y_fused, "float32"), np.asarray(y_plain, "float32"), atol=2e-2)
    assert fused.moving_variance.dtype == "float32"
    np.testing.assert_allclose(fused.moving_variance, plain.moving_variance, rtol=1e-5)


def small_model():
    inputs = keras.Input((9, 7, 3))
    x = keras.layers.Conv2D(5, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    return keras.Model(inputs, keras.layers.BatchNormalization(name="bn_out", scale=False)(x), name="tiny")


def test_with_fused_batchnorm_changes_the_layers_in_place_and_nothing_else():
    keras.utils.set_random_seed(0)
    model = small_model()
    for layer in model.layers:  # moving statistics away from their initial values
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_variance.assign(tf.fill(layer.moving_variance.shape, 2.5))
    x = images(7, (2, 9, 7, 3))
    names, weights = [layer.name for layer in model.layers], [np.array(w) for w in model.weights]
    inference, training = np.asarray(model(x, training=False)), np.asarray(model(x, training=True))
    model.set_weights(weights)  # the training call moved the moving statistics
    assert with_fused_batchnorm(model) is model
    assert [layer.name for layer in model.layers] == names
    assert [type(layer) for layer in backbones.batchnorm_layers(model)] == [FusedBatchNormalization] * 2
    for w, before in zip(model.weights, weights, strict=True):
        np.testing.assert_array_equal(w, before)
    np.testing.assert_array_equal(model(x, training=False), inference)
    np.testing.assert_allclose(model(x, training=True), training, rtol=1e-5, atol=1e-5)


def test_layers_other_than_plain_batchnorm_are_left_alone():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert with_fused_batchnorm(model) is model and type(model.layers[1]) is keras.layers.Dense
    twice = with_fused_batchnorm(with_fused_batchnorm(small_model()))
    assert [type(layer) for layer in backbones.batchnorm_layers(twice)] == [FusedBatchNormalization] * 2


def test_a_saved_model_loads_the_fused_layer_back(tmp_path):
    model = with_fused_batchnorm(small_model())
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(layer) for layer in backbones.batchnorm_layers(loaded)] == [FusedBatchNormalization] * 2
    x = images(8, (2, 9, 7, 3))
    np.testing.assert_array_equal(loaded(x, training=False), model(x, training=False))


def test_every_backbone_batchnorm_layer_is_fused():
    training = config.ArmConfig(arm=contract.BILINEAR_BASELINE_ARM, backbone="small_convnet", image_size=(64, 64),
                                target_size=(32, 32), batchnorm_momentum=0.7)
    layers = list(backbones.batchnorm_layers(backbones.build_backbone(training)))
    assert len(layers) == 4
    assert all(type(layer) is batch_norm.FusedBatchNormalization and layer.momentum == 0.7 for layer in layers)


# --- PreciseBN: recompute_moving_statistics ---------------------------------------------------------------


def precise_bn_model(layer_class):
    """Input -> BatchNorm (stale statistics) -> conv -> BatchNorm -> frozen BatchNorm -> pooled logits."""
    inputs = keras.Input((6, 5, 3))
    x = layer_class(momentum=0.7, name="first")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(x)
    x = layer_class(momentum=0.7, name="second")(x)
    frozen = layer_class(name="frozen")
    frozen.trainable = False
    x = frozen(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x)))
    for layer in batch_norm.batchnorm_layers(model):
        layer.moving_mean.assign(np.full(layer.moving_mean.shape, 7.0, "float32"))
        layer.moving_variance.assign(np.full(layer.moving_variance.shape, 9.0, "float32"))
    return model


@pytest.mark.parametrize("layer_class", [keras.layers.BatchNormalization, FusedBatchNormalization])
def test_precise_bn_sets_the_population_statistics_of_every_batch_together(layer_class):
    model = precise_bn_model(layer_class)
    data = np.random.default_rng(5).normal([1.0, -2.0, 30.0], [0.5, 2.0, 8.0], (11, 6, 5, 3)).astype("float32")
    weights = [w.numpy().copy() for w in model.trainable_weights]
    frozen_before = [v.numpy().copy() for v in model.get_layer("frozen").non_trainable_weights]

    # Batches of 4, 4 and 3 (the last short): the statistics are those of all 11 images, not a batch average.
    done = batch_norm.recompute_moving_statistics(model, [(data[:4], None), (data[4:8], None), data[8:]])

    assert done == {"layers": 2, "batches": 3, "images": 11}
    first = model.get_layer("first")
    np.testing.assert_allclose(first.moving_mean.numpy(), data.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(first.moving_variance.numpy(), data.var(axis=(0, 1, 2)), rtol=1e-4)
    # Everything else as it was: weights, the frozen layer's statistics, the momentum.
    for before, after in zip(weights, model.trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())
    for before, after in zip(frozen_before, model.get_layer("frozen").non_trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())
    assert first.momentum == 0.7 and model.get_layer("second").momentum == 0.7
    # The second layer: its input's statistics over all 11 images, each batch through the first layer in
    # training mode (normalised with that batch's own statistics), as in training.
    gamma, beta = first.gamma.numpy(), first.beta.numpy()
    conv_inputs = [(b - b.mean(axis=(0, 1, 2))) / np.sqrt(b.var(axis=(0, 1, 2)) + first.epsilon) * gamma + beta
                   for b in (data[:4], data[4:8], data[8:])]
    conv_out = np.concatenate([model.get_layer("conv")(tf.constant(x)).numpy() for x in conv_inputs])
    second = model.get_layer("second")
    np.testing.assert_allclose(second.moving_mean.numpy(), conv_out.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(second.moving_variance.numpy(), conv_out.var(axis=(0, 1, 2)), rtol=1e-4)


def test_precise_bn_on_no_batches_is_an_error_and_keeps_the_statistics():
    model = precise_bn_model(FusedBatchNormalization)
    with pytest.raises(ValueError, match="no batches"):
        batch_norm.recompute_moving_statistics(model, [])
    for layer in batch_norm.batchnorm_layers(model):
        np.testing.assert_array_equal(layer.moving_mean.numpy(), 7.0)
    assert model.get_layer("first").momentum == 0.7


def test_precise_bn_restores_the_trained_statistics_when_a_batch_fails():
    model = precise_bn_model(keras.layers.BatchNormalization)

    def batches():
        yield np.ones((2, 6, 5, 3), "float32")
        raise OSError("image file unreadable")

    with pytest.raises(OSError, match="unreadable"):
        batch_norm.recompute_moving_statistics(model, batches())
    for layer in batch_norm.batchnorm_layers(model):
        np.testing.assert_array_equal(layer.moving_mean.numpy(), 7.0)
        np.testing.assert_array_equal(layer.moving_variance.numpy(), 9.0)


class CountingIdentity(keras.layers.Layer):
    """The identity, counting the Python calls of its ``call`` (in a ``tf.function``: its traces)."""

    calls = 0

    def call(self, inputs):
        CountingIdentity.calls += 1
        return inputs


def test_precise_bn_over_a_dataset_with_a_short_last_batch_traces_once():
    data = np.random.default_rng(6).normal(2.0, 3.0, (11, 6, 5, 3)).astype("float32")
    labels = np.zeros((11, 2), "float32")
    dataset = tf.data.Dataset.from_tensor_slices((data, labels)).batch(4)  # 4, 4, then 3
    statistics = []
    for batches in (dataset, [(data[:4], None), (data[4:8], None), (data[8:], None)]):
        inputs = keras.Input((6, 5, 3))
        model = keras.Model(inputs, FusedBatchNormalization(name="norm")(CountingIdentity()(inputs)))
        CountingIdentity.calls = 0
        assert batch_norm.recompute_moving_statistics(model, batches)["images"] == 11
        statistics.append((CountingIdentity.calls, [v.numpy() for v in model.get_layer("norm").non_trainable_weights]))
    (dataset_traces, from_dataset), (array_traces, from_arrays) = statistics
    assert dataset_traces == 1 and array_traces == 2  # arrays: a shape-4 trace, then one for any batch size
    for a, b in zip(from_dataset, from_arrays):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(from_dataset[0], data.mean(axis=(0, 1, 2)), rtol=1e-5)
