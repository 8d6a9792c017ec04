"""Decode, validate and normalise one image file into the canonical record.

Pure Python (Pillow + numpy); TensorFlow is imported lazily and only by
:func:`make_example`.  Both ExampleGens (:mod:`components.image_folder_example_gen`
and :mod:`components.tfds_example_gen`) call :func:`normalize_image` for every
input image, so the outcome for a given file is the same whichever source it
came from.

Canonical record (one ``tf.train.Example`` per image)::

    image/encoded   bytes   JPEG or PNG; decode with
                            tf.io.decode_image(x, channels=3, expand_animations=False)
    image/format    bytes   b"jpeg" or b"png"
    image/height    int64   height of the stored (decoded, upright) image
    image/width     int64   width  of the stored (decoded, upright) image
    image/filename  bytes   path relative to the input root (or TFDS file name)
    label           int64   0..num_classes-1
    label_name      bytes   the class name

Policy (see components/README.md for the table):

* **kept** - the original bytes are stored unchanged when TensorFlow decodes
  them to the same pixels Pillow sees: 8-bit grayscale or RGB JPEG without an
  EXIF rotation; 8-bit grayscale or RGB PNG without transparency.  Grayscale
  is kept as is: ``decode_image(channels=3)`` replicates the channel exactly,
  and re-encoding a JPEG would only lose quality.
* **converted** - re-encoded by Pillow as 3-channel RGB (JPEG quality 95 when
  the source was a JPEG, lossless PNG otherwise), because TF would read the
  original wrongly or not at all: CMYK/YCCK JPEG, EXIF-rotated images (TF
  ignores the orientation tag; we apply it), 16-bit or <8-bit PNG, PNG with
  alpha or a palette, GIF (first frame; animated GIFs lose the other frames),
  BMP, WebP, TIFF.  **Alpha is composited over white** (TF's ``channels=3``
  would simply drop it, which turns transparent regions into whatever colour
  the hidden pixels happen to have, often black).
* **skipped** - no record, one report line: ``empty_file``,
  ``not_an_image``, ``unsupported_format``, ``corrupt`` (truncated or broken
  data, header unreadable), ``too_many_pixels`` (width*height above
  ``max_pixels``; also anything Pillow's own decompression-bomb guard refuses,
  i.e. above 2 * ``PIL.Image.MAX_IMAGE_PIXELS``), ``unreadable`` (I/O error
  such as permission denied; produced by the callers that read files),
  ``hidden_file`` / ``no_class_folder`` (image-folder layout only).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import warnings
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

# Outcomes.
KEPT = "kept"
CONVERTED = "converted"
SKIPPED = "skipped"

# Skip reasons.
EMPTY_FILE = "empty_file"
NOT_AN_IMAGE = "not_an_image"
UNSUPPORTED_FORMAT = "unsupported_format"
CORRUPT = "corrupt"
TOO_MANY_PIXELS = "too_many_pixels"
UNREADABLE = "unreadable"
HIDDEN_FILE = "hidden_file"
NO_CLASS_FOLDER = "no_class_folder"

SKIP_REASONS = (
    EMPTY_FILE,
    NOT_AN_IMAGE,
    UNSUPPORTED_FORMAT,
    CORRUPT,
    TOO_MANY_PIXELS,
    UNREADABLE,
    HIDDEN_FILE,
    NO_CLASS_FOLDER,
)

# Conversion reasons (joined with "+" when several apply, e.g. "cmyk+exif_rotated").
CMYK = "cmyk"
EXIF_ROTATED = "exif_rotated"
ALPHA = "alpha"
PALETTE = "palette"
HIGH_BIT_DEPTH = "16bit"
LOW_BIT_DEPTH = "low_bit_depth"
GIF = "gif"
ANIMATED = "animated"
OTHER_FORMAT = "format"  # used as "format_bmp", "format_webp", ...
OTHER_MODE = "mode"  # used as "mode_<pillow mode>"

# 40 Mpx: a 7000x5700 photo passes, a decompression bomb does not.
DEFAULT_MAX_PIXELS = 40_000_000

# Pillow format names we accept.  MPO is the multi-picture JPEG some cameras
# write; TF decodes its first picture like a JPEG.
JPEG_FORMATS = ("JPEG", "MPO")
ALLOWED_FORMATS = JPEG_FORMATS + ("PNG", "GIF", "BMP", "WEBP", "TIFF")

JPEG_QUALITY = 95
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_WHITE = (255, 255, 255)


@dataclasses.dataclass(frozen=True)
class ImageResult:
    """What :func:`normalize_image` made of one input file."""

    outcome: str  # KEPT, CONVERTED or SKIPPED
    reason: str = ""  # conversion reasons ("+"-joined) or the skip reason
    encoded: Optional[bytes] = None  # bytes to store (None when skipped)
    image_format: Optional[str] = None  # "jpeg" / "png"
    height: int = 0
    width: int = 0
    detail: str = ""  # human-readable detail (error message) for the report

    @property
    def ok(self) -> bool:
        return self.outcome != SKIPPED


def skipped(reason: str, detail: str = "") -> ImageResult:
    return ImageResult(outcome=SKIPPED, reason=reason, detail=_one_line(detail))


def _one_line(text: str, limit: int = 200) -> str:
    # Object reprs ("<_io.BytesIO object at 0x7f...>") would make reports differ
    # between runs; drop the addresses.
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", " ".join(str(text).split()))
    return text[:limit]


def _png_header(data: bytes) -> Tuple[Optional[int], Optional[int]]:
    """(bit depth, colour type) from a PNG's IHDR, or (None, None)."""
    if len(data) >= 26 and data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR":
        return data[24], data[25]
    return None, None


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(0x0112, 1)  # Orientation tag
        return int(value) if value else 1
    except Exception:  # noqa: BLE001 - broken EXIF: treat as upright
        return 1


