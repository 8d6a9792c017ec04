"""The Transform module: ``preprocessing_fn`` for TFX's Transform component.

Images are decoded and resized to ``image_size`` (300x300 by default) by
:mod:`trainer.image_decoding`.  The pipeline runs Transform with
``materialize=False`` and statistics disabled: float 300x300x3 images would
cost ~1 MB each on disk, so the Trainer applies this graph inside its input
pipeline instead, and serving applies it too.
"""

import tensorflow as tf

from trainer import contract
from trainer.config import TrainingConfig
from trainer.image_decoding import decode_and_resize


def _dense(tensor):
    if isinstance(tensor, tf.SparseTensor):
        tensor = tf.sparse.to_dense(tensor)
    return tf.reshape(tensor, [-1])


def preprocessing_fn(inputs, custom_config=None):
    """Raw features -> {'image': float32 (B, H, W, 3) in [0, 255], 'label': int64 (B,)}."""
    config = TrainingConfig.from_custom_config(custom_config)
    outputs = {
        contract.TRANSFORMED_IMAGE_KEY: decode_and_resize(
            _dense(inputs[contract.IMAGE_KEY]), config.image_size, config.resize_mode
        )
    }
    if contract.LABEL_KEY in inputs:
        outputs[contract.TRANSFORMED_LABEL_KEY] = tf.cast(_dense(inputs[contract.LABEL_KEY]), tf.int64)
    return outputs
