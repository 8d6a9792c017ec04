"""The Evaluator's executor: TFMA on every arm at once, with its jackknife spared work whose result it discards.

TFX's Evaluator evaluates one candidate and one baseline (it refuses more
than two model specs).  This executor does what TFX's does (TFXIO read of the
example splits, ``tfma.default_eval_shared_model`` per model spec,
``tfma.ExtractEvaluateAndWriteResults`` into the ``evaluation`` artifact), for
every arm of the comparison: one model spec per arm, the baseline marked, each
spec's model taken from the input named ``<arm>_model``
(``trainer.contract.model_input``).  TFMA then computes each candidate's
metrics, their intervals and their difference from the baseline in one pass
over the examples.

TFMA's jackknife (``tensorflow_model_analysis.evaluators.jackknife``) computes
every metric on 20 delete-d samples per slice and model, and then a standard
error for every numeric value in those samples, including the *private*
intermediates (names starting with one ``_``): for AUC these are binary
confusion matrices at 10,000 thresholds, and their jackknife mean and standard
deviation are pure-Python loops over 10,000 entries per sample.  The private
values are then dropped (``RemovePrivateMetrics``) before anything is written,
so those standard errors are never used; neither are the samples' plots, which
are not numeric and only ever get their full-sample value.

TFMA also builds a new list of 10,000 AUC thresholds for every AUC
computation (each arm, class and macro average), and Beam pickles every copy
into every stage that holds one (dill's pure-Python pickler, then bz2).

:class:`Executor` leaves each delete-d sample with only the values that get an
interval: no private metric, nothing non-numeric; and gives every AUC
computation the same thresholds list, so a pickle holds it once.  The full sample (the point
estimates) is untouched, so the Evaluator writes the same metrics, the same
intervals and the same plots.  On the demo (93 test examples, 2 CPU cores) the
executor's ``Do`` took 42.0 and 42.9 s with TFX's executor and 30.1 and 30.5 s
with this one, the outputs identical.  The shared thresholds list then took
the executor from 91.9 to 72.8 s on the tiny smoke run (small_convnet, 10 test
examples, three arms; AMD EPYC, 2 cores, AVX2 only, machine otherwise idle),
every metric value and plot identical.

TFMA's ``calibration_histogram.rebin`` and
``binary_confusion_matrices._histogram_to_binary_confusion_matrices`` are
Python loops over those 10,000 thresholds, run for every jackknife sample,
arm, class and slice; the executor runs NumPy versions that add the same
values in the same order (:func:`rebin_with_numpy`,
:func:`histogram_to_matrices_with_numpy`, checked bit for bit against
TFMA's): the executor took 74.7 s with TFMA's loops and 43.6 s with these,
one run each on the tiny smoke run's artifacts (same machine, idle), metrics
and plots identical.  They hold in the executor's own process (Beam's
DirectRunner in memory, the default); Beam's ``multi_processing`` workers
import TFMA afresh and run its own loops.

A delete-d sample's plots are dropped, yet TFMA computed them for each of
the 20 samples (a calibration plot's proto of 10,000 buckets per arm, class
and slice), and Beam pickled them again to estimate the size of every
PCollection they pass through: each sample now runs TFMA's derived
computations less those that only give plots
(:func:`without_plot_computations`; none of TFMA's derived computations
reads what a plot-only one gives, and with a computation of the user's own or
cross-slice metrics every sample computes everything, as before).  On the
tiny smoke run's artifacts, old and new code in turn, three times each (AMD
EPYC, 2 cores, AVX2 only, alone): 49.9, 41.5, 42.9 s -> 39.4, 36.5, 34.3 s,
every metric value (its bytes) and plot identical.

All of this holds while no ``CIDerivedMetricComputation`` reads a private
metric's interval; TFMA 0.47.1 has none, and the executor
checks the eval config's computations before applying it.  On any other TFMA
version TFMA runs unchanged.
"""

