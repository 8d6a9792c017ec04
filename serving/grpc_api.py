"""TF Serving's gRPC API (port 8500): ``PredictionService/Predict``.

:func:`build_grpc_request` makes the ``PredictRequest`` (checkable without a
server), :func:`send_grpc` sends it, :func:`parse_grpc_response` reads the
``PredictResponse``.
"""

from collections.abc import Sequence

from serving.images import RequestError, check_batch
from serving.predictions import Prediction, ServingError, to_predictions
from trainer import contract

GRPC_MESSAGE_LIMIT = 256 * 1024 * 1024
OUTPUT_KEYS = (contract.PROBABILITIES_OUTPUT, contract.CLASS_ID_OUTPUT, contract.CLASS_NAME_OUTPUT)


def build_grpc_request(images: Sequence[bytes], model_name: str = contract.SERVED_MODEL_NAME,
                       signature_name: str = contract.SERVING_DEFAULT_SIGNATURE, model_version: int | None = None):
    """A ``PredictRequest``: ``inputs['image_bytes']`` = DT_STRING tensor of shape (B,).

    Args:
        images: the batch: encoded images (bytes), at least one.
        model_name: the served model's name.
        signature_name: the signature to call.
        model_version: a version number; None: the server's latest.

    Returns:
        The ``tensorflow.serving.PredictRequest``, for :func:`send_grpc`.

    Raises:
        RequestError: an empty batch, an image that is not non-empty bytes, or an empty model name.
    """
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2

    check_batch(images)
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
    request.inputs[contract.IMAGE_BYTES_INPUT].CopyFrom(tensor)
    return request


def parse_grpc_response(response) -> list[Prediction]:
    """Predictions from a ``PredictResponse`` (typed fields or ``tensor_content``, as servers choose)."""
    import tensorflow as tf

    outputs = response.outputs
    for key in OUTPUT_KEYS:
        if key not in outputs:
            raise ServingError("BAD_RESPONSE", f"response has no {key!r} output (outputs: {sorted(outputs)})")
    probabilities = tf.make_ndarray(outputs[contract.PROBABILITIES_OUTPUT])
    if probabilities.ndim != 2:
        raise ServingError("BAD_RESPONSE", f"probabilities has shape {probabilities.shape}, expected (B, K)")
    class_names = [n.decode("utf-8") if isinstance(n, bytes) else str(n)
                   for n in tf.make_ndarray(outputs[contract.CLASS_NAME_OUTPUT]).tolist()]
    class_ids = tf.make_ndarray(outputs[contract.CLASS_ID_OUTPUT]).tolist()
    return to_predictions(probabilities.tolist(), class_ids, class_names)


def send_grpc(server: str, request, timeout: float = 30.0, channel=None):
    """Sends ``request`` to TF Serving's ``PredictionService/Predict``.

    Args:
        server: ``host:port`` of the gRPC API (8500).
        request: a ``PredictRequest`` (:func:`build_grpc_request`).
        timeout: seconds to wait.
        channel: a gRPC channel to reuse; None: a new insecure channel (256 MiB message limits), closed after.

    Returns:
        The ``PredictResponse`` (:func:`parse_grpc_response` reads it).

    Raises:
        ServingError: the gRPC status name and message (``UNAVAILABLE`` naming ``server`` when it cannot be
            reached).
    """
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
