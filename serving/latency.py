"""Latency of served models measured side by side: interleaved calls, so machine noise hits every model alike.

Used by the comparison (each arm's ``serving_default`` at batch 1, inside the pipeline) and by
``bench/bench_serving.py``.  Times are wall milliseconds of in-process calls of a loaded SavedModel's
signature, as TF Serving runs it, without its request handling.
"""

import os
import platform
import time
from collections.abc import Callable, Hashable, Sequence

import numpy as np


def interleaved_times(calls: dict[Hashable, Callable[[], object]], rounds: int,
                      warmup: int) -> tuple[dict[Hashable, list[float]], dict[Hashable, float]]:
    """Calls every function once per round, in an order rotated by one place every round.

    Args:
        calls: name -> a function that makes one call and waits for its answer.
        rounds: timed rounds; each function is called this many times after the warm-up.
        warmup: untimed rounds first (tracing, first-call allocations).

    Returns:
        (name -> the timed calls' milliseconds, name -> the very first call's milliseconds).
    """
    names = list(calls)
    times = {name: [] for name in names}
    first = {}
    for round_index in range(warmup + rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            calls[name]()
            elapsed = (time.perf_counter() - start) * 1000.0
            first.setdefault(name, elapsed)
            if round_index >= warmup:
                times[name].append(elapsed)
    return times, first


def latency_figures(milliseconds: Sequence[float], batch_size: int = 1) -> dict:
    """Median, quartiles, p90, mean and min of ``milliseconds``, and images/s at the median."""
    times = np.asarray(milliseconds, dtype=np.float64)
    median = float(np.median(times))
    return {
        "median_ms": median,
        "p25_ms": float(np.percentile(times, 25)),
        "p75_ms": float(np.percentile(times, 75)),
        "p90_ms": float(np.percentile(times, 90)),
        "mean_ms": float(times.mean()),
        "min_ms": float(times.min()),
        "images_per_second": batch_size * 1000.0 / median,
        "calls": len(times),
        "ms": [round(float(t), 3) for t in times],
    }


def cpu_description() -> str:
    """``AMD EPYC, 2 cores, AVX2 (no AVX-512)``: what the figures were measured on."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                if model and flags:
                    break
    except OSError:
        pass
    isa = "AVX-512" if "avx512f" in flags else "AVX2 (no AVX-512)" if "avx2" in flags else "no AVX2"
    return f"{model}, {os.cpu_count()} cores, {isa}"
