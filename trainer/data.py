"""The Trainer's input pipeline: every image decoded once, then one seeded order shared by every arm.

Each split goes through the Transform graph (decode + resize to
``image_size``) exactly once per pipeline: the DecodeImages component
(``components/decode_images.py``) writes the training and validation splits
as uint8 images (the Transform output rounded to whole grey levels) with
:func:`write_decoded_split`, and every Trainer and Tuner reads them with
:func:`read_decoded_split`, into memory or, with ``image_cache='disk'``,
memory-mapped where they lie.  A ``run_fn`` given no such artifact decodes
the splits itself (:func:`decode_split`), to the identical arrays; epochs
after the first never decode again.

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
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf
from absl import logging

from trainer.config import IMAGE_CACHES, ConfigError, TrainingConfig, check_class_names
from trainer.contract import (
    DECODED_IMAGES_FILE,
    DECODED_KEYS_FILE,
    DECODED_LABELS_FILE,
    FILENAME_KEY,
    IMAGE_KEY,
    LABEL_KEY,
    LABEL_NAMES_FILE,
    TRAIN_SPLIT,
    TRANSFORMED_IMAGE_KEY,
    VALIDATION_SPLIT,
)
from trainer.preprocessing import dense_1d

if TYPE_CHECKING:  # trainer.distribution imports Keras and the backbones; the data pipeline needs neither
    from trainer.distribution import Placement

_DECODE_BATCH = 32


def list_files(file_patterns: Sequence[str]) -> list[str]:
    """The files matching any of ``file_patterns`` (``tf.io.gfile.glob`` patterns), sorted.

    Raises:
        FileNotFoundError: nothing matches (the patterns named).
    """
    files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no example files match {list(file_patterns)}")
    return files


@dataclasses.dataclass
class DecodedSplit:
    """One split, decoded once (:func:`decode_split`).

    Attributes:
        images: uint8 (N, H, W, 3), the Transform output rounded to whole grey levels; a NumPy array, or a
            memory-mapped one with ``image_cache='disk'``; None after :meth:`close`.
        labels: int64 (N,).
        keys: one key per example: its file name, or ``sha256:<hex>`` of its bytes when it has none.
        cache_path: a temporary memory-mapped file this split owns (``image_cache='disk'``), removed by
            :meth:`close`; None when the images are in memory or mapped from the DecodedImages artifact.
    """

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


# ``image_cache='auto'`` keeps a split in memory when it takes at most this share of the memory available:
# the rest is for the model, TensorFlow and the other split.
AUTO_MEMORY_SHARE = 0.5


def resolve_image_cache(image_cache: str, nbytes: int, available_bytes: int | None = None) -> str:
    """Where a split's decoded images live: ``image_cache``, with ``"auto"`` decided from the memory available.

    Args:
        image_cache: ``training.image_cache``: ``"memory"``, ``"disk"`` or ``"auto"``.
        nbytes: the split's decoded images in bytes (N x height x width x 3).
        available_bytes: memory available now; None: ``psutil.virtual_memory().available``.

    Returns:
        ``"memory"`` or ``"disk"``; ``"auto"`` gives ``"memory"`` when ``nbytes`` is at most
        :data:`AUTO_MEMORY_SHARE` of the memory available, else ``"disk"`` (logged with both figures).

    Raises:
        ValueError: ``image_cache`` is none of ``auto``, ``memory``, ``disk``.
    """
    if image_cache not in IMAGE_CACHES:
        raise ValueError(f"image_cache: {image_cache!r} is not one of {', '.join(IMAGE_CACHES)}")
    if image_cache != "auto":
        return image_cache
    if available_bytes is None:
        import psutil

        available_bytes = psutil.virtual_memory().available
    chosen = "memory" if nbytes <= AUTO_MEMORY_SHARE * available_bytes else "disk"
    if chosen == "disk":
        logging.info("image_cache auto: %.2f GB of decoded images, %.2f GB of memory available: memory-mapped "
                     "from disk", nbytes / 1e9, available_bytes / 1e9)
    return chosen


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
        encoded.extend(dense_1d(batch[IMAGE_KEY]).numpy())
        labels.extend(dense_1d(batch[LABEL_KEY]).numpy().tolist())
        keys.extend(name.decode("utf-8") for name in batch[FILENAME_KEY].numpy())
    digests = [hashlib.sha256(data).hexdigest() for data in encoded]
    # Examples without a file name are keyed by their content.
    keys = [key or f"sha256:{digest}" for key, digest in zip(keys, digests)]
    order = sorted(range(len(keys)), key=lambda i: (keys[i], digests[i]))
    return [encoded[i] for i in order], np.asarray([labels[i] for i in order], np.int64), [keys[i] for i in order]


def read_class_names(config: TrainingConfig, train_files) -> list[str]:
    """The class names the model is trained and served with: the data's label names.

    Args:
      config: the Trainer's configuration; ``class_names``, when set, must
        equal the data's label names (same names, same order).
      train_files: the training split's files, ``<examples_uri>/Split-train/*``.

    Returns:
      The names in label order, from ``label_names.txt`` of the Examples
      artifact (the configured ones when the artifact has no such file).

    Raises:
      ConfigError: when neither the file nor ``class_names`` is there, when
        the configured names disagree with the file's (both lists named), or
        when the file lists another number of classes than ``num_classes``.
    """
    examples_uri = os.path.dirname(os.path.dirname(train_files[0]))
    path = os.path.join(examples_uri, LABEL_NAMES_FILE)
    if not tf.io.gfile.exists(path):
        if config.class_names:
            return list(config.class_names)
        raise ConfigError(
            "class_names", f"not configured and {path} does not exist; set class_names in the config"
        )
    with tf.io.gfile.GFile(path) as f:
        names = [line.strip() for line in f if line.strip()]
    check_class_names(config.class_names, names, path)
    if len(names) != config.num_classes:
        raise ConfigError(
            "num_classes", f"is {config.num_classes} but {path} lists {len(names)} classes: {names}"
        )
    return names


def _transform_into(images: np.ndarray, encoded: list[bytes], tf_transform_output) -> None:
    """Writes the Transform graph's output of every encoded image, rounded to uint8, into ``images`` in order."""
    image_spec = tf_transform_output.raw_feature_spec()[IMAGE_KEY]
    tft_layer = tf_transform_output.transform_features_layer()
    image_shape = [-1] + list(image_spec.shape)

    # No AutoGraph: converting TFT's Keras 2 layer call is most of the trace (seconds) and it needs none.
    @tf.autograph.experimental.do_not_convert
    def transform(batch):
        features = tft_layer({IMAGE_KEY: tf.reshape(batch, image_shape)})
        # Whole grey levels: what uint8 can hold (at most 0.5 from the float Transform output).
        return tf.cast(tf.clip_by_value(tf.round(features[TRANSFORMED_IMAGE_KEY]), 0, 255), tf.uint8)

    encoded = tf.constant(encoded, tf.string) if encoded else tf.zeros([0], tf.string)
    dataset = (tf.data.Dataset.from_tensor_slices(encoded)
               .batch(_DECODE_BATCH)
               .map(transform, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
               .prefetch(tf.data.AUTOTUNE))
    position = 0
    for batch in dataset:
        batch = batch.numpy()
        images[position:position + len(batch)] = batch
        position += len(batch)


def decode_split(file_patterns, tf_transform_output, image_size, image_cache="memory") -> DecodedSplit:
    """Reads a split and applies the Transform graph to every image once.

    Args:
        file_patterns: GZIP TFRecord files of ``tf.train.Example`` records (an Examples artifact's
            ``Split-<name>/*``), as ``tf.io.gfile.glob`` patterns.
        tf_transform_output: the ``tft.TFTransformOutput`` of the pipeline's Transform
            (:func:`trainer.preprocessing.preprocessing_fn`).
        image_size: (height, width) in pixels the Transform graph resizes to.
        image_cache: ``"memory"`` (a NumPy array), ``"disk"`` (a memory-mapped temporary file, removed by
            :meth:`DecodedSplit.close`) or ``"auto"`` (:func:`resolve_image_cache`).

    Returns:
        The :class:`DecodedSplit`: uint8 images (N, height, width, 3), the Transform output rounded to whole
        grey levels; int64 labels (N,); and the examples' file names, in canonical order (by file name, then
        by the SHA-256 of the encoded image).

    Raises:
        ValueError: ``image_cache`` is none of ``auto``, ``memory``, ``disk``.
        FileNotFoundError: no file matches ``file_patterns``.
    """
    if image_cache not in IMAGE_CACHES:
        raise ValueError(f"image_cache: {image_cache!r} is not one of {', '.join(IMAGE_CACHES)}")
    encoded, labels, keys = _read_raw(file_patterns, tf_transform_output)
    shape = (len(keys), *image_size, 3)
    image_cache = resolve_image_cache(image_cache, math.prod(shape))
    cache_path = None
    if image_cache == "disk":
        handle, cache_path = tempfile.mkstemp(prefix="resizer_images_", suffix=".uint8")
        os.close(handle)
        images = np.lib.format.open_memmap(cache_path, mode="w+", dtype=np.uint8, shape=shape)
    else:
        images = np.empty(shape, np.uint8)
    _transform_into(images, encoded, tf_transform_output)
    return DecodedSplit(images=images, labels=labels, keys=keys, cache_path=cache_path)


def write_decoded_split(file_patterns, tf_transform_output, image_size, split_dir: str) -> int:
    """Decodes a split once, as :func:`decode_split` does, into files every Trainer and Tuner can read.

    Writes into ``split_dir`` (made if missing; local or any ``tf.io.gfile`` file system)
    ``contract.DECODED_IMAGES_FILE`` (NumPy ``.npy``, uint8 (N, height, width, 3)),
    ``contract.DECODED_LABELS_FILE`` (int64 (N,)) and ``contract.DECODED_KEYS_FILE`` (the N keys, JSON), in
    :func:`decode_split`'s canonical order. The images go straight into a memory-mapped file, so the split is
    never held in memory whole.

    Args:
        file_patterns: the split's GZIP TFRecord files, as ``tf.io.gfile.glob`` patterns.
        tf_transform_output: the pipeline's ``tft.TFTransformOutput``.
        image_size: (height, width) the Transform graph resizes to.
        split_dir: the artifact's ``Split-<name>`` folder.

    Returns:
        The number of examples written.

    Raises:
        FileNotFoundError: no file matches ``file_patterns``.
    """
    encoded, labels, keys = _read_raw(file_patterns, tf_transform_output)
    shape = (len(keys), *image_size, 3)
    tf.io.gfile.makedirs(split_dir)
    local = os.path.isdir(split_dir)
    scratch = None if local else tempfile.mkdtemp(prefix="resizer_decoded_")
    folder = split_dir if local else scratch
    images = np.lib.format.open_memmap(os.path.join(folder, DECODED_IMAGES_FILE), mode="w+", dtype=np.uint8,
                                       shape=shape)
    _transform_into(images, encoded, tf_transform_output)
    images.flush()
    del images
    np.save(os.path.join(folder, DECODED_LABELS_FILE), labels)
    with open(os.path.join(folder, DECODED_KEYS_FILE), "w") as f:
        json.dump(keys, f)
    if scratch:
        for name in (DECODED_IMAGES_FILE, DECODED_LABELS_FILE, DECODED_KEYS_FILE):
            tf.io.gfile.copy(os.path.join(scratch, name), os.path.join(split_dir, name), overwrite=True)
        shutil.rmtree(scratch)
    return len(keys)


def read_decoded_split(split_dir: str, image_size, image_cache="memory") -> DecodedSplit:
    """A split written by :func:`write_decoded_split`, as the :class:`DecodedSplit` :func:`decode_split` gives.

    Args:
        split_dir: the DecodedImages artifact's ``Split-<name>`` folder (local or ``tf.io.gfile``).
        image_size: (height, width) the reader expects (``training.image_size``).
        image_cache: ``"memory"``: the images are read into memory; ``"disk"``: a local file is memory-mapped
            read-only where it lies (a remote one is first copied to a temporary file, removed by
            :meth:`DecodedSplit.close`); ``"auto"``: a local file is memory-mapped (no copy; the page cache keeps
            it in memory while memory allows), a remote one goes by :func:`resolve_image_cache`.

    Returns:
        The :class:`DecodedSplit`, identical to :func:`decode_split`'s of the same examples and Transform graph.

    Raises:
        ValueError: ``image_cache`` is none of ``auto``, ``memory``, ``disk``, or the files disagree with each other
            or with ``image_size`` (the file named).
        FileNotFoundError: a file is missing (named).
    """
    if image_cache not in IMAGE_CACHES:
        raise ValueError(f"image_cache: {image_cache!r} is not one of {', '.join(IMAGE_CACHES)}")
    paths = {name: os.path.join(split_dir, name)
             for name in (DECODED_IMAGES_FILE, DECODED_LABELS_FILE, DECODED_KEYS_FILE)}
    for path in paths.values():
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"decoded images: {path} does not exist")
    with tf.io.gfile.GFile(paths[DECODED_KEYS_FILE]) as f:
        keys = json.load(f)
    with tf.io.gfile.GFile(paths[DECODED_LABELS_FILE], "rb") as f:
        labels = np.load(io.BytesIO(f.read())).astype(np.int64)
    images_path, cache_path = paths[DECODED_IMAGES_FILE], None
    if image_cache == "auto":
        # A local file is mapped where it lies: no copy, and the page cache keeps it in memory while memory
        # allows; a remote one is copied to the local disk first, and the memory available decides.
        image_cache = ("disk" if os.path.isfile(images_path)
                       else resolve_image_cache("auto", tf.io.gfile.stat(images_path).length))
    if not os.path.isfile(images_path):  # another file system: a local copy
        handle, cache_path = tempfile.mkstemp(prefix="resizer_images_", suffix=".npy")
        os.close(handle)
        tf.io.gfile.copy(images_path, cache_path, overwrite=True)
        images_path = cache_path
    if image_cache == "memory":
        images = np.load(images_path)  # read, not mapped: one copy, in this process's memory
        if cache_path:
            os.remove(cache_path)
            cache_path = None
    else:
        images = np.load(images_path, mmap_mode="r")
    want = (len(keys), *image_size, 3)
    if images.shape != want or images.dtype != np.uint8 or len(labels) != len(keys):
        raise ValueError(f"decoded images: {paths[DECODED_IMAGES_FILE]} holds {images.dtype} {images.shape} with "
                         f"{len(labels)} labels and {len(keys)} keys; expected uint8 {want} (image_size "
                         f"{tuple(image_size)})")
    return DecodedSplit(images=images, labels=labels, keys=keys, cache_path=cache_path)


