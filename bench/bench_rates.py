#!/usr/bin/env python
"""Training rates as a fraction of this machine's FP32 compute ceiling; writes bench/results/rates.json.

    python bench/bench_rates.py [--steps 24] [--arms bilinear_baseline,muller] [--sizes 1024,2048,3072,4096]
    python bench/bench_rates.py --tiny     # small_convnet, 64x64 -> 32x32, batch 4, 2 steps: about 80 s on 2 cores

1. The ceiling: TensorFlow's float32 matmul of square matrices of each ``--sizes`` on every core (inside a
   ``tf.function``, one untimed run, then ``--runs`` timed ones; 2 n^3 FLOPs each).  The best size's best run is
   the ceiling; every size's best and median are kept.
2. Per arm of the demo profile (its backbone, image and target size, batch size and precision): the classifier
   built and compiled as the Trainer builds it (``trainer.models``), its training step's FLOPs counted from the
   graph (``trainer.cost.training_step_flops``: the forward pass with the loss, and forward + gradients, at the
   training batch size; backward ops the profiler has no count for are counted as their forward op), and the
   forward pass x 3 beside it (the usual estimate of a step).
3. Per arm, in a fresh process: its steady training rate on random images in memory (``model.fit``, the
   Trainer's compile, 2 untimed then ``--steps`` timed steps; ``bench/isolated_training.py``, as
   ``bench_trainer.py`` measures it).
4. Achieved GFLOP/s = counted training FLOPs per image x images/s, and its fraction of the ceiling; each
   candidate's time per step over the baseline's beside their ratio of FLOPs per step.
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

RESULTS = os.path.join(ROOT, "bench", "results", "rates.json")
DEFAULT_SIZES = (1024, 2048, 3072, 4096)
DEFAULT_STEPS = 24
MATMUL_RUNS = 5
# The tiny mode keeps the script working in seconds (trainer/backbones.py:small_convnet); not a result.
TINY_TRAINING = dict(backbone="small_convnet", image_size=(64, 64), target_size=(32, 32), batch_size=4)
TINY_SIZES = (256, 512)
TINY_STEPS = 2
FLOP_CONVENTION = (
    "TensorFlow's profiler (tf.compat.v1.profiler float_operation): a multiply-add is 2 FLOPs; convolution "
    "backprops each cost the forward convolution's FLOPs; resize kernels and the backward ops TensorFlow has no "
    "count for are counted as their forward op (trainer/cost.py); elementwise activations (Relu, LeakyRelu, Tanh "
    "and their gradients) are not counted; the optimizer's update is left out; only the ops that run are counted "
    "(training_step_whole_graph adds the unused gradients TensorFlow prunes, such as the first convolution's "
    "backprop to the images)")


def matmul_ceiling(sizes, runs=MATMUL_RUNS) -> dict:
    """TensorFlow's float32 matmul rate on every core, for square matrices of each size.

    Args:
        sizes: matrix sides n (each run multiplies two n x n float32 matrices: 2 n^3 FLOPs).
        runs: timed runs per size, after one untimed run (tracing, first allocations).

    Returns:
        ``{"method": str, "runs": int, "sizes": {str(n): {"seconds_best", "seconds_median", "gflops_best",
        "gflops_median"}}, "best_size": int, "gflops": float}``: GFLOP/s = 2 n^3 / seconds / 1e9; ``gflops`` is
        the best size's best run.
    """
    import tensorflow as tf

    # Summed inside the function, so the timed call waits for the product (n^2 adds, negligible beside 2 n^3).
    product = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    figures = {}
    for n in sizes:
        a = tf.random.stateless_uniform((n, n), seed=(1, n))
        b = tf.random.stateless_uniform((n, n), seed=(2, n))
        product(a, b).numpy()
        seconds = []
        for _ in range(runs):
            start = time.perf_counter()
            product(a, b).numpy()
            seconds.append(time.perf_counter() - start)
        flops = 2 * n ** 3
        figures[str(n)] = {"seconds_best": min(seconds), "seconds_median": statistics.median(seconds),
                           "gflops_best": flops / min(seconds) / 1e9,
                           "gflops_median": flops / statistics.median(seconds) / 1e9}
    best = max(figures, key=lambda n: figures[n]["gflops_best"])
    return {"method": "tf.matmul of two n x n float32 matrices in a tf.function, every core", "runs": runs,
            "sizes": figures, "best_size": int(best), "gflops": figures[best]["gflops_best"]}


def arm_flops(training, arm: str) -> dict:
    """An arm's counted FLOPs per image: its training step, the forward pass, and inference.

    Args:
        training: the ``TrainingConfig`` the arm is built from.
        arm: the arm.

    Returns:
        Per image (the batch's count over ``batch_size``): ``training_step`` (forward + loss + gradients),
        ``forward`` (training mode, with the loss), ``forward_x3``, ``training_step_whole_graph`` (the
        profiler's total of the step graph, with the gradients TensorFlow prunes unrun), ``backward``, ``added``
        (backward ops counted by ``trainer/cost.py``, not by TensorFlow), ``inference`` (batch 1, inference
        mode); also
        ``parameters`` and ``uncounted`` (the step graph's op types without a count that output the most
        values, with their values per image).
    """
    import keras

    from trainer import backbones, cost, models

    config = training.for_arm(arm)
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("float32" if config.precision == "auto" else config.precision)
    model = models.compile_classifier(models.build_classifier(config, backbones.build_backbone(config)), config)
    step = cost.training_step_flops(model, config.batch_size)
    per_image = {k: step[k] / config.batch_size for k in ("step", "forward", "backward", "added")}
    uncounted = step["step_by_op_type"]["uncounted"]
    return {
        "parameters": int(model.count_params()),
        "training_step": per_image["step"],
        "forward": per_image["forward"],
        "forward_x3": 3 * per_image["forward"],
        "training_step_whole_graph": step["step_whole_graph"] / config.batch_size,
        "backward": per_image["backward"],
        "added": per_image["added"],
        "inference": cost.count_flops(model, (1, *config.image_size, 3)),
        "step_over_forward": step["step"] / step["forward"],
        "uncounted": {op: {"nodes": v["nodes"], "values_per_image": v["output_elements"] / config.batch_size}
                      for op, v in list(uncounted.items())[:8]},
    }


def rates(training, arms, steps, ceiling_gflops) -> dict:
    """Each arm's FLOPs (here) and steady training rate (a fresh process each), against the ceiling."""
    results = {}
    for arm in arms:
        flops = arm_flops(training, arm)
        print(f"{arm}: {flops['training_step'] / 1e9:.3f} GFLOPs per image per training step "
              f"({flops['step_over_forward']:.2f}x the forward pass); timing {steps} steps ...", flush=True)
        measured = isolated_training(training.to_dict(), arm, steps)
        images_per_second = measured["images_per_second"]
        achieved = flops["training_step"] * images_per_second / 1e9
        achieved_x3 = flops["forward_x3"] * images_per_second / 1e9
        results[arm] = {
            "flops_per_image": flops,
            "images_per_second": images_per_second,
            "step_seconds": training.batch_size / images_per_second,
            "step_seconds_median": statistics.median(measured["step_seconds"]),
            "timed_steps": len(measured["step_seconds"]),
            "first_step_seconds": measured["first_step_seconds"],
            "peak_rss_gb": measured["peak_rss_bytes"] / 1e9,
            "achieved_gflops": achieved,
            "fraction_of_ceiling": achieved / ceiling_gflops,
            "achieved_gflops_forward_x3": achieved_x3,
            "fraction_of_ceiling_forward_x3": achieved_x3 / ceiling_gflops,
        }
        print(f"{arm}: {images_per_second:.2f} img/s, {achieved:.1f} GFLOP/s, "
              f"{achieved / ceiling_gflops:.1%} of the ceiling", flush=True)
    return results


def versus_baseline(arms: dict, baseline: str) -> dict:
    """Each other arm's time per step over the baseline's, beside their ratio of counted FLOPs per step."""
    if baseline not in arms:
        return {}
    base = arms[baseline]
    return {arm: {"step_time_ratio": a["step_seconds"] / base["step_seconds"],
                  "training_flops_ratio": (a["flops_per_image"]["training_step"]
                                           / base["flops_per_image"]["training_step"])}
            for arm, a in arms.items() if arm != baseline}


def print_table(results):
    ceiling = results["ceiling"]
    print(f"\nFP32 matmul ceiling ({results['cpu']['model']}, {results['host']['cpu_count']} cores, "
          f"{'/'.join(results['cpu']['vector'])}): {ceiling['gflops']:.1f} GFLOP/s at n={ceiling['best_size']}")
    for n, f in ceiling["sizes"].items():
        print(f"  n={n:>5}: best {f['gflops_best']:7.1f}  median {f['gflops_median']:7.1f} GFLOP/s")
    print(f"TensorFlow's CPU kernels: {results['cpu_kernels']}")
    print(f"\n{'arm':>18} {'step GFLOP/img':>14} {'fwd x3':>8} {'img/s':>7} {'step s':>7} "
          f"{'GFLOP/s':>8} {'of ceiling':>10} {'(fwd x3)':>9} {'first s':>8} {'peak GB':>8}")
    for arm, a in results["arms"].items():
        f = a["flops_per_image"]
        print(f"{arm:>18} {f['training_step'] / 1e9:14.3f} {f['forward_x3'] / 1e9:8.3f} "
              f"{a['images_per_second']:7.2f} {a['step_seconds']:7.3f} {a['achieved_gflops']:8.1f} "
              f"{a['fraction_of_ceiling']:10.1%} {a['fraction_of_ceiling_forward_x3']:9.1%} "
              f"{a['first_step_seconds']:8.1f} {a['peak_rss_gb']:8.2f}")
    for arm, v in results["versus_baseline"].items():
        print(f"{arm} over {results['settings']['baseline']}: {v['step_time_ratio']:.2f}x the time per step, "
              f"{v['training_flops_ratio']:.2f}x the FLOPs")


def parse_list(text, kind):
    return tuple(kind(item) for item in text.split(",") if item.strip())


def cpu_kernels() -> str:
    """``oneDNN`` or ``Eigen``: TensorFlow's CPU kernels in this process (``TF_ENABLE_ONEDNN_OPTS``)."""
    from tensorflow.python.util import _pywrap_util_port  # no public API says whether oneDNN is on

    return "oneDNN" if _pywrap_util_port.IsMklEnabled() else "Eigen"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, help=f"timed training steps per arm (default {DEFAULT_STEPS}; "
                                                  f"--tiny: {TINY_STEPS})")
    parser.add_argument("--arms", help="comma-separated arms (default: the demo profile's training.arms)")
    parser.add_argument("--sizes", help="comma-separated matmul sizes (default "
                                        f"{','.join(map(str, DEFAULT_SIZES))}; --tiny: "
                                        f"{','.join(map(str, TINY_SIZES))})")
    parser.add_argument("--tiny", action="store_true", help="small_convnet, 64x64 -> 32x32, batch 4, 2 steps")
    parser.add_argument("--output", default=RESULTS)
    args = parser.parse_args(argv)

    from trainer.environment import apply_keras_policy

    apply_keras_policy()
    from pipeline import config as config_lib

    training = config_lib.profile("demo").training
    if args.tiny:
        training = training.replace(**TINY_TRAINING)
    arms = parse_list(args.arms, str) if args.arms else training.arms
    unknown = [arm for arm in arms if arm not in training.arms]
    if unknown:
        parser.error(f"--arms: {', '.join(unknown)} not among the demo profile's arms ({', '.join(training.arms)})")
    sizes = parse_list(args.sizes, int) if args.sizes else (TINY_SIZES if args.tiny else DEFAULT_SIZES)
    if not sizes or min(sizes) < 1:
        parser.error(f"--sizes: positive matrix sides, got {args.sizes!r}")
    steps = args.steps or (TINY_STEPS if args.tiny else DEFAULT_STEPS)
    if steps < 1:
        parser.error(f"--steps: at least 1, got {steps}")

    import keras
    import tensorflow as tf

    load_before = os.getloadavg()[0]
    print(f"FP32 matmul ceiling, sizes {', '.join(map(str, sizes))} ...", flush=True)
    ceiling = matmul_ceiling(sizes)
    arms_results = rates(training, arms, steps, ceiling["gflops"])
    results = {
        "mode": "tiny" if args.tiny else "demo",
        "host": host(),
        "cpu": cpu(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "cpu_kernels": cpu_kernels(),
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "settings": {"backbone": training.backbone, "image_size": list(training.image_size),
                     "target_size": list(training.target_size), "batch_size": training.batch_size,
                     "precision": training.precision, "baseline": training.baseline, "warmup_steps": 2,
                     "timed_steps": steps},
        "flop_convention": FLOP_CONVENTION,
        "ceiling": ceiling,
        "arms": arms_results,
        "versus_baseline": versus_baseline(arms_results, training.baseline),
    }
    print_table(results)
    write_result(args.output, results)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
