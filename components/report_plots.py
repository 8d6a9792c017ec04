"""The report's pictures, drawn with matplotlib (no display needed): PNG bytes out."""

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only, never a window

from matplotlib import pyplot as plt

from components.verdict import Verdict
from trainer.contract import ALL_ARMS

# One colour per arm, the same in every picture (ColorBrewer Dark2).
_PALETTE = ("#d95f02", "#7570b3", "#1b9e77", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")
ARM_COLOURS = dict(zip(ALL_ARMS, _PALETTE))


def _png(figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return out.getvalue()


def training_curves(histories: dict[str, dict[str, Sequence[float]]]) -> bytes:
    """Loss and accuracy per epoch, training (solid) and validation (dashed), every arm on shared axes."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for metric, axis in zip(("loss", "accuracy"), axes):
        for arm, history in histories.items():
            colour = ARM_COLOURS.get(arm)
            for key, style, what in ((metric, "-", "train"), (f"val_{metric}", "--", "validation")):
                values = history.get(key) or []
                if values:
                    epochs = range(1, len(values) + 1)
                    axis.plot(epochs, values, style, color=colour, marker="o", markersize=3,
                              label=f"{arm}, {what}")
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        if metric == "accuracy":
            axis.set_ylim(0, 1.02)
    axes[0].legend(fontsize=8)
    figure.suptitle("Training curves (same data, same order, same initial backbone)")
    return _png(figure)


def sweep_plot(seeds: Sequence[int], verdicts: Sequence[Verdict]) -> bytes:
    """The sweep's figure (``sweep.png``): two panels, one group of bars per seed.

    Left, every arm's test accuracy with its 95 % Wilson interval; right, each candidate's paired difference
    from the baseline with its 95 % Newcombe interval.

    Args:
        seeds: the seeds, in run order.
        verdicts: each seed's verdict, in the same order.

    Returns:
        The PNG file's bytes.
    """
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    positions = list(range(len(seeds)))
    first = verdicts[0]
    arms = [first.baseline, *first.candidates]
    width = 0.6 / max(len(arms), 1)

    def errorbar(axis, arm, index, count, values, bounds, label):
        offset = (index - (count - 1) / 2) * width
        axis.errorbar([p + offset for p in positions], values,
                      yerr=[[v - b[0] for v, b in zip(values, bounds)], [b[1] - v for v, b in zip(values, bounds)]],
                      fmt="o", capsize=3, color=ARM_COLOURS.get(arm, "black"), label=label)

    for index, arm in enumerate(arms):
        errorbar(left, arm, index, len(arms), [v.arms[arm].accuracy for v in verdicts],
                 [v.arms[arm].ci95 for v in verdicts], arm)
    for index, arm in enumerate(first.candidates):
        errorbar(right, arm, index, len(first.candidates), [v.comparisons[arm].difference for v in verdicts],
                 [v.comparisons[arm].difference_ci95 for v in verdicts], f"{arm} - {first.baseline}")
    left.set_ylabel("test accuracy (95% Wilson CI)")
    left.set_ylim(0, 1.02)
    right.axhline(0, color="grey", linewidth=1)
    right.set_ylabel(f"candidate - {first.baseline} (95% Newcombe CI)")
    for axis in (left, right):
        axis.set_xticks(positions)
        axis.set_xticklabels([str(s) for s in seeds])
        axis.set_xlabel("seed")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("Repeated seeds, paired on the same test examples")
    return _png(figure)
