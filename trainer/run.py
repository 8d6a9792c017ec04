"""The Trainer module: ``run_fn`` for TFX's Trainer and ``tuner_fn`` for TFX's Tuner.

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

The training runs in a fresh Python process of its own by default
(``training_process.py``, ``training.process``): its memory goes back to the
system when it ends. Each step is a function of the module of its concern: the configuration
(``tuning.py``), where the process runs and writes (``distribution.py``), the
data (``data.py``), building, fitting and the BatchNorm statistics recomputed
after it with ``training.precise_batchnorm`` (``training.py``), the control
experiment's weights (``warm_start.py``), the clocks (``timing.py``), the
export (``export.py``), the cost (``cost.py``), the picture (``picture.py``)
and the summary (``summary.py``); when it ends, what it freed goes back to the system
(``memory.py``: a local run goes on with the next component in this process).

Writes into the Model artifact: the serving SavedModel (``Format-Serving``),
``resizer_picture.png`` and ``model_cost.json`` (parameters and FLOPs per
image, ``trainer/cost.py``) beside it; into the ModelRun artifact: TensorBoard logs
and ``training_summary.json`` (config, hardware, history, images/s, a hash of
the initial backbone weights, ``data_order_sha256``: a SHA-256 over the
file names of the training examples in the order they were consumed, and
with PreciseBN ``precise_batchnorm``: layers, images, validation accuracy).
The control experiment's first Trainer (``warm_start_source`` in its
custom_config) also leaves its backbone's and head's weights beside
``Format-Serving``; a Trainer given a ``base_model`` starts from them.
"""

import os

import tensorflow_transform as tft
from absl import logging

from trainer import cost, data, distribution, picture, summary, timing, training, tuning, warm_start
from trainer.config import ArmConfig, ConfigError, TuningConfig
from trainer.contract import DECODED_IMAGES_CONFIG_KEY, TUNED_HYPERPARAMETERS
from trainer.data import read_class_names
from trainer.export import export_serving_model
from trainer.memory import releases_freed_memory
from trainer.training_process import run_in_child_process


def decoded_images(fn_args) -> str | None:
    """The pipeline's DecodedImages artifact (``components/decode_images.py``) this Trainer or Tuner reads.

    Returns:
        Its URI, put into ``custom_config`` by ``components/training_components.py``; None when the
        component runs without one (the splits are then decoded here).
    """
    return dict(fn_args.custom_config or {}).get(DECODED_IMAGES_CONFIG_KEY)


@releases_freed_memory  # a local run goes on with the next component in this process
def run_fn(fn_args):
    """TFX Trainer entry point: trains one arm (:func:`train_arm`) in a process of its own or in this one.

    ``training.process`` chooses: ``child`` (the default) trains in a fresh Python process
    (``trainer/training_process.py``), whose memory goes back to the system when it ends; ``same`` here.
    Logs, errors and files are the same either way.

    Args:
        fn_args: TFX's FnArgs (see :func:`train_arm`).

    Raises:
        ConfigError: an invalid configuration (naming the field), and whatever :func:`train_arm` raises;
        trainer.training_process.TrainingProcessError: the child process was killed (e.g. out of memory).
    """
    if ArmConfig.from_custom_config(fn_args.custom_config).process == "child":
        run_in_child_process(train_arm, fn_args)
    else:
        train_arm(fn_args)


