"""The project's Keras policy and TensorFlow environment, in one place.

Model code uses **Keras 3** (``import keras``), as the seed example does; it
trained about 2x faster than tf_keras on our CPUs.  It never writes
``tf.keras``.

Why ``TF_USE_LEGACY_KERAS=1`` anyway: importing ``tensorflow_transform`` sets
it as a side effect, so without a policy ``tf.keras`` means Keras 3 in the
process that imported TensorFlow first and tf_keras in every Beam worker or
subprocess started afterwards.  TFT and TFMA use tf_keras internally whatever
we pick.  Setting the variable ourselves, before TensorFlow is imported, makes
``tf.keras`` mean the same thing (tf_keras) in every process, and since our
model code imports ``keras`` explicitly, the model is the same Keras 3 model
whichever entry point imports it first.

Every entry point (``pipeline_runner.py``, the tests' ``conftest.py``, the
container image, and the ``trainer`` package itself, which TFX executors and
Beam workers import) calls :func:`apply_keras_policy`.

The command line's first screen (:func:`quiet_startup`, then
:func:`import_tensorflow`): TensorFlow's C++ logs at error level only; the
three "Unable to register cuDNN/cuFFT/cuBLAS factory" errors that
TensorFlow's CUDA build prints at import on every machine (two copies of each
CUDA plugin register themselves) filtered out of stderr; the Google client
libraries' FutureWarnings (Python version and dependency deprecations) and a
few library log lines that repeat on every run (:data:`ROUTINE_LOG_LINES`)
dropped; TFMA's "invalid value encountered in divide" warning from its AUC
on a slice of one class (0/0, shown as "n/a (one class in slice)" in the
report) ignored by message and module.  None of these is anything the user
can act on; warnings that are (bad images, a too-small data set) stay.
``--verbose`` keeps all of it.

Beam's worker processes (``--direct_running_mode=multi_processing``) print
the same lines, and Beam's runner repeats their routine log lines; while a
command runs Beam, its standard error goes through the filter of
:mod:`trainer.quiet_screen`, which drops the lines of :data:`SCREEN_NOISE`,
built from the tables here.
"""

import logging
import os
import re
import sys
import tempfile
import warnings

