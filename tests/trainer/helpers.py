"""Helpers of the trainer tests: a real TFX run up to every arm's Trainer on a small synthetic data set."""

import glob
import json
import os

import numpy as np

from components import synthetic_examples
from trainer import contract

SMALL_TRAINING = dict(
    # The plumbing, not the model, is under test: a backbone traced in seconds (the seed's DenseNet-121 runs in
    # test_true_seed_configuration_trains_one_step).
    backbone="small_convnet",
    image_size=(64, 64),
    target_size=(32, 32),
    batch_size=4,
    epochs=1,
    class_names=synthetic_examples.CLASS_NAMES,
    batchnorm_momentum=0.5,
    picture_images=3,
    # What the reproducibility test compares against a rerun in another process.
    deterministic=True,
)


def small_config(root, training_overrides=None, overrides=None):
    """The demo profile with small training settings: what the tests' Trainers run.

    ``overrides``: further settings by dotted path ({"tuning.trials": 2}).
    """
    from pipeline import config as config_lib

    training = {f"training.{k}": v for k, v in dict(SMALL_TRAINING, **(training_overrides or {})).items()}
    return config_lib.with_overrides(config_lib.demo_profile(output_dir=root), {**training, **(overrides or {})})


def run_until_trainers(root, training_overrides=None, arms=None, count=24, overrides=None):
    """Runs the pipeline locally up to the Trainers.

    ImportExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> DataGate -> Transform -> DecodeImages ->
    [Tuner(s)] ->
    Trainer(s).
    ``arms``: whose Tuners (with ``tuning.trials`` in ``overrides``) and Trainers run (default: the
    configuration's, the baseline and the default candidates). Returns {component id: output dir}.
    """
    from tfx import v1 as tfx
    from tfx.orchestration import metadata

    from pipeline.pipeline import create_components

    data_dir = synthetic_examples.write_tfrecord_dataset(os.path.join(root, "data"), count)
    config = small_config(root, training_overrides, overrides)
    components = create_components(config, example_gen=import_example_gen(data_dir))
    # Transform waits for the DataGate, which reads the ExampleValidator's anomalies.
    wanted = ["ImportExampleGen", contract.STATISTICS_GEN_ID, contract.SCHEMA_GEN_ID, contract.EXAMPLE_VALIDATOR_ID,
              contract.DATA_GATE_ID, contract.TRANSFORM_ID, contract.DECODE_IMAGES_ID]
    if contract.WARM_START_TRAINER_ID in components:
        wanted.append(contract.WARM_START_TRAINER_ID)
    arms = config.training.arms if arms is None else arms
    wanted += [contract.tuner_id(arm) for arm in arms if contract.tuner_id(arm) in components]
    wanted += [contract.trainer_id(arm) for arm in arms]
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="trainer_test",
        pipeline_root=config.pipeline_root,
        components=[components[name] for name in wanted],
        metadata_connection_config=metadata.sqlite_metadata_connection_config(config.metadata_path),
        enable_cache=True,
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return {name: os.path.join(config.pipeline_root, name) for name in wanted}


def import_example_gen(data_dir, buckets=((contract.TRAIN_SPLIT, 4), (contract.VALIDATION_SPLIT, 1),
                                            (contract.TEST_SPLIT, 1))):
    """TFX's ImportExampleGen with the pipeline's three splits (hash buckets)."""
    from tfx import v1 as tfx

    splits = [tfx.proto.SplitConfig.Split(name=name, hash_buckets=n) for name, n in buckets]
    return tfx.components.ImportExampleGen(
        input_base=data_dir, output_config=tfx.proto.Output(split_config=tfx.proto.SplitConfig(splits=splits)))


def latest(pattern):
    def version(path):
        name = path.rstrip("/").split("/")[-1]
        return int(name) if name.isdigit() else 0

    matches = sorted(glob.glob(pattern), key=version)
    assert matches, f"nothing matches {pattern}"
    return matches[-1]


def read_summary(trainer_dir):
    with open(os.path.join(latest(os.path.join(trainer_dir, "model_run", "*")), contract.TRAINING_SUMMARY_FILE)) as f:
        return json.load(f)


def gradient(height, width):
    """An RGB uint8 image: red grows left to right, green top to bottom."""
    y, x = np.mgrid[0:height, 0:width]
    channels = [x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), np.full_like(x, 128)]
    return np.stack(channels, -1).astype(np.uint8)
