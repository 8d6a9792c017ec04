"""DataGate: nothing is trained on data the pipeline knows to be wrong.

Runs after the ExampleValidator and before Transform (and so before every
Trainer). It stops the pipeline, with the problem in words, when

* ``training.class_names`` is configured and disagrees with the label names
  the examples were written with (``label_names.txt``; order or spelling):
  a served model reports ``class_names[label]``, so a list in another order
  would name the wrong class for every image. The error names both lists
  (:func:`trainer.config.check_class_names`). No option skips this: leave
  ``training.class_names`` empty to use the data's names;
* the ExampleValidator found anomalies in a label or image feature
  (:data:`trainer.contract.GATED_FEATURE_KEYS`) of any split, unless
  ``continue_on_anomalies`` (``data.continue_on_anomalies``) is set; then
  the run goes on and the anomalies are logged as warnings.

Anomalies in other features (the file name) and data-set-level anomalies
never stop the run; they are listed and logged. Every decision is written to
``data_gate.json`` in the output artifact: the configured and the data's
class names, every anomaly (split, feature, whether it stops the run, TFDV's
short and long description) and the outcome.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import tensorflow as tf
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.labels import read_label_names
from trainer.config import check_class_names
from trainer.contract import DATA_GATE_FILE, DATA_GATE_ID, GATED_FEATURE_KEYS, LABEL_NAMES_FILE

CLASS_NAMES_KEY = "class_names"
CONTINUE_ON_ANOMALIES_KEY = "continue_on_anomalies"
GATED_FEATURES_KEY = "gated_features"
# The ExampleValidator's file per split (tfx.components.example_validator.executor.DEFAULT_FILE_NAME).
ANOMALIES_FILE = "SchemaDiff.pb"
CONTINUE_OPTION = "data.continue_on_anomalies"


class DataGateArtifact(types.Artifact):
    """A directory holding ``data_gate.json``: what the gate checked and decided."""

    # Kubeflow's "<namespace>.<Type>", and importable by that name (components/__init__.py).
    TYPE_NAME = "components.DataGateArtifact"


def read_anomalies(anomalies: types.Artifact) -> dict[str, Any]:
    """Every split's ``Anomalies`` proto of an ExampleAnomalies artifact.

    Args:
      anomalies: the ExampleValidator's output artifact (``split_names``
        property, ``Split-<name>/SchemaDiff.pb`` each).

    Returns:
      ``{split name: tensorflow_metadata Anomalies proto}``.

    Raises:
      FileNotFoundError: naming the file when a split's anomalies are missing.
    """
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    out = {}
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies], split), ANOMALIES_FILE)
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"{DATA_GATE_ID}: the ExampleValidator wrote no anomalies file {path}")
        proto = anomalies_pb2.Anomalies()
        with tf.io.gfile.GFile(path, "rb") as f:
            proto.ParseFromString(f.read())
        out[split] = proto
    return out


def anomaly_entries(anomalies_by_split: dict[str, Any], gated_features: Sequence[str]) -> list[dict[str, Any]]:
    """Every anomaly as a JSON-ready entry, in split then feature order.

    Args:
      anomalies_by_split: ``{split: Anomalies proto}`` (:func:`read_anomalies`).
      gated_features: feature names whose anomalies stop the run.

    Returns:
      ``[{"split", "feature" ('' for a data-set-level anomaly), "stops_run",
      "short_description", "description", "reasons"}]``, where ``reasons``
      lists TFDV's reason types (``ENUM_TYPE_UNEXPECTED_STRING_VALUES``, ...).
    """
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    def reasons(info):
        return [anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason]

    entries = []
    for split in sorted(anomalies_by_split):
        proto = anomalies_by_split[split]
        for feature in sorted(proto.anomaly_info):
            info = proto.anomaly_info[feature]
            entries.append({"split": split, "feature": feature, "stops_run": feature in gated_features,
                            "short_description": info.short_description, "description": info.description,
                            "reasons": reasons(info)})
        if proto.HasField("dataset_anomaly_info"):
            info = proto.dataset_anomaly_info
            entries.append({"split": split, "feature": "", "stops_run": False,
                            "short_description": info.short_description, "description": info.description,
                            "reasons": reasons(info)})
    return entries


def describe(entry: dict[str, Any]) -> str:
    """One anomaly in words: ``split 'test', feature 'label_name': Unexpected string values (...)``."""
    where = f"feature {entry['feature']!r}" if entry["feature"] else "the data set"
    text = entry["short_description"] or ", ".join(entry["reasons"])
    if entry["description"] and entry["description"] != text:
        text += f" ({entry['description']})"
    return f"split {entry['split']!r}, {where}: {text}"


def decide(configured_class_names: Sequence[str], data_label_names: Sequence[str] | None, label_names_source: str,
           entries: list[dict[str, Any]], continue_on_anomalies: bool) -> dict[str, Any]:
    """The gate's decision as the JSON-ready content of ``data_gate.json``; raises when the run must stop.

    Args:
      configured_class_names: ``training.class_names`` (empty: not configured).
      data_label_names: the examples' label names in label order (None when
        the Examples artifact has no ``label_names.txt``: nothing to compare).
      label_names_source: where the label names were read (named in errors).
      entries: the anomalies (:func:`anomaly_entries`).
      continue_on_anomalies: go on despite anomalies in gated features.

    Returns:
      ``{"class_names": {"configured", "data", "source", "checked"},
      "anomalies": {"count", "stopping", "entries"},
      "continue_on_anomalies", "outcome"}`` where ``outcome`` is ``passed``
      or ``continued_despite_anomalies``.

    Raises:
      trainer.config.ConfigError: configured class names disagree with the data's.
      ValueError: anomalies in gated features (each in words) without
        ``continue_on_anomalies``.
    """
    if data_label_names is not None:
        check_class_names(configured_class_names, data_label_names, label_names_source)
    stopping = [entry for entry in entries if entry["stops_run"]]
    report = {
        "class_names": {"configured": list(configured_class_names),
                        "data": None if data_label_names is None else list(data_label_names),
                        "source": label_names_source,
                        "checked": bool(configured_class_names) and data_label_names is not None},
        "anomalies": {"count": len(entries), "stopping": len(stopping), "entries": entries},
        CONTINUE_ON_ANOMALIES_KEY: bool(continue_on_anomalies),
        "outcome": "continued_despite_anomalies" if stopping else "passed",
    }
    if stopping and not continue_on_anomalies:
        raise ValueError(
            f"{DATA_GATE_ID}: the ExampleValidator found {len(stopping)} anomal{'y' if len(stopping) == 1 else 'ies'} "
            f"in label or image features, so nothing is trained on this data: "
            + "; ".join(describe(entry) for entry in stopping)
            + f". Fix the data (or the schema), or set {CONTINUE_OPTION}=true to train anyway.")
    return report


class DataGateSpec(types.ComponentSpec):
    """The examples' label names and the ExampleValidator's anomalies in; the gate's report out."""

    PARAMETERS = {
        CLASS_NAMES_KEY: ExecutionParameter(type=str),  # JSON list; "[]": not configured
        CONTINUE_ON_ANOMALIES_KEY: ExecutionParameter(type=int),
        GATED_FEATURES_KEY: ExecutionParameter(type=str),  # JSON list
    }
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies),
    }
    OUTPUTS = {"result": ChannelParameter(type=DataGateArtifact)}


