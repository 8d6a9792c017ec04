"""trainer.image_decoding: every format decodes to RGB of the target size; bad bytes fail clearly."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.synthetic_examples import encode
from tests.trainer.helpers import gradient
from trainer.image_decoding import decode_and_resize


def pil_bytes(image, fmt, **kwargs):
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


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
