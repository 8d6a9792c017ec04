"""TF Serving's REST API (port 8501): ``POST /v1/models/<name>[/versions/<v>]:predict``.

Binary strings go as ``{"b64": ...}``; row format ``{"instances": [...]}`` or
columnar ``{"inputs": {...}}``, never both.  :func:`build_rest_body` makes a
body, :func:`decode_rest_body` decodes one the way the server does (so a body
from another tool can be checked offline), :func:`send_rest` posts it and
:func:`parse_rest_response` reads the answer.
"""

import base64
import binascii
import json
from collections.abc import Sequence

from serving.images import RequestError, check_batch
from serving.predictions import Prediction, ServingError, to_predictions
from trainer import contract


def build_rest_body(images: Sequence[bytes], signature_name: str | None = None, columnar: bool = False) -> dict:
    """The JSON body for ``:predict``: binary strings go as ``{"b64": ...}``.

    Args:
        images: the batch: encoded images (bytes), at least one.
        signature_name: added as ``signature_name`` when given; None: the server's ``serving_default``.
        columnar: ``{"inputs": {"image_bytes": [{"b64": ...}, ...]}}`` instead of the row format
            ``{"instances": [{"b64": ...}, ...]}`` (the signature has one input, so each instance is its value).

    Returns:
        The body, ready for ``json.dumps`` (:func:`send_rest`).

    Raises:
        RequestError: an empty batch, or an image that is not non-empty bytes.
    """
    check_batch(images)
    encoded = [{"b64": base64.b64encode(bytes(i)).decode("ascii")} for i in images]
    body = {"inputs": {contract.IMAGE_BYTES_INPUT: encoded}} if columnar else {"instances": encoded}
    if signature_name:
        body["signature_name"] = signature_name
    return body


def decode_rest_body(body, input_names: Sequence[str] = (contract.IMAGE_BYTES_INPUT,)) -> dict[str, list[bytes]]:
    """Decodes a ``:predict`` body the way TF Serving's REST API does for string inputs.

    Lets a body from another tool be checked offline.

    Args:
        body: the body: a dict, or its JSON text (str or bytes).
        input_names: the signature's string inputs.

    Returns:
        {input name: the batch's values as bytes}: ``{"b64": s}`` decoded, a plain string as UTF-8; row format
        (``instances``) gathered into one batch per input, columnar (``inputs``) as given.

    Raises:
        RequestError: for what the server would reject: not JSON, no instances, both or neither of
            ``instances``/``inputs``, unknown or missing input names, non-base64 data, an empty batch.
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


def rest_url(server: str, model_name: str = contract.SERVED_MODEL_NAME, model_version: int | None = None) -> str:
    """``http://<server>/v1/models/<name>[/versions/<v>]:predict`` (``server`` may carry its own scheme)."""
    base = server if "://" in server else f"http://{server}"
    version = f"/versions/{int(model_version)}" if model_version is not None else ""
    return f"{base.rstrip('/')}/v1/models/{model_name}{version}:predict"


def parse_rest_response(payload: dict) -> list[Prediction]:
    """The predictions of a ``:predict`` answer, row (``predictions``) or columnar (``outputs``) format.

    Args:
        payload: the answer's JSON, decoded.

    Returns:
        One :class:`Prediction` per image, in the request's order.

    Raises:
        ServingError: ``ERROR`` with the server's ``error`` text, or ``BAD_RESPONSE`` when the answer has neither
            format.
    """
    if "error" in payload:
        raise ServingError("ERROR", payload["error"])
    if "predictions" in payload:
        rows = payload["predictions"]
        if rows and isinstance(rows[0], dict):
            return to_predictions([r[contract.PROBABILITIES_OUTPUT] for r in rows],
                                  [r[contract.CLASS_ID_OUTPUT] for r in rows],
                                  [r[contract.CLASS_NAME_OUTPUT] for r in rows])
    elif "outputs" in payload:
        out = payload["outputs"]
        return to_predictions(out[contract.PROBABILITIES_OUTPUT], out[contract.CLASS_ID_OUTPUT],
                              out[contract.CLASS_NAME_OUTPUT])
    raise ServingError("BAD_RESPONSE", f"unexpected response: {json.dumps(payload)[:200]}")


def send_rest(server: str, body: dict, model_name: str = contract.SERVED_MODEL_NAME,
              model_version: int | None = None, timeout: float = 30.0, session=None) -> dict:
    """POSTs ``body`` to :func:`rest_url` and returns the answer's JSON.

    Args:
        server: ``host:port`` (REST, 8501) or a URL base with its scheme.
        body: a ``:predict`` body (:func:`build_rest_body`).
        model_name: the served model's name.
        model_version: a version number; None: the server's latest.
        timeout: seconds to wait.
        session: a ``requests.Session`` to reuse connections; None: a new connection.

    Returns:
        The answer, decoded (:func:`parse_rest_response` reads it).

    Raises:
        ServingError: ``UNAVAILABLE`` when the server cannot be reached; ``HTTP <status>`` with the server's
            ``error`` text otherwise.
    """
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
