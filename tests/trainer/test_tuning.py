"""The hyperparameter search: its configuration, each arm's search space, the chosen values, and a real Tuner run."""

import glob
import json
import os

import pytest

from pipeline import config as config_lib
from tests.trainer.helpers import latest, read_summary, run_until_trainers
from trainer import contract, tuning
from trainer.config import ConfigError, TrainingConfig, TuningConfig
from trainer.contract import BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM


def test_tuning_is_off_by_default_and_adds_no_component():
    from pipeline.pipeline import create_components

    config = config_lib.demo_profile(output_dir="/tmp/unused")
    assert config.tuning.trials == 0
    ids = list(create_components(config))
    assert not [i for i in ids if i.startswith("Tuner")]
    assert contract.TUNING_CONFIG_KEY not in config.arm_custom_config(LEARNABLE_RESIZER_ARM)


def test_trials_add_one_tuner_per_arm_on_train_and_validation_feeding_its_trainer():
    from pipeline.pipeline import create_components

    config = config_lib.with_overrides(config_lib.demo_profile(output_dir="/tmp/unused"),
                                       {"tuning.trials": "3", "tuning.filters": "8,16"})
    components = create_components(config)
    for arm in config.training.arms:
        tuner, trainer = components[contract.tuner_id(arm)], components[contract.trainer_id(arm)]
        assert list(components).index(tuner.id) < list(components).index(trainer.id)
        assert trainer.inputs["hyperparameters"] is tuner.outputs[contract.TUNER_BEST_HYPERPARAMETERS_OUTPUT]
        properties = tuner.exec_properties
        assert properties["tuner_fn"] == contract.TUNER_FN
        # Never the test split.
        assert contract.TRAIN_SPLIT in properties["train_args"] and contract.TEST_SPLIT not in properties["train_args"]
        assert contract.VALIDATION_SPLIT in properties["eval_args"]
        assert contract.TEST_SPLIT not in properties["eval_args"]
        custom = json.loads(properties["custom_config"])
        assert custom[contract.TUNING_CONFIG_KEY]["trials"] == 3
        assert custom[contract.TRAINING_CONFIG_KEY]["arm"] == arm
        # The Trainer knows the search too (the report says what was searched).
        trainer_custom = json.loads(trainer.exec_properties["custom_config"])
        assert trainer_custom[contract.TUNING_CONFIG_KEY] == custom[contract.TUNING_CONFIG_KEY]


def test_with_the_control_experiment_every_tuner_starts_from_the_first_trainers_model():
    from pipeline.pipeline import create_components

    config = config_lib.with_overrides(config_lib.demo_profile(output_dir="/tmp/unused"),
                                       {"tuning.trials": "2", "training.warm_start_epochs": "1"})
    components = create_components(config)
    first = components[contract.WARM_START_TRAINER_ID]
    for arm in config.training.arms:
        assert components[contract.tuner_id(arm)].inputs["base_model"] is first.outputs["model"]
    # The first Trainer itself is not tuned.
    assert "hyperparameters" not in first.inputs


@pytest.mark.parametrize("values, field, message", [
    ({"tuning.trials": "-1"}, "tuning.trials", "must be >= 0"),
    ({"tuning.epochs": "0"}, "tuning.epochs", "must be >= 1"),
    ({"tuning.filters": "8,8"}, "tuning.filters", "more than once"),
    ({"tuning.num_res_blocks": "[]"}, "tuning.num_res_blocks", "at least one value"),
    ({"tuning.filters": "0,4"}, "tuning.filters[0]", "must be >= 1"),
    ({"tuning.learning_rate_min": "0.1", "tuning.learning_rate_max": "0.01"}, "tuning.learning_rate_max",
     "must be larger than learning_rate_min"),
])
def test_bad_tuning_settings_name_the_field(values, field, message):
    with pytest.raises(ConfigError) as caught:
        config_lib.with_overrides(config_lib.demo_profile(), values)
    assert caught.value.field == field
    assert message in caught.value.message


