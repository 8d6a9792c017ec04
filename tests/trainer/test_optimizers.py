"""trainer.optimizers: Keras' Adam and SGD with each weight's update in one TensorFlow op.

SGD must give Keras' values bit for bit; Adam Keras' within float32 rounding; both must run the kernel
(one op per weight in the traced step), fall back to Keras' update where the kernel does not apply, and
survive Keras serialization.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from trainer import backbones, contract, models
from trainer.config import ArmConfig
from trainer.optimizers import FusedAdam, FusedSGD

SHAPES = [(3, 3, 2, 4), (4,), (7, 5)]


def gradients(steps=4):
    """Per step, one gradient per weight: normal values over six orders of magnitude (Adam's moments and
    epsilon both matter)."""
    rng = np.random.default_rng(3)
    return [[(rng.normal(size=shape) * 10.0 ** -(step % 6)).astype("float32") for shape in SHAPES]
            for step in range(steps)]


def initial_weights():
    rng = np.random.default_rng(4)
    return [rng.normal(size=shape).astype("float32") for shape in SHAPES]


def weights_after(optimizer, steps):
    """Each weight after applying ``steps`` (gradient lists) with ``optimizer`` in one traced function, and
    the types of the ops of that function's graph."""
    weights = [keras.Variable(w) for w in initial_weights()]
    optimizer.build(weights)

    @tf.function
    def apply(grads):
        optimizer.apply(grads, weights)

    grads = [[tf.constant(g) for g in step] for step in steps]
    graph = apply.get_concrete_function(grads[0]).graph
    for step in grads:
        apply(step)
    return [np.asarray(w) for w in weights], [op.type for op in graph.get_operations()]


def elementwise_updates(op_types):
    """Variable writes other than the step counter's (``iterations.assign_add(1)``): Keras' per-weight updates."""
    writes = sum(op_types.count(t) for t in ("AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp"))
    return writes - 1


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_is_keras_sgd_bit_for_bit_in_one_op_per_weight(momentum, nesterov):
    steps = gradients()
    fused, ops = weights_after(FusedSGD(0.05, momentum=momentum, nesterov=nesterov), steps)
    expected, keras_ops = weights_after(keras.optimizers.SGD(0.05, momentum=momentum, nesterov=nesterov), steps)
    for a, b in zip(fused, expected):
        np.testing.assert_array_equal(a, b)
    kernel = "ResourceApplyKerasMomentum" if momentum else "ResourceApplyGradientDescent"
    assert ops.count(kernel) == len(SHAPES) and kernel not in keras_ops
    assert elementwise_updates(ops) == 0 and elementwise_updates(keras_ops) >= len(SHAPES)


def test_adam_is_keras_adam_within_float32_rounding_in_one_op_per_weight():
    steps = gradients(8)
    fused, ops = weights_after(FusedAdam(0.01), steps)
    expected, keras_ops = weights_after(keras.optimizers.Adam(0.01), steps)
    for a, b in zip(fused, expected):
        # 8 steps of at most 0.01 each: a few ulps of float32 at the weights' magnitude (about 1).
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)
    moved = [np.abs(a - b).max() for a, b in zip(fused, initial_weights())]
    assert min(moved) > 0.01, "the steps moved every weight well beyond the tolerance"
    assert ops.count("ResourceApplyAdam") == len(SHAPES) and "ResourceApplyAdam" not in keras_ops
    assert elementwise_updates(ops) == 0 and elementwise_updates(keras_ops) >= 3 * len(SHAPES)


def test_adam_keeps_keras_slots_and_step_count():
    optimizer = FusedAdam(0.01)
    weights_after(optimizer, gradients(3))
    reference = keras.optimizers.Adam(0.01)
    weights_after(reference, gradients(3))
    assert int(optimizer.iterations.numpy()) == int(reference.iterations.numpy()) == 3
    assert [v.shape for v in optimizer.variables] == [v.shape for v in reference.variables]
    for mine, theirs in zip(optimizer.variables, reference.variables):  # the step, then m and v of each weight
        # v's update factor: 1 - float32(0.999) in the kernel, float32(1 - 0.999) in Keras: 1.3e-5 apart.
        np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs), rtol=2e-5, atol=1e-9)


