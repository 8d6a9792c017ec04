#!/usr/bin/env python
"""GPU check: the seed's configuration on an accelerator, both arms, float32 and mixed_float16.

For a machine with a GPU, in well under 8 minutes:

    python bench/bench_gpu.py                       # seed config: 300 -> 150, batch 64, DenseNet-121
    python bench/bench_gpu.py --backend jax         # Keras 3 on JAX (a GPU machine without TensorFlow)
    python bench/bench_gpu.py --tiny                # a CPU, small_convnet, 20 steps: keeps this script working

For each (arm, precision) a fresh child process builds the classifier with the
Trainer's own code (``trainer.models.build_classifier`` and
``compile_classifier``), trains ``--warmup`` untimed steps (tracing/compiling),
then ``--steps`` timed steps on device-resident batches, waiting for every
step's loss, so the figures are the model's own speed, not the input path's.
Reported per variant: images/s, step time (mean, median, p90), compile/warm-up
time, each warm-up step's seconds (the first traces and compiles; the later
ones show the step's own speed) and peak accelerator memory (peak bytes in
use by the framework's allocator; a fresh process per variant keeps each peak
its own).  A variant prints progress after every warm-up step and every 10 s
of timed steps; one that runs past ``--variant-timeout`` is reported with its
last progress lines, so the phase that ran out is named.

The input path is measured on its own with every CPU core: synthetic
500x375 JPEGs (a typical cats_vs_dogs photo size) decoded and resized to
300x300.  With TensorFlow present it is the Trainer's own Transform graph
code (``trainer.image_decoding.decode_and_resize``) in a parallel tf.data
pipeline; without TensorFlow it is Pillow in a process pool (reported as such).

Results: one JSON file (default ``bench/results/gpu.json``).
"""

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.results_file import write_result
from trainer.contract import BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM

ARMS = (LEARNABLE_RESIZER_ARM, BILINEAR_BASELINE_ARM)  # the learnable resizer's cost against the seed's baseline
SEED_SETTINGS = dict(backbone="densenet121", image_size=300, target_size=150, batch_size=64)
# The tiny mode keeps the script working: a backbone traced in seconds (trainer/backbones.py:small_convnet).
TINY_SETTINGS = dict(backbone="small_convnet", image_size=64, target_size=32, batch_size=4)
SEED_STEPS, SEED_STEPS_WARMUP = 200, 10
# Fewer steps in the tiny mode: on a CPU a mixed_float16 step is 10-20x a float32 one (TensorFlow's float16
# convolution gradients have no fast CPU kernels; docs/trainer.md), and 200 of them outran --variant-timeout.
TINY_STEPS, TINY_STEPS_WARMUP = 20, 2


def _backend_available(name):
    import importlib.util

    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[name]
    return importlib.util.find_spec(module) is not None


def choose_backend(requested):
    """``auto``: TensorFlow (what the pipeline trains with) when installed, else JAX, else PyTorch."""
    if requested != "auto":
        return requested
    for name in ("tensorflow", "jax", "torch"):
        if _backend_available(name):
            return name
    raise SystemExit("bench_gpu: none of tensorflow, jax, torch is installed")


# --- one variant, in a child process ---------------------------------------------------------

def _accelerator(backend):
    """(name of the accelerator or None, function returning peak bytes in use or None)."""
    if backend == "jax":
        import jax

        devices = [d for d in jax.local_devices() if d.platform != "cpu"]
        if not devices:
            return None, lambda: None

        def peak():
            stats = devices[0].memory_stats() or {}
            return stats.get("peak_bytes_in_use")

        return getattr(devices[0], "device_kind", str(devices[0])), peak
    if backend == "torch":
        import torch

        if not torch.cuda.is_available():
            return None, lambda: None
        return torch.cuda.get_device_name(0), lambda: int(torch.cuda.max_memory_allocated(0))
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None, lambda: None
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    details = tf.config.experimental.get_device_details(gpus[0])
    return details.get("device_name", gpus[0].name), lambda: int(
        tf.config.experimental.get_memory_info("GPU:0")["peak"])