def train_arm(fn_args):
    """Trains one arm and writes its model, cost, picture and training summary (in this process).

    Args:
        fn_args: TFX's FnArgs: ``custom_config`` (``{"training": ArmConfig dict, ...}``), ``train_files`` and
            ``eval_files`` (the train and validation splits), ``transform_output``, ``serving_model_dir``,
            ``model_run_dir``; optional ``hyperparameters`` (the arm's Tuner's ``best_hyperparameters``, whose
            values replace the configured ones) and ``base_model`` (the control experiment's first model).

    Raises:
        ConfigError: an invalid configuration, class names that disagree with the data's, or a batch that does
            not split over the workers (naming the field).
        ValueError: the training split has no examples (naming the files).
        FileNotFoundError: no example file matches, or the base model lacks the warm-start files.

    Files written:
        ``<serving_model_dir>`` (the SavedModel, ``trainer/export.py``), beside it ``model_cost.json``,
        ``resizer_picture.png`` (``training.picture_images`` > 0) and, for the control experiment's first
        Trainer, the warm-start files; in ``<model_run_dir>``: TensorBoard logs and ``training_summary.json``.
    """
    timer = timing.PhaseTimer()
    config, tuning_record = tuning.trainer_config(fn_args.custom_config, getattr(fn_args, "hyperparameters", None))
    # First: a multi-worker strategy must configure TensorFlow before anything else runs.
    placement = distribution.select_placement(config.precision)
    class_names = read_class_names(config, fn_args.train_files)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    out = distribution.output_dirs(placement, fn_args.serving_model_dir, fn_args.model_run_dir)
    model_dir = os.path.dirname(out.serving_model_dir)  # the Model artifact, above Format-Serving
    training.prepare(config, placement)

    decoded_images_uri = decoded_images(fn_args)
    with timer.phase("decode"):
        train_split, validation_split = data.decode_splits(fn_args.train_files, fn_args.eval_files,
                                                           tf_transform_output, config, decoded_images_uri)
    steps = data.steps_per_epoch(len(train_split), config.batch_size, config.steps_per_epoch)
    logging.info(
        "Training %s: %d replica(s), precision %s, %d examples, batch %d, %d epoch(s) of %d steps; "
        "%s %d train + %d validation images in %.1f s",
        config.arm, placement.strategy.num_replicas_in_sync, placement.precision, len(train_split),
        config.batch_size, config.epochs, steps,
        "read the pipeline's decoded" if decoded_images_uri else "decoded", len(train_split),
        len(validation_split), timer.seconds["decode"],
    )
    if not len(train_split):
        raise ValueError(f"{config.arm}: the training split has no examples ({list(fn_args.train_files)})")
    recorder = data.OrderRecorder()
    train_ds, validation_ds = data.fit_datasets(placement, train_split, validation_split, config, steps, recorder)
    if validation_ds is None:
        logging.warning("%s: too few validation examples (%d in %s); training without validation",
                        config.arm, len(validation_split), list(fn_args.eval_files))

    with timer.phase("build"):
        built = training.build(config, placement, warm_start.base_model_dir(fn_args))
    with timer.phase("fit"):
        history, epoch_timer = training.fit(built.model, train_ds, validation_ds, config.epochs, steps,
                                            log_dir=out.model_run_dir)
    if config.precise_batchnorm:
        with timer.phase("precise_batchnorm"):
            precise_bn = training.recompute_batchnorm(built.model, train_split, validation_ds, config)
        logging.info("%s: BatchNorm statistics of %d layers recomputed from %d training images (PreciseBN) in "
                     "%.1f s; validation accuracy %s", config.arm, precise_bn["layers"], precise_bn["images"],
                     timer.seconds["precise_batchnorm"],
                     f"{precise_bn['validation_accuracy']:.3f} with them, "
                     f"{history.history['val_accuracy'][-1]:.3f} before" if "validation_accuracy" in precise_bn
                     else "not measured (no validation split)")
    train_split.close()
    save_to = warm_start.save_dir(fn_args.custom_config, out.serving_model_dir)
    if save_to:
        warm_start.save_warm_start(built.backbone, built.head, save_to)

    record = summary.training_summary(config, placement, built, history, epoch_timer, train_split,
                                      validation_split, steps, recorder, timer)
    record["class_names"] = class_names
    if config.precise_batchnorm:
        record["precise_batchnorm"] = precise_bn
    if tuning_record:
        record["tuning"] = tuning_record
    with timer.phase("export"):
        export_serving_model(built.model, tf_transform_output, class_names, out.serving_model_dir)
    logging.info("Exported %s to %s", config.arm, out.serving_model_dir)
    with timer.phase("cost"):
        record["cost"] = cost.write_model_cost(built.model, config.arm, config.image_size, model_dir)
    if config.picture_images and placement.is_chief:
        with timer.phase("picture"):
            record["picture"] = picture.write_resizer_picture(built.model, validation_split, class_names,
                                                              config.num_classes, config.picture_images, model_dir)
    validation_split.close()
    record["run_fn_seconds"] = timer.elapsed()
    record["process_peak_resident_bytes"] = timing.process_peak_resident_bytes()
    summary.write_training_summary(record, out.model_run_dir)
    out.remove_scratch()


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
    from tfx import v1 as tfx

    config = ArmConfig.from_custom_config(fn_args.custom_config)
    settings = TuningConfig.from_custom_config(fn_args.custom_config)
    if not settings.trials:
        raise ConfigError("tuning.trials", f"is 0 in the {config.arm} Tuner's custom_config: nothing to search")
    placement = distribution.select_placement(config.precision)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    train_split, validation_split = data.decode_splits(fn_args.train_files, fn_args.eval_files,
                                                       tf_transform_output, config, decoded_images(fn_args))
    for name, split, files in (("training", train_split, fn_args.train_files),
                               ("validation", validation_split, fn_args.eval_files)):
        if not len(split):
            raise ValueError(f"{config.arm} Tuner: the {name} split has no examples ({list(files)}); the search "
                             f"scores every trial on the validation split")
    steps = data.steps_per_epoch(len(train_split), config.batch_size, config.steps_per_epoch)
    train_ds, validation_ds = data.fit_datasets(
        placement, train_split, validation_split, config.replace(epochs=settings.epochs), steps, None)
    warm_start_dir = warm_start.base_model_dir(fn_args)
    logging.info("Tuning %s: %d trial(s) of %d epoch(s) x %d steps over %s", config.arm, settings.trials,
                 settings.epochs, steps, ", ".join(TUNED_HYPERPARAMETERS[config.arm]))
    tuner = tuning.random_search(training.hypermodel(config, placement, warm_start_dir), config, settings,
                                 fn_args.working_dir)
    return tfx.components.TunerFnResult(
        tuner=tuner,
        fit_kwargs={"x": train_ds, "validation_data": validation_ds, "epochs": settings.epochs,
                    "steps_per_epoch": steps, "verbose": 2},
    )
