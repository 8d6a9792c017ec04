"""A client for the served model: build requests, send them, read the answers.

The model's ``serving_default`` signature takes ``image_bytes``: string (B,),
encoded JPEG/PNG/GIF/BMP of any size, and returns ``probabilities`` float32
(B, K), ``class_id`` int64 (B,) and ``class_name`` string (B,)
(``trainer/export.py``).

Building is separate from sending, so requests can be checked without a server:

* :func:`build_grpc_request` -> ``tensorflow.serving.PredictRequest`` for
  ``PredictionService/Predict`` (port 8500); :func:`send_grpc` sends it.
* :func:`build_rest_body` -> the JSON body for REST
  ``POST /v1/models/<name>:predict`` (port 8501): row format
  ``{"instances": [{"b64": ...}, ...]}`` or columnar
  ``{"signature_name": ..., "inputs": {"image_bytes": [{"b64": ...}]}}``;
  :func:`send_rest` sends it.

Local validation (:func:`load_images`): a request is one batch, and the
server fails the *whole* batch with INVALID_ARGUMENT if any one image cannot
be decoded.  So by default each file is checked before anything is sent:
it exists, is not empty, is at most ``max_bytes`` (default 20 MiB, TF
Serving's and gRPC's message limits are per request), and Pillow recognises
it as one of the formats the model decodes (JPEG, PNG, GIF, BMP) and can
verify and fully decode it.  ``validate=False`` (CLI ``--no-validate``) sends the bytes as
they are and leaves the check to the server (the model's own
``InvalidArgumentError``).
"""

import argparse
import base64
import binascii
import dataclasses
import json
import os
import sys
from typing import Dict, List, Optional, Sequence

INPUT_KEY = "image_bytes"
SIGNATURE_NAME = "serving_default"
DEFAULT_MODEL_NAME = "learnable_resizer"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# The formats tf.io.decode_image (the model's Transform graph) decodes, as Pillow names them.
MODEL_FORMATS = ("JPEG", "PNG", "GIF", "BMP")
GRPC_MESSAGE_LIMIT = 256 * 1024 * 1024


class RequestError(ValueError):
    """A request that should not be sent (no images, unreadable/oversized/corrupt file, bad body)."""


class ServingError(RuntimeError):
    """The server refused or failed the request; ``code`` is the gRPC status name or HTTP status."""

    def __init__(self, code, message):
        super().__init__(f"server error {code}: {message}")
        self.code = code
        self.message = message


@dataclasses.dataclass
class Prediction:
    class_name: str
    class_id: int
    probability: float
    probabilities: List[float]


# --- input ---------------------------------------------------------------------------------

def check_image_bytes(data: bytes, name: str = "image", max_bytes: int = DEFAULT_MAX_BYTES,
                      validate: bool = True) -> bytes:
    """Raises :class:`RequestError` unless ``data`` is a plausible image the model can decode."""
    if not isinstance(data, (bytes, bytearray)):
        raise RequestError(f"{name}: expected bytes, got {type(data).__name__}")
    if not data:
        raise RequestError(f"{name}: empty (0 bytes)")
    if max_bytes and len(data) > max_bytes:
        raise RequestError(f"{name}: {len(data)} bytes is more than the limit of {max_bytes} bytes "
                           "(raise --max-bytes, or resize it first)")
    if validate:
        import io

        from PIL import Image, UnidentifiedImageError

        fmt = None
        try:
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format
                image.verify()  # structure (PNG checksums, ...)
            with Image.open(io.BytesIO(data)) as image:
                image.load()  # a full decode: catches truncated JPEGs that verify() passes
        except UnidentifiedImageError:
            raise RequestError(f"{name}: not an image Pillow recognises (corrupt or unsupported format)") from None
        except Exception as error:  # truncated/corrupt data: Pillow raises many types
            raise RequestError(f"{name}: corrupt {fmt or 'image'} data: {error}") from None
        if fmt not in MODEL_FORMATS:
            raise RequestError(f"{name}: {fmt} is not a format the model decodes ({', '.join(MODEL_FORMATS)})")
    return bytes(data)


