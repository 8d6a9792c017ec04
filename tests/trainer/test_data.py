"""The Trainer's input pipeline: one seeded order, full batches, recorded as consumed."""

import numpy as np
import pytest
import tensorflow as tf

from trainer import data


def split(n, size=4):
    images = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, size, size, 3), np.uint8)
    return data.DecodedSplit(images=images, labels=np.arange(n) % 2, keys=[f"f{i:03d}.jpg" for i in range(n)])


def test_order_depends_on_the_seed_alone():
    first = data.example_order(10, seed=3, total=35)
    # Other random number generators in the process must not matter.
    np.random.seed(0)
    tf.random.set_seed(99)
    tf.random.uniform([5])
    again = data.example_order(10, seed=3, total=35)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, data.example_order(10, seed=4, total=35))
    # Pass after pass of permutations: every example once per pass.
    for p in range(3):
        assert sorted(first[p * 10:(p + 1) * 10]) == list(range(10))
    assert len(first) == 35


def test_steps_per_epoch():
    assert data.steps_per_epoch(35, 4) == 9
    assert data.steps_per_epoch(36, 4) == 9
    assert data.steps_per_epoch(3, 4) == 1
    assert data.steps_per_epoch(35, 4, configured=2) == 2


def test_training_dataset_yields_full_batches_and_records_them():
    s = split(10)
    recorder = data.OrderRecorder()
    dataset = data.training_dataset(s, batch_size=4, seed=1, steps=3, epochs=2, num_classes=2, recorder=recorder)
    assert dataset.cardinality().numpy() == 6
    batches = list(dataset)
    assert len(batches) == 6 and all(images.shape == (4, 4, 4, 3) for images, _ in batches)
    assert batches[0][0].dtype == tf.float32 and batches[0][1].shape == (4, 2)
    consumed = [int(images[i, 0, 0, 0]) for images, _ in batches for i in range(4)]
    expected = data.example_order(10, seed=1, total=24)
    assert consumed == expected.tolist()
    assert recorder.examples == 24
    assert recorder.hexdigest() == data.order_sha256(s.keys, expected)


def test_a_second_pass_restarts_the_record():
    """Keras may open the dataset once to look at a batch before training reads it from the start."""
    s = split(10)
    recorder = data.OrderRecorder()
    dataset = data.training_dataset(s, batch_size=4, seed=1, steps=2, epochs=1, num_classes=2, recorder=recorder)
    next(iter(dataset))
    list(dataset)
    assert recorder.examples == 8
    assert recorder.hexdigest() == data.order_sha256(s.keys, data.example_order(10, 1, 8))


def test_evaluation_dataset_keeps_the_canonical_order():
    s = split(5)
    batches = list(data.evaluation_dataset(s, batch_size=2, num_classes=2))
    assert [b[0].shape[0] for b in batches] == [2, 2, 1]
    assert [int(v) for images, _ in batches for v in images[:, 0, 0, 0]] == [0, 1, 2, 3, 4]


def test_empty_training_split_is_a_clear_error():
    with pytest.raises(ValueError, match="no examples"):
        data.example_order(0, seed=1, total=4)


def test_datasets_run_without_an_autotuning_thread():
    """Deleting an iterator waited for tf.data's autotuning thread at the end of `fit` (docs/trainer.md)."""
    s = split(8)
    for dataset in (data.training_dataset(s, batch_size=4, seed=1, steps=2, epochs=1, num_classes=2),
                    data.evaluation_dataset(s, batch_size=4, num_classes=2)):
        assert dataset.options().autotune.enabled is False
        assert len(list(dataset)) == 2


def test_fit_datasets_on_one_process_are_the_seeded_stream_and_the_split_once():
    from trainer import distribution
    from trainer.config import ArmConfig
    from trainer.contract import BILINEAR_BASELINE_ARM

    config = ArmConfig(arm=BILINEAR_BASELINE_ARM, backbone="small_convnet", image_size=(8, 8), target_size=(8, 8),
                       batch_size=2, epochs=2, seed=4)
    one_process = distribution.Placement(tf.distribute.get_strategy(), "float32")
    train, validation = split(5), split(3)
    recorder = data.OrderRecorder()
    train_ds, validation_ds = data.fit_datasets(one_process, train, validation, config, 3, recorder)
    consumed = [int(v) for images, _ in train_ds for v in images[:, 0, 0, 0].numpy()]
    assert consumed == data.example_order(5, 4, 12).tolist()
    assert recorder.examples == 12
    assert [int(v) for images, _ in validation_ds for v in images[:, 0, 0, 0].numpy()] == [0, 1, 2]
    _, none = data.fit_datasets(one_process, train, split(0), config, 3, None)
    assert none is None


def test_image_cache_auto_keeps_a_split_in_memory_only_when_it_takes_at_most_half_the_available_memory():
    assert data.resolve_image_cache("auto", nbytes=50, available_bytes=100) == "memory"
    assert data.resolve_image_cache("auto", nbytes=51, available_bytes=100) == "disk"
    # What is configured stands, whatever the memory.
    assert data.resolve_image_cache("memory", nbytes=10**12, available_bytes=1) == "memory"
    assert data.resolve_image_cache("disk", nbytes=1, available_bytes=10**12) == "disk"
    # Without a figure it asks psutil: a few bytes always fit.
    assert data.resolve_image_cache("auto", nbytes=3) == "memory"
    with pytest.raises(ValueError, match="image_cache: 'ram' is not one of auto, memory, disk"):
        data.resolve_image_cache("ram", nbytes=1)