def test_amsgrad_runs_keras_own_update():
    steps = gradients()
    fused, ops = weights_after(FusedAdam(0.01, amsgrad=True), steps)
    expected, _ = weights_after(keras.optimizers.Adam(0.01, amsgrad=True), steps)
    for a, b in zip(fused, expected):
        np.testing.assert_array_equal(a, b)
    assert "ResourceApplyAdam" not in ops


def apply_rows(optimizer, rows, table):
    """Applies the sparse gradient ``rows`` to ``table`` in a traced function; the types of its graph's ops."""
    function = tf.function(lambda: optimizer.apply([rows], [table]))
    graph = function.get_concrete_function().graph
    function()
    return [op.type for op in graph.get_operations()]


KERNELS = ("ResourceApplyAdam", "ResourceApplyKerasMomentum", "ResourceApplyGradientDescent")


@pytest.mark.parametrize("fused, keras_own", [
    (lambda: FusedAdam(0.1), lambda: keras.optimizers.Adam(0.1)),
    (lambda: FusedSGD(0.1, momentum=0.5), lambda: keras.optimizers.SGD(0.1, momentum=0.5)),
])
def test_a_sparse_gradient_runs_keras_own_update(fused, keras_own):
    results = []
    for optimizer in (fused(), keras_own()):
        table = keras.Variable(np.ones((5, 3), "float32"))
        optimizer.build([table])
        rows = tf.IndexedSlices(tf.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), tf.constant([0, 3]),
                                tf.constant([5, 3]))
        ops = apply_rows(optimizer, rows, table)
        assert not set(ops) & set(KERNELS)  # Keras' update, not a kernel on the densified gradient
        results.append(np.asarray(table))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0][[1, 2, 4]], np.ones((3, 3)))  # only the rows given moved
    assert not np.array_equal(results[0][[0, 3]], np.ones((2, 3)))


@pytest.mark.parametrize("optimizer", [FusedAdam(0.002, beta_2=0.99), FusedSGD(0.03, momentum=0.8, nesterov=True)])
def test_serialization_keeps_the_class_and_config(optimizer):
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is type(optimizer)
    assert restored.get_config() == optimizer.get_config()


@pytest.mark.parametrize("name, expected", [("sgd", FusedSGD), ("adam", FusedAdam)])
def test_the_classifier_is_compiled_with_them_and_trains_as_keras_does(name, expected):
    config = ArmConfig(arm=contract.BILINEAR_BASELINE_ARM, backbone="small_convnet", image_size=(16, 16),
                       target_size=(8, 8), batch_size=2, seed=5, optimizer=name, learning_rate=0.01, momentum=0.9)
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    labels = np.eye(2, dtype="float32")[[0, 1, 1, 0]]
    trained = []
    for swap in (False, True):
        keras.utils.set_random_seed(5)
        model = models.compile_classifier(models.build_classifier(config, backbones.build_backbone(config)), config)
        assert type(model.optimizer) is expected
        if swap:  # the same model and compile, with Keras' own optimizer
            reference = (keras.optimizers.SGD(0.01, momentum=0.9) if name == "sgd" else keras.optimizers.Adam(0.01))
            model.compile(optimizer=reference, loss=model.loss, metrics=["accuracy"], jit_compile=config.jit_compile)
        model.fit(images, labels, batch_size=2, epochs=2, shuffle=False, verbose=0)
        trained.append([np.asarray(w) for w in model.trainable_weights])
    for a, b in zip(*trained):
        if name == "sgd":
            np.testing.assert_array_equal(a, b)
        else:
            # Adam's steps are about the learning rate whatever the gradient, so rounding in one step moves
            # later gradients' signs a little: within a tenth of one step's size after four.
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-3)
