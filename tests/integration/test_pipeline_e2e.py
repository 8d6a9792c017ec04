"""The whole pipeline end to end, as a user runs it: ``pipeline_runner.py run`` in a subprocess."""

import csv
import hashlib
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from serving.servability import read_warmup_file
from trainer import contract
from trainer.contract import (
    BILINEAR_ANTIALIAS_ARM,
    BILINEAR_BASELINE_ARM,
    LEARNABLE_RESIZER_ARM,
    MULLER_ARM,
    SERVED_MODEL_NAME,
)

pytestmark = pytest.mark.slow

CANDIDATES = (LEARNABLE_RESIZER_ARM, MULLER_ARM, BILINEAR_ANTIALIAS_ARM)
ARMS = (BILINEAR_BASELINE_ARM, *CANDIDATES)
SWEEP_CANDIDATES = contract.DEFAULT_CANDIDATES
SWEEP_ARMS = (BILINEAR_BASELINE_ARM, *SWEEP_CANDIDATES)
BASELINE_TRAINER_ID = contract.trainer_id(BILINEAR_BASELINE_ARM)
LEARNABLE_TRAINER_ID = contract.trainer_id(LEARNABLE_RESIZER_ARM)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = [
    "--training.candidates", ",".join(CANDIDATES),  # three candidates against the bilinear baseline
    "--data.demo_images_per_class", "12",
    "--training.backbone", "small_convnet",  # the plumbing is under test, not DenseNet-121
    "--training.image_size", "64,64",
    "--training.target_size", "32,32",
    "--training.batch_size", "8",
    "--training.epochs", "1",
    "--training.picture_images", "2",
    "--evaluation.accuracy_floor", "0",
    # A few steps cannot give a significant difference: these runs test the plumbing, not the verdict.
    "--evaluation.significance_level", "0",
    # 12 images per class plus the demo's deliberately bad files: more than the default 10% are bad.
    "--data.max_bad_fraction", "0.5",
]


def runner_command(output_dir, *extra):
    return [sys.executable, os.path.join(ROOT, "pipeline_runner.py"), "run", "--output-dir", str(output_dir),
            *SMALL, *extra]


def run_pipeline(output_dir, *extra, check=True, env=None):
    proc = subprocess.run(runner_command(output_dir, *extra), cwd=ROOT, capture_output=True, text=True,
                          timeout=1500, env=env)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def progress(stdout):
    """{component: 'cached' | 'ran'} from the runner's progress lines."""
    out = {}
    for match in re.finditer(r"✓ (\S+) [\d.]+ s( \(from cache\))?", stdout):
        out[match.group(1)] = "cached" if match.group(2) else "ran"
    return out


def versions(output_dir):
    base = os.path.join(output_dir, "serving", SERVED_MODEL_NAME)
    return sorted(os.listdir(base)) if os.path.isdir(base) else []


