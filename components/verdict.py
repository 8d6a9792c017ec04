"""The verdict: every candidate arm against the baseline on one split, and which one to ship, as typed records.

Each candidate is compared with the baseline on the same examples (``components/comparison_stats.py``:
Wilson intervals, Newcombe's paired interval, the exact McNemar test).  With several candidates the McNemar
p-values are adjusted by Holm's step-down method, so the chance of blessing any candidate that is not better
stays at most ``significance_level`` however many candidates there are.

The gate, per candidate: its accuracy reaches ``accuracy_floor``; its difference from the baseline is strictly
above ``accuracy_margin`` (a tie never passes); and, when ``significance_level`` > 0, its Holm-adjusted p is
below that level with the candidate the better model.  Among the candidates that pass, the most accurate is
chosen, a tie going to the lower serving latency (then to the order of ``training.candidates``).  The verdict
says why in one sentence (:attr:`Verdict.rule`), naming the runner-up.

:class:`Verdict` is what ``comparison.json`` holds and what every view renders (``components/verdict_text.py``:
the closing table, both report templates, the sweep).
"""

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from components.comparison_stats import (
    PairedTable,
    holm_adjust,
    mcnemar_exact_p,
    newcombe_paired_interval,
    wilson_interval,
)
from components.rendering import signed

Interval = tuple[float, float]


