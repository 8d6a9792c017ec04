"""Paired statistics against hand-computed and published cases, and the gate's rules."""

import pytest
from scipy import stats

from components.comparison_stats import (
    PairedTable, compare, decide, mcnemar_exact_p, newcombe_paired_interval, summarise_seeds, wilson_interval,
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


def test_a_forced_tie_is_never_blessed():
    comparison = compare(PairedTable(40, 5, 5, 10))
    assert comparison["difference"] == 0
    for alpha in (0.0, 0.05):
        verdict = decide(comparison, accuracy_margin=0.0, significance_level=alpha)
        assert verdict["blessed"] is False and "a tie" in verdict["rule"]


def test_significance_blocks_a_positive_but_not_significant_difference():
    comparison = compare(PairedTable(40, 6, 3, 10))  # +3/59, p = 0.51
    assert comparison["difference"] > 0 and comparison["mcnemar_p"] > 0.05
    assert decide(comparison, 0.0, 0.0)["blessed"] is True
    blocked = decide(comparison, 0.0, 0.05)
    assert blocked["blessed"] is False
    assert "p >= 0.05" in blocked["rule"] and "difference +0.051" in blocked["rule"] and "n = 59" in blocked["rule"]


def test_a_significant_win_is_blessed_and_says_why():
    verdict = decide(compare(PairedTable(40, 20, 2, 10)), 0.0, 0.05)
    assert verdict["blessed"] is True
    assert verdict["rule"].startswith("blessed: difference +0.250 (95% CI +") and "p < 0.05" in verdict["rule"]


def test_margin_floor_and_direction():
    comparison = compare(PairedTable(40, 20, 2, 10))
    assert decide(comparison, accuracy_margin=0.3, significance_level=0)["blessed"] is False
    assert "below the floor" in decide(comparison, 0.0, 0.0, accuracy_floor=0.9)["rule"]
    losing = compare(PairedTable(40, 2, 20, 10))
    assert decide(losing, accuracy_margin=-1.0, significance_level=0.05)["blessed"] is False


def test_summarise_seeds():
    per_seed = [compare(PairedTable(40, 10, 2, 8)), compare(PairedTable(40, 12, 3, 5)),
                compare(PairedTable(40, 9, 2, 9))]
    summary = summarise_seeds(per_seed)
    differences = [c["difference"] for c in per_seed]
    assert summary["difference"]["mean"] == pytest.approx(sum(differences) / 3)
    assert summary["p_value"] == pytest.approx(stats.ttest_1samp(differences, 0).pvalue)
    assert summary["wins"] == 3 and summary["verdict"].startswith("the learnable resizer is better")
    mixed = summarise_seeds([compare(PairedTable(40, 10, 2, 8)), compare(PairedTable(40, 2, 10, 8))])
    assert mixed["verdict"].startswith("no significant difference")
    assert summarise_seeds(per_seed[:1])["p_value"] is None
