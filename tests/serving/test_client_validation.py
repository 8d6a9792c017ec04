"""Client-side checks that need no model: files, batches, REST bodies, server errors."""

import argparse
import base64
import io
import json

import pytest
from PIL import Image

from serving import client
from tests.serving.helpers import sample_images, write_files
from trainer import contract


def test_load_images_reads_valid_files(tmp_path):
    images = sample_images(3)
    assert client.load_images(write_files(str(tmp_path), images)) == images


@pytest.mark.parametrize("make, message", [
    (lambda d: [], "no image files"),
    (lambda d: [str(d / "missing.jpg")], "no such file"),
    (lambda d: [str(d)], "is a directory"),
])
def test_load_images_bad_paths(tmp_path, make, message):
    with pytest.raises(client.RequestError, match=message):
        client.load_images(make(tmp_path))


def test_empty_corrupt_truncated_unsupported_and_oversized(tmp_path):
    good = sample_images(1)[0]
    cases = {
        "empty.jpg": (b"", "empty"),
        "text.jpg": (b"this is not an image at all", "not an image"),
        "truncated.jpg": (good[: len(good) // 3], "corrupt|not an image"),
    }
    tiff = io.BytesIO()
    Image.new("RGB", (8, 8)).save(tiff, format="TIFF")
    cases["image.tiff"] = (tiff.getvalue(), "TIFF is not a format the model decodes")
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(client.RequestError, match=message):
            client.load_images([str(path)])
    path = tmp_path / "big.jpg"
    path.write_bytes(good)
    with pytest.raises(client.RequestError, match="more than the limit of 100 bytes"):
        client.load_images([str(path)], max_bytes=100)
    # Without validation, corrupt bytes go through (the server answers INVALID_ARGUMENT).
    (tmp_path / "text.jpg").write_bytes(b"not an image")
    assert client.load_images([str(tmp_path / "text.jpg")], validate=False) == [b"not an image"]


def test_empty_batch_is_refused():
    for build in (client.build_rest_body, lambda images: client.build_grpc_request(images, "m")):
        with pytest.raises(client.RequestError, match="empty batch"):
            build([])
        with pytest.raises(client.RequestError, match="non-empty bytes"):
            build([b""])


def test_grpc_request_shape():
    from tensorflow.core.framework import types_pb2

    images = sample_images(2)
    request = client.build_grpc_request(images, contract.SERVED_MODEL_NAME, model_version=7)
    assert request.model_spec.name == contract.SERVED_MODEL_NAME
    assert request.model_spec.signature_name == contract.SERVING_DEFAULT_SIGNATURE
    assert request.model_spec.version.value == 7
    tensor = request.inputs[contract.IMAGE_BYTES_INPUT]
    assert tensor.dtype == types_pb2.DT_STRING
    assert [d.size for d in tensor.tensor_shape.dim] == [2]
    assert list(tensor.string_val) == images


def test_rest_bodies_round_trip():
    images = sample_images(2)
    row = client.build_rest_body(images)
    assert row == {"instances": [{"b64": base64.b64encode(i).decode()} for i in images]}
    assert client.decode_rest_body(json.dumps(row)) == {contract.IMAGE_BYTES_INPUT: images}
    col = client.build_rest_body(images, signature_name=contract.SERVING_DEFAULT_SIGNATURE, columnar=True)
    assert col["signature_name"] == contract.SERVING_DEFAULT_SIGNATURE
    assert client.decode_rest_body(col) == {contract.IMAGE_BYTES_INPUT: images}
    named = {"instances": [{contract.IMAGE_BYTES_INPUT: {"b64": base64.b64encode(i).decode()}} for i in images]}
    assert client.decode_rest_body(named) == {contract.IMAGE_BYTES_INPUT: images}


@pytest.mark.parametrize("body, message", [
    ({}, "exactly one of"),
    ({"instances": [], "inputs": {}}, "exactly one of"),
    ({"instances": []}, "empty batch"),
    ({"inputs": {contract.IMAGE_BYTES_INPUT: []}}, "empty batch"),
    ({"instances": [{"image": {"b64": "AAAA"}}]}, "unknown input 'image'"),
    ({"inputs": {"images": [{"b64": "AAAA"}]}}, "unknown input 'images'"),
    ({"instances": [{"b64": "not base64!!"}]}, "not valid base64"),
    ({"instances": [42]}, "expected"),
    ("{not json", "not JSON"),
])
def test_bad_rest_bodies(body, message):
    with pytest.raises(client.RequestError, match=message):
        client.decode_rest_body(body)


class FakeResponse:
    def __init__(self, status, payload):
        self.status_code, self._payload = status, payload
        self.text = json.dumps(payload)

    def json(self):
        return self._payload


class FakeSession:
    def __init__(self, response):
        self.response, self.calls = response, []

    def post(self, url, json=None, timeout=None):
        self.calls.append((url, json))
        return self.response


def test_send_rest_url_and_server_error_message():
    error = "Unknown image file format. One of JPEG, PNG, GIF, BMP required."
    session = FakeSession(FakeResponse(400, {"error": error}))
    with pytest.raises(client.ServingError, match="HTTP 400.*Unknown image file format") as info:
        client.send_rest("localhost:8501", {"instances": [{"b64": "AAAA"}]}, contract.SERVED_MODEL_NAME, 3,
                         session=session)
    assert info.value.code == "HTTP 400"
    assert session.calls[0][0] == f"http://localhost:8501/v1/models/{contract.SERVED_MODEL_NAME}/versions/3:predict"
    ok = FakeSession(FakeResponse(200, {"predictions": [
        {contract.PROBABILITIES_OUTPUT: [0.25, 0.75], contract.CLASS_ID_OUTPUT: 1,
         contract.CLASS_NAME_OUTPUT: "bright"}]}))
    predictions = client.parse_rest_response(client.send_rest("h:1", {"instances": []}, session=ok))
    assert predictions == [client.Prediction("bright", 1, 0.75, [0.25, 0.75])]


def test_unreachable_servers_give_clear_errors():
    with pytest.raises(client.ServingError, match="UNAVAILABLE"):
        client.send_rest("127.0.0.1:9", {"instances": [{"b64": "AAAA"}]}, timeout=2)
    request = client.build_grpc_request([b"x"], "m")
    with pytest.raises(client.ServingError, match="UNAVAILABLE|DEADLINE"):
        client.send_grpc("127.0.0.1:9", request, timeout=2)


def test_predict_command_bad_request_exit_code(tmp_path):
    parser = client.add_predict_arguments(argparse.ArgumentParser())
    out, err = io.StringIO(), io.StringIO()
    args = parser.parse_args(["--server", "localhost:8500", str(tmp_path / "nope.jpg")])
    assert client.predict_command(args, out, err) == 2
    assert "bad request" in err.getvalue() and "no such file" in err.getvalue()
    args = parser.parse_args(["--server", "localhost:8500"])
    assert client.predict_command(args, out, err) == 2
    assert "no image files" in err.getvalue()


def test_models_config(tmp_path):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    from serving import models_config

    serving = tmp_path / "serving"
    for version in (1700000000, 1700000500):
        (serving / contract.SERVED_MODEL_NAME / str(version)).mkdir(parents=True)
        (serving / contract.SERVED_MODEL_NAME / str(version) / "saved_model.pb").write_bytes(b"")
    (serving / contract.SERVED_MODEL_NAME / "tmp-123").mkdir()  # not a version
    (serving / "empty_model").mkdir()
    path = models_config.write_models_config(str(serving), base_path_prefix="/models")
    parsed = text_format.Parse(open(path).read(), model_server_config_pb2.ModelServerConfig())
    [entry] = parsed.model_config_list.config
    assert (entry.name, entry.base_path, entry.model_platform) == (
        contract.SERVED_MODEL_NAME, f"/models/{contract.SERVED_MODEL_NAME}", "tensorflow")
    assert entry.model_version_policy.latest.num_versions == 1
    pinned = models_config.write_models_config(str(serving), str(tmp_path / "p.config"), pin_versions=True)
    parsed = text_format.Parse(open(pinned).read(), model_server_config_pb2.ModelServerConfig())
    assert parsed.model_config_list.config[0].base_path == str(serving / contract.SERVED_MODEL_NAME)
    assert list(parsed.model_config_list.config[0].model_version_policy.specific.versions) == [1700000000, 1700000500]
    with pytest.raises(models_config.ModelsConfigError, match="no pushed SavedModel"):
        models_config.write_models_config(str(serving), model_names=["other"])
    with pytest.raises(models_config.ModelsConfigError, match="does not exist"):
        models_config.write_models_config(str(tmp_path / "nowhere"))
