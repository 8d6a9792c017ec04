"""Two worker processes on localhost train one arm together, as on a cluster described by TF_CONFIG.

They end where one process with the same global batch ends.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.integration.test_data_order import ROOT, artifacts
from tests.trainer.helpers import small_config
from trainer import contract
from trainer.contract import LEARNABLE_RESIZER_ARM
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


def trainer_command(examples, transform, out, training, *options):
    return [sys.executable, "-m", "tests.trainer.train_one_arm", "--examples", examples, "--transform", transform,
            "--out", out, "--config", json.dumps(training.to_custom_config()), *options]


def run_single(examples, transform, out, training, env):
    # The reference computes BatchNorm moments with the workers' formula (see train_one_arm.py).
    done = subprocess.run(trainer_command(examples, transform, out, training, "--synchronized-batchnorm"),
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]


def trainable_weights(out):
    import tensorflow as tf

    model = tf.saved_model.load(os.path.join(out, "model", "Format-Serving"))
    return {v.name: v.numpy() for v in model.model_variables if v.trainable}


def test_two_workers_train_like_one_process(trained_pipeline, tmp_path):
    """One SGD step of the global batch: the same loss, and every weight moved the same way.

    One step, because at 2 images per worker any difference grows from step to step;
    SGD, because Adam's first update is about lr * sign(gradient).
    """
    examples, transform = artifacts(trained_pipeline)
    settings = {"steps_per_epoch": 1, "optimizer": "sgd", "picture_images": 0}
    training = small_config(str(tmp_path), dict(settings, learning_rate=0.01)).training.for_arm(LEARNABLE_RESIZER_ARM)
    # The starting point: the same run with a step too small to move any weight.
    start = small_config(str(tmp_path), dict(settings, learning_rate=1e-12)).training.for_arm(LEARNABLE_RESIZER_ARM)
    env = {k: v for k, v in os.environ.items() if k != TF_CONFIG}
    run_single(examples, transform, str(tmp_path / "start"), start, env)
    run_single(examples, transform, str(tmp_path / "single"), training, env)

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
    assert together["images_consumed"] == alone["images_consumed"] == training.batch_size
    # The forward pass saw the global batch (synchronised BatchNorm): the same loss.
    np.testing.assert_allclose(together["history"]["loss"], alone["history"]["loss"], rtol=1e-4)

    # The step: each weight's update against the single process's (gradients summed over the workers).
    initial = trainable_weights(str(tmp_path / "start"))
    one, two = trainable_weights(str(tmp_path / "single")), trainable_weights(str(tmp_path / "worker0"))
    assert set(one) == set(two) == set(initial)
    cosines, norm_ratios = {}, {}
    for name, start_value in initial.items():
        step_one, step_two = (one[name] - start_value).ravel(), (two[name] - start_value).ravel()
        norm = float(np.linalg.norm(step_one))
        assert norm > 0, f"{name} did not move"
        cosines[name] = float(step_one @ step_two) / (norm * float(np.linalg.norm(step_two)))
        norm_ratios[name] = float(np.linalg.norm(step_two)) / norm
    print(f"{len(initial)} weights: update cosine min {min(cosines.values()):.7f}, "
          f"norm ratio {min(norm_ratios.values()):.6f}..{max(norm_ratios.values()):.6f}")
    # Measured on small_convnet: every update equal up to float rounding (cosines >= 0.9999999, norm ratios
    # 0.999996..1.000002). DenseNet-121 on 32x32 inputs, 121 synchronised BatchNorm layers on 1x1..8x8 feature maps,
    # gave cosines >= 0.989 and norm ratios 0.947..1.039 (see docs/trainer.md, "Several workers").
    assert all(c > 0.9999 for c in cosines.values()), cosines
    assert all(abs(r - 1) < 1e-3 for r in norm_ratios.values()), norm_ratios


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
