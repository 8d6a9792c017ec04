"""A train-free serving SavedModel (real Transform graph + untrained small classifier) and a fake TF Serving."""

import os

import pytest

from tests import tfx_fixtures

SMALL = dict(image_size=(64, 64), target_size=(32, 32), class_names=tfx_fixtures.CLASS_NAMES)


def write_transform_graph(out_dir, training_config, temp_dir):
    """Runs the project's ``preprocessing_fn`` through tf.Transform (no TFX) and writes the transform graph."""
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from trainer.preprocessing import IMAGE_KEY, LABEL_KEY
    from trainer.transform import preprocessing_fn

    spec = {IMAGE_KEY: tf.io.FixedLenFeature([], tf.string), LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    custom_config = training_config.to_custom_config()
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=temp_dir):
        raw = pipeline | beam.Create([{IMAGE_KEY: b"x", LABEL_KEY: 0}])
        transform_fn = (raw, metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: preprocessing_fn(inputs, custom_config=custom_config))
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    # What TFX's Transform writes beside it: the raw schema (serving parses the image feature with it).
    from tensorflow_transform.tf_metadata import metadata_io
    import tensorflow_transform as tft

    metadata_io.write_metadata(metadata, os.path.join(out_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    return out_dir


@pytest.fixture(scope="session")
def serving_model(tmp_path_factory):
    """``(export_dir, loaded SavedModel, TrainingConfig)`` in the Pusher's layout ``<serving>/<name>/<version>/``."""
    import tensorflow as tf
    import tensorflow_transform as tft

    from trainer import models
    from trainer.config import TrainingConfig
    from trainer.export import export_serving_model

    root = tmp_path_factory.mktemp("serving_model")
    config = TrainingConfig(**SMALL)
    graph = write_transform_graph(str(root / "transform_graph"), config, str(root / "tmp"))
    model = models.build_classifier(config)
    export_dir = str(root / "serving" / "learnable_resizer" / "1700000000")
    export_serving_model(model, tft.TFTransformOutput(graph), config.class_names, export_dir)
    return export_dir, tf.saved_model.load(export_dir), config


def sample_images(count=3, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = [(40, 70), (90, 30), (64, 64), (20, 20)]
    out = []
    for i in range(count):
        h, w = sizes[i % len(sizes)]
        out.append(tfx_fixtures.encode(tfx_fixtures.make_image(rng, i % 2, h, w), "png" if i % 2 else "jpeg"))
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
