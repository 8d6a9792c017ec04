"""Helpers of the serving tests: a Transform graph without TFX, sample images and files."""

import os

from components import synthetic_examples
from trainer import contract

SMALL = dict(image_size=(64, 64), target_size=(32, 32), class_names=synthetic_examples.CLASS_NAMES)


def write_transform_graph(out_dir, training_config, temp_dir):
    """Runs the project's ``preprocessing_fn`` through tf.Transform (no TFX) and writes the transform graph."""
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

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
    from tensorflow_transform.tf_metadata import metadata_io
    import tensorflow_transform as tft

    metadata_io.write_metadata(metadata, os.path.join(out_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    return out_dir


def sample_images(count=3, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = [(40, 70), (90, 30), (64, 64), (20, 20)]
    out = []
    for i in range(count):
        h, w = sizes[i % len(sizes)]
        image = synthetic_examples.make_image(rng, i % 2, h, w)
        out.append(synthetic_examples.encode(image, "png" if i % 2 else "jpeg"))
    return out


def write_files(directory, images):
    paths = []
    for i, data in enumerate(images):
        ext = "png" if data.startswith(b"\x89PNG") else "jpg"
        path = os.path.join(directory, f"img{i}.{ext}")
        with open(path, "wb") as f:
            f.write(data)
        paths.append(path)
    return paths