import collections.abc
import contextlib
import functools
import json
import numbers
import warnings

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from absl import logging
from tensorflow_model_analysis.api import types as tfma_types
from tensorflow_model_analysis.evaluators import jackknife, metrics_plots_and_validations_evaluator
from tensorflow_model_analysis.metrics import (
    binary_confusion_matrices,
    calibration_histogram,
    metric_specs,
    metric_types,
)
from tfx.components.util import tfxio_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, path_utils, proto_utils
from tfx_bsl.tfxio import tensor_adapter

from components.evaluator_probabilities import probabilities_evaluator, probabilities_writer
from trainer.contract import model_input
from trainer.memory import releases_freed_memory

# The TFMA release whose jackknife internals (``_add_sample_id``, ``_FULL_SAMPLE_ID``) this was written and checked for.
PATCHED_TFMA_VERSION = "0.47.1"


def _is_private(key) -> bool:
    """TFMA's own rule (``metrics_plots_and_validations_evaluator._is_private_metrics``)."""
    return key.name.startswith("_") and not key.name.startswith("__")


def _gets_an_interval(key, value) -> bool:
    """What ``SampleCombineFn.add_input`` keeps from a delete-d sample, less the private metrics."""
    if _is_private(key):
        return False
    return isinstance(value, (numbers.Number, tfma_types.StructuredMetricValue)) or (
        isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.number))


def add_sample_id_keeping_interval_inputs(slice_key, metrics_dict, sample_id=0):
    """``jackknife._add_sample_id``, with a delete-d sample cut to the values that get an interval."""
    if sample_id != jackknife._FULL_SAMPLE_ID:  # TFMA private: the id of the full (not delete-d) sample
        metrics_dict = {k: v for k, v in metrics_dict.items() if _gets_an_interval(k, v)}
    return slice_key, jackknife.confidence_intervals_util.SampleMetrics(metrics=metrics_dict, sample_id=sample_id)


def applies_to(eval_config: tfma.EvalConfig) -> bool:
    """True when the cut changes nothing written: the right TFMA and no interval-derived metric."""
    if tfma.__version__ != PATCHED_TFMA_VERSION:
        return False
    if not eval_config.options.compute_confidence_intervals.value:
        return False
    computations = metric_specs.to_computations(eval_config.metrics_specs, eval_config=eval_config)
    return not any(isinstance(c, metric_types.CIDerivedMetricComputation) for c in computations)


_interpolated_thresholds = binary_confusion_matrices._interpolated_thresholds  # TFMA private


@functools.cache
def shared_interpolated_thresholds(num_thresholds: int) -> list[float]:
    """``binary_confusion_matrices._interpolated_thresholds``, one list object per ``num_thresholds``.

    Every AUC computation (per arm, class and aggregate) gets its own list of 10,000 thresholds, and Beam
    pickles each DoFn's copies one by one; one shared list is pickled once per DoFn.  TFMA only reads it.
    """
    return _interpolated_thresholds(num_thresholds)


_rebin = calibration_histogram.rebin
_histogram_to_binary_confusion_matrices = binary_confusion_matrices._histogram_to_binary_confusion_matrices  # private


class RebinnedHistogram(collections.abc.Sequence):
    """A rebinned calibration histogram held as arrays; its items are TFMA's ``Bucket`` s, made when read.

    10,000 ``Bucket`` dataclasses cost more than the rebinning itself; the confusion matrices read the
    arrays, and anything else (the calibration plot) gets the buckets it iterates over.
    """

    def __init__(self, labels: np.ndarray, predictions: np.ndarray, examples: np.ndarray):
        self.labels, self.predictions, self.examples = labels, predictions, examples

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        index = range(len(self))[index]
        return calibration_histogram.Bucket(index, float(self.labels[index]), float(self.predictions[index]),
                                            float(self.examples[index]))

    def __eq__(self, other):
        return isinstance(other, collections.abc.Sequence) and list(self) == list(other)

    __hash__ = None


