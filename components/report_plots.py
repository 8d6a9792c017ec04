"""The report's pictures, drawn with matplotlib (no display needed): PNG bytes out."""

import io
from typing import Dict, Sequence

import matplotlib

matplotlib.use("Agg")  # files only, never a window

from matplotlib import pyplot as plt  # noqa: E402

from trainer.contract import BASELINE_ARM, CANDIDATE_ARM  # noqa: E402

ARM_COLOURS = {CANDIDATE_ARM: "#d95f02", BASELINE_ARM: "#1b9e77"}
ARM_LABELS = {CANDIDATE_ARM: "learnable resizer", BASELINE_ARM: "bilinear baseline"}


def _png(figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return out.getvalue()


def training_curves(histories: Dict[str, Dict[str, Sequence[float]]]) -> bytes:
    """Loss and accuracy per epoch, training (solid) and validation (dashed), both arms on shared axes."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for metric, axis in zip(("loss", "accuracy"), axes):
        for arm, history in histories.items():
            colour = ARM_COLOURS.get(arm)
            for key, style, what in ((metric, "-", "train"), (f"val_{metric}", "--", "validation")):
                values = history.get(key) or []
                if values:
                    epochs = range(1, len(values) + 1)
                    axis.plot(epochs, values, style, color=colour, marker="o", markersize=3,
                              label=f"{ARM_LABELS.get(arm, arm)}, {what}")
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        if metric == "accuracy":
            axis.set_ylim(0, 1.02)
    axes[0].legend(fontsize=8)
    figure.suptitle("Training curves (same data, same order, same initial backbone)")
    return _png(figure)


def sweep_plot(seeds: Sequence[int], comparisons: Sequence[dict]) -> bytes:
    """Per seed: both arms' test accuracy with 95 % Wilson intervals, and the paired difference with its interval."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    positions = list(range(len(seeds)))
    for offset, (arm, key) in zip((-0.1, 0.1), ((CANDIDATE_ARM, "candidate"), (BASELINE_ARM, "baseline"))):
        values = [c[key]["accuracy"] for c in comparisons]
        low = [v - c[key]["ci95"][0] for v, c in zip(values, comparisons)]
        high = [c[key]["ci95"][1] - v for v, c in zip(values, comparisons)]
        left.errorbar([p + offset for p in positions], values, yerr=[low, high], fmt="o", capsize=3,
                      color=ARM_COLOURS[arm], label=ARM_LABELS[arm])
    left.set_ylabel("test accuracy (95% Wilson CI)")
    left.set_ylim(0, 1.02)
    left.legend(fontsize=8)
    differences = [c["difference"] for c in comparisons]
    low = [d - c["difference_ci95"][0] for d, c in zip(differences, comparisons)]
    high = [c["difference_ci95"][1] - d for d, c in zip(differences, comparisons)]
    right.errorbar(positions, differences, yerr=[low, high], fmt="o", capsize=3, color="black")
    right.axhline(0, color="grey", linewidth=1)
    right.set_ylabel("resizer - bilinear (95% Newcombe CI)")
    for axis in (left, right):
        axis.set_xticks(positions)
        axis.set_xticklabels([str(s) for s in seeds])
        axis.set_xlabel("seed")
        axis.grid(alpha=0.3)
    figure.suptitle("Repeated seeds, paired on the same test examples")
    return _png(figure)
