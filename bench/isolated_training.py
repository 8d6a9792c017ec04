"""One arm trained alone in a fresh process: the Trainer's model and compile, fixed work, its steady rate.

Shared by the benchmarks that need a model's own training speed (``bench_trainer.py``, ``bench_rates.py``).
"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Run as ``python -c ISOLATED CONFIG_JSON STEPS OPTIMIZER``: the same model and compile as the Trainer
# (``trainer.models``; with OPTIMIZER ``keras``, Keras' own optimizer of the same settings instead of the
# Trainer's ``trainer.optimizers``), the same batch size and precision, ``model.fit`` on random uint8 images
# held in memory as float32, 2 untimed steps, then STEPS timed ones.  Prints ``RATE`` (images/s over the timed steps),
# ``STEPS`` (each timed step's seconds, JSON), ``FIRST`` (the first step's seconds: tracing, graph optimization
# and the step) and ``PEAK`` (the process's own peak resident memory, bytes: ``trainer.timing``).
ISOLATED = r"""
import json, sys, time
from trainer.environment import apply_keras_policy
apply_keras_policy()
import keras, numpy as np, tensorflow as tf
from trainer import backbones, models
from trainer.config import ArmConfig
from trainer.timing import process_peak_resident_bytes
config = ArmConfig.from_dict(json.loads(sys.argv[1]))
steps, warmup = int(sys.argv[2]), 2
keras.mixed_precision.set_global_policy("float32" if config.precision == "auto" else config.precision)
if config.deterministic:
    tf.config.experimental.enable_op_determinism()
model = models.compile_classifier(models.build_classifier(config, backbones.build_backbone(config)), config)
if sys.argv[3] == "keras":  # mixed_float16: compile wraps the optimizer in a LossScaleOptimizer again
    trainers = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    keras_own = {"FusedSGD": keras.optimizers.SGD, "FusedAdam": keras.optimizers.Adam}[type(trainers).__name__]
    model.compile(optimizer=keras_own.from_config(trainers.get_config()), loss=model.loss, metrics=["accuracy"],
                  jit_compile=config.jit_compile)
print("OPTIMIZER", type(getattr(model.optimizer, "inner_optimizer", model.optimizer)).__name__)
models.create_training_variables(model, config)
rng = np.random.default_rng(0)
images = rng.integers(0, 256, size=(4 * config.batch_size, *config.image_size, 3)).astype("float32")
labels = np.eye(config.num_classes, dtype="float32")[rng.integers(0, config.num_classes, len(images))]
dataset = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(config.batch_size).prefetch(2)
class Times(keras.callbacks.Callback):
    def __init__(self): super().__init__(); self.t = []
    def on_train_batch_end(self, batch, logs=None): self.t.append(time.perf_counter())
times = Times()
start = time.perf_counter()
model.fit(dataset, epochs=1, steps_per_epoch=warmup + steps, callbacks=[times], verbose=0)
t = times.t[warmup - 1:]  # from the end of the last untimed step: the timed steps' own times
print("RATE", config.batch_size * (len(t) - 1) / (t[-1] - t[0]))
print("STEPS", json.dumps([b - a for a, b in zip(t, t[1:])]))
print("FIRST", times.t[0] - start)
print("PEAK", process_peak_resident_bytes())  # its own (ru_maxrss would keep its starter's high-water mark)
"""


def isolated_training(training: dict, arm: str, steps: int, optimizer: str = "trainer") -> dict:
    """Trains ``arm`` alone in a fresh Python process and measures its steady training rate.

    Args:
        training: the ``training`` configuration as a dict (``TrainingConfig.to_dict()``, or a Trainer's
            ``training_summary.json`` ``config``).
        arm: the arm to train.
        steps: timed steps (>= 1), after 2 untimed ones (tracing, the first step's allocations).
        optimizer: ``trainer`` (the Trainer's, :mod:`trainer.optimizers`) or ``keras`` (Keras' own SGD or Adam
            with the same settings).

    Returns:
        ``{"images_per_second": float, "step_seconds": [float] * steps, "first_step_seconds": float,
        "peak_rss_bytes": int, "optimizer": str}``: batch size x timed steps over their wall time, each timed
        step's wall seconds, the first step's (tracing, graph optimization, the step), the process's peak
        resident memory and the optimizer's class name.

    Raises:
        SystemExit: the process failed (its last output in the message).
    """
    config = dict(training, arm=arm, picture_images=0)
    if optimizer not in ("trainer", "keras"):
        raise ValueError(f"optimizer: 'trainer' or 'keras', got {optimizer!r}")
    done = subprocess.run([sys.executable, "-c", ISOLATED, json.dumps(config), str(steps), optimizer], cwd=ROOT,
                          capture_output=True, text=True)
    rate = re.search(r"^RATE ([\d.]+)", done.stdout, re.M)
    step_seconds = re.search(r"^STEPS (\[.*\])$", done.stdout, re.M)
    if done.returncode or not rate or not step_seconds:
        raise SystemExit(f"isolated run of {arm} failed:\n{done.stdout[-1000:]}\n{done.stderr[-3000:]}")
    first = re.search(r"^FIRST ([\d.]+)", done.stdout, re.M)
    peak = re.search(r"^PEAK (\d+)", done.stdout, re.M)
    used = re.search(r"^OPTIMIZER (\w+)", done.stdout, re.M)
    return {"images_per_second": float(rate.group(1)), "step_seconds": json.loads(step_seconds.group(1)),
            "first_step_seconds": float(first.group(1)), "peak_rss_bytes": int(peak.group(1)),
            "optimizer": used.group(1)}


def isolated_rate(training: dict, arm: str, steps: int) -> float:
    """:func:`isolated_training`'s images per second."""
    return isolated_training(training, arm, steps)["images_per_second"]