def rebin_with_numpy(thresholds, histogram, num_buckets=calibration_histogram.DEFAULT_NUM_BUCKETS, left=0.0,
                     right=1.0):
    """``calibration_histogram.rebin`` with NumPy: the same buckets and the same sums, bit for bit.

    TFMA's is a Python loop over the thresholds (10,000 for AUC), run for every jackknife sample, arm, class
    and slice.  Here each bucket's new index is found with ``searchsorted`` (the loop's offset only grows,
    hence the running maximum) and the values are summed with ``bincount``, which adds them one by one in
    the histogram's order, starting from 0.0, as the loop does.  Degenerate inputs (no bucket, fewer than
    two thresholds) go to TFMA's own.

    Returns:
        A :class:`RebinnedHistogram` (a sequence of ``Bucket``), or TFMA's list for degenerate inputs.
    """
    count = len(thresholds)
    if not histogram or count < 2:
        return _rebin(thresholds, histogram, num_buckets, left, right)
    ids = np.fromiter((b.bucket_id for b in histogram), np.int64, len(histogram))
    predictions = (ids - 1) / num_buckets * (right - left) + left
    predictions[ids == 0] = -np.inf
    predictions[ids >= num_buckets + 1] = np.inf
    offsets = np.maximum.accumulate(np.searchsorted(np.asarray(thresholds[1:], np.float64), predictions,
                                                    side="right"))
    return RebinnedHistogram(*(
        np.bincount(offsets, weights=np.fromiter((getattr(b, field) for b in histogram), np.float64,
                                                 len(histogram)), minlength=count)
        for field in ("weighted_labels", "weighted_predictions", "weighted_examples")))


def histogram_to_matrices_with_numpy(thresholds, histogram):
    """``binary_confusion_matrices._histogram_to_binary_confusion_matrices`` with NumPy, bit for bit.

    TFMA's loop builds true/false positives as running sums from the top bucket down and true/false
    negatives from the bottom up; ``cumsum`` adds in the same order from the same start, so every value is
    the same double.  The trimming to the thresholds and the values above 1 + epsilon follow TFMA's code.
    """
    if not histogram:
        return _histogram_to_binary_confusion_matrices(thresholds, histogram)
    if isinstance(histogram, RebinnedHistogram):
        positives, examples = histogram.labels, histogram.examples
    else:
        positives = np.fromiter((b.weighted_labels for b in histogram), np.float64, len(histogram))
        examples = np.fromiter((b.weighted_examples for b in histogram), np.float64, len(histogram))
    negatives = examples - positives
    tp = np.cumsum(positives[::-1])[::-1].tolist()
    fp = np.cumsum(negatives[::-1])[::-1].tolist()
    tn = np.cumsum(np.concatenate([[0.0], negatives[:-1]])).tolist()
    fn = np.cumsum(np.concatenate([[0.0], positives[:-1]])).tolist()
    offset = 1 if (thresholds[0] >= 0 or len(thresholds) == 1) and len(histogram) > 1 else 0
    tp, fp, tn, fn = (values[offset:offset + len(thresholds)] for values in (tp, fp, tn, fn))
    for i, threshold in enumerate(thresholds):
        if threshold >= 1.0 + binary_confusion_matrices._EPSILON:  # TFMA private
            tp[i] = 0.0
            fp[i] = 0.0
            fn[i] = tp[0]  # after the two lines above, as in TFMA (for i = 0 this reads the 0.0)
            tn[i] = fp[0]
    return binary_confusion_matrices.Matrices(thresholds, tp, tn, fp, fn)


_compute_jackknife_sample = jackknife._ComputeJackknifeSample  # TFMA private
# TFMA private: the derived-metrics transform its evaluator builds (a Beam ``ptransform_fn``; the function behind it).
_add_derived_metrics = metrics_plots_and_validations_evaluator._AddDerivedCrossSliceAndDiffMetrics
_ADD_DERIVED_METRICS_FN = getattr(_add_derived_metrics, "__wrapped__", None)


def _is_plot_only(computation) -> bool:
    return bool(computation.keys) and all(isinstance(key, metric_types.PlotKey) for key in computation.keys)


