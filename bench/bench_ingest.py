#!/usr/bin/env python
"""Benchmark: ImageFolderExampleGen throughput on 2,000 JPEGs of cats_vs_dogs-like sizes.

    python bench/bench_ingest.py [--images 2000] [--keep DIR] [--decode-sample 2000] [-- BEAM_ARGS]

Generates the images (cats_vs_dogs-like sizes, JPEG quality 85, two classes)
into a temporary directory, runs the ImageFolderExampleGen executor on them
with Beam's in-process DirectRunner (or the Beam arguments after ``--``, e.g.
``--direct_running_mode=multi_processing --direct_num_workers=2``), measures the machine's JPEG decode limit
on a sample of the same files on every core (``bench/bench_scale.py``'s
``decode_limit``), prints images/s and its fraction of that limit and writes
``bench/results/ingest.json``.  Heavy: run it alone on the machine.
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

from bench.results_file import cpu, host, write_result
from trainer.environment import apply_keras_policy

apply_keras_policy()


def make_images(directory, count):
    """``count`` JPEGs of cats_vs_dogs-like sizes in two class folders (``bench/bench_scale.py``'s generator)."""
    from bench.bench_scale import make_folder

    return make_folder(directory, count, bad_fraction=0.0)["bytes"]


def run(count, keep=None, decode_sample=2000, beam_args=()):
    from google.protobuf import message
    from tfx.dsl.components.base import base_beam_executor
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    from components.image_folder_example_gen import ImageFolderExampleGen
    from trainer.contract import INGEST_REPORT_FILE

    work = keep or tempfile.mkdtemp(prefix="bench_ingest_")
    images_dir = os.path.join(work, "images")
    out_dir = os.path.join(work, "examples")
    shutil.rmtree(out_dir, ignore_errors=True)
    t0 = time.time()
    if not os.path.isdir(images_dir):
        total_bytes = make_images(images_dir, count)
    else:
        total_bytes = sum(os.path.getsize(os.path.join(d, f))
                          for d, _, fs in os.walk(images_dir) for f in fs)
    gen_s = time.time() - t0

    component = ImageFolderExampleGen(input_base=images_dir)
    props = {k: proto_utils.proto_to_json(v) if isinstance(v, message.Message) else v
             for k, v in component.exec_properties.items()}
    examples = standard_artifacts.Examples()
    examples.uri = out_dir
    executor = component.executor_spec.executor_class(
        base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=list(beam_args)))
    t0 = time.time()
    executor.Do({}, {"examples": [examples]}, props)
    seconds = time.time() - t0
    with open(os.path.join(out_dir, INGEST_REPORT_FILE)) as f:
        report = json.load(f)
    from bench.bench_scale import decode_limit, list_jpegs

    limit = decode_limit(list_jpegs(images_dir, decode_sample))
    out_bytes = sum(os.path.getsize(os.path.join(d, f))
                    for d, _, fs in os.walk(out_dir) for f in fs)
    result = {
        "benchmark": "ImageFolderExampleGen executor, DirectRunner",
        "beam_args": list(beam_args),
        "images": count,
        "image_size": "150-500 x 200-500 px JPEG q85 (bench/bench_scale.py's generator)",
        "input_mb": round(total_bytes / 1e6, 1),
        "output_mb": round(out_bytes / 1e6, 1),
        "records_out": report["totals"]["records_out"],
        "seconds": round(seconds, 2),
        "images_per_s": round(count / seconds, 1),
        "decode_limit": limit,
        "fraction_of_decode_limit": round(count / seconds / limit["limit_images_per_second"], 3),
        "input_mb_per_s": round(total_bytes / 1e6 / seconds, 2),
        "generate_seconds": round(gen_s, 1),
        **host(),
        "cpu": cpu(),
    }
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--keep", help="work directory to keep (reused if it has images)")
    parser.add_argument("--decode-sample", type=int, default=2000, help="files the decode limit is measured on")
    parser.add_argument("--output", default=os.path.join(ROOT, "bench", "results", "ingest.json"))
    argv = sys.argv[1:]
    beam_args = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    result = run(args.images, args.keep, args.decode_sample, beam_args)
    write_result(args.output, result, sort_keys=True)
    print(json.dumps(result, indent=2, sort_keys=True))
    print(f"{result['images_per_s']} images/s, {result['fraction_of_decode_limit']:.0%} of the decode limit "
          f"({result['decode_limit']['limit_images_per_second']:.0f} images/s on {result['decode_limit']['cores']} "
          f"cores)")


if __name__ == "__main__":
    main()
