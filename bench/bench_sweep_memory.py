#!/usr/bin/env python
"""Memory of ``pipeline_runner.py sweep`` seed by seed; writes bench/results/sweep_memory.json.

    python bench/bench_sweep_memory.py [--seeds 0,1,2] [--root DIR] [--checkout DIR] [-- FIELD OPTIONS ...]

Runs the sweep command of ``--checkout`` (default: this one; give another clone to measure another version)
on the tiny settings below, unless options after ``--`` replace them, and samples the resident memory of
its whole process tree (the command and every process it starts) every 0.25 s with psutil.  Per seed (from
the seed's first progress line to the next seed's): the tree's peak, and its resident memory when the seed
ends.  A sweep whose memory stays flat has about the same peak for every seed.  Each run is kept in the
results file under ``--label``, beside those of other labels (e.g. the version before a change).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.process_tree import tree_rss
from bench.results_file import cpu, host, write_result

RESULTS = os.path.join(ROOT, "bench", "results", "sweep_memory.json")
TINY = ["--training.backbone", "small_convnet", "--training.image_size", "64,64", "--training.target_size",
        "32,32", "--data.demo_images_per_class", "12", "--evaluation.accuracy_margin", "-1",
        "--evaluation.significance", "0", "--data.max_bad_fraction", "0.5"]
SEED_LINE = re.compile(r"\] seed (\d+) \(\d+/\d+\) ")


def measure(command: list[str], cwd: str) -> dict:
    """Runs ``command``; per seed, the process tree's peak and final resident memory; the whole run's peak."""
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    state = {"seed": None, "peak": 0, "seeds": {}, "last": 0}

    def sample():
        while proc.poll() is None:
            rss = tree_rss(parent)
            state["peak"] = max(state["peak"], rss)
            state["last"] = rss
            if state["seed"] is not None:
                entry = state["seeds"][state["seed"]]
                entry["peak_bytes"] = max(entry["peak_bytes"], rss)
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    for line in proc.stdout:
        sys.stdout.write(line)
        match = SEED_LINE.search(line)
        if match and match.group(1) != state["seed"]:
            if state["seed"] is not None:
                state["seeds"][state["seed"]]["end_bytes"] = state["last"]
            state["seed"] = match.group(1)
            state["seeds"][state["seed"]] = {"peak_bytes": state["last"], "end_bytes": None}
    proc.wait()
    sampler.join()
    if state["seed"] is not None:
        state["seeds"][state["seed"]]["end_bytes"] = state["last"]
    if proc.returncode != 0:
        raise SystemExit(f"the sweep failed (exit status {proc.returncode})")
    return {"seconds": time.perf_counter() - start, "peak_bytes": state["peak"], "per_seed": state["seeds"]}


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--root", default="/tmp/bench_sweep_memory", help="the sweep's output dir (emptied first)")
    parser.add_argument("--checkout", default=ROOT, help="the project checkout whose pipeline_runner.py runs")
    parser.add_argument("--label", default="this checkout")
    parser.add_argument("--output", default=RESULTS)
    args = parser.parse_args(argv)
    subprocess.run(["rm", "-rf", args.root], check=True)
    command = [sys.executable, os.path.join(args.checkout, "pipeline_runner.py"), "sweep", "--seeds", args.seeds,
               "--output-dir", args.root, *(extra or TINY)]
    figures = measure(command, args.checkout)
    print(f"\n{args.label}: whole sweep peak {figures['peak_bytes'] / 1e9:.2f} GB in {figures['seconds']:.0f} s")
    for seed, entry in figures["per_seed"].items():
        print(f"  seed {seed}: peak {entry['peak_bytes'] / 1e9:.2f} GB, at its end {entry['end_bytes'] / 1e9:.2f} GB")
    # One file for the versions compared: each run is kept under its label.
    runs = {}
    if os.path.exists(args.output):
        with open(args.output) as f:
            runs = json.load(f).get("runs", {})
    runs[args.label] = {"command": command[1:], "checkout": args.checkout, **figures}
    write_result(args.output, {"host": host(), "cpu": cpu(), "runs": runs})


if __name__ == "__main__":
    main()
