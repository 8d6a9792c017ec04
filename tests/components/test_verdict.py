"""The typed verdict (components/verdict.py): the gate per candidate, Holm across candidates, the choice, seeds."""

import pytest
from scipy import stats

from components.comparison_stats import PairedTable, holm_adjust, mcnemar_exact_p
from components.verdict import Cost, Gate, Latency, Verdict, across_seeds, arm_result, decide
from trainer.contract import BILINEAR_BASELINE_ARM as BASELINE


def pairs(table: PairedTable):
    """Per-example (candidate right, baseline right) in a fixed order, from a paired table."""
    groups = [((True, True), table.both_right), ((True, False), table.only_candidate_right),
              ((False, True), table.only_baseline_right), ((False, False), table.both_wrong)]
    out = [pair for pair, count in groups for _ in range(count)]
    return [c for c, _ in out], [b for _, b in out]


def verdict(tables, gate=None, latency_ratios=None):
    """decide() over candidates given as {name: PairedTable against the baseline}, all on the same examples."""
    first = next(iter(tables.values()))
    baseline = arm_result(BASELINE, "baseline", pairs(first)[1])
    candidates = []
    for name, table in tables.items():
        assert table.baseline_right == first.baseline_right and table.n == first.n
        latency = None
        if latency_ratios:
            ratio = latency_ratios[name]
            latency = Latency(median_ms=10 * ratio, p25_ms=9 * ratio, p75_ms=11 * ratio, calls=5, ratio=ratio)
        candidates.append(arm_result(name, "candidate", pairs(table)[0], cost=Cost(resizer_parameters=4),
                                     latency=latency))
    return decide("test", baseline, candidates, tables, gate or Gate())


def test_a_forced_tie_is_never_blessed():
    for alpha in (0.0, 0.05):
        v = verdict({"a": PairedTable(40, 5, 5, 10)}, Gate(significance_level=alpha))
        assert v.comparisons["a"].difference == 0 and not v.blessed and v.chosen is None
        assert "a tie" in v.rule


def test_significance_blocks_a_positive_but_not_significant_difference():
    table = PairedTable(40, 6, 3, 10)  # +3/59, p = 0.51
    assert verdict({"a": table}, Gate(significance_level=0.0)).blessed is True
    blocked = verdict({"a": table}, Gate(significance_level=0.05))
    assert not blocked.blessed and blocked.comparisons["a"].mcnemar_p > 0.05
    assert "p = 0.508 >= 0.05" in blocked.rule and "difference +0.051" in blocked.rule and "n = 59" in blocked.rule


def test_a_significant_win_is_blessed_and_says_why():
    v = verdict({"a": PairedTable(40, 20, 2, 10)})
    assert v.blessed and v.chosen == "a" and v.comparisons["a"].significant
    assert v.rule.startswith("blessed a: accuracy 0.833, difference +0.250 (95% CI +") and "p < 0.05" in v.rule


def test_margin_floor_and_direction():
    table = PairedTable(40, 20, 2, 10)
    assert not verdict({"a": table}, Gate(accuracy_margin=0.3, significance_level=0)).blessed
    assert "below the floor" in verdict({"a": table}, Gate(accuracy_floor=0.9, significance_level=0)).rule
    losing = verdict({"a": PairedTable(40, 2, 20, 10)}, Gate(accuracy_margin=-1.0))
    assert not losing.blessed and "in the baseline's favour" in losing.rule


def test_holm_across_candidates_can_turn_a_lone_pass_into_a_refusal():
    """P = 0.035 passes alone; beside a second candidate its Holm-adjusted p is 0.07, so nothing is blessed."""
    marginal, useless = PairedTable(40, 13, 4, 10), PairedTable(40, 4, 4, 19)
    assert 0.025 < mcnemar_exact_p(marginal) < 0.05
    assert verdict({"marginal": marginal}).chosen == "marginal"
    both = verdict({"marginal": marginal, "useless": useless})
    assert both.comparisons["marginal"].holm_p == pytest.approx(holm_adjust([mcnemar_exact_p(marginal), 1.0])[0])
    assert both.comparisons["marginal"].holm_p > 0.05 and not both.blessed and both.chosen is None
    assert both.rule.startswith("not blessed: no candidate passes the gate against bilinear_baseline (Holm over 2)")


def test_the_gate_picks_the_significantly_better_of_two_and_names_the_runner_up():
    strong, weak = PairedTable(45, 30, 2, 3), PairedTable(47, 8, 0, 25)  # weak: +8/80, significant alone
    v = verdict({"weak": weak, "strong": strong})
    assert v.comparisons["strong"].passes and v.comparisons["weak"].passes
    assert v.chosen == "strong" and v.runner_up == "weak"
    assert "the most accurate of 2 candidates that pass (runner-up weak: accuracy" in v.rule


def test_only_a_non_significant_candidate_being_better_is_refused():
    v = verdict({"noise": PairedTable(40, 7, 4, 9), "worse": PairedTable(37, 4, 7, 12)})
    assert v.arms["noise"].accuracy > v.arms[BASELINE].accuracy
    assert not v.blessed and v.chosen is None and v.runner_up is None
    assert "noise: accuracy" in v.rule and "so the difference is not significant" in v.rule


def test_a_tie_in_accuracy_goes_to_the_lower_serving_latency():
    same = PairedTable(45, 30, 2, 3)
    v = verdict({"slow": same, "fast": same}, latency_ratios={"slow": 1.4, "fast": 1.02})
    assert v.chosen == "fast" and v.runner_up == "slow"
    assert "tied on accuracy with slow, chosen for its lower serving latency (1.02x vs 1.40x" in v.rule
    # Without latency, the order of training.candidates decides.
    assert verdict({"slow": same, "fast": same}).chosen == "slow"


def test_the_verdict_round_trips_through_json():
    v = verdict({"a": PairedTable(40, 20, 2, 10), "b": PairedTable(35, 15, 7, 15)}, latency_ratios={"a": 1.3, "b": 1})
    again = Verdict.from_dict(v.to_dict())
    assert again == v and again.headline == v.chosen == "a"
    assert again.arms["a"].cost.resizer_parameters == 4 and again.arms["b"].latency.ratio == 1


def test_across_seeds_tests_each_candidate_and_adjusts_across_them():
    tables = [{"a": PairedTable(40, 10, 2, 8), "b": PairedTable(41, 4, 1, 14)},
              {"a": PairedTable(40, 12, 3, 5), "b": PairedTable(42, 3, 1, 14)},
              {"a": PairedTable(40, 9, 2, 9), "b": PairedTable(40, 2, 2, 16)}]
    verdicts = [verdict(t) for t in tables]
    summary = {s.candidate: s for s in across_seeds([0, 1, 2], verdicts, 0.05)}
    differences = {arm: [v.comparisons[arm].difference for v in verdicts] for arm in ("a", "b")}
    raw = {arm: stats.ttest_1samp(differences[arm], 0).pvalue for arm in differences}
    adjusted = holm_adjust([raw["a"], raw["b"]])
    assert summary["a"].p_value == pytest.approx(raw["a"]) and summary["a"].holm_p == pytest.approx(adjusted[0])
    assert summary["b"].holm_p == pytest.approx(adjusted[1])
    assert summary["a"].wins == 3 and summary["a"].difference["mean"] == pytest.approx(sum(differences["a"]) / 3)
    assert summary["a"].verdict.startswith("a is better than bilinear_baseline")
    assert summary["b"].verdict.startswith("b: no significant difference from bilinear_baseline")
    assert across_seeds([0], verdicts[:1], 0.05)[0].p_value is None
