"""components/verdict_text.py: one table per view, the same cells in text, Markdown and the sweep."""

from components import verdict_text
from components.comparison_stats import PairedTable
from components.verdict import Cost, Gate, Latency, LatencySetup, across_seeds, arm_result, decide
from tests.components.test_verdict import pairs
from trainer.contract import BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM


def make_verdict(tables=None):
    tables = tables or {LEARNABLE_RESIZER_ARM: PairedTable(45, 30, 2, 3), MULLER_ARM: PairedTable(46, 2, 1, 31)}
    first = next(iter(tables.values()))
    baseline = arm_result(BILINEAR_BASELINE_ARM, "baseline", pairs(first)[1],
                          cost=Cost(parameters=100, resizer_parameters=0, resizer_flops=2_000,
                                    model_flops=3_000_000_000),
                          latency=Latency(median_ms=20.0, p25_ms=19.5, p75_ms=21.0, calls=9, ratio=1.0))
    candidates = [arm_result(arm, "candidate", pairs(table)[0],
                             cost=Cost(resizer_parameters=4 if arm == MULLER_ARM else 12_035, resizer_flops=11_700_000,
                                       model_flops=3_400_000_000),
                             latency=Latency(median_ms=30.0, p25_ms=29.0, p75_ms=31.5, calls=9, ratio=1.5))
                  for arm, table in tables.items()]
    setup = LatencySetup(calls=9, warmup=2, image_bytes=12_345, cpu="Test CPU, 2 cores, AVX2 (no AVX-512)")
    return decide("test", baseline, candidates, tables, Gate(), setup)


def test_a_row_per_arm_with_every_figure():
    v = make_verdict()
    table = verdict_text.verdict_table(v)
    assert table.headers == tuple(c.header for c in verdict_text.VERDICT_COLUMNS)
    rows = {row[0]: dict(zip(table.headers, row)) for row in table.rows}
    assert list(rows) == [BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM]
    learnable = rows[LEARNABLE_RESIZER_ARM]
    assert learnable["accuracy (95% CI)"].startswith("0.9375 [")
    assert learnable["difference (95% CI)"].startswith("+0.3500 [+")
    c = v.comparisons[LEARNABLE_RESIZER_ARM]
    assert learnable["McNemar p (Holm)"] == f"{verdict_text.pval(c.mcnemar_p)} ({verdict_text.pval(c.holm_p)})"
    assert learnable["resizer params"] == "12,035" and rows[MULLER_ARM]["resizer params"] == "4"
    assert learnable["FLOPs/image (resizer)"] == "3.4 G (11.7 M)"
    assert learnable["latency ms (IQR)"] == "30.0 (29.0-31.5)" and learnable["latency / baseline"] == "1.50x"
    assert learnable["gate"] == "chosen" and rows[MULLER_ARM]["gate"] == "fails"
    baseline_row = rows[BILINEAR_BASELINE_ARM]
    assert baseline_row["gate"] == "baseline" and baseline_row["difference (95% CI)"] == ""


def test_text_and_markdown_render_the_same_cells():
    table = verdict_text.verdict_table(make_verdict())
    lines = verdict_text.text_table(table)
    markdown = verdict_text.markdown_table(table).splitlines()
    assert len(lines) == len(markdown) - 1 == len(table.rows) + 1
    for row, text, md in zip(table.rows, lines[1:], markdown[2:]):
        assert all(cell in text and f" {cell} |" in md for cell in row)
    # Aligned columns: every row's second cell starts where the header's does.
    starts = {line.index(cell) for line, cell in zip(lines, ["accuracy (95% CI)"] + [r[1] for r in table.rows])}
    assert len(starts) == 1
    assert "Test CPU, 2 cores, AVX2 (no AVX-512)" in verdict_text.latency_note(make_verdict())


def test_the_sweep_tables():
    verdicts = [make_verdict(), make_verdict({LEARNABLE_RESIZER_ARM: PairedTable(45, 25, 2, 8),
                                              MULLER_ARM: PairedTable(45, 3, 2, 30)})]
    per_seed = verdict_text.seeds_table([0, 1], verdicts)
    assert [row[:2] for row in per_seed.rows] == [("0", LEARNABLE_RESIZER_ARM), ("0", MULLER_ARM),
                                                  ("1", LEARNABLE_RESIZER_ARM), ("1", MULLER_ARM)]
    summaries = across_seeds([0, 1], verdicts, 0.05)
    across = verdict_text.across_seeds_table(summaries)
    assert [row[0] for row in across.rows] == [LEARNABLE_RESIZER_ARM, MULLER_ARM]
    assert across.rows[0][4] == "2 / 0 of 2" and " ± " in across.rows[0][3]
