"""ComparisonReport: the verdict and every arm side by side, readable without a notebook.

Reads the PairedComparison's verdict (``comparison.json``), the Evaluator's TFMA output (metrics per slice,
with n, confusion matrices), every arm's ``training_summary.json`` and resizer picture, and the Pusher's
result and the servability check's InfraBlessing when there are; writes ``report.md``, ``report.html`` (both
from the jinja2 templates in ``components/templates``, their verdict tables from ``components/verdict_text.py``,
their numbers formatted by ``components/rendering.py``), ``summary.json``, the training-curve plot and the
per-example predictions into its output artifact and, when ``report_dir`` is set, a copy there.

``summary.json``: ``verdict`` (the whole typed verdict), and for readers of one figure each: ``chosen``,
``blessed``, ``rule``; ``comparison`` (the chosen candidate against the baseline, or the best-ranked candidate
when none is chosen, in the single-comparison form: ``n``, ``split``, ``candidate``/``baseline`` with
``accuracy``, ``correct``, ``ci95``, ``difference``, ``difference_ci95``, ``discordant``, ``mcnemar_p``,
``holm_p``, ``blessed``, ``rule``, ``data_order_sha256`` per arm); ``arms`` (per arm: ``role``, ``accuracy``,
``ci95``, ``parameters`` and ``flops`` of its resizing stage, ``model_parameters``, ``model_flops``,
``latency_ms``, ``latency_ratio``); ``comparisons`` (per candidate: ``difference``, ``difference_ci95``,
``mcnemar_p``, ``holm_p``, ``significant``, ``passes``); plus ``metrics``, ``confusion_matrices``,
``training`` (every arm's summary), ``tuning`` (per tuned arm: what its Tuner searched and chose, from its
summary; empty without ``tuning.trials``), ``pushed`` and ``servability`` (``blessed``, ``reason``; null
without a servability check).
"""

import json
import os

import tensorflow as tf
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components import rendering, report_plots, tfma_results, verdict_text
from components.paired_comparison import PairedComparisonArtifact
from components.verdict import Verdict
from trainer import tuning as tuning_lib
from trainer.contract import (
    ALL_ARMS,
    COMPARISON_FILE,
    PREDICTIONS_FILE,
    REPORT_HTML_FILE,
    REPORT_MARKDOWN_FILE,
    REPORT_SUMMARY_FILE,
    RESIZER_PICTURE_FILE,
    TRAINING_CURVES_FILE,
    TRAINING_SUMMARY_FILE,
    model_input,
    model_run_input,
)

PUSHED_MODEL_KEY, REPORT_DIR_KEY, DATA_NOTE_KEY = "pushed_model", "report_dir", "data_note"
INFRA_BLESSING_KEY = "infra_blessing"


class ComparisonReportArtifact(types.Artifact):
    """A directory holding report.md, report.html, summary.json, the plots, pictures and predictions."""

    # Kubeflow's "<namespace>.<Type>", and importable by that name (components/__init__.py).
    TYPE_NAME = "components.ComparisonReportArtifact"


def _read_json(path):
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def single_comparison(verdict: Verdict, orders: dict[str, str | None]) -> dict:
    """The headline candidate against the baseline, in the one-comparison form ``summary.json`` has always had."""
    arm = verdict.headline
    c, candidate, baseline = verdict.comparisons[arm], verdict.arms[arm], verdict.arms[verdict.baseline]

    def side(result):
        return {"arm": result.arm, "accuracy": result.accuracy, "correct": result.correct, "ci95": list(result.ci95)}

    return {
        "n": verdict.n, "split": verdict.split, "candidate": side(candidate), "baseline": side(baseline),
        "difference": c.difference, "difference_ci95": list(c.difference_ci95),
        "discordant": {"only_candidate_right": c.only_candidate_right, "only_baseline_right": c.only_baseline_right},
        "mcnemar_p": c.mcnemar_p, "holm_p": c.holm_p, "blessed": verdict.blessed, "rule": verdict.rule,
        "gate": verdict.gate.to_dict(), "data_order_sha256": orders,
        "tfma_accuracy": {a: r.tfma_accuracy for a, r in verdict.arms.items()},
    }


