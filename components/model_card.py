"""ModelCard: the pushed model documented for the people who serve it, pushed next to it.

Runs after the Pusher.  Reads the PairedComparison's verdict (``comparison.json``), the examples' ingest
report (``ingest_report.json``: source, records per split, bad files), the chosen arm's
``training_summary.json`` (training settings) and the Pusher's result, and writes a model card in three forms:

* ``model_card.json``: the Model Card Toolkit's top-level sections and field names where they apply
  (``model_details``, ``model_parameters``, ``quantitative_analysis``, ``considerations``; metric values and
  interval bounds as strings, as that schema has them), plus the project's own sections with the figures as
  numbers: ``status``, ``data``, ``training``, ``verdict`` (with the interval and test methods named),
  ``serving_cost`` and ``lineage`` (the ML Metadata ids and URIs of the examples, every arm's model, the
  blessing and the pushed model);
* ``model_card.md`` and ``model_card.html``: the same, readable (jinja2 templates in
  ``components/templates``).

All three go into the ``model_card`` output artifact and, when the Pusher pushed, into the pushed version
directory beside ``saved_model.pb`` (TF Serving ignores files it does not know).  When nothing was pushed the
card in the artifact documents the best-ranked candidate and says it was not pushed; nothing is written under
the serving directory.
"""

import datetime
import json
import os

import tensorflow as tf
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components import rendering
from components.paired_comparison import PairedComparisonArtifact
from components.verdict import Verdict
from trainer.contract import (
    ALL_ARMS,
    CLASS_ID_OUTPUT,
    CLASS_NAME_OUTPUT,
    COMPARISON_FILE,
    EXAMPLES_INPUT,
    IMAGE_BYTES_INPUT,
    INGEST_REPORT_FILE,
    LEARNABLE_RESIZER_ARM,
    MODEL_CARD_HTML_FILE,
    MODEL_CARD_JSON_FILE,
    MODEL_CARD_MARKDOWN_FILE,
    MULLER_ARM,
    PROBABILITIES_OUTPUT,
    SERVED_MODEL_NAME,
    SERVING_DEFAULT_SIGNATURE,
    SERVING_TF_EXAMPLE_SIGNATURE,
    TRAINING_SUMMARY_FILE,
    model_input,
    model_run_input,
)

MODEL_NAME_KEY, DATA_NOTE_KEY = "model_name", "data_note"
EXAMPLES_KEY, COMPARISON_KEY, BLESSING_KEY, PUSHED_MODEL_KEY, OUTPUT_KEY = (
    "examples", "comparison", "blessing", "pushed_model", "model_card")

# The methods behind the verdict's figures (components/comparison_stats.py), named in every card.
METHODS = {
    "accuracy_interval": "95% Wilson score interval",
    "difference_interval": "95% Newcombe interval for paired proportions (method 10)",
    "test": "exact two-sided McNemar test on the examples where the two models disagree",
    "multiplicity": "Holm's step-down adjustment across the candidates",
}
REFERENCES = {
    LEARNABLE_RESIZER_ARM: "Talebi & Milanfar (2021), Learning to Resize Images for Computer Vision Tasks, "
                           "arXiv:2103.09950",
    MULLER_ARM: "Tu, Milanfar & Talebi (2023), MULLER: Multilayer Laplacian Resizer for Vision, arXiv:2304.02859",
}
# The training settings a card shows, from the arm's training configuration (trainer/config.py); the resizing
# stage's own settings only for the arm they belong to.
TRAINING_FIELDS = ("backbone", "backbone_weights", "image_size", "target_size", "resize_mode", "optimizer",
                   "learning_rate", "batch_size", "epochs", "label_smoothing", "seed", "precision",
                   "batchnorm_momentum", "precise_batchnorm", "warm_start_epochs")
ARM_FIELDS = {LEARNABLE_RESIZER_ARM: ("filters", "num_res_blocks"), MULLER_ARM: ("muller",)}


class ModelCardArtifact(types.Artifact):
    """A directory holding model_card.md, model_card.html and model_card.json."""

    # Kubeflow's "<namespace>.<Type>", and importable by that name (components/__init__.py).
    TYPE_NAME = "components.ModelCardArtifact"


def read_json(path: str, what: str) -> dict | None:
    """The JSON object in ``path``; None when the file does not exist.

    Args:
        path: a local or gfile path.
        what: what the file is, for the error message.

    Returns:
        The parsed object, or None when ``path`` does not exist.

    Raises:
        ValueError: the file is not a JSON object (the message names the file).
    """
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        text = f.read()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"ModelCard: {what} {path} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"ModelCard: {what} {path} must hold a JSON object, got {type(value).__name__}")
    return value


