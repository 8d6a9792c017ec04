"""The serving SavedModel (trainer/export.py): its three signatures, their outputs, and refused inputs.

Uses the session's ``serving_model`` fixture (tests/conftest.py): ``export_serving_model`` of an untrained small
classifier behind the real Transform graph.  The seed's DenseNet-121 export is tested in
tests/trainer/test_run.py.
"""

import os

import numpy as np
import pytest

from components import synthetic_examples
from tests.serving.helpers import SMALL, sample_images
from trainer import contract


def call_signature(loaded, images, signature=contract.SERVING_DEFAULT_SIGNATURE):
    import tensorflow as tf

    out = loaded.signatures[signature](**{contract.IMAGE_BYTES_INPUT: tf.constant(images, dtype=tf.string)})
    return {k: v.numpy() for k, v in out.items()}


def test_the_three_signatures_and_their_inputs(serving_model):
    import tensorflow as tf

    export_dir, loaded, _ = serving_model
    assert os.path.isfile(os.path.join(export_dir, contract.SAVED_MODEL_FILE))
    assert set(loaded.signatures) == {contract.SERVING_DEFAULT_SIGNATURE, contract.SERVING_TF_EXAMPLE_SIGNATURE,
                                      contract.TRANSFORM_IMAGES_SIGNATURE}
    for name, key in ((contract.SERVING_DEFAULT_SIGNATURE, contract.IMAGE_BYTES_INPUT),
                      (contract.SERVING_TF_EXAMPLE_SIGNATURE, contract.EXAMPLES_INPUT),
                      (contract.TRANSFORM_IMAGES_SIGNATURE, contract.IMAGE_BYTES_INPUT)):
        [spec] = loaded.signatures[name].structured_input_signature[1].values()
        assert spec.name == key and spec.dtype == tf.string and spec.shape.as_list() == [None]


def test_signature_outputs(serving_model):
    _, loaded, config = serving_model
    out = call_signature(loaded, sample_images(3))
    assert out[contract.PROBABILITIES_OUTPUT].shape == (3, 2) and out[contract.PROBABILITIES_OUTPUT].dtype == np.float32
    np.testing.assert_allclose(out[contract.PROBABILITIES_OUTPUT].sum(axis=1), 1.0, rtol=1e-5)
    assert set(out[contract.CLASS_NAME_OUTPUT].tolist()) <= {n.encode() for n in config.class_names}
    # class_id is the most probable class and class_name its name.
    np.testing.assert_array_equal(out[contract.CLASS_ID_OUTPUT], out[contract.PROBABILITIES_OUTPUT].argmax(axis=1))
    assert out[contract.CLASS_NAME_OUTPUT].tolist() == [
        config.class_names[i].encode() for i in out[contract.CLASS_ID_OUTPUT]]


@pytest.mark.parametrize("bad", [b"", b"definitely not an image", b"\xff\xd8\xff\xe0 truncated jpeg"])
def test_model_rejects_corrupt_bytes_with_invalid_argument(serving_model, bad):
    import tensorflow as tf

    _, loaded, _ = serving_model
    with pytest.raises(tf.errors.InvalidArgumentError):
        call_signature(loaded, [sample_images(1)[0], bad])


def test_tf_examples_get_the_same_answers_as_their_images(serving_model):
    import tensorflow as tf

    _, loaded, _ = serving_model
    images = sample_images(3)
    examples = [synthetic_examples.image_example(data, i % 2, "png" if data.startswith(b"\x89PNG") else "jpeg")
                .SerializeToString() for i, data in enumerate(images)]
    from_examples = loaded.signatures[contract.SERVING_TF_EXAMPLE_SIGNATURE](
        **{contract.EXAMPLES_INPUT: tf.constant(examples)})
    from_images = call_signature(loaded, images)
    assert set(from_examples) == set(from_images)
    np.testing.assert_allclose(from_examples[contract.PROBABILITIES_OUTPUT].numpy(),
                               from_images[contract.PROBABILITIES_OUTPUT], rtol=1e-5, atol=1e-6)
    for key in (contract.CLASS_ID_OUTPUT, contract.CLASS_NAME_OUTPUT):
        np.testing.assert_array_equal(from_examples[key].numpy(), from_images[key])


def test_transform_images_is_the_transform_graph_alone(serving_model):
    _, loaded, _ = serving_model
    out = call_signature(loaded, sample_images(2), contract.TRANSFORM_IMAGES_SIGNATURE)
    assert list(out) == [contract.TRANSFORMED_IMAGE_KEY]
    image = out[contract.TRANSFORMED_IMAGE_KEY]
    assert image.shape == (2, *SMALL["image_size"], 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 255.0


def test_an_empty_batch_answers_empty_outputs(serving_model):
    _, loaded, _ = serving_model
    out = call_signature(loaded, [])
    assert out[contract.PROBABILITIES_OUTPUT].shape == (0, 2)
    assert out[contract.CLASS_ID_OUTPUT].shape == (0,) and out[contract.CLASS_NAME_OUTPUT].shape == (0,)


def test_the_saved_model_holds_the_signatures_and_no_keras_object(serving_model):
    # A Keras object or a module-level tf.function in the SavedModel is traced again at export and restored by every
    # loader (TF Serving, the Evaluator, the comparison): seconds each with DenseNet-121.
    from tensorflow.core.protobuf import saved_model_pb2

    export_dir, _, _ = serving_model
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, contract.SAVED_MODEL_FILE), "rb") as f:
        saved.ParseFromString(f.read())
    nodes = saved.meta_graphs[0].object_graph_def.nodes
    identifiers = {node.user_object.identifier for node in nodes if node.WhichOneof("kind") == "user_object"}
    assert not {i for i in identifiers if "keras" in i}, identifiers
    assert not [node for node in nodes if node.WhichOneof("kind") == "function"]
    signatures = {name for name in saved.meta_graphs[0].signature_def if not name.startswith("__")}  # TF's init op
    assert signatures == {contract.SERVING_DEFAULT_SIGNATURE, contract.SERVING_TF_EXAMPLE_SIGNATURE,
                          contract.TRANSFORM_IMAGES_SIGNATURE}


def test_a_graph_loader_restores_what_the_signatures_read(serving_model):
    # TF Serving's C++ loader imports the graph, runs its saver's restore op and the init op, then feeds the
    # signature's tensors by name; tf.compat.v1's loader does the same. Keras 3 exports each of its variables as a
    # second copy that the checkpoint restores while the signatures read the first: such a model loads with
    # tf.saved_model.load and fails in a server with "Could not find variable ...".
    from serving.servability import GraphModel

    export_dir, loaded, _ = serving_model
    images = sample_images(3)
    expected = call_signature(loaded, images)
    got = GraphModel(export_dir).run(contract.SERVING_DEFAULT_SIGNATURE, {contract.IMAGE_BYTES_INPUT: images})
    np.testing.assert_allclose(got[contract.PROBABILITIES_OUTPUT], expected[contract.PROBABILITIES_OUTPUT], rtol=1e-6)
    np.testing.assert_array_equal(got[contract.CLASS_NAME_OUTPUT], expected[contract.CLASS_NAME_OUTPUT])