def decode_splits(train_files, eval_files, tf_transform_output, config: TrainingConfig,
                  decoded_images_uri: str | None = None):
    """The training and validation splits: read from the DecodedImages artifact, or each decoded once here.

    Args:
        train_files: the training split's file patterns.
        eval_files: the validation split's file patterns.
        tf_transform_output: the Transform output.
        config: the arm's configuration (``image_size``, ``image_cache``).
        decoded_images_uri: the pipeline's DecodedImages artifact (``Split-<train>``, ``Split-<validation>``,
            :func:`write_decoded_split`); None: decode here with :func:`decode_split`.

    Returns:
        (training, validation) :class:`DecodedSplit`, the same whichever way they came.
    """
    if decoded_images_uri:
        return tuple(read_decoded_split(os.path.join(decoded_images_uri, f"Split-{split}"), config.image_size,
                                        config.image_cache)
                     for split in (TRAIN_SPLIT, VALIDATION_SPLIT))
    train_split = decode_split(train_files, tf_transform_output, config.image_size, config.image_cache)
    validation_split = decode_split(eval_files, tf_transform_output, config.image_size, config.image_cache)
    return train_split, validation_split


def steps_per_epoch(num_examples: int, batch_size: int, configured: int = 0) -> int:
    """Batches per epoch: ``configured`` if set, else one pass over the split rounded up to whole batches.

    Args:
        num_examples: examples in the training split.
        batch_size: examples per batch.
        configured: ``training.steps_per_epoch`` (0: not set).

    Returns:
        At least 1.
    """
    if configured:
        return configured
    return max(1, math.ceil(num_examples / batch_size))


