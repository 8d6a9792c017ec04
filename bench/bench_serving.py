#!/usr/bin/env python
"""Serving latency of every arm's ``serving_default``: what each resizing stage costs at inference.

    .venv/bin/python bench/bench_serving.py             # 300x300 -> 150x150, batch 1 and 8
    .venv/bin/python bench/bench_serving.py --tiny      # seconds, small_convnet: keeps this script working

1. Exports the arms (``--arms``; default the baseline and the default
   candidates), untrained, with the project's own code: the Transform
   graph of ``preprocessing_fn`` (``trainer.transform_graph``), the classifier
   of ``trainer.models.build_classifier`` (float32) and the SavedModel of
   ``trainer.export.export_serving_model``, in the Pusher's layout.  Untrained
   weights cost the same as trained ones.
2. Loads each SavedModel with ``tf.saved_model.load`` and calls its
   ``serving_default`` signature on photo-like JPEG bytes (500x375 by
   default, ``bench_gpu.synthetic_jpegs``), at each batch size: ``--warmup``
   untimed calls, then ``--calls`` timed calls.  The arms alternate call by
   call, the order rotated every round (``serving/latency.py``, as the
   pipeline's comparison measures it), so machine noise hits all alike.
   Each round also times the ``transform_images`` signature (decode + resize
   to ``image_size``, the Transform graph alone; the same graph in every arm).
3. Prints per arm and batch size: median and p90 latency, images/s, and each
   arm's ratio of the median latency to the baseline's; writes
   ``bench/results/serving.json``.

In-process calls of the signatures, as TF Serving runs them, without its
request handling (protobuf/JSON, gRPC/HTTP).  Heavy: run it alone on the machine.
"""

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.bench_gpu import synthetic_jpegs
from bench.results_file import write_result
from serving.latency import cpu_description, interleaved_times, latency_figures
from trainer import contract

DEFAULT_ARMS = (contract.DEFAULT_BASELINE, *contract.DEFAULT_CANDIDATES)

RESULTS = os.path.join(ROOT, "bench", "results", "serving.json")
SEED_SETTINGS = dict(backbone="densenet121", image_size=300, target_size=150, source_size=(375, 500),
                     batch_sizes=(1, 8), calls=(100, 40), warmup=3)
# The tiny mode keeps the script working: a backbone exported in seconds (trainer/backbones.py:small_convnet).
TINY_SETTINGS = dict(backbone="small_convnet", image_size=64, target_size=32, source_size=(60, 80),
                     batch_sizes=(1, 8), calls=(3, 2), warmup=1)
CLASS_NAMES = ("class_0", "class_1")
VERSION = "1"  # the Pusher's <serving>/<model name>/<version>/ layout


def progress(text):
    print(text, flush=True)


def export_arms(work_dir, backbone, image_size, target_size, arms=DEFAULT_ARMS):
    """The arms' serving SavedModels -> ({arm: export_dir}, {arm: facts of the export})."""
    import tensorflow_transform as tft

    from trainer import backbones, models
    from trainer.config import TrainingConfig
    from trainer.export import export_serving_model
    from trainer.transform_graph import write_transform_graph

    training = TrainingConfig(backbone=backbone, image_size=image_size, target_size=target_size,
                              class_names=CLASS_NAMES,
                              precision="float32")
    start = time.perf_counter()
    graph = write_transform_graph(os.path.join(work_dir, "transform_graph"), training, os.path.join(work_dir, "tmp"))
    progress(f"Transform graph written in {time.perf_counter() - start:.1f} s")
    transform_output = tft.TFTransformOutput(graph)
    export_dirs, facts = {}, {}
    for arm in arms:
        config = training.for_arm(arm)
        start = time.perf_counter()
        model = models.build_classifier(config, backbones.build_backbone(config))
        export_dirs[arm] = os.path.join(work_dir, "serving", arm, VERSION)
        export_serving_model(model, transform_output, config.class_names, export_dirs[arm])
        facts[arm] = {"parameters": int(model.count_params()), "export_seconds": time.perf_counter() - start}
        progress(f"exported {arm}: {facts[arm]['parameters']:,} parameters, {facts[arm]['export_seconds']:.1f} s")
        del model
    return export_dirs, facts


