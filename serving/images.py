"""Local checks of image files before they are sent to the served model.

A request is one batch, and the server fails the *whole* batch with
INVALID_ARGUMENT if any one image cannot be decoded.  So by default each file
is checked before anything is sent: it exists, is not empty, is at most
``max_bytes`` (default 20 MiB; TF Serving's and gRPC's message limits are per
request), and Pillow recognises it as one of the formats the model decodes
(JPEG, PNG, GIF, BMP) and can verify and fully decode it.  ``validate=False``
(CLI ``--no-validate``) sends the bytes as they are and leaves the check to
the server (the model's own ``InvalidArgumentError``).
"""

import os
from collections.abc import Sequence

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# The formats tf.io.decode_image (the model's Transform graph) decodes, as Pillow names them.
MODEL_FORMATS = ("JPEG", "PNG", "GIF", "BMP")


class RequestError(ValueError):
    """A request that should not be sent (no images, unreadable/oversized/corrupt file, bad body)."""


def check_image_bytes(data: bytes, name: str = "image", max_bytes: int = DEFAULT_MAX_BYTES,
                      validate: bool = True) -> bytes:
    """Checks that ``data`` is an image the model can decode, before it is sent.

    Args:
        data: the encoded image.
        name: how an error names it (the file's path).
        max_bytes: the largest size accepted, in bytes (0: no limit).
        validate: also decode it fully with Pillow and require one of ``MODEL_FORMATS``.

    Returns:
        ``data`` as bytes.

    Raises:
        RequestError: naming ``name``: not bytes, empty, too large, not an image, corrupt or truncated, or a
            format the model does not decode.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise RequestError(f"{name}: expected bytes, got {type(data).__name__}")
    if not data:
        raise RequestError(f"{name}: empty (0 bytes)")
    if max_bytes and len(data) > max_bytes:
        raise RequestError(f"{name}: {len(data)} bytes is more than the limit of {max_bytes} bytes "
                           "(raise --max-bytes, or resize it first)")
    if validate:
        import io

        from PIL import Image, UnidentifiedImageError

        fmt = None
        try:
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format
                image.verify()  # structure (PNG checksums, ...)
            with Image.open(io.BytesIO(data)) as image:
                image.load()  # a full decode: catches truncated JPEGs that verify() passes
        except UnidentifiedImageError:
            raise RequestError(f"{name}: not an image Pillow recognises (corrupt or unsupported format)") from None
        except Exception as error:  # noqa: BLE001 - truncated/corrupt data: Pillow raises many types
            raise RequestError(f"{name}: corrupt {fmt or 'image'} data: {error}") from None
        if fmt not in MODEL_FORMATS:
            raise RequestError(f"{name}: {fmt} is not a format the model decodes ({', '.join(MODEL_FORMATS)})")
    return bytes(data)


def load_images(paths: Sequence[str], max_bytes: int = DEFAULT_MAX_BYTES, validate: bool = True) -> list[bytes]:
    """Reads and checks each file (:func:`check_image_bytes`).

    Args:
        paths: the image files, in batch order.
        max_bytes: the largest size accepted, in bytes (0: no limit).
        validate: decode each fully with Pillow first.

    Returns:
        The files' bytes, in order.

    Raises:
        RequestError: naming the first bad file: none given, missing, a directory, too large, unreadable, or not
            an image the model decodes.
    """
    if not paths:
        raise RequestError("no image files given")
    images = []
    for path in paths:
        if not os.path.exists(path):
            raise RequestError(f"{path}: no such file")
        if os.path.isdir(path):
            raise RequestError(f"{path}: is a directory")
        size = os.path.getsize(path)
        if max_bytes and size > max_bytes:
            raise RequestError(f"{path}: {size} bytes is more than the limit of {max_bytes} bytes "
                               "(raise --max-bytes, or resize it first)")
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as error:
            raise RequestError(f"{path}: cannot read: {error.strerror or error}") from None
        images.append(check_image_bytes(data, path, max_bytes, validate))
    return images


def check_batch(images):
    """Raises :class:`RequestError` for an empty batch or an image that is not non-empty bytes (naming its index)."""
    if images is None or len(images) == 0:
        raise RequestError("empty batch: at least one image is needed")
    for i, image in enumerate(images):
        if not isinstance(image, (bytes, bytearray)) or not image:
            raise RequestError(f"image {i}: expected non-empty bytes")
