#!/usr/bin/env python
"""Benchmark: batch inference on Beam (``pipeline_runner.py infer``) with 1 and 2 DirectRunner workers.

    python bench/bench_infer.py [--images 300] [--small 60] [--batch-size 16] [--keep DIR]

Exports the real model size (learnable resizer + DenseNet-121, 300 -> 150,
untrained weights) with the project's Transform graph and export code,
generates photo-like 500x375 JPEGs (quality 92), then runs the whole job
(match, read, check, classify, write the CSV) with ``--direct_num_workers=1``
and with ``--direct_running_mode=multi_processing --direct_num_workers=2``,
each on all the images and on the first ``--small`` of them: the difference
is the rate once the workers are up (process start, model loading and tracing
excluded). For reference it also times the model alone on the same images
(the ``serving_default`` signature in this process, same batch size). Prints
the figures and writes ``bench/results/infer.json``. Heavy: run it alone on
the machine.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.results_file import host, write_result
from trainer.environment import apply_keras_policy

apply_keras_policy()

from serving.infer_command import DEFAULT_BATCH_SIZE

JPEG_QUALITY = 92
WORKER_SETTINGS = {
    "1 worker": ["--direct_num_workers=1"],
    "2 workers": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
}


def export_model(work, model_dir):
    """The learnable arm at the seed's sizes, untrained, as version 1 under ``model_dir`` (the Pusher's layout)."""
    import tensorflow_transform as tft

    from components.demo_data import CLASS_NAMES
    from trainer import backbones, contract, models
    from trainer.config import TrainingConfig
    from trainer.export import export_serving_model
    from trainer.transform_graph import write_transform_graph

    training = TrainingConfig(class_names=CLASS_NAMES)  # image_size 300x300, target_size 150x150, DenseNet-121
    config = training.for_arm(contract.LEARNABLE_RESIZER_ARM)
    graph = write_transform_graph(os.path.join(work, "transform_graph"), training, os.path.join(work, "tmp"))
    model = models.build_classifier(config, backbones.build_backbone(config))
    export_serving_model(model, tft.TFTransformOutput(graph), config.class_names, os.path.join(model_dir, "1"))


def make_images(directory, count, height=375, width=500, seed=0):
    """Photo-like JPEGs: a smooth random colour field plus mild noise (about 40 KB each)."""
    import numpy as np
    from PIL import Image

    os.makedirs(directory, exist_ok=True)
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        grid = Image.fromarray(rng.uniform(30, 225, size=(4, 4, 3)).astype(np.uint8), "RGB")
        pixels = np.asarray(grid.resize((width, height), Image.BICUBIC), np.float32)
        pixels += 4.0 * rng.standard_normal((height, width, 1)).astype(np.float32)
        Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)).save(
            os.path.join(directory, f"{i:05d}.jpg"), format="JPEG", quality=JPEG_QUALITY)


def model_alone(model_dir, images_dir, batch_size):
    """images/s of the signature itself on the same files (read into memory first), after one warm-up batch."""
    import tensorflow as tf

    from serving.saved_model_handler import resolve_model_dir
    from trainer import contract

    signature = tf.saved_model.load(resolve_model_dir(model_dir)).signatures[contract.SERVING_DEFAULT_SIGNATURE]
    images = []
    for name in sorted(os.listdir(images_dir)):
        with open(os.path.join(images_dir, name), "rb") as f:
            images.append(f.read())
    batches = [images[i:i + batch_size] for i in range(0, len(images), batch_size)]
    signature(**{contract.IMAGE_BYTES_INPUT: tf.constant(batches[0])})
    start = time.perf_counter()
    for batch in batches:
        signature(**{contract.IMAGE_BYTES_INPUT: tf.constant(batch)})
    return len(images) / (time.perf_counter() - start)


def run(count, small, batch_size, keep=None):
    from serving.batch_inference import run_batch_inference
    from trainer import contract

    work = keep or tempfile.mkdtemp(prefix="bench_infer_")
    images_dir = os.path.join(work, "images")
    t0 = time.perf_counter()
    model_dir = os.path.join(work, "serving", contract.SERVED_MODEL_NAME)
    if not os.path.isdir(model_dir):
        export_model(work, model_dir)
    export_s = time.perf_counter() - t0
    if not os.path.isdir(images_dir):
        make_images(images_dir, count)
    total_bytes = sum(os.path.getsize(os.path.join(images_dir, f)) for f in os.listdir(images_dir))
    # The first `small` images again: the difference of the two runs is the rate once the workers are up.
    small_dir = os.path.join(work, "images_small")
    shutil.rmtree(small_dir, ignore_errors=True)
    os.makedirs(small_dir)
    for name in sorted(os.listdir(images_dir))[:small]:
        os.link(os.path.join(images_dir, name), os.path.join(small_dir, name))
    runs = {}
    for label, beam_args in WORKER_SETTINGS.items():
        seconds = {}
        for folder, expected in ((small_dir, small), (images_dir, count)):
            start = time.perf_counter()
            summary = run_batch_inference(model_dir, folder, os.path.join(work, "out", "p.csv"), beam_args,
                                          batch_size)
            if summary.classified != expected:
                raise RuntimeError(f"{label}: classified {summary.classified} of {expected} images")
            seconds[expected] = (summary.seconds, time.perf_counter() - start)
        job, command = seconds[count]
        runs[label] = {
            "beam_args": " ".join(beam_args),
            "job_seconds": round(job, 2),
            "images_per_s": round(count / job, 2),
            # with the driver's checks and its own load of the model (for the class names)
            "command_seconds": round(command, 2),
            f"job_seconds_{small}_images": round(seconds[small][0], 2),
            "steady_images_per_s": round((count - small) / (job - seconds[small][0]), 2),
        }
        print(f"{label}: {runs[label]['images_per_s']} images/s ({count} images in {job:.1f} s); "
              f"{runs[label]['steady_images_per_s']} images/s once running", flush=True)
    alone = model_alone(model_dir, images_dir, batch_size)
    result = {
        "benchmark": "pipeline_runner.py infer on the DirectRunner: match, read, check, classify, write the CSV",
        "model": "learnable resizer + DenseNet-121, 300x300 -> 150x150, untrained weights, float32",
        "images": count,
        "image_size": "500x375 JPEG q92 (synthetic)",
        "input_mb": round(total_bytes / 1e6, 1),
        "batch_size": batch_size,
        "runs": runs,
        "model_alone_images_per_s": round(alone, 2),
        "export_seconds": round(export_s, 1),
        **host(),
    }
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--small", type=int, default=60, help="the smaller run (for the rate once running)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--keep", help="work directory to keep (its model and images are reused)")
    parser.add_argument("--output", default=os.path.join(ROOT, "bench", "results", "infer.json"))
    args = parser.parse_args()
    result = run(args.images, args.small, args.batch_size, args.keep)
    write_result(args.output, result, sort_keys=True)
    print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
