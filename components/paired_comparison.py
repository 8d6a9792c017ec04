"""PairedComparison: every arm on every example of one split, the paired statistics, the cost, and the gate.

TFMA (the Evaluator) stays the metrics system: accuracy, AUC, calibration,
confusion matrices, slices.  What it does not give is the *paired* view: all
arms predict the same examples, so "is this candidate better than the
baseline?" is a question about the examples where the two disagree, and with
several candidates the answer must control for multiplicity.  This component:

1. takes every arm's class probabilities on every example of ``split`` (the
   test split, which nothing was tuned on) from the Evaluator, which ran each
   arm's ``serving_tf_example`` signature on them
   (``components/evaluator_probabilities.py``), or runs the arms' SavedModels
   itself when the evaluation has no such file for every example and arm; and
   writes the per-example predictions (``predictions.csv``: file name, label,
   each arm's class and class probabilities);
2. checks each arm's accuracy against TFMA's for the same model and split;
3. reads each arm's cost (``model_cost.json``, written by its Trainer:
   parameters and FLOPs per image) and measures each arm's serving latency
   at batch 1 (``serving_default`` on one encoded test image, arms
   interleaved call by call, ``latency_calls`` timed calls after
   ``latency_warmup``);
4. builds the typed verdict (``components/verdict.py``): every candidate vs
   the baseline (Wilson, Newcombe, exact McNemar, Holm across candidates),
   the gate, the chosen candidate and the rule in one sentence;
5. writes a ``ModelBlessing`` for the Pusher and copies the chosen
   candidate's Model artifact into ``chosen_model``, which the Pusher pushes
   (nothing is chosen, and the blessing says NOT_BLESSED, when no candidate
   passes).  This is the pipeline's only gate: the Evaluator computes
   metrics without thresholds.

``comparison.json`` in the ``comparison`` artifact is the verdict (``Verdict.to_dict()``).
"""

import csv
import io
import json
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import io_utils, path_utils

from components import comparison_stats
from components.evaluator_probabilities import read_probabilities
from components.labels import read_label_names
from components.verdict import ArmResult, Cost, Gate, Latency, LatencySetup, Verdict, arm_result, decide
from serving.latency import cpu_description, interleaved_times, latency_figures
from trainer.contract import (
    ACCURACY_METRIC,
    ALL_ARMS,
    COMPARISON_FILE,
    EXAMPLES_INPUT,
    FILENAME_KEY,
    IMAGE_BYTES_INPUT,
    IMAGE_KEY,
    LABEL_KEY,
    MODEL_COST_FILE,
    PREDICTIONS_FILE,
    PROBABILITIES_OUTPUT,
    SERVING_DEFAULT_SIGNATURE,
    SERVING_TF_EXAMPLE_SIGNATURE,
    TEST_SPLIT,
    model_input,
)
from trainer.memory import releases_freed_memory

BLESSED_FILE, NOT_BLESSED_FILE = "BLESSED", "NOT_BLESSED"
# Custom properties of the blessing (TFX's names, so the Pusher reads it like the Evaluator's) and ours.
BLESSED_PROPERTY, CHOSEN_ARM_PROPERTY, RULE_PROPERTY = "blessed", "chosen_arm", "rule"

BASELINE_KEY, CANDIDATES_KEY, SPLIT_KEY = "baseline", "candidates", "split"
MARGIN_KEY, FLOOR_KEY, SIGNIFICANCE_KEY = "accuracy_margin", "accuracy_floor", "significance_level"
BATCH_SIZE_KEY, LATENCY_CALLS_KEY, LATENCY_WARMUP_KEY = "batch_size", "latency_calls", "latency_warmup"


class PairedComparisonArtifact(types.Artifact):
    """A directory with predictions.csv (per example, every arm) and comparison.json (the verdict)."""

    # Kubeflow's "<namespace>.<Type>", and importable by that name (components/__init__.py).
    TYPE_NAME = "components.PairedComparisonArtifact"


