"""Reading the Evaluator's TFMA output into plain dicts for the report.

Every slice gets its example count (``n``).  Cells that mean nothing are
marked instead of shown as numbers: NaN values, and in a slice that holds one
class only (``label_name=...``) every metric that needs both classes (AUC,
precision, the other class's recall, calibration).
"""

import math
from collections.abc import Sequence

import tensorflow_model_analysis as tfma

from trainer.contract import ACCURACY_METRIC as ACCURACY

EXAMPLE_COUNT = "example_count"
ONE_CLASS_NOTE = "n/a (one class in slice)"
NAN_NOTE = "n/a"
# Metrics bounded to [0, 1]; TFMA's jackknife interval (estimate +- t * standard error) can cross the bounds.
BOUNDED_METRICS = (ACCURACY, "accuracy", "auc", "precision", "recall")


def metric_name(key, class_names: Sequence[str] = ()) -> str:
    """A TFMA ``MetricKey`` as the report names it: ``auc[cat]`` for a class's, ``auc (macro)`` for the average.

    Args:
        key: the ``tfma.metrics.MetricKey``.
        class_names: names by class id; a class without one is ``class <id>``.

    Returns:
        The name.
    """
    name = key.name
    if key.HasField("sub_key") and key.sub_key.HasField("class_id"):
        class_id = key.sub_key.class_id.value
        name += f"[{class_names[class_id] if class_id < len(class_names) else f'class {class_id}'}]"
    if key.HasField("aggregation_type") and key.aggregation_type.macro_average:
        name += " (macro)"
    return name


def slice_name(slice_key) -> str:
    """A TFMA slice key as the report names it: ``label_name=cat``, or ``overall`` for the empty slice."""
    parts = []
    for single in slice_key.single_slice_keys:
        value = single.bytes_value.decode() if single.HasField("bytes_value") else (
            single.int64_value if single.HasField("int64_value") else single.float_value
        )
        parts.append(f"{single.column}={value}")
    return ", ".join(parts) or "overall"


def _single_class(name: str) -> str | None:
    """The class a ``label_name=X`` slice holds, else None."""
    return name.split("=", 1)[1] if name.startswith("label_name=") and "," not in name else None


def _meaningful_in_one_class_slice(metric: str, class_name: str) -> bool:
    return metric in (EXAMPLE_COUNT, ACCURACY) or metric == f"recall[{class_name}]"


def diff_column(model_name: str) -> str:
    """The cell key of a candidate's difference from the baseline (TFMA's ``is_diff`` metrics)."""
    return f"diff:{model_name}"


def read_metrics(evaluation_uri: str, class_names: Sequence[str] = ()) -> dict[str, dict]:
    """``{slice: {"n": count, "metrics": {metric: {arm: value or note, "diff:<arm>": ..., "ci95": {arm: [lo, hi]}}}}}``.

    ``n`` is the baseline's example count (every arm sees the same examples).  The intervals are TFMA's
    jackknife ones; for metrics bounded to [0, 1] (:data:`BOUNDED_METRICS`) an end outside the range is clipped
    to it and the arm listed in the cell's ``ci95_clipped``.
    """
    return metrics_by_slice(tfma.load_metrics(evaluation_uri), class_names)


def metrics_by_slice(records, class_names: Sequence[str] = ()) -> dict[str, dict]:
    """:func:`read_metrics` of ``MetricsForSlice`` protos (what ``tfma.load_metrics`` yields)."""
    out: dict[str, dict] = {}
    for metrics in records:
        name = slice_name(metrics.slice_key)
        entry = out.setdefault(name, {"n": None, "metrics": {}})
        one_class = _single_class(name)
        for kv in metrics.metric_keys_and_values:
            if not kv.value.HasField("double_value"):
                continue
            metric = metric_name(kv.key, class_names)
            value = kv.value.double_value.value
            column = diff_column(kv.key.model_name) if kv.key.is_diff else kv.key.model_name
            if metric == EXAMPLE_COUNT and not kv.key.is_diff:
                entry["n"] = int(value)
            cell = entry["metrics"].setdefault(metric, {})
            if one_class is not None and not _meaningful_in_one_class_slice(metric, one_class):
                cell[column] = ONE_CLASS_NOTE
                continue
            if math.isnan(value):
                cell[column] = NAN_NOTE
                continue
            cell[column] = value
            if kv.HasField("confidence_interval") and not kv.key.is_diff:
                low = kv.confidence_interval.lower_bound.double_value.value
                high = kv.confidence_interval.upper_bound.double_value.value
                if not (math.isnan(low) or math.isnan(high)):
                    if kv.key.name in BOUNDED_METRICS and (low < 0.0 or high > 1.0):
                        low, high = max(low, 0.0), min(high, 1.0)
                        cell.setdefault("ci95_clipped", []).append(column)
                    cell.setdefault("ci95", {})[column] = [low, high]
    return out


def read_confusion_matrices(evaluation_uri: str) -> dict[str, list[list[float]]]:
    """``{model: [[count of actual i predicted j]]}`` on the overall slice."""
    out = {}
    for plots in tfma.load_plots(evaluation_uri):
        if slice_name(plots.slice_key) != "overall":
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
            out[kv.key.model_name] = matrix
    return out