def arm_figures(verdict: Verdict) -> dict[str, dict]:
    """``summary.json``'s ``arms``: per arm its role, accuracy with 95 % interval, cost and serving latency.

    Args:
        verdict: the PairedComparison's verdict.

    Returns:
        {arm: {``role``, ``accuracy``, ``ci95``, ``parameters`` and ``flops`` (its resizing stage),
        ``model_parameters``, ``model_flops`` (FLOPs per image), ``latency_ms`` (median at batch 1),
        ``latency_ratio`` (against the baseline's)}}; None where a figure was not measured.
    """
    return {arm: {"role": r.role, "accuracy": r.accuracy, "ci95": list(r.ci95),
                  "parameters": r.cost.resizer_parameters, "flops": r.cost.resizer_flops,
                  "model_parameters": r.cost.parameters, "model_flops": r.cost.model_flops,
                  "latency_ms": r.latency.median_ms if r.latency else None,
                  "latency_ratio": r.latency.ratio if r.latency else None}
            for arm, r in verdict.arms.items()}


def build_summary(evaluation_uri: str, verdict: Verdict, arms: dict[str, dict], pushed: dict,
                  data_note: str = "", servability: dict | None = None) -> dict:
    """Everything the report shows, JSON-ready (``reports/summary.json``; see the module docstring).

    Args:
        evaluation_uri: the Evaluator's ModelEvaluation directory (TFMA's metrics and confusion matrices).
        verdict: the PairedComparison's verdict.
        arms: per arm, its ``training_summary.json`` (plus ``picture_file`` when its picture was copied).
        pushed: ``pushed``, ``destination``, ``version`` (and ``arm``) of the Pusher's result.
        data_note: what a reader must know about the data.
        servability: ``blessed`` and ``reason`` of the servability check; None without one.

    Returns:
        The summary dict (JSON-ready).
    """
    class_names = next((a["class_names"] for a in arms.values() if a.get("class_names")), ())
    orders = {arm: arms.get(arm, {}).get("data_order_sha256") for arm in verdict.arms}
    return {
        "data_note": data_note,
        "blessed": verdict.blessed,
        "chosen": verdict.chosen,
        "rule": verdict.rule,
        "comparison": single_comparison(verdict, orders),
        "arms": arm_figures(verdict),
        "comparisons": {arm: {"difference": c.difference, "difference_ci95": list(c.difference_ci95),
                              "mcnemar_p": c.mcnemar_p, "holm_p": c.holm_p, "significant": c.significant,
                              "passes": c.passes} for arm, c in verdict.comparisons.items()},
        "verdict": verdict.to_dict(),
        "metrics": tfma_results.read_metrics(evaluation_uri, class_names),
        "class_names": list(class_names),
        "confusion_matrices": tfma_results.read_confusion_matrices(evaluation_uri),
        "training": arms,
        "tuning": tuning_summary(arms),
        "pushed": pushed,
        "servability": servability,
    }


def tuning_summary(arms: dict[str, dict]) -> dict[str, dict]:
    """Each tuned arm's search as its Trainer recorded it (``training_summary.json``'s ``tuning``).

    Args:
        arms: every arm's training summary, by arm.

    Returns:
        {arm: {"trials", "epochs", "objective", "searched", "chosen", "configured", "searched_text",
        "chosen_text"}} for the arms whose Trainer took a Tuner's hyperparameters; empty without tuning.
    """
    return {arm: {**entry["tuning"], "searched_text": tuning_lib.describe_search(entry["tuning"]),
                  "chosen_text": tuning_lib.describe_choice(entry["tuning"])}
            for arm, entry in arms.items() if entry.get("tuning")}


# --- rendering -------------------------------------------------------------------------------------------

def _cell(cell, column, signed=False):
    value = cell.get(column)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    text = (rendering.signed if signed else rendering.num)(value)
    bounds = cell.get("ci95", {}).get(column)
    if not bounds:
        return text
    clipped = "*" if column in cell.get("ci95_clipped", ()) else ""
    return f"{text} [{rendering.num(bounds[0])}, {rendering.num(bounds[1])}]{clipped}"


def _training_rows(arms, names):
    def row(label, fn):
        cells = []
        for arm in names:
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
        row("validation accuracy, BatchNorm statistics recomputed (PreciseBN)",
            lambda a: f"{a['precise_batchnorm']['validation_accuracy']:.4f}"),
        row("train images/s (last epoch)", lambda a: f"{a['train_images_per_second'][-1]:.2f}"),
        row("precision / replicas", lambda a: f"{a['precision']} / {a['replicas']}"),
        row("initial backbone sha256", lambda a: a["initial_backbone_sha256"][:16]),
        row("data order sha256", lambda a: a["data_order_sha256"][:16]),
    ]