def push_time(version: str | None) -> str | None:
    """The Pusher's version (seconds since the epoch) as an ISO 8601 UTC time; None when it is not a number."""
    if not version or not str(version).isdigit():
        return None
    return datetime.datetime.fromtimestamp(int(version), tz=datetime.timezone.utc).isoformat(timespec="seconds")


def _data_section(ingest_report: dict | None) -> dict:
    if ingest_report is None:
        return {"source": None, "splits": {}, "label_names": [], "bad_files": None,
                "note": f"the examples artifact has no {INGEST_REPORT_FILE} (imported examples): "
                        "records per split and bad files are not known to the card"}
    splits = {name: entry.get("records_out") for name, entry in sorted(ingest_report.get("splits", {}).items())}
    totals = ingest_report.get("totals", {})
    return {
        "source": ingest_report.get("source"),
        "component": ingest_report.get("component"),
        "splits": splits,
        "split_config": ingest_report.get("split_buckets") or ingest_report.get("tfds_splits"),
        "label_names": list(ingest_report.get("label_names", [])),
        "bad_files": {
            "files_in": totals.get("files_in"),
            "converted": totals.get("converted"),
            "converted_by_reason": totals.get("converted_by_reason", {}),
            "skipped": totals.get("skipped"),
            "skipped_by_reason": totals.get("skipped_by_reason", {}),
            "max_bad_fraction": ingest_report.get("max_bad_fraction"),
            "file": ingest_report.get("bad_images_file"),
        },
    }


def _training_section(arm: str, summary: dict | None) -> dict:
    if not summary:
        return {"note": f"no {TRAINING_SUMMARY_FILE} for this arm"}
    config = summary.get("config") or {}
    history = summary.get("history") or {}
    fields = (*TRAINING_FIELDS, *ARM_FIELDS.get(arm, ()))
    return {
        "settings": {key: config.get(key) for key in fields if key in config},
        "epochs_run": len(history.get("loss", [])),
        "training_examples": summary.get("training_examples"),
        "validation_examples": summary.get("validation_examples"),
        "steps_per_epoch": summary.get("steps_per_epoch"),
        "final_train_loss": (history.get("loss") or [None])[-1],
        "final_validation_accuracy": (history.get("val_accuracy") or [None])[-1],
        "devices": summary.get("devices"),
        "replicas": summary.get("replicas"),
        "data_order_sha256": summary.get("data_order_sha256"),
        "fit_seconds": (summary.get("phase_seconds") or {}).get("fit"),
    }


def _flops(value: int | None) -> str:
    return "unmeasured FLOPs" if value is None else f"{rendering.flops(value)}FLOPs"


def _metric(kind: str, value: float | None, bounds, slice_name: str, signed=False) -> dict:
    fmt = rendering.signed if signed else rendering.num
    return {"type": kind, "value": fmt(value), "slice": slice_name,
            "confidence_interval": {"lower_bound": fmt(bounds[0]), "upper_bound": fmt(bounds[1])}}