def read_split(examples_uri: str, split: str):
    """(serialized examples, labels, file names, encoded images) of one split, ordered by file name."""
    pattern = os.path.join(examples_uri, f"Split-{split}", "*")
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"split {split!r}: no example files match {pattern}")
    spec = {
        LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
        FILENAME_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
        IMAGE_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
    }
    records = []
    for serialized in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        parsed = tf.io.parse_single_example(serialized, spec)
        records.append((parsed[FILENAME_KEY].numpy().decode("utf-8"), int(parsed[LABEL_KEY].numpy()),
                        serialized.numpy(), parsed[IMAGE_KEY].numpy()))
    records.sort(key=lambda r: (r[0], r[2]))
    return ([r[2] for r in records], np.array([r[1] for r in records], np.int64), [r[0] for r in records],
            [r[3] for r in records])


def predict(loaded, serialized: list[bytes], batch_size: int = 32) -> np.ndarray:
    """Class probabilities (N, K) from a loaded serving model's ``serving_tf_example`` signature."""
    signature = loaded.signatures[SERVING_TF_EXAMPLE_SIGNATURE]
    outputs = []
    for start in range(0, len(serialized), batch_size):
        batch = tf.constant(serialized[start:start + batch_size])
        outputs.append(signature(**{EXAMPLES_INPUT: batch})[PROBABILITIES_OUTPUT].numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)


def predictions_csv(filenames, labels, class_names, probabilities: dict[str, np.ndarray]) -> str:
    """One row per example: filename, label, label_name, then per arm ``<arm>_class`` and ``<arm>_p_<class>``."""
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["filename", "label", "label_name"]
    for arm in probabilities:
        header += [f"{arm}_class"] + [f"{arm}_p_{name}" for name in class_names]
    writer.writerow(header)
    for i, (filename, label) in enumerate(zip(filenames, labels)):
        row = [filename, int(label), class_names[label] if label < len(class_names) else str(label)]
        for values in probabilities.values():
            p = values[i]
            row += [int(np.argmax(p))] + [f"{v:.6f}" for v in p]
        writer.writerow(row)
    return out.getvalue()


def tfma_accuracy(evaluation_uri: str) -> dict[str, float]:
    """TFMA's overall accuracy per model name."""
    out = {}
    for metrics in tfma.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for kv in metrics.metric_keys_and_values:
            if kv.key.name == ACCURACY_METRIC and not kv.key.is_diff and kv.value.HasField("double_value"):
                out[kv.key.model_name] = kv.value.double_value.value
    return out


def read_cost(model_uri: str) -> Cost:
    """The Trainer's ``model_cost.json`` beside Format-Serving; an empty :class:`Cost` when there is none."""
    path = os.path.join(model_uri, MODEL_COST_FILE)
    if not tf.io.gfile.exists(path):
        return Cost()
    with tf.io.gfile.GFile(path) as f:
        values = json.load(f)
    return Cost(**{k: values.get(k) for k in Cost.model_fields})


def measure_latency(loaded: dict[str, object], image: bytes, calls: int, warmup: int) -> dict[str, dict]:
    """Per arm, :func:`serving.latency.latency_figures` of ``serving_default`` on ``[image]`` (batch 1)."""
    batch = tf.constant([image])

    def call(model):
        return lambda: model.signatures[SERVING_DEFAULT_SIGNATURE](**{IMAGE_BYTES_INPUT: batch})[
            PROBABILITIES_OUTPUT].numpy()

    times, _ = interleaved_times({arm: call(model) for arm, model in loaded.items()}, calls, warmup)
    return {arm: latency_figures(ms) for arm, ms in times.items()}


