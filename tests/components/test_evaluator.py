"""The Evaluator component's definition (components/evaluator.py): its spec, channels and refusals.

Its executor is tested in tests/components/test_evaluator_executor.py.
"""

import json

import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx import types
from tfx.types import standard_artifacts, standard_component_specs

from components import evaluator, evaluator_executor
from trainer.contract import ALL_ARMS, BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM, TEST_SPLIT, model_input


def eval_config(*arms):
    return tfma.EvalConfig(model_specs=[
        tfma.ModelSpec(name=arm, is_baseline=(arm == BILINEAR_BASELINE_ARM), model_type="tf_generic")
        for arm in arms])


def channels(*arms):
    return {arm: types.Channel(type=standard_artifacts.Model) for arm in arms}


def test_one_optional_model_input_per_arm_and_the_evaluation_output():
    inputs = evaluator.EvaluatorSpec.INPUTS
    assert {model_input(arm) for arm in ALL_ARMS} <= set(inputs)
    assert all(inputs[model_input(arm)].optional for arm in ALL_ARMS)
    assert not inputs[standard_component_specs.EXAMPLES_KEY].optional
    assert inputs[standard_component_specs.SCHEMA_KEY].optional
    assert evaluator.EvaluatorSpec.OUTPUTS[standard_component_specs.EVALUATION_KEY].type \
        is standard_artifacts.ModelEvaluation
    assert evaluator.Evaluator.EXECUTOR_SPEC.executor_class is evaluator_executor.Executor


def test_the_component_wires_the_connected_arms_and_the_splits():
    examples = types.Channel(type=standard_artifacts.Examples)
    models = channels(BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM)
    config = eval_config(BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM)
    component = evaluator.Evaluator(examples=examples, models=models, eval_config=config,
                                    example_splits=[TEST_SPLIT])
    assert component.inputs[standard_component_specs.EXAMPLES_KEY] is examples
    for arm, channel in models.items():
        assert component.inputs[model_input(arm)] is channel
    assert model_input(MULLER_ARM) not in component.inputs
    assert json.loads(component.exec_properties[standard_component_specs.EXAMPLE_SPLITS_KEY]) == [TEST_SPLIT]
    stored = component.exec_properties[standard_component_specs.EVAL_CONFIG_KEY]  # JSON, as TFX keeps protos
    assert json_format.Parse(stored, tfma.EvalConfig()) == config
    assert component.outputs[standard_component_specs.EVALUATION_KEY].type is standard_artifacts.ModelEvaluation


def test_an_unknown_arm_is_named():
    with pytest.raises(ValueError, match=r"Evaluator: unknown arm\(s\) \['nearest'\]"):
        evaluator.Evaluator(examples=types.Channel(type=standard_artifacts.Examples),
                            models=channels(BILINEAR_BASELINE_ARM, "nearest"),
                            eval_config=eval_config(BILINEAR_BASELINE_ARM, "nearest"), example_splits=[TEST_SPLIT])


def test_model_specs_and_models_must_name_the_same_arms():
    with pytest.raises(ValueError, match=rf"model specs \['{BILINEAR_BASELINE_ARM}'\] but models for "
                                         rf"\['{BILINEAR_BASELINE_ARM}', '{MULLER_ARM}'\]"):
        evaluator.Evaluator(examples=types.Channel(type=standard_artifacts.Examples),
                            models=channels(BILINEAR_BASELINE_ARM, MULLER_ARM),
                            eval_config=eval_config(BILINEAR_BASELINE_ARM), example_splits=[TEST_SPLIT])
