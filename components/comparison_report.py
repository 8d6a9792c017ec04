"""ComparisonReport: the verdict and both arms side by side, readable without a notebook.

Reads the PairedComparison's numbers and rule, the Evaluator's TFMA output
(metrics per slice, with n, confusion matrices), both Trainers'
``training_summary.json`` and resizer pictures, and the Pusher's result when
there is one; writes ``report.md``, ``report.html`` (both from the jinja2
templates in ``components/templates``), ``summary.json``, the training-curve
plot and the per-example predictions into its output artifact and, when
``report_dir`` is set, a copy there.
"""

import json
import os
from typing import Dict

import jinja2
import tensorflow as tf
from absl import logging
from tfx import types
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components import report_plots, tfma_results
from components.paired_comparison import PairedComparisonArtifact
from trainer.contract import (
    BASELINE_ARM as BASELINE,
    CANDIDATE_ARM as CANDIDATE,
    COMPARISON_FILE,
    PREDICTIONS_FILE,
    REPORT_HTML_FILE,
    REPORT_MARKDOWN_FILE,
    REPORT_SUMMARY_FILE,
    RESIZER_PICTURE_FILE,
    TRAINING_CURVES_FILE,
    TRAINING_SUMMARY_FILE,
)

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


class ComparisonReportArtifact(types.Artifact):
    """A directory holding report.md, report.html, summary.json, the plots, pictures and predictions."""

    # Kubeflow's "<namespace>.<Type>", and importable by that name (components/__init__.py).
    TYPE_NAME = "components.ComparisonReportArtifact"


def _read_json(path):
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def build_summary(evaluation_uri: str, comparison: dict, arms: Dict[str, dict], pushed: dict,
                  data_note: str = "") -> dict:
    """Everything the report shows, JSON-ready (``reports/summary.json``)."""
    class_names = arms.get(CANDIDATE, {}).get("class_names", ())
    comparison = dict(comparison)
    comparison["data_order_sha256"] = {arm: arms.get(arm, {}).get("data_order_sha256") for arm in (CANDIDATE, BASELINE)}
    return {
        "data_note": data_note,
        "blessed": bool(comparison.get("blessed")),
        "rule": comparison.get("rule"),
        "comparison": comparison,
        "metrics": tfma_results.read_metrics(evaluation_uri, class_names),
        "class_names": list(class_names),
        "confusion_matrices": tfma_results.read_confusion_matrices(evaluation_uri),
        "training": arms,
        "pushed": pushed,
    }


# --- rendering -------------------------------------------------------------------------------

def _num(value):
    return "n/a" if value is None else f"{value:.4f}"


def _signed(value):
    return "n/a" if value is None else f"{value:+.4f}"


def _interval(bounds, signed=False):
    fmt = _signed if signed else _num
    return "n/a" if not bounds else f"{fmt(bounds[0])} .. {fmt(bounds[1])}"


def _pval(value):
    return "n/a" if value is None else (f"{value:.3g}" if value >= 1e-4 else f"{value:.1e}")


def _cell(cell, column, signed=False):
    value = cell.get(column)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    text = (_signed if signed else _num)(value)
    bounds = cell.get("ci95", {}).get(column)
    return f"{text} [{_num(bounds[0])}, {_num(bounds[1])}]" if bounds else text


def _training_rows(arms):
    def row(label, fn):
        cells = []
        for arm in (CANDIDATE, BASELINE):
            try:
                cells.append(fn(arms[arm]))
            except (KeyError, IndexError, TypeError, ZeroDivisionError):
                cells.append("")
        return label, cells

    return [
        row("parameters", lambda a: f"{a['parameters']:,}"),
        row("training examples / steps per epoch", lambda a: f"{a['training_examples']} / {a['steps_per_epoch']}"),
        row("epochs", lambda a: str(len(a["history"]["loss"]))),
        row("final train loss", lambda a: f"{a['history']['loss'][-1]:.4f}"),
        row("final validation accuracy (Keras)", lambda a: f"{a['history']['val_accuracy'][-1]:.4f}"),
        row("train images/s (last epoch)", lambda a: f"{a['train_images_per_second'][-1]:.2f}"),
        row("precision / replicas", lambda a: f"{a['precision']} / {a['replicas']}"),
        row("initial backbone sha256", lambda a: a["initial_backbone_sha256"][:16]),
        row("data order sha256", lambda a: a["data_order_sha256"][:16]),
    ]