class Executor(base_executor.BaseExecutor):
    """Checks the class names and the anomalies; writes ``data_gate.json``; raises to stop the run."""

    def Do(self, input_dict, output_dict, exec_properties):
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        anomalies = artifact_utils.get_single_instance(input_dict["anomalies"])
        result = artifact_utils.get_single_instance(output_dict["result"])
        configured = json.loads(exec_properties[CLASS_NAMES_KEY])
        gated = json.loads(exec_properties[GATED_FEATURES_KEY])
        source = os.path.join(examples.uri, LABEL_NAMES_FILE)
        try:
            data_names = read_label_names(examples.uri)
        except FileNotFoundError:
            logging.warning("%s: %s does not exist; the configured class names cannot be compared with the "
                            "data's", DATA_GATE_ID, source)
            data_names = None
        entries = anomaly_entries(read_anomalies(anomalies), gated)
        report = decide(configured, data_names, source, entries, bool(exec_properties[CONTINUE_ON_ANOMALIES_KEY]))
        for entry in entries:
            if entry["stops_run"]:
                logging.warning("%s: continuing (%s) despite %s", DATA_GATE_ID, CONTINUE_OPTION, describe(entry))
            else:
                logging.warning("%s: anomaly outside the label and image features (does not stop the run): %s",
                                DATA_GATE_ID, describe(entry))
        tf.io.gfile.makedirs(result.uri)
        with tf.io.gfile.GFile(os.path.join(result.uri, DATA_GATE_FILE), "w") as f:
            f.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
        logging.info("%s: %s; class names %s; %d anomal%s (%d in label or image features)", DATA_GATE_ID,
                     report["outcome"], report["class_names"]["data"], len(entries),
                     "y" if len(entries) == 1 else "ies", report["anomalies"]["stopping"])


class DataGate(base_component.BaseComponent):
    """Stops the pipeline before Transform on wrong class names or on anomalies in label or image features.

    Args:
      examples: the ExampleGen's Examples channel (its ``label_names.txt``).
      anomalies: the ExampleValidator's ExampleAnomalies channel.
      class_names: ``training.class_names`` (empty: nothing to compare).
      continue_on_anomalies: go on (with warnings) despite anomalies in
        ``gated_features``.
      gated_features: the features whose anomalies stop the run (default
        :data:`trainer.contract.GATED_FEATURE_KEYS`).

    Outputs:
      result: :class:`DataGateArtifact` holding ``data_gate.json`` (the
        class-name check, every anomaly in words, the decision).  On wrong
        class names or a stopping anomaly the executor raises, naming them,
        and the run stops.

    Make the first component that must not run on bad data depend on it
    (``transform.add_upstream_node(gate)``).
    """

    SPEC_CLASS = DataGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, examples, anomalies, class_names: Sequence[str] = (), continue_on_anomalies: bool = False,
                 gated_features: Sequence[str] = GATED_FEATURE_KEYS):
        super().__init__(DataGateSpec(
            examples=examples, anomalies=anomalies, class_names=json.dumps(list(class_names)),
            continue_on_anomalies=int(bool(continue_on_anomalies)), gated_features=json.dumps(list(gated_features)),
            result=types.Channel(type=DataGateArtifact)))


__all__ = ["DataGate", "DataGateArtifact", "DataGateSpec", "Executor", "anomaly_entries", "decide", "describe",
           "read_anomalies"]
