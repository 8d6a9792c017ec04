"""ComparisonReport: both arms side by side, readable without a notebook.

Reads the Evaluator's TFMA output (candidate vs baseline), its blessing, both
Trainers' ``training_summary.json`` and resizer pictures, and the Pusher's
result; writes ``report.md``, ``report.html`` and ``summary.json`` into its
output artifact and, when ``report_dir`` is set, a copy there.
"""

import html
import json
import os
from typing import Dict, List

import tensorflow as tf
import tensorflow_model_analysis as tfma
from absl import logging
from tfx import types
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from trainer.contract import (
    ACCURACY_METRIC,
    BASELINE_ARM,
    CANDIDATE_ARM,
    REPORT_HTML_FILE,
    REPORT_MARKDOWN_FILE,
    REPORT_SUMMARY_FILE,
    RESIZER_PICTURE_FILE,
    TRAINING_SUMMARY_FILE,
)

CANDIDATE, BASELINE = CANDIDATE_ARM, BASELINE_ARM


class ComparisonReportArtifact(types.Artifact):
    """A directory holding report.md, report.html, summary.json and the pictures."""

    # Kubeflow V2 requires "<namespace>.<TypeName>".
    TYPE_NAME = "resizer_tfx.ComparisonReport"


def _metric_name(key, class_names=()):
    name = key.name
    if key.HasField("sub_key") and key.sub_key.HasField("class_id"):
        class_id = key.sub_key.class_id.value
        name += f"[{class_names[class_id] if class_id < len(class_names) else f'class {class_id}'}]"
    if key.HasField("aggregation_type") and key.aggregation_type.macro_average:
        name += " (macro)"
    return name


def _slice_name(slice_key):
    parts = []
    for single in slice_key.single_slice_keys:
        value = single.bytes_value.decode() if single.HasField("bytes_value") else (
            single.int64_value if single.HasField("int64_value") else single.float_value
        )
        parts.append(f"{single.column}={value}")
    return ", ".join(parts) or "overall"


def read_metrics(evaluation_uri, class_names=()) -> Dict[str, Dict[str, Dict[str, float]]]:
    """{slice: {metric: {'learnable_resizer': v, 'bilinear_baseline': v, 'diff': v}}}."""
    out: Dict[str, Dict[str, Dict[str, float]]] = {}
    for metrics in tfma.load_metrics(evaluation_uri):
        slice_metrics = out.setdefault(_slice_name(metrics.slice_key), {})
        for kv in metrics.metric_keys_and_values:
            if not kv.value.HasField("double_value"):
                continue
            column = "diff" if kv.key.is_diff else (kv.key.model_name or CANDIDATE)
            slice_metrics.setdefault(_metric_name(kv.key, class_names), {})[column] = kv.value.double_value.value
    return out


def read_confusion_matrices(evaluation_uri) -> Dict[str, List[List[float]]]:
    """{model: [[count of actual i predicted j]]} on the overall slice."""
    out = {}
    for plots in tfma.load_plots(evaluation_uri):
        if _slice_name(plots.slice_key) != "overall":
            continue
        for kv in plots.plot_keys_and_values:
            if not kv.value.HasField("multi_class_confusion_matrix_at_thresholds"):
                continue
            # Threshold 0 is the plain argmax prediction.
            matrices = kv.value.multi_class_confusion_matrix_at_thresholds.matrices
            chosen = min(matrices, key=lambda m: abs(m.threshold), default=None)
            if chosen is None:
                continue
            entries = chosen.entries
            size = 1 + max([max(e.actual_class_id, e.predicted_class_id) for e in entries] or [0])
            matrix = [[0.0] * size for _ in range(size)]
            for e in entries:
                if e.actual_class_id >= 0 and e.predicted_class_id >= 0:
                    matrix[e.actual_class_id][e.predicted_class_id] = e.num_weighted_examples
            out[kv.key.model_name or CANDIDATE] = matrix
    return out


def _read_json(path):
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def build_summary(evaluation_uri, blessed, arms, pushed):
    validation = tfma.load_validation_result(evaluation_uri)
    class_names = arms.get(CANDIDATE, {}).get("class_names", ())
    metrics = read_metrics(evaluation_uri, class_names)
    overall = metrics.get("overall", {})
    accuracy = overall.get(ACCURACY_METRIC, {})
    return {
        "blessed": bool(blessed),
        "validation_failures": [str(f) for f in validation.metric_validations_per_slice][:5],
        "accuracy": {
            CANDIDATE: accuracy.get(CANDIDATE),
            BASELINE: accuracy.get(BASELINE),
            "diff": accuracy.get("diff"),
        },
        "metrics": metrics,
        "class_names": list(class_names),
        "confusion_matrices": read_confusion_matrices(evaluation_uri),
        "training": arms,
        "pushed": pushed,
    }


def _fmt(value):
    return "" if value is None else (f"{value:+.4f}" if isinstance(value, float) and value < 0 else f"{value:.4f}")