def test_the_learnable_resizer_searches_its_size_and_every_other_arm_the_learning_rate():
    settings = TuningConfig(trials=2, filters=(8, 16, 32), num_res_blocks=(1, 2), learning_rate_min=1e-4,
                            learning_rate_max=1e-2)
    training = TrainingConfig(filters=16, num_res_blocks=3, learning_rate=0.05)
    space = tuning.search_space(training.for_arm(LEARNABLE_RESIZER_ARM), settings)
    config = space.get_config()
    by_name = {entry["config"]["name"]: entry for entry in config["space"]}
    assert set(by_name) == {contract.HP_FILTERS, contract.HP_NUM_RES_BLOCKS, contract.HP_LEARNING_RATE}
    assert by_name["filters"]["config"]["values"] == [8, 16, 32]
    assert by_name["num_res_blocks"]["config"]["values"] == [1, 2]
    rate = by_name["learning_rate"]["config"]
    assert (rate["min_value"], rate["max_value"], rate["sampling"]) == (1e-4, 1e-2, "log")
    # Defaults: the configured value when searchable, else the first choice; the rate clipped into range.
    assert config["values"] == {"filters": 16, "num_res_blocks": 1, "learning_rate": 1e-2}
    for arm in (BILINEAR_BASELINE_ARM, MULLER_ARM):
        space = tuning.search_space(training.for_arm(arm), settings).get_config()["space"]
        names = [e["config"]["name"] for e in space]
        assert names == [contract.HP_LEARNING_RATE]


def test_chosen_values_replace_the_configured_ones_and_are_described():
    config = TrainingConfig(filters=16, learning_rate=1e-3).for_arm(LEARNABLE_RESIZER_ARM)
    settings = TuningConfig(trials=4, epochs=1)
    best = tuning.search_space(config, settings)
    best.values.update({"filters": 32, "num_res_blocks": 2, "learning_rate": 0.0042})
    chosen = tuning.apply_hyperparameters(config, best.values)
    assert (chosen.filters, chosen.num_res_blocks, chosen.learning_rate) == (32, 2, 0.0042)
    assert chosen.arm == LEARNABLE_RESIZER_ARM and chosen.seed == config.seed
    record = tuning.tuning_record(config, best.get_config(), settings)
    assert record["chosen"] == {"filters": 32, "num_res_blocks": 2, "learning_rate": 0.0042}
    assert record["configured"] == {"filters": 16, "num_res_blocks": 1, "learning_rate": 1e-3}
    assert tuning.describe_search(record) == (
        "4 trials x 1 epoch(s), lowest val_loss on validation; filters {8, 16, 32}; num_res_blocks {1, 2, 3}; "
        "learning_rate [0.0001, 0.01] (log)")
    assert tuning.describe_choice(record) == (
        "filters 32 (configured 16), num_res_blocks 2 (configured 1), learning_rate 0.0042 (configured 0.001)")


def test_values_searched_for_another_arm_are_refused_by_name():
    baseline = TrainingConfig().for_arm(BILINEAR_BASELINE_ARM)
    with pytest.raises(ConfigError, match=r"tuning.filters: is no hyperparameter of the bilinear_baseline arm"):
        tuning.apply_hyperparameters(baseline, {"filters": 8, "learning_rate": 1e-3})
    with pytest.raises(ConfigError, match=r"^learning_rate: must be > 0"):
        tuning.apply_hyperparameters(baseline, {"learning_rate": 0.0})


@pytest.mark.slow
def test_two_trials_choose_the_trainers_hyperparameters(tmp_path):
    """A real Tuner (2 trials of 1 step) on a tiny configuration, then the Trainer with its best values."""
    dirs = run_until_trainers(
        str(tmp_path),
        dict(candidates=LEARNABLE_RESIZER_ARM, steps_per_epoch=1, picture_images=0, batch_size=2),
        arms=[LEARNABLE_RESIZER_ARM], count=16,
        overrides={"tuning.trials": 2, "tuning.epochs": 1, "tuning.filters": "4,8", "tuning.num_res_blocks": "1,2"},
    )
    tuner_dir = dirs[contract.tuner_id(LEARNABLE_RESIZER_ARM)]
    with open(os.path.join(latest(os.path.join(tuner_dir, "best_hyperparameters", "*")),
                           "best_hyperparameters.txt")) as f:
        best = json.load(f)
    values = best["values"]
    assert values["filters"] in (4, 8) and values["num_res_blocks"] in (1, 2)
    assert 1e-4 <= values["learning_rate"] <= 1e-2
    results_file = glob.glob(os.path.join(tuner_dir, "tuner_results", "*", "tuner_results.json"))
    assert len(results_file) == 1
    with open(results_file[0]) as f:
        trials = json.load(f)
    assert len(trials) == 2 and all(t["score"] is not None for t in trials)
    # The best trial is the one with the lowest validation loss.
    assert min(trials, key=lambda t: t["score"])["filters"] == values["filters"]

    summary = read_summary(dirs[contract.trainer_id(LEARNABLE_RESIZER_ARM)])
    record = summary["tuning"]
    assert record["chosen"] == values and record["trials"] == 2 and record["epochs"] == 1
    assert set(record["searched"]) == {"filters", "num_res_blocks", "learning_rate"}
    for name, value in values.items():
        assert summary["config"][name] == value


