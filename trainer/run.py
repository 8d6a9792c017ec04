"""The Trainer module: ``run_fn`` for TFX's Trainer component.

One module trains either arm; ``custom_config['training']`` (an
:class:`~trainer.config.ArmConfig` dict) chooses which.  Both arms get
identical initial backbone weights (seeded), the same data order and the same
Transform graph.

Writes into the Model artifact: the serving SavedModel (``Format-Serving``) and
``resizer_picture.png`` beside it; into the ModelRun artifact: TensorBoard logs
and ``training_summary.json`` (config, hardware, history, images/s, a hash of
the initial backbone weights).
"""

import hashlib
import itertools
import json
import os
import time

from absl import logging

import keras
import tensorflow as tf
import tensorflow_transform as tft

from trainer import models
from trainer.config import ArmConfig, ConfigError, TrainingConfig
from trainer.export import export_serving_model
from trainer.picture import resizer_picture
from trainer.contract import (
    IMAGE_KEY,
    LABEL_KEY,
    LABEL_NAMES_FILE,
    RESIZER_PICTURE_FILE,
    TRAINING_SUMMARY_FILE,
    TRANSFORMED_IMAGE_KEY,
    TRANSFORMED_LABEL_KEY,
)


def select_hardware(precision):
    """(strategy, policy name): every visible GPU with mixed_float16, else the CPU.

    ``precision='auto'`` means mixed_float16 on GPUs and float32 on CPUs;
    ``mixed_bfloat16`` is an explicit choice for CPUs with bf16 units.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if precision == "auto":
        precision = "mixed_float16" if gpus else "float32"
    keras.mixed_precision.set_global_policy(precision)
    strategy = tf.distribute.MirroredStrategy() if gpus else tf.distribute.get_strategy()
    return strategy, precision


def read_class_names(config: TrainingConfig, train_files):
    """Class names from the config, else from ``label_names.txt`` in the Examples artifact."""
    if config.class_names:
        return list(config.class_names)
    # train_files look like <examples_uri>/Split-train/*
    examples_uri = os.path.dirname(os.path.dirname(train_files[0]))
    path = os.path.join(examples_uri, LABEL_NAMES_FILE)
    if not tf.io.gfile.exists(path):
        raise ConfigError(
            "class_names", f"not configured and {path} does not exist; set class_names in the config"
        )
    with tf.io.gfile.GFile(path) as f:
        names = [line.strip() for line in f if line.strip()]
    if len(names) != config.num_classes:
        raise ConfigError(
            "num_classes", f"is {config.num_classes} but {path} lists {len(names)} classes: {names}"
        )
    return names


def _list_files(file_patterns):
    files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no example files match {list(file_patterns)}")
    return files


def make_dataset(file_patterns, tf_transform_output, config: TrainingConfig, training):
    """Batches of (image float32 (B, H, W, 3) in [0, 255], one-hot label) through the Transform graph.

    Training data is shuffled with ``config.seed``, so both arms see the same order.
    """
    raw_spec = tf_transform_output.raw_feature_spec()
    spec = {IMAGE_KEY: raw_spec[IMAGE_KEY], LABEL_KEY: raw_spec[LABEL_KEY]}
    tft_layer = tf_transform_output.transform_features_layer()

    def transform(serialized):
        features = tft_layer(tf.io.parse_example(serialized, spec))
        label = tf.one_hot(features[TRANSFORMED_LABEL_KEY], config.num_classes)
        return features[TRANSFORMED_IMAGE_KEY], label

    dataset = tf.data.TFRecordDataset(_list_files(file_patterns), compression_type="GZIP")
    if training:
        dataset = dataset.shuffle(config.shuffle_buffer, seed=config.seed, reshuffle_each_iteration=True)
        if config.steps_per_epoch:
            dataset = dataset.repeat()
    dataset = dataset.batch(config.batch_size)
    return dataset.map(transform, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def count_records(file_patterns):
    dataset = tf.data.TFRecordDataset(_list_files(file_patterns), compression_type="GZIP")
    return dataset.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1).numpy()


def weights_sha256(layer):
    digest = hashlib.sha256()
    for weight in layer.weights:
        digest.update(weight.path.encode())
        digest.update(keras.ops.convert_to_numpy(weight).tobytes())
    return digest.hexdigest()


class EpochTimer(keras.callbacks.Callback):
    """Records wall time per epoch (for images/s in the summary)."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def build_and_compile(config: ArmConfig, strategy):
    with strategy.scope():
        model = models.build_classifier(config)
        if config.optimizer == "sgd":
            optimizer = keras.optimizers.SGD(config.learning_rate, momentum=config.momentum)
        else:
            optimizer = keras.optimizers.Adam(config.learning_rate)
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
            metrics=["accuracy"],
            jit_compile=config.jit_compile,
        )
    return model


