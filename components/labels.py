"""Label names travelling with an Examples artifact (no TFX import needed)."""

from __future__ import annotations

import os

from trainer.contract import LABEL_NAMES_FILE, is_remote


def read_label_names(examples_uri: str) -> list[str]:
    """Label names, in label order, from ``<examples_uri>/label_names.txt``.

    Works for local paths and for any filesystem ``tf.io.gfile`` knows
    (``gs://...``).  Raises ``FileNotFoundError`` when the file is missing.
    """
    path = os.path.join(examples_uri, LABEL_NAMES_FILE)
    if is_remote(examples_uri):
        import tensorflow as tf

        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(path)
        with tf.io.gfile.GFile(path, "r") as f:
            text = f.read()
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    return [line for line in text.split("\n") if line]
