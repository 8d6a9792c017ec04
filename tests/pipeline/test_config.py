import os

import pytest

import pipeline_runner
from pipeline import config as config_lib
from trainer.config import ConfigError


def test_full_profile_is_the_seed_configuration():
    config = config_lib.profile("full")
    assert config.data.source == "tfds" and config.data.tfds_name == "cats_vs_dogs"
    assert config.data.tfds_splits == {"train": "train[:40%]", "eval": "train[40%:50%]"}
    training = config.training
    assert (training.image_size, training.target_size) == ((300, 300), (150, 150))
    assert (training.batch_size, training.epochs, training.optimizer) == (64, 5, "sgd")
    assert training.label_smoothing == 0.1 and training.learning_rate == 0.01


def test_headline_switch():
    config = config_lib.profile("full", headline=True)
    assert config.data.tfds_splits["train"] == "train[:90%]" and config.training.epochs == 10
    with pytest.raises(ConfigError, match="headline"):
        config_lib.profile("demo", headline=True)


def test_command_line_overrides_every_kind_of_field(tmp_path):
    args = pipeline_runner.build_parser().parse_args([
        "run", "--output-dir", str(tmp_path), "--training.epochs", "2", "--training.image_size", "224,224",
        "--training.target_size", "112,112", "--data.split_buckets", '{"train": 3, "eval": 1}',
        "--enable_cache", "false", "--set", "evaluation.accuracy_margin=0.05",
        "--training.class_names", "cat,dog",
    ])
    config = pipeline_runner.config_from_args(args)
    assert config.output_dir == str(tmp_path)
    assert config.training.epochs == 2 and config.training.image_size == (224, 224)
    assert config.data.split_buckets == {"train": 3, "eval": 1}
    assert config.enable_cache is False and config.evaluation.accuracy_margin == 0.05
    assert config.training.class_names == ("cat", "dog")


@pytest.mark.parametrize(
    "argv, field",
    [
        (["--training.epochs", "0"], "epochs"),
        (["--training.epochs", "three"], "training.epochs"),
        (["--data.source", "s3"], "data.source"),
        (["--evaluation.accuracy_floor", "1.5"], "evaluation.accuracy_floor"),
        (["--training.interpolation", "cubic"], "interpolation"),
        (["--training.image_size", "100,100"], "target_size"),
        (["--set", "training.epochz=3"], "training.epochz"),
        (["--runner", "kubeflow"], "runner"),
        (["--data.split_buckets", '{"train": 3}'], "data.split_buckets"),
    ],
)
def test_invalid_values_fail_before_anything_runs(tmp_path, capsys, argv, field):
    output_dir = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        pipeline_runner.main(["run", "--output-dir", str(output_dir), *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid configuration" in err and field in err
    assert not os.path.exists(output_dir)


def test_help_lists_every_field(capsys):
    with pytest.raises(SystemExit):
        pipeline_runner.main(["run", "--help"])
    out = capsys.readouterr().out
    for path in config_lib.field_paths():
        if path not in ("profile", "output_dir"):
            assert f"--{path}" in out
