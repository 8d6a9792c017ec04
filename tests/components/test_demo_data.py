"""components.demo_data: determinism, layout, the class cue, the special files' outcomes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from components import image_records as ir
from components.demo_data import CLASS_NAMES, SPECIAL_FILES, make_demo_dataset, size_problem
from trainer import contract

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tree_digest(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_same_seed_gives_byte_identical_files(tmp_path):
    a = make_demo_dataset(str(tmp_path / "a"), per_class=4, seed=3)
    for name, seed in (("b", 3), ("c", 4)):
        make_demo_dataset(str(tmp_path / name), per_class=4, seed=seed)
    da, db, dc = (_tree_digest(str(tmp_path / x)) for x in "abc")
    assert da == db
    assert da != dc
    assert a["total_files"] == len(da) == 8 + len(SPECIAL_FILES)
    assert a["synthetic"] is True and a["class_names"] == list(CLASS_NAMES)


def test_command_line(tmp_path):
    out = tmp_path / "cli"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "make_demo_data.py"), "--output", str(out),
         "--per-class", "3", "--seed", "5", "--no-specials"],
        capture_output=True, text=True, check=True, cwd=str(tmp_path))
    assert '"synthetic": true' in proc.stdout
    assert sorted(os.listdir(out)) == sorted(CLASS_NAMES)
    assert all(len(os.listdir(out / name)) == 3 for name in CLASS_NAMES)


def test_regular_images_are_varied_and_valid(tmp_path):
    make_demo_dataset(str(tmp_path), per_class=12, seed=1, specials=False)
    sizes, formats = set(), set()
    for name in CLASS_NAMES:
        for filename in os.listdir(tmp_path / name):
            with open(tmp_path / name / filename, "rb") as f:
                result = ir.normalize_image(f.read())
            assert result.outcome == ir.KEPT, filename
            sizes.add((result.height, result.width))
            formats.add(result.image_format)
    # Sides of 300 or 600 px, so Transform's stretch to 300x300 keeps the stripes exact.
    assert sizes == {(300, 300), (300, 600), (600, 300), (600, 600)}
    assert formats == {"jpeg", "png"}


def _stripe_statistic(images):
    """Row-to-row minus column-to-column difference energy: > 0 for horizontal stripes, < 0 for vertical."""
    gray = np.asarray(images, np.float64).mean(axis=-1)  # (N, H, W)
    row_to_row = np.mean(np.diff(gray, axis=1) ** 2, axis=(1, 2))
    column_to_column = np.mean(np.diff(gray, axis=2) ** 2, axis=(1, 2))
    return row_to_row - column_to_column


@pytest.fixture(scope="module")
def demo_at_300(tmp_path_factory):
    """(images as Transform hands them to every arm: 300x300 float in [0, 255], labels) of a small demo set."""
    import tensorflow as tf

    from trainer.image_decoding import decode_and_resize

    folder = tmp_path_factory.mktemp("demo")
    make_demo_dataset(str(folder), per_class=12, seed=5, specials=False)
    encoded, labels = [], []
    for label, name in enumerate(CLASS_NAMES):
        for filename in sorted(os.listdir(folder / name)):
            encoded.append((folder / name / filename).read_bytes())
            labels.append(label)
    return decode_and_resize(tf.constant(encoded), (300, 300)).numpy(), np.array(labels)


def _resized(arm, full, layer_weights=None):
    import tensorflow as tf

    from trainer.config import TrainingConfig
    from trainer.resizers import build_resizer

    stage = build_resizer(TrainingConfig().for_arm(arm))
    stage.build(full.shape)
    for variable, value in zip(stage.trainable_weights, layer_weights or []):
        variable.assign(value)
    return stage(tf.constant(full / 255.0)).numpy() * 255.0


def test_class_cue_survives_transform_and_dies_at_150(demo_at_300):
    """The real path: file -> Transform's 300x300 stretch (what the resizer sees) -> the baseline's 150x150."""
    full, labels = demo_at_300
    small = _resized(contract.BILINEAR_BASELINE_ARM, full)
    assert small.shape == (len(labels), 150, 150, 3)

    at_300, at_150 = _stripe_statistic(full), _stripe_statistic(small)
    # At 300x300 the stripe orientation names the class for every image...
    assert np.all((at_300 > 0) == (labels == 0)), at_300
    # ...and the baseline's 2x2 average removes the stripes: < 0.1 % of their energy is left.
    assert np.median(np.abs(at_150)) < 1e-3 * np.median(np.abs(at_300)), (at_150, at_300)


@pytest.mark.parametrize("arm, layer_weights", [
    *((arm, None) for arm in contract.FIXED_ARMS if arm != contract.BILINEAR_BASELINE_ARM),
    (contract.MULLER_ARM, [3.0, -2.0, 0.1, -0.1]),  # trained-like weights and biases: w1, w2, b1, b2
])
def test_the_cue_dies_in_every_fixed_resize_and_muller_too_away_from_the_border(demo_at_300, arm, layer_weights):
    """So on this positive control only the learnable resizer (non-linear before its resize) can win."""
    full, labels = demo_at_300
    interior = _resized(arm, full, layer_weights)[:, 3:-3, 3:-3]
    at_300, at_150 = _stripe_statistic(full), _stripe_statistic(interior)
    assert np.median(np.abs(at_150)) < 1e-3 * np.median(np.abs(at_300)), (arm, at_150, at_300)


@pytest.mark.parametrize("max_pixels", [ir.DEFAULT_MAX_PIXELS, 40_000_000, 10**12])
def test_special_files_outcomes_do_not_depend_on_max_pixels(tmp_path, max_pixels):
    make_demo_dataset(str(tmp_path), per_class=1, seed=0)
    for rel, (outcome, reason) in SPECIAL_FILES.items():
        with open(tmp_path / rel, "rb") as f:
            result = ir.normalize_image(f.read(), max_pixels=max_pixels)
        assert (result.outcome, result.reason) == (outcome, reason), rel


def test_a_smaller_transform_side_keeps_the_cue_and_the_special_outcomes(tmp_path):
    """What the tests' small configurations (64x64 -> 32x32) train on: the same cue, drawn for their grid."""
    import tensorflow as tf

    from trainer.config import TrainingConfig
    from trainer.image_decoding import decode_and_resize
    from trainer.resizers import build_resizer

    summary = make_demo_dataset(str(tmp_path), per_class=8, seed=2, side=64)
    assert summary["side"] == 64
    encoded, labels, sizes = [], [], set()
    for label, name in enumerate(CLASS_NAMES):
        for filename in sorted(os.listdir(tmp_path / name)):
            data = (tmp_path / name / filename).read_bytes()
            if filename.startswith("special_"):
                continue
            sizes.add(ir.normalize_image(data).height)
            encoded.append(data)
            labels.append(label)
    assert sizes == {64, 128}
    full = decode_and_resize(tf.constant(encoded), (64, 64)).numpy()
    stage = build_resizer(TrainingConfig(image_size=(64, 64), target_size=(32, 32)).for_arm(
        contract.BILINEAR_BASELINE_ARM))
    small = stage(tf.constant(full / 255.0)).numpy() * 255.0
    at_64, at_32 = _stripe_statistic(full), _stripe_statistic(small)
    assert np.all((at_64 > 0) == (np.array(labels) == 0)), at_64
    # < 1 % of the stripes' energy is left (the rest is the background, about 5x steeper per pixel at this side).
    assert np.median(np.abs(at_32)) < 1e-2 * np.median(np.abs(at_64)), (at_32, at_64)
    for rel, (outcome, reason) in SPECIAL_FILES.items():
        result = ir.normalize_image((tmp_path / rel).read_bytes())
        assert (result.outcome, result.reason) == (outcome, reason), rel


@pytest.mark.parametrize("image_size, target_size, field", [
    ((300, 300), (150, 150), None),
    ((64, 64), (32, 32), None),
    ((300, 300), (224, 224), "training.target_size"),  # the baseline's 2x average no longer cancels the cue
    ((300, 300), (100, 100), "training.target_size"),
    ((300, 200), (150, 100), "training.image_size"),  # the stripes are drawn on a square grid
    ((301, 301), (150, 150), "training.image_size"),  # odd: no exact 2 px period
])
def test_size_problem_names_the_field_the_cue_cannot_survive(image_size, target_size, field):
    problem = size_problem(image_size, target_size)
    assert (problem[0] if problem else None) == field


@pytest.mark.parametrize("side", [0, 3, 299])
def test_an_odd_or_empty_side_is_refused(tmp_path, side):
    with pytest.raises(ValueError, match=f"side must be even and >= 2 .* got {side}"):
        make_demo_dataset(str(tmp_path), per_class=1, side=side)
