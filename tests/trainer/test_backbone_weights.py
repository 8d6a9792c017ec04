"""training.backbone_weights: Keras weights files of a backbone without its top, and the errors for bad ones."""

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

from trainer import backbones
from trainer.config import ConfigError, TrainingConfig


def config(**changes):
    values = dict(backbone="mobilenet_v2", image_size=(64, 64), target_size=(32, 32), batchnorm_momentum=0.5)
    values.update(changes)
    return TrainingConfig(**values)


@pytest.fixture(scope="module")
def source():
    """A MobileNet-v2 without its top, as a user would save it elsewhere (another seed, another input size)."""
    keras.utils.set_random_seed(123)
    return keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(96, 96, 3))


def save(model, path):
    """``.weights.h5`` (Keras 3) or ``.h5`` (the legacy format of the files keras.applications downloads)."""
    if path.endswith(".weights.h5"):
        model.save_weights(path)
    else:
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


@pytest.mark.parametrize("name", ["backbone.weights.h5", "mobilenet_v2_notop.h5"])
def test_a_weights_file_replaces_the_seeded_weights(source, tmp_path, name):
    path = save(source, str(tmp_path / name))
    seeded = backbones.build_backbone(config())
    loaded = backbones.build_backbone(config(backbone_weights=path))
    expected = [np.array(w) for w in source.weights]
    assert not all(np.array_equal(a, np.array(b)) for a, b in zip(expected, seeded.weights))
    assert all(np.array_equal(a, np.array(b)) for a, b in zip(expected, loaded.weights))
    # The file carries no BatchNorm momentum: the configured one still holds.
    assert {layer.momentum for layer in backbones.batchnorm_layers(loaded)} == {0.5}


def test_a_missing_file_names_the_field(tmp_path):
    path = str(tmp_path / "absent.weights.h5")
    with pytest.raises(ConfigError) as info:
        backbones.build_backbone(config(backbone_weights=path))
    assert info.value.field == "training.backbone_weights" and f"{path} does not exist" in str(info.value)


def test_another_backbones_file_names_the_field_and_the_backbone(tmp_path):
    keras.utils.set_random_seed(1)
    other = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = save(other, str(tmp_path / "efficientnet.weights.h5"))
    with pytest.raises(ConfigError) as info:
        backbones.build_backbone(config(backbone_weights=path))
    assert info.value.field == "training.backbone_weights"
    assert "cannot load" in str(info.value) and "MobileNet-v2 without its top (include_top=False)" in str(info.value)


def test_a_file_that_is_no_hdf5_names_the_field(tmp_path):
    path = tmp_path / "broken.weights.h5"
    path.write_bytes(b"not an HDF5 file")
    with pytest.raises(ConfigError, match="training.backbone_weights: cannot load"):
        backbones.build_backbone(config(backbone_weights=str(path)))


def test_a_name_keras_cannot_read_is_refused_by_the_config():
    with pytest.raises(ConfigError) as info:
        config(backbone_weights="/models/resnet50.pth")
    assert info.value.field == "backbone_weights" and "no Keras weights file" in str(info.value)
