"""components.splits: hash-bucket splits (stable, OS-independent), split and TFDS-split validation."""

import collections

import pytest

from components import splits


def test_split_ratios_on_1000_paths():
    buckets = [("train", 8), ("eval", 2)]
    counts = collections.Counter(
        splits.assign_split(f"class_{i % 3}/img_{i:05d}.jpg", buckets) for i in range(1000))
    # Binomial sd = sqrt(1000 * .8 * .2) = 12.6; allow 4 sd.
    assert abs(counts["train"] - 800) <= 50, counts
    assert counts["train"] + counts["eval"] == 1000
    three = collections.Counter(
        splits.assign_split(f"c/{i}.png", [("train", 90), ("eval", 5), ("test", 5)])
        for i in range(1000))
    assert abs(three["train"] - 900) <= 40 and three["eval"] > 20 and three["test"] > 20


def test_split_is_stable_and_os_independent():
    buckets = [("train", 8), ("eval", 2)]
    # Pinned values: a change here would re-split every existing dataset.
    assert [splits.hash_bucket(f"cat/{i:04d}.jpg", 10) for i in range(12)] == [
        3, 1, 9, 7, 6, 3, 6, 1, 5, 4, 3, 1]
    assert splits.hash_bucket("cat/0001.jpg", 1000003) == 756649
    assert splits.assign_split("cat/0002.jpg", buckets) == "eval"  # bucket 9 of 10
    assert splits.assign_split("cat/0000.jpg", buckets) == "train"  # bucket 3
    assert splits.assign_split("cat\\0001.jpg", buckets) == splits.assign_split("cat/0001.jpg", buckets)
    assert [splits.assign_split(f"x/{i}", buckets) for i in range(50)] == [
        splits.assign_split(f"x/{i}", buckets) for i in range(50)]


@pytest.mark.parametrize("bad", [{}, {"train": 0}, {"train": -1}, {"tr ain": 1},
                                 {"train": 1.5}, {"": 1}, {"train": True}])
def test_parse_split_buckets_rejects(bad):
    with pytest.raises(ValueError):
        splits.parse_split_buckets(bad)


def test_parse_split_buckets_keeps_order():
    assert splits.parse_split_buckets({"eval": 2, "train": 8}) == [("eval", 2), ("train", 8)]


def test_tfds_splits_validation_and_defaults():
    assert splits.parse_tfds_splits(splits.DEFAULT_TFDS_SPLITS) == list(splits.DEFAULT_TFDS_SPLITS.items())
    assert splits.parse_tfds_splits('{"b": "train[:1%]", "a": "train[1%:]"}') == [
        ("b", "train[:1%]"), ("a", "train[1%:]")]
    for bad in ({}, {"train": ""}, {"bad name": "train"}, '["train"]'):
        with pytest.raises((ValueError, TypeError)):
            splits.parse_tfds_splits(bad)


def test_default_buckets_are_valid():
    assert dict(splits.parse_split_buckets(splits.DEFAULT_SPLIT_BUCKETS)) == splits.DEFAULT_SPLIT_BUCKETS
