"""SYNTHETIC two-class demo image folder: a positive control for the learnable resizer.

The data is **synthetic**: no photo is involved.  It is built so that the
class can be seen at the resolution the learnable resizer works on and
cannot be seen at the resolution the bilinear baseline hands the backbone.
What each arm sees, on the real path:

1. Transform stretches every image to 300x300 (bilinear, half-pixel centres).
2. The **learnable resizer** gets that 300x300 image and convolves it before
   downscaling.
3. The **bilinear baseline** resizes it to 150x150: for this exact 2x factor
   with half-pixel centres, bilinear resizing averages each 2x2 block.

The class cue is a stripe pattern at the finest period the 300x300 grid can
hold (2 px: +A, -A, +A, ...): ``stripes_horizontal`` alternates rows,
``stripes_vertical`` alternates columns.  Image sides are 300 or 600 px (aspect
1:1, 2:1 or 1:2); a 600 px side carries the pattern with period 4 (each value
twice), so Transform's 2x stretch averages each pair and reproduces the 2 px
pattern exactly.  The baseline's 2x2 average then cancels it: +A and -A in
every block sum to zero, so the 150x150 image holds no stripes at all (see the
test ``test_class_cue_survives_transform_and_dies_at_150``).  The learnable
resizer can turn the stripe orientation into something that survives its own
downscale (its 7x7 convolution and LeakyReLU see the pattern at full
resolution).  Every other arm cannot, away from the image border: each fixed
resize is a filter symmetric about the centre of every 2x2 block at this
exact 2x factor, and MULLER's residuals pass through the same bilinear 2x2
average before its tanh (``trainer/resizers.py``; the test
``test_the_cue_dies_in_every_fixed_resize_and_muller_too_away_from_the_border``).

A **weaker coarse cue** survives any resize, so every arm learns something:
``stripes_horizontal`` images are warmer (red up, blue down) and
``stripes_vertical`` ones cooler, with a spread that leaves colour alone
roughly 70-75 % accurate (estimate from the generator's distributions, not a
trained model).  The background is a smooth random colour field with mild
pixel noise; about 85 % of the files are JPEG (quality 92, the stripes live
in luminance so chroma subsampling leaves them intact), 15 % PNG.

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
from collections.abc import Sequence

import numpy as np
from PIL import Image

CLASS_NAMES = ("stripes_horizontal", "stripes_vertical")
# Bumped whenever the images a (seed, per_class) pair produces change.
GENERATOR_VERSION = 2
DEFAULT_PER_CLASS = 140
DEFAULT_SEED = 0
TRANSFORM_SIDE = 300  # the demo profile's Transform side: the grid the stripes are drawn on
SIDE_FACTORS = (1, 2)  # each image side is 1 or 2 grid sides (300 or 600 px at the default)
PNG_FRACTION = 0.15
JPEG_QUALITY = 92
STRIPE_AMPLITUDE = (20.0, 30.0)  # +-A grey levels, A drawn uniformly per image
NOISE_STD = 4.0  # isotropic pixel noise, in 0..255 grey levels
TINT_MEAN, TINT_STD = 8.0, 15.0  # coarse colour cue

# relative path -> (expected outcome, expected reason) for the ExampleGen.
SPECIAL_FILES: dict[str, tuple] = {
    "stripes_horizontal/special_empty.jpg": ("skipped", "empty_file"),
    "stripes_horizontal/special_truncated.jpg": ("skipped", "corrupt"),
    "stripes_horizontal/special_not_an_image.jpg": ("skipped", "not_an_image"),
    "stripes_horizontal/special_cmyk.jpg": ("converted", "cmyk"),
    "stripes_horizontal/special_grayscale.jpg": ("kept", ""),
    "stripes_horizontal/special_rgba.png": ("converted", "alpha"),
    "stripes_vertical/special_exif_rotated.jpg": ("converted", "exif_rotated"),
    "stripes_vertical/special_16bit.png": ("converted", "16bit"),
    "stripes_vertical/special_palette.png": ("converted", "palette"),
    "stripes_vertical/special_animated.gif": ("converted", "gif+animated"),
    "stripes_vertical/special_bitmap.bmp": ("converted", "format_bmp"),
    "stripes_vertical/special_bomb.png": ("skipped", "too_many_pixels"),
}
BOMB_SIZE = (20_000, 10_000)  # 200 Mpx: above any sane max_pixels and above
# 2 * PIL.Image.MAX_IMAGE_PIXELS, so it is skipped whatever max_pixels is set to.


def _smooth_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    grid = rng.uniform(50, 205, size=(4, 4, 3)).astype(np.uint8)
    img = Image.fromarray(grid, "RGB").resize((width, height), Image.BICUBIC)
    return np.asarray(img, dtype=np.float32)


def stripes(class_index: int, height: int, width: int, phase: int = 0, side: int = TRANSFORM_SIDE) -> np.ndarray:
    """+-1 stripes with a 2 px period on the ``side`` x ``side`` grid, each value repeated to fill height x width.

    ``height`` and ``width`` must be multiples of ``side``: a factor k repeats every
    value k times, which Transform's k-times stretch averages back into the
    exact 2 px pattern.  Returns a float32 array of shape (height, width).

    Raises:
        ValueError: a side that is not a multiple of ``side``.
    """
    grid = np.arange(side)
    signs = np.where((grid + phase) % 2 == 0, 1.0, -1.0).astype(np.float32)
    if class_index == 0:  # horizontal stripes: rows alternate
        pattern = np.repeat(signs[:, None], side, axis=1)
    else:  # vertical stripes: columns alternate
        pattern = np.repeat(signs[None, :], side, axis=0)
    factor_h, factor_w = height // side, width // side
    if factor_h * side != height or factor_w * side != width:
        raise ValueError(f"image sides must be multiples of {side}, got {height}x{width}")
    return np.repeat(np.repeat(pattern, factor_h, axis=0), factor_w, axis=1)


def render_image(rng: np.random.Generator, class_index: int, height: int, width: int,
                 side: int = TRANSFORM_SIDE) -> np.ndarray:
    """One synthetic RGB uint8 image of class ``class_index``, shape (height, width, 3).

    Both sides must be multiples of ``side`` (Transform's square side the class cue is drawn for).
    """
    base = _smooth_background(rng, height, width)
    amplitude = rng.uniform(*STRIPE_AMPLITUDE)
    pattern = amplitude * stripes(class_index, height, width, phase=int(rng.integers(2)), side=side)
    noise = NOISE_STD * rng.standard_normal((height, width)).astype(np.float32)
    tint = rng.normal(TINT_MEAN if class_index == 0 else -TINT_MEAN, TINT_STD)
    img = base + (pattern + noise)[..., None]
    img[..., 0] += tint
    img[..., 2] -= tint
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _random_size(rng: np.random.Generator, side: int) -> tuple:
    """Sides of 1 or 2 grid sides: aspect 1:1, 2:1 or 1:2."""
    factors = rng.choice(SIDE_FACTORS, size=2)
    return int(factors[0] * side), int(factors[1] * side)


def _save(array: np.ndarray, path: str, fmt: str, **kwargs) -> None:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kwargs)
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def _jpeg_bytes(array: np.ndarray, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=JPEG_QUALITY, **kwargs)
    return buf.getvalue()


def _write_specials(output_dir: str, rng: np.random.Generator, side: int) -> None:
    def path(rel):
        return os.path.join(output_dir, rel)

    h0 = render_image(rng, 0, side, 2 * side, side)
    h1 = render_image(rng, 1, side, 2 * side, side)

    open(path("stripes_horizontal/special_empty.jpg"), "wb").close()
    whole = _jpeg_bytes(h0)
    with open(path("stripes_horizontal/special_truncated.jpg"), "wb") as f:
        f.write(whole[: len(whole) // 2])
    with open(path("stripes_horizontal/special_not_an_image.jpg"), "w") as f:
        f.write("This is a text file with a .jpg name, not an image.\n")
    buf = io.BytesIO()
    Image.fromarray(h0).convert("CMYK").save(buf, format="JPEG", quality=JPEG_QUALITY)
    with open(path("stripes_horizontal/special_cmyk.jpg"), "wb") as f:
        f.write(buf.getvalue())
    _save(np.asarray(Image.fromarray(h0).convert("L")), path("stripes_horizontal/special_grayscale.jpg"),
          "JPEG", quality=JPEG_QUALITY)
    rgba = np.dstack([h0, np.full(h0.shape[:2], 255, np.uint8)])
    rgba[:, : rgba.shape[1] // 3, 3] = 0  # left third fully transparent
    _save(rgba, path("stripes_horizontal/special_rgba.png"), "PNG")

    # EXIF orientation 6 (rotate 90 CW to display): stored sideways.
    stored = np.ascontiguousarray(np.rot90(h1, k=1))
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY, exif=exif.tobytes())
    with open(path("stripes_vertical/special_exif_rotated.jpg"), "wb") as f:
        f.write(buf.getvalue())
    gray16 = (np.asarray(Image.fromarray(h1).convert("L"), dtype=np.uint16) * 257)
    Image.fromarray(gray16, mode="I;16").save(path("stripes_vertical/special_16bit.png"), format="PNG")
    Image.fromarray(h1).quantize(colors=64, method=Image.MEDIANCUT).save(
        path("stripes_vertical/special_palette.png"), format="PNG")
    frames = [Image.fromarray(h1).quantize(colors=64, method=Image.MEDIANCUT),
              Image.fromarray(255 - h1).quantize(colors=64, method=Image.MEDIANCUT)]
    frames[0].save(path("stripes_vertical/special_animated.gif"), format="GIF", save_all=True,
                   append_images=frames[1:], duration=100, loop=0)
    _save(h1, path("stripes_vertical/special_bitmap.bmp"), "BMP")
    Image.new("1", BOMB_SIZE, 0).save(path("stripes_vertical/special_bomb.png"), format="PNG")


def size_problem(image_size: Sequence[int], target_size: Sequence[int]) -> tuple[str, str] | None:
    """Why the demo's class cue cannot work at these sizes, or None when it can.

    The cue is a 2 px stripe pattern drawn on Transform's square grid; the
    baseline's exact 2x average is what cancels it.  So Transform's side must
    be square and even, and the arms' target exactly half of it.

    Args:
        image_size: Transform's (height, width) in pixels (``training.image_size``).
        target_size: the resizers' output (height, width) (``training.target_size``).

    Returns:
        (field, message) naming the configuration field to change, or None.
    """
    height, width = image_size
    if height != width or height % 2:
        return ("training.image_size",
                f"the demo set draws its 2 px stripe cue on a square grid of even side; got {height}x{width}")
    if tuple(target_size) != (height // 2, width // 2):
        return ("training.target_size",
                f"the demo set's cue is cancelled by the baseline's exact 2x average only at "
                f"{height // 2}x{width // 2} (half of training.image_size {height}x{width}); got "
                f"{target_size[0]}x{target_size[1]}")
    return None


def make_demo_dataset(output_dir: str, per_class: int = DEFAULT_PER_CLASS,
                      seed: int = DEFAULT_SEED, specials: bool = True, side: int = TRANSFORM_SIDE) -> dict:
    """Writes the synthetic image folder under ``output_dir`` and returns a summary.

    Layout: ``output_dir/<class_name>/<class_name>_<nnnn>.{jpg,png}`` plus the
    ``special_*`` files.  Summary keys: ``output_dir``, ``class_names``,
    ``regular_images`` (per class), ``special_files`` (relative path ->
    [expected outcome, reason]), ``total_files``, ``seed``, ``side``.

    Args:
        output_dir: the folder to write (created if absent).
        per_class: regular images per class.
        seed: same seed, same files.
        specials: also write the deliberately awkward ``special_*`` files.
        side: Transform's square side in pixels (``training.image_size``); image
            sides are ``side`` or ``2 * side`` (the default is the demo profile's).

    Raises:
        ValueError: ``per_class`` < 1, or ``side`` odd or < 2.
    """
    if per_class < 1:
        raise ValueError("per_class must be >= 1")
    if side < 2 or side % 2:
        raise ValueError(f"side must be even and >= 2 (the cue's period is 2 px), got {side}")
    for name in CLASS_NAMES:
        os.makedirs(os.path.join(output_dir, name), exist_ok=True)
    counts = {}
    for class_index, name in enumerate(CLASS_NAMES):
        for i in range(per_class):
            # One generator per image: adding images never changes earlier ones.
            rng = np.random.default_rng([seed, class_index, i])
            height, width = _random_size(rng, side)
            array = render_image(rng, class_index, height, width, side)
            if rng.random() < PNG_FRACTION:
                _save(array, os.path.join(output_dir, name, f"{name}_{i:04d}.png"), "PNG")
            else:
                _save(array, os.path.join(output_dir, name, f"{name}_{i:04d}.jpg"), "JPEG",
                      quality=JPEG_QUALITY)
        counts[name] = per_class
    special = {}
    if specials:
        _write_specials(output_dir, np.random.default_rng([seed, 99]), side)
        special = {k: list(v) for k, v in SPECIAL_FILES.items()}
    return {
        "output_dir": os.path.abspath(output_dir),
        "class_names": list(CLASS_NAMES),
        "regular_images": counts,
        "special_files": special,
        "total_files": sum(counts.values()) + len(special),
        "seed": seed,
        "side": side,
        "generator_version": GENERATOR_VERSION,
        "synthetic": True,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m components.demo_data --output DIR``: writes the demo set and prints its summary as JSON."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="directory to write")
    parser.add_argument("--per-class", type=int, default=DEFAULT_PER_CLASS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--side", type=int, default=TRANSFORM_SIDE,
                        help="Transform's square side the stripes are drawn for (training.image_size)")
    parser.add_argument("--no-specials", action="store_true",
                        help="skip the deliberately awkward special_* files")
    args = parser.parse_args(argv)
    summary = make_demo_dataset(args.output, per_class=args.per_class, seed=args.seed,
                                specials=not args.no_specials, side=args.side)
    print(json.dumps(summary, indent=2))
    return 0
