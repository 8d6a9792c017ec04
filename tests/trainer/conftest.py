"""A real TFX run up to both Trainers on a small generated data set, shared by the trainer tests."""

import glob
import json
import os

import pytest

from tests import tfx_fixtures

SMALL_TRAINING = dict(
    image_size=(64, 64),
    target_size=(32, 32),
    batch_size=4,
    epochs=1,
    class_names=tfx_fixtures.CLASS_NAMES,
    batchnorm_momentum=0.5,
    picture_images=3,
)


def small_config(root, training_overrides=None):
    """The demo profile with small training settings: what the tests' Trainers run."""
    from pipeline import config as config_lib

    overrides = {f"training.{k}": v for k, v in dict(SMALL_TRAINING, **(training_overrides or {})).items()}
    return config_lib.with_overrides(config_lib.demo_profile(output_dir=root), overrides)


def run_until_trainers(root, training_overrides=None, arms=("learnable_resizer", "bilinear_baseline"), count=24):
    """Runs ImportExampleGen -> StatisticsGen -> SchemaGen -> Transform -> Trainer(s) with LocalDagRunner.

    Returns {component id: output dir}.
    """
    from tfx import v1 as tfx
    from tfx.orchestration import metadata

    from pipeline.pipeline import create_components

    data_dir = tfx_fixtures.write_tfrecord_dataset(os.path.join(root, "data"), count)
    config = small_config(root, training_overrides)
    components = create_components(config, example_gen=tfx.components.ImportExampleGen(input_base=data_dir))
    wanted = ["ImportExampleGen", "StatisticsGen", "SchemaGen", "Transform"] + [f"Trainer_{arm}" for arm in arms]
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="trainer_test",
        pipeline_root=config.pipeline_root,
        components=[components[name] for name in wanted],
        metadata_connection_config=metadata.sqlite_metadata_connection_config(config.metadata_path),
        enable_cache=True,
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return {name: os.path.join(config.pipeline_root, name) for name in wanted}


def latest(pattern):
    matches = sorted(glob.glob(pattern), key=lambda p: int(p.rstrip("/").split("/")[-1]) if p.rstrip("/").split("/")[-1].isdigit() else 0)
    assert matches, f"nothing matches {pattern}"
    return matches[-1]


def read_summary(trainer_dir):
    with open(os.path.join(latest(os.path.join(trainer_dir, "model_run", "*")), "training_summary.json")) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def trained_pipeline(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("trainer_pipeline"))
    return run_until_trainers(root)
