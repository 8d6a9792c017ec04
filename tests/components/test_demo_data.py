"""components.demo_data: determinism, layout, the class cue, the special files' outcomes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from components import image_records as ir
from components.demo_data import CLASS_NAMES, SPECIAL_FILES, make_demo_dataset, render_image

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
    b = make_demo_dataset(str(tmp_path / "b"), per_class=4, seed=3)
    c = make_demo_dataset(str(tmp_path / "c"), per_class=4, seed=4)
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
            assert 150 <= min(result.height, result.width)
            assert max(result.height, result.width) <= 600
            assert max(result.height, result.width) / min(result.height, result.width) <= 2.5
            sizes.add((result.height, result.width))
            formats.add(result.image_format)
    assert len(sizes) > 20 and formats == {"jpeg", "png"}


def _lag1(g):
    g = g - g.mean()
    v = np.mean(g * g)
    return np.mean(g[:, 1:] * g[:, :-1]) / v, np.mean(g[1:, :] * g[:-1, :]) / v


def test_class_cue_lives_in_fine_detail():
    """Grain orientation: obvious at full size, gone after bilinear resize to 150x150."""
    import tensorflow as tf

    from components.demo_data import _grain

    for label, axis in ((0, 1), (1, 0)):
        img = render_image(np.random.default_rng([9, label]), label, 480, 480)
        gray = img.astype(np.float64).mean(axis=2)
        fine = gray[1:-1, 1:-1] - 0.25 * (gray[:-2, 1:-1] + gray[2:, 1:-1]
                                          + gray[1:-1, :-2] + gray[1:-1, 2:])
        along_x, along_y = _lag1(fine)
        # The grain's axis keeps a clearly larger neighbour correlation.
        assert (along_x - along_y) * (1 if axis == 1 else -1) > 0.3, (along_x, along_y)

        grain = _grain(np.random.default_rng([9, label]), 480, 480, axis)
        assert abs(_lag1(grain)[0 if axis == 1 else 1] - 0.5) < 0.03
        small = tf.image.resize(grain[None, ..., None], (150, 150), method="bilinear")
        assert max(abs(c) for c in _lag1(small.numpy()[0, ..., 0])) < 0.05


@pytest.mark.parametrize("max_pixels", [ir.DEFAULT_MAX_PIXELS, 40_000_000, 10**12])
def test_special_files_outcomes_do_not_depend_on_max_pixels(tmp_path, max_pixels):
    make_demo_dataset(str(tmp_path), per_class=1, seed=0)
    for rel, (outcome, reason) in SPECIAL_FILES.items():
        with open(tmp_path / rel, "rb") as f:
            result = ir.normalize_image(f.read(), max_pixels=max_pixels)
        assert (result.outcome, result.reason) == (outcome, reason), rel
