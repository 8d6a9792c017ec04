"""The GPU check runs end to end in its tiny CPU mode, so it still works when a GPU machine is at hand."""

import json
import os
import subprocess
import sys

import pytest

from bench.bench_gpu import ARMS
from trainer.contract import BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_gpu_bench_tiny_mode_writes_every_figure(tmp_path):
    output = tmp_path / "gpu.json"
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "bench_gpu.py"), "--tiny", "--steps", "2", "--warmup", "1",
         "--precisions", "mixed_float16", "--output", str(output)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(output.read_text())
    assert results["mode"] == "tiny" and results["settings"]["backend"] == "tensorflow"
    assert results["input_path"]["images_per_second"] > 0
    assert "decode_and_resize" in results["input_path"]["method"]
    by_arm = {v["arm"]: v for v in results["variants"]}
    assert set(by_arm) == set(ARMS)
    for variant in by_arm.values():
        assert variant["precision"] == "mixed_float16" and variant["timed_steps"] == 2
        assert len(variant["warmup_step_seconds"]) == 1 and variant["warmup_step_seconds"][0] > 0
        assert variant["images_per_second"] > 0 and variant["step_ms_p90"] >= variant["step_ms_median"] > 0
        assert variant["loss_finite"]
    # The resizer's weights: 12,163 parameters more than the bilinear arm (the seed's resizer, 16 filters).
    assert by_arm[LEARNABLE_RESIZER_ARM]["parameters"] - by_arm[BILINEAR_BASELINE_ARM]["parameters"] == 12_163
    assert results["bilinear_over_learnable_speed"]["mixed_float16"] > 0
