"""A Trainer's training in a child process: fields, logs, errors, and no child left behind."""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import types

import pytest
from absl import logging as absl_logging

from tests.trainer import training_process_targets as targets
from trainer import contract, training_process
from trainer.config import ConfigError
from trainer.training_process import TrainingProcessError, run_in_child_process

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fn_args(tmp_path, **extra):
    return types.SimpleNamespace(custom_config={"name": contract.BILINEAR_BASELINE_ARM}, train_files=["train/*"],
                                 eval_files=["eval/*"], model_run_dir=str(tmp_path), **extra)


class Captured(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture(params=["absl verbosity", "root level"])
def captured(request):
    """Records reaching the root logger, with the "resizer.test" logger at INFO and absl's INFO lines on.

    Two ways: absl's verbosity flag at INFO (``pipeline_runner.py``), or absl's logger without a level of its own
    under a root logger at INFO (TFX's container entrypoint, through ``absl.app.run``).
    """
    handler, logger, absl_logger = Captured(), logging.getLogger("resizer.test"), logging.getLogger("absl")
    root = logging.getLogger()
    root.addHandler(handler)
    saved = logger.level, absl_logging.get_verbosity(), absl_logger.level, root.level
    logger.setLevel(logging.INFO)
    if request.param == "absl verbosity":
        absl_logging.set_verbosity(absl_logging.INFO)
    else:
        absl_logger.setLevel(logging.NOTSET)
        root.setLevel(logging.INFO)
    yield handler.records
    root.removeHandler(handler)
    logger.setLevel(saved[0])
    absl_logging.set_verbosity(saved[1])
    absl_logger.setLevel(saved[2])
    root.setLevel(saved[3])


def test_the_function_runs_in_another_process_with_the_trainers_fields_and_its_records_come_back(
        tmp_path, captured, monkeypatch):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)  # the child's package import sets it
    args = fn_args(tmp_path, not_a_trainer_field="left out")
    run_in_child_process(targets.record_call, args)
    with open(tmp_path / "call.json") as f:
        call = json.load(f)
    assert call["pid"] != os.getpid()
    assert call["fields"] == {"custom_config": {"name": contract.BILINEAR_BASELINE_ARM}, "train_files": ["train/*"],
                              "eval_files": ["eval/*"], "model_run_dir": str(tmp_path)}
    assert call["onednn"] == "1"  # the project's policy holds in the child, whatever this process's environment
    ours = [r for r in captured if r.name == "resizer.test"]
    # The child's warning, with its source file (progress lines choose by it); its debug line stays below the
    # logger's level here, so the child never made it.
    assert [(r.levelno, r.getMessage()) for r in ours] == [(logging.WARNING, "a warning from the child")]
    assert ours[0].pathname == targets.__file__ and ours[0].process == call["pid"]
    # absl's INFO lines (the Trainer's progress), before and after absl's flags were parsed in the child.
    assert [r.getMessage() for r in captured if r.name == "absl"] == [
        f"trained {contract.BILINEAR_BASELINE_ARM}", f"exported {contract.BILINEAR_BASELINE_ARM}"]


def test_the_child_runs_its_exit_handlers(tmp_path):
    """TensorFlow removes AutoGraph's temporary files in an exit handler; a child that skipped them left files."""
    run_in_child_process(targets.register_exit_handler, fn_args(tmp_path))
    assert (tmp_path / "exited").exists()


def test_an_error_is_raised_again_with_its_type_and_message_and_the_childs_traceback_as_cause(tmp_path):
    with pytest.raises(ConfigError, match="^training.epochs: must be at least 1$") as raised:
        run_in_child_process(targets.raise_config_error, fn_args(tmp_path))
    assert raised.value.field == "training.epochs"
    assert isinstance(raised.value.__cause__, training_process.ChildTracebackError)
    assert "in raise_config_error" in str(raised.value.__cause__)