def run_variant(arm, precision, backend, settings, steps, warmup, jit_compile):
    """Trains one arm at one precision; returns a dict of figures (runs in a fresh process)."""
    os.environ["KERAS_BACKEND"] = backend
    import keras  # before anything imports the trainer package, so the backend above holds
    import numpy as np

    from trainer import backbones, models
    from trainer.config import TrainingConfig

    def progress(text):
        # Read back by the parent when a variant times out: where did the time go?
        print(f"PROGRESS {time.perf_counter() - started:7.1f} s {text}", flush=True)

    started = time.perf_counter()
    accelerator, peak_bytes = _accelerator(backend)
    progress(f"backend {backend} ready on {accelerator or 'CPU'}")
    size, target, batch = settings["image_size"], settings["target_size"], settings["batch_size"]
    config = TrainingConfig(backbone=settings["backbone"], image_size=size, target_size=target, batch_size=batch,
                            precision=precision, jit_compile=jit_compile).for_arm(arm)
    keras.mixed_precision.set_global_policy(precision)
    build_start = time.perf_counter()
    model = models.compile_classifier(models.build_classifier(config, backbones.build_backbone(config)), config)
    build_seconds = time.perf_counter() - build_start
    progress(f"built and compiled in {build_seconds:.1f} s")

    rng = np.random.default_rng(0)
    batches = []
    for _ in range(4):  # distinct batches, resident on the device: no host transfer per step
        images = rng.uniform(0, 255, size=(batch, size, size, 3)).astype("float32")
        labels = np.eye(config.num_classes, dtype="float32")[rng.integers(0, config.num_classes, batch)]
        batches.append((keras.ops.convert_to_tensor(images), keras.ops.convert_to_tensor(labels)))

    def step(i):
        images, labels = batches[i % len(batches)]
        loss = model.train_on_batch(images, labels, return_dict=True)["loss"]
        return float(loss)  # waits for the step to finish

    warm_start = time.perf_counter()
    warmup_times = []
    for i in range(warmup):
        start = time.perf_counter()
        step(i)
        warmup_times.append(time.perf_counter() - start)
        progress(f"warm-up step {i + 1}/{warmup} done in {warmup_times[-1]:.2f} s")
    warmup_seconds = time.perf_counter() - warm_start
    times, losses = [], []
    reported = time.perf_counter()
    for i in range(steps):
        start = time.perf_counter()
        losses.append(step(i))
        times.append(time.perf_counter() - start)
        if time.perf_counter() - reported > 10 or i + 1 == steps:  # a timeout then says which phase ran out
            reported = time.perf_counter()
            progress(f"timed step {i + 1}/{steps} done, {1000 * statistics.mean(times):.0f} ms per step so far")
    total = sum(times)
    ordered = sorted(times)
    return {
        "arm": arm,
        "precision": precision,
        "backend": backend,
        "keras": keras.__version__,
        "accelerator": accelerator,
        "jit_compile": jit_compile,
        "batch_size": batch,
        "image_size": size,
        "target_size": target,
        "parameters": int(model.count_params()),
        "build_seconds": build_seconds,
        "warmup_steps": warmup,
        "warmup_seconds": warmup_seconds,
        # The first step traces (and with XLA compiles); a slow step after it is the kernels' speed, not tracing.
        "warmup_step_seconds": warmup_times,
        "timed_steps": steps,
        "images_per_second": batch * steps / total if total else None,
        "step_ms_mean": 1000 * total / steps if steps else None,
        "step_ms_median": 1000 * statistics.median(times) if times else None,
        "step_ms_p90": 1000 * ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] if times else None,
        "peak_memory_bytes": peak_bytes(),
        "loss_first_last": [losses[0], losses[-1]] if losses else None,
        "loss_finite": bool(losses) and all(np.isfinite(losses)),
    }


# --- the input path ------------------------------------------------------------------------