def _is_tfmas_own(computation) -> bool:
    return getattr(computation.result, "__module__", "").startswith("tensorflow_model_analysis.")


def without_plot_computations(derived_metrics_ptransform):
    """TFMA's derived-metrics transform less its derived computations that only give plots.

    A delete-d sample's plots are dropped by :func:`add_sample_id_keeping_interval_inputs`; computing them (a
    calibration plot's 10,000-bucket proto per arm, class and slice) and Beam's size estimate of them (it
    pickles sampled elements of every PCollection) are work nothing reads: none of TFMA's derived computations
    reads what a plot-only one gives.  A computation of the user's own might, so the transform is returned as
    given when any derived computation is not TFMA's, when there are cross-slice computations, or when it is
    not the one TFMA 0.47.1 builds (a plain ``ptransform_fn`` of the derived computations, the cross-slice
    computations and specs, and the baseline's name, passed in that order).
    """
    if _ADD_DERIVED_METRICS_FN is None or getattr(derived_metrics_ptransform, "_fn", None) is not \
            _ADD_DERIVED_METRICS_FN or len(derived_metrics_ptransform._args) != 4:
        return derived_metrics_ptransform
    derived, cross_slice_computations, *rest = derived_metrics_ptransform._args
    if cross_slice_computations or not all(_is_tfmas_own(computation) for computation in derived):
        return derived_metrics_ptransform
    kept = [computation for computation in derived if not _is_plot_only(computation)]
    return _add_derived_metrics(kept, cross_slice_computations, *rest, **derived_metrics_ptransform._kwargs)


def compute_jackknife_sample_without_plots(*args, derived_metrics_ptransform, **kwargs):
    """``jackknife._ComputeJackknifeSample`` with :func:`without_plot_computations` of its derived metrics."""
    return _compute_jackknife_sample(*args, derived_metrics_ptransform=without_plot_computations(
        derived_metrics_ptransform), **kwargs)


# The TFMA functions this executor replaces while it runs: (module, name, replacement).
_REPLACEMENTS = (
    (jackknife, "_add_sample_id", add_sample_id_keeping_interval_inputs),
    (jackknife, "_ComputeJackknifeSample", compute_jackknife_sample_without_plots),
    (binary_confusion_matrices, "_interpolated_thresholds", shared_interpolated_thresholds),
    (calibration_histogram, "rebin", rebin_with_numpy),
    (binary_confusion_matrices, "_histogram_to_binary_confusion_matrices", histogram_to_matrices_with_numpy),
)


@contextlib.contextmanager
def leaner_tfma(replacements=_REPLACEMENTS):
    """Within the block, TFMA uses the replacements.

    ``_add_sample_id`` is looked up when TFMA builds the Beam pipeline (inside the block) and travels with it,
    pickled by reference, to any Beam worker.
    """
    originals = [(module, name, getattr(module, name)) for module, name, _ in replacements]
    try:
        for module, name, replacement in replacements:
            setattr(module, name, replacement)
        yield
    finally:
        for module, name, original in originals:
            setattr(module, name, original)


def _eval_shared_models(input_dict, eval_config):
    """One ``EvalSharedModel`` per model spec, from the input ``<spec name>_model``."""
    models = []
    for spec in eval_config.model_specs:
        artifacts = input_dict.get(model_input(spec.name))
        if not artifacts:
            raise ValueError(f"Evaluator: model spec {spec.name!r} has no input {model_input(spec.name)!r}")
        artifact = artifact_utils.get_single_instance(artifacts)
        path = path_utils.serving_model_path(artifact.uri, path_utils.is_old_model_artifact(artifact))
        logging.info("Evaluator: %s is %s", spec.name, path)
        models.append(tfma.default_eval_shared_model(eval_saved_model_path=path, model_name=spec.name,
                                                     eval_config=eval_config))
    return models


# Where TFMA divides by a slice's empty class (recall with no positives, a false-positive rate with no
# negatives) numpy warns mid-run; the value is NaN and the report marks such cells as undefined.
UNDEFINED_METRIC_MODULES = r"tensorflow_model_analysis\.metrics\..*"


