"""Helpers of the serving tests: the small model's settings, sample images and files."""

import os

from components import synthetic_examples

SMALL = dict(image_size=(64, 64), target_size=(32, 32), class_names=synthetic_examples.CLASS_NAMES)


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
