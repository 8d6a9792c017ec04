"""Every arm consumes the identical sequence of training examples, in one process or in several.

And a deterministic rerun predicts bit for bit the same.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from tfx.utils import path_utils

from components.paired_comparison import predict, read_split
from tests.trainer.helpers import latest, read_summary, small_config
from trainer import contract, data
from trainer.contract import LEARNABLE_RESIZER_ARM

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def artifacts(trained_pipeline):
    examples = latest(os.path.join(trained_pipeline["ImportExampleGen"], "examples", "*"))
    transform = latest(os.path.join(trained_pipeline[contract.TRANSFORM_ID], "transform_graph", "*"))
    return examples, transform


def expected_order_sha256(examples, transform, training):
    """Recomputed from the examples and the seed alone: the canonical order, then the seeded permutations."""
    split = data.decode_split([os.path.join(examples, f"Split-{contract.TRAIN_SPLIT}", "*")],
                              tft.TFTransformOutput(transform), training.image_size)
    steps = data.steps_per_epoch(len(split), training.batch_size, training.steps_per_epoch)
    total = steps * training.epochs * training.batch_size
    return data.order_sha256(split.keys, data.example_order(len(split), training.seed, total)), total


def test_every_arm_consumes_the_same_sequence_in_one_process(trained_pipeline, tmp_path):
    training = small_config(str(tmp_path)).training
    assert len(training.arms) == 3  # the baseline, the learnable resizer and MULLER
    summaries = [read_summary(trained_pipeline[contract.trainer_id(arm)]) for arm in training.arms]
    sha, total = expected_order_sha256(*artifacts(trained_pipeline), training)
    assert {s["data_order_sha256"] for s in summaries} == {sha}
    assert {s["images_consumed"] for s in summaries} == {total}


def train_in_subprocess(examples, transform, out, training):
    custom_config = training.to_custom_config()
    done = subprocess.run(
        [sys.executable, "-m", "tests.trainer.train_one_arm", "--examples", examples, "--transform", transform,
         "--out", out, "--config", json.dumps(custom_config)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    with open(os.path.join(out, "model_run", contract.TRAINING_SUMMARY_FILE)) as f:
        return json.load(f)


def test_separate_processes_same_sequence_and_deterministic_reruns(trained_pipeline, tmp_path):
    """Kubeflow runs each Trainer in its own container; a deterministic rerun gives identical predictions.

    Each arm is trained again in a process of its own, with the pipeline's
    configuration (``deterministic`` on), from the pipeline's own artifacts.
    """
    examples, transform = artifacts(trained_pipeline)
    training = small_config(str(tmp_path)).training
    assert training.deterministic
    summaries = {arm: train_in_subprocess(examples, transform, str(tmp_path / arm), training.for_arm(arm))
                 for arm in training.arms}
    learnable_trainer = trained_pipeline[contract.trainer_id(LEARNABLE_RESIZER_ARM)]
    in_pipeline = read_summary(learnable_trainer)["data_order_sha256"]
    assert {s["data_order_sha256"] for s in summaries.values()} == {in_pipeline}

    serialized, _, _, _ = read_split(examples, contract.TEST_SPLIT)
    assert serialized, "the test split is empty"

    def load(model_uri):
        return tf.saved_model.load(path_utils.serving_model_path(model_uri))

    first = predict(load(latest(os.path.join(learnable_trainer, "model", "*"))), serialized)
    again = predict(load(os.path.join(tmp_path, LEARNABLE_RESIZER_ARM, "model")), serialized)
    np.testing.assert_array_equal(first, again)  # bit for bit
    assert first.shape == (len(serialized), 2) and np.all(np.isfinite(first))