def render(summary: dict, template_name: str) -> str:
    """The report from ``summary`` with ``components/templates/<template_name>``.

    Args:
        summary: :func:`build_summary`'s result (``summary.json``).
        template_name: ``report.md.j2`` or ``report.html.j2``.

    Returns:
        The report's text.
    """
    environment = rendering.template_environment(cell=_cell, markdown=verdict_text.markdown_table)
    verdict = Verdict.from_dict(summary["verdict"])
    names = summary.get("class_names") or []
    arms = [verdict.baseline, *verdict.candidates]
    orders = summary["comparison"].get("data_order_sha256", {})
    training = summary["training"]
    slices = sorted(summary["metrics"].items(), key=lambda kv: (kv[0] != "overall", kv[0]))
    metric_columns = ([(arm, arm, False) for arm in arms]
                      + [(f"{arm} - {verdict.baseline}", tfma_results.diff_column(arm), True)
                         for arm in verdict.candidates])
    return environment.get_template(template_name).render(
        v=verdict,
        arms=arms,
        table=verdict_text.verdict_table(verdict),
        latency_note=verdict_text.latency_note(verdict),
        data_note=summary.get("data_note"),
        pushed=summary.get("pushed") or {},
        servability=summary.get("servability") or {},
        orders=orders,
        same_order=len({orders.get(arm) for arm in arms}) == 1 and bool(orders.get(verdict.baseline)),
        predictions_file=PREDICTIONS_FILE,
        curves_file=TRAINING_CURVES_FILE,
        slices=slices,
        metric_columns=metric_columns,
        has_ci=any("ci95" in cell for _, entry in slices for cell in entry["metrics"].values()),
        has_clipped=any("ci95_clipped" in cell for _, entry in slices for cell in entry["metrics"].values()),
        confusion=summary.get("confusion_matrices") or {},
        class_name=lambda i: names[i] if i < len(names) else str(i),
        training_rows=_training_rows(training, arms),
        tuning=[(arm, summary["tuning"][arm]) for arm in arms if arm in (summary.get("tuning") or {})],
        pictures=[(arm, training[arm]["picture_file"]) for arm in arms
                  if training.get(arm, {}).get("picture_file")],
    )


def write_report(out_dir: str, summary: dict) -> None:
    """Writes report.md, report.html, summary.json and training_curves.png into ``out_dir``.

    Args:
        out_dir: an existing directory, local or on any filesystem ``tf.io.gfile`` knows.
        summary: :func:`build_summary`'s result.
    """
    histories = {arm: entry.get("history", {}) for arm, entry in summary["training"].items()}
    with tf.io.gfile.GFile(os.path.join(out_dir, TRAINING_CURVES_FILE), "wb") as f:
        f.write(report_plots.training_curves(histories))
    files = {REPORT_MARKDOWN_FILE: render(summary, "report.md.j2"),
             REPORT_HTML_FILE: render(summary, "report.html.j2"),
             REPORT_SUMMARY_FILE: json.dumps(summary, indent=2, default=str)}
    for name, text in files.items():
        with tf.io.gfile.GFile(os.path.join(out_dir, name), "w") as f:
            f.write(text)


class ComparisonReportSpec(types.ComponentSpec):
    """The verdict, TFMA's evaluation, every arm's model and run, and the push's outcome in; the report out."""

    PARAMETERS = {
        REPORT_DIR_KEY: ExecutionParameter(type=str, optional=True),
        DATA_NOTE_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        "evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
        "comparison": ChannelParameter(type=PairedComparisonArtifact),
        PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel, optional=True),
        INFRA_BLESSING_KEY: ChannelParameter(type=standard_artifacts.InfraBlessing, optional=True),
        **{model_input(arm): ChannelParameter(type=standard_artifacts.Model, optional=True) for arm in ALL_ARMS},
        **{model_run_input(arm): ChannelParameter(type=standard_artifacts.ModelRun, optional=True)
           for arm in ALL_ARMS},
    }
    OUTPUTS = {"report": ChannelParameter(type=ComparisonReportArtifact)}


