"""Paired statistics for "does the candidate beat the baseline on the same examples?".

Both models predict every example of one split, so each example is a pair
(candidate right?, baseline right?).  From the 2x2 table of those pairs:

* each model's accuracy with a 95 % **Wilson** score interval;
* the paired difference of accuracies with a 95 % interval by **Newcombe's**
  square-and-add method for paired proportions (Newcombe 1998, method 10:
  the two Wilson intervals combined with the estimated correlation between
  the two proportions);
* the **exact McNemar** test: under "no difference" the discordant pairs
  (one model right, the other wrong) split 50:50, so the two-sided p-value is
  a binomial test over them.

:func:`decide` turns these into the gate's verdict and says which rule decided
in one sentence.  :func:`summarise_seeds` does the same across repeated seeds.
"""

import dataclasses
import math
from typing import Dict, List, Optional, Sequence

from scipy import stats

CONFIDENCE = 0.95


def _z(confidence=CONFIDENCE):
    return stats.norm.ppf(1 - (1 - confidence) / 2)


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE):
    """Wilson score interval for ``successes / n``; ``(0.0, 1.0)`` when ``n`` is 0."""
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # The exact ends at 0/n and n/n, not a rounding error away from them.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


@dataclasses.dataclass(frozen=True)
class PairedTable:
    """Counts of (candidate, baseline) outcomes over the same ``n`` examples."""

    both_right: int
    only_candidate_right: int  # candidate right, baseline wrong
    only_baseline_right: int  # candidate wrong, baseline right
    both_wrong: int

    @classmethod
    def from_outcomes(cls, candidate_right: Sequence[bool], baseline_right: Sequence[bool]) -> "PairedTable":
        if len(candidate_right) != len(baseline_right):
            raise ValueError(f"{len(candidate_right)} candidate outcomes vs {len(baseline_right)} baseline outcomes")
        pairs = list(zip(map(bool, candidate_right), map(bool, baseline_right)))
        return cls(
            both_right=sum(c and b for c, b in pairs),
            only_candidate_right=sum(c and not b for c, b in pairs),
            only_baseline_right=sum(b and not c for c, b in pairs),
            both_wrong=sum(not c and not b for c, b in pairs),
        )

    @property
    def n(self):
        return self.both_right + self.only_candidate_right + self.only_baseline_right + self.both_wrong

    @property
    def candidate_right(self):
        return self.both_right + self.only_candidate_right

    @property
    def baseline_right(self):
        return self.both_right + self.only_baseline_right


def newcombe_paired_interval(table: PairedTable, confidence: float = CONFIDENCE):
    """Interval for candidate accuracy minus baseline accuracy on paired data (Newcombe 1998, method 10)."""
    n = table.n
    if n == 0:
        return -1.0, 1.0
    p1, p2 = table.candidate_right / n, table.baseline_right / n
    l1, u1 = wilson_interval(table.candidate_right, n, confidence)
    l2, u2 = wilson_interval(table.baseline_right, n, confidence)
    margins = [table.candidate_right, n - table.candidate_right, table.baseline_right, n - table.baseline_right]
    phi = 0.0
    if all(margins):
        cross = table.both_right * table.both_wrong - table.only_candidate_right * table.only_baseline_right
        # Newcombe's continuity-corrected correlation estimate.
        if cross > n / 2:
            cross -= n / 2
        elif cross >= 0:
            cross = 0.0
        phi = cross / math.sqrt(math.prod(margins))
    difference = p1 - p2
    low = difference - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = difference + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, low), min(1.0, high)


