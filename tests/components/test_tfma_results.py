"""components/tfma_results.py: TFMA's metrics per slice and arm, with bounded intervals kept in their range."""

from tensorflow_model_analysis.proto import metrics_for_slice_pb2

from components import tfma_results
from trainer.contract import ACCURACY_METRIC, BILINEAR_BASELINE_ARM, MULLER_ARM


def slice_metrics(values, label_name=None):
    """A MetricsForSlice: ``values`` is [(metric, model, is_diff, value, (low, high) or None)]."""
    record = metrics_for_slice_pb2.MetricsForSlice()
    if label_name:
        key = record.slice_key.single_slice_keys.add()
        key.column, key.bytes_value = "label_name", label_name.encode()
    for name, model, is_diff, value, interval in values:
        kv = record.metric_keys_and_values.add()
        kv.key.name, kv.key.model_name, kv.key.is_diff = name, model, is_diff
        kv.value.double_value.value = value
        if interval:
            kv.confidence_interval.lower_bound.double_value.value = interval[0]
            kv.confidence_interval.upper_bound.double_value.value = interval[1]
    return record


def test_bounded_intervals_are_clipped_and_marked_unbounded_ones_are_not():
    overall = slice_metrics([
        ("example_count", BILINEAR_BASELINE_ARM, False, 93.0, None),
        ("auc", BILINEAR_BASELINE_ARM, False, 0.9752, (0.9451, 1.0052)),
        ("recall", MULLER_ARM, False, 0.02, (-0.01, 0.05)),
        (ACCURACY_METRIC, MULLER_ARM, False, 0.9, (0.85, 0.95)),
        ("calibration", MULLER_ARM, False, 1.3, (0.6, 2.0)),
        ("auc", MULLER_ARM, True, 0.01, None),
    ])
    metrics = tfma_results.metrics_by_slice([overall])["overall"]
    assert metrics["n"] == 93
    auc = metrics["metrics"]["auc"]
    assert auc[BILINEAR_BASELINE_ARM] == 0.9752 and auc["ci95"][BILINEAR_BASELINE_ARM] == [0.9451, 1.0]
    assert auc["ci95_clipped"] == [BILINEAR_BASELINE_ARM] and auc[tfma_results.diff_column(MULLER_ARM)] == 0.01
    assert metrics["metrics"]["recall"]["ci95"][MULLER_ARM] == [0.0, 0.05]
    assert "ci95_clipped" not in metrics["metrics"][ACCURACY_METRIC]
    assert metrics["metrics"]["calibration"]["ci95"][MULLER_ARM] == [0.6, 2.0]  # not a bounded metric
    every_end = [end for cell in metrics["metrics"].values() for name, bounds in cell.get("ci95", {}).items()
                 for end in bounds]
    assert min(every_end) >= 0.0


def test_one_class_slices_mark_what_means_nothing():
    one_class = slice_metrics([("auc", MULLER_ARM, False, 0.5, (0.1, 0.9)), (ACCURACY_METRIC, MULLER_ARM, False, 1.0,
                                                                          (1.0, 1.0))], label_name="cat")
    metrics = tfma_results.metrics_by_slice([one_class])["label_name=cat"]["metrics"]
    assert metrics["auc"][MULLER_ARM] == tfma_results.ONE_CLASS_NOTE
    assert metrics[ACCURACY_METRIC][MULLER_ARM] == 1.0