@contextlib.contextmanager
def undefined_metrics_quiet():
    """Silence numpy's divide/invalid ``RuntimeWarning`` raised inside TFMA's metric modules, for this block.

    Only warnings attributed to ``tensorflow_model_analysis.metrics.*`` are
    dropped; the metric values themselves (NaN where undefined) are untouched.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=UNDEFINED_METRIC_MODULES)
        yield


class Executor(base_beam_executor.BaseBeamExecutor):
    """TFMA over every arm's model on the example splits, inside :func:`leaner_tfma` when it :func:`applies_to`."""

    @releases_freed_memory  # a local run goes on with the next component in this process
    def Do(self, input_dict, output_dict, exec_properties):
        eval_config = proto_utils.json_to_proto(exec_properties[standard_component_specs.EVAL_CONFIG_KEY],
                                                tfma.EvalConfig())
        has_baseline = any(spec.is_baseline for spec in eval_config.model_specs)
        eval_config = tfma.utils.update_eval_config_with_defaults(eval_config, has_baseline=has_baseline,
                                                                  rubber_stamp=True)
        tfma.utils.verify_eval_config(eval_config)
        models = _eval_shared_models(input_dict, eval_config)
        schema = None
        if input_dict.get(standard_component_specs.SCHEMA_KEY):
            schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(
                artifact_utils.get_single_uri(input_dict[standard_component_specs.SCHEMA_KEY])))
        splits = json.loads(exec_properties[standard_component_specs.EXAMPLE_SPLITS_KEY])
        output_uri = artifact_utils.get_single_uri(output_dict[standard_component_specs.EVALUATION_KEY])
        examples = input_dict[standard_component_specs.EXAMPLES_KEY]
        lean = applies_to(eval_config)
        if not lean:
            logging.info("Evaluator: TFMA as is (TFMA %s; the leaner jackknife needs %s, intervals on, "
                         "no interval-derived metrics)", tfma.__version__, PATCHED_TFMA_VERSION)
        with (leaner_tfma() if lean else contextlib.nullcontext()), undefined_metrics_quiet(), \
                self._make_beam_pipeline() as pipeline:
            tfxio_factory = tfxio_utils.get_tfxio_factory_from_artifact(
                examples=examples, telemetry_descriptors=["Evaluator"], schema=schema,
                raw_record_column_name=tfma.constants.ARROW_INPUT_COLUMN)
            data, tfxio = [], None
            for split in splits:
                for index, split_uri in enumerate(artifact_utils.get_split_uris(examples, split)):
                    tfxio = tfxio_factory(io_utils.all_files_pattern(split_uri))
                    data.append(pipeline | f"Read[{split}][{index}]" >> tfxio.BeamSource())
            adapter = None
            if schema is not None:
                adapter = tensor_adapter.TensorAdapterConfig(arrow_schema=tfxio.ArrowSchema(),
                                                             tensor_representations=tfxio.TensorRepresentations())
            shared = models[0] if len(models) == 1 else models
            # TFMA's own evaluators and writers (what it would choose), and the per-example probabilities.
            evaluators = [*tfma.default_evaluators(eval_shared_model=shared, eval_config=eval_config),
                          probabilities_evaluator([spec.name for spec in eval_config.model_specs])]
            writers = [*tfma.default_writers(output_path=output_uri, eval_shared_model=shared,
                                             eval_config=eval_config),
                       probabilities_writer(output_uri, splits)]
            _ = (data | "FlattenExamples" >> beam.Flatten()
                 | "ExtractEvaluateAndWriteResults" >> tfma.ExtractEvaluateAndWriteResults(
                     eval_shared_model=shared, eval_config=eval_config, output_path=output_uri,
                     tensor_adapter_config=adapter, evaluators=evaluators, writers=writers))
        logging.info("Evaluator: %d model(s) on %s, results in %s", len(models), ", ".join(splits), output_uri)