def test_the_report_and_the_closing_table_say_what_was_searched_and_chosen():
    from components.comparison_report import render, tuning_summary
    from pipeline.progress import tuning_lines
    from tests.components.test_verdict_text import make_verdict

    verdict = make_verdict()
    settings = TuningConfig(trials=3, epochs=2, filters=(8, 16))
    training = {}
    for arm, values in ((BILINEAR_BASELINE_ARM, {"learning_rate": 0.0031}),
                        (LEARNABLE_RESIZER_ARM, {"filters": 8, "num_res_blocks": 2, "learning_rate": 0.0007}),
                        (MULLER_ARM, None)):
        config = TrainingConfig(learning_rate=1e-3).for_arm(arm)
        training[arm] = {}
        if values:
            best = tuning.search_space(config, settings)
            best.values.update(values)
            training[arm]["tuning"] = tuning.tuning_record(config, best.get_config(), settings)
    orders = {arm: "ab" * 32 for arm in training}
    summary = {"verdict": verdict.to_dict(), "comparison": {"data_order_sha256": orders}, "training": training,
               "metrics": {}, "class_names": [], "pushed": {"destination": ""}, "tuning": tuning_summary(training)}
    assert set(summary["tuning"]) == {BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM}
    searched = ("3 trials x 2 epoch(s), lowest val_loss on validation; filters {8, 16}; num_res_blocks {1, 2, 3}; "
                "learning_rate [0.0001, 0.01] (log)")
    chosen = "filters 8 (configured 16), num_res_blocks 2 (configured 1), learning_rate 0.0007 (configured 0.001)"
    markdown = render(summary, "report.md.j2")
    assert "## Hyperparameter search" in markdown
    assert f"| {LEARNABLE_RESIZER_ARM} | {searched} | {chosen} |" in markdown
    assert (f"| {BILINEAR_BASELINE_ARM} | 3 trials x 2 epoch(s), lowest val_loss on validation; learning_rate "
            f"[0.0001, 0.01] (log) | learning_rate 0.0031 (configured 0.001) |") in markdown
    assert f"| {MULLER_ARM} |" not in markdown.split("## Hyperparameter search")[1].split("##")[0]
    html = render(summary, "report.html.j2")
    assert f"<td>{LEARNABLE_RESIZER_ARM}</td><td>{searched}</td><td>{chosen}</td>" in html
    lines = tuning_lines(summary)
    assert f"    {LEARNABLE_RESIZER_ARM}: searched {searched}" in lines
    assert any(line.strip() == f"chose {chosen}" for line in lines)
    # Without tuning: no section, no lines.
    untuned = dict(summary, training={arm: {} for arm in training}, tuning={})
    assert "Hyperparameter search" not in render(untuned, "report.md.j2")
    assert tuning_lines(untuned) == []


def test_a_trainer_without_hyperparameters_trains_the_configured_values():
    custom_config = TrainingConfig(learning_rate=0.05).for_arm(MULLER_ARM).to_custom_config()
    for hyperparameters in (None, {}):
        config, record = tuning.trainer_config(custom_config, hyperparameters)
        assert (config.arm, config.learning_rate, record) == (MULLER_ARM, 0.05, None)


def test_a_tuned_trainer_trains_the_best_values_and_records_the_search():
    custom_config = {**TrainingConfig(filters=16).for_arm(LEARNABLE_RESIZER_ARM).to_custom_config(),
                     contract.TUNING_CONFIG_KEY: TuningConfig(trials=3, epochs=1).to_dict()}
    best = {"space": [{"class_name": "Choice", "config": {"name": "filters", "values": [8, 16]}}],
            "values": {"filters": 8, "learning_rate": 0.005}}
    config, record = tuning.trainer_config(custom_config, best)
    assert (config.filters, config.learning_rate) == (8, 0.005)
    assert record == {"trials": 3, "epochs": 1, "objective": contract.TUNER_OBJECTIVE,
                      "searched": {"filters": "{8, 16}"}, "chosen": {"filters": 8, "learning_rate": 0.005},
                      "configured": {"filters": 16, "learning_rate": 0.01}}


def test_the_random_search_is_seeded_ranked_by_validation_loss_and_named_after_the_arm(tmp_path):
    config = TrainingConfig(seed=7).for_arm(MULLER_ARM)
    settings = TuningConfig(trials=2)
    search = tuning.random_search(lambda hp: None, config, settings, str(tmp_path))
    assert search.oracle.max_trials == 2 and search.oracle.seed == 7
    assert (search.oracle.objective.name, search.oracle.objective.direction) == (contract.TUNER_OBJECTIVE, "min")
    assert search.project_dir == str(tmp_path / MULLER_ARM)
    assert [hp.name for hp in search.oracle.hyperparameters.space] == [contract.HP_LEARNING_RATE]
