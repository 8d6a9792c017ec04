"""TFX's Trainer and Tuner, each with one more optional input: the pipeline's DecodedImages.

They are TFX's components (same spec, executor, ``run_fn`` / ``tuner_fn``
contract and outputs) plus a ``decoded_images`` input
(``components/decode_images.py``). Its executor puts the artifact's URI into
the ``custom_config`` the module function gets, under
``contract.DECODED_IMAGES_CONFIG_KEY``; ``trainer/run.py`` then reads the
decoded splits instead of decoding the images again. Without the input they
behave exactly as TFX's.
"""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.components.trainer import executor as trainer_executor
from tfx.components.tuner import executor as tuner_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import trainer_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils

from components.decode_images import DecodedImages
from trainer.contract import DECODED_IMAGES_CONFIG_KEY, DECODED_IMAGES_INPUT

_DECODED_IMAGES = {DECODED_IMAGES_INPUT: ChannelParameter(type=DecodedImages, optional=True)}


def with_decoded_images_uri(input_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]):
    """``exec_properties`` with the DecodedImages artifact's URI added to its ``custom_config`` (a copy).

    Unchanged when the input is not connected.
    """
    artifacts = input_dict.get(DECODED_IMAGES_INPUT)
    if not artifacts:
        return exec_properties
    key = standard_component_specs.CUSTOM_CONFIG_KEY
    custom_config = json_utils.loads(exec_properties.get(key) or "null") or {}
    custom_config[DECODED_IMAGES_CONFIG_KEY] = artifact_utils.get_single_uri(artifacts)
    return {**exec_properties, key: json_utils.dumps(custom_config)}


class TrainerSpec(standard_component_specs.TrainerSpec):
    """TFX's Trainer spec and the optional ``decoded_images`` input."""

    INPUTS = {**standard_component_specs.TrainerSpec.INPUTS, **_DECODED_IMAGES}


class TunerSpec(standard_component_specs.TunerSpec):
    """TFX's Tuner spec and the optional ``decoded_images`` input."""

    INPUTS = {**standard_component_specs.TunerSpec.INPUTS, **_DECODED_IMAGES}


class TrainerExecutor(trainer_executor.GenericExecutor):
    """TFX's generic Trainer executor; ``run_fn`` finds the decoded splits' URI in its ``custom_config``."""

    def Do(self, input_dict, output_dict, exec_properties):
        return super().Do(input_dict, output_dict, with_decoded_images_uri(input_dict, exec_properties))


class TunerExecutor(tuner_executor.Executor):
    """TFX's Tuner executor; ``tuner_fn`` finds the decoded splits' URI in its ``custom_config``."""

    def Do(self, input_dict, output_dict, exec_properties):
        return super().Do(input_dict, output_dict, with_decoded_images_uri(input_dict, exec_properties))


class Trainer(base_component.BaseComponent):
    """TFX's Trainer (``run_fn`` form) that also takes the pipeline's DecodedImages.

    Args:
        run_fn: the module function's path (``trainer.run.run_fn``).
        examples, transform_graph, schema, base_model, hyperparameters, train_args, eval_args, custom_config:
            as for ``tfx.components.Trainer``.
        decoded_images: the DecodeImages component's output, or None (``run_fn`` decodes itself).

    Outputs:
        model, model_run: as TFX's Trainer.
    """

    SPEC_CLASS = TrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(TrainerExecutor)

    def __init__(self, run_fn: str, examples, transform_graph, schema=None, base_model=None, hyperparameters=None,
                 train_args: trainer_pb2.TrainArgs | None = None, eval_args: trainer_pb2.EvalArgs | None = None,
                 custom_config: dict[str, Any] | None = None, decoded_images=None):
        super().__init__(TrainerSpec(
            examples=examples, transform_graph=transform_graph, schema=schema, base_model=base_model,
            hyperparameters=hyperparameters, train_args=train_args or trainer_pb2.TrainArgs(),
            eval_args=eval_args or trainer_pb2.EvalArgs(), run_fn=run_fn,
            custom_config=json_utils.dumps(custom_config), decoded_images=decoded_images,
            model=types.Channel(type=standard_artifacts.Model),
            model_run=types.Channel(type=standard_artifacts.ModelRun)))


class Tuner(base_component.BaseComponent):
    """TFX's Tuner (``tuner_fn`` form) that also takes the pipeline's DecodedImages.

    Args:
        tuner_fn: the module function's path (``trainer.run.tuner_fn``).
        examples, transform_graph, schema, base_model, train_args, eval_args, custom_config: as for
            ``tfx.components.Tuner``.
        decoded_images: the DecodeImages component's output, or None (``tuner_fn`` decodes itself).

    Outputs:
        best_hyperparameters, tuner_results: as TFX's Tuner.
    """

    SPEC_CLASS = TunerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(TunerExecutor)

    def __init__(self, tuner_fn: str, examples, transform_graph, schema=None, base_model=None,
                 train_args: trainer_pb2.TrainArgs | None = None, eval_args: trainer_pb2.EvalArgs | None = None,
                 custom_config: dict[str, Any] | None = None, decoded_images=None):
        super().__init__(TunerSpec(
            examples=examples, transform_graph=transform_graph, schema=schema, base_model=base_model,
            tuner_fn=tuner_fn, train_args=train_args or trainer_pb2.TrainArgs(),
            eval_args=eval_args or trainer_pb2.EvalArgs(), custom_config=json_utils.dumps(custom_config),
            decoded_images=decoded_images,
            best_hyperparameters=types.Channel(type=standard_artifacts.HyperParameters),
            tuner_results=types.Channel(type=standard_artifacts.TunerResults)))


__all__ = ["Trainer", "TrainerExecutor", "TrainerSpec", "Tuner", "TunerExecutor", "TunerSpec",
           "with_decoded_images_uri"]
