"""Latency measured side by side (serving/latency.py): the interleaving, the figures, the CPU's name."""

import time

import numpy as np
import pytest

from serving import latency


def test_calls_are_interleaved_and_rotated_every_round():
    order = []
    calls = {name: (lambda name=name: order.append(name)) for name in ("a", "b", "c")}
    times, first = latency.interleaved_times(calls, rounds=2, warmup=1)
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert {name: len(ms) for name, ms in times.items()} == {"a": 2, "b": 2, "c": 2}
    assert set(first) == {"a", "b", "c"}


def test_the_warmup_is_untimed_and_the_first_call_is_kept_apart():
    state = {"calls": 0}

    def slow_first():
        state["calls"] += 1
        time.sleep(0.05 if state["calls"] == 1 else 0.0)

    times, first = latency.interleaved_times({"m": slow_first}, rounds=3, warmup=1)
    assert state["calls"] == 4
    assert first["m"] >= 45.0  # milliseconds
    assert len(times["m"]) == 3 and max(times["m"]) < first["m"]


def test_latency_figures():
    ms = [4.0, 1.0, 3.0, 2.0, 10.0]
    figures = latency.latency_figures(ms, batch_size=2)
    assert figures["median_ms"] == 3.0 and figures["mean_ms"] == 4.0 and figures["min_ms"] == 1.0
    assert figures["p25_ms"] == np.percentile(ms, 25) == 2.0
    assert figures["p75_ms"] == 4.0 and figures["p90_ms"] == pytest.approx(7.6)
    assert figures["images_per_second"] == pytest.approx(2 * 1000.0 / 3.0)
    assert figures["calls"] == 5 and figures["ms"] == ms


def test_cpu_description_names_the_model_the_cores_and_the_vector_unit():
    import os

    with open("/proc/cpuinfo") as f:
        lines = [line.split(":", 1) for line in f if ":" in line]
    model = next(value.strip() for key, value in lines if key.strip() == "model name")
    flags = set(next(value for key, value in lines if key.strip() == "flags").split())
    isa = "AVX-512" if "avx512f" in flags else "AVX2 (no AVX-512)" if "avx2" in flags else "no AVX2"
    assert latency.cpu_description() == f"{model}, {os.cpu_count()} cores, {isa}"
