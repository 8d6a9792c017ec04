"""run_fn for real inside TFX's Trainer, and the SavedModel it exports."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components import synthetic_examples
from tests.trainer.helpers import latest, read_summary, run_until_trainers, small_config
from trainer import contract, data, distribution, export, training
from trainer.contract import (
    BILINEAR_BASELINE_ARM,
    LEARNABLE_RESIZER_ARM,
    MULLER_ARM,
    SERVING_DEFAULT_SIGNATURE,
    SERVING_TF_EXAMPLE_SIGNATURE,
    TRANSFORM_IMAGES_SIGNATURE,
)

pytestmark = pytest.mark.slow

LEARNABLE_TRAINER_ID = contract.trainer_id(LEARNABLE_RESIZER_ARM)
BASELINE_TRAINER_ID = contract.trainer_id(BILINEAR_BASELINE_ARM)


def serving_dir(trainer_dir):
    return os.path.join(latest(os.path.join(trainer_dir, "model", "*")), "Format-Serving")


def serve(loaded, images, signature=SERVING_DEFAULT_SIGNATURE, input_name=contract.IMAGE_BYTES_INPUT):
    """Calls a serving signature on a batch of strings (encoded images, or serialized examples)."""
    return loaded.signatures[signature](**{input_name: tf.constant(images, tf.string)})


def test_every_default_arm_trains_and_exports_with_its_cost(trained_pipeline):
    costs = {}
    for arm in contract.DEFAULT_CANDIDATES + (contract.DEFAULT_BASELINE,):
        summary = read_summary(trained_pipeline[contract.trainer_id(arm)])
        assert summary["arm"] == arm
        assert summary["class_names"] == list(synthetic_examples.CLASS_NAMES)
        assert len(summary["history"]["loss"]) == 1 and np.isfinite(summary["history"]["loss"][0])
        assert summary["train_images_per_second"][0] > 0
        # The demo profile's PreciseBN: every BatchNorm layer's statistics from the whole training split.
        precise_bn = summary["precise_batchnorm"]
        assert precise_bn["images"] == summary["training_examples"]
        assert precise_bn["layers"] >= 4 and 0 <= precise_bn["validation_accuracy"] <= 1
        model_dir = serving_dir(trained_pipeline[contract.trainer_id(arm)])
        loaded = tf.saved_model.load(model_dir)
        assert set(loaded.signatures) == {SERVING_DEFAULT_SIGNATURE, SERVING_TF_EXAMPLE_SIGNATURE,
                                          TRANSFORM_IMAGES_SIGNATURE}
        picture = os.path.join(os.path.dirname(model_dir), contract.RESIZER_PICTURE_FILE)
        assert tf.io.decode_png(open(picture, "rb").read()).shape[0] > 3 * 64
        run_dir = latest(os.path.join(trained_pipeline[contract.trainer_id(arm)], "model_run", "*"))
        assert glob.glob(os.path.join(run_dir, "train", "events.out.tfevents.*")), "no TensorBoard logs"
        with open(os.path.join(os.path.dirname(model_dir), contract.MODEL_COST_FILE)) as f:
            costs[arm] = json.load(f)
        assert costs[arm] == {"arm": arm, **summary["cost"]} and costs[arm]["parameters"] == summary["parameters"]
    # The resizing stage's trainable weights, and FLOPs in the order of their work at 64 -> 32 px.
    assert [costs[arm]["resizer_parameters"] for arm in (BILINEAR_BASELINE_ARM, MULLER_ARM)] == [0, 4]
    assert costs[LEARNABLE_RESIZER_ARM]["resizer_parameters"] == 12_035  # 12,163 less the BatchNorms' statistics
    flops = {arm: costs[arm]["resizer_flops"] for arm in costs}
    assert 0 < flops[BILINEAR_BASELINE_ARM] < flops[MULLER_ARM] < flops[LEARNABLE_RESIZER_ARM]
    backbone_flops = {arm: costs[arm]["model_flops"] - costs[arm]["resizer_flops"] for arm in costs}
    assert max(backbone_flops.values()) - min(backbone_flops.values()) < 1e-3 * min(backbone_flops.values())


def test_arms_start_from_identical_backbone_weights(trained_pipeline):
    learnable = read_summary(trained_pipeline[LEARNABLE_TRAINER_ID])
    bilinear = read_summary(trained_pipeline[BASELINE_TRAINER_ID])
    assert learnable["initial_backbone_sha256"] == bilinear["initial_backbone_sha256"]
    assert learnable["parameters"] - bilinear["parameters"] == 12_163


def test_true_seed_configuration_trains_one_step(tmp_path):
    """The seed's 300 -> 150 DenseNet-121 learnable arm, one real step in a TFX Trainer."""
    dirs = run_until_trainers(
        str(tmp_path),
        # The seed trains with model.fit alone: no PreciseBN pass (the demo profile's), which
        # tests/trainer/test_batch_norm.py and the demo-profile Trainers here cover.
        dict(backbone="densenet121", image_size=(300, 300), target_size=(150, 150), batch_size=2,
             steps_per_epoch=1, picture_images=0, seed=3, precise_batchnorm=False),
        arms=(LEARNABLE_RESIZER_ARM,),
        count=24,  # every split gets examples (an empty split leaves SchemaGen nothing to infer from)
    )
    summary = read_summary(dirs[LEARNABLE_TRAINER_ID])
    assert summary["parameters"] == 7_051_717
    assert summary["config"]["image_size"] == [300, 300] and summary["config"]["target_size"] == [150, 150]
    assert summary["images_per_epoch"] == 2 and summary["images_consumed"] == 2
    assert summary["config"]["precise_batchnorm"] is False and "precise_batchnorm" not in summary
    assert np.isfinite(summary["history"]["loss"][0])
    loaded = tf.saved_model.load(serving_dir(dirs[LEARNABLE_TRAINER_ID]))
    image = synthetic_examples.encode(np.full((40, 70, 3), 90, np.uint8))
    out = serve(loaded, [image])
    assert out[contract.PROBABILITIES_OUTPUT].shape == (1, 2)


