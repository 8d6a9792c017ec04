"""PairedComparison: both models on every example of one split, the paired statistics, and the gate.

TFMA (the Evaluator) stays the metrics system: accuracy, AUC, calibration,
confusion matrices, slices.  What it does not give is the *paired* view: both
models predict the same examples, so "is the candidate better?" is a
question about the examples where they disagree.  This component:

1. runs both SavedModels' ``serving_tf_example`` signature on every example
   of ``split`` (the test split, which nothing was tuned on);
2. writes the per-example predictions (``predictions.csv``: file name,
   label, each arm's class and class probabilities);
3. computes n, each arm's accuracy with a Wilson interval, the paired
   difference with Newcombe's interval and the exact McNemar p-value
   (``components/comparison_stats.py``), cross-checked against TFMA's
   accuracy for the same models and split;
4. decides the gate (floor, a difference strictly above the margin, and the
   significance level when it is > 0) and writes a ``ModelBlessing`` the
   Pusher reads, with the rule that decided in words.  This is the pipeline's
   only gate: the Evaluator computes metrics without thresholds.

``comparison.json`` in the output artifact holds the numbers, the rule and the
blessing.
"""

import csv
import io
import json
import os
from typing import Dict, List

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from absl import logging
from tfx import types
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components import comparison_stats
from components.labels import read_label_names
from trainer.contract import (
    ACCURACY_METRIC,
    BASELINE_ARM as BASELINE,
    CANDIDATE_ARM as CANDIDATE,
    COMPARISON_FILE,
    EXAMPLES_INPUT,
    FILENAME_KEY,
    LABEL_KEY,
    PREDICTIONS_FILE,
    PROBABILITIES_OUTPUT,
    SERVING_TF_EXAMPLE_SIGNATURE,
    TEST_SPLIT,
)

BLESSED_FILE, NOT_BLESSED_FILE = "BLESSED", "NOT_BLESSED"


class PairedComparisonArtifact(types.Artifact):
    """A directory with predictions.csv (per example, both arms) and comparison.json."""

    # Kubeflow's "<namespace>.<Type>", and importable by that name (components/__init__.py).
    TYPE_NAME = "components.PairedComparisonArtifact"


def read_split(examples_uri: str, split: str):
    """(serialized examples, labels, file names) of one split, ordered by file name."""
    pattern = os.path.join(examples_uri, f"Split-{split}", "*")
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"split {split!r}: no example files match {pattern}")
    spec = {
        LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
        FILENAME_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
    }
    records = []
    for serialized in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        parsed = tf.io.parse_single_example(serialized, spec)
        records.append((parsed[FILENAME_KEY].numpy().decode("utf-8"), int(parsed[LABEL_KEY].numpy()),
                        serialized.numpy()))
    records.sort(key=lambda r: (r[0], r[2]))
    return [r[2] for r in records], np.array([r[1] for r in records], np.int64), [r[0] for r in records]


def predict(model_uri: str, serialized: List[bytes], batch_size: int = 32) -> np.ndarray:
    """Class probabilities (N, K) from the model's ``serving_tf_example`` signature."""
    loaded = tf.saved_model.load(path_utils.serving_model_path(model_uri))
    signature = loaded.signatures[SERVING_TF_EXAMPLE_SIGNATURE]
    outputs = []
    for start in range(0, len(serialized), batch_size):
        batch = tf.constant(serialized[start:start + batch_size])
        outputs.append(signature(**{EXAMPLES_INPUT: batch})[PROBABILITIES_OUTPUT].numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)


