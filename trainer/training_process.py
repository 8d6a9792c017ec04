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
  killed when the call is interrupted here (``KeyboardInterrupt``); a handler here that fails, or a process
  the child left holding the log pipe, does not hold the call up.

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
import select
import shutil
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
_POLL_SECONDS = 0.2  # how often the log reader looks whether the child has ended
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


def _handle_line(line: bytes) -> None:
    """Handles one record the child sent (a JSON object) with this process's logger of its name."""
    text = line.decode("utf-8", "replace")
    try:
        record = logging.makeLogRecord(json.loads(text))
    except (ValueError, TypeError):  # not one of ours: show it as the child wrote it
        sys.stderr.write(text + "\n")
        return
    try:
        logging.getLogger(record.name).handle(record)
    except Exception:  # noqa: BLE001 (a failing handler here must not stop the reading: the child would block)
        traceback.print_exc()


def _forward_logs(read_fd: int, child_ended: threading.Event) -> None:
    """Reads the child's records until the pipe closes, or until the child has ended and nothing more is there.

    The second case: a process the child started may hold the pipe's write end after the child is gone.
    """
    pending = b""
    while True:
        ready, _, _ = select.select([read_fd], [], [], _POLL_SECONDS)
        if not ready:
            if child_ended.is_set():
                break
            continue
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            _handle_line(line)
    if pending:
        _handle_line(pending)


def run_in_child_process(function, fn_args) -> None:
    """Runs ``function(fn_args)`` in a fresh Python process; returns when it has, raises what it raised.

    Args:
        function: a module-level function (found again in the child by module and name) taking FnArgs.
        fn_args: TFX's FnArgs (or any object with the attributes of :data:`FN_ARGS_FIELDS`; missing ones are
            left out). The values must pickle (TFX's are strings, lists and dicts).

    Raises:
        Whatever ``function`` raised, re-raised here (its type and message; the child's traceback as the
        ``__cause__``); a :class:`TrainingProcessError` with the exception's type and message when it does
        not unpickle here, or is no ``Exception`` and no ``KeyboardInterrupt`` (a ``SystemExit``).
        TrainingProcessError: the child ended without an outcome (killed by a signal, or crashed in C++).
    """
    request = {
        "function": f"{function.__module__}:{function.__qualname__}",
        "fn_args": {name: getattr(fn_args, name) for name in FN_ARGS_FIELDS if hasattr(fn_args, name)},
        "warning_filters": [_pickled(entry) for entry in warnings.filters],
        # Every logger's own level, so that the child makes the records this process would (its handlers,
        # filters and formats then apply here); absl's as its effective level (absl's verbosity flag).
        "log_levels": {name: logger.level for name, logger in logging.root.manager.loggerDict.items()
                       if isinstance(logger, logging.Logger) and logger.level} | {"": logging.root.level},
        "absl_level": logging.getLogger("absl").getEffectiveLevel(),
    }
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryDirectory(prefix="training-process-") as scratch:
        request_path, outcome_path = os.path.join(scratch, "request.pickle"), os.path.join(scratch, "outcome")
        read_fd, write_fd = os.pipe()
        try:
            request["log_fd"] = write_fd
            with open(request_path, "wb") as f:
                pickle.dump(request, f)
            try:
                child = subprocess.Popen(
                    [sys.executable, "-c", _CHILD_MAIN, _PROJECT_ROOT, str(os.getpid()), request_path, outcome_path],
                    pass_fds=(write_fd,))
            finally:
                os.close(write_fd)
            child_ended = threading.Event()
            forwarder = threading.Thread(target=_forward_logs, args=(read_fd, child_ended),
                                         name="training-process-logs", daemon=True)
            forwarder.start()
            try:
                returncode = child.wait()
            except BaseException:  # KeyboardInterrupt, SystemExit: the child must not go on alone
                child.kill()
                child.wait()
                raise
            finally:
                child_ended.set()
                forwarder.join()
        finally:
            os.close(read_fd)
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
    # SystemExit (even with status 0) or another BaseException from the child must not end this process quietly.
    if not isinstance(error, (Exception, KeyboardInterrupt)):
        error = TrainingProcessError(f"{outcome['type']}: {outcome['message']}")
    raise error from cause


def _pickled(value) -> bytes | None:
    """``value`` pickled, or None when it does not pickle (such a warning filter is left out in the child)."""
    try:
        return pickle.dumps(value)
    except Exception:  # noqa: BLE001
        return None


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


def _exit_with_parent(parent_pid: int, scratch: str) -> None:
    """Ends this process (status 70) once its parent is gone: the training must not outlive the pipeline.

    The parent's scratch directory (``scratch``, the request and outcome files) goes with it: a parent that
    was killed could not remove it.
    """

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        shutil.rmtree(scratch, ignore_errors=True)
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
    """The child's entry point: ``argv`` is ``[project root, parent pid, REQUEST, OUTCOME]``.

    Writes the outcome (``{"error": None}`` or the exception).

    Returns:
        The exit status: 0 when the function returned, 1 when it raised.  The interpreter then ends as usual,
        running its exit handlers (TensorFlow's removes the temporary files AutoGraph wrote).
    """
    parent_pid, request_path, outcome_path = int(argv[1]), argv[2], argv[3]
    # The parent's pid from the parent: one that died before this line still counts.
    _exit_with_parent(parent_pid, os.path.dirname(request_path))
    with open(request_path, "rb") as f:
        request = pickle.load(f)
    # The package's import applied the Keras policy before anything loaded TensorFlow here.
    import absl.logging  # absl sets up its logger class and handler before we replace them

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    log_stream = open(request["log_fd"], "w", encoding="utf-8", buffering=1)
    os.set_inheritable(request["log_fd"], False)  # no process this one starts keeps the parent reading
    root.addHandler(_PipeHandler(log_stream))
    for name, level in request["log_levels"].items():
        logging.getLogger(name or None).setLevel(level)
    # Through absl's verbosity flag: TensorFlow's SavedModel export saves and restores the flag's value.
    absl.logging.set_verbosity(absl.logging.converter.standard_to_absl(request["absl_level"]))
    filters = []
    for entry in request["warning_filters"]:
        if entry is None:
            continue
        try:
            filters.append(pickle.loads(entry))
        except Exception:  # noqa: BLE001 (a category this process cannot import: that filter is left out)
            continue
    warnings.filters[:] = filters
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
    return 0 if error is None else 1
