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

_OUR_COMPONENTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "components") + os.sep


def _shown_info(pathname: str) -> bool:
    """True for INFO lines worth a progress line, by the logging file's path.

    Any Trainer's (ours and TFX's executor: arm, hardware, export path) and our own components' (ingestion
    counts, the paired verdict).
    """
    return os.sep + "trainer" + os.sep in pathname or pathname.startswith(_OUR_COMPONENTS)


class ProgressReporter(std_logging.Handler):
    """A logging handler that turns TFX's component log lines into short progress lines and wall times.

    Args:
        stream: where the progress lines go (standard output by default), each ``[HH:MM:SS] <prefix><text>``.

    Attributes:
        seconds: {component id: wall seconds of its last run}.
        cached: ids of the components whose last run came from TFX's cache.
        prefix: put before every line (e.g. ``seed 1 (2/3) `` during a sweep).
    """

    RUNNING = ("Component %s is running.", "node %s is running.")
    FINISHED = ("Component %s is finished.", "node %s is finished.")

    def __init__(self, stream=sys.stdout):
        super().__init__(std_logging.INFO)
        self.stream = stream
        self.started = {}
        self.seconds = {}
        self.cached = set()
        self._current = None
        # Put before every line, e.g. "seed 1 (2/3) " during a sweep.
        self.prefix = ""

    def emit(self, record):
        if record.msg in self.RUNNING:
            node = record.args[0]
            self._current = node
            self.cached.discard(node)  # a sweep runs the same nodes again: cached is per run of a node
            self.started[node] = time.perf_counter()
            self.print_line(f"▶ {node} ...")
        elif record.msg in self.FINISHED:
            node = record.args[0]
            self.seconds[node] = time.perf_counter() - self.started.get(node, time.perf_counter())
            note = " (from cache)" if node in self.cached else ""
            self.print_line(f"✓ {node} {self.seconds[node]:.1f} s{note}")
        elif record.msg.startswith("A cached execution") and self._current:
            self.cached.add(self._current)
        elif record.levelno < std_logging.WARNING and _shown_info(record.pathname or ""):
            self.print_line("  " + record.getMessage())

    def print_line(self, text):
        """Prints ``[HH:MM:SS] <prefix><text>`` to the stream."""
        print(f"[{time.strftime('%H:%M:%S')}] {self.prefix}{text}", file=self.stream, flush=True)


def quiet_logs(verbose):
    """Progress lines from TFX's INFO logs; the rest of that flood only with --verbose.

    Args:
        verbose: also show every other INFO line (absl's own handler stays); else warnings go to stderr alone.

    Returns:
        The :class:`ProgressReporter` attached to absl's logger (its ``seconds`` and ``cached`` feed
        :func:`closing_table`).
    """
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


def closing_table(config, seconds, cached, total, report_dir=None):
    """Component times, then the verdict: every arm on the test split (accuracy, difference, p, cost) and the rule.

    Args:
        config: the run's configuration.
        seconds: {component id: wall seconds}.
        cached: ids of the components served from TFX's cache.
        total: the whole run's wall seconds.
        report_dir: where the report's ``summary.json`` is; None: ``config.report_dir``.

    Returns:
        The table as text (lines joined by newlines): times, the verdict per arm, the rule, servability, the
        pushed path, the model card and report paths, and the data note; says so when there is no report.
    """
    report_dir = report_dir or config.report_dir
    lines = ["", "Component wall times:"]
    for node, value in seconds.items():
        lines.append(f"  {node:<32} {value:7.1f} s{'  (cached)' if node in cached else ''}")
    lines.append(f"  {'total':<32} {total:7.1f} s")
    summary_path = os.path.join(report_dir, contract.REPORT_SUMMARY_FILE)
    if not os.path.exists(summary_path):
        lines.append(f"No comparison report at {summary_path}.")
        return "\n".join(lines)
    with open(summary_path) as f:
        summary = json.load(f)
    lines += [""] + verdict_lines(summary) + tuning_lines(summary)
    pushed = summary.get("pushed") or {}
    servability = summary.get("servability")
    if servability:
        lines.append(f"  servable: {'yes' if servability.get('blessed') else 'NO'}: {servability.get('reason')}")
    pushed_line = ((pushed.get("destination") or "nothing (not blessed)") if "pushed" in pushed
                   else "no Pusher in this run")
    lines += [
        f"  pushed:  {pushed_line}",
        f"  report:  {os.path.abspath(os.path.join(report_dir, contract.REPORT_MARKDOWN_FILE))}",
    ]
    card = os.path.join(pushed.get("destination") or "", contract.MODEL_CARD_MARKDOWN_FILE)
    if pushed.get("destination") and os.path.exists(card):
        lines.insert(-1, f"  card:    {card}")
    if summary.get("data_note"):
        lines += ["", f"  NOTE: {summary['data_note']}"]
    return "\n".join(lines)


def tuning_lines(summary: dict) -> list:
    """What each arm's Tuner searched and chose, as closing-table lines.

    Args:
        summary: a report's ``summary.json``, loaded.

    Returns:
        Two lines per tuned arm under a heading; [] without tuning.
    """
    tuned = summary.get("tuning") or {}
    if not tuned:
        return []
    lines = ["", "  hyperparameter search (TFX Tuner on train, ranked on validation; test unread):"]
    for arm, entry in tuned.items():
        lines += [f"    {arm}: searched {entry.get('searched_text', '')}",
                  f"    {' ' * len(arm)}  chose {entry.get('chosen_text', '')}"]
    return lines


def verdict_lines(summary: dict) -> list:
    """The verdict of a report as closing-table lines: one row per arm, how latency was measured, the rule.

    Args:
        summary: a report's ``summary.json``, loaded (its ``verdict``).

    Returns:
        The lines; one saying so when the summary has no verdict.
    """
    from components.verdict import Verdict
    from components.verdict_text import latency_note, text_table, verdict_table

    if not summary.get("verdict"):
        return ["  no verdict in the report"]
    verdict = Verdict.from_dict(summary["verdict"])
    return ([f"  {verdict.split} split, n = {verdict.n}"] + text_table(verdict_table(verdict))
            + [f"  {latency_note(verdict)}", "", f"  {verdict.rule}"])
