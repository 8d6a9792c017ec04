"""ServabilityCheck: the model the gate blessed, served in a fresh process before the Pusher pushes it.

The component keeps TFX's ``InfraValidator`` contract, so the Pusher reads
it as it reads that component's output (``infra_blessing``):

* input ``model``: the PairedComparison's ``chosen_model``; ``model_blessing``:
  its ``blessing``; ``examples``: the Examples, whose ``split`` (validation by
  default) gives the request images;
* output ``blessing`` (``InfraBlessing``): custom property ``blessed`` 1 or 0
  and a marker file ``INFRA_BLESSED`` / ``INFRA_NOT_BLESSED`` (TFX's names),
  ``reason`` (one sentence: what was checked, or what failed) and
  ``servability.json`` (the whole :class:`serving.servability.Result`);
  when blessed, the model to push in ``<blessing>/stamped_model/`` with its
  warm-up records in ``assets.extra/tf_serving_warmup_requests`` and
  ``has_model`` = 1, which the Pusher pushes when it has no ``model`` input.

When the gate blessed nothing there is nothing to serve: the InfraBlessing
says not blessed (the reason says why) and the run goes on (the Pusher
pushes nothing, as without this component).  A model that cannot be served
is not an error of the run either: the InfraBlessing refuses it with the
reason, and nothing is pushed.

The check (:func:`serving.servability.check_servability`): the model is
copied, its warm-up records are written (the requests below, as
``PredictionLog`` records), and a fresh Python process loads it as TF
Serving does (tag ``serve``, the signatures by name, their inputs and
outputs by key and dtype), replays the warm-up records, and answers the
REST body and gRPC ``PredictRequest`` that ``pipeline_runner.py predict``
sends for ``num_images`` images of ``split``, and a ``PredictRequest`` of
their tf.Example records; the client's parsers read the answers, which must
have the contract's shapes and dtypes, probabilities summing to 1, and
agree with one another.
"""

import json
import os

import tensorflow as tf
from absl import logging
from tfx import types
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import io_utils, path_utils

from serving import servability
from trainer.contract import IMAGE_KEY, SERVABILITY_FILE, SERVED_MODEL_NAME, VALIDATION_SPLIT

# TFX's names (tfx/components/infra_validator/executor.py), so the Pusher reads our InfraBlessing as its own.
BLESSED_PROPERTY, HAS_MODEL_PROPERTY = "blessed", "has_model"
BLESSED_FILE, NOT_BLESSED_FILE = "INFRA_BLESSED", "INFRA_NOT_BLESSED"
REASON_PROPERTY = "reason"
SPLIT_KEY, NUM_IMAGES_KEY, TIMEOUT_KEY, MODEL_NAME_KEY = "split", "num_images", "timeout_seconds", "model_name"
NOT_CHOSEN_REASON = "not checked: the gate blessed no candidate, so there is nothing to serve"


def request_records(examples_uri: str, split: str, count: int):
    """(encoded images, serialized tf.Example records) of the first ``count`` examples of ``split`` by file name.

    Args:
        examples_uri: the Examples artifact's URI (``Split-<split>/*.gz`` TFRecord files).
        split: the split to read.
        count: how many examples (>= 1).

    Returns:
        two lists of bytes, in the same order.

    Raises:
        FileNotFoundError: the split has no files; ValueError: it has no example with an image.
    """
    from components.paired_comparison import read_split

    serialized, _, filenames, images = read_split(examples_uri, split)
    chosen = [(s, i) for s, i in zip(serialized, images) if i][:count]
    if not chosen:
        raise ValueError(f"split {split!r} of {examples_uri}: no example with a {IMAGE_KEY!r} image to build "
                         f"requests from ({len(filenames)} examples)")
    return [i for _, i in chosen], [s for s, _ in chosen]


def mark(blessing, result: servability.Result, has_model: bool) -> None:
    """Writes the InfraBlessing: properties, marker file and ``servability.json``."""
    blessing.set_int_custom_property(BLESSED_PROPERTY, int(result.blessed))
    blessing.set_int_custom_property(HAS_MODEL_PROPERTY, int(has_model))
    blessing.set_string_custom_property(REASON_PROPERTY, result.reason)
    io_utils.write_string_file(os.path.join(blessing.uri, BLESSED_FILE if result.blessed else NOT_BLESSED_FILE),
                               result.reason + "\n")
    io_utils.write_string_file(os.path.join(blessing.uri, SERVABILITY_FILE),
                               json.dumps(result.to_dict(), indent=2))