@pytest.fixture(scope="module", params=[LEARNABLE_RESIZER_ARM, MULLER_ARM])
def exported(request, trained_pipeline, tmp_path_factory):
    """An in-memory model of each learned arm, trained in-process on the pipeline's Transform output; its export."""
    transform_dir = latest(os.path.join(trained_pipeline[contract.TRANSFORM_ID], "transform_graph", "*"))
    examples = latest(os.path.join(trained_pipeline["ImportExampleGen"], "examples", "*"))
    tf_transform_output = tft.TFTransformOutput(transform_dir)
    config = small_config(str(tmp_path_factory.mktemp("unused"))).training.for_arm(request.param)
    placement = distribution.select_placement(config.precision)
    training.prepare(config, placement)
    train_split, validation_split = data.decode_splits(
        [os.path.join(examples, f"Split-{contract.TRAIN_SPLIT}", "*")],
        [os.path.join(examples, f"Split-{contract.VALIDATION_SPLIT}", "*")], tf_transform_output, config)
    steps = data.steps_per_epoch(len(train_split), config.batch_size, config.steps_per_epoch)
    model = training.build(config, placement).model
    training.fit(model, *data.fit_datasets(placement, train_split, validation_split, config, steps, None),
                 config.epochs, steps)
    export_dir = str(tmp_path_factory.mktemp("export") / "model")
    export.export_serving_model(model, tf_transform_output, config.class_names, export_dir)
    return model, tf.saved_model.load(export_dir)


def _images():
    rng = np.random.default_rng(5)
    return [
        synthetic_examples.encode(synthetic_examples.make_image(rng, 0, 120, 90), "jpeg"),
        synthetic_examples.encode(synthetic_examples.make_image(rng, 1, 33, 200), "png"),
    ]


def test_bytes_example_and_keras_predictions_agree(exported):
    model, loaded = exported
    images = _images()
    from_bytes = serve(loaded, images)
    examples = [synthetic_examples.image_example(b, 0).SerializeToString() for b in images]
    from_examples = serve(loaded, examples, SERVING_TF_EXAMPLE_SIGNATURE, contract.EXAMPLES_INPUT)
    transformed = serve(loaded, images, TRANSFORM_IMAGES_SIGNATURE)[contract.TRANSFORMED_IMAGE_KEY]
    from_keras = model(transformed, training=False).numpy()
    np.testing.assert_allclose(from_bytes[contract.PROBABILITIES_OUTPUT].numpy(), from_keras, atol=1e-5)
    np.testing.assert_allclose(from_examples[contract.PROBABILITIES_OUTPUT].numpy(), from_keras, atol=1e-5)
    assert from_bytes[contract.CLASS_ID_OUTPUT].numpy().tolist() == np.argmax(from_keras, -1).tolist()
    names = [synthetic_examples.CLASS_NAMES[i].encode() for i in np.argmax(from_keras, -1)]
    assert from_bytes[contract.CLASS_NAME_OUTPUT].numpy().tolist() == names


def test_serving_accepts_tiny_and_mixed_size_batches(exported):
    _, loaded = exported
    one_pixel = synthetic_examples.encode(np.full((1, 1, 3), 200, np.uint8), "png")
    out = serve(loaded, [one_pixel, *_images()])
    assert out[contract.PROBABILITIES_OUTPUT].shape == (3, 2)
    np.testing.assert_allclose(out[contract.PROBABILITIES_OUTPUT].numpy().sum(-1), 1.0, atol=1e-5)
    empty_batch = serve(loaded, [])
    assert empty_batch[contract.PROBABILITIES_OUTPUT].shape == (0, 2)


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "image bytes are empty"),
        (b"\x00\x01 random bytes \xff" * 10, "Unknown image file format"),
        # A JPEG cut after its header: no scan data left to decode.
        ("truncated", "(Invalid JPEG data|corrupt|truncated|Unknown image file format)"),
    ],
)
def test_bad_serving_inputs_fail_with_a_clear_error(exported, payload, message):
    _, loaded = exported
    if payload == "truncated":
        payload = _images()[0][:200]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        serve(loaded, [payload])
    # The model keeps serving afterwards.
    ok = serve(loaded, _images()[:1])
    assert ok[contract.PROBABILITIES_OUTPUT].shape == (1, 2)