KERAS_POLICY_ENV = {
    # tf.keras -> tf_keras everywhere, matching what TFT forces on import.
    "TF_USE_LEGACY_KERAS": "1",
    # Keras 3 runs on TensorFlow (TFX exports TF SavedModels).
    "KERAS_BACKEND": "tensorflow",
}
# TensorFlow's CPU kernels, read once when TensorFlow is imported; a user's own setting wins.  oneDNN: TensorFlow
# 2.16 turns it on by itself only on CPUs with AVX-512 VNNI/BF16 or AMX; on an AVX2-only AMD EPYC (2 cores) a
# demo training step took 0.59-0.74x as long with it as with Eigen's kernels, each arm (docs/trainer.md).
TENSORFLOW_CPU_ENV = {"TF_ENABLE_ONEDNN_OPTS": "1"}
# TensorFlow's GPU memory, a user's own setting wins.  By default the first process to use a GPU reserves nearly
# all of its memory; a local run's components (Transform, the Evaluator) run TensorFlow in the pipeline's process
# while each Trainer trains in a child process of its own (trainer/training_process.py), which would then find
# the GPU's memory taken.  With growth every process takes what it uses.  (No GPU machine with TensorFlow was
# available to measure this: set from TensorFlow's documented behaviour.)
TENSORFLOW_GPU_ENV = {"TF_FORCE_GPU_ALLOW_GROWTH": "true"}
# What TensorFlow prints at import that is no error of ours (C++ lines, written straight to stderr).
TENSORFLOW_IMPORT_NOISE = re.compile(
    r"Unable to register cu(DNN|FFT|BLAS) factory|All log messages before absl::InitializeLog\(\) is called"
)
# Grappler's remapper with oneDNN on a LeakyReLU after a biased convolution whose gradient needs the
# convolution's output (the learnable resizer's conv_mix): TensorFlow 2.16 fuses the pair, then finds the
# gradient's input gone and skips that pass for that graph, which still trains (docs/trainer.md).  Printed once
# per Trainer at error level; nothing the user can act on.
GRAPPLER_NOISE = re.compile(
    r"remapper failed: INVALID_ARGUMENT: Mutation::Apply error: fanout '[^']*/LeakyReluGrad' exist for missing node"
)
# Modules whose FutureWarnings are ignored (regular expression on the warning's module).
QUIET_FUTURE_WARNINGS_FROM = r"google(\.|$)"
# Library log lines of every run, by logger: said once per component, none calls for action.
ROUTINE_LOG_LINES = {
    # TFX's resolver, for each input of each component.
    "absl": re.compile(r"ArtifactQuery\.property_predicate is not supported"
                       # TFT explaining its own choice of code path (our images need an analysis pass).
                       r"|Not using the in-place Transform because"),
    # Beam: a pure-Python CRC without the optional python-snappy (only slower).
    "apache_beam.io.tfrecordio": re.compile(r"Couldn't find python-snappy"),
    # Beam about TFX's own DoFn that runs each component under --runner beam (a process method that returns
    # nothing, by design), once per component and run; about any other DoFn it still shows.
    "apache_beam.transforms.core": re.compile(
        r"No iterator is returned by the process method in %s\.', <class 'tfx\.orchestration\.beam\."
        r"beam_dag_runner\.PipelineNodeAsDoFn'>"),
    # TensorFlow's deprecation notices for calls made inside TFMA or TensorFlow itself: TFMA's reader of its
    # results (tfma.load_metrics, in the comparison and the report) and the profiler's FLOP counters (the
    # Trainer's cost) use TF1 functions TensorFlow marks deprecated.  A notice for a call from any other module
    # shows, unless TensorFlow already spent it: it prints each function's notice once per process, so a later
    # call of the same function from the user's code stays silent after TFMA's or TensorFlow's was dropped.
    "tensorflow": re.compile(r"^From \S*/(tensorflow_model_analysis|tensorflow/python)/\S+: \w+ \(from "
                             r"tensorflow\.python\.[\w.]+\) is deprecated"),
    # Beam's worker processes (--direct_running_mode=multi_processing), their log lines as the runner repeats
    # them: python-snappy again; no session to load from __main__ (our functions live in modules); the runner's
    # own two options the workers do not know (an unknown option of the user's still shows).
    "apache_beam.runners.portability.local_job_service": re.compile(
        r"Worker: .*message: \"(Couldn\\'t find python-snappy|No semi_persistent_directory found"
        r"|Discarding unparseable args: \[(\\'--(direct_runner_use_stacked_bundle|pipeline_type_check)\\'(, )?)+\]\")"),
}
# Python warnings that are no news: (category, message, module), all regular expressions as in
# warnings.filterwarnings.  TFMA's AUC divides by a slice's positives and negatives: a slice of one class
# (by label) gives 0/0, NaN, shown as "n/a (one class in slice)" in the report.
QUIET_WARNINGS = (
    (FutureWarning, "", QUIET_FUTURE_WARNINGS_FROM),
    (RuntimeWarning, "invalid value encountered in divide",
     r"tensorflow_model_analysis\.metrics\.confusion_matrix_metrics$"),
)
# The same warnings as other processes print them (Beam's workers import the same libraries), matched on the
# warning's first line, "<file>:<line>: <category>: <message>".
PRINTED_WARNING_NOISE = re.compile(
    r"/google/[\w/]+\.py:\d+: FutureWarning: "
    r"|/tensorflow_model_analysis/metrics/confusion_matrix_metrics\.py:\d+: "
    r"RuntimeWarning: invalid value encountered in divide$")
# Every line the screen filter of a quiet run drops (trainer/quiet_screen.py), whichever process printed it:
# TensorFlow's import lines, Grappler's remapper line, the warnings and the routine log lines above, as Beam's
# worker processes print them.
SCREEN_NOISE = re.compile("|".join([TENSORFLOW_IMPORT_NOISE.pattern, GRAPPLER_NOISE.pattern,
                                    PRINTED_WARNING_NOISE.pattern,
                                    *(pattern.pattern for pattern in ROUTINE_LOG_LINES.values())]))


class _DropRoutineLines(logging.Filter):
    def __init__(self, pattern):
        super().__init__()
        self.pattern = pattern

    def filter(self, record):
        return not self.pattern.search(record.getMessage())


# TensorFlow reads these variables once, when it loads: a process that imported it before this package runs with
# TensorFlow's defaults, silently (on an AVX2-only CPU Eigen's kernels: the learnable arm's epochs took 2x as long
# and trained other weights, docs/trainer.md).
# Which library reads each variable, once, when it loads.
READ_WHEN_LOADED = {"TF_USE_LEGACY_KERAS": "tensorflow", "KERAS_BACKEND": "keras",
                    "TF_ENABLE_ONEDNN_OPTS": "tensorflow"}
TENSORFLOW_LOADED_FIRST = (
    "TensorFlow was imported before resizer-tfx's trainer package, so {} came too late for this process: "
    "TensorFlow runs with its own defaults here (on CPUs without AVX-512 Eigen's kernels instead of oneDNN's: "
    "slower, other numerics). Trainers that train in a process of their own (training.process child, the "
    "default) still get them; import `pipeline` or `trainer` before TensorFlow, or set them in the environment.")