class Record(BaseModel):
    """Frozen, no unknown fields; ``to_dict`` / ``from_dict`` are the JSON round trip."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, values: dict):
        return cls.model_validate(values)


class Gate(Record):
    """When a candidate passes (``pipeline.config.EvalConfig``'s fields)."""

    accuracy_margin: float = 0.0
    accuracy_floor: float = 0.0
    significance_level: float = 0.05


class Cost(Record):
    """What an arm costs per image: counted from its graph by its Trainer (``trainer/cost.py``)."""

    parameters: int | None = None  # the whole classifier
    resizer_parameters: int | None = None  # trainable weights of the resizing stage
    resizer_flops: int | None = None
    model_flops: int | None = None


class Latency(Record):
    """Serving latency of ``serving_default`` at batch 1, milliseconds (``serving/latency.py``)."""

    median_ms: float
    p25_ms: float
    p75_ms: float
    calls: int
    ratio: float | None = None  # median over the baseline's median

    @classmethod
    def from_figures(cls, figures: dict, baseline_median_ms: float) -> "Latency":
        """From :func:`serving.latency.latency_figures` of one arm, and the baseline's median."""
        return cls(ratio=figures["median_ms"] / baseline_median_ms,
                   **{k: figures[k] for k in cls.model_fields if k != "ratio"})


class LatencySetup(Record):
    """How latency was measured: in the comparison's process, arms interleaved call by call."""

    batch_size: int = 1
    calls: int
    warmup: int
    image_bytes: int  # the encoded test image sent
    cpu: str


class ArmResult(Record):
    """One arm on the split: accuracy with its 95 % Wilson interval, and its cost."""

    arm: str
    role: Literal["baseline", "candidate"]
    n: int
    correct: int
    accuracy: float | None
    ci95: Interval
    tfma_accuracy: float | None = None
    cost: Cost = Cost()
    latency: Latency | None = None


class Comparison(Record):
    """One candidate against the baseline on the same ``n`` examples."""

    candidate: str
    baseline: str
    n: int
    difference: float | None  # candidate accuracy minus baseline accuracy
    difference_ci95: Interval  # Newcombe's paired interval
    only_candidate_right: int
    only_baseline_right: int
    mcnemar_p: float  # exact, two-sided
    holm_p: float  # adjusted over every candidate
    significant: bool  # holm_p < significance_level with the candidate better (never when the level is 0)
    passes: bool  # the whole gate
    reason: str  # why it passes or not, one phrase


class Verdict(Record):
    """Every arm, every candidate's comparison, the chosen candidate (or None) and the rule that decided."""

    split: str
    n: int
    baseline: str
    candidates: tuple[str, ...]
    arms: dict[str, ArmResult]
    comparisons: dict[str, Comparison]
    gate: Gate
    chosen: str | None
    runner_up: str | None
    blessed: bool
    rule: str
    latency: LatencySetup | None = None

    @property
    def headline(self) -> str | None:
        """The candidate the single-comparison views show: the chosen one, else the best ranked."""
        return self.chosen or (self.ranked()[0] if self.candidates else None)

    def ranked(self) -> list[str]:
        """Candidates best first: passing before failing, then accuracy, then lower latency, then config order."""
        def key(arm):
            result, comparison = self.arms[arm], self.comparisons[arm]
            ratio = result.latency.ratio if result.latency and result.latency.ratio is not None else math.inf
            return (not comparison.passes, -(result.accuracy or 0.0), ratio, self.candidates.index(arm))
        return sorted(self.candidates, key=key)


# --- building the verdict ---------------------------------------------------------------------------------

def arm_result(arm: str, role: str, right: Sequence[bool], tfma_accuracy=None, cost: Cost | None = None,
               latency: Latency | None = None) -> ArmResult:
    """``right``: per example, whether the arm's class was the label."""
    n, correct = len(right), int(sum(bool(r) for r in right))
    return ArmResult(arm=arm, role=role, n=n, correct=correct, accuracy=correct / n if n else None,
                     ci95=wilson_interval(correct, n), tfma_accuracy=tfma_accuracy, cost=cost or Cost(),
                     latency=latency)


def _p(value):
    return f"{value:.3g}"


def evidence(comparison: Comparison, arms: dict[str, ArmResult], several: bool) -> str:
    """``accuracy 0.968, difference +0.312 (95% CI +0.21..+0.41), McNemar p = 1e-09 (Holm 2e-09)``."""
    low, high = comparison.difference_ci95
    holm = f" (Holm {_p(comparison.holm_p)})" if several else ""
    return (f"accuracy {arms[comparison.candidate].accuracy:.3f}, difference {signed(comparison.difference, 3)} "
            f"(95% CI {signed(low, 3)}..{signed(high, 3)}), McNemar p = {_p(comparison.mcnemar_p)}{holm}")


def gate_reason(accuracy: float, difference: float, holm_p: float, gate: Gate,
                candidates: int = 1) -> tuple[bool, bool, str]:
    """(passes, significant, reason) of one candidate; ``holm_p`` is adjusted over ``candidates``."""
    alpha = gate.significance_level
    p = "Holm p" if candidates > 1 else "p"
    significant = alpha > 0 and holm_p < alpha and difference > 0
    if accuracy < gate.accuracy_floor:
        return False, significant, f"accuracy {accuracy:.3f} is below the floor {gate.accuracy_floor:g}"
    if not difference > gate.accuracy_margin:
        what = ("a tie" if difference == 0 else
                "the candidate is worse" if difference < 0 else "the difference is too small")
        return False, significant, f"{what}: it must be > margin {gate.accuracy_margin:g}"
    if alpha > 0 and not holm_p < alpha:
        return False, False, f"{p} = {_p(holm_p)} >= {alpha:g}, so the difference is not significant"
    if alpha > 0 and not difference > 0:
        # A negative margin tolerates a loss, but a significant difference must favour the candidate.
        return False, False, "significant, but in the baseline's favour"
    test = f"{p} < {alpha:g}" if alpha > 0 else "no significance test (significance_level 0)"
    return True, significant, f"above margin {gate.accuracy_margin:g} and {test}"


def decide(split: str, baseline: ArmResult, candidates: Sequence[ArmResult], tables: dict[str, PairedTable],
           gate: Gate, latency: LatencySetup | None = None) -> Verdict:
    """The verdict over ``candidates`` (in ``training.candidates`` order), each against ``baseline``.

    Args:
        split: the split compared.
        baseline: the baseline's result.
        candidates: each candidate's result, in ``training.candidates`` order.
        tables: per candidate, its paired table against the baseline on the same examples.
        gate: the margin, floor and significance level a candidate must pass.
        latency: how latency was measured; None: not measured.

    Returns:
        The :class:`Verdict`: every comparison (McNemar p raw and Holm-adjusted), the chosen candidate (or
        None) and the rule in one sentence.

    Raises:
        ValueError: there is no candidate, or a table's n differs from the baseline's.
    """
    if not candidates:
        raise ValueError("a verdict needs at least one candidate")
    n = baseline.n
    names = [c.arm for c in candidates]
    for arm in names:
        if tables[arm].n != n:
            raise ValueError(f"{arm}: {tables[arm].n} paired examples, the baseline has {n}")
    raw = [mcnemar_exact_p(tables[arm]) for arm in names]
    holm = holm_adjust(raw)
    comparisons = {}
    for result, p, adjusted in zip(candidates, raw, holm):
        table = tables[result.arm]
        difference = (table.candidate_right - table.baseline_right) / n if n else None
        passes, significant, reason = (gate_reason(result.accuracy, difference, adjusted, gate, len(names)) if n
                                       else (False, False, "no examples to compare"))
        comparisons[result.arm] = Comparison(
            candidate=result.arm, baseline=baseline.arm, n=n, difference=difference,
            difference_ci95=newcombe_paired_interval(table), only_candidate_right=table.only_candidate_right,
            only_baseline_right=table.only_baseline_right, mcnemar_p=p, holm_p=adjusted, significant=significant,
            passes=passes, reason=reason)
    arms = {baseline.arm: baseline, **{c.arm: c for c in candidates}}
    draft = Verdict(split=split, n=n, baseline=baseline.arm, candidates=tuple(names), arms=arms,
                    comparisons=comparisons, gate=gate, chosen=None, runner_up=None, blessed=False, rule="",
                    latency=latency)
    ranked = draft.ranked()
    chosen = ranked[0] if comparisons[ranked[0]].passes else None
    runner_up = ranked[1] if chosen and len(ranked) > 1 else None
    return draft.model_copy(update={"chosen": chosen, "runner_up": runner_up, "blessed": chosen is not None,
                                    "rule": _rule(draft, chosen, ranked)})


def _rule(verdict: Verdict, chosen: str | None, ranked: list[str]) -> str:
    several = len(verdict.candidates) > 1
    comparisons, arms, n = verdict.comparisons, verdict.arms, verdict.n
    if not n:
        return "not blessed: no examples to compare"
    if chosen is None:
        if not several:
            arm = ranked[0]
            return (f"not blessed: {arm}: {evidence(comparisons[arm], arms, several)}, n = {n}; "
                    f"{comparisons[arm].reason}")
        parts = [f"{arm}: {evidence(comparisons[arm], arms, several)}; {comparisons[arm].reason}" for arm in ranked]
        return (f"not blessed: no candidate passes the gate against {verdict.baseline} (Holm over {len(ranked)}), "
                f"n = {n}: {' | '.join(parts)}")
    c = comparisons[chosen]
    sentence = f"blessed {chosen}: {evidence(c, arms, several)}, n = {n}; {c.reason}"
    if not several:
        return sentence
    passing = [arm for arm in ranked if comparisons[arm].passes]
    runner_up = ranked[1]
    r = comparisons[runner_up]
    runner = f"runner-up {runner_up}: accuracy {arms[runner_up].accuracy:.3f}, difference {signed(r.difference, 3)}"
    if len(passing) == 1:
        return f"{sentence}; the only candidate that passes ({runner}: {r.reason})"
    if arms[chosen].accuracy == arms[runner_up].accuracy:
        ratio = [arms[a].latency.ratio if arms[a].latency else None for a in (chosen, runner_up)]
        why = (f"tied on accuracy with {runner_up}, chosen for its lower serving latency ({ratio[0]:.2f}x vs "
               f"{ratio[1]:.2f}x the baseline's)" if None not in ratio and ratio[0] != ratio[1]
               else f"tied on accuracy and latency with {runner_up}, chosen by the order of training.candidates")
        return f"{sentence}; {why}"
    return f"{sentence}; the most accurate of {len(passing)} candidates that pass ({runner}, Holm p = {_p(r.holm_p)})"


# --- across repeated seeds ------------------------------------------------------------------------------------

class AcrossSeeds(Record):
    """One candidate against the baseline over repeated seeds: the per-seed differences and a t-test of them."""

    candidate: str
    baseline: str
    seeds: tuple[int, ...]
    differences: tuple[float, ...]
    candidate_accuracy: dict[str, float | None]  # mean, std over seeds
    baseline_accuracy: dict[str, float | None]
    difference: dict[str, float | None]
    wins: int
    losses: int
    p_value: float | None  # one-sample t-test of the differences against 0
    holm_p: float | None  # adjusted over every candidate
    verdict: str
    test: str = "one-sample t-test of the per-seed paired differences against 0, Holm-adjusted across candidates"


def across_seeds(seeds: Sequence[int], verdicts: Sequence[Verdict], significance_level: float) -> list[AcrossSeeds]:
    """Per candidate (in the verdicts' order): mean and std of each arm and of the difference, t-test, Holm."""
    from components.comparison_stats import mean_std, seeds_ttest

    first = verdicts[0]
    out = []
    for arm in first.candidates:
        differences = [v.comparisons[arm].difference for v in verdicts]
        out.append(dict(
            candidate=arm, baseline=first.baseline, seeds=tuple(seeds), differences=tuple(differences),
            candidate_accuracy=mean_std([v.arms[arm].accuracy for v in verdicts]),
            baseline_accuracy=mean_std([v.arms[first.baseline].accuracy for v in verdicts]),
            difference=mean_std(differences), wins=sum(d > 0 for d in differences),
            losses=sum(d < 0 for d in differences), p_value=seeds_ttest(differences)))
    tested = [entry for entry in out if entry["p_value"] is not None]
    for entry, adjusted in zip(tested, holm_adjust([entry["p_value"] for entry in tested])):
        entry["holm_p"] = adjusted
    several = len(out) > 1
    for entry in out:
        entry.setdefault("holm_p", None)
        entry["verdict"] = _seeds_sentence(entry, significance_level, several)
    return [AcrossSeeds(**entry) for entry in out]


def _seeds_sentence(entry: dict, alpha: float, several: bool) -> str:
    mean, count = entry["difference"]["mean"], len(entry["seeds"])
    record = (f"mean difference {signed(mean, 3)} over {count} seeds (better on {entry['wins']}, worse on "
              f"{entry['losses']})")
    if entry["p_value"] is None:
        return f"{entry['candidate']}: one seed only: difference {signed(mean, 3)}; repeat with more seeds to test it"
    p = entry["holm_p"] if several else entry["p_value"]
    test = f"paired t-test p = {_p(entry['p_value'])}" + (f", Holm {_p(p)}" if several else "")
    if p < alpha and mean > 0:
        return f"{entry['candidate']} is better than {entry['baseline']}: {record}, {test} < {alpha:g}"
    if p < alpha and mean < 0:
        return f"{entry['baseline']} is better than {entry['candidate']}: {record}, {test} < {alpha:g}"
    return f"{entry['candidate']}: no significant difference from {entry['baseline']}: {record}, {test} >= {alpha:g}"
