"""Which output split each record goes to, and the default splits (pure Python).

Image folders are split by hash buckets of each file's relative path
(:func:`assign_split`); files with identical bytes all take the split of the
first of their paths (sorted: ``components._ingest.group_duplicates``).  So
adding or removing files moves no other file, with one exception: when a copy
of a file (identical bytes) is added or removed under another name, the whole
group of identical files takes the split of its new first path, which can
move the files already there.  TFDS datasets are split by TFDS split strings
(``train[:40%]``).  The defaults here are the pipeline's defaults too
(``pipeline/config.py`` reads them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

from trainer.contract import TEST_SPLIT, TRAIN_SPLIT, VALIDATION_SPLIT

DEFAULT_SPLIT_BUCKETS = {TRAIN_SPLIT: 8, VALIDATION_SPLIT: 1, TEST_SPLIT: 1}
DEFAULT_TFDS_DATASET = "cats_vs_dogs"
# The seed's 40 % for training and 10 % for validation, plus a separate 10 % that only the gate reads.
DEFAULT_TFDS_SPLITS = {TRAIN_SPLIT: "train[:40%]", VALIDATION_SPLIT: "train[40%:50%]", TEST_SPLIT: "train[50%:60%]"}
# The published comparison's 90 % for training (Sayak Paul's repository), the rest halved.
HEADLINE_TFDS_SPLITS = {TRAIN_SPLIT: "train[:90%]", VALIDATION_SPLIT: "train[90%:95%]", TEST_SPLIT: "train[95%:]"}


def hash_bucket(key: str, num_buckets: int) -> int:
    """Deterministic bucket of ``key`` (SHA-256 of its UTF-8 bytes)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_buckets


def assign_split(relative_path: str, split_buckets: Sequence[tuple[str, int]]) -> str:
    """Split name for ``relative_path`` given ordered ``(name, buckets)`` pairs.

    The path is normalised to forward slashes, so the same tree gives the same
    splits on every OS and every run (Python's ``hash`` is salted per process;
    this is not).
    """
    total = sum(n for _, n in split_buckets)
    bucket = hash_bucket(relative_path.replace("\\", "/"), total)
    upper = 0
    for name, n in split_buckets:
        upper += n
        if bucket < upper:
            return name
    raise AssertionError("unreachable")


def parse_split_buckets(split_buckets: dict[str, int] | Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Validates ``{"train": 8, "validation": 1, "test": 1}`` into an ordered list of pairs."""
    items = list(split_buckets.items() if isinstance(split_buckets, dict) else split_buckets)
    if not items:
        raise ValueError("split_buckets must name at least one split")
    seen = set()
    for name, n in items:
        if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
            raise ValueError(f"bad split name {name!r} (letters, digits, '_')")
        if name in seen:
            raise ValueError(f"duplicate split name {name!r}")
        seen.add(name)
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise ValueError(f"split {name!r}: buckets must be a positive int, got {n!r}")
    return [(str(name), int(n)) for name, n in items]


def parse_tfds_splits(splits: dict[str, str] | str) -> list[tuple[str, str]]:
    """Validates ``{"train": "train[:40%]", ...}`` (or its JSON) into ordered pairs."""
    if isinstance(splits, str):
        splits = json.loads(splits)
    if not isinstance(splits, dict) or not splits:
        raise ValueError(f"splits must be a non-empty mapping, got {splits!r}")
    parse_split_buckets({name: 1 for name in splits})  # the same name rules
    for name, spec in splits.items():
        if not isinstance(spec, str) or not spec.strip():
            raise ValueError(f"split {name!r}: TFDS split must be a non-empty string")
    return [(str(k), str(v)) for k, v in splits.items()]
