"""The Evaluator's leaner jackknife: what it keeps, when it applies, and that the pipeline uses it."""

import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.api import types as tfma_types
from tensorflow_model_analysis.evaluators import jackknife
from tensorflow_model_analysis.metrics import binary_confusion_matrices, calibration_histogram, metric_types

from components import evaluator_executor
from pipeline.config import demo_profile
from pipeline.pipeline import create_components, make_eval_config
from trainer.contract import BILINEAR_BASELINE_ARM


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
        (), metrics, sample_id=jackknife._FULL_SAMPLE_ID)
    assert sample.metrics == metrics and isinstance(sample, jackknife.confidence_intervals_util.SampleMetrics)


def test_kept_values_are_those_tfma_would_sample():
    assert evaluator_executor._gets_an_interval(metric_types.MetricKey("x"), 1)
    matrices = binary_confusion_matrices.Matrices(thresholds=[0.5], tp=[1.0], tn=[2.0], fp=[0.0], fn=[1.0])
    assert isinstance(matrices, tfma_types.StructuredMetricValue)
    assert evaluator_executor._gets_an_interval(metric_types.MetricKey("x"), matrices)
    assert not evaluator_executor._gets_an_interval(metric_types.MetricKey("x"), "text")


def test_applies_to_the_pipeline_eval_config_and_restores_tfma():
    config = tfma.utils.update_eval_config_with_defaults(make_eval_config(demo_profile()), has_baseline=True,
                                                         rubber_stamp=True)
    assert evaluator_executor.applies_to(config) == (tfma.__version__ == evaluator_executor.PATCHED_TFMA_VERSION)
    original = jackknife._add_sample_id, binary_confusion_matrices._interpolated_thresholds
    sample_transform = jackknife._ComputeJackknifeSample
    loops = calibration_histogram.rebin, binary_confusion_matrices._histogram_to_binary_confusion_matrices
    with evaluator_executor.leaner_tfma():
        assert calibration_histogram.rebin is evaluator_executor.rebin_with_numpy
        assert binary_confusion_matrices._histogram_to_binary_confusion_matrices is \
            evaluator_executor.histogram_to_matrices_with_numpy
        assert jackknife._add_sample_id is evaluator_executor.add_sample_id_keeping_interval_inputs
        assert jackknife._ComputeJackknifeSample is evaluator_executor.compute_jackknife_sample_without_plots
        shared = binary_confusion_matrices._interpolated_thresholds
        assert shared(10_000) is shared(10_000) and shared(10_000) == original[1](10_000)
        assert shared(200) == original[1](200) and len(shared(200)) == 200
    assert (jackknife._add_sample_id, binary_confusion_matrices._interpolated_thresholds) == original
    assert jackknife._ComputeJackknifeSample is sample_transform
    assert (calibration_histogram.rebin, binary_confusion_matrices._histogram_to_binary_confusion_matrices) == loops


def test_auc_computations_pickle_one_thresholds_list():
    import dill  # Beam's pickler, before its compression

    def pickled_bytes():
        return len(dill.dumps([binary_confusion_matrices.binary_confusion_matrices(num_thresholds=10_000,
                                                                                   model_name=name)
                               for name in ("a", "b", "c")]))

    with evaluator_executor.leaner_tfma():
        shared = pickled_bytes()
    separate = pickled_bytes()
    # 10,000 floats take about 90 kB: three computations hold three copies, or one.
    assert separate - shared > 150_000


def random_histograms(seed):
    """Sparse calibration histograms as TFMA's combiner leaves them: sorted ids, -inf/+inf buckets, any weights."""
    rng = np.random.default_rng(seed)
    num_buckets = calibration_histogram.DEFAULT_NUM_BUCKETS
    for size in (1, 2, 7, 60, 400):
        ids = np.sort(rng.choice(num_buckets + 2, size=size, replace=False))
        labels = rng.uniform(0, 3, size) * (rng.random(size) < 0.6)
        examples = labels + rng.uniform(0, 3, size)
        yield [calibration_histogram.Bucket(int(i), float(lab), float(p), float(e))
               for i, lab, p, e in zip(ids, labels, rng.uniform(0, 5, size), examples)]
    yield [calibration_histogram.Bucket(5, 1.0, 0.5, 1.0), calibration_histogram.Bucket(5001, 0.0, 0.1, 1.0)]


def matrices_thresholds(thresholds):
    """What ``binary_confusion_matrices`` hands ``rebin`` for ``thresholds`` (its epsilon fence posts)."""
    eps = binary_confusion_matrices._EPSILON
    rebin = [t + eps if t != 0 else t for t in thresholds]
    rebin = ([-eps] if thresholds[0] >= 0 else []) + rebin
    return rebin + ([1.0 + eps] if thresholds[-1] < 1.0 else [])


