"""The Transform module: ``preprocessing_fn`` for TFX's Transform component.

Images are decoded and resized to ``image_size`` (300x300 by default).  The
pipeline runs Transform with ``materialize=False`` and statistics disabled:
float 300x300x3 images would cost ~1 MB each on disk, so the Trainer applies
this graph inside its input pipeline instead, and serving applies it too.
"""

import tensorflow as tf

from trainer.config import TrainingConfig
from trainer.preprocessing import (
    IMAGE_KEY,
    LABEL_KEY,
    TRANSFORMED_IMAGE_KEY,
    TRANSFORMED_LABEL_KEY,
    decode_and_resize,
)


def _dense(tensor):
    if isinstance(tensor, tf.SparseTensor):
        tensor = tf.sparse.to_dense(tensor)
    return tf.reshape(tensor, [-1])


def preprocessing_fn(inputs, custom_config=None):
    """Raw features -> {'image': float32 (B, H, W, 3) in [0, 255], 'label': int64 (B,)}."""
    config = TrainingConfig.from_custom_config(custom_config)
    outputs = {
        TRANSFORMED_IMAGE_KEY: decode_and_resize(
            _dense(inputs[IMAGE_KEY]), config.image_size, config.resize_mode
        )
    }
    if LABEL_KEY in inputs:
        outputs[TRANSFORMED_LABEL_KEY] = tf.cast(_dense(inputs[LABEL_KEY]), tf.int64)
    return outputs
