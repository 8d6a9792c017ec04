"""SYNTHETIC two-class demo image folder for the resizer pipeline.

The data is **synthetic**: no photo is involved.  Every image is a smooth,
randomly coloured background plus a fine "grain" texture:

* ``grain_horizontal``: per-pixel noise averaged over 2 horizontal neighbours;
* ``grain_vertical``: the same noise averaged over 2 vertical neighbours.

The class lives mainly in that **fine detail**: neighbouring pixels correlate
only at a 1-pixel lag, so plain bilinear downscaling to 150x150 by a factor
of 2 or more (bilinear then samples pixels at least 2 apart) leaves two
classes of near-identical noise, while a learnable resizer, which convolves
the full-resolution image before resizing, can still see the orientation.
Image sides are 150-600 px with the longer side 300-600 px, so the cue is
gone along at least one axis for every image and along both for most; for
the smallest images it partly survives (the class difference is only
*partly* in the fine detail).  A **weaker coarse cue** survives any
resize: ``grain_horizontal`` images are warmer (red up, blue down) and
``grain_vertical`` ones cooler, with a spread (and the random background
colours) that leave colour alone about 70-75 % accurate (estimate from the
generator's distributions, not a trained model), so both arms of the
experiment learn something.  Aspect
ratios go up to 2.5:1; about 85 % of the files are JPEG (quality 92), 15 %
PNG.

On top of the regular images, a handful of deliberately awkward files are
written, all named ``special_<kind>.<ext>`` (see :data:`SPECIAL_FILES` for
the outcome each one must get from the ExampleGen).

Same ``seed`` and ``per_class`` give byte-identical files (with the same
Pillow/zlib/libjpeg versions).
"""

from __future__ import annotations

import io
import json
import os
from typing import Dict, List

import numpy as np
from PIL import Image

CLASS_NAMES = ("grain_horizontal", "grain_vertical")
DEFAULT_PER_CLASS = 140
DEFAULT_SEED = 0
MIN_SIDE, MAX_SIDE = 150, 600
MAX_ASPECT = 2.5
PNG_FRACTION = 0.15
JPEG_QUALITY = 92
GRAIN_AMPLITUDE = 32.0  # std of the grain, in 0..255 grey levels
TINT_MEAN, TINT_STD = 10.0, 15.0  # coarse colour cue

# relative path -> (expected outcome, expected reason) for the ExampleGen.
SPECIAL_FILES: Dict[str, tuple] = {
    "grain_horizontal/special_empty.jpg": ("skipped", "empty_file"),
    "grain_horizontal/special_truncated.jpg": ("skipped", "corrupt"),
    "grain_horizontal/special_not_an_image.jpg": ("skipped", "not_an_image"),
    "grain_horizontal/special_cmyk.jpg": ("converted", "cmyk"),
    "grain_horizontal/special_grayscale.jpg": ("kept", ""),
    "grain_horizontal/special_rgba.png": ("converted", "alpha"),
    "grain_vertical/special_exif_rotated.jpg": ("converted", "exif_rotated"),
    "grain_vertical/special_16bit.png": ("converted", "16bit"),
    "grain_vertical/special_palette.png": ("converted", "palette"),
    "grain_vertical/special_animated.gif": ("converted", "gif+animated"),
    "grain_vertical/special_bitmap.bmp": ("converted", "format_bmp"),
    "grain_vertical/special_bomb.png": ("skipped", "too_many_pixels"),
}
BOMB_SIZE = (20_000, 10_000)  # 200 Mpx: above any sane max_pixels and above
# 2 * PIL.Image.MAX_IMAGE_PIXELS, so it is skipped whatever max_pixels is set to.


def _smooth_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    grid = rng.uniform(40, 215, size=(4, 4, 3)).astype(np.uint8)
    img = Image.fromarray(grid, "RGB").resize((width, height), Image.BICUBIC)
    return np.asarray(img, dtype=np.float32)


def _grain(rng: np.random.Generator, height: int, width: int, axis: int) -> np.ndarray:
    """Unit-variance noise averaged over 2 neighbouring pixels along ``axis``.

    Neighbours along ``axis`` correlate 0.5, everything else 0: the whole
    class signal sits at a 1-pixel lag, which any resize by 2x or more
    (bilinear samples pixels at least 2 apart) cannot carry over.
    """
    noise = rng.standard_normal((height + 1, width + 1)).astype(np.float32)
    if axis == 1:  # horizontal grain
        smeared = noise[:-1, :-1] + noise[:-1, 1:]
    else:  # vertical grain
        smeared = noise[:-1, :-1] + noise[1:, :-1]
    return smeared / np.sqrt(2.0)


def render_image(rng: np.random.Generator, class_index: int, height: int, width: int) -> np.ndarray:
    """One synthetic RGB uint8 image of class ``class_index``."""
    base = _smooth_background(rng, height, width)
    grain = _grain(rng, height, width, axis=1 if class_index == 0 else 0)
    tint = rng.normal(TINT_MEAN if class_index == 0 else -TINT_MEAN, TINT_STD)
    img = base + GRAIN_AMPLITUDE * grain[..., None]
    img[..., 0] += tint
    img[..., 2] -= tint
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _random_size(rng: np.random.Generator) -> tuple:
    """Longer side 300-600 px, shorter side >= 150 px, aspect <= 2.5."""
    while True:
        long_side = int(rng.integers(2 * MIN_SIDE, MAX_SIDE + 1))
        short_side = int(rng.integers(MIN_SIDE, long_side + 1))
        if long_side / short_side <= MAX_ASPECT:
            return (long_side, short_side) if rng.random() < 0.5 else (short_side, long_side)


