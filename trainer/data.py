"""The Trainer's input pipeline: every image decoded once, then one seeded order shared by every arm.

Each split goes through the Transform graph (decode + resize to
``image_size``) exactly once.  The results are kept as uint8 images (the
Transform output rounded to whole grey levels), in memory or, with
``image_cache='disk'``, in a memory-mapped file for data sets that don't fit;
epochs after the first never decode again.

The order of training examples depends on nothing but the examples and the
seed: examples are first put in a canonical order (by file name, then by the
SHA-256 of the encoded image), then drawn pass by pass from
``numpy.random.default_rng([seed, pass])`` permutations.  Batches are cut from
that stream, so every batch is full (the last batch of a pass takes the first
examples of the next) and an epoch is ``steps_per_epoch`` batches.  Two arms,
two processes or a rerun after a kill all consume the identical sequence; the
SHA-256 over the file names in the order they were consumed is recorded as
``data_order_sha256``.
"""

import dataclasses
import hashlib
import math
import os
import tempfile
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf

from trainer.config import IMAGE_CACHES
from trainer.contract import FILENAME_KEY, IMAGE_KEY, LABEL_KEY, TRANSFORMED_IMAGE_KEY

_DECODE_BATCH = 32


def list_files(file_patterns: Sequence[str]) -> list[str]:
    files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no example files match {list(file_patterns)}")
    return files


@dataclasses.dataclass
class DecodedSplit:
    """One split, decoded once: uint8 images (N, H, W, 3), int64 labels, one key (file name) per example."""

    images: np.ndarray
    labels: np.ndarray
    keys: list[str]
    cache_path: str | None = None

    def __len__(self):
        return len(self.keys)

    def close(self):
        """Drops the images; removes the cache file of ``image_cache='disk'``."""
        self.images = None
        if self.cache_path and os.path.exists(self.cache_path):
            os.remove(self.cache_path)


def _read_raw(file_patterns, tf_transform_output):
    """(serialized image features dict per example, labels, keys) in canonical order."""
    raw_spec = tf_transform_output.raw_feature_spec()
    spec = {
        IMAGE_KEY: raw_spec[IMAGE_KEY],
        LABEL_KEY: raw_spec[LABEL_KEY],
        FILENAME_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
    }
    encoded, labels, keys = [], [], []
    dataset = tf.data.TFRecordDataset(list_files(file_patterns), compression_type="GZIP").batch(256)
    for batch in dataset.map(lambda s: tf.io.parse_example(s, spec)):
        images = tf.reshape(_dense(batch[IMAGE_KEY]), [-1]).numpy()
        encoded.extend(images)
        labels.extend(tf.reshape(_dense(batch[LABEL_KEY]), [-1]).numpy().tolist())
        keys.extend(name.decode("utf-8") for name in batch[FILENAME_KEY].numpy())
    digests = [hashlib.sha256(data).hexdigest() for data in encoded]
    # Examples without a file name are keyed by their content.
    keys = [key or f"sha256:{digest}" for key, digest in zip(keys, digests)]
    order = sorted(range(len(keys)), key=lambda i: (keys[i], digests[i]))
    return [encoded[i] for i in order], np.asarray([labels[i] for i in order], np.int64), [keys[i] for i in order]


def _dense(tensor):
    if isinstance(tensor, tf.SparseTensor):
        tensor = tf.sparse.to_dense(tensor)
    return tensor