def test_an_error_that_does_not_unpickle_comes_back_as_words(tmp_path):
    with pytest.raises(TrainingProcessError,
                       match=r"^tests\.trainer\.training_process_targets\.TwoArgumentsError: this and that$"):
        run_in_child_process(targets.raise_unrebuildable, fn_args(tmp_path))


def test_a_system_exit_in_the_child_is_an_error_here_not_the_end_of_this_process(tmp_path):
    with pytest.raises(TrainingProcessError, match=r"^builtins\.SystemExit: 0$"):
        run_in_child_process(targets.exit_quietly, fn_args(tmp_path))


def _call_within(seconds, function, args):
    """Runs the call in a thread; fails the test (instead of hanging the suite) when it takes longer."""
    errors = []
    thread = threading.Thread(target=lambda: _record_error(errors, function, args), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the call did not return within {seconds} s"
    return errors


def _record_error(errors, function, args):
    try:
        run_in_child_process(function, args)
    except BaseException as error:  # noqa: BLE001
        errors.append(error)


def test_a_failing_handler_here_does_not_stop_the_child_logging_more_than_a_pipe_holds(tmp_path, capsys):
    class Failing(logging.Handler):
        def emit(self, record):
            raise OSError("the terminal went away")

    logger = logging.getLogger("resizer.flood")
    failing = Failing()
    logger.addHandler(failing)
    logger.propagate = False
    try:
        errors = _call_within(120, targets.log_a_flood, fn_args(tmp_path))
    finally:
        logger.removeHandler(failing)
        logger.propagate = True
    assert errors == []
    assert "the terminal went away" in capsys.readouterr().err  # each failure shown, the reading went on


def test_a_process_the_child_left_holding_the_log_pipe_does_not_hold_up_the_call(tmp_path):
    errors = _call_within(15, targets.fork_a_holder, fn_args(tmp_path))  # the holder sleeps 30 s
    os.kill(int((tmp_path / "holder").read_text()), signal.SIGKILL)
    assert errors == []


def test_a_killed_child_is_an_error_naming_the_signal(tmp_path):
    with pytest.raises(TrainingProcessError, match=r"kill_itself: the training process \(pid \d+\) was killed by "
                                                   r"SIGKILL \(what the kernel's out-of-memory killer sends\)"):
        run_in_child_process(targets.kill_itself, fn_args(tmp_path))


def _parent(tmp_path):
    """A Python process that runs ``wait_forever`` in a child; returns (the parent, the child's pid)."""
    code = ("import sys, types; from trainer.training_process import run_in_child_process; "
            "from tests.trainer.training_process_targets import wait_forever; "
            "run_in_child_process(wait_forever, types.SimpleNamespace(model_run_dir=sys.argv[1]))")
    # Its scratch directory (the request file) in the test's directory, to see that it goes.
    parent = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, stderr=subprocess.PIPE,
                              env={**os.environ, "TMPDIR": str(tmp_path)})
    deadline = time.monotonic() + 60
    while not (tmp_path / "pid").exists():
        assert parent.poll() is None, parent.stderr.read().decode()
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.1)
    return parent, int((tmp_path / "pid").read_text())


def _alive(pid):
    """True while ``pid`` runs (a zombie waiting for its new parent to reap it counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_child_is_killed_when_the_call_is_interrupted(tmp_path):
    parent, child = _parent(tmp_path)
    assert _alive(child)
    parent.send_signal(signal.SIGINT)  # the parent alone, as when a runner thread is interrupted
    assert parent.wait(timeout=30) != 0
    assert b"KeyboardInterrupt" in parent.stderr.read()
    assert not _alive(child)  # killed and reaped before the parent went on


def test_the_child_ends_when_its_parent_is_killed(tmp_path):
    parent, child = _parent(tmp_path)
    parent.kill()
    parent.wait(timeout=30)
    deadline = time.monotonic() + 10 * training_process.PARENT_POLL_SECONDS
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the training process outlived its parent"
    assert not list(tmp_path.glob("training-process-*")), "the killed parent's scratch directory was left"
