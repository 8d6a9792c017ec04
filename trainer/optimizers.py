"""Adam and SGD whose update of each weight is one TensorFlow training op, not a dozen elementwise ops.

Keras 3 writes an optimizer's update of one weight in backend-neutral ops (``keras/src/optimizers/adam.py``,
``sgd.py``): for Adam about 25 ops per weight (casts, the bias corrections, the two moment updates, the step),
each traced through Keras' op dispatch and then run as a kernel of its own.  DenseNet-121 has 364 trainable
weights, so its training step carries about 9,000 such ops.  TensorFlow has each update as one kernel
(``ResourceApplyAdam``, ``ResourceApplyKerasMomentum``, ``ResourceApplyGradientDescent``; the ops Keras 2
optimizers ran).  :class:`FusedAdam` and :class:`FusedSGD` are Keras' optimizers (same arguments, config,
variables, learning-rate schedules, clipping, weight decay, loss scaling, EMA) whose per-weight update is that
kernel, where it applies:

* the TensorFlow backend, a dense gradient, weight and slots held in ``tf.Variable`` s;
* Adam without AMSGrad;
* everywhere else Keras' own ``update_step`` runs unchanged.

Same function.  SGD's CPU kernels compute Keras 3's formulas in the same order (``m = m * momentum - g * lr;
w += m``, Nesterov ``w += m * momentum - g * lr``; without momentum ``w -= g * lr``): on a CPU without XLA the
same values, bit for bit (``tests/trainer/test_optimizers.py``); XLA (``jit_compile``) groups Nesterov's sum
otherwise, and a GPU's compiled kernel may fuse a multiply-add, so there only within rounding.  Adam's kernel
takes ``1 - beta`` in the variable's dtype (``1 - float32(0.999)``) where Keras 3 rounds the double
``1 - 0.999`` to float32: the second moment's update factor differs by 1.3e-5 relative, each step by about
1e-5 relative, and training then drifts as it does from any rounding change.

Measured by ``bench/bench_optimizers.py`` on an AMD EPYC (2 cores, AVX2 only), each demo arm alone
(DenseNet-121, 300 -> 150, batch 16, Adam): the first step (tracing, Grappler, the step) 32.0-42.2 s with
Keras' Adam, 20.3-23.5 s with :class:`FusedAdam`; steady steps within their run-to-run spread
(docs/trainer.md, "One op per weight's update").

No TensorFlow import at module level: the classifier is compiled on any Keras backend.
"""

import keras

from trainer.contract import KERAS_PACKAGE


def _tf_variables(*variables):
    """Each variable's ``tf.Variable`` (Keras 3 wraps one), or None when one is not held in TensorFlow."""
    import tensorflow as tf  # only reached on the TensorFlow backend

    values = [v.value if isinstance(v, keras.Variable) else v for v in variables]
    return values if all(isinstance(v, tf.Variable) for v in values) else None


def _dense_on_tensorflow(gradient) -> bool:
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return not isinstance(gradient, tf.IndexedSlices)


@keras.saving.register_keras_serializable(package=KERAS_PACKAGE)
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose update of each weight is TensorFlow's ``ResourceApplyAdam``.

    Takes what Keras' Adam takes; Kingma & Ba 2014, Algorithm 1 with "epsilon hat", as Keras computes it.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or not _dense_on_tensorflow(gradient):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        held = _tf_variables(variable, self._momentums[index], self._velocities[index])
        if held is None:
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        weight, m, v = held
        dtype = weight.dtype
        # As Keras' Adam: the bias corrections from the step about to be taken, in the weight's dtype.
        local_step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=weight.handle, m=m.handle, v=v.handle,
            beta1_power=tf.pow(beta_1, local_step), beta2_power=tf.pow(beta_2, local_step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2, epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )


@keras.saving.register_keras_serializable(package=KERAS_PACKAGE)
class FusedSGD(keras.optimizers.SGD):
    """``keras.optimizers.SGD`` whose update of each weight is one TensorFlow op.

    ``ResourceApplyKerasMomentum`` with momentum, ``ResourceApplyGradientDescent`` without: Keras' SGD's values,
    bit for bit on a CPU without XLA.
    """

    def update_step(self, gradient, variable, learning_rate):
        if not _dense_on_tensorflow(gradient):
            return super().update_step(gradient, variable, learning_rate)
        slots = [self.momentums[self._get_variable_index(variable)]] if self.momentum != 0 else []
        held = _tf_variables(variable, *slots)
        if held is None:
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        weight = held[0]
        dtype = weight.dtype
        lr, gradient = tf.cast(learning_rate, dtype), tf.cast(gradient, dtype)
        if not slots:
            tf.raw_ops.ResourceApplyGradientDescent(var=weight.handle, alpha=lr, delta=gradient)
            return
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=weight.handle, accum=held[1].handle, lr=lr, grad=gradient, momentum=tf.cast(self.momentum, dtype),
            use_nesterov=self.nesterov,
        )
