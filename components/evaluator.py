"""Evaluator: TFMA's metrics for every arm of the comparison in one component.

TFX's ``Evaluator`` takes one candidate and one baseline; this one takes one
Model input per arm (``<arm>_model``, every arm of ``trainer.contract.ALL_ARMS``
optional) and an ``EvalConfig`` with one model spec per connected arm, the
baseline's marked ``is_baseline``.  Its output is TFX's ``ModelEvaluation``,
read with ``tfma.load_metrics`` / ``tfma.load_plots`` as usual.  It computes
metrics only (no thresholds, no blessing): the gate is the PairedComparison's.
"""

from collections.abc import Sequence

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import json_utils

from components import evaluator_executor
from trainer.contract import ALL_ARMS, model_input


class EvaluatorSpec(types.ComponentSpec):
    """TFX's Evaluator spec with one optional ``<arm>_model`` input per arm instead of ``model``/``baseline_model``."""

    PARAMETERS = {
        standard_component_specs.EVAL_CONFIG_KEY: ExecutionParameter(type=tfma.EvalConfig),
        standard_component_specs.EXAMPLE_SPLITS_KEY: ExecutionParameter(type=str),  # JSON list
    }
    INPUTS = {
        standard_component_specs.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        standard_component_specs.SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema, optional=True),
        **{model_input(arm): ChannelParameter(type=standard_artifacts.Model, optional=True) for arm in ALL_ARMS},
    }
    OUTPUTS = {
        standard_component_specs.EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
    }


class Evaluator(base_beam_component.BaseBeamComponent):
    """TFMA over every arm's model on ``example_splits``.

    Args:
        examples: the Examples channel (tf.Example records with the raw image and the label).
        models: arm name -> that arm's Trainer ``model`` channel; ``eval_config`` needs a model spec for each.
        eval_config: one ``tfma.ModelSpec`` per arm (name = arm, exactly one with ``is_baseline``), slices, metrics.
        example_splits: the splits evaluated (the test split).
        schema: optional, for TFXIO's typed read.

    Outputs:
        evaluation: TFX's ModelEvaluation: TFMA's metrics and plots of every model spec and slice, read
            with ``tfma.load_metrics`` / ``tfma.load_plots``; no validation result (no thresholds).

    Raises:
        ValueError: an arm that is not in ``trainer.contract.ALL_ARMS``, or model specs and models that differ.
    """

    SPEC_CLASS = EvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(evaluator_executor.Executor)

    def __init__(self, examples: types.BaseChannel, models: dict[str, types.BaseChannel],
                 eval_config: tfma.EvalConfig, example_splits: Sequence[str],
                 schema: types.BaseChannel | None = None):
        unknown = sorted(set(models) - set(ALL_ARMS))
        if unknown:
            raise ValueError(f"Evaluator: unknown arm(s) {unknown}; known: {', '.join(ALL_ARMS)}")
        specs = sorted(spec.name for spec in eval_config.model_specs)
        if specs != sorted(models):
            raise ValueError(f"Evaluator: model specs {specs} but models for {sorted(models)}")
        super().__init__(EvaluatorSpec(
            examples=examples, schema=schema, eval_config=eval_config,
            example_splits=json_utils.dumps(list(example_splits)),
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            **{model_input(arm): channel for arm, channel in models.items()}))
