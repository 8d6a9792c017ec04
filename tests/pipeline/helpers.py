"""Helpers of the pipeline tests: compiling for Kubeflow with the network closed."""

import socket

import pytest

from pipeline import kubeflow

IMAGE = "europe-docker.pkg.dev/proj/repo/resizer-tfx:test"
ROOT = "gs://bucket/resizer/root"


class NetworkUsedError(AssertionError):
    pass


def no_network(*args, **kwargs):
    raise NetworkUsedError(f"compiling tried to open a connection: {args[1:] if len(args) > 1 else args}")


def compile_offline(config, path, **kwargs):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", no_network)
        mp.setattr(socket.socket, "connect_ex", no_network)
        mp.setattr(socket, "create_connection", no_network)
        return kubeflow.compile_pipeline(config, path, IMAGE, pipeline_root=ROOT, **kwargs)
