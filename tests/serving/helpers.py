"""Helpers of the serving tests: the small model's settings, sample images and files."""

import os

from components import synthetic_examples

# The serving contract does not depend on the backbone (the seed's DenseNet-121 serves in
# tests/trainer/test_run.py); small_convnet builds and exports in seconds.
SMALL = dict(backbone="small_convnet", image_size=(64, 64), target_size=(32, 32),
             class_names=synthetic_examples.CLASS_NAMES)


def sample_images(count=3, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = [(40, 70), (90, 30), (64, 64), (20, 20)]
    out = []
    for i in range(count):
        h, w = sizes[i % len(sizes)]
        image = synthetic_examples.make_image(rng, i % 2, h, w)
        out.append(synthetic_examples.encode(image, "png" if i % 2 else "jpeg"))
    return out


def write_files(directory, images):
    paths = []
    for i, data in enumerate(images):
        ext = "png" if data.startswith(b"\x89PNG") else "jpg"
        path = os.path.join(directory, f"img{i}.{ext}")
        with open(path, "wb") as f:
            f.write(data)
        paths.append(path)
    return paths


def write_image_folder(directory):
    """Good images of several sizes and formats (one in a subfolder) and bad files.

    Returns ``{filename relative to directory: (outcome, reason)}`` as ingestion decides it.
    """
    import io

    import numpy as np
    from PIL import Image

    from components import image_records as ir
    from components.image_folder_example_gen import IGNORED_OS_METADATA
    from serving.batch_inference import IGNORED

    rng = np.random.default_rng(7)

    def pixels(label, height, width):
        return synthetic_examples.make_image(rng, label, height, width)

    def saved(image, fmt, **options):
        out = io.BytesIO()
        image.save(out, format=fmt, **options)
        return out.getvalue()

    big_jpeg = saved(Image.fromarray(pixels(1, 375, 500)), "JPEG", quality=90)
    rgba = np.dstack([pixels(0, 50, 60), np.full((50, 60), 128, np.uint8)])
    files = {
        "small.jpg": (saved(Image.fromarray(pixels(0, 40, 70)), "JPEG", quality=90), (ir.KEPT, "")),
        "tall.png": (saved(Image.fromarray(pixels(1, 90, 30)), "PNG"), (ir.KEPT, "")),
        "photo.jpg": (big_jpeg, (ir.KEPT, "")),
        "sub/gray.jpg": (saved(Image.fromarray(pixels(0, 64, 64)[:, :, 0], "L"), "JPEG"), (ir.KEPT, "")),
        "sub/alpha.png": (saved(Image.fromarray(rgba, "RGBA"), "PNG"), (ir.CONVERTED, ir.ALPHA)),
        "sub/still.gif": (saved(Image.fromarray(pixels(1, 33, 45)), "GIF"), (ir.CONVERTED, ir.GIF)),
        "icon.bmp": (saved(Image.fromarray(pixels(0, 20, 20)), "BMP"), (ir.CONVERTED, f"{ir.OTHER_FORMAT}_bmp")),
        "empty.jpg": (b"", (ir.SKIPPED, ir.EMPTY_FILE)),
        "truncated.jpg": (big_jpeg[: len(big_jpeg) // 2], (ir.SKIPPED, ir.CORRUPT)),
        "notes.jpg": (b"a text file, not a picture\n", (ir.SKIPPED, ir.NOT_AN_IMAGE)),
        ".DS_Store": (b"\0\0\0\1Bud1", (IGNORED, IGNORED_OS_METADATA)),  # not data: ingestion's rule
    }
    for name, (data, _) in files.items():
        path = os.path.join(directory, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return {name: expected for name, (_, expected) in files.items()}
