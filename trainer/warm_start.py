"""The control experiment's hand-over (``training.warm_start_epochs``): backbone and head weights as files.

The control experiment's first Trainer (``warm_start_source`` in its
``custom_config``) leaves its backbone's weights
(``warm_start_backbone.weights.h5``, Keras' weights format) and its head's
(``warm_start_head.npz``, NumPy arrays ``arr_0``, ``arr_1``...) beside
``Format-Serving`` in its Model artifact; every continued arm's Trainer (and
Tuner) gets that artifact as ``base_model`` and starts from them.
"""

import os
import tempfile

import numpy as np
import tensorflow as tf

from trainer.contract import WARM_START_BACKBONE_FILE, WARM_START_HEAD_FILE, WARM_START_SOURCE_KEY


def base_model_dir(fn_args) -> str | None:
    """Where the warm-start files lie: the Model artifact directory holding the base model, or None.

    Args:
        fn_args: TFX's FnArgs of a Trainer or Tuner; ``base_model`` (optional) is the base model's
            ``Format-Serving`` directory, the files lie beside it.

    Returns:
        The directory above ``base_model``, or None without a base model.
    """
    base_model = getattr(fn_args, "base_model", None)
    return os.path.dirname(base_model) if base_model else None


def save_dir(custom_config, serving_model_dir) -> str | None:
    """Where this Trainer leaves its warm-start files: beside ``Format-Serving`` when it is the source.

    Args:
        custom_config: the Trainer's ``custom_config``; ``warm_start_source`` true marks the control
            experiment's first Trainer.
        serving_model_dir: the directory the serving SavedModel is exported to.

    Returns:
        The directory above ``serving_model_dir``, or None when this Trainer saves nothing.
    """
    return os.path.dirname(serving_model_dir) if (custom_config or {}).get(WARM_START_SOURCE_KEY) else None


def save_warm_start(backbone, head, model_dir):
    """Writes what a continued arm loads: the backbone's and the head's weights.

    Args:
        backbone: the trained backbone (a ``keras.Model``).
        head: the trained classification head (a Keras layer).
        model_dir: the Model artifact directory (local or any ``tf.io.gfile`` path); created when missing.

    Files written:
        ``<model_dir>/warm_start_backbone.weights.h5`` and ``<model_dir>/warm_start_head.npz``.
    """
    with tempfile.TemporaryDirectory() as local:
        backbone_file = os.path.join(local, WARM_START_BACKBONE_FILE)
        backbone.save_weights(backbone_file)
        head_file = os.path.join(local, WARM_START_HEAD_FILE)
        np.savez(head_file, *head.get_weights())
        tf.io.gfile.makedirs(model_dir)
        for name in (backbone_file, head_file):
            tf.io.gfile.copy(name, os.path.join(model_dir, os.path.basename(name)), overwrite=True)


def load_warm_start(backbone, head, model_dir):
    """Loads what :func:`save_warm_start` wrote into ``model_dir`` into ``backbone`` and ``head``.

    Args:
        backbone: a backbone of the same architecture, built.
        head: a head of the same shape, built.
        model_dir: the base model's Model artifact directory.

    Raises:
        FileNotFoundError: ``model_dir`` lacks one of the files (both named, with the directory).
    """
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
