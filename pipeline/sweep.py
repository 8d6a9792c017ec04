"""``pipeline_runner.py sweep``: the comparison repeated over seeds, never pushing.

Each seed runs the same pipeline without its Pusher, with ``training.seed``
set to that seed (the initial weights of both arms and their shared data
order).  Ingestion, statistics, schema and Transform do not depend on the
seed, so after the first seed they come from TFX's cache; each seed retrains
both arms and evaluates them on the same test split.  Every seed's report
lands in ``reports/sweep/seed_<seed>/``; the sweep's own ``sweep.md``,
``sweep.json`` and ``sweep.png`` in ``reports/``.
"""

import json
import os
import time
from typing import List, Sequence

from components.comparison_stats import summarise_seeds
from pipeline.config import PipelineConfig
from trainer import contract


def parse_seeds(text: str) -> List[int]:
    """``"0,1,2"`` -> [0, 1, 2]; ``"3"`` -> [0, 1, 2] (the first N seeds)."""
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    try:
        values = [int(t) for t in items]
    except ValueError:
        raise ValueError(f"--seeds: expected N or a comma-separated list of ints, got {text!r}") from None
    if len(values) == 1 and "," not in str(text):
        if values[0] < 1:
            raise ValueError(f"--seeds: N must be >= 1, got {values[0]}")
        return list(range(values[0]))
    if len(set(values)) != len(values) or not values:
        raise ValueError(f"--seeds: seeds must be distinct, got {text!r}")
    return values


def seed_report_dir(config: PipelineConfig, seed: int) -> str:
    return os.path.join(config.report_dir, "sweep", f"seed_{seed}")


def sweep_summary(seeds: Sequence[int], per_seed: Sequence[dict], significance_level: float) -> dict:
    """The machine-readable sweep: ``seeds``, ``per_seed``, ``difference``, ``p_value``, ``verdict``."""
    across = summarise_seeds([entry["comparison"] for entry in per_seed], significance_level)
    return {
        "seeds": list(seeds),
        "per_seed": list(per_seed),
        "candidate": across["candidate"],
        "baseline": across["baseline"],
        "difference": across["difference"],
        "wins": across["wins"],
        "losses": across["losses"],
        "p_value": across["p_value"],
        "test": across["test"],
        "significance_level": significance_level,
        "verdict": across["verdict"],
    }


def _fmt_ci(bounds, signed=False):
    fmt = "{:+.3f}" if signed else "{:.3f}"
    return f"[{fmt.format(bounds[0])}, {fmt.format(bounds[1])}]"


def sweep_markdown(summary: dict, data_note: str = "") -> str:
    lines = ["# Repeated seeds: learnable resizer vs bilinear baseline", ""]
    if data_note:
        lines += [f"> **{data_note}**", ""]
    lines += [f"**Verdict:** {summary['verdict']}", "",
              "| seed | n | learnable resizer (95% CI) | bilinear baseline (95% CI) | difference (95% CI) | "
              "McNemar p | gate | minutes |", "|---|---|---|---|---|---|---|---|"]
    for entry in summary["per_seed"]:
        c = entry["comparison"]
        lines.append(
            f"| {entry['seed']} | {c['n']} | {c['candidate']['accuracy']:.3f} {_fmt_ci(c['candidate']['ci95'])} | "
            f"{c['baseline']['accuracy']:.3f} {_fmt_ci(c['baseline']['ci95'])} | "
            f"{c['difference']:+.3f} {_fmt_ci(c['difference_ci95'], True)} | {c['mcnemar_p']:.3g} | "
            f"{'blessed' if c.get('blessed') else 'not blessed'} | {entry['seconds'] / 60:.1f} |")

    def mean_std(stats, signed=False):
        mean = f"{stats['mean']:+.3f}" if signed else f"{stats['mean']:.3f}"
        return mean + ("" if stats["std"] is None else f" ± {stats['std']:.3f}")

    p = summary["p_value"]
    lines += ["", f"- learnable resizer: {mean_std(summary['candidate'])} (mean ± std over seeds)",
              f"- bilinear baseline: {mean_std(summary['baseline'])}",
              f"- paired difference: {mean_std(summary['difference'], True)}; resizer better on "
              f"{summary['wins']} of {len(summary['seeds'])} seeds, worse on {summary['losses']}",
              f"- {summary['test']}: p = {'n/a' if p is None else f'{p:.3g}'}", "",
              f"![per-seed accuracy and differences]({contract.SWEEP_PLOT_FILE})", ""]
    return "\n".join(lines)


def run_sweep(config: PipelineConfig, seeds: Sequence[int], run_pipeline, reporter) -> dict:
    """Runs the comparison for every seed; ``run_pipeline(pipeline)`` runs one TFX pipeline.

    ``reporter`` (a :class:`pipeline.progress.ProgressReporter`) gets a prefix naming the seed.
    """
    from components.report_plots import sweep_plot
    from pipeline.pipeline import create_pipeline, data_note
    from tfx.orchestration import metadata

    per_seed = []
    for index, seed in enumerate(seeds):
        seed_config = config.replace(training=config.training.replace(seed=seed))
        report_dir = seed_report_dir(config, seed)
        reporter.prefix = f"seed {seed} ({index + 1}/{len(seeds)}) "
        pipeline = create_pipeline(
            seed_config, push=False, report_dir=report_dir,
            metadata_connection_config=metadata.sqlite_metadata_connection_config(config.metadata_path))
        start = time.perf_counter()
        run_pipeline(pipeline)
        seconds = time.perf_counter() - start
        with open(os.path.join(report_dir, contract.REPORT_SUMMARY_FILE)) as f:
            report = json.load(f)
        per_seed.append({"seed": seed, "seconds": seconds, "report_dir": report_dir,
                         "comparison": report["comparison"]})
    reporter.prefix = ""
    summary = sweep_summary(seeds, per_seed, config.evaluation.significance_level)
    summary["data_note"] = data_note(config)
    os.makedirs(config.report_dir, exist_ok=True)
    with open(os.path.join(config.report_dir, contract.SWEEP_SUMMARY_FILE), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(config.report_dir, contract.SWEEP_MARKDOWN_FILE), "w") as f:
        f.write(sweep_markdown(summary, summary["data_note"]))
    with open(os.path.join(config.report_dir, contract.SWEEP_PLOT_FILE), "wb") as f:
        f.write(sweep_plot(list(seeds), [entry["comparison"] for entry in per_seed]))
    return summary