def tree_digest(path):
    digest = hashlib.sha256()
    for folder, _, files in sorted(os.walk(path)):
        for name in sorted(files):
            digest.update(name.encode())
            with open(os.path.join(folder, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def killed_then_completed(tmp_path_factory):
    """A run killed when the learnable resizer's Trainer starts (the baseline's has finished), then started again
    to completion.
    """
    output_dir = tmp_path_factory.mktemp("local_run")
    stderr = open(os.path.join(output_dir, "killed_run.stderr"), "w")
    proc = subprocess.Popen(runner_command(output_dir, "--evaluation.accuracy_margin", "-1"), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if f"▶ {LEARNABLE_TRAINER_ID}" in line:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=60)
        stderr.close()
    with open(stderr.name) as f:
        errors = f.read()
    assert any(f"✓ {BASELINE_TRAINER_ID}" in line for line in seen), "".join(seen)[-2000:] + errors[-3000:]
    # A temporary directory of its own, to see what the completed run leaves there.
    temporary = tmp_path_factory.mktemp("second_run_tmp")
    second = run_pipeline(output_dir, "--evaluation.accuracy_margin", "-1",
                          env={**os.environ, "TMPDIR": str(temporary)})
    assert not os.listdir(temporary), f"the run left {sorted(os.listdir(temporary))} in its temporary directory"
    return output_dir, second.stdout


def test_killed_run_resumes_without_redoing_finished_components(killed_then_completed):
    _, stdout = killed_then_completed
    state = progress(stdout)
    for done in (contract.IMAGE_FOLDER_EXAMPLE_GEN_ID, contract.STATISTICS_GEN_ID, contract.IMPORT_SCHEMA_GEN_ID,
                 contract.EXAMPLE_VALIDATOR_ID, contract.DATA_GATE_ID, contract.TRANSFORM_ID, BASELINE_TRAINER_ID):
        assert state[done] == "cached", (done, stdout[-3000:])
    for redone in (LEARNABLE_TRAINER_ID, contract.trainer_id(MULLER_ARM), contract.EVALUATOR_ID,
                   contract.PAIRED_COMPARISON_ID, contract.SERVABILITY_CHECK_ID, contract.PUSHER_ID,
                   contract.COMPARISON_REPORT_ID):
        assert state[redone] == "ran", (redone, stdout[-3000:])
    assert {contract.trainer_id(arm) for arm in ARMS} <= set(state)


def test_run_writes_everything_under_the_output_dir(killed_then_completed):
    output_dir, stdout = killed_then_completed
    reports = os.path.join(output_dir, "reports")
    for path in ("metadata.sqlite", "pipeline_root", "demo_data", "schema"):
        assert os.path.exists(os.path.join(output_dir, path)), path
    pictures = [f"{arm}_{contract.RESIZER_PICTURE_FILE}" for arm in ARMS]
    for name in (contract.REPORT_MARKDOWN_FILE, contract.REPORT_HTML_FILE, *pictures, contract.PREDICTIONS_FILE,
                 contract.TRAINING_CURVES_FILE):
        assert os.path.getsize(os.path.join(reports, name)) > 0, name
    summary = json.load(open(os.path.join(reports, contract.REPORT_SUMMARY_FILE)))
    # A margin of -1 without a significance test: every candidate passes, the most accurate is chosen.
    assert summary["blessed"] is True and summary["chosen"] in CANDIDATES
    assert summary["rule"].startswith(f"blessed {summary['chosen']}: ")
    assert set(summary["arms"]) == set(ARMS) and set(summary["comparisons"]) == set(CANDIDATES)
    for arm, figures in summary["arms"].items():
        assert figures["ci95"][0] <= figures["accuracy"] <= figures["ci95"][1]
        assert figures["latency_ratio"] > 0 and figures["model_flops"] > figures["flops"] > 0
        assert figures["parameters"] == {LEARNABLE_RESIZER_ARM: 12_035, MULLER_ARM: 4}.get(arm, 0)
    for comparison in summary["comparisons"].values():
        assert comparison["difference_ci95"][0] <= comparison["difference"] <= comparison["difference_ci95"][1]
        assert 0 <= comparison["mcnemar_p"] <= comparison["holm_p"] <= 1 and comparison["passes"] is True
    c = summary["comparison"]  # the chosen candidate against the baseline, in the one-comparison form
    assert c["candidate"]["arm"] == summary["chosen"] and c["baseline"]["arm"] == BILINEAR_BASELINE_ARM
    assert c["split"] == contract.TEST_SPLIT and c["n"] > 0 and c["blessed"] is True and c["rule"] == summary["rule"]
    # Every arm consumed the identical sequence of training examples.
    orders = c["data_order_sha256"]
    assert set(orders) == set(ARMS) and len(set(orders.values())) == 1 and len(orders[BILINEAR_BASELINE_ARM]) == 64
    # TFMA and the per-example predictions agree on every arm's accuracy.
    for arm in ARMS:
        assert abs(c["tfma_accuracy"][arm] - summary["arms"][arm]["accuracy"]) < 1e-6
    with open(os.path.join(reports, contract.PREDICTIONS_FILE)) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == c["n"] and {"filename", "label", *(f"{arm}_class" for arm in ARMS)} <= set(rows[0])
    # Those predictions are the Evaluator's, kept per example: PairedComparison ran no model on the split again.
    assert f"Paired comparison on {contract.TEST_SPLIT} (n={c['n']}, probabilities from the Evaluator)" in stdout
    # Every slice states its n; cells that mean nothing say so.
    assert summary["metrics"]["overall"]["n"] == c["n"]
    assert f"blessed {summary['chosen']}: accuracy" in stdout and f"{contract.TEST_SPLIT} split, n = {c['n']}" in stdout
    assert "SYNTHETIC" in stdout and "SYNTHETIC" in summary["data_note"]
    for arm in ARMS:  # the closing table: a row per arm
        assert re.search(rf"\n  {arm} +\d\.\d{{4}} \[", stdout), arm
    report = open(os.path.join(reports, contract.REPORT_MARKDOWN_FILE)).read()
    for text in ("SYNTHETIC", f"## Every arm on the {contract.TEST_SPLIT} split, n = {c['n']}",
                 f"| {contract.ACCURACY_METRIC} |", "auc[stripes_vertical]", "McNemar", "Newcombe", "Wilson", "Holm",
                 *(f"Confusion matrix: {arm}" for arm in ARMS), "identical for every arm",
                 f"### {contract.LABEL_NAME_KEY}=stripes_horizontal (n = ", "n/a (one class in slice)",
                 *pictures, contract.TRAINING_CURVES_FILE, "| arm | accuracy (95% CI) |"):
        assert text in report, text
    assert "nan" not in report.lower().replace("nanoseconds", "")
    [version] = versions(output_dir)
    pushed = os.path.join(output_dir, "serving", SERVED_MODEL_NAME, version)
    assert os.path.exists(os.path.join(pushed, "saved_model.pb"))
    assert f"serving/{SERVED_MODEL_NAME}/{version}" in stdout and summary["pushed"]["arm"] == summary["chosen"]
    # The servability check passed it and gave it TF Serving's warm-up records; the closing table says so.
    assert summary["servability"]["blessed"] is True and "warm-up record(s)" in summary["servability"]["reason"]
    assert "\n  servable: yes: loads as TF Serving's loader does (the graph's saver restores the variables)" in stdout
    assert "**Servable:** yes" in report
    records = read_warmup_file(pushed)
    assert len(records) == 3 and all(r.WhichOneof("log_type") == "predict_log" for r in records)
    # The pushed model is the chosen arm's: its variables are the chosen Trainer's export's, byte for byte.
    trained = os.path.join(output_dir, "pipeline_root", contract.trainer_id(summary["chosen"]), "model")
    latest = max((v for v in os.listdir(trained) if os.path.isdir(os.path.join(trained, v, "Format-Serving"))), key=int)
    exported = os.path.join(trained, latest, "Format-Serving", "variables")
    assert tree_digest(os.path.join(pushed, "variables")) == tree_digest(exported)
    # The model card beside the pushed model, filled from this run; its lineage ids are this run's MLMD artifacts.
    for name in (contract.MODEL_CARD_JSON_FILE, contract.MODEL_CARD_MARKDOWN_FILE, contract.MODEL_CARD_HTML_FILE):
        assert os.path.getsize(os.path.join(pushed, name)) > 0, name
    assert f"card:    {os.path.join(pushed, contract.MODEL_CARD_MARKDOWN_FILE)}" in stdout
    card = json.load(open(os.path.join(pushed, contract.MODEL_CARD_JSON_FILE)))
    chosen = summary["chosen"]
    assert card["model_details"]["name"] == SERVED_MODEL_NAME and card["model_details"]["version"]["name"] == version
    assert card["arm"] == chosen and card["status"]["pushed"] is True
    assert card["verdict"]["accuracy"] == summary["arms"][chosen]["accuracy"]
    assert card["verdict"]["accuracy_ci95"] == summary["arms"][chosen]["ci95"]
    assert card["verdict"]["difference_ci95"] == summary["comparisons"][chosen]["difference_ci95"]
    assert card["data"]["splits"][contract.TEST_SPLIT] == c["n"] and card["data"]["bad_files"]["skipped"] > 0
    assert card["training"]["settings"]["backbone"] == "small_convnet" and card["training"]["epochs_run"] == 1
    assert card["serving_cost"]["model_flops_per_image"] == summary["arms"][chosen]["model_flops"]
    assert "SYNTHETIC" in card["considerations"]["limitations"][0]["description"]
    from ml_metadata.metadata_store import metadata_store
    from tfx.orchestration import metadata

    store = metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(os.path.join(output_dir, "metadata.sqlite")))
    lineage = card["lineage"]
    entries = [lineage["examples"], lineage["blessing"], lineage["pushed_model"], lineage["model_run"],
               *lineage["models"].values()]
    assert set(lineage["models"]) == set(ARMS)
    uris = {a.id: a.uri for a in store.get_artifacts_by_id([entry["id"] for entry in entries])}
    assert [uris.get(entry["id"]) for entry in entries] == [entry["uri"] for entry in entries]
    card_text = open(os.path.join(pushed, contract.MODEL_CARD_MARKDOWN_FILE)).read()
    for text in ("Wilson", "Newcombe", "McNemar", "Holm", "SYNTHETIC", version, "small_convnet"):
        assert text in card_text, text


def test_second_run_is_served_from_cache(killed_then_completed):
    output_dir, _ = killed_then_completed
    stdout = run_pipeline(output_dir, "--evaluation.accuracy_margin", "-1").stdout
    state = progress(stdout)
    assert all(v == "cached" for k, v in state.items() if k != contract.COMPARISON_REPORT_ID), state
    assert len(versions(output_dir)) == 1


def test_impossible_margin_pushes_nothing_and_a_new_blessing_adds_a_version(killed_then_completed):
    output_dir, _ = killed_then_completed
    [first] = versions(output_dir)
    first_digest = tree_digest(os.path.join(output_dir, "serving", SERVED_MODEL_NAME, first))

    stdout = run_pipeline(output_dir, "--evaluation.accuracy_margin", "1.0").stdout
    assert progress(stdout)[contract.PAIRED_COMPARISON_ID] == "ran"
    assert "not blessed: no candidate passes the gate" in stdout and "must be > margin 1" in stdout
    assert "servable: NO: not checked: the gate blessed no candidate" in stdout  # and the run goes on
    assert versions(output_dir) == [first]  # the Pusher wrote nothing

    stdout = run_pipeline(output_dir, "--evaluation.accuracy_margin", "-0.5").stdout
    assert re.search(r"\n  blessed \w+: accuracy", stdout)
    assert len(versions(output_dir)) == 2 and versions(output_dir)[0] == first
    second = os.path.join(output_dir, "serving", SERVED_MODEL_NAME, versions(output_dir)[1])
    assert json.load(open(os.path.join(second, contract.MODEL_CARD_JSON_FILE)))["status"]["version"] == versions(
        output_dir)[1]
    assert tree_digest(os.path.join(output_dir, "serving", SERVED_MODEL_NAME, first)) == first_digest


def test_sweep_of_two_seeds_under_the_beam_dag_runner(tmp_path):
    """The sweep writes its report and pushes nothing; BeamDagRunner runs every component of the pipeline.

    Two candidates (the default ones) against the baseline: the per-candidate summary and Holm across them.
    """
    output_dir = tmp_path / "out"
    command = [sys.executable, os.path.join(ROOT, "pipeline_runner.py"), "sweep", "--seeds", "0,1",
               "--output-dir", str(output_dir), "--runner", "beam", *SMALL,
               "--training.candidates", ",".join(SWEEP_CANDIDATES)]
    temporary = tmp_path / "tmp"  # a temporary directory of its own: the first seed runs every Beam component
    temporary.mkdir()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1500,
                          env={**os.environ, "TMPDIR": str(temporary)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert not os.listdir(temporary), f"the sweep left {sorted(os.listdir(temporary))} in its temporary directory"
    # No library's routine warning on the screen (Beam's about TFX's component DoFn, once per component).
    assert not re.search(r"^WARNING:apache_beam", proc.stderr, re.M), proc.stderr[-3000:]
    # Progress names the seed; the second seed takes ingestion and Transform from the cache.
    for component in (contract.IMAGE_FOLDER_EXAMPLE_GEN_ID, contract.TRANSFORM_ID, LEARNABLE_TRAINER_ID,
                      contract.trainer_id(MULLER_ARM),
                      contract.EVALUATOR_ID, contract.PAIRED_COMPARISON_ID, contract.COMPARISON_REPORT_ID):
        assert re.search(rf"seed 0 \(1/2\) ✓ {component} [\d.]+ s\n", proc.stdout), component
    assert f"seed 1 (2/2) ▶ {LEARNABLE_TRAINER_ID}" in proc.stdout
    assert re.search(rf"seed 1 \(2/2\) ✓ {contract.TRANSFORM_ID} [\d.]+ s \(from cache\)", proc.stdout)
    assert contract.PUSHER_ID not in proc.stdout and versions(output_dir) == []

    reports = os.path.join(output_dir, "reports")
    sweep = json.load(open(os.path.join(reports, contract.SWEEP_SUMMARY_FILE)))
    assert sweep["seeds"] == [0, 1] and [entry["seed"] for entry in sweep["per_seed"]] == [0, 1]
    for entry in sweep["per_seed"]:
        verdict = entry["verdict"]
        assert set(verdict["arms"]) == set(SWEEP_ARMS) and set(verdict["comparisons"]) == set(SWEEP_CANDIDATES)
        for comparison in verdict["comparisons"].values():
            assert comparison["n"] == verdict["n"] > 0 and len(comparison["difference_ci95"]) == 2
            assert comparison["mcnemar_p"] <= comparison["holm_p"]
    orders = [entry["data_order_sha256"] for entry in sweep["per_seed"]]
    assert all(len(set(order.values())) == 1 and set(order) == set(SWEEP_ARMS) for order in orders)  # alike per seed
    assert orders[0] != orders[1]  # and the seed changes it
    assert list(sweep["candidates"]) == list(SWEEP_CANDIDATES)
    for arm, across in sweep["candidates"].items():
        differences = [entry["verdict"]["comparisons"][arm]["difference"] for entry in sweep["per_seed"]]
        assert across["differences"] == differences
        assert abs(across["difference"]["mean"] - sum(differences) / 2) < 1e-12
        assert across["difference"]["std"] is not None and across["verdict"] in proc.stdout
        assert across["p_value"] is None or across["p_value"] <= across["holm_p"]
    markdown = open(os.path.join(reports, contract.SWEEP_MARKDOWN_FILE)).read()
    assert "| seed | candidate | n |" in markdown and "SYNTHETIC" in markdown
    assert all(across["verdict"] in markdown for across in sweep["candidates"].values())
    with open(os.path.join(reports, contract.SWEEP_PLOT_FILE), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
