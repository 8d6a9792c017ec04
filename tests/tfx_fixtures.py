"""Small generated image data sets in TFX form, shared by the trainer and pipeline tests."""

import os

import numpy as np
import tensorflow as tf

CLASS_NAMES = ("dark", "bright")


def make_image(rng, label, height, width):
    """A noisy image whose mean brightness depends on the label (learnable in a few steps)."""
    base = 60 if label == 0 else 190
    pixels = rng.normal(base, 30, size=(height, width, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def encode(image, fmt="jpeg"):
    if fmt == "png":
        return tf.io.encode_png(image).numpy()
    return tf.io.encode_jpeg(image, quality=90).numpy()


def image_example(encoded, label, fmt="jpeg", height=0, width=0, filename="", class_names=CLASS_NAMES):
    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[fmt.encode()])),
        "image/height": tf.train.Feature(int64_list=tf.train.Int64List(value=[height])),
        "image/width": tf.train.Feature(int64_list=tf.train.Int64List(value=[width])),
        "image/filename": tf.train.Feature(bytes_list=tf.train.BytesList(value=[filename.encode()])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        "label_name": tf.train.Feature(bytes_list=tf.train.BytesList(value=[class_names[label].encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


def write_tfrecord_dataset(directory, count, seed=0, sizes=((120, 90), (64, 160), (200, 200))):
    """``count`` examples of both classes, in varied sizes, as one gzipped TFRecord file."""
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
