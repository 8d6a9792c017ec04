#!/usr/bin/env python
"""Training and input-path throughput on this machine; writes bench/results/trainer.json.

Measures, on the same generated 500x375 JPEGs:
  * the Transform graph (decode + resize to 300x300) through the Trainer's
    input pipeline, images/s, against the alternative of materializing
    re-encoded 300x300 JPEGs (bytes per image, decode images/s) and float
    tensors (bytes per image);
  * training images/s of both arms at batch 16 and 64 with our Trainer code
    (``trainer.run``: tf.data + TFT layer + model.fit), and the seed example's
    own loop (its functional model, ``model.fit`` on in-memory 300x300 images);
  * optionally bf16 (mixed_bfloat16) and XLA (jit_compile) for our arms at batch 16.

    .venv/bin/python bench/bench_trainer.py [--steps 4] [--batches 16,64] [--variants]

Steady-state rates: the first ``--warmup`` steps (tracing) are not timed.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainer.environment import apply_keras_policy  # noqa: E402

apply_keras_policy()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

from components import synthetic_examples  # noqa: E402
from trainer import contract  # noqa: E402
from trainer import run as trainer_run  # noqa: E402
from trainer.config import ArmConfig, TrainingConfig  # noqa: E402


class StepTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def steady_rate(times, batch_size, warmup):
    times = times[warmup:]
    if len(times) < 2:
        return None
    return batch_size * (len(times) - 1) / (times[-1] - times[0])


def write_jpegs(directory, count, seed=0):
    """``count`` 500x375 JPEG examples in TFX layout (one gzipped TFRecord)."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "data.tfrecord.gz")
    raw = []
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i in range(count):
            image = synthetic_examples.make_image(rng, i % 2, 375, 500)
            encoded = synthetic_examples.encode(image, "jpeg")
            raw.append((encoded, i % 2))
            writer.write(synthetic_examples.image_example(encoded, i % 2, "jpeg", 375, 500).SerializeToString())
    return raw


def transform_output(root, data_dir):
    """Runs ImportExampleGen -> StatisticsGen -> SchemaGen -> Transform; returns (transform dir, examples dir)."""
    from tfx import v1 as tfx
    from tfx.orchestration import metadata

    from pipeline import config as config_lib
    from pipeline.pipeline import create_components

    config = config_lib.demo_profile(output_dir=root)
    components = create_components(config, example_gen=tfx.components.ImportExampleGen(input_base=data_dir))
    names = ["ImportExampleGen", contract.STATISTICS_GEN_ID, contract.SCHEMA_GEN_ID, contract.TRANSFORM_ID]
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="bench", pipeline_root=config.pipeline_root,
        components=[components[n] for n in names],
        metadata_connection_config=metadata.sqlite_metadata_connection_config(config.metadata_path)))

    def newest(path):
        return max((os.path.join(path, d) for d in os.listdir(path)), key=os.path.getmtime)

    return (newest(os.path.join(config.pipeline_root, contract.TRANSFORM_ID, "transform_graph")),
            newest(os.path.join(config.pipeline_root, "ImportExampleGen", "examples")))


