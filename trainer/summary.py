"""``training_summary.json``: what one Trainer records about its run, in the ModelRun artifact.

The summary is read by the comparison (``components/``), the report, the
model card and the tests: its keys are a contract.  :func:`training_summary`
makes its first 25 keys right after ``fit``; the Trainer then adds
``class_names``, ``tuning`` (when tuned), ``cost``, ``picture`` (when drawn)
and ``run_fn_seconds``, and :func:`write_training_summary` writes it.
"""

import hashlib
import json
import os

import keras
import tensorflow as tf

from trainer.contract import TRAINING_SUMMARY_FILE


def weights_sha256(layer) -> str:
    """SHA-256 (hex) over a layer's weights: each weight's path, then its values' bytes, in ``layer.weights`` order.

    Args:
        layer: a built Keras layer or model.

    Returns:
        64 hex digits; equal for two layers exactly when their weights are named and valued alike.
    """
    digest = hashlib.sha256()
    for weight in layer.weights:
        digest.update(weight.path.encode())
        digest.update(keras.ops.convert_to_numpy(weight).tobytes())
    return digest.hexdigest()


def training_summary(config, placement, built, history, epoch_timer, train_split, validation_split, steps: int,
                     recorder, timer) -> dict:
    """The summary of a finished ``fit``, in its key order.

    Args:
        config: the arm's :class:`~trainer.config.ArmConfig` (tuned values applied).
        placement: the :class:`~trainer.distribution.Placement` it trained on.
        built: the :class:`~trainer.training.Built` model; its final weights are hashed now.
        history: Keras' ``History`` of ``fit``.
        epoch_timer: the :class:`~trainer.timing.EpochTimer` of ``fit``.
        train_split: the decoded training split (:class:`~trainer.data.DecodedSplit`; closed is fine).
        validation_split: the decoded validation split.
        steps: batches per epoch.
        recorder: the :class:`~trainer.data.OrderRecorder` of the training dataset.
        timer: the run's :class:`~trainer.timing.PhaseTimer`; its ``seconds`` and ``peak_resident_bytes`` dicts
            are held, not copied, so the phases that run later (export, cost, picture) appear too.

    Returns:
        ``{"arm", "config", "precision", "replicas", "workers", "devices", "parameters",
        "initial_backbone_sha256", "initial_head_sha256", "final_backbone_sha256", "final_head_sha256",
        "warm_start_from", "history", "training_examples", "validation_examples", "steps_per_epoch",
        "images_per_epoch", "images_consumed", "data_order_sha256", "decode_seconds", "epoch_seconds",
        "validation_seconds", "fit_outside_epochs_seconds", "phase_seconds",
        "process_peak_resident_bytes_after_phase", "train_images_per_second"}``; seconds are wall seconds,
        ``train_images_per_second`` one rate per epoch (validation excluded), bytes as
        :func:`~trainer.timing.process_peak_resident_bytes`.
    """
    images_per_epoch = steps * config.batch_size
    return {
        "arm": config.arm,
        "config": config.to_dict(),
        "precision": placement.precision,
        "replicas": placement.strategy.num_replicas_in_sync,
        "workers": placement.num_workers,
        "devices": [d.name for d in tf.config.list_logical_devices()],
        "parameters": int(built.model.count_params()),
        "initial_backbone_sha256": built.initial_backbone_sha256,
        "initial_head_sha256": built.initial_head_sha256,
        "final_backbone_sha256": weights_sha256(built.backbone),
        "final_head_sha256": weights_sha256(built.head),
        "warm_start_from": built.warm_start_from,
        "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        "training_examples": len(train_split),
        "validation_examples": len(validation_split),
        "steps_per_epoch": steps,
        "images_per_epoch": images_per_epoch,
        "images_consumed": recorder.examples,
        "data_order_sha256": recorder.hexdigest(),
        "decode_seconds": timer.seconds["decode"],
        "epoch_seconds": epoch_timer.seconds,
        "validation_seconds": epoch_timer.validation_seconds,
        # Inside ``fit`` but outside the epochs (the rest of the "fit" phase is Keras' own set-up before training).
        "fit_outside_epochs_seconds": epoch_timer.outside_seconds,
        "phase_seconds": timer.seconds,
        "process_peak_resident_bytes_after_phase": timer.peak_resident_bytes,
        # The first epoch includes tracing; later epochs show the steady rate.
        "train_images_per_second": [images_per_epoch / s for s in epoch_timer.train_seconds()],
    }


def write_training_summary(summary: dict, model_run_dir: str) -> str:
    """Writes ``summary`` as indented JSON.

    Args:
        summary: the complete summary.
        model_run_dir: the ModelRun artifact directory (any ``tf.io.gfile`` path); created when missing.

    Returns:
        The path written, ``<model_run_dir>/training_summary.json``.
    """
    tf.io.gfile.makedirs(model_run_dir)
    path = os.path.join(model_run_dir, TRAINING_SUMMARY_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(summary, f, indent=2)
    return path
