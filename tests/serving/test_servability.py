"""The servability check: a fresh process serves the SavedModel; the client's requests; warm-up records."""

import os
import shutil

import pytest

from components import synthetic_examples
from serving import servability
from tests.serving.helpers import sample_images
from trainer import contract


def examples_of(images):
    return [synthetic_examples.image_example(data, i % 2, "png" if data.startswith(b"\x89PNG") else "jpeg")
            .SerializeToString() for i, data in enumerate(images)]


@pytest.fixture(scope="module")
def warm_model(serving_model, tmp_path_factory):
    """A copy of the small serving model with its warm-up file, and the requests it was built from."""
    export_dir, _, _ = serving_model
    version_dir = str(tmp_path_factory.mktemp("warm") / "1700000000")
    shutil.copytree(export_dir, version_dir)
    images = sample_images(3)
    requests = servability.build_requests(images, examples_of(images))
    servability.write_warmup_file(version_dir, servability.warmup_records(requests))
    return version_dir, images


def test_blesses_a_good_model_and_replays_its_warmup_records(warm_model):
    version_dir, images = warm_model
    result = servability.check_servability(version_dir, images, examples_of(images), timeout_s=300)
    assert result.blessed, result.reason
    # batch 1 and batch 3 of serving_default, and the tf.Example request.
    assert result.warmup_records == 3
    assert result.num_classes == len(synthetic_examples.CLASS_NAMES)
    assert "warm-up" in result.reason and "3 image(s)" in result.reason


def test_warmup_records_parse_as_prediction_logs_and_are_answered(warm_model):
    import numpy as np
    import tensorflow as tf

    version_dir, images = warm_model
    loaded = servability.GraphModel(version_dir)
    path = os.path.join(version_dir, "assets.extra", "tf_serving_warmup_requests")
    assert os.path.getsize(path) > 0
    records = servability.read_warmup_file(version_dir)
    assert [r.WhichOneof("log_type") for r in records] == ["predict_log"] * 3
    signatures = [r.predict_log.request.model_spec.signature_name for r in records]
    assert signatures == [contract.SERVING_DEFAULT_SIGNATURE, contract.SERVING_DEFAULT_SIGNATURE,
                          contract.SERVING_TF_EXAMPLE_SIGNATURE]
    sizes = []
    for record in records:
        response = servability.answer_predict(loaded, record.predict_log.request)
        probabilities = tf.make_ndarray(response.outputs[contract.PROBABILITIES_OUTPUT])
        np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)
        sizes.append(probabilities.shape[0])
    assert sizes == [1, len(images), len(images)]
    # The first image of the batch-1 record is the first image the client sent.
    assert records[0].predict_log.request.inputs[contract.IMAGE_BYTES_INPUT].string_val[0] == images[0]


def test_refuses_a_model_whose_signatures_read_variables_the_graphs_saver_does_not_restore(
        transform_graph, tmp_path, monkeypatch):
    # Keras 3 exports each variable wrapper a module tracks as a second tf.Variable, which the checkpoint restores
    # while the signatures read the first: tf.saved_model.load answers, a model server does not. The export
    # tracks the tf.Variables under the wrappers; tracking the wrappers again makes such a model.
    import tensorflow as tf
    import tensorflow_transform as tft

    from trainer import backbones, export, models

    graph, training = transform_graph
    config = training.for_arm(contract.LEARNABLE_RESIZER_ARM)
    model = models.build_classifier(config, backbones.build_backbone(config))
    monkeypatch.setattr(export, "_tf_variable", lambda variable: variable)
    version_dir = str(tmp_path / contract.SERVED_MODEL_NAME / "1700000000")
    export.export_serving_model(model, tft.TFTransformOutput(graph), config.class_names, version_dir)
    images = sample_images(2)
    assert tf.saved_model.load(version_dir).signatures[contract.SERVING_DEFAULT_SIGNATURE](
        **{contract.IMAGE_BYTES_INPUT: tf.constant(images)})[contract.PROBABILITIES_OUTPUT].shape[0] == 2

    # With the warm-up records the pipeline writes, TF Serving refuses the version at load.
    servability.write_warmup_file(version_dir, servability.warmup_records(
        servability.build_requests(images, examples_of(images))))

    result = servability.check_servability(version_dir, images, examples_of(images), timeout_s=300)
    assert not result.blessed
    assert result.reason.startswith("does not load as TF Serving's loader does: ServabilityError: warm-up record 0 "
                                    "fails:"), result.reason
    assert "Could not find variable" in result.reason, result.reason


def test_refuses_a_model_whose_warmup_record_fails(serving_model, tmp_path):
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    export_dir, _, _ = serving_model
    version_dir = str(tmp_path / "1700000000")
    shutil.copytree(export_dir, version_dir)
    bad = predict_pb2.PredictRequest()
    bad.model_spec.signature_name = "no_such_signature"
    servability.write_warmup_file(version_dir, [prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=bad))])
    images = sample_images(1)
    result = servability.check_servability(version_dir, images, examples_of(images), timeout_s=300)
    assert not result.blessed
    assert "warm-up record 0 fails" in result.reason and "no_such_signature" in result.reason


def test_a_directory_without_a_saved_model_is_refused_with_its_path(tmp_path):
    images = sample_images(1)
    result = servability.check_servability(str(tmp_path), images, examples_of(images), timeout_s=300)
    assert not result.blessed and str(tmp_path) in result.reason and "saved_model.pb" in result.reason


def test_client_checks_catch_probabilities_that_do_not_sum_to_one():
    from serving.predictions import Prediction

    good = Prediction("cat", 0, 0.7, [0.7, 0.3])
    servability.check_predictions([good], 1, 2, "REST")
    with pytest.raises(servability.ServabilityError, match=r"REST: row 0's probabilities .* sum to 1\.2"):
        servability.check_predictions([Prediction("cat", 0, 0.7, [0.7, 0.5])], 1, 2, "REST")
    with pytest.raises(servability.ServabilityError, match="2 predictions for 1 images"):
        servability.check_predictions([good, good], 1, 2, "gRPC")
    with pytest.raises(servability.ServabilityError, match="not its most probable class 1"):
        servability.check_predictions([Prediction("cat", 0, 0.3, [0.3, 0.7])], 1, 2, "gRPC")