@pytest.mark.parametrize("thresholds", [
    binary_confusion_matrices._interpolated_thresholds(10_000), [0.5], [0.0, 0.25, 0.5, 1.0], [-1.0, 0.3, 2.0],
], ids=["auc_10000", "one", "with_one", "outside_0_1"])
def test_numpy_rebin_and_matrices_equal_tfmas_loops_bit_for_bit(thresholds):
    for seed in range(3):
        for histogram in random_histograms(seed):
            rebinned = calibration_histogram.rebin(matrices_thresholds(thresholds), histogram)
            ours_rebinned = evaluator_executor.rebin_with_numpy(matrices_thresholds(thresholds), histogram)
            assert list(ours_rebinned) == rebinned and ours_rebinned[-2:] == rebinned[-2:]
            assert list(evaluator_executor.rebin_with_numpy(thresholds, histogram)) == calibration_histogram.rebin(
                thresholds, histogram)
            tfmas = binary_confusion_matrices._histogram_to_binary_confusion_matrices(thresholds, rebinned)
            # From our arrays and from TFMA's buckets; Matrices compare with a tolerance: these are the same doubles.
            for ours in (evaluator_executor.histogram_to_matrices_with_numpy(thresholds, ours_rebinned),
                         evaluator_executor.histogram_to_matrices_with_numpy(thresholds, rebinned)):
                for field in ("thresholds", "tp", "tn", "fp", "fn"):
                    assert list(getattr(ours, field)) == list(getattr(tfmas, field)), field
    assert evaluator_executor.rebin_with_numpy(thresholds, []) == calibration_histogram.rebin(thresholds, [])


def test_not_without_intervals():
    config = make_eval_config(demo_profile())
    config.options.compute_confidence_intervals.value = False
    assert not evaluator_executor.applies_to(config)


def test_the_pipeline_evaluator_runs_this_executor():
    evaluator = create_components(demo_profile())["Evaluator"]
    assert evaluator.executor_spec.executor_class is evaluator_executor.Executor


def _jackknife(add_sample_id, samples=20, seed=0):
    """TFMA's jackknife combine over a full sample and ``samples`` delete-d ones, each made by ``add_sample_id``."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def metrics(shift):
        matrices = binary_confusion_matrices.Matrices(thresholds=[0.25, 0.5], tp=[3.0 + shift, 2.0], tn=[2.0, 4.0],
                                                      fp=[1.0, 0.0], fn=[0.0, 1.0 + shift])
        return {
            metric_types.MetricKey("accuracy", model_name="a"): 0.8 + shift,
            metric_types.MetricKey("auc", model_name="b", sub_key=metric_types.SubKey(class_id=1)): 0.7 - shift,
            metric_types.MetricKey("_binary_confusion_matrices_10000", model_name="a"): matrices,
            metric_types.PlotKey("calibration_plot", model_name="a"): f"plot {shift}",
        }

    combine = jackknife._JackknifeSampleCombineFn(samples)
    accumulator = combine.create_accumulator()
    full = add_sample_id((), metrics(0.0), sample_id=jackknife._FULL_SAMPLE_ID)[1]
    accumulator = combine.add_input(accumulator, full)
    for sample_id, shift in enumerate(rng.uniform(-0.05, 0.05, samples)):
        accumulator = combine.add_input(accumulator, add_sample_id((), metrics(float(shift)), sample_id=sample_id)[1])
    return combine.extract_output(accumulator)


def test_public_intervals_and_values_equal_tfmas_own():
    stock = _jackknife(jackknife._add_sample_id)
    lean = _jackknife(evaluator_executor.add_sample_id_keeping_interval_inputs)
    public = {k for k in stock if not evaluator_executor._is_private(k)}
    assert public == {k for k in lean if not evaluator_executor._is_private(k)} and len(public) == 3
    for key in public:
        assert repr(lean[key]) == repr(stock[key]), key
    intervals = [k for k in public if isinstance(stock[k], tfma_types.ValueWithTDistribution)]
    assert {k.name for k in intervals} == {"accuracy", "auc"}
    # The private intermediate keeps its full-sample value: what TFMA's RemovePrivateMetrics then drops.
    [private] = [k for k in lean if evaluator_executor._is_private(k)]
    assert not isinstance(lean[private], tfma_types.ValueWithTDistribution)
    assert isinstance(stock[private], tfma_types.ValueWithTDistribution)  # the work the cut saves


def test_the_evaluator_takes_one_model_input_per_arm_and_checks_them_against_the_specs():
    import pytest

    from components.evaluator import Evaluator
    from trainer.contract import model_input, trainer_id

    config = demo_profile()
    components = create_components(config)
    evaluator = components["Evaluator"]
    connected = {key for key, channel in evaluator.inputs.items() if key.endswith("_model") and channel is not None}
    assert connected == {model_input(arm) for arm in config.training.arms}
    examples = components["ImageFolderExampleGen"].outputs["examples"]
    models = {arm: components[trainer_id(arm)].outputs["model"] for arm in config.training.arms}
    with pytest.raises(ValueError, match="model specs"):
        Evaluator(examples=examples, models={config.training.baseline: models[config.training.baseline]},
                  eval_config=make_eval_config(config), example_splits=["test"])
    with pytest.raises(ValueError, match="unknown arm"):
        Evaluator(examples=examples, models={**models, "nearest": models[config.training.baseline]},
                  eval_config=make_eval_config(config), example_splits=["test"])


def _one_class_auc():
    """TFMA's own ROC AUC on a slice with no positives: recall divides 0 by 0."""
    from tensorflow_model_analysis.metrics import confusion_matrix_metrics

    matrices = binary_confusion_matrices.Matrices(thresholds=[0.25, 0.5, 0.75], tp=[0.0, 0.0, 0.0],
                                                  tn=[1.0, 2.0, 3.0], fp=[2.0, 1.0, 0.0], fn=[0.0, 0.0, 0.0])
    value = confusion_matrix_metrics.AUC()._metric_value(
        "ROC", "interpolation", metric_types.MetricKey("auc"), matrices)
    return value