def _to_rgb(img: Image.Image, png_bit_depth: Optional[int]) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; alpha composited over white."""
    mode = img.mode
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("RGB", "L") and "transparency" in img.info
    ):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        arr = np.asarray(img)
        if mode == "F":
            arr = np.clip(arr, 0, 255)
        elif mode.startswith("I;16") or png_bit_depth == 16 or arr.max(initial=0) > 255:
            arr = np.clip(arr.astype(np.int64) >> 8, 0, 255)
        else:
            arr = np.clip(arr, 0, 255)
        return Image.fromarray(arr.astype(np.uint8), mode="L").convert("RGB")
    return img.convert("RGB")


def _encode(img: Image.Image, image_format: str) -> bytes:
    buf = io.BytesIO()
    if image_format == "jpeg":
        img.save(buf, format="JPEG", quality=JPEG_QUALITY)
    else:
        img.save(buf, format="PNG")
    return buf.getvalue()


def normalize_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageResult:
    """Validates ``data`` and returns what to store for it (or why not).

    Never raises for bad image data; every failure becomes a ``skipped``
    result with a reason.
    """
    if not data:
        return skipped(EMPTY_FILE, "0 bytes")
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone in this process told Pillow to accept truncated files; we
        # would then keep half-grey images.  Refuse loudly instead.
        raise RuntimeError(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True in this process; "
            "truncated images could not be detected"
        )
    try:
        with warnings.catch_warnings():
            # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that;
            # our own max_pixels check below decides, the warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            img_format = img.format or ""
            width, height = img.size
            if img_format not in ALLOWED_FORMATS:
                return skipped(UNSUPPORTED_FORMAT, f"format {img_format or 'unknown'}")
            if width <= 0 or height <= 0:
                return skipped(CORRUPT, f"size {width}x{height}")
            if width * height > max_pixels:
                return skipped(
                    TOO_MANY_PIXELS, f"{width}x{height} > max_pixels={max_pixels}"
                )
            img.load()  # decodes the (first frame's) pixel data; raises if truncated
    except Image.DecompressionBombError as exc:
        return skipped(TOO_MANY_PIXELS, str(exc))
    except UnidentifiedImageError:
        return skipped(NOT_AN_IMAGE, "Pillow cannot identify the image format")
    except Exception as exc:  # noqa: BLE001 - any decoder error means corrupt data
        return skipped(CORRUPT, f"{type(exc).__name__}: {exc}")

    try:
        return _decide(data, img, img_format)
    except Exception as exc:  # noqa: BLE001 - conversion failed: report, don't crash
        return skipped(CORRUPT, f"conversion failed: {type(exc).__name__}: {exc}")


def _decide(data: bytes, img: Image.Image, img_format: str) -> ImageResult:
    reasons: List[str] = []
    orientation = _orientation(img)
    bit_depth, colour_type = _png_header(data)

    if img_format in JPEG_FORMATS:
        target = "jpeg"
        if img.mode == "CMYK":
            reasons.append(CMYK)
        elif img.mode not in ("L", "RGB"):
            reasons.append(f"{OTHER_MODE}_{img.mode.lower()}")
    elif img_format == "PNG":
        target = "png"
        if bit_depth is not None and bit_depth > 8:
            reasons.append(HIGH_BIT_DEPTH)
        elif bit_depth is not None and bit_depth < 8 and colour_type != 3:
            reasons.append(LOW_BIT_DEPTH)
        if colour_type == 3 or img.mode == "P":
            reasons.append(PALETTE)
        if colour_type in (4, 6) or "transparency" in img.info:
            reasons.append(ALPHA)
        if not reasons and img.mode not in ("L", "RGB"):
            reasons.append(f"{OTHER_MODE}_{img.mode.lower()}")
    elif img_format == "GIF":
        target = "png"
        reasons.append(GIF)
        if getattr(img, "n_frames", 1) > 1:
            reasons.append(ANIMATED)
    else:
        target = "png"
        reasons.append(f"{OTHER_FORMAT}_{img_format.lower()}")
    if orientation not in (1,):
        reasons.append(EXIF_ROTATED)

    if not reasons:
        width, height = img.size
        return ImageResult(
            outcome=KEPT, encoded=data, image_format=target, height=height, width=width
        )

    if orientation != 1:
        img = ImageOps.exif_transpose(img)
    rgb = _to_rgb(img, bit_depth)
    encoded = _encode(rgb, target)
    width, height = rgb.size
    return ImageResult(
        outcome=CONVERTED,
        reason="+".join(reasons),
        encoded=encoded,
        image_format=target,
        height=height,
        width=width,
    )


# ---------------------------------------------------------------------------
# Splits.


def hash_bucket(key: str, num_buckets: int) -> int:
    """Deterministic bucket of ``key`` (SHA-256 of its UTF-8 bytes)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_buckets


