"""Every view of the verdict, rendered in one place: the closing table, both report templates and the sweep.

A view is a table: :func:`verdict_table` (one row per arm: accuracy, difference, p raw / Holm, parameters,
FLOPs, latency, gate) and :func:`seeds_table` / :func:`across_seeds_table` (the sweep).  Each table is built from
a list of :class:`Column` s, and rendered as aligned text (:func:`text_table`), Markdown
(:func:`markdown_table`) or HTML rows (the templates loop over ``headers`` and ``rows``).  A new figure in
the verdict is a field of its record (``components/verdict.py``) and a column here.
"""

import dataclasses
from collections.abc import Callable, Sequence

from components.rendering import count, flops, interval, num, pval, signed
from components.verdict import AcrossSeeds, ArmResult, Comparison, Verdict

# --- numbers ----------------------------------------------------------------------------------------------

def mean_std(stats, signed_mean=False, digits=3):
    """``0.912 ± 0.014``: ``stats["mean"]`` (signed for a difference), and ``stats["std"]`` when there is one."""
    mean = (signed if signed_mean else num)(stats["mean"], digits)
    return mean + ("" if stats.get("std") is None else f" ± {stats['std']:.{digits}f}")


# --- tables ------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Column:
    """One column of a view: its ``header``, and ``cell(*item)`` -> the cell's text for one row's item."""

    header: str
    cell: Callable


@dataclasses.dataclass(frozen=True)
class Table:
    """A view's cells as text: ``headers`` and ``rows`` (each a tuple with one cell per header)."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def _table(columns: Sequence[Column], items: Sequence) -> Table:
    return Table(tuple(c.header for c in columns), tuple(tuple(str(c.cell(*item)) for c in columns) for item in items))


def _role(arm: ArmResult, comparison: Comparison | None, verdict: Verdict) -> str:
    if arm.role == "baseline":
        return "baseline"
    if arm.arm == verdict.chosen:
        return "chosen"
    return "passes" if comparison.passes else "fails"


def _latency(arm: ArmResult, comparison, verdict) -> str:
    if arm.latency is None:
        return "n/a"
    return f"{arm.latency.median_ms:.1f} ({arm.latency.p25_ms:.1f}-{arm.latency.p75_ms:.1f})"


def _latency_ratio(arm: ArmResult, comparison, verdict) -> str:
    return "n/a" if arm.latency is None or arm.latency.ratio is None else f"{arm.latency.ratio:.2f}x"


VERDICT_COLUMNS = (
    Column("arm", lambda a, c, v: a.arm),
    Column("accuracy (95% CI)", lambda a, c, v: f"{num(a.accuracy)} {interval(a.ci95)}"),
    Column("difference (95% CI)", lambda a, c, v: "" if c is None else
           f"{signed(c.difference)} {interval(c.difference_ci95, True)}"),
    Column("McNemar p (Holm)", lambda a, c, v: "" if c is None else f"{pval(c.mcnemar_p)} ({pval(c.holm_p)})"),
    Column("resizer params", lambda a, c, v: count(a.cost.resizer_parameters)),
    Column("FLOPs/image (resizer)", lambda a, c, v: f"{flops(a.cost.model_flops)} ({flops(a.cost.resizer_flops)})"),
    Column("latency ms (IQR)", _latency),
    Column("latency / baseline", _latency_ratio),
    Column("gate", _role),
)


def verdict_table(verdict: Verdict) -> Table:
    """One row per arm: the baseline first, then the candidates in their order."""
    items = [(verdict.arms[arm], verdict.comparisons.get(arm), verdict)
             for arm in (verdict.baseline, *verdict.candidates)]
    return _table(VERDICT_COLUMNS, items)


SEED_COLUMNS = (
    Column("seed", lambda seed, arm, v: seed),
    Column("candidate", lambda seed, arm, v: arm),
    Column("n", lambda seed, arm, v: v.n),
    Column("candidate (95% CI)", lambda seed, arm, v: f"{num(v.arms[arm].accuracy, 3)} {interval(v.arms[arm].ci95)}"),
    Column("baseline (95% CI)", lambda seed, arm, v:
           f"{num(v.arms[v.baseline].accuracy, 3)} {interval(v.arms[v.baseline].ci95)}"),
    Column("difference (95% CI)", lambda seed, arm, v:
           f"{signed(v.comparisons[arm].difference, 3)} {interval(v.comparisons[arm].difference_ci95, True)}"),
    Column("McNemar p (Holm)", lambda seed, arm, v:
           f"{pval(v.comparisons[arm].mcnemar_p)} ({pval(v.comparisons[arm].holm_p)})"),
    Column("gate", lambda seed, arm, v: "chosen" if arm == v.chosen else
           "passes" if v.comparisons[arm].passes else "fails"),
)


def seeds_table(seeds: Sequence[int], verdicts: Sequence[Verdict]) -> Table:
    """One row per seed and candidate."""
    return _table(SEED_COLUMNS, [(seed, arm, v) for seed, v in zip(seeds, verdicts) for arm in v.candidates])


ACROSS_SEEDS_COLUMNS = (
    Column("candidate", lambda s: s.candidate),
    Column("candidate accuracy", lambda s: mean_std(s.candidate_accuracy)),
    Column("baseline accuracy", lambda s: mean_std(s.baseline_accuracy)),
    Column("difference", lambda s: mean_std(s.difference, signed_mean=True)),
    Column("better / worse", lambda s: f"{s.wins} / {s.losses} of {len(s.seeds)}"),
    Column("t-test p (Holm)", lambda s: f"{pval(s.p_value)} ({pval(s.holm_p)})"),
)


def across_seeds_table(summaries: Sequence[AcrossSeeds]) -> Table:
    """One row per candidate: mean ± std over seeds, wins and losses, the t-test."""
    return _table(ACROSS_SEEDS_COLUMNS, [(s,) for s in summaries])


# --- renderers -------------------------------------------------------------------------------------------------

def text_table(table: Table, indent: str = "  ") -> list[str]:
    """Aligned plain-text lines (the terminal's closing table)."""
    widths = [max(len(h), *(len(row[i]) for row in table.rows)) for i, h in enumerate(table.headers)]
    lines = [indent + "  ".join(h.ljust(w) for h, w in zip(table.headers, widths)).rstrip()]
    lines += [indent + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table.rows]
    return lines


def markdown_table(table: Table) -> str:
    """The table in Markdown (a header row, its rule, one row per item), lines joined by newlines."""
    lines = ["| " + " | ".join(table.headers) + " |", "|" + "---|" * len(table.headers)]
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join(lines)


def latency_note(verdict: Verdict) -> str:
    """How the latency column was measured, in one sentence."""
    setup = verdict.latency
    if setup is None:
        return "Latency not measured (evaluation.latency_calls 0)."
    return (f"Latency: serving_default on one {setup.image_bytes:,}-byte test image at batch {setup.batch_size}, "
            f"median of {setup.calls} calls per arm after {setup.warmup} warm-up calls, arms interleaved call by "
            f"call, in the comparison's process on {setup.cpu}; interquartile range in brackets; latency / baseline "
            f"is the ratio of the medians.")
