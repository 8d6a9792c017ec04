"""Two worker processes on localhost train one arm together, as on a cluster described by TF_CONFIG,
and end where one process with the same global batch ends."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from components.paired_comparison import predict, read_split
from tests.trainer.helpers import small_config
from tests.trainer.test_data_order import ROOT, artifacts
from trainer import contract
from trainer.contract import CANDIDATE_ARM
from trainer.distribution import TF_CONFIG, cluster_spec, is_chief_task

pytestmark = pytest.mark.slow


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def trainer_command(examples, transform, out, training):
    return [sys.executable, "-m", "tests.trainer.train_one_arm", "--examples", examples, "--transform", transform,
            "--out", out, "--config", json.dumps(training.to_custom_config())]


def test_two_workers_train_like_one_process(trained_pipeline, tmp_path):
    examples, transform = artifacts(trained_pipeline)
    training = small_config(str(tmp_path), {"steps_per_epoch": 3, "picture_images": 0}).training.for_arm(CANDIDATE_ARM)
    env = {k: v for k, v in os.environ.items() if k != TF_CONFIG}

    single = subprocess.run(trainer_command(examples, transform, str(tmp_path / "single"), training),
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert single.returncode == 0, single.stderr[-4000:]

    workers = [f"localhost:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        out = str(tmp_path / f"worker{index}")
        processes.append(subprocess.Popen(trainer_command(examples, transform, out, training), cwd=ROOT,
                                          env=dict(env, **{TF_CONFIG: json.dumps(tf_config)}),
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=900) for p in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-4000:]

    # Worker 0 is the chief: it alone leaves a model and a summary behind.
    assert os.path.exists(os.path.join(tmp_path, "worker0", "model", "Format-Serving", "saved_model.pb"))
    assert not os.path.exists(os.path.join(tmp_path, "worker1", "model"))
    with open(os.path.join(tmp_path, "worker0", "model_run", contract.TRAINING_SUMMARY_FILE)) as f:
        together = json.load(f)
    with open(os.path.join(tmp_path, "single", "model_run", contract.TRAINING_SUMMARY_FILE)) as f:
        alone = json.load(f)
    assert (together["workers"], together["replicas"], alone["workers"]) == (2, 2, 1)
    assert together["data_order_sha256"] == alone["data_order_sha256"]
    assert together["images_consumed"] == alone["images_consumed"] == 3 * training.batch_size

    serialized, _, _ = read_split(examples, contract.TEST_SPLIT)
    np.testing.assert_allclose(predict(os.path.join(tmp_path, "worker0", "model"), serialized),
                               predict(os.path.join(tmp_path, "single", "model"), serialized), atol=1e-4)
    np.testing.assert_allclose(together["history"]["loss"], alone["history"]["loss"], rtol=1e-4)


def test_cluster_spec_from_tf_config():
    assert cluster_spec({}) is None
    assert cluster_spec({TF_CONFIG: json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker",
                                                                                        "index": 0}})}) is None
    two = {"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "worker", "index": 0}}
    assert cluster_spec({TF_CONFIG: json.dumps(two)}) == two and not is_chief_task(two)
    assert is_chief_task({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}})
    with pytest.raises(ValueError, match="TF_CONFIG is not JSON"):
        cluster_spec({TF_CONFIG: "{not json"})
    with pytest.raises(ValueError, match="names no chief or worker task"):
        cluster_spec({TF_CONFIG: json.dumps({"cluster": two["cluster"], "task": {"type": "ps", "index": 0}})})
