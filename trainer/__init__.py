"""Model code and TFX module functions (Transform ``preprocessing_fn``,
Trainer ``run_fn``) of resizer-tfx.

This package runs inside TFX executors, Beam workers and Kubeflow containers,
so importing it applies the project's Keras policy first.
"""

from trainer.environment import apply_keras_policy

apply_keras_policy()