def load_images(paths: Sequence[str], max_bytes: int = DEFAULT_MAX_BYTES, validate: bool = True) -> List[bytes]:
    """Reads and checks each file; raises :class:`RequestError` naming the first bad one."""
    if not paths:
        raise RequestError("no image files given")
    images = []
    for path in paths:
        if not os.path.exists(path):
            raise RequestError(f"{path}: no such file")
        if os.path.isdir(path):
            raise RequestError(f"{path}: is a directory")
        size = os.path.getsize(path)
        if max_bytes and size > max_bytes:
            raise RequestError(f"{path}: {size} bytes is more than the limit of {max_bytes} bytes "
                               "(raise --max-bytes, or resize it first)")
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as error:
            raise RequestError(f"{path}: cannot read: {error.strerror or error}") from None
        images.append(check_image_bytes(data, path, max_bytes, validate))
    return images


def _check_batch(images):
    if images is None or len(images) == 0:
        raise RequestError("empty batch: at least one image is needed")
    for i, image in enumerate(images):
        if not isinstance(image, (bytes, bytearray)) or not image:
            raise RequestError(f"image {i}: expected non-empty bytes")


# --- gRPC --------------------------------------------------------------------------------------

def build_grpc_request(images: Sequence[bytes], model_name: str = DEFAULT_MODEL_NAME,
                       signature_name: str = SIGNATURE_NAME, model_version: Optional[int] = None):
    """A ``PredictRequest``: ``inputs['image_bytes']`` = DT_STRING tensor of shape (B,)."""
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2

    _check_batch(images)
    if not model_name:
        raise RequestError("model name is empty")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if model_version is not None:
        request.model_spec.version.value = int(model_version)
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(images))]),
    )
    tensor.string_val.extend(bytes(i) for i in images)
    request.inputs[INPUT_KEY].CopyFrom(tensor)
    return request


def parse_grpc_response(response) -> List[Prediction]:
    """Predictions from a ``PredictResponse`` (typed fields or ``tensor_content``, as servers choose)."""
    import tensorflow as tf

    outputs = response.outputs
    for key in ("probabilities", "class_id", "class_name"):
        if key not in outputs:
            raise ServingError("BAD_RESPONSE", f"response has no {key!r} output (outputs: {sorted(outputs)})")
    probabilities = tf.make_ndarray(outputs["probabilities"])
    if probabilities.ndim != 2:
        raise ServingError("BAD_RESPONSE", f"probabilities has shape {probabilities.shape}, expected (B, K)")
    class_names = [n.decode("utf-8") if isinstance(n, bytes) else str(n)
                   for n in tf.make_ndarray(outputs["class_name"]).tolist()]
    return _predictions(probabilities.tolist(), tf.make_ndarray(outputs["class_id"]).tolist(), class_names)


