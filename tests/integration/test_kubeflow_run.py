"""The compiled Kubeflow pipeline executed: every task of the JSON ``compile`` writes, through TFX's
container entrypoint, in DAG order (``tests/pipeline/kfp_harness.py``), with a runtime parameter overridden,
up to a pushed model that serves.
"""

import copy
import json
import os
import subprocess
import sys
import time

import pytest

from pipeline.kubeflow import custom_config_output
from tests.pipeline.helpers import IMAGE
from tests.pipeline.kfp_harness import PipelineRun, artifact_uri
from trainer import contract
from trainer.contract import (
    BILINEAR_ANTIALIAS_ARM,
    LEARNABLE_RESIZER_ARM,
    MULLER_ARM,
    RUNTIME_CONFIG_ID,
    SERVED_MODEL_NAME,
)

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPILED_EPOCHS, RUN_EPOCHS = 2, 3
CANDIDATES = (LEARNABLE_RESIZER_ARM, MULLER_ARM, BILINEAR_ANTIALIAS_ARM)
TINY = [
    "--training.candidates", ",".join(CANDIDATES),
    "--data.demo_images_per_class", "24",
    "--training.backbone", "small_convnet",  # the plumbing is under test, not DenseNet-121
    "--training.image_size", "64,64",
    "--training.target_size", "32,32",
    "--training.batch_size", "4",
    "--training.epochs", str(COMPILED_EPOCHS),
    "--training.picture_images", "0",
    # The plumbing is under test, not the verdict: bless whatever the few steps give.
    "--evaluation.accuracy_margin", "-1",
    "--evaluation.significance_level", "0",
    "--evaluation.accuracy_floor", "0",
    # The demo's deliberately bad files are more than the default 10 % of so few images.
    "--data.max_bad_fraction", "0.5",
]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """(output dir, compiled job, finished PipelineRun) of one execution with ``epochs`` overridden."""
    base = tmp_path_factory.mktemp("kfp_run")
    output_dir, job_file = base / "out", base / "pipeline.json"
    command = [sys.executable, os.path.join(ROOT, "pipeline_runner.py"), "compile", "--output", str(job_file),
               "--image", IMAGE, "--pipeline-root", str(base / "pipeline_root"), "--output-dir", str(output_dir),
               *TINY]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(job_file) as f:
        job = json.load(f)
    start = time.monotonic()
    run = PipelineRun(job, job["runtimeConfig"]["gcsOutputDirectory"], {"epochs": RUN_EPOCHS}).run()
    seconds = time.monotonic() - start
    print(f"\ncompiled pipeline executed in {seconds:.0f} s: "
          + ", ".join(f"{name} {run.seconds[name]:.0f} s" for name in run.order))
    return output_dir, job, run


def test_every_task_ran_after_what_it_reads(executed):
    _, job, run = executed
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    assert sorted(run.order) == sorted(tasks) == sorted(run.finished)
    # What nothing reads finishes last: the report and the model card.
    assert max(run.finished, key=run.finished.get) in {contract.COMPARISON_REPORT_ID, contract.MODEL_CARD_ID}
    for name in tasks:
        assert all(run.started[name] >= run.finished[producer] for producer in run.producers(name)), name
    # The DataGate ran through the container entrypoint and Transform waited for it.
    assert run.started[contract.TRANSFORM_ID] >= run.finished[contract.DATA_GATE_ID]
    [gate] = run.outputs[contract.DATA_GATE_ID]["artifacts"]["result"]
    with open(os.path.join(gate["uri"], contract.DATA_GATE_FILE)) as f:
        assert json.load(f)["outcome"] == "passed"
    # The ExampleGen's driver step ran before its executor and its span reached the artifact.
    [examples] = run.outputs[contract.IMAGE_FOLDER_EXAMPLE_GEN_ID]["artifacts"]["examples"]
    assert os.path.exists(os.path.join(os.path.dirname(examples["uri"]), "driver.log"))
    assert json.loads(examples["metadata"]["split_names"]) == list(contract.REQUIRED_SPLITS)


def test_example_gen_also_runs_without_its_driver_step(executed, tmp_path):
    """Vertex AI runs the ExampleGen's ``lifecycle.preCacheCheck``; a backend that skips it still gets examples."""
    _, job, run = executed
    job = copy.deepcopy(job)
    spec = job["pipelineSpec"]
    task = spec["root"]["dag"]["tasks"][contract.IMAGE_FOLDER_EXAMPLE_GEN_ID]
    executor = spec["components"][task["componentRef"]["name"]]["executorLabel"]
    assert spec["deploymentSpec"]["executors"][executor]["container"].pop("lifecycle")
    alone = PipelineRun(job, str(tmp_path))
    alone.run_task(contract.IMAGE_FOLDER_EXAMPLE_GEN_ID)
    [examples] = alone.outputs[contract.IMAGE_FOLDER_EXAMPLE_GEN_ID]["artifacts"]["examples"]
    [with_driver] = run.outputs[contract.IMAGE_FOLDER_EXAMPLE_GEN_ID]["artifacts"]["examples"]
    assert examples["metadata"]["split_names"] == with_driver["metadata"]["split_names"]
    for split in contract.REQUIRED_SPLITS:
        assert sorted(os.listdir(os.path.join(examples["uri"], f"Split-{split}")))