def assign_split(relative_path: str, split_buckets: Sequence[Tuple[str, int]]) -> str:
    """Split name for ``relative_path`` given ordered ``(name, buckets)`` pairs.

    The path is normalised to forward slashes, so the same tree gives the same
    splits on every OS and every run (Python's ``hash`` is salted per process;
    this is not).
    """
    total = sum(n for _, n in split_buckets)
    bucket = hash_bucket(relative_path.replace("\\", "/"), total)
    upper = 0
    for name, n in split_buckets:
        upper += n
        if bucket < upper:
            return name
    raise AssertionError("unreachable")


def parse_split_buckets(split_buckets: Dict[str, int] | Iterable[Tuple[str, int]]):
    """Validates ``{"train": 8, "eval": 2}`` into an ordered list of pairs."""
    items = list(split_buckets.items() if isinstance(split_buckets, dict) else split_buckets)
    if not items:
        raise ValueError("split_buckets must name at least one split")
    seen = set()
    for name, n in items:
        if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
            raise ValueError(f"bad split name {name!r} (letters, digits, '_')")
        if name in seen:
            raise ValueError(f"duplicate split name {name!r}")
        seen.add(name)
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise ValueError(f"split {name!r}: buckets must be a positive int, got {n!r}")
    return [(str(name), int(n)) for name, n in items]


# ---------------------------------------------------------------------------
# tf.train.Example.


def make_example(
    result: ImageResult, filename: str, label: int, label_name: str
):
    """The canonical ``tf.train.Example`` for a non-skipped ``result``."""
    if not result.ok:
        raise ValueError(f"{filename}: skipped images have no record")
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    def _bytes(value: bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    def _int(value: int):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "image/encoded": _bytes(result.encoded),
                "image/format": _bytes(result.image_format.encode("ascii")),
                "image/height": _int(result.height),
                "image/width": _int(result.width),
                "image/filename": _bytes(filename.encode("utf-8")),
                "label": _int(label),
                "label_name": _bytes(label_name.encode("utf-8")),
            }
        )
    )


FEATURE_KEYS = (
    "image/encoded",
    "image/format",
    "image/height",
    "image/width",
    "image/filename",
    "label",
    "label_name",
)
