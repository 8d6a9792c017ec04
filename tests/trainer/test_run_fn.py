"""run_fn for real inside TFX's Trainer, and the SavedModel it exports."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from tests import tfx_fixtures
from tests.trainer.conftest import latest, read_summary, run_until_trainers, small_config
from trainer import export, models
from trainer.run import train

pytestmark = pytest.mark.slow


def serving_dir(trainer_dir):
    return os.path.join(latest(os.path.join(trainer_dir, "model", "*")), "Format-Serving")


def test_both_arms_train_and_export(trained_pipeline):
    for arm in ("learnable_resizer", "bilinear_baseline"):
        summary = read_summary(trained_pipeline[f"Trainer_{arm}"])
        assert summary["arm"] == arm
        assert summary["class_names"] == list(tfx_fixtures.CLASS_NAMES)
        assert len(summary["history"]["loss"]) == 1 and np.isfinite(summary["history"]["loss"][0])
        assert summary["train_images_per_second"][0] > 0
        model_dir = serving_dir(trained_pipeline[f"Trainer_{arm}"])
        loaded = tf.saved_model.load(model_dir)
        assert set(loaded.signatures) == {"serving_default", "serving_tf_example", "transform_images"}
        picture = os.path.join(os.path.dirname(model_dir), "resizer_picture.png")
        assert tf.io.decode_png(open(picture, "rb").read()).shape[0] > 3 * 64
        run_dir = latest(os.path.join(trained_pipeline[f"Trainer_{arm}"], "model_run", "*"))
        assert glob.glob(os.path.join(run_dir, "train", "events.out.tfevents.*")), "no TensorBoard logs"


def test_arms_start_from_identical_backbone_weights(trained_pipeline):
    learnable = read_summary(trained_pipeline["Trainer_learnable_resizer"])
    bilinear = read_summary(trained_pipeline["Trainer_bilinear_baseline"])
    assert learnable["initial_backbone_sha256"] == bilinear["initial_backbone_sha256"]
    assert learnable["parameters"] - bilinear["parameters"] == 12_163


def test_true_seed_configuration_trains_one_step(tmp_path):
    """The seed's 300 -> 150 DenseNet-121 learnable arm, one real step in a TFX Trainer."""
    dirs = run_until_trainers(
        str(tmp_path),
        dict(image_size=(300, 300), target_size=(150, 150), batch_size=2, steps_per_epoch=1,
             picture_images=0, seed=3),
        arms=("learnable_resizer",),
        count=6,
    )
    summary = read_summary(dirs["Trainer_learnable_resizer"])
    assert summary["parameters"] == 7_051_717
    assert summary["config"]["image_size"] == [300, 300] and summary["config"]["target_size"] == [150, 150]
    assert summary["images_per_epoch"] == 2 and np.isfinite(summary["history"]["loss"][0])
    loaded = tf.saved_model.load(serving_dir(dirs["Trainer_learnable_resizer"]))
    image = tfx_fixtures.encode(np.full((40, 70, 3), 90, np.uint8))
    out = loaded.signatures["serving_default"](image_bytes=tf.constant([image]))
    assert out["probabilities"].shape == (1, 2)


@pytest.fixture(scope="module")
def exported(trained_pipeline, tmp_path_factory):
    """An in-memory model trained in-process on the pipeline's Transform output, and its export."""
    transform_dir = latest(os.path.join(trained_pipeline["Transform"], "transform_graph", "*"))
    examples = latest(os.path.join(trained_pipeline["ImportExampleGen"], "examples", "*"))
    tf_transform_output = tft.TFTransformOutput(transform_dir)
    config = small_config(str(tmp_path_factory.mktemp("unused"))).training
    model, _ = train(config, [os.path.join(examples, "Split-train", "*")],
                     [os.path.join(examples, "Split-eval", "*")], tf_transform_output)
    export_dir = str(tmp_path_factory.mktemp("export") / "model")
    export.export_serving_model(model, tf_transform_output, config.class_names, export_dir)
    return model, tf.saved_model.load(export_dir)


def _images():
    rng = np.random.default_rng(5)
    return [
        tfx_fixtures.encode(tfx_fixtures.make_image(rng, 0, 120, 90), "jpeg"),
        tfx_fixtures.encode(tfx_fixtures.make_image(rng, 1, 33, 200), "png"),
    ]


def test_bytes_example_and_keras_predictions_agree(exported):
    model, loaded = exported
    images = _images()
    from_bytes = loaded.signatures["serving_default"](image_bytes=tf.constant(images))
    examples = [tfx_fixtures.image_example(b, 0).SerializeToString() for b in images]
    from_examples = loaded.signatures["serving_tf_example"](examples=tf.constant(examples))
    transformed = loaded.signatures["transform_images"](image_bytes=tf.constant(images))["image"]
    from_keras = model(transformed, training=False).numpy()
    np.testing.assert_allclose(from_bytes["probabilities"].numpy(), from_keras, atol=1e-5)
    np.testing.assert_allclose(from_examples["probabilities"].numpy(), from_keras, atol=1e-5)
    assert from_bytes["class_id"].numpy().tolist() == np.argmax(from_keras, -1).tolist()
    names = [tfx_fixtures.CLASS_NAMES[i].encode() for i in np.argmax(from_keras, -1)]
    assert from_bytes["class_name"].numpy().tolist() == names


def test_serving_accepts_tiny_and_mixed_size_batches(exported):
    _, loaded = exported
    serve = loaded.signatures["serving_default"]
    one_pixel = tfx_fixtures.encode(np.full((1, 1, 3), 200, np.uint8), "png")
    out = serve(image_bytes=tf.constant([one_pixel, *_images()]))
    assert out["probabilities"].shape == (3, 2)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, atol=1e-5)
    empty_batch = serve(image_bytes=tf.constant([], tf.string))
    assert empty_batch["probabilities"].shape == (0, 2)


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
        loaded.signatures["serving_default"](image_bytes=tf.constant([payload]))
    # The model keeps serving afterwards.
    ok = loaded.signatures["serving_default"](image_bytes=tf.constant(_images()[:1]))
    assert ok["probabilities"].shape == (1, 2)