def synthetic_jpegs(count, height=375, width=500, seed=0):
    """``count`` photo-like JPEGs (q90): a smooth random colour field plus pixel noise (also bench_serving's)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        base = rng.uniform(40, 215, size=(6, 8, 3)).astype("uint8")
        image = np.asarray(Image.fromarray(base).resize((width, height), Image.BICUBIC), dtype="float32")
        image += rng.normal(0, 12, size=image.shape)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(image, 0, 255).astype("uint8")).save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def _pil_decode_resize(args):
    data, size = args
    import numpy as np
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB").resize((size, size), Image.BILINEAR)
    return np.asarray(image).shape


def bench_input_path(images, size, batch_size, rounds=3):
    """Images/s of decode + resize to ``size`` with every CPU core."""
    jpegs = synthetic_jpegs(images)
    cores = os.cpu_count()
    if _backend_available("tensorflow"):
        import tensorflow as tf

        from trainer.image_decoding import decode_and_resize

        dataset = (tf.data.Dataset.from_tensor_slices(jpegs).batch(batch_size)
                   .map(lambda b: decode_and_resize(b, (size, size)), num_parallel_calls=tf.data.AUTOTUNE)
                   .prefetch(tf.data.AUTOTUNE))
        for _ in dataset.take(1):
            pass
        rates = []
        for _ in range(rounds):
            start = time.perf_counter()
            count = sum(int(b.shape[0]) for b in dataset)
            rates.append(count / (time.perf_counter() - start))
        method = "tf.data + trainer.image_decoding.decode_and_resize, AUTOTUNE parallel map"
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(cores) as pool:
            list(pool.map(_pil_decode_resize, [(j, size) for j in jpegs[:cores]]))
            rates = []
            for _ in range(rounds):
                start = time.perf_counter()
                list(pool.map(_pil_decode_resize, [(j, size) for j in jpegs], chunksize=8))
                rates.append(len(jpegs) / (time.perf_counter() - start))
        method = f"Pillow decode + bilinear resize in {cores} processes (TensorFlow not installed)"
    return {
        "method": method,
        "cpu_cores": cores,
        "images": len(jpegs),
        "source_size": [375, 500],
        "jpeg_bytes_mean": sum(len(j) for j in jpegs) / len(jpegs),
        "images_per_second": max(rates),
        "images_per_second_rounds": rates,
    }


# --- driver -----------------------------------------------------------------------------------

def _child(args):
    settings = TINY_SETTINGS if args.tiny else dict(SEED_SETTINGS, batch_size=args.batch_size)
    result = run_variant(args.child_arm, args.child_precision, args.backend, settings,
                         args.steps, args.warmup, args.jit_compile)
    print("RESULT " + json.dumps(result), flush=True)


def _run_child(arm, precision, backend, args, timeout):
    command = [sys.executable, os.path.abspath(__file__), "--child-arm", arm, "--child-precision", precision,
               "--backend", backend, "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--batch-size", str(args.batch_size)]
    if args.tiny:
        command.append("--tiny")
    if args.jit_compile:
        command.append("--jit-compile")
    env = dict(os.environ, KERAS_BACKEND=backend)
    if backend == "jax":
        # Allocate on demand, so the allocator's peak is what the variant used.
        env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout.decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
        return {"arm": arm, "precision": precision, "error": f"timed out after {timeout} s",
                "log_tail": [line for line in output.splitlines() if line.startswith("PROGRESS")][-8:]}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            result["process_seconds"] = time.perf_counter() - start
            return result
    tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
    return {"arm": arm, "precision": precision, "error": f"exit {done.returncode}", "log_tail": tail}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="auto", choices=("auto", "tensorflow", "jax", "torch"),
                        help="Keras 3 backend (auto: tensorflow if installed, else jax, else torch)")
    parser.add_argument("--steps", type=int, help=f"timed steps per variant (default {SEED_STEPS}; "
                                                   f"{TINY_STEPS} with --tiny)")
    parser.add_argument("--warmup", type=int, help=f"untimed steps first: tracing, compiling (default "
                                                    f"{SEED_STEPS_WARMUP}; {TINY_STEPS_WARMUP} with --tiny)")
    parser.add_argument("--batch-size", type=int, default=SEED_SETTINGS["batch_size"])
    parser.add_argument("--precisions", default="float32,mixed_float16")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--jit-compile", action="store_true",
                        help="XLA for the TensorFlow backend (JAX always compiles with XLA)")
    parser.add_argument("--input-images", type=int, default=512, help="JPEGs for the input-path figure")
    parser.add_argument("--variant-timeout", type=int, default=240, help="seconds before a variant is abandoned")
    parser.add_argument("--tiny", action="store_true",
                        help="64 -> 32 px, batch 4: a CPU check that the script works, not a measurement")
    parser.add_argument("--output", default=os.path.join(ROOT, "bench", "results", "gpu.json"))
    parser.add_argument("--child-arm", help=argparse.SUPPRESS)
    parser.add_argument("--child-precision", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = TINY_STEPS if args.tiny else SEED_STEPS
    if args.warmup is None:
        args.warmup = TINY_STEPS_WARMUP if args.tiny else SEED_STEPS_WARMUP
    if args.child_arm:
        return _child(args)

    backend = choose_backend(args.backend)
    if args.jit_compile is False and backend == "jax":
        args.jit_compile = True  # Keras on JAX without jit runs op by op
    if args.tiny:
        args.batch_size = TINY_SETTINGS["batch_size"]
    started = time.perf_counter()
    settings = TINY_SETTINGS if args.tiny else dict(SEED_SETTINGS, batch_size=args.batch_size)
    results = {
        "mode": "tiny" if args.tiny else "seed",
        "settings": dict(settings, steps=args.steps, warmup=args.warmup, backend=backend,
                         jit_compile=args.jit_compile),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpu_cores": os.cpu_count()},
        "variants": [],
    }

    def write():
        results["total_seconds"] = time.perf_counter() - started
        write_result(args.output, results)

    print(f"bench_gpu: backend {backend}, {results['mode']} settings {settings}", flush=True)
    results["input_path"] = bench_input_path(32 if args.tiny else args.input_images, settings["image_size"],
                                             settings["batch_size"])
    print(f"  input path: {results['input_path']['images_per_second']:.0f} img/s "
          f"({results['input_path']['method']})", flush=True)
    write()
    for precision in args.precisions.split(","):
        for arm in args.arms.split(","):
            result = _run_child(arm, precision, backend, args, args.variant_timeout)
            results["variants"].append(result)
            write()  # after every variant: a run cut short keeps what it measured
            if "error" in result:
                print(f"  {arm:>18} {precision:>14}: FAILED {result['error']}", flush=True)
                for line in result.get("log_tail", []):
                    print(f"      {line}", flush=True)
                continue
            peak = result["peak_memory_bytes"]
            print(f"  {arm:>18} {precision:>14}: {result['images_per_second']:8.1f} img/s, "
                  f"step {result['step_ms_mean']:.1f} ms (p90 {result['step_ms_p90']:.1f}), "
                  f"warm-up {result['warmup_seconds']:.1f} s, "
                  f"peak {'n/a' if peak is None else f'{peak / 2**30:.2f} GiB'}, "
                  f"on {result['accelerator'] or 'CPU'}", flush=True)
    ok = {(r["arm"], r["precision"]): r for r in results["variants"] if "error" not in r}
    ratios = {}
    for precision in args.precisions.split(","):
        learnable, bilinear = ok.get((ARMS[0], precision)), ok.get((ARMS[1], precision))
        if learnable and bilinear:
            ratios[precision] = bilinear["images_per_second"] / learnable["images_per_second"]
    results["bilinear_over_learnable_speed"] = ratios
    write()
    print(f"wrote {args.output} ({results['total_seconds']:.0f} s)", flush=True)
    return 0 if len(ok) == len(results["variants"]) else 1


if __name__ == "__main__":
    sys.exit(main())