def example_order(num_examples: int, seed: int, total: int) -> np.ndarray:
    """The first ``total`` example indices of the seeded stream (pass after pass of permutations).

    Args:
        num_examples: examples in the split (its canonical order).
        seed: ``training.seed``; pass ``p`` is ``numpy.random.default_rng([seed, p]).permutation``.
        total: indices wanted (``steps * epochs * batch_size``).

    Returns:
        int64 (total,) indices into the split.

    Raises:
        ValueError: the split has no examples.
    """
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

    Attributes:
        examples: examples recorded since the last restart.
    """

    def __init__(self):
        self.restart()

    def restart(self):
        """Forgets what was recorded."""
        self._digest = hashlib.sha256()
        self.examples = 0

    def update(self, keys: Sequence[str]):
        """Records ``keys`` in order (each as UTF-8 followed by a newline)."""
        for key in keys:
            self._digest.update(key.encode("utf-8") + b"\n")
        self.examples += len(keys)

    def hexdigest(self):
        """The SHA-256 (hex) of what was recorded (``data_order_sha256`` in the summary)."""
        return self._digest.hexdigest()


def order_sha256(keys: Sequence[str], indices: Sequence[int]) -> str:
    """What :class:`OrderRecorder` records for ``indices`` consumed in order (for checks).

    Args:
        keys: the split's keys in canonical order.
        indices: the examples consumed, in order.

    Returns:
        The SHA-256 (hex).
    """
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

    Args:
        split: the decoded training split.
        batch_size: examples per global batch.
        seed: the seed of the order (:func:`example_order`).
        steps: batches per epoch.
        epochs: epochs.
        num_classes: classes (the labels' one-hot width).
        recorder: records the keys of every global batch as it is consumed (None: not recorded).
        shard: ``(i, n)``: worker i of n gets the i-th ``batch_size / n`` examples of every global batch.

    Returns:
        A ``tf.data.Dataset`` of (float32 images (b, H, W, 3) in [0, 255], float32 one-hot labels
        (b, num_classes)), b = ``batch_size / n``, of known length ``steps * epochs``.

    Raises:
        ValueError: ``batch_size`` does not divide by the number of workers.
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

    Args:
        split: a decoded split.
        batch_size: examples per global batch (rounded down to a multiple of the workers, at least one each).
        num_classes: classes (the labels' one-hot width).
        shard: ``(i, n)``: this worker's index and the number of workers.

    Returns:
        A ``tf.data.Dataset`` of (float32 images (b, H, W, 3) in [0, 255], float32 one-hot labels).
    """
    index, count = shard
    usable = len(split) - len(split) % count
    per_worker = max(1, batch_size // count)
    indices = np.arange(usable)
    return _dataset(lambda: _batches(split, indices, per_worker * count, None, shard), split, num_classes,
                    math.ceil(usable / (per_worker * count)))


def fit_datasets(placement: "Placement", train_split: DecodedSplit, validation_split: DecodedSplit,
                 config: TrainingConfig, steps: int, recorder: OrderRecorder | None):
    """The datasets ``fit`` reads; with several workers each worker takes its share of every global batch.

    Args:
        placement: where the Trainer runs (:func:`trainer.distribution.select_placement`).
        train_split: the decoded training split.
        validation_split: the decoded validation split.
        config: the arm's configuration (``batch_size``, ``seed``, ``epochs``, ``num_classes``).
        steps: batches per epoch.
        recorder: records the order of the training examples (None: not recorded).

    Returns:
        (training, validation or None): :func:`training_dataset` and :func:`evaluation_dataset`, distributed
        over the workers by ``placement.strategy`` when there are several. Validation is None when the split
        is empty, or has fewer examples than there are workers.
    """
    def training(shard=(0, 1)):
        return training_dataset(train_split, config.batch_size, config.seed, steps, config.epochs,
                                config.num_classes, recorder, shard)

    def validation(shard=(0, 1)):
        return evaluation_dataset(validation_split, config.batch_size, config.num_classes, shard)

    if not placement.multi_worker:
        return training(), validation() if len(validation_split) else None

    def sharded(make):
        def per_worker(context):
            return make((context.input_pipeline_id, context.num_input_pipelines))
        return placement.strategy.distribute_datasets_from_function(per_worker)

    usable_validation = len(validation_split) >= placement.num_workers
    return sharded(training), sharded(validation) if usable_validation else None
