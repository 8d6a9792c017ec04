"""The pipeline configuration: profiles, one set of defaults, command-line overrides, errors naming the field."""

import json
import os

import pytest

import pipeline_runner
from components import demo_data, image_records, splits
from pipeline import config as config_lib
from trainer import contract
from trainer.config import ConfigError


def test_full_profile_is_the_seed_configuration():
    config = config_lib.profile("full")
    assert config.data.source == "tfds" and config.data.tfds_name == "cats_vs_dogs"
    # The seed's 40 % / 10 %, plus a test slice nothing else reads.
    assert config.data.tfds_splits == {"train": "train[:40%]", "validation": "train[40%:50%]",
                                       "test": "train[50%:60%]"}
    assert config.evaluation.significance_level == 0.05
    training = config.training
    assert (training.image_size, training.target_size) == ((300, 300), (150, 150))
    assert (training.batch_size, training.epochs, training.optimizer) == (64, 5, "sgd")
    assert training.label_smoothing == 0.1 and training.learning_rate == 0.01


def test_headline_switch():
    config = config_lib.profile("full", headline=True)
    assert config.data.tfds_splits == {"train": "train[:90%]", "validation": "train[90%:95%]",
                                       "test": "train[95%:]"}
    assert config.training.epochs == 10
    with pytest.raises(ConfigError, match="headline"):
        config_lib.profile("demo", headline=True)


def test_command_line_overrides_every_kind_of_field(tmp_path):
    args = pipeline_runner.build_parser().parse_args([
        "run", "--output-dir", str(tmp_path), "--training.epochs", "2", "--training.image_size", "224,224",
        "--training.target_size", "112,112", "--data.split_buckets", '{"train": 3, "validation": 1, "test": 2}',
        "--enable_cache", "false", "--set", "evaluation.accuracy_margin=0.05",
        "--evaluation.significance_level", "0.01", "--training.deterministic", "true",
        "--training.class_names", "cat,dog", "--training.candidates",
        f"{contract.MULLER_ARM},{contract.LANCZOS3_ANTIALIAS_ARM}", "--training.baseline", contract.AREA_ARM,
        "--training.muller.layers", "3", "--evaluation.latency_calls", "0",
    ])
    config = pipeline_runner.config_from_args(args)
    assert config.output_dir == str(tmp_path)
    assert config.training.epochs == 2 and config.training.image_size == (224, 224)
    assert config.data.split_buckets == {"train": 3, "validation": 1, "test": 2}
    assert config.enable_cache is False and config.evaluation.accuracy_margin == 0.05
    assert config.evaluation.significance_level == 0.01 and config.training.deterministic is True
    assert config.training.class_names == ("cat", "dog")
    assert config.training.arms == (contract.AREA_ARM, contract.MULLER_ARM, contract.LANCZOS3_ANTIALIAS_ARM)
    assert config.training.muller.layers == 3
    assert config.evaluation.latency_calls == 0


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
        (["--data.split_buckets", '{"train": 0, "validation": 1, "test": 1}'], "data.split_buckets"),
        (["--data.split_buckets", '{"train": 8, "validation": 1, "test": 1, "extra": 1}'], "data.split_buckets"),
        (["--evaluation.significance_level", "1"], "evaluation.significance_level"),
        (["--training.image_cache", "gpu"], "training.image_cache"),
        (["--training.batch_size", "0"], "training.batch_size: must be >= 1"),
        (["--set", "profile=full"], "profile"),
        (["--training.backbone", "vgg16"], "training.backbone: 'vgg16' is not one of"),
        (["--training.candidates", f"{contract.MULLER_ARM},nearest"],
         "training.candidates[1]: 'nearest' is not one of"),
        (["--training.baseline", contract.MULLER_ARM], "training.baseline: 'muller' is not one of"),
        (["--training.candidates", contract.BILINEAR_BASELINE_ARM],
         "training.candidates: bilinear_baseline is the baseline"),
        (["--training.muller.kernel_size", "4"], "training.muller.kernel_size: must be odd"),
        (["--training.backbone", "inception_v3", "--training.image_size", "74,74", "--training.target_size", "74,74"],
         "training.target_size: backbone inception_v3 needs at least 75x75, got (74, 74)"),
        # The demo set's cue is drawn for a square, even Transform side and an exact 2x downscale.
        (["--training.image_size", "224,224"], "training.target_size: the demo set's cue is cancelled by the "
                                               "baseline's exact 2x average only at 112x112"),
        (["--training.backbone", "small_convnet", "--training.image_size", "64,48", "--training.target_size",
          "32,24"], "training.image_size: the demo set draws its 2 px stripe cue on a square grid"),
        (["--training.backbone_weights", "/absent/densenet.weights.h5"],
         "training.backbone_weights: /absent/densenet.weights.h5 does not exist"),
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


def test_help_lists_every_field_with_its_help_and_default(capsys):
    with pytest.raises(SystemExit):
        pipeline_runner.main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for path, info in config_lib.field_paths().items():
        if path == "output_dir":
            assert "--output-dir" in out
            continue
        assert f"--{path} " in out
        assert " ".join(info.description.split()) in out, path
    assert "--training.epochs INT training epochs (default: 5; demo: 3)" in out
    assert '--data.split_buckets JSON' in out
    assert '(default: {"train": 8, "validation": 1, "test": 1}; demo: {"train": 6, "validation": 1, "test": 3})' in out
    # Set by the pipeline, not by the user: not offered.
    assert "--profile {demo,full}" in out
    for not_offered in ("--training.arm", "--arm", "--profile PROFILE", "--output_dir"):
        assert not_offered not in out


