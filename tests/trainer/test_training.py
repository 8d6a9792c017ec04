"""trainer.training: the seeded build, the control experiment's weights, the fit and each trial's model."""

import types

import numpy as np
import pytest
import tensorflow as tf

from trainer import backbones, contract, distribution, models, summary, training, warm_start
from trainer.config import ArmConfig, ConfigError


def tiny(arm=contract.LEARNABLE_RESIZER_ARM, **changes):
    settings = dict(backbone="small_convnet", image_size=(16, 16), target_size=(8, 8), batch_size=2, filters=4,
                    seed=5)
    return ArmConfig(arm=arm, **{**settings, **changes})


@pytest.fixture(scope="module")
def placement():
    return distribution.select_placement("float32")


def test_a_batch_that_does_not_split_over_the_workers_is_named():
    three_workers = distribution.Placement(tf.distribute.get_strategy(), "float32", num_workers=3)
    with pytest.raises(ConfigError, match="batch_size: 2 does not split evenly over 3 workers"):
        training.prepare(tiny(), three_workers)


def test_every_arm_starts_from_the_same_backbone_and_head(placement):
    learnable = training.build(tiny(), placement)
    baseline = training.build(tiny(contract.BILINEAR_BASELINE_ARM), placement)
    assert learnable.initial_backbone_sha256 == baseline.initial_backbone_sha256
    assert learnable.initial_head_sha256 == baseline.initial_head_sha256
    assert learnable.head is learnable.model.get_layer(models.HEAD_LAYER) and learnable.warm_start_from is None
    assert learnable.initial_backbone_sha256 == summary.weights_sha256(learnable.backbone)
    other_seed = training.build(tiny(seed=6), placement)
    assert other_seed.initial_backbone_sha256 != learnable.initial_backbone_sha256


def test_a_warm_start_replaces_backbone_and_head_and_is_recorded(placement, tmp_path):
    source = training.build(tiny(contract.BILINEAR_BASELINE_ARM, seed=9), placement)
    warm_start.save_warm_start(source.backbone, source.head, str(tmp_path))
    continued = training.build(tiny(), placement, str(tmp_path))
    assert continued.initial_backbone_sha256 == source.initial_backbone_sha256
    assert continued.initial_head_sha256 == source.initial_head_sha256
    assert continued.warm_start_from == str(tmp_path)


def test_fit_runs_the_epochs_and_times_them(placement, tmp_path):
    built = training.build(tiny(), placement)
    images = tf.random.stateless_uniform((4, 16, 16, 3), (1, 2), maxval=255.0)
    labels = tf.one_hot([0, 1, 0, 1], 2)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(2).repeat()
    history, epoch_timer = training.fit(built.model, dataset, None, epochs=2, steps=1, log_dir=str(tmp_path))
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    assert len(epoch_timer.seconds) == 2 and all(s > 0 for s in epoch_timer.seconds)
    assert epoch_timer.validation_seconds == [0.0, 0.0]
    assert tf.io.gfile.glob(str(tmp_path / "train" / "events.out.tfevents.*")), "no TensorBoard scalars"


def _fit_counting_traces(model):
    """Fits ``model`` 2 epochs of 2 steps; (training step traces, final loss, final weights)."""
    traces = []
    step = model.train_step

    def counted(data):
        traces.append(1)
        return step(data)

    model.train_step = counted
    images = tf.random.stateless_uniform((4, 16, 16, 3), (3, 4), maxval=255.0)
    labels = tf.one_hot([0, 1, 1, 0], 2)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(2).repeat()
    history = model.fit(dataset, epochs=2, steps_per_epoch=2, verbose=0)
    return len(traces), history.history, [w.numpy() for w in model.weights]


@pytest.mark.parametrize("arm", [contract.LEARNABLE_RESIZER_ARM, contract.BILINEAR_BASELINE_ARM])
def test_the_training_step_is_traced_once_and_trains_as_before(placement, arm):
    built = training.build(tiny(arm), placement)
    assert built.model.optimizer.built, "the optimizer's variables are created before fit"
    traces, history, weights = _fit_counting_traces(built.model)
    assert traces == 1
    # Keras' own way (its variables created while tracing, then a second trace): the same training.
    deferred = models.compile_classifier(models.build_classifier(tiny(arm), backbones.build_backbone(tiny(arm))),
                                         tiny(arm))
    deferred_traces, deferred_history, deferred_weights = _fit_counting_traces(deferred)
    assert deferred_traces == 2
    assert history == deferred_history
    assert len(weights) == len(deferred_weights)
    for ours, keras_own in zip(weights, deferred_weights):
        np.testing.assert_array_equal(ours, keras_own)


def test_each_trial_builds_the_arm_with_its_values(placement):
    build_trial = training.hypermodel(tiny(), placement)
    model = build_trial(types.SimpleNamespace(values={"filters": 8, "learning_rate": 0.005}))
    assert model.get_layer("resizer").filters == 8
    assert np.isclose(float(model.optimizer.learning_rate.numpy()), 0.005)
    with pytest.raises(ConfigError, match="tuning.momentum"):
        build_trial(types.SimpleNamespace(values={"momentum": 0.5}))
