"""The serving benchmark runs end to end in its tiny mode: the default arms exported, loaded and timed."""

import json
import os
import subprocess
import sys

import pytest

from trainer.contract import (
    BILINEAR_BASELINE_ARM,
    LEARNABLE_RESIZER_ARM,
    MULLER_ARM,
    SERVING_DEFAULT_SIGNATURE,
    TRANSFORM_IMAGES_SIGNATURE,
)

ARMS = (BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM)  # the baseline and the default candidates

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_serving_bench_tiny_mode_writes_every_figure(tmp_path):
    output = tmp_path / "serving.json"
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "bench_serving.py"), "--tiny", "--output", str(output),
         "--keep", str(tmp_path / "exports")],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(output.read_text())
    assert results["mode"] == "tiny"
    assert results["machine"]["cpu_count"] == os.cpu_count() and results["machine"]["tensorflow"]
    settings = results["settings"]
    assert settings["batch_sizes"] == [1, 8] and settings["precision"] == "float32"
    # Every arm exported in the Pusher's layout, the learnable resizer 12,163 weights and MULLER 4 from the baseline.
    for arm in ARMS:
        assert (tmp_path / "exports" / "serving" / arm / "1" / "saved_model.pb").is_file()
    assert (results["exports"][LEARNABLE_RESIZER_ARM]["parameters"]
            - results["exports"][BILINEAR_BASELINE_ARM]["parameters"]) == 12_163
    assert (results["exports"][MULLER_ARM]["parameters"] - results["exports"][BILINEAR_BASELINE_ARM]["parameters"]) == 4
    assert settings["arms"] == list(ARMS) and settings["baseline"] == BILINEAR_BASELINE_ARM
    assert set(results["arms"]) == set(ARMS)
    for arm in ARMS:
        assert set(results["arms"][arm]) == {"1", "8"}
        for batch, calls in zip(("1", "8"), settings["calls"]):
            for signature in (SERVING_DEFAULT_SIGNATURE, TRANSFORM_IMAGES_SIGNATURE):
                figures = results["arms"][arm][batch][signature]
                assert figures["calls"] == calls == len(figures["ms"])
                assert figures["p90_ms"] >= figures["median_ms"] > 0
                assert figures["images_per_second"] == pytest.approx(int(batch) * 1000 / figures["median_ms"])
    for batch in ("1", "8"):
        served = {arm: results["arms"][arm][batch][SERVING_DEFAULT_SIGNATURE] for arm in ARMS}
        for arm in ARMS:
            ratio = results["ratios"][batch][arm]
            assert ratio["median_over_baseline"] == pytest.approx(
                served[arm]["median_ms"] / served[BILINEAR_BASELINE_ARM]["median_ms"])
            assert ratio["extra_ms_median"] == pytest.approx(
                served[arm]["median_ms"] - served[BILINEAR_BASELINE_ARM]["median_ms"])
        assert results["ratios"][batch][BILINEAR_BASELINE_ARM]["median_over_baseline"] == 1.0
    assert f"{MULLER_ARM}/{BILINEAR_BASELINE_ARM} median latency" in done.stdout
