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


def dense_1d(tensor):
    """A parsed feature's values as one dense 1-D tensor.

    Args:
        tensor: a ``tf.Tensor`` or ``tf.SparseTensor`` (a ``VarLenFeature``) of any shape, e.g. string (B,) or
            (B, 1) encoded images, or int64 (B, 1) labels.

    Returns:
        Its values, same dtype, shape (N,); a sparse tensor is made dense first (missing values become the
        dtype's zero: empty bytes, 0).
    """
    if isinstance(tensor, tf.SparseTensor):
        tensor = tf.sparse.to_dense(tensor)
    return tf.reshape(tensor, [-1])


def preprocessing_fn(inputs, custom_config=None):
    """TFX Transform entry point: raw image records -> the model's input, decoded and resized.

    Args:
        inputs: the raw features of a batch of B records: ``image/encoded`` string (B,) or (B, 1), JPEG, PNG,
            GIF or BMP bytes of any size; ``label`` int64 (optional: absent at serving time).
        custom_config: Transform's ``custom_config``, ``{"training": {...}}``
            (:meth:`trainer.config.TrainingConfig.transform_custom_config`): ``image_size`` and ``resize_mode``.

    Returns:
        ``{"image": float32 (B, height, width, 3) in [0, 255], "label": int64 (B,)}`` (the label only when it is
        in ``inputs``); see :func:`trainer.image_decoding.decode_and_resize`.

    Raises:
        ConfigError: an invalid ``custom_config``, naming the field.
    """
    config = TrainingConfig.from_custom_config(custom_config)
    outputs = {
        contract.TRANSFORMED_IMAGE_KEY: decode_and_resize(
            dense_1d(inputs[contract.IMAGE_KEY]), config.image_size, config.resize_mode
        )
    }
    if contract.LABEL_KEY in inputs:
        outputs[contract.TRANSFORMED_LABEL_KEY] = tf.cast(dense_1d(inputs[contract.LABEL_KEY]), tf.int64)
    return outputs
