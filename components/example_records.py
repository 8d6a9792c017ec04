"""The canonical record: one ``tf.train.Example`` per image, written by both ExampleGens.

::

    image/encoded   bytes   JPEG or PNG; decode with
                            tf.io.decode_image(x, channels=3, expand_animations=False)
    image/format    bytes   b"jpeg" or b"png"
    image/height    int64   height of the stored (decoded, upright) image
    image/width     int64   width  of the stored (decoded, upright) image
    image/filename  bytes   path relative to the input root (or TFDS file name)
    label           int64   0..num_classes-1
    label_name      bytes   the class name

The keys are :mod:`trainer.contract`'s; TensorFlow is imported only when a
record is made.
"""

from __future__ import annotations

from components.image_records import ImageResult
from trainer import contract

FEATURE_KEYS = contract.RECORD_FEATURE_KEYS


def image_example(encoded: bytes, image_format: str, height: int, width: int, filename: str,
                  label: int, label_name: str):
    """The canonical ``tf.train.Example`` from its field values."""
    import tensorflow as tf

    def _bytes(value: bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    def _int(value: int):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                contract.IMAGE_KEY: _bytes(encoded),
                contract.IMAGE_FORMAT_KEY: _bytes(image_format.encode("ascii")),
                contract.IMAGE_HEIGHT_KEY: _int(height),
                contract.IMAGE_WIDTH_KEY: _int(width),
                contract.FILENAME_KEY: _bytes(filename.encode("utf-8")),
                contract.LABEL_KEY: _int(label),
                contract.LABEL_NAME_KEY: _bytes(label_name.encode("utf-8")),
            }
        )
    )


def make_example(result: ImageResult, filename: str, label: int, label_name: str):
    """The canonical ``tf.train.Example`` for a non-skipped :func:`~components.image_records.normalize_image` result."""
    if not result.ok:
        raise ValueError(f"{filename}: skipped images have no record")
    return image_example(result.encoded, result.image_format, result.height, result.width, filename,
                         label, label_name)
