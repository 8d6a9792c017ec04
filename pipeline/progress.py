"""What a local run prints: one line per component from TFX's logs, then a closing table.

TFX logs every component's start and end at INFO, among a flood of other
INFO lines; :func:`quiet_logs` turns those two into short progress lines
(with wall times, and whether the result came from the cache) and shows the
rest only with ``--verbose``.  Warnings always show.
"""

import json
import logging as std_logging
import os
import sys
import time

from trainer import contract


class ProgressReporter(std_logging.Handler):
    """Turns TFX's component log lines into short progress lines and wall times."""

    RUNNING = ("Component %s is running.", "node %s is running.")
    FINISHED = ("Component %s is finished.", "node %s is finished.")

    def __init__(self, stream=sys.stdout):
        super().__init__(std_logging.INFO)
        self.stream = stream
        self.started = {}
        self.seconds = {}
        self.cached = set()
        self._current = None

    def emit(self, record):
        if record.msg in self.RUNNING:
            node = record.args[0]
            self._current = node
            self.started[node] = time.perf_counter()
            self._print(f"▶ {node} ...")
        elif record.msg in self.FINISHED:
            node = record.args[0]
            self.seconds[node] = time.perf_counter() - self.started.get(node, time.perf_counter())
            note = " (from cache)" if node in self.cached else ""
            self._print(f"✓ {node} {self.seconds[node]:.1f} s{note}")
        elif record.msg.startswith("A cached execution") and self._current:
            self.cached.add(self._current)
        elif record.levelno < std_logging.WARNING and os.sep + "trainer" + os.sep in (record.pathname or ""):
            # Trainer lines (ours and TFX's trainer executor): arm, hardware, export path.
            self._print("  " + record.getMessage())

    def _print(self, text):
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=self.stream, flush=True)


def quiet_logs(verbose):
    """Progress lines from TFX's INFO logs; the rest of that flood only with --verbose."""
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    reporter = ProgressReporter()
    logger = std_logging.getLogger("absl")
    logger.addHandler(reporter)
    if not verbose:
        warnings = std_logging.StreamHandler(sys.stderr)
        warnings.setLevel(std_logging.WARNING)
        warnings.setFormatter(std_logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(warnings)
        logger.propagate = False
    return reporter


def closing_table(config, seconds, cached, total):
    lines = ["", "Component wall times:"]
    for node, value in seconds.items():
        lines.append(f"  {node:<32} {value:7.1f} s{'  (cached)' if node in cached else ''}")
    lines.append(f"  {'total':<32} {total:7.1f} s")
    summary_path = os.path.join(config.report_dir, contract.REPORT_SUMMARY_FILE)
    if not os.path.exists(summary_path):
        lines.append(f"No comparison report at {summary_path}.")
        return "\n".join(lines)
    with open(summary_path) as f:
        summary = json.load(f)
    acc = summary["accuracy"]

    def fmt(v):
        return "n/a" if v is None else f"{v:.4f}"

    candidate, baseline = contract.ARMS
    lines += [
        "",
        f"                     {candidate:>17}  {baseline:>17}  difference",
        f"  eval accuracy       {fmt(acc.get(candidate)):>17}  {fmt(acc.get(baseline)):>17}"
        f"  {fmt(acc.get('diff')):>10}",
    ]
    training = summary.get("training", {})
    for label, key in (("final train loss", "loss"), ("Keras val accuracy", "val_accuracy")):
        cells = []
        for arm in contract.ARMS:
            history = training.get(arm, {}).get("history", {}).get(key) or [None]
            cells.append(fmt(history[-1]))
        lines.append(f"  {label:<19} {cells[0]:>17}  {cells[1]:>17}")
    pushed = summary.get("pushed", {})
    lines += [
        "",
        f"  blessed: {'yes' if summary.get('blessed') else 'no'} "
        f"(margin >= {config.evaluation.accuracy_margin}, floor >= {config.evaluation.accuracy_floor})",
        f"  pushed:  {pushed.get('destination') or 'nothing (not blessed)'}",
        f"  report:  {os.path.abspath(os.path.join(config.report_dir, contract.REPORT_MARKDOWN_FILE))}",
    ]
    return "\n".join(lines)
