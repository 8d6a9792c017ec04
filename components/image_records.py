"""Decode, validate and normalise one image file into the canonical record.

Pillow + numpy, and TensorFlow's JPEG decoder for the JPEGs stored as they are
(:mod:`components.jpeg_warnings`; for those it is the only decode when it
succeeds without a warning).  Both ExampleGens (:mod:`components.image_folder_example_gen`
and :mod:`components.tfds_example_gen`) call :func:`normalize_image` for every
input image, so the outcome for a given file is the same whichever source it
came from; :mod:`components.example_records` turns the result into the
canonical record.

Policy (see components/README.md for the table):

* **kept** - the original bytes are stored unchanged when TensorFlow decodes
  them to the same pixels Pillow sees: 8-bit grayscale or RGB JPEG without an
  EXIF rotation; 8-bit grayscale or RGB PNG without transparency.  Grayscale
  is kept as is: ``decode_image(channels=3)`` replicates the channel exactly,
  and re-encoding a JPEG would only lose quality.
  A kept JPEG that libjpeg (TensorFlow's decoder) warns about is **kept with
  a warning** (``warning``, :mod:`components.jpeg_warnings`): extraneous bytes
  before the end-of-image marker are dropped from the stored bytes when the
  decoded pixels stay exactly the same (``jpeg_extraneous_bytes``), any other
  warning keeps the bytes as they are (``jpeg_warning``).
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
  ``no_class_folder`` (image-folder layout only), ``label_conflict`` (the
  same bytes are filed under two classes; image-folder only; produced by
  the caller that groups identical files).  Hidden files and OS metadata
  (``.DS_Store``, ``__MACOSX/``, ``._*``) are not skipped but ignored, before
  this module sees them (``hidden_file`` is kept for callers that plan
  hidden paths themselves).
"""

from __future__ import annotations

import dataclasses
import io
import re
import warnings

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from components import jpeg_warnings

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
LABEL_CONFLICT = "label_conflict"

SKIP_REASONS = (
    EMPTY_FILE,
    NOT_AN_IMAGE,
    UNSUPPORTED_FORMAT,
    CORRUPT,
    TOO_MANY_PIXELS,
    UNREADABLE,
    HIDDEN_FILE,
    NO_CLASS_FOLDER,
    LABEL_CONFLICT,
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

# The pipeline's defaults too (pipeline/config.py reads them).
# 50 Mpx: an 8000x6000 photo passes, a decompression bomb does not.
DEFAULT_MAX_PIXELS = 50_000_000
# The ExampleGens fail (after writing their report) above this fraction of skipped files.
DEFAULT_MAX_BAD_FRACTION = 0.1

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
    encoded: bytes | None = None  # bytes to store (None when skipped)
    image_format: str | None = None  # "jpeg" / "png"
    height: int = 0
    width: int = 0
    detail: str = ""  # human-readable detail (error message) for the report
    # Kept with a warning (components.jpeg_warnings.WARNING_REASONS): libjpeg warns about the
    # file but decodes it; ``detail`` then says what it said and what was done.
    warning: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome != SKIPPED


def skipped(reason: str, detail: str = "") -> ImageResult:
    """The result of a file left out: ``reason`` (a short code for ``bad_images.tsv``), ``detail`` on one line."""
    return ImageResult(outcome=SKIPPED, reason=reason, detail=_one_line(detail))


def _one_line(text: str, limit: int = 200) -> str:
    # Object reprs ("<_io.BytesIO object at 0x7f...>") would make reports differ
    # between runs; drop the addresses.
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", " ".join(str(text).split()))
    return text[:limit]


def _png_header(data: bytes) -> tuple[int | None, int | None]:
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


def _to_rgb(img: Image.Image, png_bit_depth: int | None) -> Image.Image:
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
            jpeg_check = None
            # A JPEG's EXIF block is parsed when it is opened; other formats' getexif() may load the pixels
            # (PNG: swallowing its error) or rotate them while loading (TIFF): read after the load for them.
            orientation = _orientation(img) if img_format in JPEG_FORMATS else None
            if img_format in JPEG_FORMATS and img.mode in ("L", "RGB") and orientation == 1:
                # A JPEG stored as it is: TensorFlow's decode (for libjpeg's warnings) checks the pixel
                # data too. When it decodes the whole image without a warning, Pillow's decode succeeds
                # as well (libjpeg-turbo both; the same outcome as with Pillow's decode first for 7,650
                # damaged JPEGs, a sample of them in tests/components/test_jpeg_warnings.py), so the
                # second decode is left out; otherwise Pillow decodes and its verdict decides, as for
                # every other image.
                jpeg_check = jpeg_warnings.check_jpeg(data)
            if jpeg_check is None or not jpeg_check.clean:
                img.load()  # decodes the (first frame's) pixel data; raises if truncated
            if orientation is None:
                orientation = _orientation(img)
            if jpeg_check is not None:
                # Kept although TensorFlow could not decode it: its message is printed as before; a file
                # both refuse is reported as corrupt with Pillow's reason instead.
                jpeg_warnings.print_unprinted(jpeg_check)
    except Image.DecompressionBombError as exc:
        return skipped(TOO_MANY_PIXELS, str(exc))
    except UnidentifiedImageError:
        return skipped(NOT_AN_IMAGE, "Pillow cannot identify the image format")
    except Exception as exc:  # noqa: BLE001 - any decoder error means corrupt data
        return skipped(CORRUPT, f"{type(exc).__name__}: {exc}")

    try:
        return _decide(data, img, img_format, orientation, jpeg_check)
    except Exception as exc:  # noqa: BLE001 - conversion failed: report, don't crash
        return skipped(CORRUPT, f"conversion failed: {type(exc).__name__}: {exc}")


def _decide(data: bytes, img: Image.Image, img_format: str, orientation: int,
            jpeg_check: jpeg_warnings.JpegCheck | None) -> ImageResult:
    reasons: list[str] = []
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
        warning, detail = "", ""
        if target == "jpeg":
            # The stored bytes are decoded by TensorFlow's libjpeg downstream: its warnings
            # are attributed to this file here, and extraneous bytes dropped, instead of being
            # printed without a file name at every decode.
            check = jpeg_check or jpeg_warnings.check_jpeg(data)
            data, warning, detail = check.data, check.reason, check.detail
        return ImageResult(
            outcome=KEPT, encoded=data, image_format=target, height=height, width=width,
            detail=detail, warning=warning,
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
