#!/usr/bin/env python
"""Benchmark: the image folder's input fingerprint, metadata only against content hash.

    python bench/bench_fingerprint.py [--files 23000] [--kb 39] [--keep DIR]

Writes ``--files`` files of about ``--kb`` KB each (random bytes, sizes
spread +-50 % around it, like cats_vs_dogs' JPEGs) into two class folders of
a temporary directory, then times, in one process, a fingerprint over
(path, size, mtime) of every file (the stat-only form) and
:func:`components.image_folder_example_gen.folder_fingerprint` (path and
SHA-256 of every file's content), each ``--repeats`` times, and writes
``bench/results/fingerprint.json``.  The files were just written, so they
are in the page cache: the figures are for a warm cache; a cold disk adds
one read of the folder at the disk's rate.
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.results_file import write_result


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo ('' when unknown)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def make_files(directory: str, count: int, kb: float, seed: int = 0) -> int:
    """Writes ``count`` files under ``directory/{cat,dog}``; returns their total bytes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    total = 0
    for name in ("cat", "dog"):
        os.makedirs(os.path.join(directory, name), exist_ok=True)
    for i in range(count):
        size = int(kb * 1024 * rng.uniform(0.5, 1.5))
        with open(os.path.join(directory, ("cat", "dog")[i % 2], f"{i:06d}.jpg"), "wb") as f:
            f.write(rng.bytes(size))
        total += size
    return total


def stat_fingerprint(input_base: str) -> str:
    """The stat-only form: SHA-256 over (path, size, mtime) of every file the scan reads."""
    from components.image_folder_example_gen import list_image_folder

    digest = hashlib.sha256()
    for rel in list_image_folder(input_base)[1]:
        stat = os.stat(os.path.join(input_base, rel))
        digest.update(f"{rel}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def timed(fn, repeats: int):
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return min(seconds), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=23000)
    parser.add_argument("--kb", type=float, default=39.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", help="work directory to keep (reused if it has files)")
    parser.add_argument("--output", default=os.path.join(ROOT, "bench", "results", "fingerprint.json"))
    args = parser.parse_args()

    from components.image_folder_example_gen import folder_fingerprint

    work = args.keep or tempfile.mkdtemp(prefix="bench_fingerprint_")
    if not os.path.isdir(os.path.join(work, "cat")):
        total = make_files(work, args.files, args.kb)
    else:
        total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(work) for f in fs)
    stat_s, stat_all = timed(lambda: stat_fingerprint(work), args.repeats)
    content_s, content_all = timed(lambda: folder_fingerprint(work), args.repeats)
    result = {
        "benchmark": "image folder input fingerprint: stat-only vs content SHA-256 (warm page cache)",
        "files": args.files,
        "mean_file_kb": round(total / args.files / 1024, 1),
        "input_mb": round(total / 1e6, 1),
        "stat_only_seconds": round(stat_s, 2),
        "content_sha256_seconds": round(content_s, 2),
        "added_seconds": round(content_s - stat_s, 2),
        "content_mb_per_s": round(total / 1e6 / content_s, 1),
        "all_runs_seconds": {"stat_only": [round(s, 2) for s in stat_all],
                             "content_sha256": [round(s, 2) for s in content_all]},
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    write_result(args.output, result, sort_keys=True)
    print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