def send_grpc(server: str, request, timeout: float = 30.0, channel=None):
    """Sends ``request`` to ``host:port``; raises :class:`ServingError` with the gRPC status and message."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    own = channel is None
    channel = channel or grpc.insecure_channel(server, options=[
        ("grpc.max_send_message_length", GRPC_MESSAGE_LIMIT),
        ("grpc.max_receive_message_length", GRPC_MESSAGE_LIMIT)])
    try:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return stub.Predict(request, timeout=timeout)
    except grpc.RpcError as error:
        code = error.code().name if hasattr(error, "code") and error.code() else "UNKNOWN"
        details = error.details() if hasattr(error, "details") else str(error)
        if code == "UNAVAILABLE":
            details = f"cannot reach {server} ({details})"
        raise ServingError(code, details) from None
    finally:
        if own:
            channel.close()


# --- REST ---------------------------------------------------------------------------------------

def build_rest_body(images: Sequence[bytes], signature_name: Optional[str] = None, columnar: bool = False) -> Dict:
    """The JSON body for ``:predict``: binary strings go as ``{"b64": ...}``.

    Row format (default) ``{"instances": [{"b64": ...}, ...]}``: the signature
    has one input, so each instance is its value.  ``columnar=True``:
    ``{"inputs": {"image_bytes": [{"b64": ...}, ...]}}``.
    """
    _check_batch(images)
    encoded = [{"b64": base64.b64encode(bytes(i)).decode("ascii")} for i in images]
    body = {"inputs": {INPUT_KEY: encoded}} if columnar else {"instances": encoded}
    if signature_name:
        body["signature_name"] = signature_name
    return body


def decode_rest_body(body, input_names: Sequence[str] = (INPUT_KEY,)) -> Dict[str, List[bytes]]:
    """Decodes a ``:predict`` body the way TF Serving's REST API does for string inputs.

    ``{"b64": s}`` -> the decoded bytes; row format (``instances``) -> one batch
    per input; columnar (``inputs``) -> as given.  Raises :class:`RequestError`
    for what the server would reject (no instances, both or neither of
    ``instances``/``inputs``, unknown input names, non-base64 data, an empty
    batch).  Lets a body from another tool be checked offline.
    """
    if isinstance(body, (str, bytes)):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as error:
            raise RequestError(f"body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise RequestError("body must be a JSON object")
    if ("instances" in body) == ("inputs" in body):
        raise RequestError('body must have exactly one of "instances" (row format) or "inputs" (columnar)')

    def value(item, where):
        if isinstance(item, dict) and set(item) == {"b64"}:
            try:
                return base64.b64decode(item["b64"], validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise RequestError(f"{where}: 'b64' value is not valid base64") from None
        if isinstance(item, str):
            return item.encode("utf-8")  # a plain JSON string is sent as UTF-8 text, not image bytes
        raise RequestError(f"{where}: expected {{\"b64\": ...}} or a string, got {json.dumps(item)[:60]}")

    names = list(input_names)
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise RequestError('"instances" must be a non-empty list (empty batch)')
        out = {name: [] for name in names}
        for i, instance in enumerate(instances):
            if isinstance(instance, dict) and set(instance) != {"b64"}:
                unknown = sorted(set(instance) - set(names))
                if unknown:
                    raise RequestError(f"instance {i}: unknown input {unknown[0]!r} (the signature takes {names})")
                missing = sorted(set(names) - set(instance))
                if missing:
                    raise RequestError(f"instance {i}: missing input {missing[0]!r}")
                for name in names:
                    out[name].append(value(instance[name], f"instance {i} {name!r}"))
            else:
                if len(names) != 1:
                    raise RequestError(f"instance {i}: the signature has several inputs; name them")
                out[names[0]].append(value(instance, f"instance {i}"))
        return out
    inputs = body["inputs"]
    if not isinstance(inputs, dict):
        if len(names) != 1:
            raise RequestError('"inputs" must name each input')
        inputs = {names[0]: inputs}
    unknown = sorted(set(inputs) - set(names))
    if unknown:
        raise RequestError(f"unknown input {unknown[0]!r} (the signature takes {names})")
    out = {}
    for name in names:
        column = inputs.get(name)
        if column is None:
            raise RequestError(f"missing input {name!r}")
        if not isinstance(column, list) or not column:
            raise RequestError(f"input {name!r} must be a non-empty list (empty batch)")
        out[name] = [value(item, f"{name!r}[{i}]") for i, item in enumerate(column)]
    return out


def rest_url(server: str, model_name: str = DEFAULT_MODEL_NAME, model_version: Optional[int] = None) -> str:
    base = server if "://" in server else f"http://{server}"
    version = f"/versions/{int(model_version)}" if model_version is not None else ""
    return f"{base.rstrip('/')}/v1/models/{model_name}{version}:predict"


def parse_rest_response(payload: Dict) -> List[Prediction]:
    if "error" in payload:
        raise ServingError("ERROR", payload["error"])
    if "predictions" in payload:
        rows = payload["predictions"]
        if rows and isinstance(rows[0], dict):
            return _predictions([r["probabilities"] for r in rows], [r["class_id"] for r in rows],
                                [r["class_name"] for r in rows])
    elif "outputs" in payload:
        out = payload["outputs"]
        return _predictions(out["probabilities"], out["class_id"], out["class_name"])
    raise ServingError("BAD_RESPONSE", f"unexpected response: {json.dumps(payload)[:200]}")


def send_rest(server: str, body: Dict, model_name: str = DEFAULT_MODEL_NAME, model_version: Optional[int] = None,
              timeout: float = 30.0, session=None) -> Dict:
    """POSTs ``body``; raises :class:`ServingError` with the HTTP status and the server's ``error`` text."""
    import requests

    url = rest_url(server, model_name, model_version)
    try:
        response = (session or requests).post(url, json=body, timeout=timeout)
    except requests.RequestException as error:
        raise ServingError("UNAVAILABLE", f"cannot reach {url} ({error.__class__.__name__}: {error})") from None
    try:
        payload = response.json()
    except ValueError:
        payload = {"error": response.text[:500]}
    if response.status_code != 200:
        raise ServingError(f"HTTP {response.status_code}", payload.get("error") or response.text[:500])
    return payload


