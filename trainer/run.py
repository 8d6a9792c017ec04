"""The Trainer module: ``run_fn`` for TFX's Trainer component.

One module trains every arm; ``custom_config['training']`` (an
:class:`~trainer.config.ArmConfig` dict) chooses which.  All arms get
identical initial backbone and head weights (seeded), the same Transform graph,
and the identical sequence of training batches (``trainer/data.py``: every
image decoded once, then a seeded order that depends on the examples and the
seed alone).

``tuner_fn`` (TFX's Tuner, one per arm with ``tuning.trials`` > 0) searches
the arm's hyperparameters (``trainer/tuning.py``) on the same decoded
splits and data order; a Trainer given ``hyperparameters`` trains with the
best values and records the search under ``tuning`` in its summary.

Writes into the Model artifact: the serving SavedModel (``Format-Serving``),
``resizer_picture.png`` and ``model_cost.json`` (parameters and FLOPs per
image, ``trainer/cost.py``) beside it; into the ModelRun artifact: TensorBoard logs
and ``training_summary.json`` (config, hardware, history, images/s, a hash of
the initial backbone weights, and ``data_order_sha256``: a SHA-256 over the
file names of the training examples in the order they were consumed).
The control experiment's first Trainer (``warm_start_source`` in its
custom_config) also leaves its backbone's and head's weights beside
``Format-Serving``; a Trainer given a ``base_model`` starts from them.
"""

import contextlib
import hashlib
import itertools
import json
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from trainer import backbones, cost, data, distribution, models, tuning
from trainer.config import ArmConfig, ConfigError, TrainingConfig, TuningConfig, check_class_names
from trainer.contract import (
    LABEL_NAMES_FILE,
    MODEL_COST_FILE,
    RESIZER_PICTURE_FILE,
    TRAINING_SUMMARY_FILE,
    TUNED_HYPERPARAMETERS,
    TUNER_OBJECTIVE,
    WARM_START_BACKBONE_FILE,
    WARM_START_HEAD_FILE,
    WARM_START_SOURCE_KEY,
)
from trainer.export import export_serving_model
from trainer.picture import resizer_picture


def read_class_names(config: TrainingConfig, train_files):
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


def weights_sha256(layer):
    digest = hashlib.sha256()
    for weight in layer.weights:
        digest.update(weight.path.encode())
        digest.update(keras.ops.convert_to_numpy(weight).tobytes())
    return digest.hexdigest()


def save_warm_start(backbone, head, model_dir):
    """What a continued arm loads: the backbone's and the head's weights, beside ``Format-Serving``."""
    with tempfile.TemporaryDirectory() as local:
        backbone_file = os.path.join(local, WARM_START_BACKBONE_FILE)
        backbone.save_weights(backbone_file)
        head_file = os.path.join(local, WARM_START_HEAD_FILE)
        np.savez(head_file, *head.get_weights())
        tf.io.gfile.makedirs(model_dir)
        for name in (backbone_file, head_file):
            tf.io.gfile.copy(name, os.path.join(model_dir, os.path.basename(name)), overwrite=True)


def load_warm_start(backbone, head, model_dir):
    """Loads what :func:`save_warm_start` wrote into ``model_dir``; a missing file names the directory."""
    missing = [n for n in (WARM_START_BACKBONE_FILE, WARM_START_HEAD_FILE)
               if not tf.io.gfile.exists(os.path.join(model_dir, n))]
    if missing:
        raise FileNotFoundError(f"warm start: {model_dir} has no {', '.join(missing)} (the base model must come "
                                f"from the control experiment's first Trainer)")
    with tempfile.TemporaryDirectory() as local:
        for name in (WARM_START_BACKBONE_FILE, WARM_START_HEAD_FILE):
            tf.io.gfile.copy(os.path.join(model_dir, name), os.path.join(local, name))
        backbone.load_weights(os.path.join(local, WARM_START_BACKBONE_FILE))
        with np.load(os.path.join(local, WARM_START_HEAD_FILE)) as saved:
            head.set_weights([saved[f"arr_{i}"] for i in range(len(saved.files))])


class PhaseTimer:
    """Wall seconds per phase of a Trainer (``with timer.phase("export"): ...``), for the summary."""

    def __init__(self):
        self.seconds = {}

    @contextlib.contextmanager
    def phase(self, name):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


