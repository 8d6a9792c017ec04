"""components/model_card.py: the card's fields from a hand-made verdict, its three files, and where they go."""

import json
import os

import pytest

from components import model_card
from tests.components.test_verdict_text import make_verdict
from trainer import contract
from trainer.contract import BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM

DATA_NOTE = "SYNTHETIC test data: says nothing about photos."
VERSION = "1764500000"  # 2025-11-30T10:53:20Z
INGEST_REPORT = {
    "component": contract.IMAGE_FOLDER_EXAMPLE_GEN_ID, "source": "/data/images",
    "label_names": ["stripes_horizontal", "stripes_vertical"], "max_bad_fraction": 0.1,
    "split_buckets": {"train": 6, "validation": 1, "test": 3}, "bad_images_file": contract.BAD_IMAGES_FILE,
    "splits": {"train": {"records_out": 201}, "validation": {"records_out": 34}, "test": {"records_out": 80}},
    "totals": {"files_in": 332, "converted": 7, "converted_by_reason": {"cmyk": 3, "alpha": 4}, "skipped": 4,
               "skipped_by_reason": {"corrupt": 1, "empty_file": 3}},
}
TRAINING_SUMMARY = {
    "arm": LEARNABLE_RESIZER_ARM, "class_names": ["stripes_horizontal", "stripes_vertical"],
    "config": {"backbone": "densenet121", "backbone_weights": "", "image_size": [300, 300],
               "target_size": [150, 150], "filters": 16, "num_res_blocks": 1, "learning_rate": 0.001,
               "batch_size": 16, "epochs": 3, "seed": 42, "momentum": 0.0, "precise_batchnorm": True},
    "history": {"loss": [0.7, 0.3, 0.25], "val_accuracy": [0.5, 0.8, 0.875]},
    "training_examples": 201, "validation_examples": 34, "steps_per_epoch": 13, "devices": ["/device:CPU:0"],
    "data_order_sha256": "ab" * 32, "phase_seconds": {"fit": 612.5},
}
LINEAGE = {"examples": {"id": 3, "uri": "/root/examples/3"},
           "models": {BILINEAR_BASELINE_ARM: {"id": 11, "uri": "/root/b/11"},
                      LEARNABLE_RESIZER_ARM: {"id": 12, "uri": "/root/l/12"}},
           "blessing": {"id": 20, "uri": "/root/blessing/20"}, "pushed_model": {"id": 21, "uri": "/root/p/21"}}


def pushed_card(**kwargs):
    values = dict(model_name=contract.SERVED_MODEL_NAME, ingest_report=INGEST_REPORT,
                  training_summary=TRAINING_SUMMARY, lineage=LINEAGE, data_note=DATA_NOTE,
                  pushed={"pushed": True, "destination": f"/serving/{contract.SERVED_MODEL_NAME}/{VERSION}",
                          "version": VERSION})
    values.update(kwargs)
    return model_card.build_model_card(make_verdict(), **values)


def test_every_section_is_filled_from_the_verdict_data_and_training():
    verdict = make_verdict()
    assert verdict.chosen == LEARNABLE_RESIZER_ARM
    card = pushed_card()
    # The Model Card Toolkit's sections.
    details = card["model_details"]
    assert details["name"] == contract.SERVED_MODEL_NAME
    assert details["version"] == {"name": VERSION, "date": "2025-11-30T10:53:20+00:00"}
    assert "arXiv:2103.09950" in details["references"][0]["reference"]
    assert "densenet121" in card["model_parameters"]["model_architecture"]
    assert [d["name"] for d in card["model_parameters"]["data"]] == ["test", "train", "validation"]
    assert contract.IMAGE_BYTES_INPUT in card["model_parameters"]["input_format"]
    result, baseline = verdict.arms[LEARNABLE_RESIZER_ARM], verdict.arms[BILINEAR_BASELINE_ARM]
    accuracy, base, difference = card["quantitative_analysis"]["performance_metrics"]
    assert accuracy["value"] == f"{result.accuracy:.4f}"
    assert accuracy["confidence_interval"] == {"lower_bound": f"{result.ci95[0]:.4f}",
                                               "upper_bound": f"{result.ci95[1]:.4f}"}
    assert base["value"] == f"{baseline.accuracy:.4f}" and difference["value"].startswith("+")
    limitations = [item["description"] for item in card["considerations"]["limitations"]]
    assert limitations[0] == DATA_NOTE and any("Test CPU" in text for text in limitations)
    # The project's sections, figures as numbers.
    assert card["status"]["pushed"] is True and card["status"]["destination"].endswith(VERSION)
    assert card["data"]["splits"] == {"test": 80, "train": 201, "validation": 34}
    assert card["data"]["bad_files"]["skipped_by_reason"] == {"corrupt": 1, "empty_file": 3}
    assert card["data"]["source"] == "/data/images" and card["data"]["data_note"] == DATA_NOTE
    settings = card["training"]["settings"]
    assert settings["filters"] == 16 and settings["learning_rate"] == 0.001 and "momentum" not in settings
    assert settings["precise_batchnorm"] is True and settings["epochs"] == 3
    muller = model_card._training_section(MULLER_ARM, dict(TRAINING_SUMMARY, config=dict(
        TRAINING_SUMMARY["config"], muller={"layers": 2})))["settings"]
    assert muller["muller"] == {"layers": 2} and "filters" not in muller and muller["seed"] == 42
    assert card["training"]["epochs_run"] == 3 and card["training"]["final_validation_accuracy"] == 0.875
    v = card["verdict"]
    comparison = verdict.comparisons[LEARNABLE_RESIZER_ARM]
    assert v["accuracy_ci95"] == list(result.ci95) and v["difference_ci95"] == list(comparison.difference_ci95)
    assert v["holm_p"] == comparison.holm_p and v["rule"] == verdict.rule
    assert "Wilson" in v["methods"]["accuracy_interval"] and "Newcombe" in v["methods"]["difference_interval"]
    assert "McNemar" in v["methods"]["test"] and "Holm" in v["methods"]["multiplicity"]
    cost = card["serving_cost"]
    assert cost["resizer_parameters"] == 12_035 and cost["model_flops_per_image"] == 3_400_000_000
    assert cost["latency_ms"]["ratio"] == 1.5 and cost["cpu"].startswith("Test CPU")
    assert card["lineage"] == LINEAGE
    assert card["considerations"]["tradeoffs"][0]["description"] == (
        f"{LEARNABLE_RESIZER_ARM} costs 3.4 GFLOPs per image against the baseline's 3 GFLOPs, 1.50x its serving "
        f"latency, for an accuracy difference of {comparison.difference:+.3f}.")
    json.dumps(card)  # JSON-ready


