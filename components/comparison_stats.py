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

With several candidates, :func:`holm_adjust` corrects the McNemar p-values
for multiplicity (Holm's step-down).  Across repeated seeds, :func:`seeds_ttest`
tests the per-seed differences.  The gate and its verdict are
``components/verdict.py``'s.
"""

import dataclasses
import math
from collections.abc import Sequence

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


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the order given.

    With m hypotheses sorted by p, the i-th smallest (i = 1..m) gets
    ``max over j <= i of min(1, (m - j + 1) * p_(j))``; rejecting where the
    adjusted p < alpha controls the family-wise error rate at alpha.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def seeds_ttest(differences: Sequence[float]) -> float | None:
    """Two-sided one-sample t-test of per-seed paired differences against 0; None for one seed.

    Without spread the statistic is undefined: all differences 0 give p = 1, all equal and non-zero p = 0.
    """
    if len(differences) < 2:
        return None
    if len(set(differences)) == 1:
        return 1.0 if differences[0] == 0 else 0.0
    return float(stats.ttest_1samp(differences, 0.0).pvalue)


def mean_std(values: Sequence[float]) -> dict[str, float | None]:
    """``{"mean": ..., "std": sample standard deviation or None for one value}``."""
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
    return {"mean": mean, "std": std}
