"""Helpers of the ingestion component tests: read an Examples artifact, run an executor, encode images."""

from __future__ import annotations

import glob
import io
import json
import os

import numpy as np
from PIL import Image

from trainer import contract

TFDS_NUM_EXAMPLES = 50


def read_records(examples_uri: str, split: str):
    """tf.train.Examples of one split of an Examples artifact directory."""
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz")))
    assert files, f"no TFRecord files for split {split} under {examples_uri}"
    out = []
    for raw in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example()
        example.ParseFromString(raw.numpy())
        out.append(example)
    return out


def feature(example, key):
    f = example.features.feature[key]
    if f.HasField("bytes_list"):
        return f.bytes_list.value[0]
    return f.int64_list.value[0]


def read_bad_rows(examples_uri: str) -> list[dict[str, str]]:
    with open(os.path.join(examples_uri, contract.BAD_IMAGES_FILE)) as f:
        lines = f.read().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def read_report(examples_uri: str):
    with open(os.path.join(examples_uri, contract.INGEST_REPORT_FILE)) as f:
        return json.load(f)


def run_executor(component, output_uri: str, beam_pipeline_args=None):
    """Runs ``component``'s executor directly (no orchestrator, no MLMD).

    Returns the output Examples artifact.
    """
    from google.protobuf import message
    from tfx.dsl.components.base import base_beam_executor
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    exec_properties = {}
    for key, value in component.exec_properties.items():
        if isinstance(value, message.Message):
            value = proto_utils.proto_to_json(value)
        exec_properties[key] = value
    examples = standard_artifacts.Examples()
    examples.uri = output_uri
    os.makedirs(output_uri, exist_ok=True)
    executor_class = component.executor_spec.executor_class
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=beam_pipeline_args or [])
    executor_class(context).Do({}, {"examples": [examples]}, exec_properties)
    return examples


def jpeg_bytes(array: np.ndarray, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=95, **kwargs)
    return buf.getvalue()


def png_bytes(image: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", **kwargs)
    return buf.getvalue()
