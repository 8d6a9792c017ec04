"""pipeline/progress.py: the progress lines from TFX's log records."""

import io
import logging

from pipeline.progress import ProgressReporter
from trainer import contract

NODE = contract.trainer_id(contract.MULLER_ARM)


def record(message, *args):
    return logging.LogRecord("absl", logging.INFO, "/x/tfx/orchestration/launcher.py", 1, message, args, None)


def run_node(reporter, node, cached):
    reporter.emit(record("node %s is running.", node))
    if cached:
        reporter.emit(record("A cached execution %d is used.", 7))
    reporter.emit(record("node %s is finished.", node))


def test_from_cache_is_said_of_the_run_that_was_cached_only():
    """A sweep runs the same nodes once per seed: a node cached for one seed and trained for the next."""
    out = io.StringIO()
    reporter = ProgressReporter(stream=out)
    run_node(reporter, NODE, cached=True)
    run_node(reporter, NODE, cached=False)
    lines = [line for line in out.getvalue().splitlines() if "✓" in line]
    assert lines[0].endswith("(from cache)") and not lines[1].endswith("(from cache)")
    assert NODE not in reporter.cached