class EpochTimer(keras.callbacks.Callback):
    """Wall time per epoch, the part of it spent on validation, and the time ``fit`` spends between them.

    ``outside_seconds``: from the start of training to the first epoch, between epochs (the other callbacks'
    epoch ends) and from the last epoch to the end of training. Keep this callback first in the list.
    """

    def __init__(self):
        super().__init__()
        self.seconds = []
        self.validation_seconds = []
        self.outside_seconds = {"before_first_epoch": 0.0, "between_epochs": 0.0, "after_last_epoch": 0.0}
        self._last_end = None

    def on_train_begin(self, logs=None):
        self._last_end = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        if self._last_end is not None:
            key = "between_epochs" if self.seconds else "before_first_epoch"
            self.outside_seconds[key] += self._start - self._last_end
        self.validation_seconds.append(0.0)

    def on_test_begin(self, logs=None):
        self._test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        if self.validation_seconds:
            self.validation_seconds[-1] += time.perf_counter() - self._test_start

    def on_epoch_end(self, epoch, logs=None):
        self._last_end = time.perf_counter()
        self.seconds.append(self._last_end - self._start)

    def on_train_end(self, logs=None):
        if self._last_end is not None:
            self.outside_seconds["after_last_epoch"] = time.perf_counter() - self._last_end


def build_and_compile(config: ArmConfig, placement: distribution.Placement):
    """(compiled classifier, its backbone): the backbone is built first, so the seed alone sets its weights."""
    with placement.strategy.scope():
        backbone = backbones.build_backbone(config)
        model = models.build_classifier(config, backbone)
        if placement.multi_worker:
            # Batch statistics over the global batch, as on one machine.
            distribution.synchronize_batchnorm(model)
        model = models.compile_classifier(model, config)
    return model, backbone


def _datasets(placement, train_split, validation_split, config, steps, recorder):
    """(training, validation or None) datasets; with several workers each takes its share of every batch."""
    def training(shard=(0, 1)):
        return data.training_dataset(train_split, config.batch_size, config.seed, steps, config.epochs,
                                     config.num_classes, recorder, shard)

    def validation(shard=(0, 1)):
        return data.evaluation_dataset(validation_split, config.batch_size, config.num_classes, shard)

    if not placement.multi_worker:
        return training(), validation() if len(validation_split) else None

    def sharded(make):
        def per_worker(context):
            return make((context.input_pipeline_id, context.num_input_pipelines))
        return placement.strategy.distribute_datasets_from_function(per_worker)

    usable_validation = len(validation_split) >= placement.num_workers
    return sharded(training), sharded(validation) if usable_validation else None


def train(config: ArmConfig, train_files, eval_files, tf_transform_output, log_dir=None, timer=None,
          placement=None, warm_start_dir=None, save_warm_start_to=None):
    """Builds, compiles and fits the arm's model; returns (model, summary dict, validation split).

    ``warm_start_dir``: a Model artifact of the control experiment's first Trainer, whose backbone and head
    the model starts from (the resizer, when there is one, starts from the seed). ``save_warm_start_to``:
    where this run leaves its backbone and head for continued arms.
    """
    timer = timer or PhaseTimer()
    placement = placement or distribution.select_placement(config.precision)
    strategy, precision = placement.strategy, placement.precision
    if config.batch_size % placement.num_workers:
        raise ConfigError("batch_size", f"{config.batch_size} does not split evenly over "
                                        f"{placement.num_workers} workers")
    if config.deterministic:
        # Bit-identical reruns on GPUs too (CPU kernels here already are); costs speed on GPUs.
        tf.config.experimental.enable_op_determinism()
    with timer.phase("decode"):
        train_split = data.decode_split(train_files, tf_transform_output, config.image_size, config.image_cache)
        validation_split = data.decode_split(eval_files, tf_transform_output, config.image_size, config.image_cache)
    decode_seconds = timer.seconds["decode"]
    steps = data.steps_per_epoch(len(train_split), config.batch_size, config.steps_per_epoch)
    logging.info(
        "Training %s: %d replica(s), precision %s, %d examples, batch %d, %d epoch(s) of %d steps; "
        "decoded %d train + %d validation images in %.1f s",
        config.arm, strategy.num_replicas_in_sync, precision, len(train_split), config.batch_size,
        config.epochs, steps, len(train_split), len(validation_split), decode_seconds,
    )
    if not len(train_split):
        raise ValueError(f"{config.arm}: the training split has no examples ({list(train_files)})")
    recorder = data.OrderRecorder()
    train_ds, validation_ds = _datasets(placement, train_split, validation_split, config, steps, recorder)
    if validation_ds is None:
        logging.warning("%s: too few validation examples (%d in %s); training without validation",
                        config.arm, len(validation_split), list(eval_files))
    with timer.phase("build"):
        model, backbone = build_and_compile(config, placement)
        head = model.get_layer(models.HEAD_LAYER)
        if warm_start_dir:
            load_warm_start(backbone, head, warm_start_dir)
        initial_backbone, initial_head = weights_sha256(backbone), weights_sha256(head)
    epochs = EpochTimer()
    callbacks = [epochs]
    if log_dir:
        # Scalars only: writing the graph traces the training step a second time (12 s on 2 cores).
        callbacks.append(keras.callbacks.TensorBoard(log_dir=log_dir, write_graph=False))
    with timer.phase("fit"):
        history = model.fit(
            train_ds,
            validation_data=validation_ds,
            epochs=config.epochs,
            steps_per_epoch=steps,
            callbacks=callbacks,
            verbose=2,
        )
    train_split.close()
    if save_warm_start_to:
        save_warm_start(backbone, head, save_warm_start_to)
    images_per_epoch = steps * config.batch_size
    train_seconds = [total - val for total, val in zip(epochs.seconds, epochs.validation_seconds)]
    summary = {
        "arm": config.arm,
        "config": config.to_dict(),
        "precision": precision,
        "replicas": strategy.num_replicas_in_sync,
        "workers": placement.num_workers,
        "devices": [d.name for d in tf.config.list_logical_devices()],
        "parameters": int(model.count_params()),
        "initial_backbone_sha256": initial_backbone,
        "initial_head_sha256": initial_head,
        "final_backbone_sha256": weights_sha256(backbone),
        "final_head_sha256": weights_sha256(head),
        "warm_start_from": warm_start_dir,
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        "training_examples": len(train_split),
        "validation_examples": len(validation_split),
        "steps_per_epoch": steps,
        "images_per_epoch": images_per_epoch,
        "images_consumed": recorder.examples,
        "data_order_sha256": recorder.hexdigest(),
        "decode_seconds": decode_seconds,
        "epoch_seconds": epochs.seconds,
        "validation_seconds": epochs.validation_seconds,
        # Inside ``fit`` but outside the epochs (the rest of the "fit" phase is Keras' own set-up before training).
        "fit_outside_epochs_seconds": epochs.outside_seconds,
        "phase_seconds": timer.seconds,
        # The first epoch includes tracing; later epochs show the steady rate.
        "train_images_per_second": [images_per_epoch / s for s in train_seconds],
    }
    return model, summary, validation_split


