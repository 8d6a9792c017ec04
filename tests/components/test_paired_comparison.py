"""PairedComparison (components/paired_comparison.py): its reads, its files, its gate's bounds, its blessing.

The whole component runs in the pipeline tests; here each piece runs on tiny hand-made inputs.
"""

import csv
import io
import json
import os

import numpy as np
import pytest
from tfx import types
from tfx.types import standard_artifacts

from components import paired_comparison as pc
from components import synthetic_examples
from components.verdict import Cost
from tests.components.test_verdict_text import make_verdict
from trainer import contract
from trainer.contract import BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM, TEST_SPLIT, model_input


def artifact(kind, uri, artifact_id=0):
    item = kind()
    item.uri = str(uri)
    item.id = artifact_id
    return item


def test_read_split_orders_by_file_name_and_names_a_missing_split(tmp_path):
    import tensorflow as tf

    synthetic_examples.write_tfrecord_dataset(str(tmp_path / f"Split-{TEST_SPLIT}"), 6)
    serialized, labels, filenames, images = pc.read_split(str(tmp_path), TEST_SPLIT)
    assert filenames == sorted(filenames) and len(filenames) == 6
    assert labels.dtype == np.int64
    for record, label, filename, image in zip(serialized, labels, filenames, images):
        example = tf.train.Example.FromString(record)
        feature = example.features.feature
        assert feature[contract.FILENAME_KEY].bytes_list.value[0].decode() == filename
        assert feature[contract.LABEL_KEY].int64_list.value[0] == label
        assert feature[contract.IMAGE_KEY].bytes_list.value[0] == image
        assert filename.startswith(synthetic_examples.CLASS_NAMES[label] + "/")
    with pytest.raises(FileNotFoundError, match="split 'validation': no example files match .*Split-validation"):
        pc.read_split(str(tmp_path), "validation")


def test_predictions_csv_has_a_row_per_example_and_columns_per_arm():
    probabilities = {BILINEAR_BASELINE_ARM: np.array([[0.9, 0.1], [0.3, 0.7]]),
                     LEARNABLE_RESIZER_ARM: np.array([[0.2, 0.8], [0.25, 0.75]])}
    text = pc.predictions_csv(["a.jpg", "b.png"], np.array([0, 2]), ["dark", "bright"], probabilities)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["filename", "label", "label_name",
                       f"{BILINEAR_BASELINE_ARM}_class", f"{BILINEAR_BASELINE_ARM}_p_dark",
                       f"{BILINEAR_BASELINE_ARM}_p_bright",
                       f"{LEARNABLE_RESIZER_ARM}_class", f"{LEARNABLE_RESIZER_ARM}_p_dark",
                       f"{LEARNABLE_RESIZER_ARM}_p_bright"]
    assert rows[1] == ["a.jpg", "0", "dark", "0", "0.900000", "0.100000", "1", "0.200000", "0.800000"]
    # A label without a name is shown by its number.
    assert rows[2][:3] == ["b.png", "2", "2"] and rows[2][3] == "1" and rows[2][6] == "1"
    assert len(rows) == 3


def test_read_cost_reads_the_trainers_file_or_gives_an_empty_cost(tmp_path):
    assert pc.read_cost(str(tmp_path)) == Cost()
    (tmp_path / contract.MODEL_COST_FILE).write_text(json.dumps(
        {"parameters": 1000, "resizer_parameters": 4, "resizer_flops": 70, "model_flops": 9000, "other": 1}))
    assert pc.read_cost(str(tmp_path)) == Cost(parameters=1000, resizer_parameters=4, resizer_flops=70,
                                               model_flops=9000)


def test_the_gate_is_checked_against_the_configurations_bounds():
    gate = pc._checked_gate({pc.MARGIN_KEY: -0.02, pc.FLOOR_KEY: 0.5, pc.SIGNIFICANCE_KEY: 0.05})
    assert (gate.accuracy_margin, gate.accuracy_floor, gate.significance_level) == (-0.02, 0.5, 0.05)
    assert pc._checked_gate({}).significance_level == 0.0  # absent: no test
    with pytest.raises(ValueError, match=r"evaluation.accuracy_floor: must be in \[0, 1\], got 1.5"):
        pc._checked_gate({pc.FLOOR_KEY: 1.5})
    with pytest.raises(ValueError, match=r"evaluation.significance_level: must be in \[0, 0.999999\], got 1.0"):
        pc._checked_gate({pc.SIGNIFICANCE_KEY: 1})