def build_model_card(verdict: Verdict, model_name: str = SERVED_MODEL_NAME, ingest_report: dict | None = None,
                     training_summary: dict | None = None, pushed: dict | None = None,
                     lineage: dict | None = None, data_note: str = "") -> dict:
    """The model card of the verdict's chosen candidate (or, when none is chosen, its best-ranked one).

    Args:
        verdict: the PairedComparison's typed verdict (``comparison.json``).
        model_name: the name TF Serving serves the model under.
        ingest_report: the examples' ``ingest_report.json``, or None (imported examples have none).
        training_summary: the documented arm's ``training_summary.json``, or None.
        pushed: ``{"pushed": bool, "destination": str | None, "version": str | None}`` from the PushedModel
            artifact; None when the run has no Pusher.
        lineage: ML Metadata ids and URIs of the artifacts the card is about (any JSON object).
        data_note: what a reader must know about the data (the demo's synthetic-data note), or "".

    Returns:
        The card as a JSON-ready dict (see the module docstring for its sections).

    Raises:
        ValueError: the verdict has no candidate to document.
    """
    arm = verdict.headline
    if arm is None:
        raise ValueError("ModelCard: the verdict has no candidate arm to document")
    result, baseline, comparison = verdict.arms[arm], verdict.arms[verdict.baseline], verdict.comparisons[arm]
    was_pushed = bool(pushed and pushed.get("pushed"))
    training = _training_section(arm, training_summary)
    settings = training.get("settings", {})
    backbone = settings.get("backbone", "the configured backbone")
    data = _data_section(ingest_report)
    classes = data["label_names"] or ([] if not training_summary else training_summary.get("class_names") or [])
    split = verdict.split

    status = {
        "pushed": was_pushed,
        "blessed": verdict.blessed,
        "destination": pushed["destination"] if was_pushed else None,
        "version": pushed["version"] if was_pushed else None,
        "pushed_at": push_time(pushed["version"]) if was_pushed else None,
        "statement": (f"pushed as {model_name} version {pushed.get('version')}" if was_pushed
                      else "NOT pushed: " + verdict.rule if not verdict.blessed
                      else "blessed, but the Pusher pushed nothing" if pushed
                      else "blessed, not pushed (no Pusher in this run)"),
    }
    latency_setup = verdict.latency
    serving_cost = {
        "arm": arm,
        "parameters": result.cost.parameters,
        "resizer_parameters": result.cost.resizer_parameters,
        "model_flops_per_image": result.cost.model_flops,
        "resizer_flops_per_image": result.cost.resizer_flops,
        "latency_ms": result.latency.to_dict() if result.latency else None,
        "baseline_latency_ms": baseline.latency.to_dict() if baseline.latency else None,
        "latency_setup": latency_setup.to_dict() if latency_setup else None,
        "cpu": latency_setup.cpu if latency_setup else None,
        "baseline_model_flops_per_image": baseline.cost.model_flops,
    }
    limitations = []
    if data_note:
        limitations.append(data_note)
    limitations += [
        f"Measured on the {split} split alone (n = {verdict.n}) from the same source as the training data; "
        "accuracy on images from another source is unknown.",
        f"A {len(classes) or 'fixed number of'}-class classifier"
        + (f" ({', '.join(classes)})" if classes else "")
        + ": every input, whatever it shows, is given one of these classes.",
    ]
    if latency_setup:
        limitations.append(f"Latency was measured at batch {latency_setup.batch_size} in the comparison's process "
                           f"on {latency_setup.cpu}, not behind TF Serving; other hardware differs.")
    if not was_pushed:
        limitations.append("This model was not pushed: " + verdict.rule)

    performance = [
        _metric("accuracy", result.accuracy, result.ci95, f"{split} ({arm})"),
        _metric("accuracy", baseline.accuracy, baseline.ci95, f"{split} (baseline {verdict.baseline})"),
        _metric("accuracy difference from the baseline", comparison.difference, comparison.difference_ci95,
                f"{split}, paired", signed=True),
    ]
    inputs = (f"{SERVING_DEFAULT_SIGNATURE}: {IMAGE_BYTES_INPUT}, string [batch] of encoded images "
              f"(JPEG, PNG, GIF, BMP); {SERVING_TF_EXAMPLE_SIGNATURE}: {EXAMPLES_INPUT}, string [batch] of "
              "serialized tf.Example records")
    outputs = (f"{PROBABILITIES_OUTPUT}: float32 [batch, {len(classes) or 'classes'}] (sum to 1); "
               f"{CLASS_ID_OUTPUT}: int64 [batch]; {CLASS_NAME_OUTPUT}: string [batch]")
    architecture = (f"{backbone} classifier behind the {arm} resizing stage "
                    f"({'x'.join(map(str, settings.get('image_size', []))) or '?'} input resized to "
                    f"{'x'.join(map(str, settings.get('target_size', []))) or '?'})")
    return {
        "model_details": {
            "name": model_name,
            "overview": (f"Image classifier: {architecture}. Chosen among {len(verdict.candidates)} candidate "
                         f"resizing stage(s) by a paired comparison with the {verdict.baseline} baseline on the "
                         f"{split} split. {verdict.rule}"),
            "version": {"name": status["version"], "date": status["pushed_at"]},
            "path": status["destination"],
            "references": [{"reference": REFERENCES[arm]}] if arm in REFERENCES else [],
        },
        "model_parameters": {
            "model_architecture": architecture,
            "data": [{"name": name, "description": f"{n} records" if n is not None else "records not counted"}
                     for name, n in data["splits"].items()],
            "input_format": inputs,
            "output_format": outputs,
        },
        "quantitative_analysis": {"performance_metrics": performance},
        "considerations": {
            "users": [{"description": "Engineers serving this model with TF Serving and the people who decide "
                                      "whether to ship it."}],
            "use_cases": [{"description": f"Classifying images into {', '.join(classes) or 'the trained classes'}, "
                                          "from the same source as the training data."}],
            "limitations": [{"description": text} for text in limitations],
            "tradeoffs": [{"description": (
                f"{arm} costs {_flops(result.cost.model_flops)} per image against the baseline's "
                f"{_flops(baseline.cost.model_flops)}"
                + (f", {result.latency.ratio:.2f}x its serving latency" if result.latency and result.latency.ratio
                   else "")
                + f", for an accuracy difference of {rendering.signed(comparison.difference, 3)}.")}],
        },
        "status": status,
        "arm": arm,
        "data": dict(data, note=data.get("note"), data_note=data_note or None),
        "training": training,
        "verdict": {
            "split": split, "n": verdict.n, "baseline": verdict.baseline, "candidates": list(verdict.candidates),
            "chosen": verdict.chosen, "blessed": verdict.blessed, "rule": verdict.rule,
            "gate": verdict.gate.to_dict(),
            "accuracy": result.accuracy, "accuracy_ci95": list(result.ci95),
            "baseline_accuracy": baseline.accuracy, "baseline_accuracy_ci95": list(baseline.ci95),
            "difference": comparison.difference, "difference_ci95": list(comparison.difference_ci95),
            "mcnemar_p": comparison.mcnemar_p, "holm_p": comparison.holm_p,
            "discordant": {"only_candidate_right": comparison.only_candidate_right,
                           "only_baseline_right": comparison.only_baseline_right},
            "methods": dict(METHODS, gate_used="these intervals and this test (the Evaluator's TFMA jackknife "
                                               "intervals are shown in the comparison report only)"),
        },
        "serving_cost": serving_cost,
        "lineage": lineage or {},
    }


