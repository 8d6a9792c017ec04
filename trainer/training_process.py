"""A Trainer's training in a fresh Python process of its own (``training.process: child``, the default).

TFX's local runners run every component in one process.  With oneDNN (our default on CPUs,
``trainer/environment.py``) TensorFlow allocates through its own pool, which grows to the largest training
step's activations and is never given back to the system: after the Trainers of the demo the pipeline's
process held 4.3 GB, and each later heavy component started from there (docs/trainer.md, "Memory of the
demo").  Trained in a child process, the pool goes with the child when it ends; the component's process keeps
only what it held before.

:func:`run_in_child_process` runs ``module:function(fn_args)`` in a fresh ``python`` (this module's
:func:`main`) and makes it look, to the caller, like a call in this process:

* the child gets the FnArgs fields a Trainer reads (:data:`FN_ARGS_FIELDS`), the environment (TensorFlow's
  settings, ``TF_CONFIG``) and this process's warning filters; the project's Keras policy is applied before
  TensorFlow loads there, whatever this process imported first;
* its log records come back through a pipe and are handled by this process's loggers of the same names, so
  progress lines, filters and ``--verbose`` behave as in one process; what it prints (Keras' epoch lines,
  TensorFlow's C++ lines) goes to the same standard output and error;
* an exception it raises is raised here, the same type and message where it unpickles, with the child's
  traceback as its cause; a child that dies without one (a signal: the kernel's out-of-memory killer) raises
  :class:`TrainingProcessError` naming the exit status;
* it does not outlive this process: it exits when its parent is gone (checked every second), and it is
  killed when the call is interrupted here (``KeyboardInterrupt``).

Costs a fresh interpreter's imports of TensorFlow and the trainer per Trainer (about 5 s on a 2-core AMD EPYC,
AVX2 only).
"""

import base64
import contextlib
import importlib
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types
import warnings

# What run_fn and its helpers read from TFX's FnArgs (trainer/run.py, warm_start.py, tuning.py).
FN_ARGS_FIELDS = ("custom_config", "hyperparameters", "train_files", "eval_files", "transform_output",
                  "serving_model_dir", "model_run_dir", "base_model")
# The LogRecord attributes that travel to the parent (the message is sent formatted, without its args).
_RECORD_FIELDS = ("name", "levelno", "levelname", "pathname", "filename", "module", "lineno", "funcName",
                  "created", "msecs", "relativeCreated", "thread", "threadName", "process", "processName")
PARENT_POLL_SECONDS = 1.0
# The child imports this package from where the parent did (a checkout, a container's copy), not from its own
# working directory; argv[1] is that directory.
_PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CHILD_MAIN = ("import sys; sys.path.insert(0, sys.argv[1]); from trainer.training_process import main; "
               "sys.exit(main(sys.argv[1:]))")


class TrainingProcessError(RuntimeError):
    """The training process ended without finishing and without an exception to pass on (killed, crashed)."""


class ChildTracebackError(Exception):
    """The child's traceback, as text: the cause of an exception re-raised in the parent."""

    def __str__(self):
        return "in the training process:\n" + (self.args[0] if self.args else "")