def test_the_three_files_say_the_same(tmp_path):
    card = pushed_card()
    written = model_card.write_model_card(str(tmp_path / "card"), card)
    assert sorted(os.path.basename(p) for p in written) == sorted(
        [contract.MODEL_CARD_JSON_FILE, contract.MODEL_CARD_MARKDOWN_FILE, contract.MODEL_CARD_HTML_FILE])
    with open(tmp_path / "card" / contract.MODEL_CARD_JSON_FILE) as f:
        assert json.load(f) == card
    interval = "[{:.3f}, {:.3f}]".format(*card["verdict"]["accuracy_ci95"])
    for name in (contract.MODEL_CARD_MARKDOWN_FILE, contract.MODEL_CARD_HTML_FILE):
        text = (tmp_path / "card" / name).read_text()
        for expected in (f"version {VERSION}", DATA_NOTE, "/data/images", "empty_file 3", "Wilson", "Newcombe",
                         "McNemar", "Holm", interval, "12,035", "Test CPU", "/root/l/12", "num_res_blocks",
                         "2025-11-30T10:53:20+00:00"):
            assert expected in text, (name, expected)
    html = (tmp_path / "card" / contract.MODEL_CARD_HTML_FILE).read_text()
    assert html.startswith("<!doctype html>") and "&gt; 0.0" in html


def test_a_card_of_nothing_pushed_says_so():
    verdict = make_verdict()
    card = pushed_card(pushed={"pushed": False, "destination": None, "version": None})
    assert card["status"]["pushed"] is False and card["status"]["destination"] is None
    assert card["model_details"]["version"] == {"name": None, "date": None}
    assert "not pushed" in card["considerations"]["limitations"][-1]["description"]
    text = model_card.render(card, "model_card.md.j2")
    assert "**Status:** blessed, but the Pusher pushed nothing" in text and "Pushed to" not in text
    assert verdict.blessed
    assert pushed_card(pushed=None)["status"]["statement"] == "blessed, not pushed (no Pusher in this run)"
    # The gate refused every candidate: the card documents the best-ranked one and says why it was not pushed.
    rule = "not blessed: no candidate passes the gate"
    refused = verdict.model_copy(update={"chosen": None, "blessed": False, "rule": rule})
    card = model_card.build_model_card(refused, pushed={"pushed": False, "destination": None, "version": None})
    assert card["arm"] == refused.ranked()[0] and card["status"]["statement"] == f"NOT pushed: {rule}"
    assert card["verdict"]["chosen"] is None and rule in model_card.render(card, "model_card.html.j2")


def test_imported_examples_without_an_ingest_report_and_no_lineage(tmp_path):
    card = pushed_card(ingest_report=None, lineage=None, training_summary=None)
    assert card["data"]["splits"] == {} and contract.INGEST_REPORT_FILE in card["data"]["note"]
    text = model_card.render(card, "model_card.md.j2")
    assert "records per split and bad files are not known" in text and "Not recorded." in text
    assert f"no {contract.TRAINING_SUMMARY_FILE} for this arm" in text


