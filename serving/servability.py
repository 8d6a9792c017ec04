"""Can TF Serving serve this SavedModel? Load it as the server does, send it the client's requests, check the answers.

Before a model is pushed, :func:`check_servability` answers that question
for one SavedModel directory (a Pusher version directory's layout):

1. **Requests, built by the client's own code.** :func:`build_requests`
   makes the REST body (:func:`serving.rest_api.build_rest_body`, row format
   with ``{"b64": ...}`` images), the gRPC ``PredictRequest``
   (:func:`serving.grpc_api.build_grpc_request`), both what
   ``pipeline_runner.py predict`` sends, and a ``PredictRequest`` of
   serialized ``tf.Example`` records for ``serving_tf_example``.
2. **A fresh process loads the model as TF Serving does** (:func:`serve`,
   ``python -m serving.servability``): the MetaGraph tagged ``serve`` from
   ``saved_model.pb``, each signature by name, its inputs and outputs by the
   keys and dtypes of its ``SignatureDef`` (:func:`signature_problems`);
   the graph imported into a session whose saver restores the variables
   and whose init op runs (:class:`GraphModel`, the path of TF Serving's C++
   ``LoadSavedModel``, not ``tf.saved_model.load``'s object-by-object
   restore); then it replays the warm-up records in ``assets.extra/`` (a
   version whose warm-up fails does not load in TF Serving) and answers each
   request the way the server does: the REST body decoded with the server's
   rules (:func:`serving.rest_api.decode_rest_body`), each ``TensorProto``
   input fed to the signature's input tensor by name, its output tensors
   fetched and sent back as a REST JSON response and as a
   ``PredictResponse``.
3. **The client reads the answers** with its own parsers
   (:func:`serving.rest_api.parse_rest_response`,
   :func:`serving.grpc_api.parse_grpc_response`) and
   :func:`check_responses` checks them: one row per image, ``probabilities``
   float32 (B, K) with K the model's classes, every row summing to 1,
   ``class_id`` int64 (B,) its argmax, ``class_name`` string (B,), and the
   three requests answering the same probabilities for the same images.

:func:`warmup_records` builds TF Serving's warm-up records (``PredictionLog``
with a ``predict_log`` request) from the same requests, and
:func:`write_warmup_file` writes them into a model's ``assets.extra/``.
"""

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence

from serving.grpc_api import build_grpc_request, parse_grpc_response
from serving.predictions import Prediction
from serving.rest_api import build_rest_body, decode_rest_body, parse_rest_response
from trainer import contract

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What the model must offer, as TF Serving sees it: signature -> (inputs, outputs), each key -> DataType name.
OUTPUT_DTYPES = {contract.PROBABILITIES_OUTPUT: "DT_FLOAT", contract.CLASS_ID_OUTPUT: "DT_INT64",
                 contract.CLASS_NAME_OUTPUT: "DT_STRING"}
EXPECTED_SIGNATURES = {
    contract.SERVING_DEFAULT_SIGNATURE: ({contract.IMAGE_BYTES_INPUT: "DT_STRING"}, OUTPUT_DTYPES),
    contract.SERVING_TF_EXAMPLE_SIGNATURE: ({contract.EXAMPLES_INPUT: "DT_STRING"}, OUTPUT_DTYPES),
}
# The request files the client writes and the process that serves answers (one directory per check).
REST_REQUEST, GRPC_REQUEST, EXAMPLE_REQUEST = "rest_request.json", "grpc_request.pb", "tf_example_request.pb"
REST_RESPONSE, GRPC_RESPONSE, EXAMPLE_RESPONSE = "rest_response.json", "grpc_response.pb", "tf_example_response.pb"
LOAD_FILE = "load.json"
PROBABILITY_TOLERANCE = 1e-3  # a row of float32 softmax probabilities sums to 1 within this
AGREEMENT_TOLERANCE = 1e-4  # the same image through REST, gRPC and tf.Example: the same probabilities


class ServabilityError(RuntimeError):
    """The model cannot be served as the project's client expects; the message says what failed."""