def lineage_rows(lineage: dict) -> list[tuple]:
    """``(artifact, ML Metadata id, uri)`` rows of a card's ``lineage`` section, in its order."""
    rows = []
    for name, entry in lineage.items():
        if name == "models" and entry:
            rows += [(f"model ({arm})", m.get("id"), m.get("uri")) for arm, m in entry.items()]
        elif isinstance(entry, dict):
            rows.append((name.replace("_", " "), entry.get("id"), entry.get("uri")))
    return rows


def render(card: dict, template_name: str) -> str:
    """``card`` rendered with ``components/templates/<template_name>`` (``model_card.md.j2`` or ``.html.j2``)."""
    environment = rendering.template_environment(
        num=rendering.num, signed=rendering.signed, pval=rendering.pval, flops=rendering.flops, count=rendering.count,
        interval=rendering.interval)
    return environment.get_template(template_name).render(c=card, rows=lineage_rows(card.get("lineage") or {}))


def write_model_card(directory: str, card: dict) -> list[str]:
    """Writes ``model_card.json``, ``model_card.md`` and ``model_card.html`` into ``directory``.

    Args:
        directory: a local or gfile directory (created when missing).
        card: :func:`build_model_card`'s result.

    Returns:
        The paths written.
    """
    tf.io.gfile.makedirs(directory)
    files = {MODEL_CARD_JSON_FILE: json.dumps(card, indent=2, default=str) + "\n",
             MODEL_CARD_MARKDOWN_FILE: render(card, "model_card.md.j2"),
             MODEL_CARD_HTML_FILE: render(card, "model_card.html.j2")}
    written = []
    for name, text in files.items():
        path = os.path.join(directory, name)
        with tf.io.gfile.GFile(path, "w") as f:
            f.write(text)
        written.append(path)
    return written


def _single(input_dict, key):
    return artifact_utils.get_single_instance(input_dict[key]) if input_dict.get(key) else None


class ModelCardSpec(types.ComponentSpec):
    """The examples, the verdict, its blessing, every arm's model and run and the push in; the model card out."""

    PARAMETERS = {
        MODEL_NAME_KEY: ExecutionParameter(type=str),
        DATA_NOTE_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        COMPARISON_KEY: ChannelParameter(type=PairedComparisonArtifact),
        BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
        PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel, optional=True),
        **{model_input(arm): ChannelParameter(type=standard_artifacts.Model, optional=True) for arm in ALL_ARMS},
        **{model_run_input(arm): ChannelParameter(type=standard_artifacts.ModelRun, optional=True)
           for arm in ALL_ARMS},
    }
    OUTPUTS = {OUTPUT_KEY: ChannelParameter(type=ModelCardArtifact)}