def test_tfma_divide_warnings_of_undefined_metrics_are_not_printed_mid_run():
    import warnings

    with warnings.catch_warnings(record=True) as loud:
        warnings.simplefilter("always")
        value = _one_class_auc()
    assert any(issubclass(w.category, RuntimeWarning) for w in loud)  # what a one-class slice prints unquieted
    with warnings.catch_warnings(record=True) as quiet:
        warnings.simplefilter("always")
        with evaluator_executor.undefined_metrics_quiet():
            quieted = _one_class_auc()
    assert not [w for w in quiet if issubclass(w.category, RuntimeWarning)]
    assert value == quieted  # the same value either way; only the printing goes


def _demo_derived_metrics_transform():
    """The derived-metrics transform TFMA's evaluator builds for the demo's eval config, and its computations."""
    from tensorflow_model_analysis.evaluators import metrics_plots_and_validations_evaluator as evaluator_module
    from tensorflow_model_analysis.metrics import metric_specs

    config = tfma.utils.update_eval_config_with_defaults(make_eval_config(demo_profile()), has_baseline=True,
                                                         rubber_stamp=True)
    derived = [c for c in metric_specs.to_computations(config.metrics_specs, eval_config=config)
               if isinstance(c, metric_types.DerivedMetricComputation)]
    transform = evaluator_module._AddDerivedCrossSliceAndDiffMetrics(derived, [], [], BILINEAR_BASELINE_ARM)
    return transform, derived


def test_delete_d_samples_skip_only_the_derived_computations_that_give_plots():
    transform, derived = _demo_derived_metrics_transform()
    lean = evaluator_executor.without_plot_computations(transform)
    assert lean is not transform and lean._fn is transform._fn and lean._args[1:] == transform._args[1:]
    kept = lean._args[0]
    dropped = [c for c in derived if c not in kept]
    # Per arm: the confusion matrix plot and the two classes' calibration plots; nothing else.
    assert sorted({key.name for c in dropped for key in c.keys}) == ["calibration_plot",
                                                                      "multi_class_confusion_matrix_plot"]
    assert len(dropped) == 3 * len(demo_profile().training.arms)
    assert all(isinstance(key, metric_types.PlotKey) for c in dropped for key in c.keys)
    assert not any(isinstance(key, metric_types.PlotKey) for c in kept for key in c.keys)
    assert [c for c in derived if c in kept] == kept  # TFMA's order: a derived metric reads those before it


def test_another_derived_metrics_transform_is_left_as_it_is():
    import apache_beam as beam
    from tensorflow_model_analysis.evaluators import metrics_plots_and_validations_evaluator as evaluator_module

    transform, derived = _demo_derived_metrics_transform()
    # A derived computation of the user's own might read a plot; so might a cross-slice computation.
    own = metric_types.DerivedMetricComputation(keys=[metric_types.MetricKey("ece")], result=lambda metrics: {})
    with_own = evaluator_module._AddDerivedCrossSliceAndDiffMetrics([*derived, own], [], [], BILINEAR_BASELINE_ARM)
    cross_slice = evaluator_module._AddDerivedCrossSliceAndDiffMetrics(derived, [object()], [], BILINEAR_BASELINE_ARM)
    for other in (with_own, cross_slice, beam.Map(lambda x: x),
                  beam.ptransform_fn(lambda pcoll, computations: pcoll)([])):
        assert evaluator_executor.without_plot_computations(other) is other


def test_each_delete_d_sample_gets_the_transform_without_plots(monkeypatch):
    transform, _ = _demo_derived_metrics_transform()
    given = {}
    monkeypatch.setattr(evaluator_executor, "_compute_jackknife_sample", lambda **kwargs: given.update(kwargs))
    evaluator_executor.compute_jackknife_sample_without_plots(
        sample_id=3, computations_combine_fn="combine", derived_metrics_ptransform=transform)
    assert given["sample_id"] == 3 and given["computations_combine_fn"] == "combine"
    assert given["derived_metrics_ptransform"] is not transform
    assert not any(isinstance(key, metric_types.PlotKey)
                   for c in given["derived_metrics_ptransform"]._args[0] for key in c.keys)