@dataclasses.dataclass(frozen=True)
class Requests:
    """The three requests of one check (see the module docstring), for the same B images.

    Attributes:
        rest_body: the REST ``:predict`` body, row format, ``{"b64": ...}`` images.
        grpc: the ``tensorflow.serving.PredictRequest`` for ``serving_default`` (``image_bytes``, string (B,)).
        tf_example: the ``PredictRequest`` for ``serving_tf_example`` (``examples``, serialized tf.Example (B,)).
    """

    rest_body: dict
    grpc: object  # tensorflow.serving.PredictRequest, serving_default
    tf_example: object  # tensorflow.serving.PredictRequest, serving_tf_example


@dataclasses.dataclass
class Result:
    """The outcome of :func:`check_servability`.

    Attributes:
        blessed: True when every check passed.
        reason: one sentence: what was checked, or the first thing that failed.
        checks: the checks that passed, in order, in words.
        warmup_records: warm-up records the serving process replayed (0 when the model has none).
        num_classes: K, the width of ``probabilities`` (None when the model did not load).
    """

    blessed: bool
    reason: str
    checks: list[str] = dataclasses.field(default_factory=list)
    warmup_records: int = 0
    num_classes: int | None = None

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict (``servability.json``)."""
        return dataclasses.asdict(self)


# --- the client's side --------------------------------------------------------------------------------------

def build_tf_example_request(serialized_examples: Sequence[bytes], model_name: str = contract.SERVED_MODEL_NAME):
    """A ``PredictRequest`` for ``serving_tf_example``: ``inputs['examples']`` = DT_STRING (B,) of tf.Example bytes.

    Args:
        serialized_examples: serialized ``tf.train.Example`` records with the ``image/encoded`` feature.
        model_name: the served model's name.

    Returns:
        tensorflow.serving.PredictRequest.

    Raises:
        ServabilityError: when ``serialized_examples`` is empty.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    if not serialized_examples:
        raise ServabilityError("no tf.Example records to build a request from")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = contract.SERVING_TF_EXAMPLE_SIGNATURE
    request.inputs[contract.EXAMPLES_INPUT].CopyFrom(
        tf.make_tensor_proto([bytes(e) for e in serialized_examples], dtype=tf.string))
    return request


def build_requests(images: Sequence[bytes], serialized_examples: Sequence[bytes],
                   model_name: str = contract.SERVED_MODEL_NAME) -> Requests:
    """The REST body and gRPC request ``pipeline_runner.py predict`` sends for ``images``, and a tf.Example request.

    Args:
        images: encoded images (JPEG/PNG/GIF/BMP bytes), one batch.
        serialized_examples: serialized tf.Example records (the same images, for the agreement check).
        model_name: the served model's name.

    Returns:
        :class:`Requests`.
    """
    return Requests(rest_body=build_rest_body(images), grpc=build_grpc_request(images, model_name),
                    tf_example=build_tf_example_request(serialized_examples, model_name))


def warmup_records(requests: Requests) -> list:
    """TF Serving's warm-up records for ``requests``: ``PredictionLog(predict_log=PredictLog(request=...))``.

    The gRPC request at batch 1 and at its full batch, and the tf.Example request, so the first real request
    of either signature finds its graph traced.

    Returns:
        list of tensorflow.serving.PredictionLog.
    """
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    single = predict_pb2.PredictRequest()
    single.CopyFrom(requests.grpc)
    strings = single.inputs[contract.IMAGE_BYTES_INPUT].string_val
    first = bytes(strings[0])
    del strings[:]
    strings.append(first)
    single.inputs[contract.IMAGE_BYTES_INPUT].tensor_shape.dim[0].size = 1
    batches = [single] + ([requests.grpc] if len(requests.grpc.inputs[contract.IMAGE_BYTES_INPUT].string_val) > 1
                          else [])
    return [prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=r))
            for r in [*batches, requests.tf_example]]


