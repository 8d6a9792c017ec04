import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.tfx_fixtures import encode
from trainer.preprocessing import decode_and_resize
from trainer.transform import preprocessing_fn
from trainer.config import TrainingConfig


def pil_bytes(image, fmt, **kwargs):
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def gradient(height, width):
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), np.full_like(x, 128)], -1).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP"])
def test_every_supported_format_decodes_to_rgb_of_the_target_size(fmt):
    image = Image.fromarray(gradient(90, 160))
    encoded = pil_bytes(image, fmt)
    out = decode_and_resize(tf.constant([encoded]), (300, 300))
    assert out.shape == (1, 300, 300, 3) and out.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 255.0
    # The gradient survives: left column dark red, right column bright red.
    assert float(out[0, 150, -1, 0]) - float(out[0, 150, 0, 0]) > 150


def test_stretch_matches_the_seed_resize():
    image = gradient(120, 90)
    out = decode_and_resize(tf.constant([encode(image, "png")]), (300, 300))
    expected = tf.image.resize(image, (300, 300))  # what the seed's ops.image.resize does
    np.testing.assert_allclose(out[0].numpy(), expected.numpy(), atol=1e-4)


def test_pad_mode_keeps_aspect_ratio():
    image = np.full((100, 200, 3), 200, np.uint8)
    out = decode_and_resize(tf.constant([encode(image, "png")]), (300, 300), resize_mode="pad")
    assert out.shape == (1, 300, 300, 3)
    assert float(out[0, 150, 150, 0]) == pytest.approx(200, abs=1)
    assert float(out[0, 10, 150, 0]) == 0.0  # padded band


def test_mixed_sizes_and_grayscale_in_one_batch():
    batch = [
        encode(gradient(10, 700), "jpeg"),
        encode(gradient(1, 1), "png"),
        pil_bytes(Image.fromarray(gradient(50, 50)[..., 0]), "PNG"),  # grayscale
    ]
    out = decode_and_resize(tf.constant(batch), (64, 48))
    assert out.shape == (3, 64, 48, 3)


@pytest.mark.parametrize(
    "payload, message",
    [(b"", "image bytes are empty"), (b"not an image at all", "Unknown image file format")],
)
def test_bad_bytes_raise_a_clear_error(payload, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        decode_and_resize(tf.constant([payload]), (32, 32))


def test_preprocessing_fn_outputs_image_and_label():
    config = TrainingConfig(image_size=(64, 64), target_size=(32, 32))
    inputs = {
        "image/encoded": tf.constant([[encode(gradient(20, 30))], [encode(gradient(40, 10), "png")]]),
        "label": tf.constant([[1], [0]], tf.int64),
    }
    out = preprocessing_fn(inputs, config.to_custom_config())
    assert out["image"].shape == (2, 64, 64, 3)
    assert out["label"].numpy().tolist() == [1, 0]
    # Serving has no label: only the image comes out.
    assert set(preprocessing_fn({"image/encoded": inputs["image/encoded"]}, config.to_custom_config())) == {"image"}