def _picture_images(split, config):
    """``picture_images`` validation images, taking the classes in turn."""
    by_class = [np.flatnonzero(split.labels == c).tolist() for c in range(config.num_classes)]
    order = [i for group in itertools.zip_longest(*by_class) for i in group if i is not None]
    chosen = order[: config.picture_images]
    return split.images[chosen].astype(np.float32), split.labels[chosen]


def tuner_fn(fn_args):
    """TFX Tuner entry point: a KerasTuner random search over the arm's hyperparameters.

    Every trial builds the arm's model from the same seeded initial weights (from the base model's backbone
    and head with the control experiment), fits it on the train split for ``tuning.epochs`` epochs in the
    Trainer's data order, and is scored by its loss on the validation split (``contract.TUNER_OBJECTIVE``);
    the test split is never read.

    Args:
        fn_args: TFX's FnArgs: ``custom_config`` (the arm's training config and the tuning settings),
            ``train_files`` / ``eval_files`` (train and validation), ``transform_graph_path``,
            ``working_dir`` (KerasTuner's trial files), ``base_model`` (optional).

    Returns:
        tfx.components.TunerFnResult: the KerasTuner tuner and the keyword arguments of its ``search``.

    Raises:
        ConfigError: the custom_config asks for no trials (``tuning.trials`` is 0).
        ValueError: the train or the validation split has no examples (naming the files).
    """
    import keras_tuner
    from tfx import v1 as tfx

    config = ArmConfig.from_custom_config(fn_args.custom_config)
    settings = TuningConfig.from_custom_config(fn_args.custom_config)
    if not settings.trials:
        raise ConfigError("tuning.trials", f"is 0 in the {config.arm} Tuner's custom_config: nothing to search")
    placement = distribution.select_placement(config.precision)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    train_split = data.decode_split(fn_args.train_files, tf_transform_output, config.image_size, config.image_cache)
    validation_split = data.decode_split(fn_args.eval_files, tf_transform_output, config.image_size,
                                         config.image_cache)
    for name, split, files in (("training", train_split, fn_args.train_files),
                               ("validation", validation_split, fn_args.eval_files)):
        if not len(split):
            raise ValueError(f"{config.arm} Tuner: the {name} split has no examples ({list(files)}); the search "
                             f"scores every trial on the validation split")
    steps = data.steps_per_epoch(len(train_split), config.batch_size, config.steps_per_epoch)
    train_ds, validation_ds = _datasets(
        placement, train_split, validation_split, config.replace(epochs=settings.epochs), steps, None)
    base_model = getattr(fn_args, "base_model", None)
    warm_start_dir = os.path.dirname(base_model) if base_model else None
    logging.info("Tuning %s: %d trial(s) of %d epoch(s) x %d steps over %s", config.arm, settings.trials,
                 settings.epochs, steps, ", ".join(TUNED_HYPERPARAMETERS[config.arm]))

    def build(hp):
        trial = tuning.apply_hyperparameters(config, hp.values)
        model, backbone = build_and_compile(trial, placement)
        if warm_start_dir:
            load_warm_start(backbone, model.get_layer(models.HEAD_LAYER), warm_start_dir)
        return model

    tuner = keras_tuner.RandomSearch(
        hypermodel=build,
        hyperparameters=tuning.search_space(config, settings),
        objective=keras_tuner.Objective(TUNER_OBJECTIVE, direction="min"),
        max_trials=settings.trials,
        seed=config.seed,
        directory=fn_args.working_dir,
        project_name=config.arm,
        overwrite=True,
    )
    return tfx.components.TunerFnResult(
        tuner=tuner,
        fit_kwargs={"x": train_ds, "validation_data": validation_ds, "epochs": settings.epochs,
                    "steps_per_epoch": steps, "verbose": 2},
    )


