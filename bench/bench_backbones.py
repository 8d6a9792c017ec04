#!/usr/bin/env python
"""Every backbone in both arms: parameters and training images/s; writes bench/results/backbones.json.

For each ``training.backbone``, at the seed's settings (300 -> 150, 2
classes, 16 resizer filters, 1 residual block) unless told otherwise: the
parameters of the bilinear baseline and of the learnable resizer model, their
difference, and the training rate of both arms with the Trainer's own model
code (``build_backbone``, ``build_classifier``, ``compile_classifier``) and
``model.fit`` on in-memory images, float32.

    .venv/bin/python bench/bench_backbones.py [--batch 16] [--steps 3] [--warmup 2] [--no-speed]

Steady-state rates: the first ``--warmup`` steps (tracing) are not timed.
"""

import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.results_file import write_result
from trainer.environment import apply_keras_policy

apply_keras_policy()

import keras
import numpy as np
import tensorflow as tf

from trainer import backbones, models
from trainer.config import BACKBONE_MIN_SIZES, BACKBONES, TrainingConfig
from trainer.contract import BILINEAR_BASELINE_ARM as BASELINE_ARM
from trainer.contract import LEARNABLE_RESIZER_ARM as CANDIDATE_ARM

ARMS = (CANDIDATE_ARM, BASELINE_ARM)


class StepTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def training_rate(model, config, steps, warmup):
    """Images/s over ``steps`` timed steps after ``warmup`` untimed ones."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (2 * config.batch_size, *config.image_size, 3)).astype("float32")
    labels = keras.ops.one_hot(np.arange(len(images)) % config.num_classes, config.num_classes)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(config.batch_size).prefetch(2)
    timer = StepTimer()
    model.fit(dataset, epochs=1, steps_per_epoch=warmup + steps + 1, callbacks=[timer], verbose=0)
    times = timer.times[warmup:]
    return config.batch_size * (len(times) - 1) / (times[-1] - times[0])


def measure(backbone, args):
    row = {"min_target_size": BACKBONE_MIN_SIZES[backbone]}
    for arm in ARMS:
        config = TrainingConfig(backbone=backbone, image_size=args.image_size, target_size=args.target_size,
                                batch_size=args.batch).for_arm(arm)
        start = time.perf_counter()
        backbone_model = backbones.build_backbone(config)
        model = models.compile_classifier(models.build_classifier(config, backbone_model), config)
        row["backbone_parameters"] = int(backbone_model.count_params())
        row[f"{arm}_parameters"] = int(model.count_params())
        row[f"{arm}_build_seconds"] = time.perf_counter() - start
        if args.speed:
            row[f"{arm}_images_per_s"] = training_rate(model, config, args.steps, args.warmup)
        keras.backend.clear_session()
    row["resizer_parameters"] = row[f"{CANDIDATE_ARM}_parameters"] - row[f"{BASELINE_ARM}_parameters"]
    return row


def table(results, speed):
    head = "| backbone | min size | bilinear baseline | learnable resizer | difference |"
    rule = "|---|---|---|---|---|"
    if speed:
        head += " baseline img/s | resizer img/s |"
        rule += "---|---|"
    lines = [head, rule]
    for name, row in results.items():
        line = (f"| {name} | {row['min_target_size']} | {row[f'{BASELINE_ARM}_parameters']:,} | "
                f"{row[f'{CANDIDATE_ARM}_parameters']:,} | {row['resizer_parameters']:,} |")
        if speed:
            line += f" {row[f'{BASELINE_ARM}_images_per_s']:.2f} | {row[f'{CANDIDATE_ARM}_images_per_s']:.2f} |"
        lines.append(line)
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbones", default=",".join(BACKBONES))
    parser.add_argument("--image-size", type=int, default=300)
    parser.add_argument("--target-size", type=int, default=150)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per arm")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no-speed", dest="speed", action="store_false", help="parameters only")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                         "results", "backbones.json"))
    args = parser.parse_args()
    args.image_size = (args.image_size, args.image_size)
    args.target_size = (args.target_size, args.target_size)

    results = {}
    for name in args.backbones.split(","):
        results[name] = measure(name, args)
        print(name, json.dumps(results[name]), flush=True)
    print(table(results, args.speed))
    output = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                    "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]},
        "settings": {**vars(args), "classes": TrainingConfig().num_classes, "precision": "float32"},
        "backbones": results,
    }
    write_result(args.output, output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