def train(config: ArmConfig, train_files, eval_files, tf_transform_output, log_dir=None):
    """Builds, compiles and fits the arm's model; returns (model, summary dict)."""
    strategy, precision = select_hardware(config.precision)
    logging.info(
        "Training %s: %d replica(s), precision %s, batch %d, %d epoch(s)",
        config.arm, strategy.num_replicas_in_sync, precision, config.batch_size, config.epochs,
    )
    train_ds = make_dataset(train_files, tf_transform_output, config, training=True)
    eval_ds = make_dataset(eval_files, tf_transform_output, config, training=False)
    model = build_and_compile(config, strategy)
    initial_backbone = weights_sha256(models.get_backbone(model))
    timer = EpochTimer()
    callbacks = [timer]
    if log_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=log_dir))
    history = model.fit(
        train_ds,
        validation_data=eval_ds,
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch or None,
        callbacks=callbacks,
        verbose=2,
    )
    if config.steps_per_epoch:
        images_per_epoch = config.steps_per_epoch * config.batch_size
    else:
        images_per_epoch = int(count_records(train_files))
    summary = {
        "arm": config.arm,
        "config": config.to_dict(),
        "precision": precision,
        "replicas": strategy.num_replicas_in_sync,
        "devices": [d.name for d in tf.config.list_logical_devices()],
        "parameters": int(model.count_params()),
        "initial_backbone_sha256": initial_backbone,
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        "epoch_seconds": timer.seconds,
        "images_per_epoch": images_per_epoch,
        # The first epoch includes tracing; later epochs show the steady rate.
        "train_images_per_second": [images_per_epoch / s for s in timer.seconds],
    }
    return model, summary


def _picture_batch(eval_files, tf_transform_output, config, pool=64):
    """``picture_images`` evaluation images, taking the classes in turn (the split is sorted by class)."""
    dataset = make_dataset(eval_files, tf_transform_output, config.replace(batch_size=pool, shuffle_buffer=1024), True)
    images, labels = next(iter(dataset))
    labels = tf.argmax(labels, axis=-1).numpy()
    by_class = [[i for i, label in enumerate(labels) if label == c] for c in range(config.num_classes)]
    order = [i for group in itertools.zip_longest(*by_class) for i in group if i is not None]
    chosen = order[: config.picture_images]
    return tf.gather(images, chosen), labels[chosen]


def run_fn(fn_args):
    """TFX Trainer entry point."""
    config = ArmConfig.from_custom_config(fn_args.custom_config)
    class_names = read_class_names(config, fn_args.train_files)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    model, summary = train(
        config, fn_args.train_files, fn_args.eval_files, tf_transform_output, log_dir=fn_args.model_run_dir
    )
    summary["class_names"] = class_names

    export_serving_model(model, tf_transform_output, class_names, fn_args.serving_model_dir)
    logging.info("Exported %s to %s", config.arm, fn_args.serving_model_dir)

    if config.picture_images:
        images, labels = _picture_batch(fn_args.eval_files, tf_transform_output, config)
        picture = resizer_picture(model, images, class_names, labels)
        picture_path = os.path.join(os.path.dirname(fn_args.serving_model_dir), RESIZER_PICTURE_FILE)
        with tf.io.gfile.GFile(picture_path, "wb") as f:
            f.write(picture)
        summary["picture"] = picture_path

    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, TRAINING_SUMMARY_FILE), "w") as f:
        json.dump(summary, f, indent=2)