def test_one_set_of_defaults():
    """The config's defaults are the components' own (the values the pipeline runs with)."""
    data = config_lib.PipelineConfig().data
    assert data.max_pixels == image_records.DEFAULT_MAX_PIXELS == 50_000_000
    assert data.max_bad_fraction == image_records.DEFAULT_MAX_BAD_FRACTION
    assert data.split_buckets == splits.DEFAULT_SPLIT_BUCKETS == {"train": 8, "validation": 1, "test": 1}
    assert data.tfds_splits == splits.DEFAULT_TFDS_SPLITS and data.tfds_name == splits.DEFAULT_TFDS_DATASET
    assert data.demo_seed == demo_data.DEFAULT_SEED == 0
    assert data.demo_images_per_class == demo_data.DEFAULT_PER_CLASS


def test_json_round_trip_of_every_profile():
    for name, headline in (("demo", False), ("full", False), ("full", True)):
        config = config_lib.profile(name, headline=headline)
        as_json = json.loads(json.dumps(config.to_dict()))
        assert config_lib.PipelineConfig.from_dict(as_json) == config


def test_arm_is_not_a_user_setting():
    assert "training.arm" not in config_lib.field_paths()
    with pytest.raises(ConfigError, match="training.arm: unknown field"):
        config_lib.with_overrides(config_lib.profile("demo"), {"training.arm": contract.BILINEAR_BASELINE_ARM})


@pytest.mark.parametrize("field, value", [
    ("data.split_buckets", '{"train": 4, "eval": 1}'),
    ("data.tfds_splits", '{"train": "train[:90%]", "eval": "train[90%:]"}'),
])
def test_old_two_split_configs_fail_naming_the_field(field, value):
    overrides = {field: value}
    if field == "data.tfds_splits":
        overrides["data.source"] = "tfds"
    with pytest.raises(ConfigError, match=rf"{field}: .*old two-split form.*'validation'.*'test'"):
        config_lib.profile("demo", overrides=overrides)


def test_a_new_field_is_one_line():
    """A field declared in its model is validated, overridable by path, and round-trips (nothing else to edit)."""
    from pydantic import Field

    class Extended(config_lib.EvalConfig):
        calibration_tolerance: float = Field(0.05, gt=0, lt=1, description="largest calibration error allowed")

    class ExtendedPipeline(config_lib.PipelineConfig):
        evaluation: Extended = Field(default_factory=Extended)

    paths = config_lib.field_paths(ExtendedPipeline)
    assert paths["evaluation.calibration_tolerance"].description.startswith("largest calibration")
    config = ExtendedPipeline.from_dict({"evaluation": {"calibration_tolerance": "0.01"}})
    assert config.evaluation.calibration_tolerance == 0.01
    assert ExtendedPipeline.from_dict(config.to_dict()) == config
    overridden = config_lib.with_overrides(config, {"evaluation.calibration_tolerance": "0.2"})
    assert overridden.evaluation.calibration_tolerance == 0.2
    with pytest.raises(ConfigError, match="evaluation.calibration_tolerance: must be < 1"):
        ExtendedPipeline.from_dict({"evaluation": {"calibration_tolerance": 1}})


def test_image_folder_layout_options_reach_the_example_gen():
    from pipeline.pipeline import make_example_gen

    data = config_lib.PipelineConfig().data
    assert data.ignore_empty_class_folders is False and data.keep_label_conflicts is False
    config = config_lib.PipelineConfig(
        data={"image_dir": "/x", "ignore_empty_class_folders": True, "keep_label_conflicts": True})
    gen = make_example_gen(config)
    assert gen.exec_properties["ignore_empty_class_folders"] == 1
    assert gen.exec_properties["keep_label_conflicts"] == 1
    default = make_example_gen(config_lib.PipelineConfig(data={"image_dir": "/x"}))
    assert default.exec_properties["ignore_empty_class_folders"] == 0
    assert default.exec_properties["keep_label_conflicts"] == 0


def test_the_demo_profile_pins_the_sizes_its_cue_is_drawn_for_and_an_own_folder_is_free(tmp_path):
    from components import demo_data

    pinned = config_lib.PROFILES["demo"]["training"]
    side = demo_data.TRANSFORM_SIDE
    assert (pinned["image_size"], pinned["target_size"]) == ((side, side), (side // 2, side // 2))
    own = config_lib.profile("demo", overrides={"data.image_dir": str(tmp_path), "training.image_size": "224,224"})
    assert (own.training.image_size, own.training.target_size) == ((224, 224), (150, 150))


def test_the_data_gate_gets_the_class_names_and_the_anomaly_option_and_transform_waits_for_it():
    from pipeline.pipeline import create_components

    assert config_lib.PipelineConfig().data.continue_on_anomalies is False
    config = config_lib.with_overrides(
        config_lib.PipelineConfig(data={"image_dir": "/x"}),
        {"training.class_names": "dog,cat", "data.continue_on_anomalies": "true"})
    components = create_components(config)
    gate = components[contract.DATA_GATE_ID]
    assert json.loads(gate.exec_properties["class_names"]) == ["dog", "cat"]
    assert gate.exec_properties["continue_on_anomalies"] == 1
    assert gate in components[contract.TRANSFORM_ID].upstream_nodes
    ids = list(components)
    assert ids.index(contract.EXAMPLE_VALIDATOR_ID) < ids.index(contract.DATA_GATE_ID) < ids.index(
        contract.TRANSFORM_ID)
    default = create_components(config_lib.PipelineConfig(data={"image_dir": "/x"}))[contract.DATA_GATE_ID]
    assert json.loads(default.exec_properties["class_names"]) == []
    assert default.exec_properties["continue_on_anomalies"] == 0
