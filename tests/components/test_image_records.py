"""Unit tests of components.image_records (pure Python + a TF decode check)."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFilter

from components import image_records as ir
from tests.components.helpers import jpeg_bytes, png_bytes

RNG = np.random.default_rng(1)
RGB = RNG.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
SMOOTH = np.asarray(Image.fromarray(RGB).filter(ImageFilter.GaussianBlur(2)))


def _png16_rgb(array16: np.ndarray) -> bytes:
    """Minimal 16-bit RGB PNG writer (Pillow cannot write one)."""
    h, w, _ = array16.shape
    raw = b"".join(b"\x00" + array16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _exif_rotated_jpeg() -> bytes:
    img = Image.fromarray(np.ascontiguousarray(np.rot90(SMOOTH, k=1)))  # stored sideways
    exif = img.getexif()
    exif[0x0112] = 6  # display: rotate 90 degrees clockwise
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def _gif(frames: int) -> bytes:
    imgs = [Image.fromarray(np.roll(SMOOTH, i * 5, axis=1)).quantize(32) for i in range(frames)]
    buf = io.BytesIO()
    imgs[0].save(buf, format="GIF", save_all=frames > 1, append_images=imgs[1:], duration=50)
    return buf.getvalue()


def _rgba_png() -> bytes:
    rgba = np.dstack([SMOOTH, np.full(SMOOTH.shape[:2], 255, np.uint8)])
    rgba[:, :8, 3] = 0
    rgba[:, :8, :3] = 0  # hidden pixels are black: TF's channels=3 would show them
    return png_bytes(Image.fromarray(rgba, "RGBA"))


def _palette_transparent_png() -> bytes:
    img = Image.fromarray(SMOOTH).quantize(16)
    return png_bytes(img, transparency=0)


def _cmyk_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(SMOOTH).convert("CMYK").save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _fmt(array, fmt, **kwargs):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _png_with_broken_pixel_data(array: np.ndarray) -> bytes:
    """A PNG whose chunks are well formed (CRCs right) but whose IDAT is no zlib stream."""
    data = png_bytes(Image.fromarray(array))
    at = data.index(b"IDAT") - 4
    length = int.from_bytes(data[at:at + 4], "big")
    garbage = bytes(range(7, 7 + min(length, 200)))
    chunk = (len(garbage).to_bytes(4, "big") + b"IDAT" + garbage
             + (zlib.crc32(b"IDAT" + garbage) & 0xFFFFFFFF).to_bytes(4, "big"))
    return data[:at] + chunk + data[at + 12 + length:]


def _exif_rotated_tiff() -> bytes:
    img = Image.fromarray(np.ascontiguousarray(np.rot90(SMOOTH, k=1)))
    exif = img.getexif()
    exif[0x0112] = 6
    return _fmt(np.asarray(img), "TIFF", exif=exif)


GOOD_JPEG = jpeg_bytes(SMOOTH)

# kind -> (bytes factory, expected outcome, expected reason, stored format)
CASES = {
    "rgb_jpeg": (lambda: GOOD_JPEG, ir.KEPT, "", "jpeg"),
    "gray_jpeg": (lambda: jpeg_bytes(SMOOTH[..., 0]), ir.KEPT, "", "jpeg"),
    "progressive_jpeg": (lambda: jpeg_bytes(SMOOTH, progressive=True), ir.KEPT, "", "jpeg"),
    "rgb_png": (lambda: png_bytes(Image.fromarray(SMOOTH)), ir.KEPT, "", "png"),
    "gray_png": (lambda: png_bytes(Image.fromarray(SMOOTH[..., 1])), ir.KEPT, "", "png"),
    "cmyk_jpeg": (_cmyk_jpeg, ir.CONVERTED, "cmyk", "jpeg"),
    "exif_rotated_jpeg": (_exif_rotated_jpeg, ir.CONVERTED, "exif_rotated", "jpeg"),
    "rgba_png": (_rgba_png, ir.CONVERTED, "alpha", "png"),
    "gray_alpha_png": (lambda: png_bytes(Image.fromarray(SMOOTH).convert("LA")),
                       ir.CONVERTED, "alpha", "png"),
    "palette_png": (lambda: png_bytes(Image.fromarray(SMOOTH).quantize(16)),
                    ir.CONVERTED, "palette", "png"),
    "palette_transparent_png": (_palette_transparent_png, ir.CONVERTED, "palette+alpha", "png"),
    "gray16_png": (lambda: png_bytes(Image.fromarray(
        SMOOTH[..., 0].astype(np.uint16) * 257, mode="I;16")), ir.CONVERTED, "16bit", "png"),
    "rgb16_png": (lambda: _png16_rgb(SMOOTH.astype(np.uint16) * 257), ir.CONVERTED, "16bit",
                  "png"),
    "bilevel_png": (lambda: png_bytes(Image.fromarray(SMOOTH[..., 0] > 128)),
                    ir.CONVERTED, "low_bit_depth", "png"),
    "gif": (lambda: _gif(1), ir.CONVERTED, "gif", "png"),
    "animated_gif": (lambda: _gif(3), ir.CONVERTED, "gif+animated", "png"),
    "bmp": (lambda: _fmt(SMOOTH, "BMP"), ir.CONVERTED, "format_bmp", "png"),
    "tiff": (lambda: _fmt(SMOOTH, "TIFF"), ir.CONVERTED, "format_tiff", "png"),
    # Pillow applies a TIFF's orientation while loading it (and drops the tag): no second rotation.
    "exif_rotated_tiff": (_exif_rotated_tiff, ir.CONVERTED, "format_tiff", "png"),
    "empty": (lambda: b"", ir.SKIPPED, ir.EMPTY_FILE, None),
    "truncated_jpeg": (lambda: GOOD_JPEG[: len(GOOD_JPEG) // 2], ir.SKIPPED, ir.CORRUPT, None),
    "truncated_png": (lambda: png_bytes(Image.fromarray(RGB))[:300], ir.SKIPPED, ir.CORRUPT, None),
    "png_with_broken_pixel_data": (lambda: _png_with_broken_pixel_data(SMOOTH), ir.SKIPPED, ir.CORRUPT, None),
    "rgba_png_with_broken_pixel_data": (lambda: _png_with_broken_pixel_data(
        np.dstack([SMOOTH, np.full(SMOOTH.shape[:2], 200, np.uint8)])), ir.SKIPPED, ir.CORRUPT, None),
    "jpeg_header_only": (lambda: GOOD_JPEG[:200], ir.SKIPPED, ir.CORRUPT, None),
    "text_file": (lambda: b"hello, I am not an image\n" * 10, ir.SKIPPED, ir.NOT_AN_IMAGE, None),
    "random_bytes": (lambda: RNG.integers(0, 256, 500, dtype=np.uint8).tobytes(),
                     ir.SKIPPED, ir.NOT_AN_IMAGE, None),
    "pdf": (lambda: _fmt(SMOOTH, "PDF"), ir.SKIPPED, ir.NOT_AN_IMAGE, None),
    "ico": (lambda: _fmt(SMOOTH, "ICO"), ir.SKIPPED, ir.UNSUPPORTED_FORMAT, None),
}


def _pil_rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int32)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_outcome_per_kind(kind):
    factory, outcome, reason, fmt = CASES[kind]
    data = factory()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning may escape either
        result = ir.normalize_image(data)
    assert (result.outcome, result.reason) == (outcome, reason), result.detail
    if outcome == ir.SKIPPED:
        assert result.encoded is None and not result.ok
        return
    assert result.image_format == fmt
    if outcome == ir.KEPT:
        assert result.encoded is data  # original bytes, untouched
    else:
        assert result.encoded != data
    # TensorFlow reads the stored bytes as 3-channel RGB of the stated size.
    import tensorflow as tf

    decoded = tf.io.decode_image(result.encoded, channels=3, expand_animations=False).numpy()
    assert decoded.shape == (result.height, result.width, 3)
    assert decoded.dtype == np.uint8
    # ... and the pixels are what Pillow sees in the stored bytes.
    diff = np.abs(decoded.astype(np.int32) - _pil_rgb(result.encoded))
    if fmt == "png":
        assert diff.max() == 0
    else:
        assert diff.mean() < 1.5


def test_exif_rotation_is_applied():
    data = _exif_rotated_jpeg()
    import tensorflow as tf

    raw = tf.io.decode_image(data, channels=3).numpy()
    assert raw.shape[:2] == (32, 24)  # TF ignores the orientation tag: sideways
    result = ir.normalize_image(data)
    assert (result.height, result.width) == (24, 32)
    upright = tf.io.decode_image(result.encoded, channels=3).numpy().astype(np.int32)
    assert np.abs(upright - SMOOTH.astype(np.int32)).mean() < 4


def test_alpha_is_composited_over_white():
    result = ir.normalize_image(_rgba_png())
    img = np.asarray(Image.open(io.BytesIO(result.encoded)))
    assert img.shape == (24, 32, 3)
    assert (img[:, :8] == 255).all()  # transparent -> white (TF would give black)
    assert (img[:, 8:] == SMOOTH[:, 8:]).all()  # opaque pixels unchanged


def test_16bit_png_keeps_the_high_byte():
    result = ir.normalize_image(_png16_rgb(SMOOTH.astype(np.uint16) * 257 + 3))
    assert (np.asarray(Image.open(io.BytesIO(result.encoded))) == SMOOTH).all()
    gray = ir.normalize_image(CASES["gray16_png"][0]())
    assert (np.asarray(Image.open(io.BytesIO(gray.encoded)))[..., 0] == SMOOTH[..., 0]).all()


def test_cmyk_conversion_matches_pillow():
    data = CASES["cmyk_jpeg"][0]()
    result = ir.normalize_image(data)
    converted = _pil_rgb(result.encoded)
    assert np.abs(converted - _pil_rgb(data)).mean() < 2


def test_animated_gif_keeps_first_frame():
    result = ir.normalize_image(_gif(3))
    first = _pil_rgb(_gif(1))
    assert (np.asarray(Image.open(io.BytesIO(result.encoded)), dtype=np.int32) == first).all()


def test_max_pixels_limit():
    data = png_bytes(Image.fromarray(SMOOTH))  # 32x24 = 768 px
    assert ir.normalize_image(data, max_pixels=768).outcome == ir.KEPT
    result = ir.normalize_image(data, max_pixels=767)
    assert (result.outcome, result.reason) == (ir.SKIPPED, ir.TOO_MANY_PIXELS)
    assert "32x24" in result.detail


def test_pillow_bomb_guard_is_handled(monkeypatch):
    data = png_bytes(Image.fromarray(SMOOTH))  # 768 px
    # Above Pillow's warning threshold only: no warning escapes, image kept.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ir.normalize_image(data, max_pixels=10**9).outcome == ir.KEPT
    # Above twice the threshold: Pillow raises; reported as too_many_pixels.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)
    result = ir.normalize_image(data, max_pixels=10**9)
    assert (result.outcome, result.reason) == (ir.SKIPPED, ir.TOO_MANY_PIXELS)


def test_refuses_to_run_with_load_truncated_images(monkeypatch):
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        ir.normalize_image(GOOD_JPEG)


def test_skip_details_are_deterministic():
    a = ir.normalize_image(b"not an image at all")
    b = ir.normalize_image(b"not an image at all")
    assert a == b and "0x" not in a.detail
