"""ComparisonReport (components/comparison_report.py): the summary's figures, the cells, the rendered files.

Built from a hand-made verdict (tests/components/test_verdict_text.py); the hyperparameter-search section is
tested in tests/trainer/test_tuning.py, the TFMA reading in tests/components/test_tfma_results.py, and the
executor in the pipeline tests.
"""

import json

from components import comparison_report as cr
from tests.components.test_verdict_text import make_verdict
from trainer import contract
from trainer.contract import BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM

ORDER = "cd" * 32
TRAINED = {
    "parameters": 123456, "training_examples": 40, "steps_per_epoch": 5,
    "history": {"loss": [0.9, 0.4], "accuracy": [0.5, 0.8], "val_loss": [0.8, 0.5], "val_accuracy": [0.55, 0.75]},
    "train_images_per_second": [10.0, 12.5], "precision": "float32", "replicas": 1,
    "initial_backbone_sha256": "ef" * 32, "data_order_sha256": ORDER, "class_names": ["dark", "bright"],
    "precise_batchnorm": {"layers": 6, "batches": 10, "images": 40, "validation_accuracy": 0.875},
}


def summary_of(verdict, training=None, **extra):
    training = training if training is not None else {arm: dict(TRAINED) for arm in verdict.arms}
    values = {"verdict": verdict.to_dict(),
              "comparison": cr.single_comparison(verdict, {arm: ORDER for arm in verdict.arms}),
              "training": training, "metrics": {}, "class_names": ["dark", "bright"],
              "pushed": {"pushed": False, "destination": None, "version": None}, "tuning": {}}
    values.update(extra)
    return values


def test_single_comparison_is_the_headline_candidate_against_the_baseline():
    verdict = make_verdict()
    one = cr.single_comparison(verdict, {BILINEAR_BASELINE_ARM: "a", LEARNABLE_RESIZER_ARM: "b"})
    c = verdict.comparisons[LEARNABLE_RESIZER_ARM]
    assert one["candidate"]["arm"] == verdict.headline == LEARNABLE_RESIZER_ARM
    assert one["baseline"] == {"arm": BILINEAR_BASELINE_ARM, "accuracy": verdict.arms[BILINEAR_BASELINE_ARM].accuracy,
                               "correct": verdict.arms[BILINEAR_BASELINE_ARM].correct,
                               "ci95": list(verdict.arms[BILINEAR_BASELINE_ARM].ci95)}
    assert (one["n"], one["split"], one["blessed"], one["rule"]) == (verdict.n, "test", True, verdict.rule)
    assert one["difference"] == c.difference and one["difference_ci95"] == list(c.difference_ci95)
    assert one["discordant"] == {"only_candidate_right": c.only_candidate_right,
                                 "only_baseline_right": c.only_baseline_right}
    assert one["data_order_sha256"] == {BILINEAR_BASELINE_ARM: "a", LEARNABLE_RESIZER_ARM: "b"}
    json.dumps(one)  # JSON-ready


def test_arm_figures_per_arm():
    figures = cr.arm_figures(make_verdict())
    assert list(figures) == [BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM]
    assert figures[MULLER_ARM]["parameters"] == 4 and figures[LEARNABLE_RESIZER_ARM]["parameters"] == 12_035
    assert figures[LEARNABLE_RESIZER_ARM]["model_flops"] == 3_400_000_000
    assert figures[BILINEAR_BASELINE_ARM]["role"] == "baseline"
    learnable = figures[LEARNABLE_RESIZER_ARM]
    assert (learnable["latency_ms"], learnable["latency_ratio"]) == (30.0, 1.5)


def test_cells_show_the_value_and_its_interval():
    cell = {"a": 0.8125, "diff:a": 0.0625, "note": "n/a", "ci95": {"a": [0.7, 0.9]}, "ci95_clipped": ["a"]}
    assert cr._cell(cell, "a") == "0.8125 [0.7000, 0.9000]*"
    assert cr._cell(cell, "diff:a", signed=True) == "+0.0625"
    assert cr._cell(cell, "note") == "n/a" and cr._cell(cell, "missing") == ""


def test_training_rows_leave_what_an_arm_lacks_empty():
    arms = [BILINEAR_BASELINE_ARM, MULLER_ARM]
    rows = dict(cr._training_rows({BILINEAR_BASELINE_ARM: TRAINED, MULLER_ARM: {}}, arms))
    assert rows["parameters"] == ["123,456", ""]
    assert rows["training examples / steps per epoch"] == ["40 / 5", ""]
    assert rows["epochs"] == ["2", ""] and rows["final train loss"] == ["0.4000", ""]
    assert rows["final validation accuracy (Keras)"] == ["0.7500", ""]
    assert rows["validation accuracy, BatchNorm statistics recomputed (PreciseBN)"] == ["0.8750", ""]
    assert rows["data order sha256"] == [ORDER[:16], ""]


def test_write_report_writes_the_four_files_and_they_agree(tmp_path):
    verdict = make_verdict()
    summary = summary_of(verdict, data_note="SYNTHETIC data",
                         servability={"blessed": True, "reason": "served 3 requests"})
    cr.write_report(str(tmp_path), summary)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [contract.REPORT_MARKDOWN_FILE, contract.REPORT_HTML_FILE, contract.REPORT_SUMMARY_FILE,
         contract.TRAINING_CURVES_FILE])
    assert (tmp_path / contract.TRAINING_CURVES_FILE).read_bytes().startswith(b"\x89PNG")
    assert json.loads((tmp_path / contract.REPORT_SUMMARY_FILE).read_text()) == json.loads(json.dumps(summary))
    markdown = (tmp_path / contract.REPORT_MARKDOWN_FILE).read_text()
    title = f"# Which resizer? {LEARNABLE_RESIZER_ARM}, {MULLER_ARM} against {BILINEAR_BASELINE_ARM}"
    assert markdown.startswith(title)
    assert f"**Verdict:** {verdict.rule}" in markdown and "> **SYNTHETIC data**" in markdown
    assert "**Servable:** yes: served 3 requests" in markdown
    assert f"identical for every arm ({ORDER[:16]}...)" in markdown
    html = (tmp_path / contract.REPORT_HTML_FILE).read_text()
    assert "<html" in html and "SYNTHETIC data" in html
    for arm in verdict.arms:
        assert arm in markdown and arm in html


def test_different_data_orders_are_called_out():
    verdict = make_verdict()
    summary = summary_of(verdict)
    summary["comparison"]["data_order_sha256"] = {BILINEAR_BASELINE_ARM: "1" * 64, LEARNABLE_RESIZER_ARM: "2" * 64,
                                                  MULLER_ARM: "1" * 64}
    assert f"**differs**: {BILINEAR_BASELINE_ARM} {'1' * 64}, {LEARNABLE_RESIZER_ARM} {'2' * 64}" in cr.render(
        summary, "report.md.j2")


def test_tuning_summary_keeps_only_tuned_arms():
    assert cr.tuning_summary({BILINEAR_BASELINE_ARM: {}, MULLER_ARM: {"tuning": None}}) == {}
