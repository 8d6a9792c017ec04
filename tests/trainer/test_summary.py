"""trainer.summary: the training summary's keys, in order, and what each holds after a one-step fit."""

import json

import numpy as np
import pytest

from trainer import contract, data, distribution, summary, timing, training
from trainer.config import ArmConfig

# What components/, the report, the model card and the tests read: the keys training_summary makes, in order.
FIT_KEYS = [
    "arm", "config", "precision", "replicas", "workers", "devices", "parameters",
    "initial_backbone_sha256", "initial_head_sha256", "final_backbone_sha256", "final_head_sha256",
    "warm_start_from", "history", "training_examples", "validation_examples", "steps_per_epoch",
    "images_per_epoch", "images_consumed", "data_order_sha256", "decode_seconds", "epoch_seconds",
    "validation_seconds", "fit_outside_epochs_seconds", "phase_seconds", "process_peak_resident_bytes_after_phase",
    "train_images_per_second",
]


def tiny_split(n, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
    return data.DecodedSplit(images=images, labels=np.arange(n, dtype=np.int64) % 2,
                             keys=[f"{seed}_{i}.png" for i in range(n)])


@pytest.fixture(scope="module")
def fitted():
    config = ArmConfig(arm=contract.BILINEAR_BASELINE_ARM, backbone="small_convnet", image_size=(16, 16),
                       target_size=(8, 8), batch_size=2, epochs=1, steps_per_epoch=2, seed=3)
    placement = distribution.select_placement("float32")
    timer = timing.PhaseTimer()
    with timer.phase("decode"):
        train_split, validation_split = tiny_split(6, 0), tiny_split(2, 1)
    recorder = data.OrderRecorder()
    train_ds, validation_ds = data.fit_datasets(placement, train_split, validation_split, config, 2, recorder)
    built = training.build(config, placement)
    history, epoch_timer = training.fit(built.model, train_ds, validation_ds, config.epochs, 2)
    record = summary.training_summary(config, placement, built, history, epoch_timer, train_split,
                                      validation_split, 2, recorder, timer)
    return config, built, train_split, timer, record


def test_the_keys_are_the_contract_in_order(fitted):
    *_, record = fitted
    assert list(record) == FIT_KEYS


def test_the_values_describe_the_fit(fitted):
    config, built, train_split, timer, record = fitted
    assert record["arm"] == contract.BILINEAR_BASELINE_ARM and record["config"] == config.to_dict()
    assert (record["precision"], record["replicas"], record["workers"]) == ("float32", 1, 1)
    assert record["parameters"] == built.model.count_params() > 0
    assert record["initial_backbone_sha256"] == built.initial_backbone_sha256
    # One SGD step moved the weights; the head's hash is of the head alone.
    assert record["final_backbone_sha256"] == summary.weights_sha256(built.backbone) != built.initial_backbone_sha256
    assert record["final_head_sha256"] == summary.weights_sha256(built.head) != record["final_backbone_sha256"]
    assert record["warm_start_from"] is None
    assert set(record["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 1 and isinstance(v[0], float) for v in record["history"].values())
    assert (record["training_examples"], record["validation_examples"]) == (6, 2)
    assert (record["steps_per_epoch"], record["images_per_epoch"], record["images_consumed"]) == (2, 4, 4)
    order = data.example_order(6, config.seed, 4)
    assert record["data_order_sha256"] == data.order_sha256(train_split.keys, order)
    assert record["decode_seconds"] == timer.seconds["decode"]
    assert len(record["epoch_seconds"]) == len(record["validation_seconds"]) == 1
    train_seconds = record["epoch_seconds"][0] - record["validation_seconds"][0]
    assert record["train_images_per_second"] == [pytest.approx(4 / train_seconds)]
    assert set(record["fit_outside_epochs_seconds"]) == {"before_first_epoch", "between_epochs", "after_last_epoch"}


def test_later_phases_reach_the_written_summary(fitted, tmp_path):
    *_, timer, record = fitted
    with timer.phase("export"):
        pass
    path = summary.write_training_summary(record, str(tmp_path / "model_run"))
    assert path == str(tmp_path / "model_run" / contract.TRAINING_SUMMARY_FILE)
    with open(path) as f:
        written = json.load(f)
    assert list(written) == FIT_KEYS and list(written["phase_seconds"]) == ["decode", "export"]


def test_weights_sha256_tells_equal_weights_from_others(fitted):
    _, built, *_ = fitted
    head = built.head
    before = summary.weights_sha256(head)
    kernel, bias = head.get_weights()
    head.set_weights([kernel, bias + 1.0])
    changed = summary.weights_sha256(head)
    head.set_weights([kernel, bias])
    assert changed != before == summary.weights_sha256(head)