class Executor(base_executor.BaseExecutor):
    """See the module docstring."""

    def Do(self, input_dict, output_dict, exec_properties):
        output = artifact_utils.get_single_instance(output_dict[OUTPUT_KEY])
        examples = _single(input_dict, EXAMPLES_KEY)
        comparison = _single(input_dict, COMPARISON_KEY)
        blessing = _single(input_dict, BLESSING_KEY)
        pushed_model = _single(input_dict, PUSHED_MODEL_KEY)
        comparison_file = os.path.join(comparison.uri, COMPARISON_FILE)
        values = read_json(comparison_file, "the verdict")
        if values is None:
            raise FileNotFoundError(f"ModelCard: no verdict at {comparison_file}")
        verdict = Verdict.from_dict(values)
        arm = verdict.headline
        run = _single(input_dict, model_run_input(arm))
        training_summary = (read_json(os.path.join(run.uri, TRAINING_SUMMARY_FILE), "the training summary")
                            if run else None)
        ingest_report = read_json(os.path.join(examples.uri, INGEST_REPORT_FILE), "the ingest report")
        pushed = None
        if pushed_model is not None:
            pushed = {"pushed": bool(pushed_model.get_int_custom_property("pushed")),
                      "destination": pushed_model.get_string_custom_property("pushed_destination") or None,
                      "version": pushed_model.get_string_custom_property("pushed_version") or None}
        models = {a: _single(input_dict, model_input(a)) for a in (verdict.baseline, *verdict.candidates)}
        lineage = {
            "examples": {"id": examples.id, "uri": examples.uri},
            "models": {a: {"id": m.id, "uri": m.uri} for a, m in models.items() if m is not None},
            "model_run": {"id": run.id, "uri": run.uri} if run else None,
            "comparison": {"id": comparison.id, "uri": comparison.uri},
            "blessing": {"id": blessing.id, "uri": blessing.uri,
                         "blessed": bool(blessing.get_int_custom_property("blessed")),
                         "current_model_id": blessing.get_int_custom_property("current_model_id") or None},
            "pushed_model": {"id": pushed_model.id, "uri": pushed_model.uri} if pushed_model else None,
        }
        card = build_model_card(verdict, exec_properties[MODEL_NAME_KEY], ingest_report, training_summary,
                                pushed, lineage, exec_properties.get(DATA_NOTE_KEY) or "")
        write_model_card(output.uri, card)
        if pushed and pushed["pushed"] and pushed["destination"]:
            write_model_card(pushed["destination"], card)
            logging.info("Model card: %s", os.path.join(pushed["destination"], MODEL_CARD_MARKDOWN_FILE))
        else:
            logging.info("Model card (nothing pushed): %s", os.path.join(output.uri, MODEL_CARD_MARKDOWN_FILE))


class ModelCard(base_component.BaseComponent):
    """The model card of the pushed model (Markdown, HTML, JSON), in its artifact and beside the pushed model.

    Args:
        examples: the Examples channel (its ``ingest_report.json``: source, records per split, bad files).
        comparison: the PairedComparison's ``comparison`` channel (``comparison.json``, the verdict).
        blessing: the PairedComparison's ``blessing`` channel (ModelBlessing).
        models: arm name -> that arm's Trainer ``model`` channel (Model; lineage).
        model_runs: arm name -> that arm's Trainer ``model_run`` channel (ModelRun; ``training_summary.json``).
        pushed_model: the Pusher's ``pushed_model`` channel (PushedModel), when the run has a Pusher.
        model_name: the name TF Serving serves the model under.
        data_note: what a reader must know about the data, listed first among the limitations.

    Outputs:
        model_card: :class:`ModelCardArtifact` holding ``model_card.md``, ``model_card.html`` and
            ``model_card.json``; the same three files are written into the pushed version directory when the
            Pusher pushed.
    """

    SPEC_CLASS = ModelCardSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, examples, comparison, blessing, models: dict[str, types.BaseChannel],
                 model_runs: dict[str, types.BaseChannel], pushed_model=None, model_name: str = SERVED_MODEL_NAME,
                 data_note: str = ""):
        super().__init__(ModelCardSpec(
            examples=examples, comparison=comparison, blessing=blessing, pushed_model=pushed_model,
            model_name=model_name, data_note=data_note, model_card=types.Channel(type=ModelCardArtifact),
            **{model_input(arm): channel for arm, channel in models.items()},
            **{model_run_input(arm): channel for arm, channel in model_runs.items()}))
