"""The report's pictures (components/report_plots.py): PNG bytes, every arm drawn in its own colour."""

import io

import numpy as np
from PIL import Image

from components import report_plots
from components.comparison_stats import PairedTable
from tests.components.test_verdict_text import make_verdict
from trainer.contract import ALL_ARMS, BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM


def pixels(png: bytes) -> np.ndarray:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def has_colour(image: np.ndarray, arm: str) -> bool:
    hex_colour = report_plots.ARM_COLOURS[arm].lstrip("#")
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (0, 2, 4)], np.int16)
    return bool((np.abs(image.astype(np.int16) - rgb).max(axis=-1) <= 2).any())


def test_every_arm_has_its_own_colour():
    assert set(report_plots.ARM_COLOURS) == set(ALL_ARMS)
    assert len(set(report_plots.ARM_COLOURS.values())) == len(ALL_ARMS)


def test_training_curves_draw_every_arm_and_skip_what_is_missing():
    histories = {
        BILINEAR_BASELINE_ARM: {"loss": [0.9, 0.6, 0.5], "val_loss": [0.8, 0.7, 0.7],
                                "accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.5, 0.6, 0.65]},
        LEARNABLE_RESIZER_ARM: {"loss": [1.0, 0.5, 0.3], "accuracy": [0.4, 0.8, 0.9]},  # no validation
    }
    image = pixels(report_plots.training_curves(histories))
    height, width, _ = image.shape
    assert width > 2 * height > 0  # two panels side by side
    assert has_colour(image, BILINEAR_BASELINE_ARM) and has_colour(image, LEARNABLE_RESIZER_ARM)
    assert not has_colour(image, MULLER_ARM)
    # An arm without any history is simply absent.
    empty = pixels(report_plots.training_curves({MULLER_ARM: {}}))
    assert not has_colour(empty, MULLER_ARM)


def test_sweep_plot_draws_the_baseline_and_every_candidate():
    verdicts = [make_verdict(), make_verdict({LEARNABLE_RESIZER_ARM: PairedTable(45, 25, 2, 8),
                                              MULLER_ARM: PairedTable(45, 3, 2, 30)})]
    image = pixels(report_plots.sweep_plot([0, 1], verdicts))
    for arm in (BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM):
        assert has_colour(image, arm), arm
