"""Building and fitting one arm's model, on the Trainer's placement.

:func:`build` makes the compiled classifier (the backbone first, so the seed
alone sets its weights; then the resizing stage and the head,
``trainer/models.py``), loads the control experiment's weights when given, and
records the SHA-256 of the initial backbone and head weights; :func:`fit`
trains it for ``epochs`` x ``steps_per_epoch`` batches with an
:class:`~trainer.timing.EpochTimer` and, when given a log directory,
TensorBoard scalars; :func:`recompute_batchnorm` then sets the BatchNorm
statistics from the trained weights when configured (PreciseBN).
:func:`hypermodel` is the same build for each of the Tuner's trials.
"""

import dataclasses

import keras
import tensorflow as tf

from trainer import backbones, batch_norm, data, distribution, models
from trainer.config import ArmConfig, ConfigError
from trainer.summary import weights_sha256
from trainer.timing import EpochTimer
from trainer.tuning import apply_hyperparameters
from trainer.warm_start import load_warm_start


@dataclasses.dataclass
class Built:
    """A compiled classifier and the parts the Trainer hands on.

    Attributes:
        model: the compiled ``keras.Model`` (:func:`trainer.models.build_classifier`).
        backbone: its backbone (``keras.Model``), what the control experiment hands on with the head.
        head: its classification head, the Dense layer :data:`trainer.models.HEAD_LAYER`.
        initial_backbone_sha256: SHA-256 (hex) of the backbone's weights before training.
        initial_head_sha256: SHA-256 (hex) of the head's weights before training.
        warm_start_from: the base model directory the backbone and head were loaded from, or None.
    """

    model: keras.Model
    backbone: keras.Model
    head: keras.layers.Layer
    initial_backbone_sha256: str
    initial_head_sha256: str
    warm_start_from: str | None


def prepare(config: ArmConfig, placement: distribution.Placement) -> None:
    """Checks that the batch splits over the workers; turns on TensorFlow's op determinism when configured.

    Args:
        config: the arm's configuration (``batch_size``, ``deterministic``).
        placement: where the Trainer runs (:func:`trainer.distribution.select_placement`).

    Raises:
        ConfigError: on ``batch_size`` when it does not divide by the number of workers.
    """
    if config.batch_size % placement.num_workers:
        raise ConfigError("batch_size", f"{config.batch_size} does not split evenly over "
                                        f"{placement.num_workers} workers")
    if config.deterministic:
        # Bit-identical reruns on GPUs too (CPU kernels here already are); costs speed on GPUs.
        tf.config.experimental.enable_op_determinism()


def build_and_compile(config: ArmConfig, placement: distribution.Placement):
    """The compiled classifier of ``config.arm`` under ``placement``'s strategy, and its backbone.

    The backbone is built first, so the seed alone sets its weights; with several workers every BatchNorm
    layer computes its statistics over the global batch, as on one machine.

    Args:
        config: the arm's configuration.
        placement: where the Trainer runs.

    Returns:
        (model, backbone): the compiled ``keras.Model`` (float images (B, *image_size, 3) in [0, 255] in,
        probabilities (B, num_classes) out) and the backbone inside it.

    Raises:
        ConfigError: an unknown arm or backbone, or a backbone weights file that cannot be loaded.
    """
    with placement.strategy.scope():
        backbone = backbones.build_backbone(config)
        model = models.build_classifier(config, backbone)
        if placement.multi_worker:
            # Batch statistics over the global batch, as on one machine.
            distribution.synchronize_batchnorm(model)
        model = models.compile_classifier(model, config)
        if not tf.distribute.has_strategy():
            # One trace of the training step instead of two (Keras builds these itself under a strategy).
            models.create_training_variables(model, config)
    return model, backbone


