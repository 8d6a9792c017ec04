"""DecodeImages: the training splits decoded once per pipeline, for every Trainer and Tuner.

Every arm trains on the same images. Decoding them is the same work for each
(JPEG decode and the Transform graph's resize to ``training.image_size``: at
the mission's scale ~100 s of a 2-core machine per Trainer), so this
component, after Transform, does it once: it applies the Transform graph to
every image of the train and validation splits and writes them, rounded to
uint8, as ``Split-<name>/images.npy`` with the labels and example keys beside
(``trainer.data.write_decoded_split``; canonical order, so the same-order
guarantee and its ``data_order_sha256`` are unchanged). The Trainers and
Tuners (``components/training_components.py``) take the artifact as an input
and read it into memory or memory-map it (``training.image_cache``).

The test split is not decoded here: the Evaluator runs each arm's serving
SavedModel on the raw records, as TF Serving would.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from trainer.contract import TRAIN_SPLIT, VALIDATION_SPLIT

IMAGE_SIZE_KEY = "image_size"
SPLITS_KEY = "splits"
SPLIT_NAMES_PROPERTY = "split_names"


class DecodedImages(types.Artifact):
    """Decoded uint8 images per split: ``Split-<name>/`` with ``images.npy``, ``labels.npy`` and ``keys.json``."""

    # Kubeflow's "<namespace>.<Type>", and importable by that name (components/__init__.py).
    TYPE_NAME = "components.DecodedImages"


class DecodeImagesSpec(types.ComponentSpec):
    """The examples and the Transform graph in; the decoded splits out."""

    PARAMETERS = {
        IMAGE_SIZE_KEY: ExecutionParameter(type=str),  # JSON [height, width]
        SPLITS_KEY: ExecutionParameter(type=str),  # JSON list of split names
    }
    INPUTS = {
        standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        standard_component_specs.TRANSFORM_GRAPH_KEY: ChannelParameter(type=standard_artifacts.TransformGraph),
    }
    OUTPUTS = {"decoded_images": ChannelParameter(type=DecodedImages)}


class Executor(base_executor.BaseExecutor):
    """Writes every configured split with ``trainer.data.write_decoded_split``."""

    def Do(self, input_dict, output_dict, exec_properties):
        import tensorflow_transform as tft

        from trainer import data

        examples = artifact_utils.get_single_instance(input_dict[standard_component_specs.EXAMPLES_KEY])
        transform_uri = artifact_utils.get_single_uri(input_dict[standard_component_specs.TRANSFORM_GRAPH_KEY])
        output = artifact_utils.get_single_instance(output_dict["decoded_images"])
        image_size = tuple(json.loads(exec_properties[IMAGE_SIZE_KEY]))
        splits = json.loads(exec_properties[SPLITS_KEY])
        available = artifact_utils.decode_split_names(examples.split_names)
        missing = [split for split in splits if split not in available]
        if missing:
            raise ValueError(f"DecodeImages: the examples at {examples.uri} have no split {missing} "
                             f"(they have {available})")
        tf_transform_output = tft.TFTransformOutput(transform_uri)
        for split in splits:
            started = time.perf_counter()
            count = data.write_decoded_split([os.path.join(examples.uri, f"Split-{split}", "*")],
                                             tf_transform_output, image_size,
                                             os.path.join(output.uri, f"Split-{split}"))
            seconds = time.perf_counter() - started
            logging.info("DecodeImages: %d %s images decoded to %dx%d uint8 in %.1f s (%.1f images/s)", count,
                         split, *image_size, seconds, count / max(seconds, 1e-9))
        # A custom property: Kubeflow's compiler gives our artifact types no declared properties.
        output.set_string_custom_property(SPLIT_NAMES_PROPERTY, artifact_utils.encode_split_names(list(splits)))


class DecodeImages(base_component.BaseComponent):
    """Decodes the training splits once and hands them to every Trainer and Tuner.

    Args:
        examples: the ExampleGen's Examples channel.
        transform_graph: the Transform's ``transform_graph`` channel (decode and resize to ``image_size``).
        image_size: (height, width) of the Transform output (``training.image_size``).
        splits: the splits to decode (default: train and validation; the test split stays with the Evaluator).

    Outputs:
        decoded_images: :class:`DecodedImages`, one ``Split-<name>`` folder per split
            (``trainer.data.write_decoded_split``).

    Raises (at run time):
        ValueError: the examples lack one of ``splits``.
        FileNotFoundError: a split has no example file.
    """

    SPEC_CLASS = DecodeImagesSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, examples, transform_graph, image_size: Sequence[int],
                 splits: Sequence[str] = (TRAIN_SPLIT, VALIDATION_SPLIT)):
        super().__init__(DecodeImagesSpec(
            examples=examples, transform_graph=transform_graph, image_size=json.dumps(list(image_size)),
            splits=json.dumps(list(splits)), decoded_images=types.Channel(type=DecodedImages)))


__all__ = ["DecodeImages", "DecodeImagesSpec", "DecodedImages", "Executor"]