def warmup_path(version_dir: str) -> str:
    """``<version_dir>/assets.extra/tf_serving_warmup_requests``."""
    return os.path.join(version_dir, contract.WARMUP_DIR, contract.WARMUP_FILE)


def write_warmup_file(version_dir: str, records: Sequence) -> str:
    """Writes ``records`` (PredictionLog) as TF Serving's warm-up file of the SavedModel in ``version_dir``.

    Args:
        version_dir: a SavedModel directory, local or on any filesystem ``tf.io.gfile`` knows.
        records: ``tensorflow_serving.apis.prediction_log_pb2.PredictionLog`` records (:func:`warmup_records`).

    Returns:
        the file written, ``<version_dir>/assets.extra/tf_serving_warmup_requests`` (a TFRecord file).
    """
    import tensorflow as tf

    path = warmup_path(version_dir)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    return path


def read_warmup_file(version_dir: str) -> list:
    """The PredictionLog records of a model's warm-up file ([] when it has none).

    Raises:
        ServabilityError: a record that does not parse as a PredictionLog (naming the file and record).
    """
    import tensorflow as tf
    from google.protobuf.message import DecodeError
    from tensorflow_serving.apis import prediction_log_pb2

    path = warmup_path(version_dir)
    if not tf.io.gfile.exists(path):
        return []
    records = []
    for i, raw in enumerate(tf.data.TFRecordDataset([path])):
        try:
            records.append(prediction_log_pb2.PredictionLog.FromString(raw.numpy()))
        except DecodeError as error:
            raise ServabilityError(f"{path}: record {i} is not a PredictionLog ({error})") from None
    return records


def check_predictions(predictions: list[Prediction], batch: int, num_classes: int, where: str) -> None:
    """Raises :class:`ServabilityError` unless ``predictions`` are ``batch`` rows of K probabilities summing to 1.

    Args:
        predictions: what a parser of :mod:`serving.client` returned.
        batch: the number of images sent.
        num_classes: K, from the model's ``probabilities`` output.
        where: which request, for the message.
    """
    if len(predictions) != batch:
        raise ServabilityError(f"{where}: {len(predictions)} predictions for {batch} images")
    for i, p in enumerate(predictions):
        if len(p.probabilities) != num_classes:
            raise ServabilityError(f"{where}: row {i} has {len(p.probabilities)} probabilities, expected "
                                   f"{num_classes}")
        total = sum(p.probabilities)
        if abs(total - 1.0) > PROBABILITY_TOLERANCE or min(p.probabilities) < 0:
            raise ServabilityError(f"{where}: row {i}'s probabilities {p.probabilities} sum to {total:.6f}, not 1")
        best = max(range(num_classes), key=lambda k: p.probabilities[k])
        if p.probabilities[p.class_id] < p.probabilities[best]:
            raise ServabilityError(f"{where}: row {i}'s class_id {p.class_id} is not its most probable class {best}")
        if not p.class_name:
            raise ServabilityError(f"{where}: row {i} has an empty class_name")


def check_grpc_dtypes(response, batch: int, where: str) -> int:
    """Checks each output ``TensorProto`` of a ``PredictResponse``: dtype and shape. Returns K.

    Raises:
        ServabilityError: naming the output and what it has.
    """
    from tensorflow.core.framework import types_pb2

    outputs = response.outputs
    for key, dtype in OUTPUT_DTYPES.items():
        if key not in outputs:
            raise ServabilityError(f"{where}: no {key!r} output (outputs: {sorted(outputs)})")
        got = types_pb2.DataType.Name(outputs[key].dtype)
        if got != dtype:
            raise ServabilityError(f"{where}: output {key!r} is {got}, expected {dtype}")
    shapes = {key: [d.size for d in outputs[key].tensor_shape.dim] for key in OUTPUT_DTYPES}
    probabilities = shapes[contract.PROBABILITIES_OUTPUT]
    if len(probabilities) != 2 or probabilities[0] != batch or probabilities[1] < 2:
        raise ServabilityError(f"{where}: {contract.PROBABILITIES_OUTPUT!r} has shape {probabilities}, "
                               f"expected [{batch}, K] with K >= 2")
    for key in (contract.CLASS_ID_OUTPUT, contract.CLASS_NAME_OUTPUT):
        if shapes[key] != [batch]:
            raise ServabilityError(f"{where}: {key!r} has shape {shapes[key]}, expected [{batch}]")
    return probabilities[1]


