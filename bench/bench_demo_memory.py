#!/usr/bin/env python
"""Memory of the demo: its process tree per component; writes bench/results/demo_memory.json.

    python bench/bench_demo_memory.py [--root DIR] [--label NAME] [-- FIELD OPTIONS ...]

Runs ``pipeline_runner.py run --profile demo`` (what ``make run`` runs; options after ``--`` are added) in a
fresh output directory and samples its whole process tree every 0.25 s (psutil; ``bench_scale.measure``): per
component, wall seconds, CPU seconds, the tree's peak resident memory and its private part (resident less
file-backed pages), and what stays resident when the component ends, for the components after it.  The
pipeline's own screen, closing table included, passes through.  Heavy (the demo: about 10 minutes on an
AVX2-only 2-core machine): run it alone.  Each run is kept in the results file under ``--label``.
"""

import argparse
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.bench_scale import measure
from bench.results_file import cpu, host, write_result

RESULTS = os.path.join(ROOT, "bench", "results", "demo_memory.json")


def main():
    argv = sys.argv[1:]
    fields = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/tmp/bench_demo_memory", help="the run's output dir (emptied first)")
    parser.add_argument("--label", default="demo")
    parser.add_argument("--output", default=RESULTS)
    args = parser.parse_args(argv)

    shutil.rmtree(args.root, ignore_errors=True)
    command = [sys.executable, os.path.join(ROOT, "pipeline_runner.py"), "run", "--profile", "demo",
               "--output-dir", args.root, *fields]
    figures = measure(command)
    print(f"\n{args.label}: {figures['seconds']:.0f} s, peak {figures['peak_rss_bytes'] / 1e9:.2f} GB resident, "
          f"{figures['peak_private_bytes'] / 1e9:.2f} GB private (process tree); {cpu()['model']}, "
          f"{'/'.join(cpu()['vector'])}")
    print(f"  {'component':<28} {'wall s':>7} {'CPU s':>7} {'peak GB':>8} {'private':>8} {'at end GB':>10}")
    for name, entry in figures["components"].items():
        print(f"  {name:<28} {entry['wall_seconds']:>7.1f} {entry['cpu_seconds']:>7.1f} "
              f"{entry['peak_rss_bytes'] / 1e9:>8.2f} {entry['peak_private_bytes'] / 1e9:>8.2f} "
              f"{entry['end_rss_bytes'] / 1e9:>10.2f}")
    runs = {}
    if os.path.exists(args.output):
        with open(args.output) as f:
            runs = json.load(f).get("runs", {})
    runs[args.label] = {"command": command[1:], **figures}
    write_result(args.output, {"host": host(), "cpu": cpu(), "runs": runs})


if __name__ == "__main__":
    main()
