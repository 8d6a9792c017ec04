"""The Evaluator's leaner jackknife: what it keeps, when it applies, and that the pipeline uses it."""

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.api import types as tfma_types
from tensorflow_model_analysis.evaluators import jackknife
from tensorflow_model_analysis.metrics import binary_confusion_matrices, metric_types

from components import evaluator_executor
from pipeline.config import demo_profile
from pipeline.pipeline import create_components, make_eval_config


def _sample():
    matrices = binary_confusion_matrices.Matrices(thresholds=[0.5], tp=[1.0], tn=[2.0], fp=[0.0], fn=[1.0])
    return {
        metric_types.MetricKey("auc", model_name="a"): 0.75,
        metric_types.MetricKey("_binary_confusion_matrices_10000", model_name="a"): matrices,
        metric_types.MetricKey("__ERROR__"): 0.0,  # two underscores: not private for TFMA
        metric_types.PlotKey("calibration_plot", model_name="a"): "a plot proto",
    }


def test_delete_d_samples_keep_only_what_gets_an_interval():
    slice_key, sample = evaluator_executor.add_sample_id_keeping_interval_inputs((), _sample(), sample_id=3)
    assert slice_key == () and sample.sample_id == 3
    assert {k.name for k in sample.metrics} == {"auc", "__ERROR__"}


def test_the_full_sample_is_untouched():
    metrics = _sample()
    _, sample = evaluator_executor.add_sample_id_keeping_interval_inputs(
        (), metrics, sample_id=jackknife._FULL_SAMPLE_ID)  # pylint: disable=protected-access
    assert sample.metrics == metrics and isinstance(sample, jackknife.confidence_intervals_util.SampleMetrics)


def test_kept_values_are_those_tfma_would_sample():
    assert evaluator_executor._gets_an_interval(metric_types.MetricKey("x"), 1)  # pylint: disable=protected-access
    matrices = binary_confusion_matrices.Matrices(thresholds=[0.5], tp=[1.0], tn=[2.0], fp=[0.0], fn=[1.0])
    assert isinstance(matrices, tfma_types.StructuredMetricValue)
    assert evaluator_executor._gets_an_interval(metric_types.MetricKey("x"), matrices)  # pylint: disable=protected-access
    assert not evaluator_executor._gets_an_interval(metric_types.MetricKey("x"), "text")  # pylint: disable=protected-access


def test_applies_to_the_pipeline_eval_config_and_restores_tfma():
    config = tfma.utils.update_eval_config_with_defaults(make_eval_config(demo_profile()), has_baseline=True,
                                                         rubber_stamp=True)
    assert evaluator_executor.applies_to(config) == (tfma.__version__ == evaluator_executor.PATCHED_TFMA_VERSION)
    original = jackknife._add_sample_id  # pylint: disable=protected-access
    with evaluator_executor.leaner_tfma():
        assert jackknife._add_sample_id is evaluator_executor.add_sample_id_keeping_interval_inputs  # pylint: disable=protected-access
    assert jackknife._add_sample_id is original  # pylint: disable=protected-access


def test_not_without_intervals():
    config = make_eval_config(demo_profile())
    config.options.compute_confidence_intervals.value = False
    assert not evaluator_executor.applies_to(config)


def test_the_pipeline_evaluator_runs_this_executor():
    evaluator = create_components(demo_profile())["Evaluator"]
    assert evaluator.executor_spec.executor_class is evaluator_executor.Executor
