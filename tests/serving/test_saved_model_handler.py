"""The SavedModel behind Beam's RunInference (serving/saved_model_handler.py), on a tiny stand-in model.

The stand-in has the served model's ``serving_default`` contract (encoded images in; probabilities,
class_id, class_name out; its class names a string constant) and decodes with ``tf.io.decode_image``,
so undecodable bytes fail its batch as the real model's do.  Which version directory is used is tested in
tests/serving/test_batch_inference.py.
"""

import os

import pytest

from serving import saved_model_handler as handler
from serving.predictions import Prediction
from tests.serving.helpers import sample_images
from trainer import contract

CLASS_NAMES = ("dark", "bright")


def tiny_module():
    import tensorflow as tf

    class Tiny(tf.Module):
        """Class 1 ("bright") with the probability of the image's mean brightness."""

        def __init__(self):
            super().__init__()
            self.class_names = tf.constant(list(CLASS_NAMES))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.IMAGE_BYTES_INPUT)])
        def serve(self, image_bytes):
            def brightness(data):
                image = tf.io.decode_image(data, channels=3, expand_animations=False)
                return tf.reduce_mean(tf.cast(image, tf.float32)) / 255.0

            bright = tf.map_fn(brightness, image_bytes, fn_output_signature=tf.float32)
            probabilities = tf.stack([1.0 - bright, bright], axis=1)
            class_id = tf.argmax(probabilities, axis=-1)
            return {contract.PROBABILITIES_OUTPUT: probabilities, contract.CLASS_ID_OUTPUT: class_id,
                    contract.CLASS_NAME_OUTPUT: tf.gather(self.class_names, class_id)}

    return Tiny()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import tensorflow as tf

    module = tiny_module()
    version_dir = str(tmp_path_factory.mktemp("tiny") / "1")
    tf.saved_model.save(module, version_dir, signatures={
        contract.SERVING_DEFAULT_SIGNATURE: module.serve.get_concrete_function()})
    return version_dir


def expected(image):
    """(class id, brightness) of one image, computed on its own (outside any batch)."""
    import tensorflow as tf

    pixels = tf.io.decode_image(image, channels=3, expand_animations=False).numpy().astype("float64")
    bright = float(pixels.mean() / 255.0)
    return 1 if bright > 1.0 - bright else 0, bright


def test_read_model_info_reads_the_class_names_from_the_model(tiny_model):
    info = handler.read_model_info(tiny_model)
    assert info == handler.ModelInfo(tiny_model, CLASS_NAMES)


def test_a_directory_that_is_no_savedmodel_or_has_another_signature_is_named(tmp_path):
    import tensorflow as tf

    with pytest.raises(handler.ModelDirError, match=f"cannot load the SavedModel in {tmp_path}"):
        handler.read_model_info(str(tmp_path))

    class Other(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x):
            return {contract.PROBABILITIES_OUTPUT: tf.stack([x, 1 - x], axis=1)}

    module, saved = Other(), str(tmp_path / "other")
    tf.saved_model.save(module, saved, signatures={contract.SERVING_DEFAULT_SIGNATURE: module.serve})
    with pytest.raises(handler.ModelDirError, match=f"{saved}: its 'serving_default' signature does not take "
                                                     f"'{contract.IMAGE_BYTES_INPUT}'"):
        handler.read_model_info(saved)


def test_predict_images_gives_one_prediction_per_image(tiny_model):
    import tensorflow as tf

    signature = tf.saved_model.load(tiny_model).signatures[contract.SERVING_DEFAULT_SIGNATURE]
    images = sample_images(3)
    out = handler.predict_images(signature, images)
    assert [type(p) for p in out] == [Prediction] * 3
    for prediction, image in zip(out, images):
        class_id, bright = expected(image)
        assert prediction.class_id == class_id and prediction.class_name == CLASS_NAMES[class_id]
        assert prediction.probabilities == pytest.approx([1.0 - bright, bright], abs=1e-5)


def test_an_undecodable_image_is_rejected_and_the_rest_of_its_batch_classified(tiny_model):
    import tensorflow as tf

    signature = tf.saved_model.load(tiny_model).signatures[contract.SERVING_DEFAULT_SIGNATURE]
    good = sample_images(2)
    out = handler.predict_images(signature, [good[0], b"not an image", good[1]])
    assert isinstance(out[1], handler.Rejection) and out[1].detail
    assert "\n" not in out[1].detail and len(out[1].detail) <= 200
    assert [p.class_id for p in (out[0], out[2])] == [expected(good[0])[0], expected(good[1])[0]]


def test_the_handler_loads_the_model_and_batches_exactly(tiny_model):
    model_handler = handler.ServingModelHandler(tiny_model, batch_size=4)
    assert model_handler.batch_elements_kwargs() == {"min_batch_size": 4, "max_batch_size": 4}
    assert model_handler.get_metrics_namespace() == handler.METRICS_NAMESPACE
    images = sample_images(2)
    assert model_handler.get_num_bytes(images) == sum(len(i) for i in images)
    out = model_handler.run_inference(images, model_handler.load_model())
    assert [p.class_id for p in out] == [expected(i)[0] for i in images]


def test_local_paths_are_made_absolute_and_urls_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert handler.absolute("models/m") == os.path.join(str(tmp_path), "models", "m")
    assert handler.absolute("gs://bucket/m") == "gs://bucket/m"
