"""The Evaluator's per-example probabilities: the rows, the reader's checks, and a real TFMA run read back."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from components import evaluator_probabilities as ep
from components import paired_comparison as pc
from components import synthetic_examples
from trainer.contract import BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM, PROBABILITIES_OUTPUT, TEST_SPLIT

ARMS = (BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM)


def _write_rows(evaluation_uri, split, rows_per_shard):
    for shard, rows in enumerate(rows_per_shard):
        name = f"{ep.file_prefix(evaluation_uri, [split])}-{shard:05d}-of-{len(rows_per_shard):05d}"
        with open(name, "w") as f:
            f.writelines(line + "\n" for line in rows)


def test_a_batch_of_extracts_gives_one_line_per_example_keyed_by_its_digest():
    serialized = [b"first", b"second"]
    batch = {"input": np.array(serialized, dtype=object),
             "predictions": {BILINEAR_BASELINE_ARM: np.array([[0.25, 0.75], [0.5, 0.5]]),
                             LEARNABLE_RESIZER_ARM: {PROBABILITIES_OUTPUT: np.array([[0.9, 0.1], [0.2, 0.8]]),
                                                     "class_id": np.array([0, 1])}}}
    rows = [json.loads(line) for line in ep.extracts_to_rows(batch, ARMS)]
    assert [r["example"] for r in rows] == [ep.example_digest(s) for s in serialized]
    assert rows[1]["probabilities"] == {BILINEAR_BASELINE_ARM: [0.5, 0.5], LEARNABLE_RESIZER_ARM: [0.2, 0.8]}
    # One model: TFMA does not key its predictions by model name.
    [single, _] = ep.extracts_to_rows({"input": serialized, "predictions": np.array([[1.0, 0.0], [0.0, 1.0]])},
                                      [BILINEAR_BASELINE_ARM])
    assert json.loads(single)["probabilities"] == {BILINEAR_BASELINE_ARM: [1.0, 0.0]}
    # An unbatched extract (what TFMA's last extractor gives): one example, predictions (K,).
    [one] = ep.extracts_to_rows({"input": np.array([b"first"], dtype=object),
                                 "predictions": {arm: np.array([0.25, 0.75]) for arm in ARMS}}, ARMS)
    assert json.loads(one) == {"example": ep.example_digest(b"first"),
                               "probabilities": {arm: [0.25, 0.75] for arm in ARMS}}
    with pytest.raises(ValueError, match="2 example"):
        list(ep.extracts_to_rows({"input": serialized, "predictions": np.array([0.25, 0.75])}, ARMS[:1]))


def test_the_reader_follows_the_splits_order_and_refuses_an_incomplete_file(tmp_path):
    serialized = [b"a", b"b", b"c"]
    probabilities = {s: {BILINEAR_BASELINE_ARM: [i / 10, 1 - i / 10], LEARNABLE_RESIZER_ARM: [1.0, 0.0]}
                     for i, s in enumerate(serialized)}
    lines = [json.dumps({"example": ep.example_digest(s), "probabilities": probabilities[s]}) for s in serialized]
    uri = str(tmp_path)
    assert ep.read_probabilities(uri, TEST_SPLIT, serialized, ARMS) is None  # nothing written yet
    _write_rows(uri, TEST_SPLIT, [lines[2:], lines[:2]])  # shards in another order than the split
    read = ep.read_probabilities(uri, TEST_SPLIT, [b"c", b"a", b"b"], ARMS)
    np.testing.assert_allclose(read[BILINEAR_BASELINE_ARM], [[0.2, 0.8], [0.0, 1.0], [0.1, 0.9]])
    assert read[LEARNABLE_RESIZER_ARM].shape == (3, 2) and read[LEARNABLE_RESIZER_ARM].dtype == np.float32
    assert ep.read_probabilities(uri, "validation", serialized, ARMS) is None  # another split
    assert ep.read_probabilities(uri, TEST_SPLIT, [*serialized, b"d"], ARMS) is None  # an example it lacks
    assert ep.read_probabilities(uri, TEST_SPLIT, serialized[:2], ARMS) is None  # rows of other examples
    assert ep.read_probabilities(uri, TEST_SPLIT, serialized, [*ARMS, MULLER_ARM]) is None  # an arm it lacks


@pytest.fixture(scope="module")
def evaluated(serving_model, tmp_path_factory):
    """The Evaluator's executor over two arms (the same untrained SavedModel) on 12 synthetic test examples."""
    from tfx.types import standard_artifacts, standard_component_specs
    from tfx.utils import proto_utils

    from components.evaluator_executor import Executor
    from pipeline.config import profile
    from pipeline.pipeline import make_eval_config
    from trainer.contract import model_input

    export_dir, _, _ = serving_model
    root = tmp_path_factory.mktemp("evaluated")
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "examples")
    examples.split_names = json.dumps([TEST_SPLIT])
    synthetic_examples.write_tfrecord_dataset(os.path.join(examples.uri, f"Split-{TEST_SPLIT}"), 12, seed=3)
    config = profile("demo", overrides={"training.candidates": LEARNABLE_RESIZER_ARM})
    assert tuple(config.training.arms) == ARMS
    inputs = {standard_component_specs.EXAMPLES_KEY: [examples]}
    for arm in ARMS:
        model = standard_artifacts.Model()
        model.uri = str(root / arm)
        os.makedirs(model.uri)
        os.symlink(export_dir, os.path.join(model.uri, "Format-Serving"))
        inputs[model_input(arm)] = [model]
    evaluation = standard_artifacts.ModelEvaluation()
    evaluation.uri = str(root / "evaluation")
    Executor().Do(inputs, {standard_component_specs.EVALUATION_KEY: [evaluation]}, {
        standard_component_specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(make_eval_config(config)),
        standard_component_specs.EXAMPLE_SPLITS_KEY: json.dumps([TEST_SPLIT])})
    return examples.uri, evaluation.uri, export_dir, {arm: inputs[model_input(arm)][0].uri for arm in ARMS}


