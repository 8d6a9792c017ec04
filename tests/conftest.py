"""Test entry point: the project's Keras policy before anything imports TensorFlow."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from trainer.environment import apply_keras_policy  # noqa: E402

apply_keras_policy()
