"""A curated schema for the canonical image record (for ImportSchemaGen).

SchemaGen infers a schema from statistics, which is fine for a first look
but does not know the domain rules.  :func:`curated_schema` states them:

* ``label``: INT, required, exactly one value, ``int_domain [0, num_classes-1]``
  (categorical) - a label outside the class list is an anomaly;
* ``label_name``: BYTES, ``string_domain`` = the label names;
* ``image/height`` and ``image/width``: INT, ``int_domain [min_side, max_side]``
  (default [1, 10000]) - images outside the expected size range are flagged;
* ``image/format``: BYTES, ``string_domain`` {jpeg, png};
* ``image/encoded``: BYTES, ``image_domain``; ``image/filename``: BYTES;
* every feature present in every example with exactly one value.

Use it with ImportSchemaGen::

    schema_path = write_curated_schema(schema_dir, label_names)
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_path)
    validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"])
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from trainer import contract

DEFAULT_MIN_SIDE = 1
DEFAULT_MAX_SIDE = 10_000
SCHEMA_FILE = contract.SCHEMA_FILE


def curated_schema(label_names: Sequence[str], min_side: int = DEFAULT_MIN_SIDE,
                   max_side: int = DEFAULT_MAX_SIDE):
    """``tensorflow_metadata`` Schema proto for the canonical record.

    Every feature present once in every record; the image format jpeg or png; height and width in
    [``min_side``, ``max_side``] pixels; ``label`` an integer in [0, K - 1] and ``label_name`` one of
    ``label_names``.

    Args:
        label_names: the K class names, in label order.
        min_side: the smallest image side accepted, in pixels.
        max_side: the largest image side accepted, in pixels.

    Returns:
        The ``schema_pb2.Schema``.

    Raises:
        ValueError: ``label_names`` is empty.
    """
    from tensorflow_metadata.proto.v0 import schema_pb2

    if len(label_names) < 1:
        raise ValueError("label_names must not be empty")
    schema = schema_pb2.Schema()

    def feature(name, ftype):
        f = schema.feature.add()
        f.name = name
        f.type = ftype
        f.presence.min_fraction = 1.0
        f.presence.min_count = 1
        # One value each, as a dense shape [1]: Transform and the Trainer get
        # FixedLenFeatures (value_count would make them sparse).
        f.shape.dim.add().size = 1
        return f

    f = feature(contract.IMAGE_KEY, schema_pb2.BYTES)
    f.image_domain.SetInParent()
    f = feature(contract.IMAGE_FORMAT_KEY, schema_pb2.BYTES)
    f.string_domain.name = contract.IMAGE_FORMAT_KEY
    f.string_domain.value.extend(["jpeg", "png"])
    for name in (contract.IMAGE_HEIGHT_KEY, contract.IMAGE_WIDTH_KEY):
        f = feature(name, schema_pb2.INT)
        f.int_domain.min = int(min_side)
        f.int_domain.max = int(max_side)
    feature(contract.FILENAME_KEY, schema_pb2.BYTES)
    f = feature(contract.LABEL_KEY, schema_pb2.INT)
    f.int_domain.min = 0
    f.int_domain.max = len(label_names) - 1
    f.int_domain.is_categorical = True
    f = feature(contract.LABEL_NAME_KEY, schema_pb2.BYTES)
    f.string_domain.name = contract.LABEL_NAME_KEY
    f.string_domain.value.extend(list(label_names))
    return schema


def write_curated_schema(output_dir: str, label_names: Sequence[str],
                         min_side: int = DEFAULT_MIN_SIDE,
                         max_side: int = DEFAULT_MAX_SIDE) -> str:
    """Writes :func:`curated_schema` as ``output_dir/schema.pbtxt`` (text proto), for ImportSchemaGen.

    Args:
        output_dir: the directory (made if missing), local or on any filesystem ``tf.io.gfile`` knows.
        label_names: the class names, in label order.
        min_side: the smallest image side accepted, in pixels.
        max_side: the largest image side accepted, in pixels.

    Returns:
        The path written.
    """
    import tensorflow as tf
    from google.protobuf import text_format

    schema = curated_schema(label_names, min_side, max_side)
    tf.io.gfile.makedirs(output_dir)
    path = os.path.join(output_dir, SCHEMA_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text_format.MessageToString(schema))
    return path