def run_fn(fn_args):
    """TFX Trainer entry point.

    Args:
        fn_args: TFX's FnArgs; ``hyperparameters`` (optional) is the arm's Tuner's ``best_hyperparameters``,
            whose values replace the configured ones.
    """
    start = time.perf_counter()
    timer = PhaseTimer()
    config = ArmConfig.from_custom_config(fn_args.custom_config)
    hyperparameters = getattr(fn_args, "hyperparameters", None)
    tuning_summary = None
    if hyperparameters:
        tuning_summary = tuning.tuning_record(config, hyperparameters,
                                              TuningConfig.from_custom_config(fn_args.custom_config))
        config = tuning.apply_hyperparameters(config, hyperparameters.get("values", {}))
        logging.info("%s trains with the tuned %s", config.arm, tuning.describe_choice(tuning_summary))
    # First: a multi-worker strategy must configure TensorFlow before anything else runs.
    placement = distribution.select_placement(config.precision)
    class_names = read_class_names(config, fn_args.train_files)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    serving_model_dir, model_run_dir = fn_args.serving_model_dir, fn_args.model_run_dir
    scratch = None
    if not placement.is_chief:
        # Every worker saves (saving reads variables collectively); only the chief's copy is kept.
        scratch = tempfile.mkdtemp(prefix=f"worker{placement.worker_index}_")
        serving_model_dir = os.path.join(scratch, "model", os.path.basename(serving_model_dir))
        model_run_dir = os.path.join(scratch, "model_run")
    # TFX hands the base model's Format-Serving directory; the warm-start files lie beside it.
    base_model = getattr(fn_args, "base_model", None)
    model, summary, validation_split = train(
        config, fn_args.train_files, fn_args.eval_files, tf_transform_output, log_dir=model_run_dir,
        timer=timer, placement=placement, warm_start_dir=os.path.dirname(base_model) if base_model else None,
        save_warm_start_to=(os.path.dirname(serving_model_dir)
                            if (fn_args.custom_config or {}).get(WARM_START_SOURCE_KEY) else None),
    )
    summary["class_names"] = class_names
    if tuning_summary:
        summary["tuning"] = tuning_summary

    with timer.phase("export"):
        export_serving_model(model, tf_transform_output, class_names, serving_model_dir)
    logging.info("Exported %s to %s", config.arm, serving_model_dir)
    with timer.phase("cost"):
        summary["cost"] = cost.model_cost(model, config.image_size)
        with tf.io.gfile.GFile(os.path.join(os.path.dirname(serving_model_dir), MODEL_COST_FILE), "w") as f:
            json.dump({"arm": config.arm, **summary["cost"]}, f, indent=2)

    if config.picture_images and placement.is_chief:
        with timer.phase("picture"):
            images, labels = _picture_images(validation_split, config)
            picture = resizer_picture(model, images, class_names, labels)
            picture_path = os.path.join(os.path.dirname(serving_model_dir), RESIZER_PICTURE_FILE)
            with tf.io.gfile.GFile(picture_path, "wb") as f:
                f.write(picture)
        summary["picture"] = picture_path
    validation_split.close()
    summary["run_fn_seconds"] = time.perf_counter() - start

    tf.io.gfile.makedirs(model_run_dir)
    with tf.io.gfile.GFile(os.path.join(model_run_dir, TRAINING_SUMMARY_FILE), "w") as f:
        json.dump(summary, f, indent=2)
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)