def check_responses(requests: Requests, rest_payload: dict, grpc_response, example_response) -> tuple[int, list]:
    """The client's checks of the three answers (see the module docstring).

    Args:
        requests: what was sent.
        rest_payload: the REST response's JSON.
        grpc_response: the gRPC ``PredictResponse`` to the same images.
        example_response: the ``PredictResponse`` to the tf.Example request.

    Returns:
        (K, the checks that passed, in words).

    Raises:
        ServabilityError: the first check that failed.
    """
    batch = len(requests.grpc.inputs[contract.IMAGE_BYTES_INPUT].string_val)
    examples = len(requests.tf_example.inputs[contract.EXAMPLES_INPUT].string_val)
    checks = []
    num_classes = check_grpc_dtypes(grpc_response, batch, "gRPC serving_default")
    check_grpc_dtypes(example_response, examples, "gRPC serving_tf_example")
    checks.append(f"gRPC outputs: probabilities DT_FLOAT [{batch}, {num_classes}], class_id DT_INT64 [{batch}], "
                  f"class_name DT_STRING [{batch}]")
    answers = {}
    for where, parse, response, n in (("REST :predict", parse_rest_response, rest_payload, batch),
                                      ("gRPC serving_default", parse_grpc_response, grpc_response, batch),
                                      ("gRPC serving_tf_example", parse_grpc_response, example_response, examples)):
        try:
            predictions = parse(response)
        except Exception as error:  # noqa: BLE001 - the client's parser refusing an answer is the finding
            raise ServabilityError(f"{where}: the client cannot read the answer: {error}") from None
        check_predictions(predictions, n, num_classes, where)
        answers[where] = predictions
    checks.append(f"REST, gRPC and tf.Example answers: {batch}, {batch} and {examples} rows of {num_classes} "
                  f"probabilities summing to 1, class_id the argmax, a class_name each")
    reference = answers["gRPC serving_default"]
    for where in ("REST :predict", "gRPC serving_tf_example"):
        for i, (a, b) in enumerate(zip(answers[where], reference)):
            gap = max(abs(x - y) for x, y in zip(a.probabilities, b.probabilities))
            if gap > AGREEMENT_TOLERANCE or a.class_name != b.class_name:
                raise ServabilityError(f"{where}: image {i} answers {a.probabilities} ({a.class_name}) but gRPC "
                                       f"serving_default answers {b.probabilities} ({b.class_name})")
    checks.append(f"the same image answers the same probabilities through all three (within {AGREEMENT_TOLERANCE})")
    return num_classes, checks


# --- the serving process ------------------------------------------------------------------------------------

