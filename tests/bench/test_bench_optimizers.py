"""The optimizer benchmark runs end to end in its tiny mode: each optimizer really used, every figure written."""

import json
import os
import subprocess
import sys

import pytest

from trainer.contract import MULLER_ARM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_optimizers_bench_tiny_mode_writes_every_figure(tmp_path):
    output = tmp_path / "optimizers.json"
    done = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_optimizers.py"), "--tiny",
                           "--arms", MULLER_ARM, "--output", str(output)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(output.read_text())
    assert results["mode"] == "tiny" and results["steps"] == 2 and "model" in results["cpu"]
    assert results["training"]["backbone"] == "small_convnet" and results["training"]["optimizer"] == "adam"
    [(arm, runs)] = results["arms"].items()
    assert arm == MULLER_ARM
    # Each process ran the optimizer it was asked for (the demo profile's Adam).
    assert runs["keras"]["optimizer"] == "Adam" and runs["trainer"]["optimizer"] == "FusedAdam"
    for optimizer in ("keras", "trainer"):
        figures = runs[optimizer]
        assert len(figures["step_seconds"]) == 2 and figures["images_per_second"] > 0
        assert figures["median_step_seconds"] > 0 and figures["first_step_seconds"] > 0
        assert figures["peak_rss_bytes"] > 1e8
    assert runs["step_ratio"] > 0 and runs["first_step_ratio"] > 0
    assert "ratio" in done.stdout and arm in done.stdout