def predictions_csv(filenames, labels, class_names, probabilities: Dict[str, np.ndarray]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["filename", "label", "label_name"]
    for arm in (CANDIDATE, BASELINE):
        header += [f"{arm}_class"] + [f"{arm}_p_{name}" for name in class_names]
    writer.writerow(header)
    for i, (filename, label) in enumerate(zip(filenames, labels)):
        row = [filename, int(label), class_names[label] if label < len(class_names) else str(label)]
        for arm in (CANDIDATE, BASELINE):
            p = probabilities[arm][i]
            row += [int(np.argmax(p))] + [f"{v:.6f}" for v in p]
        writer.writerow(row)
    return out.getvalue()


def tfma_accuracy(evaluation_uri: str) -> Dict[str, float]:
    """TFMA's overall accuracy per model name (the candidate's model name may be empty)."""
    out = {}
    for metrics in tfma.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for kv in metrics.metric_keys_and_values:
            if kv.key.name == ACCURACY_METRIC and not kv.key.is_diff and kv.value.HasField("double_value"):
                out[kv.key.model_name or CANDIDATE] = kv.value.double_value.value
    return out


def compare_models(examples_uri, candidate_uri, baseline_uri, split, batch_size=32):
    """Per-example predictions of both arms and the paired statistics."""
    serialized, labels, filenames = read_split(examples_uri, split)
    probabilities = {CANDIDATE: predict(candidate_uri, serialized, batch_size),
                     BASELINE: predict(baseline_uri, serialized, batch_size)}
    right = {arm: probabilities[arm].argmax(axis=-1) == labels for arm in probabilities}
    table = comparison_stats.PairedTable.from_outcomes(right[CANDIDATE], right[BASELINE])
    comparison = comparison_stats.compare(table)
    comparison["split"] = split
    return comparison, probabilities, labels, filenames


@component
def PairedComparison(  # noqa: N802 (TFX component naming)
    examples: InputArtifact[standard_artifacts.Examples],
    candidate_model: InputArtifact[standard_artifacts.Model],
    baseline_model: InputArtifact[standard_artifacts.Model],
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    comparison: OutputArtifact[PairedComparisonArtifact],
    split: Parameter[str] = TEST_SPLIT,
    accuracy_margin: Parameter[float] = 0.0,
    accuracy_floor: Parameter[float] = 0.0,
    significance_level: Parameter[float] = 0.0,
    batch_size: Parameter[int] = 32,
):
    # The same bounds as the configuration's: a Kubeflow run may pass the margin as a runtime parameter.
    for field, value, low, high in (("evaluation.accuracy_margin", accuracy_margin, -1.0, 1.0),
                                    ("evaluation.accuracy_floor", accuracy_floor, 0.0, 1.0),
                                    ("evaluation.significance_level", significance_level, 0.0, 0.999999)):
        if not low <= value <= high:
            raise ValueError(f"{field}: must be in [{low:g}, {high:g}], got {value!r}")
    result, probabilities, labels, filenames = compare_models(
        examples.uri, candidate_model.uri, baseline_model.uri, split, batch_size)
    # The same models on the same split: TFMA's accuracy must agree with the per-example one.
    tfma_values = tfma_accuracy(evaluation.uri)
    for arm, key in ((CANDIDATE, "candidate"), (BASELINE, "baseline")):
        ours, theirs = result[key]["accuracy"], tfma_values.get(arm)
        if theirs is not None and abs(ours - theirs) > 1e-6:
            raise RuntimeError(
                f"{arm}: accuracy on split {split!r} is {ours:.6f} from per-example predictions but "
                f"{theirs:.6f} from TFMA; the Evaluator must evaluate the same split ({split!r})")
    result["tfma_accuracy"] = tfma_values
    result.update(comparison_stats.decide(result, accuracy_margin, significance_level, accuracy_floor))
    result["gate"] = {"accuracy_margin": accuracy_margin, "accuracy_floor": accuracy_floor,
                      "significance_level": significance_level}
    try:
        class_names = read_label_names(examples.uri)
    except FileNotFoundError:
        class_names = [str(i) for i in range(probabilities[CANDIDATE].shape[-1])]
    # Kubeflow's launcher creates only an output's parent directory (object stores need none).
    for directory in (comparison.uri, blessing.uri):
        tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(os.path.join(comparison.uri, PREDICTIONS_FILE), "w") as f:
        f.write(predictions_csv(filenames, labels, class_names, probabilities))
    with tf.io.gfile.GFile(os.path.join(comparison.uri, COMPARISON_FILE), "w") as f:
        json.dump(result, f, indent=2)

    # The same properties and marker file as the Evaluator's blessing, so the Pusher reads it alike.
    blessing.set_string_custom_property("current_model", candidate_model.uri)
    blessing.set_int_custom_property("current_model_id", candidate_model.id)
    blessing.set_string_custom_property("baseline_model", baseline_model.uri)
    blessing.set_int_custom_property("baseline_model_id", baseline_model.id)
    blessing.set_int_custom_property("blessed", int(result["blessed"]))
    blessing.set_string_custom_property("rule", result["rule"])
    with tf.io.gfile.GFile(os.path.join(blessing.uri, BLESSED_FILE if result["blessed"] else NOT_BLESSED_FILE),
                           "w") as f:
        f.write(result["rule"] + "\n")
    logging.info("Paired comparison on %s (n=%d): %s", split, result["n"], result["rule"])
