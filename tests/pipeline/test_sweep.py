"""The seeds sweep (pipeline/sweep.py): parsing --seeds, the summary and its Markdown, and run_sweep's files.

``run_sweep`` runs here with a stand-in for TFX's runner that writes each seed's report summary; a real sweep
runs in tests/integration/test_pipeline_e2e.py.
"""

import json
import os
import types

import pytest

from components.comparison_stats import PairedTable
from components.verdict import across_seeds
from pipeline import sweep
from pipeline.config import demo_profile
from tests.components.test_verdict_text import make_verdict
from trainer import contract
from trainer.contract import BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM

SECOND = {LEARNABLE_RESIZER_ARM: PairedTable(45, 25, 2, 8), MULLER_ARM: PairedTable(45, 3, 2, 30)}


@pytest.mark.parametrize("text, seeds", [("3", [0, 1, 2]), ("1", [0]), ("7,3", [7, 3]), (" 0 , 5 ", [0, 5]),
                                         ("4,", [4])])
def test_parse_seeds(text, seeds):
    assert sweep.parse_seeds(text) == seeds


@pytest.mark.parametrize("text, message", [("0", "N must be >= 1, got 0"), ("1,1", "seeds must be distinct"),
                                           ("a,b", "expected N or a comma-separated list of ints, got 'a,b'"),
                                           ("", "seeds must be distinct, got ''")])
def test_bad_seeds_are_named(text, message):
    with pytest.raises(ValueError, match=f"^--seeds: {message}"):
        sweep.parse_seeds(text)


def per_seed_entries(verdicts):
    return [{"seed": seed, "seconds": 90.0 * (i + 1), "report_dir": f"/r/seed_{seed}", "verdict": v.to_dict(),
             "data_order_sha256": "ab" * 32} for i, (seed, v) in enumerate(zip((3, 8), verdicts))]


def test_sweep_summary_tests_every_candidate_across_seeds():
    verdicts = [make_verdict(), make_verdict(SECOND)]
    summary = sweep.sweep_summary([3, 8], per_seed_entries(verdicts), 0.05)
    want = across_seeds([3, 8], verdicts, 0.05)
    assert summary["seeds"] == [3, 8] and summary["baseline"] == BILINEAR_BASELINE_ARM
    assert list(summary["candidates"]) == [LEARNABLE_RESIZER_ARM, MULLER_ARM]
    assert summary["candidates"] == {s.candidate: s.to_dict() for s in want}
    assert summary["verdict"] == " | ".join(s.verdict for s in want)
    assert summary["significance_level"] == 0.05 and summary["test"] == want[0].test
    json.dumps(summary)


def test_sweep_markdown():
    verdicts = [make_verdict(), make_verdict(SECOND)]
    summary = sweep.sweep_summary([3, 8], per_seed_entries(verdicts), 0.05)
    text = sweep.sweep_markdown(summary, "SYNTHETIC data")
    assert text.startswith(f"# Repeated seeds: {LEARNABLE_RESIZER_ARM}, {MULLER_ARM} against {BILINEAR_BASELINE_ARM}")
    assert "> **SYNTHETIC data**" in text
    for entry in summary["candidates"].values():
        assert f"- {entry['verdict']}" in text
    assert f"- seed 3: 1.5 min; {verdicts[0].rule}" in text and f"- seed 8: 3.0 min; {verdicts[1].rule}" in text
    assert f"![per-seed accuracy and differences]({contract.SWEEP_PLOT_FILE})" in text
    assert "> **" not in sweep.sweep_markdown(summary)


def test_run_sweep_runs_each_seed_without_a_pusher_and_writes_the_sweep(tmp_path):
    config = demo_profile(output_dir=str(tmp_path / "out"))
    verdicts = {0: make_verdict(), 1: make_verdict(SECOND)}
    reporter = types.SimpleNamespace(prefix="")
    seen = []

    def run_pipeline(pipeline):
        seed = len(seen)
        ids = [component.id for component in pipeline.components]
        trainer = next(c for c in pipeline.components if c.id == f"Trainer_{BILINEAR_BASELINE_ARM}")
        custom = json.loads(trainer.exec_properties["custom_config"])
        seen.append((reporter.prefix, "Pusher" in ids, custom[contract.TRAINING_CONFIG_KEY]["seed"]))
        report_dir = sweep.seed_report_dir(config, seed)
        os.makedirs(report_dir)
        with open(os.path.join(report_dir, contract.REPORT_SUMMARY_FILE), "w") as f:
            json.dump({"verdict": verdicts[seed].to_dict(), "comparison": {"data_order_sha256": {"a": "1"}}}, f)

    summary = sweep.run_sweep(config, [0, 1], run_pipeline, reporter)
    assert seen == [("seed 0 (1/2) ", False, 0), ("seed 1 (2/2) ", False, 1)]
    assert reporter.prefix == ""
    assert sweep.seed_report_dir(config, 1) == os.path.join(config.report_dir, "sweep", "seed_1")
    assert [entry["report_dir"] for entry in summary["per_seed"]] == [sweep.seed_report_dir(config, s) for s in (0, 1)]
    assert summary["per_seed"][0]["data_order_sha256"] == {"a": "1"}
    with open(os.path.join(config.report_dir, contract.SWEEP_SUMMARY_FILE)) as f:
        assert json.load(f) == json.loads(json.dumps(summary))
    with open(os.path.join(config.report_dir, contract.SWEEP_MARKDOWN_FILE)) as f:
        assert f.read() == sweep.sweep_markdown(summary, summary["data_note"])
    with open(os.path.join(config.report_dir, contract.SWEEP_PLOT_FILE), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
