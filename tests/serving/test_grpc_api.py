"""TF Serving's gRPC API (serving/grpc_api.py): the PredictRequest, the PredictResponse, errors of sending."""

import pytest

from serving import grpc_api
from serving.images import RequestError
from serving.predictions import Prediction, ServingError
from tests.serving.helpers import sample_images
from trainer import contract


def test_grpc_request_shape():
    from tensorflow.core.framework import types_pb2

    images = sample_images(2)
    request = grpc_api.build_grpc_request(images, contract.SERVED_MODEL_NAME, model_version=7)
    assert request.model_spec.name == contract.SERVED_MODEL_NAME
    assert request.model_spec.signature_name == contract.SERVING_DEFAULT_SIGNATURE
    assert request.model_spec.version.value == 7
    tensor = request.inputs[contract.IMAGE_BYTES_INPUT]
    assert tensor.dtype == types_pb2.DT_STRING
    assert [d.size for d in tensor.tensor_shape.dim] == [2]
    assert list(tensor.string_val) == images


def test_grpc_request_defaults_and_refusals():
    request = grpc_api.build_grpc_request([b"x"])
    assert request.model_spec.name == contract.SERVED_MODEL_NAME
    assert request.model_spec.signature_name == contract.SERVING_DEFAULT_SIGNATURE
    assert not request.model_spec.HasField("version")  # the server's latest
    assert list(request.inputs) == [contract.IMAGE_BYTES_INPUT]
    with pytest.raises(RequestError, match="model name is empty"):
        grpc_api.build_grpc_request([b"x"], "")


def response_of(outputs):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    response = predict_pb2.PredictResponse()
    for key, value in outputs.items():
        response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
    return response


def test_parse_grpc_response_reads_every_output():
    import numpy as np

    response = response_of({
        contract.PROBABILITIES_OUTPUT: np.array([[0.25, 0.75], [0.9, 0.1]], np.float32),
        contract.CLASS_ID_OUTPUT: np.array([1, 0], np.int64),
        contract.CLASS_NAME_OUTPUT: np.array([b"bright", b"dark"]),
    })
    assert grpc_api.parse_grpc_response(response) == [
        Prediction("bright", 1, 0.75, [0.25, 0.75]),
        Prediction("dark", 0, pytest.approx(0.9), pytest.approx([0.9, 0.1]))]


def test_parse_grpc_response_names_what_is_missing_or_misshapen():
    import numpy as np

    ids, names = np.array([0], np.int64), np.array([b"dark"])
    with pytest.raises(ServingError, match=f"BAD_RESPONSE: response has no '{contract.PROBABILITIES_OUTPUT}' output"):
        grpc_api.parse_grpc_response(response_of({contract.CLASS_ID_OUTPUT: ids, contract.CLASS_NAME_OUTPUT: names}))
    with pytest.raises(ServingError, match=r"probabilities has shape \(2,\), expected \(B, K\)"):
        grpc_api.parse_grpc_response(response_of({
            contract.PROBABILITIES_OUTPUT: np.array([0.5, 0.5], np.float32), contract.CLASS_ID_OUTPUT: ids,
            contract.CLASS_NAME_OUTPUT: names}))


def test_an_unreachable_server_is_named():
    request = grpc_api.build_grpc_request([b"x"], "m")
    with pytest.raises(ServingError, match="UNAVAILABLE|DEADLINE") as info:
        grpc_api.send_grpc("127.0.0.1:9", request, timeout=2)
    if info.value.code == "UNAVAILABLE":
        assert "cannot reach 127.0.0.1:9" in info.value.message
