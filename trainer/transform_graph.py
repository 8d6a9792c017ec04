"""The Transform graph without TFX: ``preprocessing_fn`` run through tf.Transform on Beam.

For tests and benchmarks that need what TFX's Transform component writes (the
transform graph and the raw schema beside it) without running a pipeline:
``preprocessing_fn`` has no analyzers, so one dummy record is enough.
"""

import os

from trainer import contract


def write_transform_graph(out_dir, training_config, temp_dir):
    """Runs the project's ``preprocessing_fn`` through tf.Transform (no TFX) and writes the transform graph."""
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from trainer.preprocessing import preprocessing_fn

    image_key, label_key = contract.IMAGE_KEY, contract.LABEL_KEY
    spec = {image_key: tf.io.FixedLenFeature([], tf.string), label_key: tf.io.FixedLenFeature([], tf.int64)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    custom_config = training_config.to_custom_config()
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=temp_dir):
        raw = pipeline | beam.Create([{image_key: b"x", label_key: 0}])
        transform_fn = (raw, metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: preprocessing_fn(inputs, custom_config=custom_config))
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    # What TFX's Transform writes beside it: the raw schema (serving parses the image feature with it).
    metadata_io.write_metadata(metadata, os.path.join(out_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    return out_dir