def mcnemar_exact_p(table: PairedTable) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs against 50:50."""
    discordant = table.only_candidate_right + table.only_baseline_right
    if discordant == 0:
        return 1.0
    return float(stats.binomtest(table.only_candidate_right, discordant, 0.5).pvalue)


def compare(table: PairedTable, confidence: float = CONFIDENCE) -> dict:
    """Every figure of the paired comparison, JSON-ready (the ``comparison`` block of the reports)."""
    n = table.n
    candidate = table.candidate_right / n if n else None
    baseline = table.baseline_right / n if n else None
    return {
        "n": n,
        "candidate": {"accuracy": candidate, "correct": table.candidate_right,
                      "ci95": list(wilson_interval(table.candidate_right, n, confidence))},
        "baseline": {"accuracy": baseline, "correct": table.baseline_right,
                     "ci95": list(wilson_interval(table.baseline_right, n, confidence))},
        "difference": (candidate - baseline) if n else None,
        "difference_ci95": list(newcombe_paired_interval(table, confidence)),
        "discordant": {"only_candidate_right": table.only_candidate_right,
                       "only_baseline_right": table.only_baseline_right},
        "mcnemar_p": mcnemar_exact_p(table),
    }


def _signed(value):
    return f"{value:+.3f}"


def decide(comparison: dict, accuracy_margin: float, significance_level: float,
           accuracy_floor: float = 0.0) -> dict:
    """The gate: ``{'blessed': bool, 'rule': sentence}``.

    Blessed only if the candidate's accuracy reaches ``accuracy_floor``, the
    paired difference is strictly above ``accuracy_margin`` (a tie is never
    blessed) and, when ``significance_level`` > 0, the exact McNemar test
    rejects "no difference" at that level with the candidate the better model.
    """
    n = comparison["n"]
    if not n:
        return {"blessed": False, "rule": "not blessed: no examples to compare"}
    difference, (low, high) = comparison["difference"], comparison["difference_ci95"]
    p = comparison["mcnemar_p"]
    evidence = f"difference {_signed(difference)} (95% CI {_signed(low)}..{_signed(high)}), McNemar p = {p:.3g}, n = {n}"
    accuracy = comparison["candidate"]["accuracy"]
    if accuracy < accuracy_floor:
        return {"blessed": False,
                "rule": f"not blessed: candidate accuracy {accuracy:.3f} is below the floor {accuracy_floor:g}; {evidence}"}
    if not difference > accuracy_margin:
        what = ("a tie" if difference == 0 else
                "the candidate is worse" if difference < 0 else "the difference is too small")
        return {"blessed": False,
                "rule": f"not blessed: {evidence}; {what}: it must be > margin {accuracy_margin:g}"}
    if significance_level > 0 and not p < significance_level:
        return {"blessed": False,
                "rule": f"not blessed: {evidence}; p >= {significance_level:g}, so the difference is not significant"}
    if significance_level > 0 and not difference > 0:
        # A negative margin tolerates a loss, but a significant difference must favour the candidate.
        return {"blessed": False,
                "rule": f"not blessed: {evidence}; significant, but in the baseline's favour"}
    test = f"p < {significance_level:g}" if significance_level > 0 else "no significance test (significance_level 0)"
    return {"blessed": True,
            "rule": f"blessed: {evidence}; above margin {accuracy_margin:g} and {test}"}


def summarise_seeds(per_seed: Sequence[dict], significance_level: float = 0.05) -> dict:
    """Across repeated seeds: mean and std of each arm and of the paired difference, and a paired t-test.

    ``per_seed``: the :func:`compare` dicts, one per seed, all on the same split.
    The test is a one-sample t-test of the per-seed differences against 0
    (equivalently a paired t-test of the two arms' accuracies across seeds).
    """
    differences = [c["difference"] for c in per_seed]
    candidates = [c["candidate"]["accuracy"] for c in per_seed]
    baselines = [c["baseline"]["accuracy"] for c in per_seed]

    def mean_std(values: List[float]) -> Dict[str, Optional[float]]:
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
        return {"mean": mean, "std": std}

    p_value = None
    if len(differences) > 1:
        if len(set(differences)) == 1:
            # No spread: the t statistic is undefined; all equal to 0 is no evidence either way.
            p_value = 1.0 if differences[0] == 0 else 0.0
        else:
            p_value = float(stats.ttest_1samp(differences, 0.0).pvalue)
    wins = sum(d > 0 for d in differences)
    losses = sum(d < 0 for d in differences)
    mean_difference = sum(differences) / len(differences)
    seeds = len(differences)
    if p_value is None:
        verdict = f"one seed only: difference {_signed(mean_difference)}; repeat with more seeds to test it"
    elif p_value < significance_level and mean_difference > 0:
        verdict = (f"the learnable resizer is better: mean difference {_signed(mean_difference)} over {seeds} seeds "
                   f"(better on {wins}, worse on {losses}), paired t-test p = {p_value:.3g} < {significance_level:g}")
    elif p_value < significance_level and mean_difference < 0:
        verdict = (f"the bilinear baseline is better: mean difference {_signed(mean_difference)} over {seeds} seeds "
                   f"(resizer better on {wins}, worse on {losses}), paired t-test p = {p_value:.3g} < {significance_level:g}")
    else:
        verdict = (f"no significant difference: mean difference {_signed(mean_difference)} over {seeds} seeds "
                   f"(resizer better on {wins}, worse on {losses}), paired t-test p = {p_value:.3g} >= {significance_level:g}")
    return {
        "candidate": mean_std(candidates),
        "baseline": mean_std(baselines),
        "difference": mean_std(differences),
        "wins": wins,
        "losses": losses,
        "p_value": p_value,
        "test": "one-sample t-test of the per-seed paired differences against 0",
        "verdict": verdict,
    }
