"""Functions the tests of ``trainer/training_process.py`` run in a child process (light: no TensorFlow)."""

import atexit
import json
import logging
import os
import signal
import time

from absl import logging as absl_logging

from trainer.config import ConfigError


def record_call(fn_args):
    """Writes ``call.json`` (its pid, the fields it got) into ``fn_args.model_run_dir``; logs three records."""
    absl_logging.info("trained %s", fn_args.custom_config["name"])
    # What TensorFlow's SavedModel export does (autotrackable.py): absl's verbosity saved and put back.
    absl_logging.set_verbosity(absl_logging.get_verbosity())
    absl_logging.info("exported %s", fn_args.custom_config["name"])
    logging.getLogger("resizer.test").warning("a warning from %s", "the child")
    logging.getLogger("resizer.test").debug("a debug line no configured level lets through")
    with open(os.path.join(fn_args.model_run_dir, "call.json"), "w") as f:
        json.dump({"pid": os.getpid(), "fields": vars(fn_args), "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}, f)


def raise_config_error(fn_args):
    raise ConfigError("training.epochs", "must be at least 1")


class TwoArgumentsError(Exception):
    """An exception that pickles but does not unpickle (its ``__init__`` wants two arguments, ``args`` has one)."""

    def __init__(self, first, second):
        super().__init__(f"{first} and {second}")


def raise_unrebuildable(fn_args):
    raise TwoArgumentsError("this", "that")


def kill_itself(fn_args):
    os.kill(os.getpid(), signal.SIGKILL)


def wait_forever(fn_args):
    """Writes its pid to ``fn_args.model_run_dir``/pid, then sleeps (until killed)."""
    with open(os.path.join(fn_args.model_run_dir, "pid.partial"), "w") as f:
        f.write(str(os.getpid()))
    os.replace(os.path.join(fn_args.model_run_dir, "pid.partial"), os.path.join(fn_args.model_run_dir, "pid"))
    while True:
        time.sleep(1)


def log_a_flood(fn_args):
    """Logs far more than a pipe holds (about 2 MB) before it returns."""
    for i in range(20_000):
        logging.getLogger("resizer.flood").warning("line %d %s", i, "x" * 100)


def fork_a_holder(fn_args):
    """Leaves a forked copy of itself (which keeps every descriptor, the log pipe's too) sleeping, then returns."""
    holder = os.fork()
    if holder == 0:
        time.sleep(30)
        os._exit(0)
    with open(os.path.join(fn_args.model_run_dir, "holder"), "w") as f:
        f.write(str(holder))


def exit_quietly(fn_args):
    raise SystemExit(0)


def register_exit_handler(fn_args):
    """Registers an exit handler that writes ``exited`` into ``fn_args.model_run_dir`` (as AutoGraph's cleans up)."""
    path = os.path.join(fn_args.model_run_dir, "exited")
    atexit.register(lambda: open(path, "w").close())