def _exit_status(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = " (what the kernel's out-of-memory killer sends)" if -returncode == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with status {returncode}"


def _forward_logs(stream) -> None:
    """Handles every record the child sent (one JSON object per line) with this process's logger of its name."""
    for line in stream:
        try:
            record = logging.makeLogRecord(json.loads(line))
        except ValueError:  # not one of ours: show it as the child wrote it
            sys.stderr.write(line)
            continue
        logging.getLogger(record.name).handle(record)


def run_in_child_process(function, fn_args) -> None:
    """Runs ``function(fn_args)`` in a fresh Python process; returns when it has, raises what it raised.

    Args:
        function: a module-level function (found again in the child by module and name) taking FnArgs.
        fn_args: TFX's FnArgs (or any object with the attributes of :data:`FN_ARGS_FIELDS`; missing ones are
            left out). The values must pickle (TFX's are strings, lists and dicts).

    Raises:
        Whatever ``function`` raised, re-raised here (its type and message; the child's traceback as the
        ``__cause__``); a :class:`TrainingProcessError` with the exception's type and message when it does
        not unpickle here.
        TrainingProcessError: the child ended without an outcome (killed by a signal, or crashed in C++).
    """
    request = {
        "function": f"{function.__module__}:{function.__qualname__}",
        "fn_args": {name: getattr(fn_args, name) for name in FN_ARGS_FIELDS if hasattr(fn_args, name)},
        "warning_filters": list(warnings.filters),
        # Every logger's own level, so that the child makes the records this process would (its handlers,
        # filters and formats then apply here).
        "log_levels": {name: logger.level for name, logger in logging.root.manager.loggerDict.items()
                       if isinstance(logger, logging.Logger) and logger.level} | {"": logging.root.level},
    }
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryDirectory(prefix="training-process-") as scratch:
        request_path, outcome_path = os.path.join(scratch, "request.pickle"), os.path.join(scratch, "outcome")
        read_fd, write_fd = os.pipe()
        request["log_fd"] = write_fd
        with open(request_path, "wb") as f:
            pickle.dump(request, f)
        try:
            child = subprocess.Popen([sys.executable, "-c", _CHILD_MAIN, _PROJECT_ROOT, request_path, outcome_path],
                                     pass_fds=(write_fd,))
        finally:
            os.close(write_fd)
        with open(read_fd, encoding="utf-8", errors="replace") as logs:
            forwarder = threading.Thread(target=_forward_logs, args=(logs,), name="training-process-logs",
                                         daemon=True)
            forwarder.start()
            try:
                returncode = child.wait()
            except BaseException:  # KeyboardInterrupt, SystemExit: the child must not go on alone
                child.kill()
                child.wait()
                raise
            finally:
                forwarder.join()
        if not os.path.exists(outcome_path):
            raise TrainingProcessError(
                f"{request['function']}: the training process (pid {child.pid}) {_exit_status(returncode)} "
                f"before it finished; what it printed is above")
        with open(outcome_path, encoding="utf-8") as f:
            outcome = json.load(f)
    if outcome["error"] is None:
        return
    cause = ChildTracebackError(outcome["traceback"])
    try:
        error = pickle.loads(base64.b64decode(outcome["error"])) if outcome["pickled"] else None
    except Exception:  # noqa: BLE001 (a class this process cannot rebuild: fall back to the words)
        error = None
    if not isinstance(error, BaseException):
        error = TrainingProcessError(f"{outcome['type']}: {outcome['message']}")
    raise error from cause


# --- the child ---------------------------------------------------------------------------------------------


class _PipeHandler(logging.Handler):
    """Sends every record to the parent as one JSON line, its message formatted here."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream

    def emit(self, record):
        try:
            data = {name: getattr(record, name, None) for name in _RECORD_FIELDS}
            data["msg"] = record.getMessage()
            if record.exc_info:
                data["exc_text"] = logging.Formatter().formatException(record.exc_info)
            elif record.exc_text:
                data["exc_text"] = record.exc_text
            self.stream.write(json.dumps(data, default=str) + "\n")
            self.stream.flush()
        except Exception:  # noqa: BLE001 (logging must not end the training)
            self.handleError(record)


def _exit_with_parent(parent_pid: int) -> None:
    """Ends this process (status 70) once its parent is gone: the training must not outlive the pipeline."""

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(70)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _outcome(error: BaseException | None) -> dict:
    if error is None:
        return {"error": None}
    outcome = {"type": f"{type(error).__module__}.{type(error).__qualname__}", "message": str(error),
               "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__)),
               "pickled": False, "error": ""}
    with contextlib.suppress(Exception):  # an exception that does not pickle goes back as words
        data = pickle.dumps(error)
        pickle.loads(data)
        outcome["error"], outcome["pickled"] = base64.b64encode(data).decode("ascii"), True
    return outcome


def main(argv) -> int:
    """The child's entry point: ``argv`` is ``[project root, REQUEST, OUTCOME]`` (files the parent named).

    Returns:
        0 when the function returned, 1 when it raised (its outcome written either way).
    """
    request_path, outcome_path = argv[1:3]
    _exit_with_parent(os.getppid())
    with open(request_path, "rb") as f:
        request = pickle.load(f)
    warnings.filters[:] = request["warning_filters"]
    # The package's import applied the Keras policy before anything loaded TensorFlow here.
    import absl.logging  # absl sets up its logger class and handler before we replace them

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_PipeHandler(open(request["log_fd"], "w", encoding="utf-8", buffering=1)))
    for name, level in request["log_levels"].items():
        if name == "absl":  # through absl's verbosity flag, which would otherwise put it back when parsed
            absl.logging.set_verbosity(absl.logging.converter.standard_to_absl(level))
        else:
            logging.getLogger(name or None).setLevel(level)
    error = None
    try:
        module_name, name = request["function"].split(":")
        function = getattr(importlib.import_module(module_name), name)
        function(types.SimpleNamespace(**request["fn_args"]))
    except BaseException as raised:  # noqa: BLE001 (everything goes back to the parent)
        error = raised
    outcome = _outcome(error)
    with open(outcome_path + ".partial", "w", encoding="utf-8") as f:
        json.dump(outcome, f)
    os.replace(outcome_path + ".partial", outcome_path)
    logging.shutdown()
    return 0 if error is None else 1


