"""The mission-scale benchmark's parts: the generated folder, the per-component sampling, the rates."""

import os
import sys

import pytest
from PIL import Image

from bench import bench_scale
from trainer import contract


def test_the_folder_has_the_asked_files_and_bad_ones_of_every_kind(tmp_path):
    folder = bench_scale.make_folder(str(tmp_path / "images"), count=30, bad_fraction=0.1)
    assert folder["files"] == 30 and folder["bad_files"] == 3
    files = sorted(os.path.join(root, name) for root, _, names in os.walk(tmp_path / "images") for name in names)
    assert len(files) == 30
    assert {os.path.basename(os.path.dirname(f)) for f in files} == set(bench_scale.CLASS_NAMES)
    bad = []
    for path in files:
        try:
            with Image.open(path) as image:
                image.load()
                assert 150 <= image.height <= 500 and 200 <= image.width <= 500
        except Exception:  # noqa: BLE001 (what the ExampleGen must report)
            bad.append(os.path.getsize(path))
    # Empty, a line of text, a truncated JPEG.
    assert len(bad) == 3 and 0 in bad and len(b"not an image\n") in bad
    assert len(bench_scale.list_jpegs(str(tmp_path / "images"), limit=5)) == 5


def test_each_component_gets_its_wall_cpu_and_peak_memory_from_its_progress_lines():
    script = ("import time\n"
              "print('[00:00:00] ▶ Busy ...', flush=True)\n"
              "data = bytearray(b'x') * 200_000_000  # written, so resident\n"
              "end = time.time() + 1.0\n"
              "while time.time() < end: pass\n"
              "print('[00:00:01] ✓ Busy 1.0 s', flush=True)\n"
              "del data\n"
              "time.sleep(0.6)\n"
              "print('[00:00:01] ▶ Cached ...', flush=True)\n"
              "print('[00:00:01] ✓ Cached 0.0 s (from cache)', flush=True)\n")
    figures = bench_scale.measure([sys.executable, "-c", script])
    busy, cached = figures["components"]["Busy"], figures["components"]["Cached"]
    assert busy["wall_seconds"] == 1.0 and busy["cpu_seconds"] > 0.5
    assert busy["peak_rss_bytes"] > 200_000_000 and busy["peak_private_bytes"] > 150_000_000
    assert cached["from_cache"] and not busy["from_cache"]
    # Busy ended holding its 200 MB; Cached started after they were freed (a sample in between).
    assert busy["end_rss_bytes"] > 200_000_000 and cached["end_rss_bytes"] < busy["end_rss_bytes"] - 150_000_000
    assert figures["peak_rss_bytes"] >= busy["peak_rss_bytes"]


def test_a_failed_run_stops_with_its_last_lines():
    with pytest.raises(SystemExit, match="exit status 3"):
        bench_scale.measure([sys.executable, "-c", "print('the last words'); raise SystemExit(3)"])


def test_rates_per_component_from_the_images_each_one_handles():
    components = {contract.IMAGE_FOLDER_EXAMPLE_GEN_ID: {"wall_seconds": 10.0},
                  contract.DECODE_IMAGES_ID: {"wall_seconds": 4.0}, "Transform": {"wall_seconds": 1.0}}
    counts = {"files_in": 100, f"records_{contract.TRAIN_SPLIT}": 70, f"records_{contract.VALIDATION_SPLIT}": 10,
              f"records_{contract.TEST_SPLIT}": 15}
    bench_scale.per_component_rates(components, counts)
    assert components[contract.IMAGE_FOLDER_EXAMPLE_GEN_ID]["images_per_second"] == 10.0
    assert components[contract.DECODE_IMAGES_ID]["images"] == 80
    assert "images" not in components["Transform"]