def test_overridden_runtime_parameter_reached_every_arms_trainer(executed):
    _, job, run = executed
    assert job["runtimeConfig"]["parameterValues"]["epochs"] == COMPILED_EPOCHS
    produced = run.outputs[RUNTIME_CONFIG_ID]["parameterValues"]
    arms = (contract.DEFAULT_BASELINE, *CANDIDATES)
    assert {name for name in run.order if name.startswith("Trainer_")} == {contract.trainer_id(a) for a in arms}
    for arm in arms:
        trainer_id = contract.trainer_id(arm)
        # The Trainer's dynamic execution property is the RuntimeConfig step's output ...
        custom_config = run.executor_inputs[trainer_id]["inputs"]["parameterValues"]["custom_config"]
        assert custom_config == produced[custom_config_output(arm)]
        assert json.loads(custom_config)[contract.TRAINING_CONFIG_KEY]["epochs"] == RUN_EPOCHS
        # ... and training ran that many epochs.
        with open(os.path.join(artifact_uri(run, trainer_id, "model_run"), contract.TRAINING_SUMMARY_FILE)) as f:
            history = json.load(f)["history"]
        assert {len(values) for values in history.values()} == {RUN_EPOCHS}, (arm, history)


def test_blessing_and_push_travel_as_artifact_metadata(executed):
    output_dir, _, run = executed
    [blessing] = run.outputs[contract.PAIRED_COMPARISON_ID]["artifacts"]["blessing"]
    assert blessing["metadata"]["blessed"] == 1 and blessing["metadata"]["chosen_arm"] in CANDIDATES
    [chosen] = run.outputs[contract.PAIRED_COMPARISON_ID]["artifacts"]["chosen_model"]
    assert chosen["metadata"]["chosen_arm"] == blessing["metadata"]["chosen_arm"]
    [infra_blessing] = run.outputs[contract.SERVABILITY_CHECK_ID]["artifacts"]["blessing"]
    assert infra_blessing["metadata"]["blessed"] == 1 and infra_blessing["metadata"]["has_model"] == 1
    [pushed] = run.outputs[contract.PUSHER_ID]["artifacts"]["pushed_model"]
    assert pushed["metadata"]["pushed"] == 1
    version = pushed["metadata"]["pushed_version"]
    warmup = output_dir / "serving" / SERVED_MODEL_NAME / version / contract.WARMUP_DIR / contract.WARMUP_FILE
    assert warmup.stat().st_size > 0
    assert pushed["metadata"]["pushed_destination"] == str(output_dir / "serving" / SERVED_MODEL_NAME / version)
    report_uri = artifact_uri(run, contract.COMPARISON_REPORT_ID, "report")
    with open(os.path.join(report_uri, contract.REPORT_SUMMARY_FILE)) as f:
        summary = json.load(f)
    assert summary["pushed"]["pushed"] is True and summary["pushed"]["version"] == version
    assert summary["servability"] == {"blessed": True, "reason": infra_blessing["metadata"]["reason"]}
    # The verdict covers every arm the compiled pipeline trained, and the Evaluator evaluated them all.
    assert set(summary["arms"]) == {contract.DEFAULT_BASELINE, *CANDIDATES} == set(summary["verdict"]["arms"])
    assert summary["chosen"] == blessing["metadata"]["chosen_arm"] == summary["pushed"]["arm"]
    assert set(summary["confusion_matrices"]) == set(summary["arms"])
    assert os.path.exists(output_dir / "reports" / contract.REPORT_MARKDOWN_FILE)
    # The model card travels with the pushed model, its lineage naming the artifacts of this run.
    with open(output_dir / "serving" / SERVED_MODEL_NAME / version / contract.MODEL_CARD_JSON_FILE) as f:
        card = json.load(f)
    assert card["status"]["version"] == version and card["arm"] == summary["chosen"]
    assert card["lineage"]["pushed_model"]["uri"] == pushed["uri"]
    assert card["lineage"]["blessing"]["uri"] == blessing["uri"] and card["training"]["epochs_run"] == RUN_EPOCHS


def test_pushed_model_serves_an_encoded_image(executed):
    import tensorflow as tf

    from components.demo_data import CLASS_NAMES

    output_dir, _, run = executed
    [version] = os.listdir(output_dir / "serving" / SERVED_MODEL_NAME)
    model = tf.saved_model.load(str(output_dir / "serving" / SERVED_MODEL_NAME / version))
    class_dir = output_dir / "demo_data" / CLASS_NAMES[0]
    image_file = sorted(name for name in os.listdir(class_dir) if name.startswith(CLASS_NAMES[0]))[0]
    image_bytes = (class_dir / image_file).read_bytes()
    outputs = model.signatures[contract.SERVING_DEFAULT_SIGNATURE](
        **{contract.IMAGE_BYTES_INPUT: tf.constant([image_bytes])})
    probabilities = outputs[contract.PROBABILITIES_OUTPUT].numpy()
    assert probabilities.shape == (1, len(CLASS_NAMES))
    assert abs(float(probabilities.sum()) - 1.0) < 1e-4
    assert outputs[contract.CLASS_NAME_OUTPUT].numpy()[0].decode() in CLASS_NAMES
