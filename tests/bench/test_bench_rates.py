"""The rates benchmark runs end to end in its tiny mode: the ceiling, every demo arm's FLOPs, rate and fraction."""

import json
import os
import subprocess
import sys

import pytest

from trainer.contract import BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_rates_bench_tiny_mode_writes_every_figure(tmp_path):
    output = tmp_path / "rates.json"
    done = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_rates.py"), "--tiny",
                           "--output", str(output)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(output.read_text())
    assert results["mode"] == "tiny" and results["host"]["cpu_count"] == os.cpu_count()
    assert "model" in results["cpu"] and isinstance(results["cpu"]["vector"], list)
    # oneDNN: the project's default (trainer/environment.py), unless the user turned it off.
    off = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").lower() in ("0", "false")
    assert results["cpu_kernels"] == ("Eigen" if off else "oneDNN")
    assert results["settings"]["backbone"] == "small_convnet" and results["settings"]["timed_steps"] == 2
    ceiling = results["ceiling"]
    assert set(ceiling["sizes"]) == {"256", "512"}
    assert ceiling["gflops"] == max(s["gflops_best"] for s in ceiling["sizes"].values()) > 0
    assert all(s["gflops_best"] >= s["gflops_median"] > 0 for s in ceiling["sizes"].values())
    assert set(results["arms"]) == {BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM}
    for arm, a in results["arms"].items():
        flops = a["flops_per_image"]
        assert flops["training_step"] == pytest.approx(flops["forward"] + flops["backward"]), arm
        assert 2 < flops["step_over_forward"] < 3.5, arm
        assert a["timed_steps"] == 2 and a["images_per_second"] > 0, arm
        assert a["first_step_seconds"] > 0 and 0.1 < a["peak_rss_gb"] < 64, arm
        assert a["achieved_gflops"] == pytest.approx(flops["training_step"] * a["images_per_second"] / 1e9)
        # Ratios to the ceiling measured in the same run. In tiny mode, beside other tests, the ceiling of
        # small matrices can be low enough for a fraction to pass 1 (1.57 seen); 10 would be a unit error.
        assert a["fraction_of_ceiling"] == pytest.approx(a["achieved_gflops"] / ceiling["gflops"]), arm
        assert a["fraction_of_ceiling_forward_x3"] == pytest.approx(
            a["achieved_gflops_forward_x3"] / ceiling["gflops"]), arm
        assert 0 < a["fraction_of_ceiling"] < 10 and 0 < a["fraction_of_ceiling_forward_x3"] < 10, arm
    # Only the learnable resizer back-propagates through a resize (between its convolutions).
    assert results["arms"][LEARNABLE_RESIZER_ARM]["flops_per_image"]["added"] > 0
    assert set(results["versus_baseline"]) == {LEARNABLE_RESIZER_ARM, MULLER_ARM}
    learnable = results["versus_baseline"][LEARNABLE_RESIZER_ARM]
    assert learnable["training_flops_ratio"] > 1 and learnable["step_time_ratio"] > 0