def test_the_evaluator_keeps_what_each_arm_predicted_on_every_example(evaluated):
    examples_uri, evaluation_uri, export_dir, _ = evaluated
    serialized, labels, _, _ = pc.read_split(examples_uri, TEST_SPLIT)
    kept = ep.read_probabilities(evaluation_uri, TEST_SPLIT, serialized, ARMS)
    assert kept is not None and set(kept) == set(ARMS)
    # What PairedComparison would predict itself, in the split's order.
    predicted = pc.predict(tf.saved_model.load(export_dir), serialized)
    for arm in ARMS:
        np.testing.assert_allclose(kept[arm], predicted, atol=1e-5)
        np.testing.assert_array_equal(kept[arm].argmax(-1), predicted.argmax(-1))
    # TFMA's accuracy is that of these rows.
    accuracy = pc.tfma_accuracy(evaluation_uri)
    for arm in ARMS:
        assert accuracy[arm] == pytest.approx(float(np.mean(kept[arm].argmax(-1) == labels)), abs=1e-6)


def test_paired_comparison_takes_the_evaluators_probabilities_or_predicts_without_them(evaluated, tmp_path):
    from components.verdict import Gate

    examples_uri, evaluation_uri, _, model_uris = evaluated
    gate = Gate(accuracy_margin=-1.0, accuracy_floor=0.0, significance_level=0.0)
    tfma_values = pc.tfma_accuracy(evaluation_uri)
    nowhere = {arm: str(tmp_path / "no_model" / arm) for arm in ARMS}  # loading one would fail
    verdict, kept, labels, _, source = pc.compare_arms(examples_uri, nowhere, BILINEAR_BASELINE_ARM,
                                                        [LEARNABLE_RESIZER_ARM], TEST_SPLIT, gate, tfma_values,
                                                        evaluation_uri=evaluation_uri)
    assert source == "evaluator" and verdict.n == len(labels) == 12
    # Without the file (an evaluation written before it existed): every arm predicts, the same verdict.
    again, predicted, _, _, source = pc.compare_arms(examples_uri, model_uris, BILINEAR_BASELINE_ARM,
                                                      [LEARNABLE_RESIZER_ARM], TEST_SPLIT, gate, tfma_values,
                                                      evaluation_uri=str(tmp_path))
    assert source == "predicted" and again.to_dict() == verdict.to_dict()
    for arm in ARMS:
        np.testing.assert_allclose(kept[arm], predicted[arm], atol=1e-5)
