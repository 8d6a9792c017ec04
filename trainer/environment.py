"""The project's Keras policy and TensorFlow environment, in one place.

Model code uses **Keras 3** (``import keras``), as the seed example does; it
trained about 2x faster than tf_keras on our CPUs.  It never writes
``tf.keras``.

Why ``TF_USE_LEGACY_KERAS=1`` anyway: importing ``tensorflow_transform`` sets
it as a side effect, so without a policy ``tf.keras`` means Keras 3 in the
process that imported TensorFlow first and tf_keras in every Beam worker or
subprocess started afterwards.  TFT and TFMA use tf_keras internally whatever
we pick.  Setting the variable ourselves, before TensorFlow is imported, makes
``tf.keras`` mean the same thing (tf_keras) in every process, and since our
model code imports ``keras`` explicitly, the model is the same Keras 3 model
whichever entry point imports it first.

Every entry point (``pipeline_runner.py``, the tests' ``conftest.py``, the
container image, and the ``trainer`` package itself, which TFX executors and
Beam workers import) calls :func:`apply_keras_policy`.
"""

import os

KERAS_POLICY_ENV = {
    # tf.keras -> tf_keras everywhere, matching what TFT forces on import.
    "TF_USE_LEGACY_KERAS": "1",
    # Keras 3 runs on TensorFlow (TFX exports TF SavedModels).
    "KERAS_BACKEND": "tensorflow",
}


def apply_keras_policy(environ=None):
    """Sets the Keras policy variables in ``environ`` (``os.environ``)."""
    environ = os.environ if environ is None else environ
    for key, value in KERAS_POLICY_ENV.items():
        environ[key] = value
    # TensorFlow's C++ INFO/WARNING lines (end-of-sequence notices, CUDA probes on CPU
    # machines) drown the progress output; errors still show.  Users may override.
    environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return environ