def time_batch_size(signatures, jpegs, batch_size, calls, warmup):
    """Interleaved timing of every arm's serving and transform signatures at one batch size.

    ``signatures``: {arm: {signature name: concrete function}}.  Returns
    {arm: {signature name: figures, "first_call_ms": ...}}.
    """
    import tensorflow as tf

    batches = [tf.constant([jpegs[(start + i) % len(jpegs)] for i in range(batch_size)], dtype=tf.string)
               for start in range(0, len(jpegs), batch_size)]
    outputs = {contract.SERVING_DEFAULT_SIGNATURE: contract.PROBABILITIES_OUTPUT,
               contract.TRANSFORM_IMAGES_SIGNATURE: contract.TRANSFORMED_IMAGE_KEY}
    arms = list(signatures)
    names = [name for name in outputs if all(name in signatures[arm] for arm in arms)]
    state = {"calls": 0}

    def call(arm, name):
        def run():
            batch = batches[(state["calls"] // (len(arms) * len(names))) % len(batches)]
            state["calls"] += 1
            signatures[arm][name](**{contract.IMAGE_BYTES_INPUT: batch})[outputs[name]].numpy()
        return run

    times, first = interleaved_times({(arm, name): call(arm, name) for arm in arms for name in names}, calls, warmup)
    progress(f"  batch {batch_size}: {warmup} warm-up and {calls} timed calls per arm and signature")
    return {arm: {**{name: latency_figures(times[(arm, name)], batch_size) for name in names},
                  "first_call_ms": first[(arm, contract.SERVING_DEFAULT_SIGNATURE)]} for arm in arms}


def ratios(by_arm, baseline):
    """Each arm over the baseline: median and p90 latency, and the arm's extra milliseconds."""
    serving = contract.SERVING_DEFAULT_SIGNATURE
    base = by_arm[baseline][serving]
    return {arm: {"median_over_baseline": figures[serving]["median_ms"] / base["median_ms"],
                  "p90_over_baseline": figures[serving]["p90_ms"] / base["p90_ms"],
                  "extra_ms_median": figures[serving]["median_ms"] - base["median_ms"]}
            for arm, figures in by_arm.items()}


def table(results):
    serving, transform = contract.SERVING_DEFAULT_SIGNATURE, contract.TRANSFORM_IMAGES_SIGNATURE
    lines = [f"{'arm':>20} {'batch':>5} {'median ms':>10} {'p90 ms':>9} {'images/s':>9} {'transform ms':>13} "
             f"{'x baseline':>10}"]
    for batch_size in results["settings"]["batch_sizes"]:
        key = str(batch_size)
        for arm in results["settings"]["arms"]:
            arm_figures = results["arms"][arm][key]
            served = arm_figures[serving]
            transform_ms = arm_figures[transform]["median_ms"] if transform in arm_figures else float("nan")
            ratio = results["ratios"][key][arm]["median_over_baseline"]
            lines.append(f"{arm:>20} {batch_size:>5} {served['median_ms']:>10.1f} {served['p90_ms']:>9.1f} "
                         f"{served['images_per_second']:>9.1f} {transform_ms:>13.1f} {ratio:>10.2f}")
    return "\n".join(lines)


def parse_size(text):
    """``500x375`` (width x height) -> (height, width)."""
    width, height = (int(v) for v in text.lower().split("x"))
    return height, width


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="64 -> 32 px from 80x60 JPEGs, 3 and 2 calls: a check that the script works")
    parser.add_argument("--image-size", type=int, help="side Transform resizes to (default 300; tiny 64)")
    parser.add_argument("--target-size", type=int, help="side the backbone sees (default 150; tiny 32)")
    parser.add_argument("--source-size", help="JPEG size, WIDTHxHEIGHT (default 500x375; tiny 80x60)")
    parser.add_argument("--batch-sizes", help="comma-separated (default 1,8)")
    parser.add_argument("--calls", help="timed calls per arm at each batch size, comma-separated (default 100,40)")
    parser.add_argument("--warmup", type=int, help="untimed calls per arm first (default 3; tiny 1)")
    parser.add_argument("--arms", default=",".join(DEFAULT_ARMS),
                        help="comma-separated arms, the baseline first (default: %(default)s)")
    parser.add_argument("--output", default=RESULTS)
    parser.add_argument("--keep", help="directory for the exports, kept afterwards (default: a removed temp dir)")
    args = parser.parse_args(argv)

    settings = dict(TINY_SETTINGS if args.tiny else SEED_SETTINGS)
    if args.image_size:
        settings["image_size"] = args.image_size
    if args.target_size:
        settings["target_size"] = args.target_size
    if args.source_size:
        settings["source_size"] = parse_size(args.source_size)
    if args.batch_sizes:
        settings["batch_sizes"] = tuple(int(v) for v in args.batch_sizes.split(","))
    if args.calls:
        settings["calls"] = tuple(int(v) for v in args.calls.split(","))
    if args.warmup is not None:
        settings["warmup"] = args.warmup
    arms = tuple(a.strip() for a in args.arms.split(",") if a.strip())
    unknown = [a for a in arms if a not in contract.ALL_ARMS]
    if unknown or len(arms) < 2:
        parser.error(f"--arms: at least two of {', '.join(contract.ALL_ARMS)}, got {args.arms!r}")
    if len(settings["calls"]) != len(settings["batch_sizes"]):
        parser.error(f"--calls needs one count per batch size {settings['batch_sizes']}, got {settings['calls']}")

    import keras
    import tensorflow as tf

    started = time.perf_counter()
    work_dir = args.keep or tempfile.mkdtemp(prefix="bench_serving_")
    height, width = settings["source_size"]
    jpegs = synthetic_jpegs(2 * max(settings["batch_sizes"]), height=height, width=width)
    results = {
        "benchmark": "in-process calls of the exported serving signatures (tf.saved_model.load), every arm",
        "mode": "tiny" if args.tiny else "seed",
        "machine": {"cpu": cpu_description(), "platform": platform.platform(), "python": platform.python_version(),
                    "cpu_count": os.cpu_count(), "tensorflow": tf.__version__, "keras": keras.__version__,
                    "load_average_before": list(os.getloadavg())},
        "settings": {
            "image_size": [settings["image_size"]] * 2, "target_size": [settings["target_size"]] * 2,
            "source_size": [height, width], "jpeg_bytes_mean": sum(map(len, jpegs)) / len(jpegs),
            "distinct_images": len(jpegs), "batch_sizes": list(settings["batch_sizes"]), "arms": list(arms),
            "baseline": arms[0],
            "calls": list(settings["calls"]), "warmup": settings["warmup"], "precision": "float32",
            "weights": "untrained", "order": "arms alternate call by call, order rotated every round",
        },
        "exports": {},
        "arms": {arm: {} for arm in arms},
        "ratios": {},
    }
    progress(f"bench_serving: {results['mode']} settings, {settings['image_size']} -> {settings['target_size']} px, "
             f"{width}x{height} JPEGs, batch sizes {settings['batch_sizes']}, calls {settings['calls']}, "
             f"{os.cpu_count()} CPU cores; exports in {work_dir}")
    export_dirs, results["exports"] = export_arms(work_dir, settings["backbone"], settings["image_size"],
                                                 settings["target_size"], arms)
    keras.backend.clear_session()

    loaded, signatures = {}, {}  # the loaded objects stay referenced: they own the variables
    for arm, export_dir in export_dirs.items():
        start = time.perf_counter()
        loaded[arm] = tf.saved_model.load(export_dir)
        results["exports"][arm]["load_seconds"] = time.perf_counter() - start
        names = [contract.SERVING_DEFAULT_SIGNATURE, contract.TRANSFORM_IMAGES_SIGNATURE]
        signatures[arm] = {name: loaded[arm].signatures[name] for name in names if name in loaded[arm].signatures}
        progress(f"loaded {arm} in {results['exports'][arm]['load_seconds']:.1f} s")

    for batch_size, calls in zip(settings["batch_sizes"], settings["calls"]):
        by_arm = time_batch_size(signatures, jpegs, batch_size, calls, settings["warmup"])
        key = str(batch_size)
        for arm in arms:
            results["arms"][arm][key] = by_arm[arm]
            served = by_arm[arm][contract.SERVING_DEFAULT_SIGNATURE]
            transform = by_arm[arm].get(contract.TRANSFORM_IMAGES_SIGNATURE)
            progress(f"  batch {batch_size} {arm:>18}: median {served['median_ms']:.1f} ms, "
                     f"p90 {served['p90_ms']:.1f} ms, {served['images_per_second']:.1f} images/s; first call "
                     f"{by_arm[arm]['first_call_ms']:.0f} ms"
                     + (f"; transform alone median {transform['median_ms']:.1f} ms" if transform else ""))
        results["ratios"][key] = ratios(by_arm, arms[0])
        for arm in arms[1:]:
            ratio = results["ratios"][key][arm]
            progress(f"  batch {batch_size}: {arm}/{arms[0]} median latency {ratio['median_over_baseline']:.2f}x "
                     f"({ratio['extra_ms_median']:+.1f} ms)")

    results["machine"]["load_average_after"] = list(os.getloadavg())
    results["total_seconds"] = time.perf_counter() - started
    write_result(args.output, results)
    progress(table(results))
    progress(f"wrote {args.output} ({results['total_seconds']:.0f} s)")
    if not args.keep:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