class Executor(base_executor.BaseExecutor):
    """See the module docstring."""

    def Do(self, input_dict, output_dict, exec_properties):
        report = artifact_utils.get_single_instance(output_dict["report"])
        comparison = artifact_utils.get_single_instance(input_dict["comparison"])
        evaluation = artifact_utils.get_single_instance(input_dict["evaluation"])
        # Kubeflow's launcher creates only an output's parent directory (object stores need none).
        tf.io.gfile.makedirs(report.uri)
        verdict = Verdict.from_dict(_read_json(os.path.join(comparison.uri, COMPARISON_FILE)))
        arms = {}
        for arm in (verdict.baseline, *verdict.candidates):
            summary = {}
            if input_dict.get(model_run_input(arm)):
                run = artifact_utils.get_single_instance(input_dict[model_run_input(arm)])
                summary = _read_json(os.path.join(run.uri, TRAINING_SUMMARY_FILE))
            if input_dict.get(model_input(arm)):
                model = artifact_utils.get_single_instance(input_dict[model_input(arm)])
                picture = os.path.join(model.uri, RESIZER_PICTURE_FILE)
                if tf.io.gfile.exists(picture):
                    name = f"{arm}_{RESIZER_PICTURE_FILE}"
                    tf.io.gfile.copy(picture, os.path.join(report.uri, name), overwrite=True)
                    summary["picture_file"] = name
            arms[arm] = summary
        pushed = {"pushed": False, "destination": None, "version": None}
        if input_dict.get(PUSHED_MODEL_KEY):
            pushed_model = artifact_utils.get_single_instance(input_dict[PUSHED_MODEL_KEY])
            pushed = {
                "pushed": bool(pushed_model.get_int_custom_property("pushed")),
                "destination": pushed_model.get_string_custom_property("pushed_destination") or None,
                "version": pushed_model.get_string_custom_property("pushed_version") or None,
                "arm": verdict.chosen if pushed_model.get_int_custom_property("pushed") else None,
            }
        servability = None
        if input_dict.get(INFRA_BLESSING_KEY):
            infra_blessing = artifact_utils.get_single_instance(input_dict[INFRA_BLESSING_KEY])
            servability = {"blessed": bool(infra_blessing.get_int_custom_property("blessed")),
                           "reason": infra_blessing.get_string_custom_property("reason") or None}
        tf.io.gfile.copy(os.path.join(comparison.uri, PREDICTIONS_FILE), os.path.join(report.uri, PREDICTIONS_FILE),
                         overwrite=True)
        summary = build_summary(evaluation.uri, verdict, arms, pushed, exec_properties.get(DATA_NOTE_KEY) or "",
                                servability)
        write_report(report.uri, summary)
        report_dir = exec_properties.get(REPORT_DIR_KEY) or ""
        if report_dir:
            tf.io.gfile.makedirs(report_dir)
            for name in tf.io.gfile.listdir(report.uri):
                tf.io.gfile.copy(os.path.join(report.uri, name), os.path.join(report_dir, name), overwrite=True)
        logging.info("Comparison report: %s", os.path.join(report_dir or report.uri, REPORT_MARKDOWN_FILE))


class ComparisonReport(base_component.BaseComponent):
    """The report of a run: the verdict, every arm's metrics, training and pictures.

    Args:
        evaluation: the Evaluator's ``evaluation`` channel (ModelEvaluation): metrics per slice, confusion
            matrices.
        comparison: the PairedComparison's ``comparison`` channel (``comparison.json``, ``predictions.csv``).
        models: arm name -> that arm's Trainer ``model`` channel (Model; its ``resizer_picture.png``).
        model_runs: arm name -> that arm's Trainer ``model_run`` channel (ModelRun; ``training_summary.json``).
        pushed_model: the Pusher's ``pushed_model`` channel (PushedModel), when the run has a Pusher.
        report_dir: also copy every file of the report here (a local or gfile path); "": no copy.
        data_note: what a reader must know about the data, shown at the top.
        infra_blessing: the ServabilityCheck's (or TFX InfraValidator's) ``blessing`` channel (InfraBlessing),
            when the run has one: the summary's ``servability`` (``blessed``, ``reason``).

    Outputs:
        report: :class:`ComparisonReportArtifact` holding ``report.md``, ``report.html``, ``summary.json``,
            ``training_curves.png``, ``<arm>_resizer_picture.png`` per arm and ``predictions.csv``.
    """

    SPEC_CLASS = ComparisonReportSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, evaluation, comparison, models: dict[str, types.BaseChannel],
                 model_runs: dict[str, types.BaseChannel], pushed_model=None, report_dir: str = "",
                 data_note: str = "", infra_blessing=None):
        super().__init__(ComparisonReportSpec(
            evaluation=evaluation, comparison=comparison, pushed_model=pushed_model, infra_blessing=infra_blessing,
            report_dir=report_dir,
            data_note=data_note, report=types.Channel(type=ComparisonReportArtifact),
            **{model_input(arm): channel for arm, channel in models.items()},
            **{model_run_input(arm): channel for arm, channel in model_runs.items()}))