def compare_arms(examples_uri: str, model_uris: dict[str, str], baseline: str, candidates: Sequence[str],
                 split: str, gate: Gate, tfma_values: dict[str, float], batch_size: int = 32,
                 latency_calls: int = 0, latency_warmup: int = 2, evaluation_uri: str | None = None):
    """The verdict over ``candidates`` vs ``baseline`` and every arm's per-example probabilities.

    Args:
        examples_uri: the Examples artifact's URI.
        model_uris: arm -> its Model artifact URI (the SavedModel under ``Format-Serving``).
        baseline: the baseline arm.
        candidates: the candidate arms, in ``training.candidates`` order.
        split: the split compared (every example of it, ordered by file name).
        gate: the gate's margin, floor and significance level.
        tfma_values: arm -> TFMA's accuracy on the same split (cross-checked).
        batch_size: examples per prediction call.
        latency_calls: timed ``serving_default`` calls per arm at batch 1 (0: no latency measured).
        latency_warmup: untimed calls per arm before the timed ones.
        evaluation_uri: the Evaluator's artifact; its per-example probabilities of ``split``
            (``components/evaluator_probabilities.py``) are used when they cover every example and arm, and
            every arm predicts the split here otherwise.

    Returns:
        (Verdict, {arm: (N, K) float32 probabilities}, labels (N,) int64, file names (N,) str, where the
        probabilities come from: ``"evaluator"`` or ``"predicted"``).

    Raises:
        RuntimeError: an arm's accuracy disagrees with TFMA's.
    """
    serialized, labels, filenames, images = read_split(examples_uri, split)
    arms = [baseline, *candidates]
    probabilities = read_probabilities(evaluation_uri, split, serialized, arms) if evaluation_uri else None
    source = "evaluator" if probabilities is not None else "predicted"
    loaded = {}
    if probabilities is None or (latency_calls and images):
        loaded = {arm: tf.saved_model.load(path_utils.serving_model_path(model_uris[arm])) for arm in arms}
    if probabilities is None:
        probabilities = {arm: predict(loaded[arm], serialized, batch_size) for arm in arms}
    right = {arm: probabilities[arm].argmax(axis=-1) == labels for arm in arms}
    latency, setup = {}, None
    if latency_calls and images:
        figures = measure_latency(loaded, images[0], latency_calls, latency_warmup)
        base = figures[baseline]["median_ms"]
        latency = {arm: Latency.from_figures(f, base) for arm, f in figures.items()}
        setup = LatencySetup(calls=latency_calls, warmup=latency_warmup, image_bytes=len(images[0]),
                             cpu=cpu_description())
    results: dict[str, ArmResult] = {
        arm: arm_result(arm, "baseline" if arm == baseline else "candidate", right[arm],
                        tfma_accuracy=tfma_values.get(arm), cost=read_cost(model_uris[arm]), latency=latency.get(arm))
        for arm in arms}
    for arm, result in results.items():
        theirs = tfma_values.get(arm)
        if theirs is not None and abs(result.accuracy - theirs) > 1e-6:
            raise RuntimeError(
                f"{arm}: accuracy on split {split!r} is {result.accuracy:.6f} from per-example predictions but "
                f"{theirs:.6f} from TFMA; the Evaluator must evaluate the same split ({split!r})")
    tables = {arm: comparison_stats.PairedTable.from_outcomes(right[arm], right[baseline]) for arm in candidates}
    verdict = decide(split, results[baseline], [results[arm] for arm in candidates], tables, gate, setup)
    return verdict, probabilities, labels, filenames, source


def _checked_gate(exec_properties) -> Gate:
    # The same bounds as the configuration's: a Kubeflow run may pass the margin as a runtime parameter.
    values = {}
    for key, low, high in ((MARGIN_KEY, -1.0, 1.0), (FLOOR_KEY, 0.0, 1.0), (SIGNIFICANCE_KEY, 0.0, 0.999999)):
        value = float(exec_properties.get(key) or 0.0)
        if not low <= value <= high:
            raise ValueError(f"evaluation.{key}: must be in [{low:g}, {high:g}], got {value!r}")
        values[key] = value
    return Gate(**values)


def _copy_tree(source: str, destination: str):
    for folder, _, files in tf.io.gfile.walk(source):
        relative = os.path.relpath(folder, source)
        target = os.path.normpath(os.path.join(destination, relative))
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.copy(os.path.join(folder, name), os.path.join(target, name), overwrite=True)


