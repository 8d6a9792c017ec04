"""trainer.warm_start: the files the control experiment's first Trainer leaves and the continued arms load.

The control experiment through TFX is tests/integration/test_control_experiment.py.
"""

import os
import types

import keras
import numpy as np
import pytest

from trainer import contract, warm_start
from trainer.config import TrainingConfig


def small_parts(seed):
    keras.utils.set_random_seed(seed)
    backbone = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    head = keras.layers.Dense(2)
    head.build((None, 3))
    return backbone, head


def values(layer):
    return [keras.ops.convert_to_numpy(w) for w in layer.weights]


def test_a_continued_model_starts_where_the_first_ended(tmp_path):
    trained_backbone, trained_head = small_parts(seed=1)
    warm_start.save_warm_start(trained_backbone, trained_head, str(tmp_path))
    backbone, head = small_parts(seed=2)
    assert not np.array_equal(values(backbone)[0], values(trained_backbone)[0])
    warm_start.load_warm_start(backbone, head, str(tmp_path))
    for loaded, saved in zip(values(backbone) + values(head), values(trained_backbone) + values(trained_head)):
        np.testing.assert_array_equal(loaded, saved)


def test_a_base_model_without_the_files_is_named(tmp_path):
    backbone, head = small_parts(seed=1)
    with pytest.raises(FileNotFoundError, match=f"{tmp_path} has no {contract.WARM_START_BACKBONE_FILE}"):
        warm_start.load_warm_start(backbone, head, str(tmp_path))


def test_the_first_trainer_is_the_baseline_for_warm_start_epochs():
    training = TrainingConfig(epochs=5, warm_start_epochs=3)
    custom_config = training.warm_start_custom_config("abc")
    first = custom_config[contract.TRAINING_CONFIG_KEY]
    assert (first["arm"], first["epochs"], first["warm_start_epochs"]) == (contract.BILINEAR_BASELINE_ARM, 3, 0)
    assert custom_config[contract.WARM_START_SOURCE_KEY] is True
    assert custom_config[contract.CODE_FINGERPRINT_KEY] == "abc"
    # The continued arms keep `epochs` and are told nothing to save.
    assert contract.WARM_START_SOURCE_KEY not in training.for_arm(contract.LEARNABLE_RESIZER_ARM).to_custom_config()
    assert np.isclose(training.for_arm(contract.LEARNABLE_RESIZER_ARM).epochs, 5)


def test_where_the_files_are_read_and_written():
    serving = os.path.join("artifacts", "model", "7", "Format-Serving")
    assert warm_start.base_model_dir(types.SimpleNamespace(base_model=serving)) == os.path.dirname(serving)
    assert warm_start.base_model_dir(types.SimpleNamespace(base_model=None)) is None
    assert warm_start.base_model_dir(types.SimpleNamespace()) is None
    assert warm_start.save_dir({contract.WARM_START_SOURCE_KEY: True}, serving) == os.path.dirname(serving)
    assert warm_start.save_dir({contract.TRAINING_CONFIG_KEY: {}}, serving) is None
    assert warm_start.save_dir(None, serving) is None
