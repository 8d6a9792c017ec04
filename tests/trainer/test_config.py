"""trainer.config: one definition per field, errors that name it, the JSON round trip of custom_config."""

import json

import pydantic
import pytest

from trainer import contract
from trainer.config import ArmConfig, ConfigError, TrainingConfig
from trainer.contract import BILINEAR_BASELINE_ARM as BASELINE_ARM
from trainer.contract import LEARNABLE_RESIZER_ARM as CANDIDATE_ARM
from trainer.contract import MULLER_ARM


@pytest.mark.parametrize(
    "kwargs, field, message",
    [
        (dict(filters=0), "filters", "must be >= 1, got 0"),
        (dict(epochs="three"), "epochs", "must be an integer, got 'three'"),
        (dict(interpolation="cubic"), "interpolation", "'cubic' is not one of"),
        (dict(image_size=(100, 100), target_size=(150, 150)), "target_size", "larger than image_size"),
        (dict(target_size=(16, 16), image_size=(64, 64)), "target_size", "at least 32x32"),
        (dict(image_size=(0, 64)), "image_size[0]", "must be >= 1"),
        (dict(num_classes=1), "num_classes", "must be >= 2"),
        (dict(class_names=("cat",)), "class_names", "1 names for num_classes=2"),
        (dict(learning_rate=0), "learning_rate", "must be > 0"),
        (dict(momentum=1.0), "momentum", "must be < 1"),
        (dict(precision="fp8"), "precision", "'fp8' is not one of"),
        (dict(jit_compile="maybe"), "jit_compile", "must be true or false"),
        (dict(arm=CANDIDATE_ARM), "arm", "unknown field"),  # the pipeline assigns arms: ArmConfig
        (dict(candidates=()), "candidates", "at least one candidate"),
        (dict(candidates="muller,muller"), "candidates", "lists muller more than once"),
        (dict(candidates="learnable_resizer,bilinear_baseline"), "candidates", "bilinear_baseline is the baseline"),
        (dict(candidates="learnable_resizer,nearest"), "candidates[1]", "'nearest' is not one of"),
        (dict(baseline=MULLER_ARM), "baseline", "'muller' is not one of"),
        (dict(muller={"kernel_size": 4}), "muller.kernel_size", "must be odd"),
        (dict(muller={"layers": 0}), "muller.layers", "must be >= 1"),
    ],
)
def test_invalid_training_config_names_the_field(kwargs, field, message):
    with pytest.raises(ConfigError) as info:
        TrainingConfig(**kwargs)
    assert info.value.field == field
    assert message in str(info.value) and str(info.value).startswith(f"{field}: ")


def test_arms_are_the_baseline_then_the_candidates():
    config = TrainingConfig()
    assert config.candidates == contract.DEFAULT_CANDIDATES == (CANDIDATE_ARM, MULLER_ARM)
    assert config.arms == (BASELINE_ARM, CANDIDATE_ARM, MULLER_ARM)
    other = TrainingConfig(candidates="muller,bilinear_baseline", baseline="area")
    assert other.arms == ("area", MULLER_ARM, BASELINE_ARM)
    assert TrainingConfig(muller={"layers": 3}).muller.layers == 3


def test_command_line_forms_parse():
    config = TrainingConfig(image_size="224,224", target_size=112, class_names="cat,dog", epochs="2",
                            jit_compile="false", learning_rate="0.5")
    assert config.image_size == (224, 224) and config.target_size == (112, 112)
    assert config.class_names == ("cat", "dog") and config.epochs == 2
    assert config.jit_compile is False and config.learning_rate == 0.5
    assert TrainingConfig(class_names='["a", "b"]').class_names == ("a", "b")


def test_frozen_and_replace_validates():
    config = TrainingConfig()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        config.epochs = 3
    assert config.replace(epochs=3).epochs == 3 and config.epochs == 5
    with pytest.raises(ConfigError, match="epochs"):
        config.replace(epochs=0)


def test_arm_config_is_the_training_config_plus_the_arm():
    training = TrainingConfig(class_names=("cat", "dog"), epochs=3)
    arm = training.for_arm(BASELINE_ARM)
    assert isinstance(arm, ArmConfig) and arm.arm == BASELINE_ARM
    assert {k: v for k, v in arm.model_dump().items() if k != "arm"} == training.model_dump()
    with pytest.raises(ConfigError) as info:
        training.for_arm("nearest_baseline")
    assert info.value.field == "arm"
    with pytest.raises(ConfigError, match="arm: is required"):
        ArmConfig()


def test_custom_config_json_round_trip():
    """What TFX hands to Transform and the Trainers: JSON in, the same config out."""
    training = TrainingConfig(class_names=("cat", "dog"), image_size=(224, 224), target_size=(112, 112))
    custom = json.loads(json.dumps(training.for_arm(CANDIDATE_ARM).to_custom_config("abc")))
    assert custom[contract.CODE_FINGERPRINT_KEY] == "abc"
    assert ArmConfig.from_custom_config(custom) == training.for_arm(CANDIDATE_ARM)
    transform_custom = json.loads(json.dumps(training.to_custom_config()))
    assert TrainingConfig.from_custom_config(transform_custom) == training
    assert TrainingConfig.from_dict(training.to_dict()) == training
    with pytest.raises(ConfigError, match="epochz: unknown field"):
        TrainingConfig.from_dict({"epochz": 3})


def test_every_field_has_a_help_line():
    for name, info in ArmConfig.model_fields.items():
        assert info.description, name