def test_a_file_that_is_not_json_is_named(tmp_path):
    bad = tmp_path / contract.INGEST_REPORT_FILE
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=rf"the ingest report {bad} is not valid JSON"):
        model_card.read_json(str(bad), "the ingest report")
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object, got list"):
        model_card.read_json(str(bad), "the ingest report")
    assert model_card.read_json(str(tmp_path / "missing.json"), "x") is None


def _artifact(kind, uri, artifact_id):
    artifact = kind()
    artifact.uri, artifact.id = str(uri), artifact_id
    os.makedirs(uri, exist_ok=True)
    return artifact


@pytest.mark.parametrize("pushed", [True, False])
def test_the_executor_writes_beside_the_pushed_model_only_when_it_was_pushed(tmp_path, pushed):
    from tfx.types import standard_artifacts

    from components.paired_comparison import PairedComparisonArtifact

    verdict = make_verdict()
    examples = _artifact(standard_artifacts.Examples, tmp_path / "examples", 3)
    (tmp_path / "examples" / contract.INGEST_REPORT_FILE).write_text(json.dumps(INGEST_REPORT))
    comparison = _artifact(PairedComparisonArtifact, tmp_path / "comparison", 7)
    (tmp_path / "comparison" / contract.COMPARISON_FILE).write_text(json.dumps(verdict.to_dict()))
    blessing = _artifact(standard_artifacts.ModelBlessing, tmp_path / "blessing", 8)
    blessing.set_int_custom_property("blessed", 1)
    models = {arm: _artifact(standard_artifacts.Model, tmp_path / arm, 10 + i)
              for i, arm in enumerate((BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM))}
    run = _artifact(standard_artifacts.ModelRun, tmp_path / "run", 15)
    (tmp_path / "run" / contract.TRAINING_SUMMARY_FILE).write_text(json.dumps(TRAINING_SUMMARY))
    destination = tmp_path / "serving" / contract.SERVED_MODEL_NAME / VERSION
    os.makedirs(destination)
    pushed_model = _artifact(standard_artifacts.PushedModel, tmp_path / "pushed", 9)
    pushed_model.set_int_custom_property("pushed", int(pushed))
    if pushed:
        pushed_model.set_string_custom_property("pushed_destination", str(destination))
        pushed_model.set_string_custom_property("pushed_version", VERSION)
    output = _artifact(model_card.ModelCardArtifact, tmp_path / "card", 30)
    inputs = {"examples": [examples], "comparison": [comparison], "blessing": [blessing],
              "pushed_model": [pushed_model], contract.model_run_input(LEARNABLE_RESIZER_ARM): [run],
              **{contract.model_input(arm): [m] for arm, m in models.items()}}
    model_card.Executor().Do(inputs, {"model_card": [output]},
                             {"model_name": contract.SERVED_MODEL_NAME, "data_note": DATA_NOTE})
    with open(tmp_path / "card" / contract.MODEL_CARD_JSON_FILE) as f:
        card = json.load(f)
    assert card["lineage"]["examples"]["id"] == 3 and card["lineage"]["pushed_model"]["id"] == 9
    assert card["lineage"]["blessing"] == {"id": 8, "uri": str(tmp_path / "blessing"), "blessed": True,
                                           "current_model_id": None}
    assert {arm: m["id"] for arm, m in card["lineage"]["models"].items()} == {
        BILINEAR_BASELINE_ARM: 10, LEARNABLE_RESIZER_ARM: 11, MULLER_ARM: 12}
    assert card["lineage"]["model_run"]["id"] == 15 and card["training"]["settings"]["seed"] == 42
    assert card["data"]["splits"]["train"] == 201 and card["status"]["pushed"] is pushed
    beside = sorted(os.listdir(destination))
    if pushed:
        assert beside == sorted([contract.MODEL_CARD_JSON_FILE, contract.MODEL_CARD_MARKDOWN_FILE,
                                 contract.MODEL_CARD_HTML_FILE])
        with open(destination / contract.MODEL_CARD_JSON_FILE) as f:
            assert json.load(f) == card
    else:
        assert beside == []  # nothing under the serving directory


def test_the_executor_names_a_missing_verdict(tmp_path):
    from tfx.types import standard_artifacts

    from components.paired_comparison import PairedComparisonArtifact

    inputs = {"examples": [_artifact(standard_artifacts.Examples, tmp_path / "examples", 1)],
              "comparison": [_artifact(PairedComparisonArtifact, tmp_path / "comparison", 2)],
              "blessing": [_artifact(standard_artifacts.ModelBlessing, tmp_path / "blessing", 3)]}
    output = _artifact(model_card.ModelCardArtifact, tmp_path / "card", 4)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "comparison" / contract.COMPARISON_FILE)):
        model_card.Executor().Do(inputs, {"model_card": [output]}, {"model_name": contract.SERVED_MODEL_NAME})
