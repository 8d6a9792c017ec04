"""The paper's control experiment through TFX: a baseline trained first in a pipeline, every arm continued from it.

The warm-start files themselves: tests/trainer/test_warm_start.py.
"""

import os

import pytest

from tests.trainer.helpers import latest, read_summary, run_until_trainers, small_config
from trainer import contract
from trainer.contract import BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM

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