def models_in(tmp_path):
    models = {}
    for index, arm in enumerate((BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM)):
        serving = tmp_path / arm / "Format-Serving"
        (serving / "variables").mkdir(parents=True)
        (serving / contract.SAVED_MODEL_FILE).write_bytes(arm.encode())
        (tmp_path / arm / contract.MODEL_COST_FILE).write_text("{}")
        models[arm] = artifact(standard_artifacts.Model, tmp_path / arm, 10 + index)
    return models


def test_a_blessing_copies_the_chosen_model_for_the_pusher(tmp_path):
    verdict = make_verdict()
    assert verdict.blessed and verdict.chosen == LEARNABLE_RESIZER_ARM
    models = models_in(tmp_path)
    blessing = artifact(standard_artifacts.ModelBlessing, tmp_path / "blessing")
    chosen = artifact(standard_artifacts.Model, tmp_path / "chosen")
    pc.write_blessing(blessing, verdict, models, chosen)
    assert blessing.get_int_custom_property(pc.BLESSED_PROPERTY) == 1
    assert blessing.get_string_custom_property(pc.CHOSEN_ARM_PROPERTY) == LEARNABLE_RESIZER_ARM
    assert blessing.get_string_custom_property(pc.RULE_PROPERTY) == verdict.rule
    assert blessing.get_string_custom_property("current_model") == models[LEARNABLE_RESIZER_ARM].uri
    assert blessing.get_int_custom_property("current_model_id") == 11
    assert blessing.get_int_custom_property("baseline_model_id") == 10
    assert (tmp_path / "blessing" / pc.BLESSED_FILE).read_text() == verdict.rule + "\n"
    assert (tmp_path / "chosen" / "Format-Serving" / contract.SAVED_MODEL_FILE).read_bytes() == \
        LEARNABLE_RESIZER_ARM.encode()
    assert (tmp_path / "chosen" / "Format-Serving" / "variables").is_dir()
    assert chosen.get_string_custom_property(pc.CHOSEN_ARM_PROPERTY) == LEARNABLE_RESIZER_ARM
    assert chosen.get_int_custom_property("source_model_id") == 11


def test_no_blessing_leaves_the_chosen_model_empty(tmp_path):
    from components.comparison_stats import PairedTable

    verdict = make_verdict({LEARNABLE_RESIZER_ARM: PairedTable(40, 2, 20, 10), MULLER_ARM: PairedTable(40, 5, 5, 22)})
    assert not verdict.blessed and verdict.chosen is None
    blessing = artifact(standard_artifacts.ModelBlessing, tmp_path / "blessing")
    chosen = artifact(standard_artifacts.Model, tmp_path / "chosen")
    pc.write_blessing(blessing, verdict, models_in(tmp_path), chosen)
    assert blessing.get_int_custom_property(pc.BLESSED_PROPERTY) == 0
    assert blessing.get_string_custom_property(pc.CHOSEN_ARM_PROPERTY) == ""
    assert os.listdir(tmp_path / "blessing") == [pc.NOT_BLESSED_FILE]
    assert not (tmp_path / "chosen").exists()


def test_the_component_takes_one_model_per_arm_and_refuses_a_mismatch():
    examples = types.Channel(type=standard_artifacts.Examples)
    evaluation = types.Channel(type=standard_artifacts.ModelEvaluation)
    models = {arm: types.Channel(type=standard_artifacts.Model) for arm in (BILINEAR_BASELINE_ARM, MULLER_ARM)}
    component = pc.PairedComparison(examples, models, evaluation, BILINEAR_BASELINE_ARM, [MULLER_ARM],
                                    accuracy_margin=0.01, significance_level=0.05, latency_calls=5)
    assert component.inputs[model_input(MULLER_ARM)] is models[MULLER_ARM]
    assert json.loads(component.exec_properties[pc.CANDIDATES_KEY]) == [MULLER_ARM]
    assert component.exec_properties[pc.SPLIT_KEY] == TEST_SPLIT
    assert component.exec_properties[pc.LATENCY_CALLS_KEY] == 5
    assert set(component.outputs) == {"blessing", "comparison", "chosen_model"}
    assert component.outputs["comparison"].type is pc.PairedComparisonArtifact
    with pytest.raises(ValueError, match="PairedComparison: models for .* but arms"):
        pc.PairedComparison(examples, models, evaluation, BILINEAR_BASELINE_ARM, [LEARNABLE_RESIZER_ARM])
