"""TF Serving's REST API (serving/rest_api.py): bodies built and decoded as the server does, URLs, answers."""

import base64
import json

import pytest

from serving import rest_api
from serving.images import RequestError
from serving.predictions import Prediction, ServingError
from tests.serving.helpers import sample_images
from trainer import contract


def test_rest_bodies_round_trip():
    images = sample_images(2)
    row = rest_api.build_rest_body(images)
    assert row == {"instances": [{"b64": base64.b64encode(i).decode()} for i in images]}
    assert rest_api.decode_rest_body(json.dumps(row)) == {contract.IMAGE_BYTES_INPUT: images}
    col = rest_api.build_rest_body(images, signature_name=contract.SERVING_DEFAULT_SIGNATURE, columnar=True)
    assert col["signature_name"] == contract.SERVING_DEFAULT_SIGNATURE
    assert rest_api.decode_rest_body(col) == {contract.IMAGE_BYTES_INPUT: images}
    named = {"instances": [{contract.IMAGE_BYTES_INPUT: {"b64": base64.b64encode(i).decode()}} for i in images]}
    assert rest_api.decode_rest_body(named) == {contract.IMAGE_BYTES_INPUT: images}


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
    with pytest.raises(RequestError, match=message):
        rest_api.decode_rest_body(body)


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
    with pytest.raises(ServingError, match="HTTP 400.*Unknown image file format") as info:
        rest_api.send_rest("localhost:8501", {"instances": [{"b64": "AAAA"}]}, contract.SERVED_MODEL_NAME, 3,
                         session=session)
    assert info.value.code == "HTTP 400"
    assert session.calls[0][0] == f"http://localhost:8501/v1/models/{contract.SERVED_MODEL_NAME}/versions/3:predict"
    ok = FakeSession(FakeResponse(200, {"predictions": [
        {contract.PROBABILITIES_OUTPUT: [0.25, 0.75], contract.CLASS_ID_OUTPUT: 1,
         contract.CLASS_NAME_OUTPUT: "bright"}]}))
    predictions = rest_api.parse_rest_response(rest_api.send_rest("h:1", {"instances": []}, session=ok))
    assert predictions == [Prediction("bright", 1, 0.75, [0.25, 0.75])]


def test_an_unreachable_server_is_named():
    with pytest.raises(ServingError, match="UNAVAILABLE") as info:
        rest_api.send_rest("127.0.0.1:9", {"instances": [{"b64": "AAAA"}]}, timeout=2)
    assert "cannot reach http://127.0.0.1:9/v1/models/" in info.value.message


def test_rest_url():
    assert rest_api.rest_url("localhost:8501") == (
        f"http://localhost:8501/v1/models/{contract.SERVED_MODEL_NAME}:predict")
    assert rest_api.rest_url("https://serving.example/", "m", 12) == "https://serving.example/v1/models/m/versions/12:predict"


def test_a_plain_string_is_utf8_text_and_columnar_inputs_may_be_a_bare_list():
    assert rest_api.decode_rest_body({"instances": ["héllo"]}) == {contract.IMAGE_BYTES_INPUT: ["héllo".encode()]}
    encoded = base64.b64encode(b"abc").decode()
    assert rest_api.decode_rest_body({"inputs": [{"b64": encoded}]}) == {contract.IMAGE_BYTES_INPUT: [b"abc"]}
    with pytest.raises(RequestError, match="must be a JSON object"):
        rest_api.decode_rest_body("[1, 2]")
    two = ("a", "b")
    with pytest.raises(RequestError, match="instance 0: missing input 'b'"):
        rest_api.decode_rest_body({"instances": [{"a": "x"}]}, input_names=two)
    with pytest.raises(RequestError, match="several inputs; name them"):
        rest_api.decode_rest_body({"instances": ["x"]}, input_names=two)
    with pytest.raises(RequestError, match="missing input 'b'"):
        rest_api.decode_rest_body({"inputs": {"a": ["x"]}}, input_names=two)


def test_parse_rest_response_row_and_columnar_answers():
    rows = {"predictions": [
        {contract.PROBABILITIES_OUTPUT: [0.25, 0.75], contract.CLASS_ID_OUTPUT: 1, contract.CLASS_NAME_OUTPUT: "b"},
        {contract.PROBABILITIES_OUTPUT: [0.5, 0.5], contract.CLASS_ID_OUTPUT: 0, contract.CLASS_NAME_OUTPUT: "a"}]}
    want = [Prediction("b", 1, 0.75, [0.25, 0.75]), Prediction("a", 0, 0.5, [0.5, 0.5])]
    assert rest_api.parse_rest_response(rows) == want
    columns = {"outputs": {contract.PROBABILITIES_OUTPUT: [[0.25, 0.75], [0.5, 0.5]],
                           contract.CLASS_ID_OUTPUT: [1, 0], contract.CLASS_NAME_OUTPUT: ["b", "a"]}}
    assert rest_api.parse_rest_response(columns) == want
    with pytest.raises(ServingError, match="server error ERROR: Servable not found"):
        rest_api.parse_rest_response({"error": "Servable not found"})
    with pytest.raises(ServingError, match="BAD_RESPONSE: unexpected response"):
        rest_api.parse_rest_response({"something": 1})


def test_a_server_answer_that_is_not_json_keeps_its_text():
    class TextResponse:
        status_code, text = 503, "Service Unavailable"

        def json(self):
            raise ValueError("not JSON")

    session = FakeSession(TextResponse())
    with pytest.raises(ServingError, match="HTTP 503: Service Unavailable"):
        rest_api.send_rest("h:1", {"instances": [{"b64": "AAAA"}]}, session=session)
