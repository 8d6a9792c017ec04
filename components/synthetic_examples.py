"""Small synthetic image data sets in TFX form (canonical records), for tests and benchmarks.

Each image is noise around a brightness that depends on the label (dark or
bright), so a model learns it in a few steps.  Unlike the demo image folder
(:mod:`components.demo_data`) these are written straight as gzipped TFRecords
of the canonical record, ready for ``ImportExampleGen``.
"""

import os

import numpy as np

from components.example_records import image_example as canonical_example

CLASS_NAMES = ("dark", "bright")


def make_image(rng, label, height, width):
    """A noisy image whose mean brightness depends on the label (learnable in a few steps)."""
    base = 60 if label == 0 else 190
    pixels = rng.normal(base, 30, size=(height, width, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def encode(image, fmt="jpeg"):
    """``image`` (uint8, (H, W, 3)) encoded as PNG, or as JPEG at quality 90; returns the bytes."""
    import tensorflow as tf

    if fmt == "png":
        return tf.io.encode_png(image).numpy()
    return tf.io.encode_jpeg(image, quality=90).numpy()


def image_example(encoded, label, fmt="jpeg", height=0, width=0, filename="", class_names=CLASS_NAMES):
    """The canonical record of one encoded image of class ``label``."""
    return canonical_example(encoded, fmt, height, width, filename, label, class_names[label])


def write_tfrecord_dataset(directory, count, seed=0, sizes=((120, 90), (64, 160), (200, 200))):
    """``count`` examples of both classes, in varied sizes, as one gzipped TFRecord file."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "data.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i in range(count):
            label = i % 2
            height, width = sizes[i % len(sizes)]
            fmt = "png" if i % 5 == 0 else "jpeg"
            encoded = encode(make_image(rng, label, height, width), fmt)
            example = image_example(encoded, label, fmt, height, width, f"{CLASS_NAMES[label]}/{i}.{fmt}")
            writer.write(example.SerializeToString())
    return directory