def decode_split(file_patterns, tf_transform_output, image_size, image_cache="memory") -> DecodedSplit:
    """Reads a split and applies the Transform graph to every image once."""
    if image_cache not in IMAGE_CACHES:
        raise ValueError(f"image_cache: {image_cache!r} is not one of {', '.join(IMAGE_CACHES)}")
    encoded, labels, keys = _read_raw(file_patterns, tf_transform_output)
    shape = (len(keys), *image_size, 3)
    cache_path = None
    if image_cache == "disk":
        handle, cache_path = tempfile.mkstemp(prefix="resizer_images_", suffix=".uint8")
        os.close(handle)
        images = np.lib.format.open_memmap(cache_path, mode="w+", dtype=np.uint8, shape=shape)
    else:
        images = np.empty(shape, np.uint8)
    image_spec = tf_transform_output.raw_feature_spec()[IMAGE_KEY]
    tft_layer = tf_transform_output.transform_features_layer()
    image_shape = [-1] + list(image_spec.shape)

    def transform(batch):
        features = tft_layer({IMAGE_KEY: tf.reshape(batch, image_shape)})
        # Whole grey levels: what uint8 can hold (at most 0.5 from the float Transform output).
        return tf.cast(tf.clip_by_value(tf.round(features[TRANSFORMED_IMAGE_KEY]), 0, 255), tf.uint8)

    dataset = (tf.data.Dataset.from_tensor_slices(tf.constant(encoded, tf.string) if encoded else tf.zeros([0], tf.string))
               .batch(_DECODE_BATCH)
               .map(transform, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
               .prefetch(tf.data.AUTOTUNE))
    position = 0
    for batch in dataset:
        batch = batch.numpy()
        images[position:position + len(batch)] = batch
        position += len(batch)
    return DecodedSplit(images=images, labels=labels, keys=keys, cache_path=cache_path)


def steps_per_epoch(num_examples: int, batch_size: int, configured: int = 0) -> int:
    """``configured`` if set, else one pass over the split rounded up to whole batches."""
    if configured:
        return configured
    return max(1, math.ceil(num_examples / batch_size))


def example_order(num_examples: int, seed: int, total: int) -> np.ndarray:
    """The first ``total`` example indices of the seeded stream (pass after pass of permutations)."""
    if num_examples < 1:
        raise ValueError("the training split has no examples")
    passes = math.ceil(total / num_examples)
    return np.concatenate(
        [np.random.default_rng([seed, p]).permutation(num_examples) for p in range(passes)]
    )[:total]


class OrderRecorder:
    """SHA-256 over the keys of the examples in the order they were handed to training.

    Every new pass of the dataset restarts the record: Keras may open the
    dataset once to peek at a batch (distributed builds) before training reads it.
    """

    def __init__(self):
        self.restart()

    def restart(self):
        self._digest = hashlib.sha256()
        self.examples = 0

    def update(self, keys: Sequence[str]):
        for key in keys:
            self._digest.update(key.encode("utf-8") + b"\n")
        self.examples += len(keys)

    def hexdigest(self):
        return self._digest.hexdigest()


def order_sha256(keys: Sequence[str], indices: Sequence[int]) -> str:
    """What :class:`OrderRecorder` records for ``indices`` consumed in order (for checks)."""
    recorder = OrderRecorder()
    recorder.update([keys[i] for i in indices])
    return recorder.hexdigest()


def _batches(split: DecodedSplit, indices: np.ndarray, batch_size: int,
             recorder: OrderRecorder | None, shard: tuple[int, int] = (0, 1)) -> Iterator:
    """Batches of ``batch_size`` from ``indices``; with ``shard=(i, n)``, the i-th of n equal parts of each."""
    if recorder is not None:
        recorder.restart()
    index, count = shard
    for start in range(0, len(indices), batch_size):
        chosen = indices[start:start + batch_size]
        if recorder is not None:  # the global batch: the same record on every worker
            recorder.update([split.keys[i] for i in chosen])
        share = len(chosen) // count
        chosen = chosen[index * share:(index + 1) * share]
        yield split.images[chosen], split.labels[chosen]


def _dataset(generator, split: DecodedSplit, num_classes: int, num_batches: int) -> tf.data.Dataset:
    height, width = split.images.shape[1:3]
    signature = (tf.TensorSpec((None, height, width, 3), tf.uint8), tf.TensorSpec((None,), tf.int64))
    dataset = tf.data.Dataset.from_generator(generator, output_signature=signature)
    # A known length: Keras stops at the end instead of running into it (and warning about it).
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_batches))
    # The batch dimension stays unknown, so a short last batch never retraces the step.
    dataset = dataset.map(
        lambda images, labels: (tf.cast(images, tf.float32), tf.one_hot(labels, num_classes)),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
    ).prefetch(2)
    # No autotuning thread: nothing here needs tuning, and at the end of `fit` deleting the iterator waited
    # for a tf.data thread to end, 24-60 s in 7 of 16 Trainers of the demo on 2 busy cores (docs/trainer.md).
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def training_dataset(split: DecodedSplit, batch_size: int, seed: int, steps: int, epochs: int,
                     num_classes: int, recorder: OrderRecorder | None = None,
                     shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
    """Exactly ``steps * epochs`` full batches from the seeded stream, recorded as they are consumed.

    ``shard=(i, n)``: worker i of n gets the i-th ``batch_size / n`` examples of every global batch.
    """
    if batch_size % shard[1]:
        raise ValueError(f"batch_size: {batch_size} does not split evenly over {shard[1]} workers")
    indices = example_order(len(split), seed, steps * epochs * batch_size)
    return _dataset(lambda: _batches(split, indices, batch_size, recorder, shard), split, num_classes,
                    steps * epochs)


def evaluation_dataset(split: DecodedSplit, batch_size: int, num_classes: int,
                       shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
    """The split once, in canonical order (the last batch may be short).

    With ``shard=(i, n)`` every worker must get a batch at every step, so the
    last ``len(split) % n`` examples are left out and each batch splits evenly.
    """
    index, count = shard
    usable = len(split) - len(split) % count
    per_worker = max(1, batch_size // count)
    indices = np.arange(usable)
    return _dataset(lambda: _batches(split, indices, per_worker * count, None, shard), split, num_classes,
                    math.ceil(usable / (per_worker * count)))
