"""Local checks of image files and batches before anything is sent (serving/images.py); no model, no server."""

import io

import pytest
from PIL import Image

from serving.grpc_api import build_grpc_request
from serving.images import DEFAULT_MAX_BYTES, MODEL_FORMATS, RequestError, check_batch, check_image_bytes, load_images
from serving.rest_api import build_rest_body
from tests.serving.helpers import sample_images, write_files


def test_load_images_reads_valid_files(tmp_path):
    images = sample_images(3)
    assert load_images(write_files(str(tmp_path), images)) == images


@pytest.mark.parametrize("make, message", [
    (lambda d: [], "no image files"),
    (lambda d: [str(d / "missing.jpg")], "no such file"),
    (lambda d: [str(d)], "is a directory"),
])
def test_load_images_bad_paths(tmp_path, make, message):
    with pytest.raises(RequestError, match=message):
        load_images(make(tmp_path))


def test_empty_corrupt_truncated_unsupported_and_oversized(tmp_path):
    good = sample_images(1)[0]
    cases = {
        "empty.jpg": (b"", "empty"),
        "text.jpg": (b"this is not an image at all", "not an image"),
        "truncated.jpg": (good[: len(good) // 3], "corrupt|not an image"),
    }
    tiff = io.BytesIO()
    Image.new("RGB", (8, 8)).save(tiff, format="TIFF")
    cases["image.tiff"] = (tiff.getvalue(), "TIFF is not a format the model decodes")
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(RequestError, match=message):
            load_images([str(path)])
    path = tmp_path / "big.jpg"
    path.write_bytes(good)
    with pytest.raises(RequestError, match="more than the limit of 100 bytes"):
        load_images([str(path)], max_bytes=100)
    # Without validation, corrupt bytes go through (the server answers INVALID_ARGUMENT).
    (tmp_path / "text.jpg").write_bytes(b"not an image")
    assert load_images([str(tmp_path / "text.jpg")], validate=False) == [b"not an image"]


def test_empty_batch_is_refused():
    for build in (check_batch, build_rest_body, lambda images: build_grpc_request(images, "m")):
        with pytest.raises(RequestError, match="empty batch"):
            build([])
        with pytest.raises(RequestError, match="non-empty bytes"):
            build([b""])


def test_check_image_bytes_names_the_image_and_the_problem():
    good = sample_images(1)[0]
    assert check_image_bytes(bytearray(good), "a.jpg") == good  # bytes out, whatever bytes-like came in
    assert isinstance(check_image_bytes(bytearray(good)), bytes)
    with pytest.raises(RequestError, match="^a.jpg: expected bytes, got str"):
        check_image_bytes("not bytes", "a.jpg")
    with pytest.raises(RequestError, match=r"^b.png: empty \(0 bytes\)"):
        check_image_bytes(b"", "b.png")
    with pytest.raises(RequestError, match=f"^image: {len(good)} bytes is more than the limit of 10 bytes"):
        check_image_bytes(good, max_bytes=10)
    assert check_image_bytes(good, max_bytes=0) == good  # 0: no size limit
    # Without validation only the size checks apply.
    assert check_image_bytes(b"plain text", validate=False) == b"plain text"
    assert DEFAULT_MAX_BYTES == 20 * 1024 * 1024


def test_every_format_the_model_decodes_passes_and_others_are_named():
    for fmt in MODEL_FORMATS:
        out = io.BytesIO()
        Image.new("RGB", (6, 5), (10, 200, 30)).save(out, format=fmt)
        assert check_image_bytes(out.getvalue(), f"x.{fmt.lower()}") == out.getvalue()
    webp = io.BytesIO()
    Image.new("RGB", (6, 5)).save(webp, format="WEBP")
    with pytest.raises(RequestError, match="^x.webp: WEBP is not a format the model decodes"):
        check_image_bytes(webp.getvalue(), "x.webp")


def test_check_batch_names_the_bad_image():
    check_batch([b"a", bytearray(b"b")])
    with pytest.raises(RequestError, match="empty batch"):
        check_batch(None)
    with pytest.raises(RequestError, match="^image 1: expected non-empty bytes"):
        check_batch([b"a", "text"])
