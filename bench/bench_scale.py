#!/usr/bin/env python
"""The mission's scale: the full profile on a cats_vs_dogs-sized image folder; writes bench/results/scale.json.

    python bench/bench_scale.py [--images 23262] [--bad-fraction 0.018] [--folder DIR] [--root DIR]
                                [--label in_process] [-- FIELD OPTIONS ... [-- BEAM_ARGS ...]]

1. Generates (or reuses, when ``--folder`` already holds them) ``--images`` JPEGs in two class folders, of
   cats_vs_dogs-like sizes (sides 150-500 px, about 38 KB each at JPEG quality 85: smooth content with
   grain), and among them ``--bad-fraction`` bad files (empty, text, truncated JPEG in turn), which the
   ExampleGen must report one by one.
2. Measures this machine's JPEG decode limit on a sample of those files, on every core: Pillow (a process
   per core) and TensorFlow (``tf.io.decode_jpeg`` in a parallel ``tf.data`` map); the anchor for the
   ingestion's and DecodeImages' rates.
3. Runs ``pipeline_runner.py run --profile full`` on the folder with a small backbone and bounded training
   (``BOUNDED`` below; options after ``--`` replace them, a second ``--`` passes Beam arguments, e.g.
   ``--direct_running_mode=in_memory`` for DirectRunner in-process) and samples its whole process tree every
   0.25 s (psutil). Per component, from its progress lines: wall seconds, CPU seconds, peak resident memory
   of the tree and its private part (less file-backed pages: a memory-mapped image cache the kernel can
   drop), images handled and images/s; each Trainer's phase seconds from its training summary.

Heavy (15-30 minutes on 2 cores): run it alone. Each run is kept in the results file under ``--label``.
"""

import argparse
import io
import json
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.process_tree import tree_cpu_seconds, tree_private_bytes, tree_rss
from bench.results_file import cpu, host, write_result
from trainer import contract
from trainer.contract import INGEST_REPORT_FILE, TRAINING_SUMMARY_FILE

RESULTS = os.path.join(ROOT, "bench", "results", "scale.json")
CLASS_NAMES = ("cat", "dog")
BAD_KINDS = ("empty", "text", "truncated")
BOUNDED = ["--training.backbone", "small_convnet", "--training.epochs", "1", "--training.steps_per_epoch", "5",
           "--data.split_buckets", '{"train": 8, "validation": 1, "test": 1}', "--servability.num_images", "2"]
STARTED = re.compile(r"\] ▶ (\S+) \.\.\.")
FINISHED = re.compile(r"\] ✓ (\S+) ([\d.]+) s")