def _save(array: np.ndarray, path: str, fmt: str, **kwargs) -> None:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kwargs)
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def _jpeg_bytes(array: np.ndarray, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=JPEG_QUALITY, **kwargs)
    return buf.getvalue()


def _write_specials(output_dir: str, rng: np.random.Generator) -> None:
    def path(rel):
        return os.path.join(output_dir, rel)

    h0 = render_image(rng, 0, 240, 320)
    h1 = render_image(rng, 1, 240, 320)

    open(path("grain_horizontal/special_empty.jpg"), "wb").close()
    whole = _jpeg_bytes(h0)
    with open(path("grain_horizontal/special_truncated.jpg"), "wb") as f:
        f.write(whole[: len(whole) // 2])
    with open(path("grain_horizontal/special_not_an_image.jpg"), "w") as f:
        f.write("This is a text file with a .jpg name, not an image.\n")
    buf = io.BytesIO()
    Image.fromarray(h0).convert("CMYK").save(buf, format="JPEG", quality=JPEG_QUALITY)
    with open(path("grain_horizontal/special_cmyk.jpg"), "wb") as f:
        f.write(buf.getvalue())
    _save(np.asarray(Image.fromarray(h0).convert("L")), path("grain_horizontal/special_grayscale.jpg"),
          "JPEG", quality=JPEG_QUALITY)
    rgba = np.dstack([h0, np.full(h0.shape[:2], 255, np.uint8)])
    rgba[:, : rgba.shape[1] // 3, 3] = 0  # left third fully transparent
    _save(rgba, path("grain_horizontal/special_rgba.png"), "PNG")

    # EXIF orientation 6 (rotate 90 CW to display): stored sideways.
    stored = np.ascontiguousarray(np.rot90(h1, k=1))
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY, exif=exif.tobytes())
    with open(path("grain_vertical/special_exif_rotated.jpg"), "wb") as f:
        f.write(buf.getvalue())
    gray16 = (np.asarray(Image.fromarray(h1).convert("L"), dtype=np.uint16) * 257)
    Image.fromarray(gray16, mode="I;16").save(path("grain_vertical/special_16bit.png"), format="PNG")
    Image.fromarray(h1).quantize(colors=64, method=Image.MEDIANCUT).save(
        path("grain_vertical/special_palette.png"), format="PNG")
    frames = [Image.fromarray(h1).quantize(colors=64, method=Image.MEDIANCUT),
              Image.fromarray(255 - h1).quantize(colors=64, method=Image.MEDIANCUT)]
    frames[0].save(path("grain_vertical/special_animated.gif"), format="GIF", save_all=True,
                   append_images=frames[1:], duration=100, loop=0)
    _save(h1, path("grain_vertical/special_bitmap.bmp"), "BMP")
    Image.new("1", BOMB_SIZE, 0).save(path("grain_vertical/special_bomb.png"), format="PNG")


def make_demo_dataset(output_dir: str, per_class: int = DEFAULT_PER_CLASS,
                      seed: int = DEFAULT_SEED, specials: bool = True) -> dict:
    """Writes the synthetic image folder under ``output_dir`` and returns a summary.

    Layout: ``output_dir/<class_name>/<class_name>_<nnnn>.{jpg,png}`` plus the
    ``special_*`` files.  Summary keys: ``output_dir``, ``class_names``,
    ``regular_images`` (per class), ``special_files`` (relative path ->
    [expected outcome, reason]), ``total_files``, ``seed``.
    """
    if per_class < 1:
        raise ValueError("per_class must be >= 1")
    for name in CLASS_NAMES:
        os.makedirs(os.path.join(output_dir, name), exist_ok=True)
    counts = {}
    for class_index, name in enumerate(CLASS_NAMES):
        for i in range(per_class):
            # One generator per image: adding images never changes earlier ones.
            rng = np.random.default_rng([seed, class_index, i])
            height, width = _random_size(rng)
            array = render_image(rng, class_index, height, width)
            if rng.random() < PNG_FRACTION:
                _save(array, os.path.join(output_dir, name, f"{name}_{i:04d}.png"), "PNG")
            else:
                _save(array, os.path.join(output_dir, name, f"{name}_{i:04d}.jpg"), "JPEG",
                      quality=JPEG_QUALITY)
        counts[name] = per_class
    special = {}
    if specials:
        _write_specials(output_dir, np.random.default_rng([seed, 99]))
        special = {k: list(v) for k, v in SPECIAL_FILES.items()}
    return {
        "output_dir": os.path.abspath(output_dir),
        "class_names": list(CLASS_NAMES),
        "regular_images": counts,
        "special_files": special,
        "total_files": sum(counts.values()) + len(special),
        "seed": seed,
        "synthetic": True,
    }


def main(argv: List[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="directory to write")
    parser.add_argument("--per-class", type=int, default=DEFAULT_PER_CLASS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--no-specials", action="store_true",
                        help="skip the deliberately awkward special_* files")
    args = parser.parse_args(argv)
    summary = make_demo_dataset(args.output, per_class=args.per_class, seed=args.seed,
                                specials=not args.no_specials)
    print(json.dumps(summary, indent=2))
    return 0
