"""The client (serving/client.py): its requests against the exported serving model, and its ``predict`` command.

Uses a train-free SavedModel (tests/conftest.py): the real Transform
graph and export code around an untrained small classifier, in the Pusher's
``<serving>/<name>/<version>/`` layout.  A small in-process gRPC
PredictionService and a REST ``:predict`` handler stand in for TF Serving
(no TF Serving binary here): they convert requests to tensors as TF Serving
does (``tf.make_ndarray`` on the TensorProto; ``{"b64": ...}`` -> bytes, row
format -> one batch) and call the same signature.  The model tests are slow (the fixture builds and exports
the model once per session); the command's own checks are fast.
"""

import argparse
import io
import json
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from serving import client
from tests.serving.helpers import sample_images, write_files
from trainer import contract


def call_signature(loaded, images, signature=contract.SERVING_DEFAULT_SIGNATURE):
    import tensorflow as tf

    out = loaded.signatures[signature](**{contract.IMAGE_BYTES_INPUT: tf.constant(images, dtype=tf.string)})
    return {k: v.numpy() for k, v in out.items()}


def assert_same(got, want):
    np.testing.assert_allclose(got[contract.PROBABILITIES_OUTPUT], want[contract.PROBABILITIES_OUTPUT],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[contract.CLASS_ID_OUTPUT], want[contract.CLASS_ID_OUTPUT])
    np.testing.assert_array_equal(got[contract.CLASS_NAME_OUTPUT], want[contract.CLASS_NAME_OUTPUT])


@pytest.mark.slow
def test_grpc_request_gives_the_signature_predictions(serving_model):
    import tensorflow as tf

    _, loaded, _ = serving_model
    images = sample_images(4)
    request = client.build_grpc_request(images, contract.SERVED_MODEL_NAME)
    served = loaded.signatures[request.model_spec.signature_name](
        **{key: tf.constant(tf.make_ndarray(proto)) for key, proto in request.inputs.items()})
    assert_same({k: v.numpy() for k, v in served.items()}, call_signature(loaded, images))


@pytest.mark.slow
def test_rest_body_gives_the_signature_predictions(serving_model):
    _, loaded, _ = serving_model
    images = sample_images(3)
    columnar = client.build_rest_body(images, contract.SERVING_DEFAULT_SIGNATURE, columnar=True)
    for body in (client.build_rest_body(images), columnar):
        decoded = client.decode_rest_body(json.loads(json.dumps(body)))
        assert_same(call_signature(loaded, decoded[contract.IMAGE_BYTES_INPUT]), call_signature(loaded, images))


# --- a stand-in TF Serving ----------------------------------------------------------------------

def _outputs_to_rows(out):
    keys = (contract.PROBABILITIES_OUTPUT, contract.CLASS_ID_OUTPUT, contract.CLASS_NAME_OUTPUT)
    return [dict(zip(keys, (p.tolist(), int(c), n.decode()))) for p, c, n in zip(*(out[key] for key in keys))]


@pytest.fixture(scope="module")
def fake_servers(serving_model):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    _, loaded, _ = serving_model

    class Service(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802
            if request.model_spec.name != contract.SERVED_MODEL_NAME:
                context.abort(grpc.StatusCode.NOT_FOUND,
                              f"Servable not found for request: Latest({request.model_spec.name})")
            if request.model_spec.signature_name not in loaded.signatures:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                              f"Serving signature name: \"{request.model_spec.signature_name}\" not found")
            try:
                inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
                out = loaded.signatures[request.model_spec.signature_name](**inputs)
            except tf.errors.InvalidArgumentError as error:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)
            response = predict_pb2.PredictResponse()
            for key, value in out.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
            return response

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            try:
                if not self.path.startswith(f"/v1/models/{contract.SERVED_MODEL_NAME}"):
                    raise LookupError("Servable not found")
                images = client.decode_rest_body(self.rfile.read(length))[contract.IMAGE_BYTES_INPUT]
                payload, status = {"predictions": _outputs_to_rows(call_signature(loaded, images))}, 200
            except LookupError as error:
                payload, status = {"error": str(error)}, 404
            except (client.RequestError, tf.errors.InvalidArgumentError) as error:
                payload, status = {"error": getattr(error, "message", str(error))}, 400
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Service(), grpc_server)
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{grpc_port}", f"127.0.0.1:{http.server_address[1]}", loaded
    http.shutdown()
    grpc_server.stop(0)