def _write_image(job):
    """One file of the folder: a JPEG of random size, or a bad file of the given kind."""
    from PIL import Image

    path, index, kind = job
    rng = np.random.default_rng(index)
    height, width = int(rng.integers(150, 501)), int(rng.integers(200, 501))
    small = rng.integers(0, 256, size=(max(height // 16, 2), max(width // 16, 2), 3), dtype=np.uint8)
    pixels = np.asarray(Image.fromarray(small).resize((width, height), Image.BILINEAR), np.float32)
    pixels += rng.normal(0, 7, (height, width, 1))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=85)
    data = buffer.getvalue()
    if kind == "empty":
        data = b""
    elif kind == "text":
        data = b"not an image\n"
    elif kind == "truncated":
        data = data[:len(data) // 3]
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def make_folder(folder: str, count: int, bad_fraction: float) -> dict:
    """``count`` files in ``folder/<class>/``: JPEGs, every ``1 / bad_fraction``-th one a bad file."""
    every = max(1, round(1 / bad_fraction)) if bad_fraction else 0
    jobs, bad = [], 0
    for name in CLASS_NAMES:
        os.makedirs(os.path.join(folder, name), exist_ok=True)
    for i in range(count):
        kind = ""
        if every and i % every == every - 1:
            kind, bad = BAD_KINDS[bad % len(BAD_KINDS)], bad + 1
        jobs.append((os.path.join(folder, CLASS_NAMES[i % 2], f"{i:05d}.jpg"), i, kind))
    started = time.perf_counter()
    with multiprocessing.Pool(os.cpu_count()) as pool:
        sizes = pool.map(_write_image, jobs, chunksize=64)
    good = [size for size, (_, _, kind) in zip(sizes, jobs) if not kind]
    return {"files": count, "bad_files": bad, "mean_jpeg_bytes": float(np.mean(good)),
            "bytes": int(sum(sizes)), "generate_seconds": time.perf_counter() - started}


def list_jpegs(folder: str, limit: int) -> list[str]:
    """Up to ``limit`` files of ``folder`` that decode (the bad ones left out), spread over both classes."""
    from PIL import Image

    files = sorted(os.path.join(folder, name, f) for name in CLASS_NAMES
                   for f in os.listdir(os.path.join(folder, name)))
    chosen = []
    for path in files[::max(1, len(files) // (limit * 2))]:
        try:
            with Image.open(path) as image:
                image.load()
            chosen.append(path)
        except Exception:  # noqa: BLE001 (a bad file: not part of the decode limit)
            continue
        if len(chosen) == limit:
            break
    return chosen


def _pillow_decode(path):
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB").size[0]


def decode_limit(files: list[str]) -> dict:
    """Images/s decoding ``files`` on every core: Pillow (a process per core) and TensorFlow (parallel map)."""
    import tensorflow as tf

    cores = os.cpu_count()
    with multiprocessing.Pool(cores) as pool:
        pool.map(_pillow_decode, files[:cores * 4])  # workers started and warm
        started = time.perf_counter()
        pool.map(_pillow_decode, files, chunksize=16)
        pillow = len(files) / (time.perf_counter() - started)
    contents = [open(path, "rb").read() for path in files]
    dataset = (tf.data.Dataset.from_tensor_slices(contents)
               .map(lambda b: tf.shape(tf.io.decode_jpeg(b, channels=3))[0], num_parallel_calls=tf.data.AUTOTUNE))
    for _ in dataset.take(cores * 4):
        pass
    started = time.perf_counter()
    for _ in dataset:
        pass
    tensorflow = len(files) / (time.perf_counter() - started)
    return {"sample": len(files), "cores": cores, "pillow_images_per_second": pillow,
            "tensorflow_images_per_second": tensorflow, "limit_images_per_second": max(pillow, tensorflow)}


def measure(command: list[str]) -> dict:
    """Runs ``command``; per component (from its progress lines) wall, CPU seconds, peak and final tree memory.

    A component's final memory (``end_rss_bytes``, ``end_private_bytes``) is the last sample before its finish
    line: up to one sampling period (0.25 s) old.
    """
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    parent = psutil.Process(proc.pid)
    state = {"running": {}, "peak": 0, "peak_private": 0, "last_rss": 0, "last_private": 0, "components": {},
             "cpu": 0.0}
    lock = threading.Lock()

    def sample():
        while proc.poll() is None:
            rss, private, seconds = tree_rss(parent), tree_private_bytes(parent), tree_cpu_seconds(parent)
            with lock:
                state["last_rss"], state["last_private"] = rss, private
                state["peak"] = max(state["peak"], rss)
                state["peak_private"] = max(state["peak_private"], private)
                state["cpu"] = max(state["cpu"], seconds)
                for entry in state["running"].values():
                    entry["peak_rss_bytes"] = max(entry["peak_rss_bytes"], rss)
                    entry["peak_private_bytes"] = max(entry["peak_private_bytes"], private)
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    tail = []
    for line in proc.stdout:
        sys.stdout.write(line)
        tail = (tail + [line])[-40:]
        with lock:
            if match := STARTED.search(line):
                # A component shorter than the sampling period gets the last sample before it.
                state["running"][match.group(1)] = {"peak_rss_bytes": state["last_rss"],
                                                    "peak_private_bytes": state["last_private"],
                                                    "cpu_at_start": state["cpu"]}
            elif (match := FINISHED.search(line)) and match.group(1) in state["running"]:
                entry = state["running"].pop(match.group(1))
                state["cpu"] = max(state["cpu"], tree_cpu_seconds(parent))
                state["components"][match.group(1)] = {
                    "wall_seconds": float(match.group(2)), "cpu_seconds": state["cpu"] - entry.pop("cpu_at_start"),
                    "peak_rss_bytes": entry["peak_rss_bytes"], "peak_private_bytes": entry["peak_private_bytes"],
                    # What the component left resident for the ones after it (the last sample before its end).
                    "end_rss_bytes": state["last_rss"], "end_private_bytes": state["last_private"],
                    "from_cache": "(from cache)" in line}
    proc.wait()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"the pipeline failed (exit status {proc.returncode}):\n{''.join(tail)}")
    return {"seconds": time.perf_counter() - started, "peak_rss_bytes": state["peak"],
            "peak_private_bytes": state["peak_private"], "components": state["components"]}


def images_handled(pipeline_root: str) -> dict[str, int]:
    """Images each component read, from the run's own artifacts: files in, records per split."""
    import glob

    report_path = sorted(glob.glob(os.path.join(pipeline_root, contract.IMAGE_FOLDER_EXAMPLE_GEN_ID, "examples", "*",
                                                INGEST_REPORT_FILE)))[-1]
    with open(report_path) as f:
        splits = json.load(f)["splits"]
    return {"files_in": sum(split["files_in"] for split in splits.values()),
            "skipped": sum(split["skipped"] for split in splits.values()),
            **{f"records_{name}": split["records_out"] for name, split in splits.items()}}


def trainer_phases(pipeline_root: str) -> dict[str, dict[str, float]]:
    """Each Trainer's phase seconds (decode or read the decoded images, build, fit, export...) from its summary."""
    import glob

    phases = {}
    for path in sorted(glob.glob(os.path.join(pipeline_root, contract.trainer_id("*"), "model_run", "*",
                                              TRAINING_SUMMARY_FILE))):
        with open(path) as f:
            phases[path.split(os.sep)[-4]] = json.load(f)["phase_seconds"]
    return phases


def per_component_rates(components: dict, counts: dict) -> None:
    """Adds ``images`` and ``images_per_second`` where the images a component handles are known."""
    train, validation, test = (counts.get(f"records_{s}", 0)
                               for s in (contract.TRAIN_SPLIT, contract.VALIDATION_SPLIT, contract.TEST_SPLIT))
    handled = {contract.IMAGE_FOLDER_EXAMPLE_GEN_ID: counts.get("files_in", 0),
               contract.STATISTICS_GEN_ID: train + validation + test, contract.DECODE_IMAGES_ID: train + validation,
               contract.EVALUATOR_ID: test, contract.PAIRED_COMPARISON_ID: test}
    for name, entry in components.items():
        images = handled.get(name)
        if images:
            entry["images"] = images
            entry["images_per_second"] = images / entry["wall_seconds"] if entry["wall_seconds"] else None


def main():
    argv = sys.argv[1:]
    fields, beam = [], []
    if "--" in argv:
        rest = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
        fields = rest[:rest.index("--")] if "--" in rest else rest
        beam = rest[rest.index("--") + 1:] if "--" in rest else []
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=23262)
    parser.add_argument("--bad-fraction", type=float, default=0.018)
    parser.add_argument("--folder", default="/tmp/bench_scale/images", help="the image folder (kept, reused)")
    parser.add_argument("--root", default="/tmp/bench_scale/run", help="the run's output dir (emptied first)")
    parser.add_argument("--decode-sample", type=int, default=2000)
    parser.add_argument("--label", default="in_process")
    parser.add_argument("--output", default=RESULTS)
    args = parser.parse_args(argv)

    marker = args.folder.rstrip("/") + ".json"  # beside the folder: a file inside would be ingested
    if os.path.exists(marker):
        with open(marker) as f:
            folder = json.load(f)
        if folder["files"] != args.images:
            raise SystemExit(f"{args.folder} holds {folder['files']} files, not {args.images}: give another --folder")
    else:
        folder = make_folder(args.folder, args.images, args.bad_fraction)
        with open(marker, "w") as f:
            json.dump(folder, f)
    print(f"folder: {folder['files']} files ({folder['bad_files']} bad), mean JPEG {folder['mean_jpeg_bytes']:,.0f} "
          f"bytes, {folder['bytes'] / 1e9:.2f} GB")
    limit = decode_limit(list_jpegs(args.folder, args.decode_sample))
    print(f"decode limit on {limit['cores']} cores ({limit['sample']} files): Pillow "
          f"{limit['pillow_images_per_second']:.0f} images/s, TensorFlow {limit['tensorflow_images_per_second']:.0f}")

    subprocess.run(["rm", "-rf", args.root], check=True)
    command = [sys.executable, os.path.join(ROOT, "pipeline_runner.py"), "run", "--profile", "full",
               "--output-dir", args.root, "--data.source", "image_folder", "--data.image_dir", args.folder,
               *(fields or BOUNDED), *(["--", *beam] if beam else [])]
    figures = measure(command)
    counts = images_handled(os.path.join(args.root, "pipeline_root"))
    phases = trainer_phases(os.path.join(args.root, "pipeline_root"))
    per_component_rates(figures["components"], counts)
    for entry in figures["components"].values():
        if entry.get("images_per_second"):
            entry["fraction_of_decode_limit"] = entry["images_per_second"] / limit["limit_images_per_second"]

    print(f"\n{args.label}: {figures['seconds']:.0f} s, peak {figures['peak_rss_bytes'] / 1e9:.2f} GB resident, "
          f"{figures['peak_private_bytes'] / 1e9:.2f} GB private (process tree)")
    print(f"  {'component':<34} {'wall s':>8} {'CPU s':>8} {'peak GB':>8} {'private':>8} {'images/s':>9} "
          f"{'of limit':>8}")
    for name, entry in figures["components"].items():
        rate = entry.get("images_per_second")
        share = entry.get("fraction_of_decode_limit")
        print(f"  {name:<34} {entry['wall_seconds']:>8.1f} {entry['cpu_seconds']:>8.1f} "
              f"{entry['peak_rss_bytes'] / 1e9:>8.2f} {entry['peak_private_bytes'] / 1e9:>8.2f} "
              f"{f'{rate:.1f}' if rate else '':>9} "
              f"{f'{share:.0%}' if share else '':>8}")
    for name, seconds in phases.items():
        print(f"  {name}: " + ", ".join(f"{phase} {value:.1f} s" for phase, value in seconds.items()))
    runs = {}
    if os.path.exists(args.output):
        with open(args.output) as f:
            runs = json.load(f).get("runs", {})
    runs[args.label] = {"command": command[1:], "folder": folder, "decode_limit": limit, "counts": counts,
                        **figures, "trainer_phase_seconds": phases}
    write_result(args.output, {"host": host(), "cpu": cpu(), "runs": runs})


if __name__ == "__main__":
    main()