class PairedComparisonSpec(types.ComponentSpec):
    """The examples, TFMA's evaluation and one optional ``<arm>_model`` per arm in; blessing, verdict, model out."""

    PARAMETERS = {
        BASELINE_KEY: ExecutionParameter(type=str),
        CANDIDATES_KEY: ExecutionParameter(type=str),  # JSON list, in training.candidates order
        SPLIT_KEY: ExecutionParameter(type=str),
        MARGIN_KEY: ExecutionParameter(type=float),
        FLOOR_KEY: ExecutionParameter(type=float),
        SIGNIFICANCE_KEY: ExecutionParameter(type=float),
        BATCH_SIZE_KEY: ExecutionParameter(type=int),
        LATENCY_CALLS_KEY: ExecutionParameter(type=int),
        LATENCY_WARMUP_KEY: ExecutionParameter(type=int),
    }
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
        **{model_input(arm): ChannelParameter(type=standard_artifacts.Model, optional=True) for arm in ALL_ARMS},
    }
    OUTPUTS = {
        "blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
        "comparison": ChannelParameter(type=PairedComparisonArtifact),
        "chosen_model": ChannelParameter(type=standard_artifacts.Model),
    }


class Executor(base_executor.BaseExecutor):
    """See the module docstring."""

    @releases_freed_memory  # a local run goes on with the next component in this process
    def Do(self, input_dict, output_dict, exec_properties):
        baseline = exec_properties[BASELINE_KEY]
        candidates = json.loads(exec_properties[CANDIDATES_KEY])
        gate = _checked_gate(exec_properties)
        split = exec_properties[SPLIT_KEY]
        models = {}
        for arm in (baseline, *candidates):
            if not input_dict.get(model_input(arm)):
                raise ValueError(f"PairedComparison: arm {arm!r} has no input {model_input(arm)!r}")
            models[arm] = artifact_utils.get_single_instance(input_dict[model_input(arm)])
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        evaluation = artifact_utils.get_single_instance(input_dict["evaluation"])
        verdict, probabilities, labels, filenames, source = compare_arms(
            examples.uri, {arm: m.uri for arm, m in models.items()}, baseline, candidates, split, gate,
            tfma_accuracy(evaluation.uri), batch_size=int(exec_properties[BATCH_SIZE_KEY]),
            latency_calls=int(exec_properties[LATENCY_CALLS_KEY]),
            latency_warmup=int(exec_properties[LATENCY_WARMUP_KEY]), evaluation_uri=evaluation.uri)
        try:
            class_names = read_label_names(examples.uri)
        except FileNotFoundError:
            class_names = [str(i) for i in range(probabilities[baseline].shape[-1])]
        comparison = artifact_utils.get_single_instance(output_dict["comparison"])
        blessing = artifact_utils.get_single_instance(output_dict["blessing"])
        chosen_model = artifact_utils.get_single_instance(output_dict["chosen_model"])
        # Kubeflow's launcher creates only an output's parent directory (object stores need none).
        for directory in (comparison.uri, blessing.uri, chosen_model.uri):
            tf.io.gfile.makedirs(directory)
        io_utils.write_string_file(os.path.join(comparison.uri, PREDICTIONS_FILE),
                                   predictions_csv(filenames, labels, class_names, probabilities))
        io_utils.write_string_file(os.path.join(comparison.uri, COMPARISON_FILE),
                                   json.dumps(verdict.to_dict(), indent=2))
        write_blessing(blessing, verdict, models, chosen_model)
        logging.info("Paired comparison on %s (n=%d, probabilities %s): %s", split, verdict.n,
                     "from the Evaluator" if source == "evaluator" else "predicted here", verdict.rule)


