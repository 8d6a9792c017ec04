"""trainer.backbones: every backbone at its minimum input size; weights files; input scaling.

Each backbone sits behind the learned resizing stages and the baseline.
"""

import keras
import numpy as np
import pytest

from trainer import backbone_registry, backbones, models
from trainer.config import BACKBONE_MIN_SIZES, BACKBONES, ArmConfig, ConfigError, TrainingConfig
from trainer.contract import BILINEAR_BASELINE_ARM as BASELINE_ARM
from trainer.contract import LEARNABLE_RESIZER_ARM as CANDIDATE_ARM
from trainer.contract import MULLER_ARM

ARMS = (CANDIDATE_ARM, MULLER_ARM, BASELINE_ARM)

RESIZER_PARAMETERS = 12_163  # 16 filters, 1 residual block
MULLER_PARAMETERS = 4  # 2 layers, a weight and a bias each


def smallest_config(backbone, arm=CANDIDATE_ARM, **changes):
    """The backbone at its minimum target size, from images twice as large, batch 2.

    Adam: at the minimum size the last blocks see 1x1 feature maps, so BatchNorm normalizes over the 2 images
    alone; one SGD step at 0.01 can then blow the resizer's weights up (the demo profile uses Adam too).
    """
    side = BACKBONE_MIN_SIZES[backbone]
    values = dict(backbone=backbone, image_size=(2 * side, 2 * side), target_size=(side, side), batch_size=2,
                  batchnorm_momentum=0.5, seed=11, optimizer="adam", learning_rate=1e-3)
    values.update(changes)
    return ArmConfig(arm=arm, **values)


def weights_of(layer):
    return [np.array(w) for w in layer.weights]


def build(config):
    backbone = backbones.build_backbone(config)
    model = models.build_classifier(config, backbone)
    return {"model": model, "backbone": backbone, "initial_backbone": weights_of(backbone),
            "initial_head": weights_of(model.get_layer(models.HEAD_LAYER))}


@pytest.fixture(scope="module")
def both_arms(request):
    """(backbone, {arm: built classifier}) at the backbone's minimum size.

    For the learnable resizer, MULLER and the baseline; parametrized with the backbone's name.
    """
    return request.param, {arm: build(smallest_config(request.param, arm)) for arm in ARMS}


every_backbone = pytest.mark.parametrize("both_arms", BACKBONES, indirect=True)
# More than ~20 s each on 2 cores (tracing a training step of the deepest models).
SLOW_ROUND_TRIPS = {("densenet121", CANDIDATE_ARM), ("densenet121", MULLER_ARM), ("inception_v3", CANDIDATE_ARM)}


def test_the_table_lists_every_backbone():
    assert set(BACKBONES) == set(backbone_registry.BACKBONES) == set(BACKBONE_MIN_SIZES)
    assert TrainingConfig().backbone == "densenet121"


@every_backbone
def test_parameter_counts_of_both_arms(both_arms):
    backbone, arms = both_arms
    learnable = arms[CANDIDATE_ARM]["model"].count_params()
    bilinear = arms[BASELINE_ARM]["model"].count_params()
    assert bilinear == backbone_registry.BACKBONES[backbone].classifier_parameters
    assert learnable - bilinear == RESIZER_PARAMETERS
    assert arms[MULLER_ARM]["model"].count_params() - bilinear == MULLER_PARAMETERS


@every_backbone
def test_both_arms_start_from_identical_weights_and_the_seed_changes_them(both_arms):
    backbone, arms = both_arms
    learnable, bilinear = arms[CANDIDATE_ARM], arms[BASELINE_ARM]
    # kernels + 3-4 arrays per BatchNorm
    assert len(learnable["initial_backbone"]) > 3 * backbone_registry.BACKBONES[backbone].batchnorm_layers
    for other in (bilinear, arms[MULLER_ARM]):
        for key in ("initial_backbone", "initial_head"):
            assert all(np.array_equal(a, b) for a, b in zip(learnable[key], other[key])), key
    other_seed = weights_of(backbones.build_backbone(smallest_config(backbone, seed=12)))
    assert not all(np.array_equal(a, b) for a, b in zip(learnable["initial_backbone"], other_seed))


@every_backbone
def test_every_batchnorm_layer_takes_the_configured_momentum(both_arms):
    backbone, arms = both_arms
    norms = list(backbones.batchnorm_layers(arms[BASELINE_ARM]["backbone"]))
    assert len(norms) == backbone_registry.BACKBONES[backbone].batchnorm_layers
    assert {layer.momentum for layer in norms} == {0.5}


# The learned stages with every backbone; the baseline with small_convnet (with every other backbone, the
# seed's DenseNet-121 included, MULLER's step covers the baseline's path: MULLER is its bilinear resize plus
# two Laplacian residuals).
TRAINING_STEPS = [(backbone, arm) for backbone in BACKBONES for arm in (CANDIDATE_ARM, MULLER_ARM)] + [
    ("small_convnet", BASELINE_ARM)]


@pytest.mark.parametrize("both_arms, arm", [
    pytest.param(backbone, arm, marks=[pytest.mark.slow] if (backbone, arm) in SLOW_ROUND_TRIPS else [])
    for backbone, arm in TRAINING_STEPS], indirect=["both_arms"])
