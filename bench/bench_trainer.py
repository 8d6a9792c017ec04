#!/usr/bin/env python
"""Training inside the pipeline against the models' own speed, in one run; writes bench/results/trainer.json.

    .venv/bin/python bench/bench_trainer.py [--isolated-steps 24] [-- PIPELINE_OPTIONS ...]

1. Runs the whole demo pipeline (``pipeline_runner.py run --profile demo``,
   plus any options after ``--``) in a subprocess into a fresh directory, and
   measures its wall time and the CPU time of it and its children (whole-run
   core use = CPU seconds / wall seconds; 2.0 is both cores busy).
2. Reads both Trainers' ``training_summary.json``: the in-pipeline steady rate
   is the training images per second of the epochs after the first (training
   time only, validation left out); a Trainer's one-off cost is its component
   wall time minus its steady epochs' cost times the number of epochs
   (decoding, building, tracing, export, picture: everything that does not
   repeat per epoch), with the Trainer's own phase timings beside it.
3. Measures each arm alone, in a fresh process: the same model and compile
   (``trainer.models``), the same batch size and precision, ``model.fit`` on
   in-memory 300x300 batches, steady images/s after two untimed steps.
4. Prints per arm: isolated rate, in-pipeline rate and their ratio, one-off
   cost; and the pipeline's wall time over the time the two trainings alone
   would take for the same number of images.
"""

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.isolated_training import isolated_rate
from bench.results_file import write_result
from trainer import contract

RESULTS = os.path.join(ROOT, "bench", "results", "trainer.json")


def cpu_seconds_of_children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_demo(output_dir, options):
    command = [sys.executable, os.path.join(ROOT, "pipeline_runner.py"), "run", "--profile", "demo",
               "--output-dir", output_dir, *options]
    cpu_before, start = cpu_seconds_of_children(), time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    cpu = cpu_seconds_of_children() - cpu_before
    if done.returncode:
        raise SystemExit(f"the demo pipeline failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    components = {m.group(1): float(m.group(2)) for m in re.finditer(r"✓ (\S+) ([\d.]+) s", done.stdout)}
    return {"wall_seconds": wall, "cpu_seconds": cpu, "cores_busy": cpu / wall, "component_seconds": components,
            "closing_table": done.stdout[done.stdout.find("Component wall times"):]}


def read_training_summary(output_dir, arm):
    runs = os.path.join(output_dir, "pipeline_root", contract.trainer_id(arm), "model_run")
    newest = max(os.listdir(runs), key=int)
    with open(os.path.join(runs, newest, contract.TRAINING_SUMMARY_FILE)) as f:
        return json.load(f)


def in_pipeline_figures(summary, component_seconds):
    rates = summary["train_images_per_second"]
    steady_rate = statistics.median(rates[1:]) if len(rates) > 1 else rates[0]
    steady_epoch = statistics.median(summary["epoch_seconds"][1:] or summary["epoch_seconds"])
    epochs = len(summary["epoch_seconds"])
    return {
        "steady_images_per_second": steady_rate,
        "first_epoch_seconds": summary["epoch_seconds"][0],
        "steady_epoch_seconds": steady_epoch,
        "epochs": epochs,
        "images_trained": summary["images_consumed"],
        "component_seconds": component_seconds,
        "one_off_seconds": component_seconds - epochs * steady_epoch,
        "phase_seconds": summary.get("phase_seconds", {}),
        "run_fn_seconds": summary.get("run_fn_seconds"),
    }


def determinism_cost(args):
    """Isolated rates of both arms with ``training.deterministic`` off and on, demo settings, one run."""
    from pipeline import config as config_lib

    training = config_lib.profile("demo").training.to_dict()
    results = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count()}, "arms": {}}
    for arm in config_lib.profile("demo").training.arms:
        rates = {str(flag).lower(): isolated_rate(dict(training, deterministic=flag), arm, args.isolated_steps)
                 for flag in (False, True)}
        results["arms"][arm] = {"images_per_second": rates,
                                "deterministic_over_default": rates["true"] / rates["false"]}
        print(f"{arm:>18}: {rates['false']:.2f} img/s, deterministic {rates['true']:.2f} img/s "
              f"(ratio {rates['true'] / rates['false']:.3f})", flush=True)
    path = os.path.join(os.path.dirname(args.output), "determinism.json")
    write_result(path, results)
    print(f"wrote {path}")


def main():
    argv = sys.argv[1:]
    options = []
    if "--" in argv:
        options = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--isolated-steps", type=int, default=24, help="timed steps per arm alone")
    parser.add_argument("--output", default=RESULTS)
    parser.add_argument("--determinism", action="store_true",
                        help="instead: each arm alone with training.deterministic off and on (its cost)")
    args = parser.parse_args(argv)
    if args.determinism:
        return determinism_cost(args)

    output_dir = tempfile.mkdtemp(prefix="bench_trainer_")
    print(f"demo pipeline into {output_dir} ...", flush=True)
    demo = run_demo(output_dir, options)
    from pipeline import config as config_lib

    arms = {}
    for arm in config_lib.profile("demo").training.arms:
        summary = read_training_summary(output_dir, arm)
        figures = in_pipeline_figures(summary, demo["component_seconds"][contract.trainer_id(arm)])
        figures["isolated_images_per_second"] = isolated_rate(summary["config"], arm, args.isolated_steps)
        figures["in_pipeline_over_isolated"] = (figures["steady_images_per_second"]
                                                / figures["isolated_images_per_second"])
        figures["training_alone_seconds"] = figures["images_trained"] / figures["isolated_images_per_second"]
        arms[arm] = figures
    trainings_alone = sum(a["training_alone_seconds"] for a in arms.values())
    pipeline_seconds = sum(demo["component_seconds"].values())
    results = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "pipeline_options": options,
        "demo": {k: v for k, v in demo.items() if k != "closing_table"},
        "arms": arms,
        "pipeline_component_seconds": pipeline_seconds,
        "two_trainings_alone_seconds": trainings_alone,
        "pipeline_over_trainings_alone": pipeline_seconds / trainings_alone,
    }
    for arm, a in arms.items():
        print(f"{arm:>18}: alone {a['isolated_images_per_second']:6.2f} img/s, in pipeline "
              f"{a['steady_images_per_second']:6.2f} img/s (ratio {a['in_pipeline_over_isolated']:.2f}); "
              f"one-off {a['one_off_seconds']:5.1f} s of {a['component_seconds']:.1f} s; phases "
              + ", ".join(f"{k} {v:.1f}" for k, v in a["phase_seconds"].items()), flush=True)
    print(f"pipeline: {pipeline_seconds:.0f} s of components ({demo['wall_seconds']:.0f} s process wall), "
          f"{results['pipeline_over_trainings_alone']:.2f}x the two trainings alone ({trainings_alone:.0f} s); "
          f"cores busy {demo['cores_busy']:.2f} of {os.cpu_count()}")
    print(demo["closing_table"])
    write_result(args.output, results)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