def build(config: ArmConfig, placement: distribution.Placement, warm_start_dir: str | None = None) -> Built:
    """:func:`build_and_compile`, then the control experiment's backbone and head when ``warm_start_dir`` is set.

    Args:
        config: the arm's configuration.
        placement: where the Trainer runs.
        warm_start_dir: a Model artifact of the control experiment's first Trainer
            (:func:`trainer.warm_start.base_model_dir`), or None to start from the seed. The resizing stage,
            when the arm has one, always starts from the seed.

    Returns:
        The :class:`Built` model with the hashes of its initial backbone and head weights.

    Raises:
        ConfigError: see :func:`build_and_compile`.
        FileNotFoundError: ``warm_start_dir`` lacks the warm-start files.
    """
    model, backbone = build_and_compile(config, placement)
    head = model.get_layer(models.HEAD_LAYER)
    if warm_start_dir:
        load_warm_start(backbone, head, warm_start_dir)
    return Built(model, backbone, head, weights_sha256(backbone), weights_sha256(head), warm_start_dir)


def fit(model, train_ds, validation_ds, epochs: int, steps: int, log_dir: str | None = None):
    """Trains ``model`` for ``epochs`` epochs of ``steps`` batches, timing every epoch.

    Args:
        model: a compiled Keras model.
        train_ds: the training batches (:func:`trainer.data.fit_datasets`), ``epochs * steps`` of them.
        validation_ds: the validation batches run after every epoch, or None.
        epochs: training epochs.
        steps: batches per epoch.
        log_dir: where TensorBoard's scalars go (``<log_dir>/train``, ``<log_dir>/validation``); None: none.

    Returns:
        (history, epoch timer): Keras' ``History`` and the :class:`~trainer.timing.EpochTimer` of the run.
    """
    epoch_timer = EpochTimer()
    callbacks = [epoch_timer]
    if log_dir:
        # Scalars only: writing the graph traces the training step a second time (12 s on 2 cores).
        callbacks.append(keras.callbacks.TensorBoard(log_dir=log_dir, write_graph=False))
    history = model.fit(
        train_ds,
        validation_data=validation_ds,
        epochs=epochs,
        steps_per_epoch=steps,
        callbacks=callbacks,
        verbose=2,
    )
    return history, epoch_timer


def recompute_batchnorm(model, train_split: data.DecodedSplit, validation_ds, config: ArmConfig) -> dict:
    """PreciseBN after :func:`fit`: every BatchNorm layer's statistics from the training split, weights fixed.

    Runs :func:`trainer.batch_norm.recompute_moving_statistics` over the whole training split once, in
    canonical order at the training batch size (on every worker, each over the whole split, so all hold the
    same statistics), then scores the validation batches with them.

    Args:
        model: the trained, compiled classifier.
        train_split: the decoded training split.
        validation_ds: the validation batches of :func:`fit`, or None.
        config: the arm's configuration (``batch_size``, ``num_classes``).

    Returns:
        ``{"layers", "batches", "images"}`` (:func:`~trainer.batch_norm.recompute_moving_statistics`), plus
        ``"validation_accuracy"`` with the new statistics when there is a validation split.

    Raises:
        ValueError: the training split is empty.
    """
    batches = data.evaluation_dataset(train_split, config.batch_size, config.num_classes)
    done = batch_norm.recompute_moving_statistics(model, batches)
    if validation_ds is not None:
        done["validation_accuracy"] = float(model.evaluate(validation_ds, verbose=0, return_dict=True)["accuracy"])
    return done


def hypermodel(config: ArmConfig, placement: distribution.Placement, warm_start_dir: str | None = None):
    """KerasTuner's ``hypermodel``: each trial's compiled model, with the trial's values in ``config``.

    Args:
        config: the arm's configuration before the search.
        placement: where the Tuner runs.
        warm_start_dir: the control experiment's base model directory, or None.

    Returns:
        ``build(hp) -> keras.Model``: the arm's model from the same seeded initial weights (or the base
        model's backbone and head) with ``hp.values`` applied (:func:`trainer.tuning.apply_hyperparameters`).
    """
    def build_trial(hp):
        trial = apply_hyperparameters(config, hp.values)
        model, backbone = build_and_compile(trial, placement)
        if warm_start_dir:
            load_warm_start(backbone, model.get_layer(models.HEAD_LAYER), warm_start_dir)
        return model

    return build_trial
