"""A client for the served model: build requests, send them, read the answers.

The model's ``serving_default`` signature takes ``image_bytes``: string (B,),
encoded JPEG/PNG/GIF/BMP of any size, and returns ``probabilities`` float32
(B, K), ``class_id`` int64 (B,) and ``class_name`` string (B,)
(``trainer/export.py``; the names are :mod:`trainer.contract`'s).

Building is separate from sending, so requests can be checked without a server:

* :func:`build_grpc_request` -> ``tensorflow.serving.PredictRequest`` for
  ``PredictionService/Predict`` (port 8500); :func:`send_grpc` sends it
  (:mod:`serving.grpc_api`).
* :func:`build_rest_body` -> the JSON body for REST
  ``POST /v1/models/<name>:predict`` (port 8501): row format
  ``{"instances": [{"b64": ...}, ...]}`` or columnar
  ``{"signature_name": ..., "inputs": {"image_bytes": [{"b64": ...}]}}``;
  :func:`send_rest` sends it (:mod:`serving.rest_api`).
* :func:`load_images` checks each file locally first (:mod:`serving.images`).

This module gathers them and holds :func:`predict` and the ``predict`` command.
"""

import argparse
import sys

from serving.grpc_api import build_grpc_request, parse_grpc_response, send_grpc
from serving.images import DEFAULT_MAX_BYTES, MODEL_FORMATS, RequestError, check_image_bytes, load_images
from serving.predictions import Prediction, ServingError
from serving.rest_api import build_rest_body, decode_rest_body, parse_rest_response, rest_url, send_rest
from trainer import contract

INPUT_KEY = contract.IMAGE_BYTES_INPUT
SIGNATURE_NAME = contract.SERVING_DEFAULT_SIGNATURE
DEFAULT_MODEL_NAME = contract.SERVED_MODEL_NAME

__all__ = [
    "DEFAULT_MAX_BYTES", "DEFAULT_MODEL_NAME", "INPUT_KEY", "MODEL_FORMATS", "SIGNATURE_NAME",
    "Prediction", "RequestError", "ServingError",
    "build_grpc_request", "build_rest_body", "check_image_bytes", "decode_rest_body", "load_images",
    "parse_grpc_response", "parse_rest_response", "predict", "predict_command", "rest_url",
    "send_grpc", "send_rest",
]


# --- command line ----------------------------------------------------------------------------------

def add_predict_arguments(parser):
    """Adds the ``predict`` command's options: image files, ``--server``, ``--rest``, the model and the limits.

    Args:
        parser: an ``argparse.ArgumentParser`` (or a subcommand's).

    Returns:
        ``parser``, for :func:`predict_command`.
    """
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
    """Classifies image files with the model TF Serving serves: the files checked, sent as one batch.

    Args:
        paths: JPEG/PNG/GIF/BMP files, any size (the model resizes them).
        server: ``host:port`` of TF Serving: gRPC (8500), or REST (8501) with ``rest``; a REST address may
            carry its scheme (``https://...``).
        rest: use the REST API (JSON, ``{"b64": ...}`` strings) instead of gRPC.
        model_name: the served model's name.
        model_version: a version number; None: the server's latest.
        signature_name: the signature to call (``serving_default``: image bytes in).
        max_bytes: refuse a file larger than this many bytes before sending anything (0: no limit).
        validate: check each file with Pillow first (a bad image would fail the whole batch on the server).
        timeout: seconds to wait for the answer.

    Returns:
        One :class:`Prediction` per file, in order: ``class_name``, ``class_id``, ``probability`` (of that
        class) and ``probabilities`` (float, one per class in label order).

    Raises:
        RequestError: nothing was sent: no file, a missing, oversized or undecodable file (named).
        ServingError: the server refused or failed the request, or could not be reached (its status and message).
    """
    images = load_images(paths, max_bytes=max_bytes, validate=validate)
    if rest:
        body = build_rest_body(images, signature_name if signature_name != SIGNATURE_NAME else None)
        return parse_rest_response(send_rest(server, body, model_name, model_version, timeout))
    request = build_grpc_request(images, model_name, signature_name, model_version)
    return parse_grpc_response(send_grpc(server, request, timeout))


def predict_command(args, stdout=None, stderr=None) -> int:
    r"""``pipeline_runner.py predict``: one line per file, ``<file>\t<class name>\t<probability>``.

    Args:
        args: the parsed options of :func:`add_predict_arguments`.
        stdout: where the predictions go; None: ``sys.stdout``.
        stderr: where a refused request or a server error is said; None: ``sys.stderr``.

    Returns:
        The exit status: 0; 2 for a bad request (nothing sent); 1 for a server error.
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
    """``python -m serving.client``: the ``predict`` command on its own; returns its exit status."""
    parser = add_predict_arguments(argparse.ArgumentParser(prog="python -m serving.client",
                                                           description="Classify images with the served model."))
    return predict_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