@pytest.mark.slow
def test_grpc_and_rest_end_to_end(fake_servers):
    grpc_address, rest_address, loaded = fake_servers
    images = sample_images(3)
    want = _outputs_to_rows(call_signature(loaded, images))
    for predictions in (
        client.parse_grpc_response(client.send_grpc(grpc_address, client.build_grpc_request(images))),
        client.parse_rest_response(client.send_rest(rest_address, client.build_rest_body(images))),
    ):
        assert [p.class_name for p in predictions] == [w[contract.CLASS_NAME_OUTPUT] for w in want]
        assert [p.class_id for p in predictions] == [w[contract.CLASS_ID_OUTPUT] for w in want]
        np.testing.assert_allclose([p.probabilities for p in predictions],
                                   [w[contract.PROBABILITIES_OUTPUT] for w in want], rtol=1e-5)


@pytest.mark.slow
def test_server_errors_carry_the_servers_message(fake_servers):
    grpc_address, rest_address, _ = fake_servers
    bad = [b"definitely not an image"]
    with pytest.raises(client.ServingError, match="INVALID_ARGUMENT") as info:
        client.send_grpc(grpc_address, client.build_grpc_request(bad))
    assert info.value.code == "INVALID_ARGUMENT" and info.value.message
    with pytest.raises(client.ServingError, match="NOT_FOUND.*Servable not found"):
        client.send_grpc(grpc_address, client.build_grpc_request(sample_images(1), "other_model"))
    with pytest.raises(client.ServingError, match="FAILED_PRECONDITION"):
        client.send_grpc(grpc_address, client.build_grpc_request(sample_images(1), signature_name="nope"))
    with pytest.raises(client.ServingError, match="HTTP 400") as info:
        client.send_rest(rest_address, client.build_rest_body(bad))
    assert info.value.message
    with pytest.raises(client.ServingError, match="HTTP 400.*base64"):
        client.send_rest(rest_address, {"instances": [{"b64": "%%%"}]})


@pytest.mark.slow
@pytest.mark.parametrize("rest", [False, True])
def test_predict_command(fake_servers, tmp_path, rest):
    grpc_address, rest_address, loaded = fake_servers
    images = sample_images(2)
    paths = write_files(str(tmp_path), images)
    want = _outputs_to_rows(call_signature(loaded, images))
    parser = client.add_predict_arguments(argparse.ArgumentParser())
    argv = ["--server", rest_address if rest else grpc_address] + (["--rest"] if rest else []) + paths
    out, err = io.StringIO(), io.StringIO()
    assert client.predict_command(parser.parse_args(argv), out, err) == 0, err.getvalue()
    lines = [line.split("\t") for line in out.getvalue().splitlines()]
    assert [line[0] for line in lines] == paths
    assert [line[1] for line in lines] == [w[contract.CLASS_NAME_OUTPUT] for w in want]
    assert [float(line[2]) for line in lines] == pytest.approx(
        [w[contract.PROBABILITIES_OUTPUT][w[contract.CLASS_ID_OUTPUT]] for w in want], abs=1e-4)
    # A server-side failure: exit status 1 and the server's message.
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"definitely not an image")
    argv = argv[: 3 if rest else 2] + ["--no-validate", str(corrupt)]
    err = io.StringIO()
    assert client.predict_command(parser.parse_args(argv), io.StringIO(), err) == 1
    assert "server error" in err.getvalue()


def test_predict_command_bad_request_exit_code(tmp_path):
    parser = client.add_predict_arguments(argparse.ArgumentParser())
    out, err = io.StringIO(), io.StringIO()
    args = parser.parse_args(["--server", "localhost:8500", str(tmp_path / "nope.jpg")])
    assert client.predict_command(args, out, err) == 2
    assert "bad request" in err.getvalue() and "no such file" in err.getvalue()
    args = parser.parse_args(["--server", "localhost:8500"])
    assert client.predict_command(args, out, err) == 2
    assert "no image files" in err.getvalue()