def _predictions(rows, class_ids, class_names) -> List[Prediction]:
    out = []
    for probs, cid, name in zip(rows, class_ids, class_names):
        probs = [float(p) for p in probs]
        out.append(Prediction(str(name), int(cid), probs[int(cid)], probs))
    return out


# --- command line ----------------------------------------------------------------------------------

def add_predict_arguments(parser):
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="JPEG/PNG/GIF/BMP files, sent as one batch")
    parser.add_argument("--server", required=True, metavar="HOST:PORT",
                        help="TF Serving address: gRPC (8500) or, with --rest, REST (8501)")
    parser.add_argument("--rest", action="store_true", help="use the REST API instead of gRPC")
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    parser.add_argument("--model-version", type=int, default=None, help="default: the server's latest")
    parser.add_argument("--signature-name", default=SIGNATURE_NAME)
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES,
                        help="refuse files larger than this (default %(default)s)")
    parser.add_argument("--no-validate", dest="validate", action="store_false",
                        help="do not check the files with Pillow before sending")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds")
    return parser


def predict(paths, server, rest=False, model_name=DEFAULT_MODEL_NAME, model_version=None,
            signature_name=SIGNATURE_NAME, max_bytes=DEFAULT_MAX_BYTES, validate=True, timeout=30.0):
    images = load_images(paths, max_bytes=max_bytes, validate=validate)
    if rest:
        body = build_rest_body(images, signature_name if signature_name != SIGNATURE_NAME else None)
        return parse_rest_response(send_rest(server, body, model_name, model_version, timeout))
    request = build_grpc_request(images, model_name, signature_name, model_version)
    return parse_grpc_response(send_grpc(server, request, timeout))


def predict_command(args, stdout=None, stderr=None) -> int:
    """``pipeline_runner.py predict``: one line per file, ``<file>\\t<class name>\\t<probability>``.

    Exit status 0; 2 for a bad request (nothing sent); 1 for a server error.
    """
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    try:
        predictions = predict(args.images, args.server, args.rest, args.model_name, args.model_version,
                              args.signature_name, args.max_bytes, args.validate, args.timeout)
    except RequestError as error:
        print(f"predict: bad request: {error}", file=stderr)
        return 2
    except ServingError as error:
        print(f"predict: {error}", file=stderr)
        return 1
    for path, p in zip(args.images, predictions):
        print(f"{path}\t{p.class_name}\t{p.probability:.4f}", file=stdout)
    return 0


def main(argv=None):
    parser = add_predict_arguments(argparse.ArgumentParser(prog="python -m serving.client",
                                                           description="Classify images with the served model."))
    return predict_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
