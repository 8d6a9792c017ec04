#!/usr/bin/env python
"""The Trainer's optimizers against Keras' own, per arm, in one run; writes bench/results/optimizers.json.

    .venv/bin/python bench/bench_optimizers.py [--steps 8] [--arms a,b] [--tiny]

Each arm of the demo profile (its backbone, sizes, batch size, optimizer and learning rate) trains alone in a
fresh process (``bench/isolated_training.py``: the Trainer's model and compile, random images in memory, 2
untimed steps then ``--steps`` timed ones), once with the Trainer's optimizer (``trainer/optimizers.py``: each
weight's update in one TensorFlow op) and once with Keras' own of the same settings, the two runs of an arm
back to back.  Prints and writes per arm and optimizer: the first step (tracing, Grappler, the step), the
median timed step, images/s and peak resident memory, and the Trainer's optimizer against Keras' as ratios.
"""

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.isolated_training import isolated_training
from bench.results_file import cpu, host, write_result

RESULTS = os.path.join(ROOT, "bench", "results", "optimizers.json")
DEFAULT_STEPS, TINY_STEPS = 8, 2
TINY_TRAINING = dict(backbone="small_convnet", image_size=(64, 64), target_size=(32, 32), batch_size=4)
OPTIMIZERS = ("keras", "trainer")


def compare(training, arms, steps) -> dict:
    """{arm: {"keras": figures, "trainer": figures, "first_step_ratio": float, "step_ratio": float}}.

    Ratios are the Trainer's optimizer's seconds over Keras' (below 1: faster).
    """
    results = {}
    for arm in arms:
        runs = {}
        for optimizer in OPTIMIZERS:
            print(f"{arm}: {optimizer} optimizer, {steps} timed steps ...", flush=True)
            measured = isolated_training(training.to_dict(), arm, steps, optimizer=optimizer)
            measured["median_step_seconds"] = statistics.median(measured["step_seconds"])
            runs[optimizer] = measured
        runs["first_step_ratio"] = runs["trainer"]["first_step_seconds"] / runs["keras"]["first_step_seconds"]
        runs["step_ratio"] = runs["trainer"]["median_step_seconds"] / runs["keras"]["median_step_seconds"]
        results[arm] = runs
    return results


def print_table(results) -> None:
    print(f"\n{'arm':20} {'optimizer':10} {'first step s':>12} {'step s (median)':>16} {'img/s':>7} "
          f"{'peak RSS GB':>11}")
    for arm, runs in results["arms"].items():
        for optimizer in OPTIMIZERS:
            r = runs[optimizer]
            print(f"{arm:20} {r['optimizer']:10} {r['first_step_seconds']:12.1f} {r['median_step_seconds']:16.3f} "
                  f"{r['images_per_second']:7.2f} {r['peak_rss_bytes'] / 1e9:11.2f}")
        print(f"{'':20} {'ratio':10} {runs['first_step_ratio']:12.2f} {runs['step_ratio']:16.2f}")
    print(f"\nCPU: {results['cpu']['model']} ({', '.join(results['cpu']['vector'])}), "
          f"{results['host']['cpu_count']} cores; load average {results['load_average_before']:.2f} before")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, help=f"timed steps per run (default {DEFAULT_STEPS}; --tiny: "
                                                  f"{TINY_STEPS})")
    parser.add_argument("--arms", help="comma-separated arms (default: the demo profile's training.arms)")
    parser.add_argument("--tiny", action="store_true", help="small_convnet, 64x64 -> 32x32, batch 4")
    parser.add_argument("--output", default=RESULTS)
    args = parser.parse_args(argv)

    from pipeline import config as config_lib

    training = config_lib.profile("demo").training
    if args.tiny:
        training = training.replace(**TINY_TRAINING)
    arms = tuple(a.strip() for a in args.arms.split(",") if a.strip()) if args.arms else training.arms
    unknown = [arm for arm in arms if arm not in training.arms]
    if unknown:
        parser.error(f"--arms: {', '.join(unknown)} not among the demo profile's arms ({', '.join(training.arms)})")
    steps = args.steps or (TINY_STEPS if args.tiny else DEFAULT_STEPS)
    if steps < 1:
        parser.error(f"--steps: at least 1, got {steps}")

    load_before, start = os.getloadavg()[0], time.perf_counter()
    settings = training.to_dict()
    results = {
        "mode": "tiny" if args.tiny else "demo",
        "host": host(),
        "cpu": cpu(),
        "load_average_before": load_before,
        "training": {key: settings[key] for key in
                     ("backbone", "image_size", "target_size", "batch_size", "optimizer", "learning_rate",
                      "momentum", "precision")},
        "steps": steps,
        "arms": compare(training, arms, steps),
    }
    results["seconds"] = time.perf_counter() - start
    print_table(results)
    write_result(args.output, results)
    print(f"wrote {args.output}")
    return results


if __name__ == "__main__":
    main()
