"""The Transform graph written without TFX (trainer/transform_graph.py), as serving and benchmarks use it.

Uses the session's ``transform_graph`` fixture (tests/conftest.py), which ``serving_model`` is built from.
"""

import os

import numpy as np

from tests.serving.helpers import SMALL, sample_images
from trainer import contract


def test_the_graph_is_what_tfx_transform_writes(transform_graph):
    import tensorflow as tf
    import tensorflow_transform as tft

    graph, _ = transform_graph
    output = tft.TFTransformOutput(graph)
    for directory in (tft.TFTransformOutput.TRANSFORM_FN_DIR, tft.TFTransformOutput.TRANSFORMED_METADATA_DIR,
                      tft.TFTransformOutput.RAW_METADATA_DIR):
        assert os.path.isdir(os.path.join(graph, directory)), directory
    raw = output.raw_feature_spec()
    assert raw[contract.IMAGE_KEY] == tf.io.FixedLenFeature([], tf.string)
    assert raw[contract.LABEL_KEY] == tf.io.FixedLenFeature([], tf.int64)
    assert contract.TRANSFORMED_IMAGE_KEY in output.transformed_feature_spec()


def test_the_graph_decodes_and_resizes_any_image_to_the_configured_size(transform_graph):
    import tensorflow as tf
    import tensorflow_transform as tft

    graph, training = transform_graph
    assert tuple(training.image_size) == SMALL["image_size"]
    layer = tft.TFTransformOutput(graph).transform_features_layer()
    images = sample_images(4)  # 40x70 JPEG, 90x30 PNG, 64x64 JPEG, 20x20 PNG
    out = layer({contract.IMAGE_KEY: tf.constant(images)})[contract.TRANSFORMED_IMAGE_KEY].numpy()
    assert out.shape == (4, *SMALL["image_size"], 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 255.0 and out.max() > 1.0  # pixel values, not [0, 1]
    # The 64x64 image is already the configured size: its pixels come through as they were decoded.
    decoded = tf.io.decode_image(images[2], channels=3).numpy().astype(np.float32)
    np.testing.assert_allclose(out[2], decoded, atol=1e-3)