def read_signature_defs(version_dir: str) -> dict:
    """The ``SignatureDef`` s of the MetaGraph tagged ``serve`` in ``version_dir/saved_model.pb``, by name.

    Raises:
        ServabilityError: no saved_model.pb, or no MetaGraph tagged ``serve``.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(version_dir, contract.SAVED_MODEL_FILE)
    if not os.path.exists(path):
        raise ServabilityError(f"{version_dir}: no {contract.SAVED_MODEL_FILE}")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        if contract.SERVING_TAG in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ServabilityError(f"{path}: no MetaGraph tagged {contract.SERVING_TAG!r}")


def signature_problems(signature_defs: dict) -> list[str]:
    """What TF Serving would refuse for the project's client: missing signatures, inputs, outputs or dtypes.

    Args:
        signature_defs: {name: ``SignatureDef``} (:func:`read_signature_defs`).

    Returns:
        One sentence per problem against ``EXPECTED_SIGNATURES``; [] when the model offers all of it.
    """
    from tensorflow.core.framework import types_pb2

    problems = []
    for name, (inputs, outputs) in EXPECTED_SIGNATURES.items():
        if name not in signature_defs:
            problems.append(f"signature {name!r} is missing (signatures: {sorted(signature_defs)})")
            continue
        signature = signature_defs[name]
        for kind, expected, present in (("input", inputs, signature.inputs), ("output", outputs, signature.outputs)):
            for key, dtype in expected.items():
                if key not in present:
                    problems.append(f"signature {name!r} has no {kind} {key!r} ({kind}s: {sorted(present)})")
                elif types_pb2.DataType.Name(present[key].dtype) != dtype:
                    problems.append(f"signature {name!r} {kind} {key!r} is "
                                    f"{types_pb2.DataType.Name(present[key].dtype)}, expected {dtype}")
    return problems


class GraphModel:
    """A SavedModel loaded the way TF Serving's C++ loader (``LoadSavedModel``) loads it.

    The MetaGraph tagged ``serve`` is imported into a graph of its own, a session runs the graph's saver to
    restore the variables from ``variables/`` and then its init op (tables, assets); a signature runs by feeding
    its ``SignatureDef``'s input tensors by name and fetching its output tensors. ``tf.compat.v1``'s loader takes
    this path. ``tf.saved_model.load`` does not: it restores object by object, so a SavedModel whose signatures
    read variables the graph's saver does not restore loads there and fails in a model server ("Could not find
    variable ...").

    Attributes:
        signatures: {name: ``SignatureDef``} of the loaded MetaGraph.

    Raises:
        whatever TensorFlow's loader raises (a missing tag, variables that do not restore).
    """

    def __init__(self, version_dir: str):
        import tensorflow as tf

        self._session = tf.compat.v1.Session(graph=tf.Graph())
        with self._session.graph.as_default():
            meta_graph = tf.compat.v1.saved_model.loader.load(self._session, [contract.SERVING_TAG], version_dir)
        self.signatures = dict(meta_graph.signature_def)

    def run(self, name: str, inputs: dict) -> dict:
        """Runs signature ``name`` on ``inputs`` ({input key: array}); returns {output key: numpy array}."""
        signature = self.signatures[name]
        return self._session.run({key: tensor.name for key, tensor in signature.outputs.items()},
                                 {signature.inputs[key].name: value for key, value in inputs.items()})

    def close(self) -> None:
        self._session.close()


def answer_predict(model: GraphModel, request):
    """What TF Serving's ``Predict`` answers: the named signature run on the request's tensors.

    Args:
        model: the SavedModel loaded as the server loads it.
        request: tensorflow.serving.PredictRequest.

    Returns:
        tensorflow.serving.PredictResponse.

    Raises:
        ServabilityError: an unknown signature or input (the server's INVALID_ARGUMENT / FAILED_PRECONDITION).
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    name = request.model_spec.signature_name or contract.SERVING_DEFAULT_SIGNATURE
    if name not in model.signatures:
        raise ServabilityError(f"FAILED_PRECONDITION: serving signature name {name!r} not found")
    expected = set(model.signatures[name].inputs)
    if set(request.inputs) != expected:
        raise ServabilityError(f"INVALID_ARGUMENT: signature {name!r} takes inputs {sorted(expected)}, the "
                               f"request has {sorted(request.inputs)}")
    outputs = model.run(name, {key: tf.make_ndarray(value) for key, value in request.inputs.items()})
    response = predict_pb2.PredictResponse()
    response.model_spec.CopyFrom(request.model_spec)
    response.model_spec.signature_name = name
    for key, value in outputs.items():
        response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
    return response


def answer_rest(model: GraphModel, body: dict) -> dict:
    """What TF Serving's REST ``:predict`` answers: the body decoded with the server's rules, row-format JSON out.

    Raises:
        ServabilityError: a body the server would refuse.
    """
    import numpy as np

    name = body.get("signature_name") or contract.SERVING_DEFAULT_SIGNATURE
    if name not in model.signatures:
        raise ServabilityError(f"serving signature name {name!r} not found")
    inputs = decode_rest_body(body, tuple(model.signatures[name].inputs))
    outputs = model.run(name, {key: np.array(value, dtype=object) for key, value in inputs.items()})

    def plain(value):
        value = value.tolist() if hasattr(value, "tolist") else value
        return value.decode("utf-8") if isinstance(value, bytes) else value

    rows = len(next(iter(outputs.values())))
    return {"predictions": [{key: plain(value[i]) for key, value in outputs.items()} for i in range(rows)]}


def serve(version_dir: str, request_dir: str) -> dict:
    """The serving process: load as TF Serving does (:class:`GraphModel`), replay the warm-up, answer the requests.

    Args:
        version_dir: the SavedModel directory.
        request_dir: holds the request files :func:`check_servability` wrote; the responses are written there.

    Returns:
        what was written to ``load.json``: ``loaded`` (bool), ``error`` (why not), ``warmup_records``.
    """
    from tensorflow_serving.apis import predict_pb2

    status = {"loaded": False, "error": "", "warmup_records": 0}
    try:
        problems = signature_problems(read_signature_defs(version_dir))
        if problems:
            raise ServabilityError("; ".join(problems))
        model = GraphModel(version_dir)
        for i, record in enumerate(read_warmup_file(version_dir)):
            if record.WhichOneof("log_type") != "predict_log":
                raise ServabilityError(f"warm-up record {i} is a {record.WhichOneof('log_type')}, not a predict_log")
            try:
                answer_predict(model, record.predict_log.request)
            except Exception as error:  # noqa: BLE001 - TF Serving fails the version's load on any warm-up error
                raise ServabilityError(f"warm-up record {i} fails: {first_line(error)}") from None
            status["warmup_records"] = i + 1
        status["loaded"] = True
    except Exception as error:  # noqa: BLE001 - whatever stops the load is the verdict
        status["error"] = first_line(error)
        _write_json(os.path.join(request_dir, LOAD_FILE), status)
        return status
    _write_json(os.path.join(request_dir, LOAD_FILE), status)
    with open(os.path.join(request_dir, REST_REQUEST)) as f:
        body = json.load(f)
    _write_json(os.path.join(request_dir, REST_RESPONSE), _or_error(lambda: answer_rest(model, body)))
    for request_file, response_file in ((GRPC_REQUEST, GRPC_RESPONSE), (EXAMPLE_REQUEST, EXAMPLE_RESPONSE)):
        with open(os.path.join(request_dir, request_file), "rb") as f:
            request = predict_pb2.PredictRequest.FromString(f.read())
        try:
            data = answer_predict(model, request).SerializeToString()
        except Exception as error:  # noqa: BLE001 - the server answers an error status; the client reports it
            data = b""
            _write_json(os.path.join(request_dir, response_file + ".error"), {"error": first_line(error)})
        with open(os.path.join(request_dir, response_file), "wb") as f:
            f.write(data)
    model.close()
    return status


def _or_error(answer):
    """``answer()``, or TF Serving's REST error body ``{"error": ...}`` when it raises."""
    try:
        return answer()
    except Exception as error:  # noqa: BLE001 - TF Serving answers {"error": ...} with an HTTP error status
        return {"error": first_line(error)}


# What TensorFlow puts before the cause in a graph's error: a heading, where the node was built, its traceback.
_TF_ERROR_PREAMBLE = ("Graph execution error:", "Detected at node", "File \"")


def first_line(error) -> str:
    """``"<ErrorType>: <first line of its message>"``, at most 500 characters; a TF graph error's cause line."""
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    cause = [line for line in lines if not line.startswith((" ", "\t")) and not line.startswith(_TF_ERROR_PREAMBLE)]
    line = (cause or lines or [""])[0].strip()
    return f"{type(error).__name__}: {line}"[:500]


def _write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)