def render(summary: dict, template_name: str) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    environment.filters.update(num=_num, signed=_signed, interval=_interval, pval=_pval, cell=_cell)
    names = summary.get("class_names") or []
    order = summary["comparison"].get("data_order_sha256", {})
    arms = summary["training"]
    slices = sorted(summary["metrics"].items(), key=lambda kv: (kv[0] != "overall", kv[0]))
    return environment.get_template(template_name).render(
        c=summary["comparison"],
        data_note=summary.get("data_note"),
        pushed=summary.get("pushed") or {},
        order=order,
        same_order=bool(order.get(CANDIDATE)) and order.get(CANDIDATE) == order.get(BASELINE),
        predictions_file=PREDICTIONS_FILE,
        curves_file=TRAINING_CURVES_FILE,
        slices=slices,
        has_ci=any("ci95" in cell for _, entry in slices for cell in entry["metrics"].values()),
        confusion=summary.get("confusion_matrices") or {},
        class_name=lambda i: names[i] if i < len(names) else str(i),
        training_rows=_training_rows(arms),
        pictures=[(arm, arms[arm]["picture_file"]) for arm in (CANDIDATE, BASELINE)
                  if arms.get(arm, {}).get("picture_file")],
    )


def write_report(out_dir: str, summary: dict) -> None:
    """report.md, report.html, summary.json and the training curves into ``out_dir``."""
    histories = {arm: summary["training"].get(arm, {}).get("history", {}) for arm in (CANDIDATE, BASELINE)}
    with tf.io.gfile.GFile(os.path.join(out_dir, TRAINING_CURVES_FILE), "wb") as f:
        f.write(report_plots.training_curves(histories))
    files = {REPORT_MARKDOWN_FILE: render(summary, "report.md.j2"),
             REPORT_HTML_FILE: render(summary, "report.html.j2"),
             REPORT_SUMMARY_FILE: json.dumps(summary, indent=2, default=str)}
    for name, text in files.items():
        with tf.io.gfile.GFile(os.path.join(out_dir, name), "w") as f:
            f.write(text)


@component
def ComparisonReport(  # noqa: N802 (TFX component naming)
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    comparison: InputArtifact[PairedComparisonArtifact],
    candidate_model: InputArtifact[standard_artifacts.Model],
    candidate_run: InputArtifact[standard_artifacts.ModelRun],
    baseline_model: InputArtifact[standard_artifacts.Model],
    baseline_run: InputArtifact[standard_artifacts.ModelRun],
    report: OutputArtifact[ComparisonReportArtifact],
    pushed_model: InputArtifact[standard_artifacts.PushedModel] = None,
    report_dir: Parameter[str] = "",
    data_note: Parameter[str] = "",
):
    # Kubeflow's launcher creates only an output's parent directory (object stores need none).
    tf.io.gfile.makedirs(report.uri)
    arms = {}
    for arm, model, run in ((CANDIDATE, candidate_model, candidate_run), (BASELINE, baseline_model, baseline_run)):
        summary = _read_json(os.path.join(run.uri, TRAINING_SUMMARY_FILE))
        picture = os.path.join(model.uri, RESIZER_PICTURE_FILE)
        if tf.io.gfile.exists(picture):
            name = f"{arm}_{RESIZER_PICTURE_FILE}"
            tf.io.gfile.copy(picture, os.path.join(report.uri, name), overwrite=True)
            summary["picture_file"] = name
        arms[arm] = summary
    pushed = {"pushed": False, "destination": None, "version": None}
    if pushed_model is not None:
        pushed = {
            "pushed": bool(pushed_model.get_int_custom_property("pushed")),
            "destination": pushed_model.get_string_custom_property("pushed_destination") or None,
            "version": pushed_model.get_string_custom_property("pushed_version") or None,
        }
    tf.io.gfile.copy(os.path.join(comparison.uri, PREDICTIONS_FILE), os.path.join(report.uri, PREDICTIONS_FILE),
                     overwrite=True)
    paired = _read_json(os.path.join(comparison.uri, COMPARISON_FILE))
    summary = build_summary(evaluation.uri, paired, arms, pushed, data_note)
    write_report(report.uri, summary)
    if report_dir:
        tf.io.gfile.makedirs(report_dir)
        for name in tf.io.gfile.listdir(report.uri):
            tf.io.gfile.copy(os.path.join(report.uri, name), os.path.join(report_dir, name), overwrite=True)
    logging.info("Comparison report: %s", os.path.join(report_dir or report.uri, REPORT_MARKDOWN_FILE))