class ServabilityCheckSpec(types.ComponentSpec):
    """The chosen model, its blessing and the examples in; TFX's InfraBlessing out (InfraValidator's contract)."""

    PARAMETERS = {
        SPLIT_KEY: ExecutionParameter(type=str),
        NUM_IMAGES_KEY: ExecutionParameter(type=int),
        TIMEOUT_KEY: ExecutionParameter(type=int),
        MODEL_NAME_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
        "examples": ChannelParameter(type=standard_artifacts.Examples),
    }
    OUTPUTS = {"blessing": ChannelParameter(type=standard_artifacts.InfraBlessing)}


class Executor(base_executor.BaseExecutor):
    """See the module docstring."""

    def Do(self, input_dict, output_dict, exec_properties):
        blessing = artifact_utils.get_single_instance(output_dict["blessing"])
        # Kubeflow's launcher creates only an output's parent directory (object stores need none).
        tf.io.gfile.makedirs(blessing.uri)
        model_blessing = artifact_utils.get_single_instance(input_dict["model_blessing"])
        if not model_utils.is_model_blessed(model_blessing):
            mark(blessing, servability.Result(False, NOT_CHOSEN_REASON), has_model=False)
            logging.info("Servability: %s", NOT_CHOSEN_REASON)
            return
        model = artifact_utils.get_single_instance(input_dict["model"])
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        images, serialized = request_records(examples.uri, exec_properties[SPLIT_KEY],
                                             int(exec_properties[NUM_IMAGES_KEY]))
        model_name = exec_properties.get(MODEL_NAME_KEY) or SERVED_MODEL_NAME
        # The model to push: the chosen model's SavedModel and its warm-up records, checked as it will be pushed.
        stamped = path_utils.stamped_model_path(blessing.uri)
        io_utils.copy_dir(path_utils.serving_model_path(model.uri), stamped)
        requests = servability.build_requests(images, serialized, model_name)
        servability.write_warmup_file(stamped, servability.warmup_records(requests))
        result = servability.check_servability(stamped, images, serialized,
                                               timeout_s=float(exec_properties[TIMEOUT_KEY]), model_name=model_name)
        if not result.blessed:
            io_utils.delete_dir(stamped)  # nothing to push: TFX's InfraValidator keeps no model either
        mark(blessing, result, has_model=result.blessed)
        logging.info("Servability: %s", result.reason)


class ServabilityCheck(base_component.BaseComponent):
    """Serves the chosen model in a fresh process, with the client's requests, before the Pusher pushes it.

    Args:
        model: the PairedComparison's ``chosen_model`` channel (Model).
        model_blessing: its ``blessing`` channel (ModelBlessing): nothing is checked unless it is blessed.
        examples: the Examples channel; the requests' images come from ``split``.
        split: the split whose first ``num_images`` examples (by file name) make the requests.
        num_images: images per request (>= 1).
        timeout_seconds: the serving process's limit (loading, warm-up, requests).
        model_name: the name the requests address (the served model's name).

    Outputs:
        blessing: InfraBlessing, which the Pusher takes as ``infra_blessing``: ``blessed`` 1 or 0 with TFX's
            ``INFRA_BLESSED`` / ``INFRA_NOT_BLESSED`` marker, ``reason``, ``servability.json`` and, when blessed,
            the model to push in ``stamped_model/`` with its warm-up records (see the module docstring).

    Raises:
        ValueError: ``num_images`` < 1.
    """

    SPEC_CLASS = ServabilityCheckSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, model, model_blessing, examples, split: str = VALIDATION_SPLIT, num_images: int = 2,
                 timeout_seconds: int = 600, model_name: str = SERVED_MODEL_NAME):
        if num_images < 1:
            raise ValueError(f"ServabilityCheck: num_images must be >= 1, got {num_images}")
        super().__init__(ServabilityCheckSpec(
            model=model, model_blessing=model_blessing, examples=examples, split=split, num_images=num_images,
            timeout_seconds=timeout_seconds, model_name=model_name,
            blessing=types.Channel(type=standard_artifacts.InfraBlessing)))
