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

from trainer import contract
from trainer.contract import ARMS, BASELINE_TRAINER_ID, CANDIDATE_TRAINER_ID, SERVED_MODEL_NAME

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = [
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


def run_pipeline(output_dir, *extra, check=True):
    proc = subprocess.run(runner_command(output_dir, *extra), cwd=ROOT, capture_output=True, text=True,
                          timeout=1500)
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
    """A run killed during the second Trainer, then started again to completion."""
    output_dir = tmp_path_factory.mktemp("local_run")
    stderr = open(os.path.join(output_dir, "killed_run.stderr"), "w")
    proc = subprocess.Popen(runner_command(output_dir, "--evaluation.accuracy_margin", "-1"), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if f"▶ {CANDIDATE_TRAINER_ID}" in line:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=60)
        stderr.close()
    with open(stderr.name) as f:
        errors = f.read()
    assert any(f"✓ {BASELINE_TRAINER_ID}" in line for line in seen), "".join(seen)[-2000:] + errors[-3000:]
    second = run_pipeline(output_dir, "--evaluation.accuracy_margin", "-1")
    return output_dir, second.stdout


def test_killed_run_resumes_without_redoing_finished_components(killed_then_completed):
    _, stdout = killed_then_completed
    state = progress(stdout)
    for done in (contract.IMAGE_FOLDER_EXAMPLE_GEN_ID, contract.STATISTICS_GEN_ID, contract.IMPORT_SCHEMA_GEN_ID,
                 contract.EXAMPLE_VALIDATOR_ID, contract.TRANSFORM_ID, BASELINE_TRAINER_ID):
        assert state[done] == "cached", (done, stdout[-3000:])
    for redone in (CANDIDATE_TRAINER_ID, contract.EVALUATOR_ID, contract.PAIRED_COMPARISON_ID, contract.PUSHER_ID,
                   contract.COMPARISON_REPORT_ID):
        assert state[redone] == "ran", (redone, stdout[-3000:])


def test_run_writes_everything_under_the_output_dir(killed_then_completed):
    output_dir, stdout = killed_then_completed
    picture = f"{contract.CANDIDATE_ARM}_{contract.RESIZER_PICTURE_FILE}"
    reports = os.path.join(output_dir, "reports")
    for path in ("metadata.sqlite", "pipeline_root", "demo_data", "schema"):
        assert os.path.exists(os.path.join(output_dir, path)), path
    for name in (contract.REPORT_MARKDOWN_FILE, contract.REPORT_HTML_FILE, picture, contract.PREDICTIONS_FILE,
                 contract.TRAINING_CURVES_FILE):
        assert os.path.getsize(os.path.join(reports, name)) > 0, name
    summary = json.load(open(os.path.join(reports, contract.REPORT_SUMMARY_FILE)))
    assert summary["blessed"] is True and summary["rule"].startswith("blessed: ")
    c = summary["comparison"]
    assert c["split"] == contract.TEST_SPLIT and c["n"] > 0 and c["blessed"] is True
    for side in ("candidate", "baseline"):
        assert c[side]["ci95"][0] <= c[side]["accuracy"] <= c[side]["ci95"][1]
    assert c["difference_ci95"][0] <= c["difference"] <= c["difference_ci95"][1]
    assert 0 <= c["mcnemar_p"] <= 1 and c["rule"] == summary["rule"]
    orders = c["data_order_sha256"]
    assert orders[contract.CANDIDATE_ARM] == orders[contract.BASELINE_ARM] and len(orders[contract.CANDIDATE_ARM]) == 64
    # TFMA and the per-example predictions agree on the accuracy of both models.
    for arm, side in zip(ARMS, ("candidate", "baseline")):
        assert abs(c["tfma_accuracy"][arm] - c[side]["accuracy"]) < 1e-6
    with open(os.path.join(reports, contract.PREDICTIONS_FILE)) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == c["n"] and {"filename", "label", f"{contract.CANDIDATE_ARM}_class"} <= set(rows[0])
    # Every slice states its n; cells that mean nothing say so.
    assert summary["metrics"]["overall"]["n"] == c["n"]
    assert "blessed: difference" in stdout and f"{contract.TEST_SPLIT} split, n = {c['n']}" in stdout
    assert "SYNTHETIC" in stdout and "SYNTHETIC" in summary["data_note"]
    report = open(os.path.join(reports, contract.REPORT_MARKDOWN_FILE)).read()
    for text in ("SYNTHETIC", f"## Paired comparison: {contract.TEST_SPLIT} split, n = {c['n']}",
                 f"| {contract.ACCURACY_METRIC} |", "auc[stripes_vertical]", "McNemar", "Newcombe", "Wilson",
                 *(f"Confusion matrix: {arm}" for arm in ARMS), "identical for both arms",
                 f"### {contract.LABEL_NAME_KEY}=stripes_horizontal (n = ", "n/a (one class in slice)",
                 picture, contract.TRAINING_CURVES_FILE):
        assert text in report, text
    assert "nan" not in report.lower().replace("nanoseconds", "")
    [version] = versions(output_dir)
    assert os.path.exists(os.path.join(output_dir, "serving", SERVED_MODEL_NAME, version, "saved_model.pb"))
    assert f"serving/{SERVED_MODEL_NAME}/{version}" in stdout


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
    assert "not blessed: difference" in stdout and "must be > margin 1" in stdout
    assert versions(output_dir) == [first]  # the Pusher wrote nothing

    stdout = run_pipeline(output_dir, "--evaluation.accuracy_margin", "-0.5").stdout
    assert "\n  blessed: difference" in stdout
    assert len(versions(output_dir)) == 2 and versions(output_dir)[0] == first
    assert tree_digest(os.path.join(output_dir, "serving", SERVED_MODEL_NAME, first)) == first_digest


def test_sweep_of_two_seeds_under_the_beam_dag_runner(tmp_path):
    """The sweep writes its report and pushes nothing; BeamDagRunner runs every component of the pipeline."""
    output_dir = tmp_path
    command = [sys.executable, os.path.join(ROOT, "pipeline_runner.py"), "sweep", "--seeds", "0,1",
               "--output-dir", str(output_dir), "--runner", "beam", *SMALL]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    # Progress names the seed; the second seed takes ingestion and Transform from the cache.
    for component in (contract.IMAGE_FOLDER_EXAMPLE_GEN_ID, contract.TRANSFORM_ID, CANDIDATE_TRAINER_ID,
                      contract.EVALUATOR_ID, contract.PAIRED_COMPARISON_ID, contract.COMPARISON_REPORT_ID):
        assert re.search(rf"seed 0 \(1/2\) ✓ {component} [\d.]+ s\n", proc.stdout), component
    assert f"seed 1 (2/2) ▶ {CANDIDATE_TRAINER_ID}" in proc.stdout
    assert re.search(rf"seed 1 \(2/2\) ✓ {contract.TRANSFORM_ID} [\d.]+ s \(from cache\)", proc.stdout)
    assert contract.PUSHER_ID not in proc.stdout and versions(output_dir) == []

    reports = os.path.join(output_dir, "reports")
    sweep = json.load(open(os.path.join(reports, contract.SWEEP_SUMMARY_FILE)))
    assert sweep["seeds"] == [0, 1] and [entry["seed"] for entry in sweep["per_seed"]] == [0, 1]
    for entry in sweep["per_seed"]:
        c = entry["comparison"]
        for key in ("n", "split", "difference", "difference_ci95", "mcnemar_p", "blessed", "rule",
                    "data_order_sha256"):
            assert key in c, key
        assert c["candidate"]["accuracy"] is not None and len(c["baseline"]["ci95"]) == 2
    orders = [entry["comparison"]["data_order_sha256"] for entry in sweep["per_seed"]]
    assert all(len(set(order.values())) == 1 for order in orders)  # both arms alike within a seed
    assert orders[0] != orders[1]  # and the seed changes it
    differences = [entry["comparison"]["difference"] for entry in sweep["per_seed"]]
    assert abs(sweep["difference"]["mean"] - sum(differences) / 2) < 1e-12
    assert sweep["difference"]["std"] is not None and "p_value" in sweep and sweep["verdict"]
    assert sweep["verdict"] in proc.stdout
    markdown = open(os.path.join(reports, contract.SWEEP_MARKDOWN_FILE)).read()
    assert "| seed | n |" in markdown and sweep["verdict"] in markdown and "SYNTHETIC" in markdown
    with open(os.path.join(reports, contract.SWEEP_PLOT_FILE), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
