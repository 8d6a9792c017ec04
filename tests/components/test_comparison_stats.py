"""Paired statistics against hand-computed and published cases: Wilson, Newcombe, McNemar, Holm, the seeds' test."""

import pytest
from scipy import stats

from components.comparison_stats import (
    PairedTable,
    holm_adjust,
    mcnemar_exact_p,
    mean_std,
    newcombe_paired_interval,
    seeds_ttest,
    wilson_interval,
)


@pytest.mark.parametrize("successes, n, expected", [
    (0, 10, (0.0, 0.2775)),
    (10, 10, (0.7225, 1.0)),
    (7, 10, (0.3968, 0.8922)),
])
def test_wilson_bounds(successes, n, expected):
    low, high = wilson_interval(successes, n)
    assert low == pytest.approx(expected[0], abs=5e-5) and high == pytest.approx(expected[1], abs=5e-5)


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError, match="successes <= n"):
        wilson_interval(11, 10)


def test_newcombe_paired_interval_matches_published_example():
    # Cavo et al. 2012 as tabulated by Fagerland, Lydersen & Laake (2017), ch. 8:
    # estimate -0.0621, Newcombe square-and-add 95% CI -0.1186 to -0.0046.
    table = PairedTable(both_right=59, only_candidate_right=6, only_baseline_right=16, both_wrong=80)
    low, high = newcombe_paired_interval(table)
    assert (table.candidate_right - table.baseline_right) / table.n == pytest.approx(-0.0621, abs=5e-5)
    assert low == pytest.approx(-0.1186, abs=5e-5) and high == pytest.approx(-0.0046, abs=5e-5)


def test_newcombe_is_antisymmetric_when_the_arms_swap():
    table = PairedTable(30, 9, 3, 8)
    swapped = PairedTable(30, 3, 9, 8)
    low, high = newcombe_paired_interval(table)
    swapped_low, swapped_high = newcombe_paired_interval(swapped)
    assert (low, high) == pytest.approx((-swapped_high, -swapped_low))
    assert low < 6 / 50 < high


def test_exact_mcnemar_is_a_binomial_test_of_the_discordant_pairs():
    table = PairedTable(both_right=40, only_candidate_right=12, only_baseline_right=3, both_wrong=5)
    # Hand-computed: P(X <= 3) for X ~ Bin(15, 1/2) = (1 + 15 + 105 + 455) / 2^15; two-sided doubles it.
    assert mcnemar_exact_p(table) == pytest.approx(2 * 576 / 2**15)
    assert mcnemar_exact_p(table) == pytest.approx(stats.binomtest(12, 15, 0.5).pvalue)
    assert mcnemar_exact_p(PairedTable(10, 0, 0, 5)) == 1.0


def test_table_from_outcomes():
    table = PairedTable.from_outcomes([1, 1, 0, 0, 1], [1, 0, 1, 0, 1])
    assert table == PairedTable(2, 1, 1, 1)
    with pytest.raises(ValueError, match="5 candidate outcomes vs 4"):
        PairedTable.from_outcomes([1] * 5, [1] * 4)


def test_holm_against_a_hand_computed_case():
    # m = 4, sorted p: 0.01, 0.02, 0.03, 0.5 -> 4 * 0.01, 3 * 0.02, 2 * 0.03, 1 * 0.5 (monotone already).
    assert holm_adjust([0.03, 0.5, 0.01, 0.02]) == pytest.approx([0.06, 0.5, 0.04, 0.06])
    # Step-down: a later (larger) raw p never gets a smaller adjusted p; nothing exceeds 1.
    assert holm_adjust([0.02, 0.021, 0.9]) == pytest.approx([0.06, 0.06, 0.9])
    assert holm_adjust([0.4, 0.5]) == [0.8, 0.8]
    assert holm_adjust([0.6, 0.7, 0.8]) == [1.0, 1.0, 1.0]
    assert holm_adjust([0.03]) == [0.03] and holm_adjust([]) == []


def test_holm_rejects_what_bonferroni_would_and_sometimes_more():
    p = [0.011, 0.012, 0.013]
    alpha = 0.05
    bonferroni = [min(1.0, 3 * v) for v in p]
    holm = holm_adjust(p)
    assert [v < alpha for v in bonferroni] == [True, True, True]
    assert all(h <= b for h, b in zip(holm, bonferroni)) and all(v < alpha for v in holm)
    assert [v < alpha for v in holm_adjust([0.013, 0.024, 0.04])] == [True, True, True]  # Bonferroni: 1 of 3


def test_seeds_ttest_and_mean_std():
    differences = [0.2, 0.25, 0.18]
    assert seeds_ttest(differences) == pytest.approx(stats.ttest_1samp(differences, 0).pvalue)
    assert seeds_ttest([0.1]) is None
    assert seeds_ttest([0.0, 0.0]) == 1.0 and seeds_ttest([0.1, 0.1]) == 0.0
    summary = mean_std([1.0, 2.0, 3.0])
    assert summary == {"mean": 2.0, "std": pytest.approx(1.0)} and mean_std([4.0])["std"] is None
