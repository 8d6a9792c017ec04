"""The Evaluator's per-example class probabilities, kept for PairedComparison: one file format, its writer and reader.

TFMA runs every arm's ``serving_tf_example`` signature on every evaluated
example and keeps only the metrics.  PairedComparison needs exactly those
predictions, per example and arm, for its paired statistics; without them it
runs every arm on every example again (at the mission's scale, 2,240 test
images through every arm's DenseNet-121 a second time).  A TFMA evaluator
(:func:`probabilities_evaluator`, run after the last extractor) turns each
batch of extracts into one JSON line per example, and a TFMA writer
(:func:`probabilities_writer`) writes them beside TFMA's own results in the
``evaluation`` artifact:

``<evaluation uri>/per_example_probabilities-<split>.jsonl-<shard>-of-<n>``, one
line per example: ``{"example": <SHA-256 hex of the serialized tf.Example>,
"probabilities": {<model spec name>: [p_0, ..., p_K-1]}}``.

Examples are matched by the digest of their serialized bytes (the records
PairedComparison reads are the same bytes TFMA read), so neither order nor
file names matter.  :func:`read_probabilities` returns nothing, and says why,
unless the file covers every example of the split for every arm asked for.
"""

import hashlib
import json
import os
from collections.abc import Sequence

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from absl import logging
from tensorflow_model_analysis.extractors import extractor

from trainer.contract import PROBABILITIES_OUTPUT

# The key of the evaluators' output (TFMA's ``Evaluation`` dict) and the files' prefix in the evaluation artifact.
PER_EXAMPLE_PROBABILITIES = "per_example_probabilities"
FILE_SUFFIX = ".jsonl"


def example_digest(serialized: bytes) -> str:
    """SHA-256 hex digest of one serialized ``tf.Example``: the key that matches TFMA's rows to the split's."""
    return hashlib.sha256(serialized).hexdigest()


def file_prefix(evaluation_uri: str, splits: Sequence[str]) -> str:
    """Where the rows of an evaluation of ``splits`` go (the splits joined by ``+``, in the order evaluated)."""
    return os.path.join(evaluation_uri, f"{PER_EXAMPLE_PROBABILITIES}-{'+'.join(splits)}{FILE_SUFFIX}")


def _model_probabilities(predictions, model_names: Sequence[str]) -> dict:
    """{model spec name: (B, K) array} from a batch of TFMA extracts' ``predictions``."""
    if not isinstance(predictions, dict) or not set(model_names) <= set(predictions):
        # TFMA keys predictions by model name only when there are several models.
        predictions = {model_names[0]: predictions}
    out = {}
    for name in model_names:
        value = predictions[name]
        if isinstance(value, dict):
            value = value[PROBABILITIES_OUTPUT]
        value = np.asarray(value, np.float64)
        out[name] = value.reshape(1, -1) if value.ndim == 1 else value  # one example: TFMA unbatches (K,)
    return out


def extracts_to_rows(extracts: dict, model_names: list[str]):  # list: Beam type-checks the hint
    """One JSON line per example of TFMA extracts (``input``: serialized examples, ``predictions``).

    TFMA's last extractor unbatches: each extract then holds one example (its ``input`` a one-element array,
    its predictions (K,)); a batch of B (``input`` (B,), predictions (B, K)) gives B lines.

    Raises:
        ValueError: the extract's predictions and inputs disagree on the number of examples.
    """
    inputs = extracts[tfma.constants.INPUT_KEY]
    if isinstance(inputs, bytes):
        inputs = [inputs]
    probabilities = _model_probabilities(extracts[tfma.constants.PREDICTIONS_KEY], model_names)
    for name, values in probabilities.items():
        if len(values) != len(inputs):
            raise ValueError(f"TFMA extract: {len(inputs)} example(s) but {len(values)} prediction(s) of {name!r}")
    for i, serialized in enumerate(inputs):
        yield json.dumps({"example": example_digest(bytes(serialized)),
                          "probabilities": {name: values[i].tolist() for name, values in probabilities.items()}})


@beam.ptransform_fn
def _ExtractProbabilities(extracts, model_names):  # noqa: N802 (Beam's PTransform naming)
    return {PER_EXAMPLE_PROBABILITIES: extracts | "ToJsonLines" >> beam.FlatMap(extracts_to_rows, model_names)}


def probabilities_evaluator(model_names: Sequence[str]) -> tfma.evaluators.Evaluator:
    """A TFMA evaluator, after every extractor, whose output is one JSON line per example (module docstring)."""
    return tfma.evaluators.Evaluator(
        stage_name="ExtractPerExampleProbabilities", run_after=extractor.LAST_EXTRACTOR_STAGE_NAME,
        ptransform=_ExtractProbabilities(list(model_names)))


def probabilities_writer(evaluation_uri: str, splits: Sequence[str]) -> tfma.writers.Writer:
    """A TFMA writer of :func:`probabilities_evaluator`'s lines to :func:`file_prefix`."""
    return tfma.writers.Writer(
        stage_name="WritePerExampleProbabilities",
        ptransform=tfma.writers.Write(key=PER_EXAMPLE_PROBABILITIES, ptransform=beam.io.WriteToText(
            file_prefix(evaluation_uri, splits), shard_name_template="-SSSSS-of-NNNNN")))


def read_probabilities(evaluation_uri: str, split: str, serialized: Sequence[bytes],
                       arms: Sequence[str]) -> dict[str, np.ndarray] | None:
    """The Evaluator's probabilities of ``serialized`` (in that order) for every arm, or None with the reason logged.

    Args:
        evaluation_uri: the ``evaluation`` artifact's URI.
        split: the split ``serialized`` comes from; only an evaluation of exactly this split is read.
        serialized: the split's serialized ``tf.Example`` records.
        arms: the model spec names wanted.

    Returns:
        {arm: (N, K) float32 probabilities} in the order of ``serialized``, or None when there is no such file or
        it misses an example or an arm (an evaluation from before this file existed, another split, other arms).
    """
    files = sorted(tf.io.gfile.glob(file_prefix(evaluation_uri, [split]) + "-*"))
    if not files:
        logging.info("No per-example probabilities of split %r in %s", split, evaluation_uri)
        return None
    rows = {}
    for name in files:
        with tf.io.gfile.GFile(name) as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    rows[row["example"]] = row["probabilities"]
    digests = [example_digest(s) for s in serialized]
    missing = [i for i, digest in enumerate(digests) if digest not in rows or not set(arms) <= set(rows[digest])]
    if missing or len(rows) != len(set(digests)):
        logging.info("The Evaluator's per-example probabilities do not match split %r (%d of %d examples missing "
                     "or without every arm of %s; %d rows)", split, len(missing), len(digests), list(arms), len(rows))
        return None
    return {arm: np.array([rows[digest][arm] for digest in digests], np.float32).reshape(len(digests), -1)
            for arm in arms}
