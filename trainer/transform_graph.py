"""The project's Transform graph written without TFX (tests, benchmarks).

``preprocessing_fn`` has no analyzers that depend on the data (it decodes and
resizes), so one placeholder record is enough to trace it; the result is what
TFX's Transform writes, raw schema included, and what
:func:`trainer.export.export_serving_model` needs.
"""

import os

from trainer import contract


def write_transform_graph(out_dir, training_config, temp_dir):
    """Runs ``preprocessing_fn`` through tf.Transform's Beam API and writes the transform graph to ``out_dir``.

    Args:
        out_dir: where the graph goes (what ``tft.TFTransformOutput`` reads).
        training_config: the :class:`~trainer.config.TrainingConfig` (``image_size``, ``resize_mode``).
        temp_dir: tf.Transform's scratch directory.

    Returns:
        ``out_dir``, holding ``transform_fn/``, ``transformed_metadata/`` and the raw schema
        (``metadata/``): image ``image/encoded`` string [], label int64 [].
    """
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