def apply_keras_policy(environ=None):
    """Sets the Keras policy variables in ``environ`` (``os.environ``).

    Warns (``RuntimeWarning``, :data:`TENSORFLOW_LOADED_FIRST`) when it changes this process's variables after
    TensorFlow was already imported, which then runs without them.

    Args:
        environ: the environment to change (default: the process's).

    Returns:
        ``environ``, with :data:`KERAS_POLICY_ENV` set, and ``TF_CPP_MIN_LOG_LEVEL`` 2,
        :data:`TENSORFLOW_CPU_ENV` and :data:`TENSORFLOW_GPU_ENV` unless already set.
    """
    this_process = environ is None
    environ = os.environ if environ is None else environ
    # Variables this call changes that a library already loaded here has read.
    changed = [key for key, value in KERAS_POLICY_ENV.items()
               if environ.get(key) != value and READ_WHEN_LOADED[key] in sys.modules]
    changed += [key for key in TENSORFLOW_CPU_ENV if key not in environ and READ_WHEN_LOADED[key] in sys.modules]
    for key, value in KERAS_POLICY_ENV.items():
        environ[key] = value
    # TensorFlow's C++ INFO/WARNING lines (end-of-sequence notices, CUDA probes on CPU
    # machines) drown the progress output; errors still show.  Users may override.
    environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for key, value in {**TENSORFLOW_CPU_ENV, **TENSORFLOW_GPU_ENV}.items():
        environ.setdefault(key, value)
    if this_process and changed:
        warnings.warn(TENSORFLOW_LOADED_FIRST.format(", ".join(f"{key}={environ[key]}" for key in changed)),
                      RuntimeWarning, stacklevel=2)
    return environ


# The dill release whose ``_trace`` (set the "dill" logger's level, nothing else) spare_dill_trace_resets was
# written and checked for: Beam 2.61's pin.
SPARED_DILL_VERSION = "0.3.1.1"


def spare_dill_trace_resets():
    """Makes dill's ``_trace(False)`` skip ``setLevel`` when dill's logger already has that level.

    Beam's dill pickler (``apache_beam.internal.dill_pickler``) calls
    ``dill._dill._trace(False)`` after every ``dumps`` and ``loads``, and dill
    0.3.1.1's ``_trace`` only sets its logger's level, but
    ``logging.Logger.setLevel`` clears the cache of every logger of the
    process (about 1,000 once TFX, TFMA and Beam are imported: 0.2-0.4 ms a
    call).  A tiny pipeline run made 8,912 such calls, 3.8 s of its 114 s
    (docs/trainer.md).  Setting the level it already has changes nothing, so
    skipping it changes no result; any other call (a different level, e.g. after
    ``dill.detect.trace(True)``) goes through.  Applies once per process, and
    only to dill :data:`SPARED_DILL_VERSION` (the pinned one, whose ``_trace``
    was read); any other dill runs as it is.  The original is ``_trace.__wrapped__``.
    """
    try:
        import dill
        import dill._dill as dill_module
    except ImportError:  # no dill, no Beam pickling
        return
    original = getattr(dill_module, "_trace", None)
    log = getattr(dill_module, "log", None)
    if (dill.__version__ != SPARED_DILL_VERSION or original is None or log is None
            or getattr(original, "skips_unchanged_level", False)):
        return

    def _trace(boolean):
        if log.level != (logging.INFO if boolean else logging.WARN):
            original(boolean)

    _trace.skips_unchanged_level = True
    _trace.__wrapped__ = original
    dill_module._trace = _trace


def quiet_startup(verbose=False, environ=None):
    """A command's process settings, before TensorFlow is imported: the Keras policy and a quiet first screen.

    Args:
        verbose: keep every TensorFlow C++ log line and every warning.
        environ: the environment to change (default: the process's).

    Returns:
        ``environ``.
    """
    environ = apply_keras_policy(environ)
    if verbose:
        environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        return environ
    for category, message, module in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    # absl must create its own logger class for "absl" before we look that logger up.
    import absl.logging  # noqa: F401

    for name, pattern in ROUTINE_LOG_LINES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropRoutineLines) for f in logger.filters):
            logger.addFilter(_DropRoutineLines(pattern))
    return environ


def import_tensorflow(verbose=False):
    """Imports TensorFlow; unless ``verbose``, without the import-time lines of :data:`TENSORFLOW_IMPORT_NOISE`.

    They come from C++ straight to file descriptor 2, so that descriptor is
    captured while TensorFlow loads; every other line is written back, in order.

    Args:
        verbose: keep those lines.

    Returns:
        The ``tensorflow`` module.
    """
    if verbose or "tensorflow" in sys.modules:
        import tensorflow

        return tensorflow
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True):
                if not TENSORFLOW_IMPORT_NOISE.search(line):
                    sys.stderr.write(line)
            sys.stderr.flush()
    return tensorflow