def test_one_training_step_then_a_keras_round_trip(both_arms, arm, tmp_path):
    backbone, arms = both_arms
    config = smallest_config(backbone, arm)
    # As the Trainer compiles it (trainer/training.py): one trace of the training step, with every backbone.
    model = models.create_training_variables(models.compile_classifier(arms[arm]["model"], config), config)
    images = np.random.default_rng(0).uniform(0, 255, (2, *config.image_size, 3)).astype("float32")
    loss = model.train_on_batch(images, np.eye(2, dtype="float32"))
    assert np.isfinite(loss[0] if isinstance(loss, list) else loss)
    assert not all(np.array_equal(a, b) for a, b in zip(arms[arm]["initial_backbone"],
                                                         weights_of(arms[arm]["backbone"])))
    expected = np.asarray(model(images, training=False))
    assert expected.dtype == np.float32 and np.all(np.isfinite(expected))
    assert np.allclose(expected.sum(-1), 1.0, atol=1e-5)
    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(reloaded(images, training=False)), expected, atol=1e-5)


def test_small_convnet_has_no_top_and_no_pretrained_weights():
    for arguments in (dict(include_top=True), dict(weights="imagenet")):
        with pytest.raises(ValueError, match="no top and no pretrained weights"):
            backbones.small_convnet(input_shape=(8, 8, 3), **arguments)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_target_size_below_the_backbones_minimum_names_field_and_backbone(backbone):
    side = BACKBONE_MIN_SIZES[backbone]
    TrainingConfig(backbone=backbone, target_size=(side, side))  # the minimum itself is accepted
    for target in ((side - 1, side - 1), (side, side - 1)):
        with pytest.raises(ConfigError) as info:
            TrainingConfig(backbone=backbone, target_size=target)
        assert info.value.field == "target_size"
        assert f"backbone {backbone} needs at least {side}x{side}" in str(info.value)


def test_mixed_precision_still_gives_float32_probabilities():
    config = smallest_config("mobilenet_v2", precision="mixed_bfloat16")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build(config)["model"]
        out = model(np.full((2, *config.image_size, 3), 100.0, "float32"), training=False)
        assert models.get_resizer(model).compute_dtype == "bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert out.dtype == "float32" and np.allclose(np.asarray(out).sum(-1), 1.0, atol=1e-5)


# --- input scaling ---------------------------------------------------------------------------------

PREPROCESS_INPUT = {
    "densenet121": keras.applications.densenet.preprocess_input,
    "resnet50": keras.applications.resnet50.preprocess_input,
    "mobilenet_v2": keras.applications.mobilenet_v2.preprocess_input,
    "inception_v3": keras.applications.inception_v3.preprocess_input,
}


def unit_images():
    return np.random.default_rng(1).uniform(0, 1, (2, 5, 7, 3)).astype("float32")


@pytest.mark.parametrize("backbone", sorted(PREPROCESS_INPUT))
def test_imagenet_input_is_keras_preprocess_input(backbone):
    scaling = backbones.input_scaling(TrainingConfig(backbone=backbone, backbone_input="imagenet"))
    images = unit_images()
    expected = PREPROCESS_INPUT[backbone](255.0 * images.copy())
    np.testing.assert_allclose(np.asarray(scaling(images)), expected, rtol=1e-5, atol=1e-4)
    assert backbones.input_scaling(TrainingConfig(backbone=backbone, backbone_input="unit")) is None


def _normalization_layer(backbone):
    [norm] = [layer for layer in backbone.layers if isinstance(layer, keras.layers.Normalization)]
    return norm


def _efficientnet_normalized(config):
    """The output of EfficientNet-B0's own Normalization layer for the classifier's [0, 1] images."""
    backbone = backbones.build_backbone(config)
    inputs = keras.Input((*config.target_size, 3))
    scaling = backbones.input_scaling(config)
    inner = keras.Model(backbone.inputs, _normalization_layer(backbone).output)
    probe = keras.Model(inputs, inner(scaling(inputs)))
    images = np.random.default_rng(2).uniform(0, 1, (2, *config.target_size, 3)).astype("float32")
    return images, np.asarray(probe(images))


def test_efficientnet_sees_unit_images_and_imagenet_normalization(tmp_path):
    images, normalized = _efficientnet_normalized(smallest_config("efficientnet_b0"))  # from scratch
    np.testing.assert_allclose(normalized, images, atol=1e-5)
    # ImageNet weights hold mean and std**2 in that layer; Keras' weights="imagenet" model then divides by
    # sqrt(std) once more, so its stem sees (u - mean) / std**1.5.
    mean, std = np.array(backbone_registry.IMAGENET_MEAN_RGB), np.array(backbone_registry.IMAGENET_STD_RGB)
    imagenet_like = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(32, 32, 3))
    _normalization_layer(imagenet_like).set_weights([mean, std ** 2, np.array(0)])
    path = str(tmp_path / "efficientnet_b0_notop.weights.h5")
    imagenet_like.save_weights(path)
    images, normalized = _efficientnet_normalized(smallest_config("efficientnet_b0", backbone_weights=path))
    np.testing.assert_allclose(normalized, (images - mean) / std ** 1.5, atol=1e-4)


def test_auto_input_is_imagenet_with_weights_and_unit_without(tmp_path):
    assert backbones.input_scaling(TrainingConfig(backbone="mobilenet_v2")) is None
    with_weights = TrainingConfig(backbone="mobilenet_v2", backbone_weights=str(tmp_path / "x.weights.h5"))
    scaling = backbones.input_scaling(with_weights)
    assert scaling.scale == (2.0,) * 3 and scaling.offset == (-1.0,) * 3