# --- the check ------------------------------------------------------------------------------------------------

def check_servability(version_dir: str, images: Sequence[bytes], serialized_examples: Sequence[bytes],
                      timeout_s: float = 600.0, model_name: str = contract.SERVED_MODEL_NAME) -> Result:
    """Serves ``version_dir`` in a fresh Python process and checks its answers to the client's requests.

    Args:
        version_dir: a local SavedModel directory (with its warm-up file, when it has one).
        images: encoded images for the REST and gRPC requests (one batch).
        serialized_examples: tf.Example records of the same images, in the same order.
        timeout_s: seconds the serving process may take (loading, warm-up and the three requests).
        model_name: the name the requests address.

    Returns:
        :class:`Result`: blessed, or not with the reason (nothing raises for a model that cannot be served).
    """
    from tensorflow_serving.apis import predict_pb2

    if not os.path.exists(os.path.join(version_dir, contract.SAVED_MODEL_FILE)):
        return Result(False, f"{version_dir}: no {contract.SAVED_MODEL_FILE}, so no SavedModel to serve")
    requests = build_requests(images, serialized_examples, model_name)
    with tempfile.TemporaryDirectory(prefix="servability_") as request_dir:
        _write_json(os.path.join(request_dir, REST_REQUEST), requests.rest_body)
        for name, request in ((GRPC_REQUEST, requests.grpc), (EXAMPLE_REQUEST, requests.tf_example)):
            with open(os.path.join(request_dir, name), "wb") as f:
                f.write(request.SerializeToString())
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (PROJECT_ROOT, env.get("PYTHONPATH", "")) if p)
        command = [sys.executable, "-m", "serving.servability", "--model-dir", version_dir,
                   "--request-dir", request_dir]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env,
                                  cwd=PROJECT_ROOT)
        except subprocess.TimeoutExpired:
            return Result(False, f"the serving process did not answer within {timeout_s:g} s")
        load_file = os.path.join(request_dir, LOAD_FILE)
        if not os.path.exists(load_file):
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no output"]
            return Result(False, f"the serving process exited with status {proc.returncode}: {tail[0][:300]}")
        with open(load_file) as f:
            status = json.load(f)
        if not status["loaded"]:
            return Result(False, f"does not load as TF Serving's loader does: {status['error']}",
                          warmup_records=status["warmup_records"])
        checks = [f"loads with tag {contract.SERVING_TAG!r} through the graph's saver; signatures "
                  f"{', '.join(EXPECTED_SIGNATURES)} take and "
                  f"answer what the client sends and reads",
                  f"{status['warmup_records']} warm-up record(s) replayed"]
        with open(os.path.join(request_dir, REST_RESPONSE)) as f:
            rest_payload = json.load(f)
        responses = []
        for name in (GRPC_RESPONSE, EXAMPLE_RESPONSE):
            error_file = os.path.join(request_dir, name + ".error")
            if os.path.exists(error_file):
                with open(error_file) as f:
                    return Result(False, f"{name.split('_response')[0]} request refused: {json.load(f)['error']}",
                                  checks, status["warmup_records"])
            with open(os.path.join(request_dir, name), "rb") as f:
                responses.append(predict_pb2.PredictResponse.FromString(f.read()))
    try:
        num_classes, answered = check_responses(requests, rest_payload, *responses)
    except ServabilityError as error:
        return Result(False, str(error), checks, status["warmup_records"])
    checks += answered
    batch = len(images)
    reason = (f"loads as TF Serving's loader does (the graph's saver restores the variables), replays its "
              f"{status['warmup_records']} warm-up record(s), "
              f"and answers the client's REST and gRPC requests ({batch} image(s)) and a tf.Example request with "
              f"{num_classes} probabilities summing to 1 per image")
    return Result(True, reason, checks, status["warmup_records"], num_classes)


def main(argv=None) -> int:
    """``python -m serving.servability --model-dir DIR --request-dir DIR``: the serving process."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--request-dir", required=True)
    args = parser.parse_args(argv)
    from trainer.environment import apply_keras_policy

    apply_keras_policy()
    serve(args.model_dir, args.request_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