def seed_model(arm):
    """The seed example's model code, unchanged in substance (functional resizer)."""
    keras.utils.set_random_seed(42)

    def conv_block(x, filters, kernel_size, strides, activation=layers.LeakyReLU(0.2)):
        x = layers.Conv2D(filters, kernel_size, strides, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return activation(x) if activation else x

    def res_block(x):
        inputs = x
        x = conv_block(x, 16, 3, 1)
        x = conv_block(x, 16, 3, 1, activation=None)
        return layers.Add()([inputs, x])

    def learnable_resizer():
        inputs = layers.Input(shape=[None, None, 3])
        naive = layers.Resizing(150, 150, interpolation="bilinear")(inputs)
        x = layers.LeakyReLU(0.2)(layers.Conv2D(16, 7, padding="same")(inputs))
        x = layers.BatchNormalization()(layers.LeakyReLU(0.2)(layers.Conv2D(16, 1, padding="same")(x)))
        bottleneck = layers.Resizing(150, 150, interpolation="bilinear")(x)
        x = res_block(bottleneck)
        x = layers.BatchNormalization()(layers.Conv2D(16, 3, padding="same", use_bias=False)(x))
        x = layers.Add()([bottleneck, x])
        x = layers.Conv2D(3, 7, padding="same")(x)
        return keras.Model(inputs, layers.Add()([naive, x]))

    backbone = keras.applications.DenseNet121(weights=None, include_top=True, classes=2, input_shape=(150, 150, 3))
    inputs = layers.Input((300, 300, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = learnable_resizer()(x) if arm == contract.CANDIDATE_ARM else layers.Resizing(150, 150)(x)
    model = keras.Model(inputs, backbone(x))
    model.compile(loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1), optimizer="sgd",
                  metrics=["accuracy"])
    return model


def bench_seed_loop(raw, arm, batch_size, steps, warmup):
    images = np.stack([tf.image.resize(tf.io.decode_jpeg(b), (300, 300)).numpy() for b, _ in raw])
    labels = keras.ops.one_hot(np.array([label for _, label in raw]), 2)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(batch_size).prefetch(2)
    model = seed_model(arm)
    timer = StepTimer()
    model.fit(dataset, epochs=1, steps_per_epoch=warmup + steps, callbacks=[timer], verbose=0)
    return steady_rate(timer.times, batch_size, warmup)


def bench_ours(files, tft_output, arm, batch_size, steps, warmup, **config_changes):
    config = ArmConfig(arm=arm, batch_size=batch_size, steps_per_epoch=warmup + steps, epochs=1,
                            shuffle_buffer=256, **config_changes)
    strategy, precision = trainer_run.select_hardware(config.precision)
    model, _ = trainer_run.build_and_compile(config, strategy)
    dataset = trainer_run.make_dataset(files, tft_output, config, training=True)
    timer = StepTimer()
    model.fit(dataset, epochs=1, steps_per_epoch=config.steps_per_epoch, callbacks=[timer], verbose=0)
    keras.mixed_precision.set_global_policy("float32")
    return steady_rate(timer.times, batch_size, warmup)


def bench_input(files, tft_output, batch_size=16, batches=12):
    config = TrainingConfig(batch_size=batch_size, steps_per_epoch=1, shuffle_buffer=256)
    dataset = trainer_run.make_dataset(files, tft_output, config, training=True)
    iterator = iter(dataset)
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batch_size * batches / (time.perf_counter() - start)


def bench_materialized(raw, batches=12, batch_size=16):
    """The alternative: Transform writes re-encoded 300x300 JPEGs; the Trainer only decodes them."""
    reencoded = [tf.io.encode_jpeg(tf.cast(tf.image.resize(tf.io.decode_jpeg(b), (300, 300)), tf.uint8),
                                   quality=95).numpy() for b, _ in raw]
    dataset = (tf.data.Dataset.from_tensor_slices(reencoded).repeat().batch(batch_size)
               .map(lambda b: tf.map_fn(lambda x: tf.cast(tf.io.decode_jpeg(x, channels=3), tf.float32), b,
                                        fn_output_signature=tf.TensorSpec((300, 300, 3), tf.float32)),
                    num_parallel_calls=tf.data.AUTOTUNE))
    iterator = iter(dataset)
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return {
        "reencoded_jpeg_bytes_per_image": float(np.mean([len(b) for b in reencoded])),
        "reencoded_decode_images_per_s": batch_size * batches / (time.perf_counter() - start),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=160)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batches", default="16,64")
    parser.add_argument("--variants", action="store_true", help="also bf16 and XLA for our arms at batch 16")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                         "results", "trainer.json"))
    args = parser.parse_args()

    import tensorflow_transform as tft

    root = tempfile.mkdtemp(prefix="bench_trainer_")
    raw = write_jpegs(os.path.join(root, "data"), args.images)
    transform_dir, examples_dir = transform_output(root, os.path.join(root, "data"))
    tft_output = tft.TFTransformOutput(transform_dir)
    files = [os.path.join(examples_dir, f"Split-{contract.TRAIN_SPLIT}", "*")]

    results = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]},
        "settings": vars(args),
        "input": {
            "raw_jpeg_bytes_per_image": float(np.mean([len(b) for b, _ in raw])),
            "float_materialized_bytes_per_image": 300 * 300 * 3 * 4,
            "transform_input_pipeline_images_per_s": bench_input(files, tft_output),
            **bench_materialized(raw),
        },
        "training_images_per_s": {},
    }
    print(json.dumps(results["input"], indent=2), flush=True)
    for batch in [int(b) for b in args.batches.split(",")]:
        for arm in contract.ARMS:
            ours = bench_ours(files, tft_output, arm, batch, args.steps, args.warmup)
            seed = bench_seed_loop(raw, arm, batch, args.steps, args.warmup)
            row = {"ours": ours, "seed_loop": seed, "ratio": ours / seed if ours and seed else None}
            results["training_images_per_s"][f"{arm}@{batch}"] = row
            print(f"{arm:>18} batch {batch:>3}: ours {ours:6.2f} img/s, seed loop {seed:6.2f} img/s", flush=True)
    if args.variants:
        for name, changes in (("mixed_bfloat16", dict(precision="mixed_bfloat16")),
                              ("xla", dict(jit_compile=True))):
            for arm in contract.ARMS:
                rate = bench_ours(files, tft_output, arm, 16, args.steps, args.warmup, **changes)
                results["training_images_per_s"][f"{arm}@16+{name}"] = {"ours": rate}
                print(f"{arm:>18} batch  16 {name}: {rate:6.2f} img/s", flush=True)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
