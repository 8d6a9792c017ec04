"""``pipeline_runner.py sweep``: the comparison repeated over seeds, never pushing.

Each seed runs the same pipeline without its Pusher, with ``training.seed``
set to that seed (the initial weights of every arm and their shared data
order).  Ingestion, statistics, schema and Transform do not depend on the
seed, so after the first seed they come from TFX's cache; each seed retrains
every arm and evaluates them on the same test split.  ``pipeline_runner.py
sweep`` runs each seed's pipeline in a process of its own
(:func:`pipeline.local_runners.run_in_fresh_process`), so memory does not
grow from seed to seed.  Across seeds, each
candidate's per-seed differences from the baseline get a paired t-test, and
the candidates' p-values a Holm correction.  Every seed's report
lands in ``reports/sweep/seed_<seed>/``; the sweep's own ``sweep.md``,
``sweep.json`` and ``sweep.png`` in ``reports/``.
"""

import json
import os
import time
from collections.abc import Sequence

from components.verdict import AcrossSeeds, Verdict, across_seeds
from components.verdict_text import across_seeds_table, markdown_table, seeds_table
from pipeline.config import PipelineConfig
from trainer import contract


def parse_seeds(text: str) -> list[int]:
    """The ``--seeds`` option: ``"0,1,2"`` -> [0, 1, 2]; ``"3"`` -> [0, 1, 2] (the first N seeds).

    Args:
        text: N, or a comma-separated list of distinct integers.

    Returns:
        The seeds, in order.

    Raises:
        ValueError: naming ``--seeds``, for a non-integer, N < 1, repeated seeds or an empty list.
    """
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
    """Where ``seed``'s comparison report goes: ``<report_dir>/sweep/seed_<seed>``."""
    return os.path.join(config.report_dir, "sweep", f"seed_{seed}")


def sweep_summary(seeds: Sequence[int], per_seed: Sequence[dict], significance_level: float) -> dict:
    """The machine-readable sweep, what ``sweep.json`` holds.

    Args:
        seeds: the seeds, in run order.
        per_seed: one entry per seed: ``seed``, ``seconds``, ``report_dir``, ``verdict`` (a
            :class:`components.verdict.Verdict` dict), ``data_order_sha256``.
        significance_level: of the paired t-test across seeds, Holm-adjusted across the candidates.

    Returns:
        ``seeds``, ``per_seed``, ``baseline``, ``candidates`` (per candidate across seeds: an
        :class:`components.verdict.AcrossSeeds` dict), ``significance_level``, ``test`` (the test, in words) and
        ``verdict`` (the candidates' sentences joined by `` | ``).
    """
    verdicts = [Verdict.from_dict(entry["verdict"]) for entry in per_seed]
    summaries = across_seeds(seeds, verdicts, significance_level)
    return {
        "seeds": list(seeds),
        "per_seed": list(per_seed),
        "baseline": verdicts[0].baseline,
        "candidates": {s.candidate: s.to_dict() for s in summaries},
        "significance_level": significance_level,
        "test": summaries[0].test,
        "verdict": " | ".join(s.verdict for s in summaries),
    }


def sweep_markdown(summary: dict, data_note: str = "") -> str:
    """``sweep.md``: the verdict across seeds, its table, then one row per seed and candidate.

    Args:
        summary: :func:`sweep_summary`'s result.
        data_note: shown as a warning at the top when not empty (:func:`pipeline.pipeline.data_note`).

    Returns:
        The Markdown text; it links ``sweep.png`` beside it.
    """
    seeds = summary["seeds"]
    verdicts = [Verdict.from_dict(entry["verdict"]) for entry in summary["per_seed"]]
    summaries = [AcrossSeeds.from_dict(s) for s in summary["candidates"].values()]
    names = ", ".join(verdicts[0].candidates)
    lines = [f"# Repeated seeds: {names} against {summary['baseline']}", ""]
    if data_note:
        lines += [f"> **{data_note}**", ""]
    lines += ["**Across seeds:**", ""] + [f"- {s.verdict}" for s in summaries] + ["",
              markdown_table(across_seeds_table(summaries)), "",
              f"Mean ± standard deviation over seeds; {summary['test']}.", "", "## Per seed", "",
              markdown_table(seeds_table(seeds, verdicts)), ""]
    lines += [f"- seed {entry['seed']}: {entry['seconds'] / 60:.1f} min; {Verdict.from_dict(entry['verdict']).rule}"
              for entry in summary["per_seed"]]
    lines += ["", f"![per-seed accuracy and differences]({contract.SWEEP_PLOT_FILE})", ""]
    return "\n".join(lines)


def run_sweep(config: PipelineConfig, seeds: Sequence[int], run_pipeline, reporter) -> dict:
    """Runs the comparison for every seed, without pushing, and writes the sweep's files.

    Every seed's pipeline shares ``config``'s ML Metadata, so what does not depend on the seed comes from
    TFX's cache after the first.

    Args:
        config: the configuration; ``training.seed`` is replaced by each seed.
        seeds: the seeds, in run order.
        run_pipeline: ``run_pipeline(pipeline)`` runs one TFX pipeline to its end.
        reporter: a :class:`pipeline.progress.ProgressReporter`; it gets a prefix naming the seed.

    Returns:
        :func:`sweep_summary` plus ``data_note``.  Written: each seed's report under
        ``<report_dir>/sweep/seed_<seed>/``, and ``sweep.json``, ``sweep.md`` and ``sweep.png`` in ``report_dir``.

    Raises:
        OSError: when a seed's run left no ``summary.json`` in its report dir.
    """
    from tfx.orchestration import metadata

    from components.report_plots import sweep_plot
    from pipeline.pipeline import create_pipeline, data_note

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
        per_seed.append({"seed": seed, "seconds": seconds, "report_dir": report_dir, "verdict": report["verdict"],
                         "data_order_sha256": report["comparison"]["data_order_sha256"]})
    reporter.prefix = ""
    summary = sweep_summary(seeds, per_seed, config.evaluation.significance_level)
    summary["data_note"] = data_note(config)
    os.makedirs(config.report_dir, exist_ok=True)
    with open(os.path.join(config.report_dir, contract.SWEEP_SUMMARY_FILE), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(config.report_dir, contract.SWEEP_MARKDOWN_FILE), "w") as f:
        f.write(sweep_markdown(summary, summary["data_note"]))
    with open(os.path.join(config.report_dir, contract.SWEEP_PLOT_FILE), "wb") as f:
        f.write(sweep_plot(list(seeds), [Verdict.from_dict(entry["verdict"]) for entry in per_seed]))
    return summary
