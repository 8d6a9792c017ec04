"""The TFX pipeline definition of resizer-tfx (wiring only) and its configuration."""

# The project's Keras policy and the variables TensorFlow reads when it loads, before any module of this package
# loads TensorFlow (pipeline.py imports TFMA first): importing the trainer package applies them.
import trainer  # noqa: F401
