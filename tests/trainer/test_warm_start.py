"""trainer.warm_start, and the paper's control experiment through TFX.

The files the control experiment's first Trainer leaves and the continued arms load; then (slow) a baseline
trained first in a pipeline, every arm continued from it.
"""

import os
import types

import keras
import numpy as np
import pytest

from tests.trainer.helpers import latest, read_summary, run_until_trainers, small_config
from trainer import contract, warm_start
from trainer.config import TrainingConfig
from trainer.contract import BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM


def small_parts(seed):
    keras.utils.set_random_seed(seed)
    backbone = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    head = keras.layers.Dense(2)
    head.build((None, 3))
    return backbone, head


def values(layer):
    return [keras.ops.convert_to_numpy(w) for w in layer.weights]


def test_a_continued_model_starts_where_the_first_ended(tmp_path):
    trained_backbone, trained_head = small_parts(seed=1)
    warm_start.save_warm_start(trained_backbone, trained_head, str(tmp_path))
    backbone, head = small_parts(seed=2)
    assert not np.array_equal(values(backbone)[0], values(trained_backbone)[0])
    warm_start.load_warm_start(backbone, head, str(tmp_path))
    for loaded, saved in zip(values(backbone) + values(head), values(trained_backbone) + values(trained_head)):
        np.testing.assert_array_equal(loaded, saved)


def test_a_base_model_without_the_files_is_named(tmp_path):
    backbone, head = small_parts(seed=1)
    with pytest.raises(FileNotFoundError, match=f"{tmp_path} has no {contract.WARM_START_BACKBONE_FILE}"):
        warm_start.load_warm_start(backbone, head, str(tmp_path))


def test_the_first_trainer_is_the_baseline_for_warm_start_epochs():
    training = TrainingConfig(epochs=5, warm_start_epochs=3)
    custom_config = training.warm_start_custom_config("abc")
    first = custom_config[contract.TRAINING_CONFIG_KEY]
    assert (first["arm"], first["epochs"], first["warm_start_epochs"]) == (contract.BILINEAR_BASELINE_ARM, 3, 0)
    assert custom_config[contract.WARM_START_SOURCE_KEY] is True
    assert custom_config[contract.CODE_FINGERPRINT_KEY] == "abc"
    # The continued arms keep `epochs` and are told nothing to save.
    assert contract.WARM_START_SOURCE_KEY not in training.for_arm(contract.LEARNABLE_RESIZER_ARM).to_custom_config()
    assert np.isclose(training.for_arm(contract.LEARNABLE_RESIZER_ARM).epochs, 5)


def test_where_the_files_are_read_and_written():
    serving = os.path.join("artifacts", "model", "7", "Format-Serving")
    assert warm_start.base_model_dir(types.SimpleNamespace(base_model=serving)) == os.path.dirname(serving)
    assert warm_start.base_model_dir(types.SimpleNamespace(base_model=None)) is None
    assert warm_start.base_model_dir(types.SimpleNamespace()) is None
    assert warm_start.save_dir({contract.WARM_START_SOURCE_KEY: True}, serving) == os.path.dirname(serving)
    assert warm_start.save_dir({contract.TRAINING_CONFIG_KEY: {}}, serving) is None
    assert warm_start.save_dir(None, serving) is None


WARM_START_EPOCHS = 2
ARMS = (BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM)  # the default arms


@pytest.fixture(scope="module")
def control_experiment(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("warm_start_pipeline"))
    return run_until_trainers(root, dict(warm_start_epochs=WARM_START_EPOCHS, picture_images=0))


@pytest.mark.slow
def test_every_arm_starts_from_the_trained_baseline(control_experiment):
    first = read_summary(control_experiment[contract.WARM_START_TRAINER_ID])
    assert first["arm"] == BILINEAR_BASELINE_ARM and len(first["history"]["loss"]) == WARM_START_EPOCHS
    assert first["warm_start_from"] is None
    # The first Trainer trained: its weights moved away from the seed's.
    assert first["final_backbone_sha256"] != first["initial_backbone_sha256"]
    for arm in ARMS:
        continued = read_summary(control_experiment[contract.trainer_id(arm)])
        assert continued["warm_start_from"].startswith(control_experiment[contract.WARM_START_TRAINER_ID])
        # Step 0 of each continued arm is the first Trainer's last step (backbone and head).
        assert continued["initial_backbone_sha256"] == first["final_backbone_sha256"]
        assert continued["initial_head_sha256"] == first["final_head_sha256"]


@pytest.mark.slow
def test_the_continued_arms_train_alike(control_experiment):
    candidate, baseline, muller = (read_summary(control_experiment[contract.trainer_id(arm)])
                                   for arm in (LEARNABLE_RESIZER_ARM, BILINEAR_BASELINE_ARM, MULLER_ARM))
    config = small_config("unused").training
    assert config.arms == ARMS
    assert candidate["data_order_sha256"] == muller["data_order_sha256"]
    for summary in (candidate, baseline, muller):
        assert len(summary["history"]["loss"]) == config.epochs
        assert summary["config"]["warm_start_epochs"] == WARM_START_EPOCHS
    assert candidate["steps_per_epoch"] == baseline["steps_per_epoch"]
    assert candidate["images_consumed"] == baseline["images_consumed"] > 0
    assert candidate["data_order_sha256"] == baseline["data_order_sha256"]
    # Only the candidate has a resizer, which starts from the seed.
    assert candidate["parameters"] - baseline["parameters"] == 12_163


@pytest.mark.slow
def test_the_first_trainer_leaves_the_warm_start_files(control_experiment):
    model = latest(os.path.join(control_experiment[contract.WARM_START_TRAINER_ID], "model", "*"))
    for name in (contract.WARM_START_BACKBONE_FILE, contract.WARM_START_HEAD_FILE):
        assert os.path.getsize(os.path.join(model, name)) > 0
    for arm in ARMS:  # the continued arms save none
        model = latest(os.path.join(control_experiment[contract.trainer_id(arm)], "model", "*"))
        assert not os.path.exists(os.path.join(model, contract.WARM_START_BACKBONE_FILE))
