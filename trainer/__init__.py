"""Model code and TFX module functions of resizer-tfx.

Transform's ``preprocessing_fn`` (:mod:`trainer.preprocessing`), the
Trainer's ``run_fn`` and the Tuner's ``tuner_fn`` (:mod:`trainer.run`).

This package runs inside TFX executors, Beam workers and Kubeflow containers,
so importing it applies the project's Keras policy first.
"""

from trainer.environment import apply_keras_policy, spare_dill_trace_resets

apply_keras_policy()
spare_dill_trace_resets()
