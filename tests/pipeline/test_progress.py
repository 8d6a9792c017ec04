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


def test_closing_table_says_whether_the_chosen_model_is_servable(tmp_path):
    import json

    from pipeline.progress import closing_table

    def table(servability):
        summary = {"pushed": {"pushed": False, "destination": None}, "servability": servability}
        (tmp_path / contract.REPORT_SUMMARY_FILE).write_text(json.dumps(summary))
        return closing_table(None, {NODE: 1.0}, set(), 1.0, report_dir=str(tmp_path))

    refused = table({"blessed": False, "reason": "does not load as TF Serving loads it: no serving_default"})
    assert "\n  servable: NO: does not load as TF Serving loads it: no serving_default\n" in refused
    assert "\n  servable: yes: loads as TF Serving loads it\n" in table(
        {"blessed": True, "reason": "loads as TF Serving loads it"})
    assert "servable" not in table(None)  # a run without the check (no Pusher) says nothing of it