def write_blessing(blessing, verdict: Verdict, models: dict[str, types.Artifact], chosen_model) -> None:
    """The blessing the Pusher reads (TFX's properties and marker file) and the chosen model's copy."""
    if verdict.chosen:
        source = models[verdict.chosen]
        _copy_tree(source.uri, chosen_model.uri)
        chosen_model.set_string_custom_property(CHOSEN_ARM_PROPERTY, verdict.chosen)
        chosen_model.set_int_custom_property("source_model_id", source.id)
        # What was evaluated: the chosen arm's Trainer output (``chosen_model`` is its copy, which the Pusher pushes).
        blessing.set_string_custom_property("current_model", source.uri)
        blessing.set_int_custom_property("current_model_id", source.id)
    baseline = models[verdict.baseline]
    blessing.set_string_custom_property("baseline_model", baseline.uri)
    blessing.set_int_custom_property("baseline_model_id", baseline.id)
    blessing.set_string_custom_property(CHOSEN_ARM_PROPERTY, verdict.chosen or "")
    blessing.set_int_custom_property(BLESSED_PROPERTY, int(verdict.blessed))
    blessing.set_string_custom_property(RULE_PROPERTY, verdict.rule)
    io_utils.write_string_file(os.path.join(blessing.uri, BLESSED_FILE if verdict.blessed else NOT_BLESSED_FILE),
                               verdict.rule + "\n")


class PairedComparison(base_component.BaseComponent):
    """Every candidate arm against the baseline on one split: the verdict, the blessing, the chosen model.

    Args:
        examples: the Examples channel (tf.Example records of ``split``).
        models: arm name -> that arm's Trainer ``model`` channel (the baseline and every candidate).
        evaluation: the Evaluator's ``evaluation`` channel for the same arms and split (its accuracy is
            cross-checked).
        baseline: the baseline arm.
        candidates: the candidate arms, in ``training.candidates`` order (the order breaks the last ties).
        split: the split compared (the test split).
        accuracy_margin: a candidate's accuracy must beat the baseline's by more than this (a fraction).
        accuracy_floor: ...and reach at least this.
        significance_level: ...and its Holm-adjusted exact McNemar p must be below this (0: no test).
        batch_size: examples per prediction call.
        latency_calls: timed serving calls per arm at batch 1 (0: no latency measured).
        latency_warmup: untimed calls per arm before the timed ones.

    Outputs:
        blessing: ModelBlessing: ``blessed`` 1 or 0, ``chosen_arm``, ``rule`` (the verdict's sentence), and TFX's
            ``BLESSED`` / ``NOT_BLESSED`` marker file.
        comparison: :class:`PairedComparisonArtifact` holding ``comparison.json`` (the typed verdict) and
            ``predictions.csv`` (per example: file name, label, each arm's class and probabilities).
        chosen_model: a copy of the chosen candidate's Model artifact (empty when none is chosen).

    Raises:
        ValueError: ``models`` is not exactly the baseline and the candidates.
    """

    SPEC_CLASS = PairedComparisonSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, examples, models: dict[str, types.BaseChannel], evaluation, baseline: str,
                 candidates: Sequence[str], split: str = TEST_SPLIT, accuracy_margin=0.0, accuracy_floor=0.0,
                 significance_level=0.0, batch_size: int = 32, latency_calls: int = 0, latency_warmup: int = 2):
        arms = [baseline, *candidates]
        if sorted(models) != sorted(arms):
            raise ValueError(f"PairedComparison: models for {sorted(models)} but arms {sorted(arms)}")
        super().__init__(PairedComparisonSpec(
            examples=examples, evaluation=evaluation, baseline=baseline, candidates=json.dumps(list(candidates)),
            split=split, accuracy_margin=accuracy_margin, accuracy_floor=accuracy_floor,
            significance_level=significance_level, batch_size=batch_size, latency_calls=latency_calls,
            latency_warmup=latency_warmup,
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            comparison=types.Channel(type=PairedComparisonArtifact),
            chosen_model=types.Channel(type=standard_artifacts.Model),
            **{model_input(arm): channel for arm, channel in models.items()}))