def render_markdown(summary) -> str:
    acc = summary["accuracy"]
    lines = [
        "# Learnable resizer vs bilinear baseline",
        "",
        f"**Blessed:** {'yes' if summary['blessed'] else 'no'}  ",
        f"**Pushed:** {summary['pushed'].get('destination') or 'no'}",
        "",
        f"Overall accuracy: learnable resizer {_fmt(acc[CANDIDATE])}, bilinear baseline "
        f"{_fmt(acc[BASELINE])}, difference {_fmt(acc['diff'])}.",
        "",
    ]
    if summary["validation_failures"]:
        lines += ["Failed gates:", "", "```", *summary["validation_failures"], "```", ""]
    for slice_name, metrics in sorted(summary["metrics"].items(), key=lambda kv: kv[0] != "overall"):
        lines += [f"## Metrics: {slice_name}", "", "| metric | learnable resizer | bilinear baseline | difference |",
                  "|---|---|---|---|"]
        for name, values in sorted(metrics.items()):
            lines.append(
                f"| {name} | {_fmt(values.get(CANDIDATE))} | {_fmt(values.get(BASELINE))} | {_fmt(values.get('diff'))} |"
            )
        lines.append("")
    names = summary.get("class_names") or []

    def class_name(i):
        return names[i] if i < len(names) else str(i)

    for model, matrix in sorted(summary["confusion_matrices"].items()):
        lines += [f"## Confusion matrix: {model} (rows: actual, columns: predicted)", "",
                  "| | " + " | ".join(f"predicted {class_name(j)}" for j in range(len(matrix))) + " |",
                  "|---" * (len(matrix) + 1) + "|"]
        lines += [f"| {class_name(i)} | " + " | ".join(f"{v:g}" for v in row) + " |"
                  for i, row in enumerate(matrix)]
        lines.append("")
    lines += ["## Training", "", "| | learnable resizer | bilinear baseline |", "|---|---|---|"]
    arms = summary["training"]

    def row(label, fn):
        cells = []
        for arm in (CANDIDATE, BASELINE):
            try:
                cells.append(fn(arms[arm]))
            except (KeyError, IndexError, TypeError, ZeroDivisionError):
                cells.append("")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("parameters", lambda a: f"{a['parameters']:,}")
    row("epochs", lambda a: str(len(a["history"]["loss"])))
    row("final train loss", lambda a: f"{a['history']['loss'][-1]:.4f}")
    row("final val accuracy (Keras)", lambda a: f"{a['history']['val_accuracy'][-1]:.4f}")
    row("train images/s (last epoch)", lambda a: f"{a['train_images_per_second'][-1]:.2f}")
    row("precision / replicas", lambda a: f"{a['precision']} / {a['replicas']}")
    row("initial backbone sha256", lambda a: a["initial_backbone_sha256"][:16])
    lines.append("")
    lines += ["## Resizer pictures", ""]
    for arm in (CANDIDATE, BASELINE):
        if arms.get(arm, {}).get("picture_file"):
            lines += [f"### {arm}", "", f"![{arm}]({arms[arm]['picture_file']})", ""]
    return "\n".join(lines)


def render_html(markdown_text) -> str:
    """A plain, dependency-free HTML rendering of the Markdown report."""
    body, in_table, in_code = [], False, False
    for line in markdown_text.splitlines():
        if line.startswith("```"):
            body.append("</pre>" if in_code else "<pre>")
            in_code = not in_code
            continue
        if in_code:
            body.append(html.escape(line))
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(set(c) <= {"-"} for c in cells):
                continue
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line.lstrip('# '))}</h{level}>")
        elif line.startswith("!["):
            src = line[line.index("(") + 1:-1]
            body.append(f'<img src="{html.escape(src)}" alt="{html.escape(src)}">')
        elif line.strip():
            text = html.escape(line.rstrip(" ")).replace("**", "")
            body.append(f"<p>{text}</p>")
    if in_table:
        body.append("</table>")
    style = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td{border:1px solid #ccc;padding:3px 8px}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>Resizer comparison</title><style>{style}</style></head><body>{''.join(body)}</body></html>"


@component
def ComparisonReport(  # noqa: N802 (TFX component naming)
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    blessing: InputArtifact[standard_artifacts.ModelBlessing],
    candidate_model: InputArtifact[standard_artifacts.Model],
    candidate_run: InputArtifact[standard_artifacts.ModelRun],
    baseline_model: InputArtifact[standard_artifacts.Model],
    baseline_run: InputArtifact[standard_artifacts.ModelRun],
    pushed_model: InputArtifact[standard_artifacts.PushedModel],
    report: OutputArtifact[ComparisonReportArtifact],
    report_dir: Parameter[str] = "",
):
    arms = {}
    for arm, model, run in ((CANDIDATE, candidate_model, candidate_run), (BASELINE, baseline_model, baseline_run)):
        summary = _read_json(os.path.join(run.uri, TRAINING_SUMMARY_FILE))
        picture = os.path.join(model.uri, RESIZER_PICTURE_FILE)
        if tf.io.gfile.exists(picture):
            name = f"{arm}_{RESIZER_PICTURE_FILE}"
            tf.io.gfile.copy(picture, os.path.join(report.uri, name), overwrite=True)
            summary["picture_file"] = name
        arms[arm] = summary
    blessed = bool(blessing.get_int_custom_property("blessed"))
    pushed = {
        "pushed": bool(pushed_model.get_int_custom_property("pushed")),
        "destination": pushed_model.get_string_custom_property("pushed_destination") or None,
        "version": pushed_model.get_string_custom_property("pushed_version") or None,
    }
    summary = build_summary(evaluation.uri, blessed, arms, pushed)
    markdown = render_markdown(summary)
    files = {REPORT_MARKDOWN_FILE: markdown, REPORT_HTML_FILE: render_html(markdown),
             REPORT_SUMMARY_FILE: json.dumps(summary, indent=2, default=str)}
    for name, text in files.items():
        with tf.io.gfile.GFile(os.path.join(report.uri, name), "w") as f:
            f.write(text)
    if report_dir:
        tf.io.gfile.makedirs(report_dir)
        for name in tf.io.gfile.listdir(report.uri):
            tf.io.gfile.copy(os.path.join(report.uri, name), os.path.join(report_dir, name), overwrite=True)
    logging.info("Comparison report: %s", os.path.join(report_dir or report.uri, REPORT_MARKDOWN_FILE))
