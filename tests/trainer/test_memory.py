"""Freed memory given back after a pipeline step: cyclic garbage collected, the C allocator's pages trimmed."""

import json
import os
import subprocess
import sys

import pytest

from components import evaluator_executor, paired_comparison
from trainer import memory, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A fresh interpreter (Linux with glibc, as CI), so that the heap holds nothing else: 4,000 chunks of 64 KB
# (below glibc's 128 KB mmap threshold, so from its heap), each in a reference cycle and each followed by a live
# 600-byte buffer (above pymalloc's 512 bytes, so from glibc too: the freed chunks are holes inside the heap that
# glibc never trims by itself).  Resident memory before and after release_freed_memory().
PROBE = r"""
import gc, json, os
from trainer import memory
def resident(): return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
gc.disable()
live = []
for _ in range(4000):
    node = [bytearray(64 * 1024)]
    node.append(node)
    live.append(bytearray(600))
del node
before = resident()
print(json.dumps({"before": before, "trimmed": memory.release_freed_memory(), "after": resident()}))
"""
CHUNKS_BYTES = 4000 * 64 * 1024


def test_release_gives_back_cyclic_garbage_held_in_the_c_heap():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["trimmed"] is True  # Linux with glibc, as CI
    assert figures["before"] - figures["after"] >= 0.75 * CHUNKS_BYTES, figures


def test_collection_alone_leaves_the_pages_resident():
    """Why the trim: the same garbage collected without it stays resident (glibc keeps holes in its heap)."""
    probe = PROBE.replace("memory.release_freed_memory()", "gc.collect() and False")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["before"] - figures["after"] < 0.25 * CHUNKS_BYTES, figures


def test_without_malloc_trim_only_the_collection_runs(monkeypatch):
    collected = []
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    monkeypatch.setattr(memory.gc, "collect", lambda: collected.append(True) or 0)
    assert memory.release_freed_memory() is False
    assert collected == [True]


def test_the_decorator_releases_after_the_step_returns_or_raises(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "release_freed_memory", lambda: calls.append("released") or True)

    @memory.releases_freed_memory
    def step(value):
        """A step."""
        calls.append("step")
        if value is None:
            raise ValueError("no value")
        return value * 2

    assert step(21) == 42
    assert calls == ["step", "released"]
    with pytest.raises(ValueError, match="no value"):
        step(None)
    assert calls == ["step", "released", "step", "released"]
    assert step.__name__ == "step" and step.__doc__ == "A step."


# Each fails at its first line without inputs (no fn_args; no exec_properties), before doing anything.
@pytest.mark.parametrize("step, error", [(lambda: run.run_fn(None), AttributeError),
                                         (lambda: evaluator_executor.Executor().Do({}, {}, {}), KeyError),
                                         (lambda: paired_comparison.Executor().Do({}, {}, {}), KeyError)],
                         ids=["Trainer run_fn", "Evaluator", "PairedComparison"])
def test_the_pipelines_heavy_steps_release_what_they_freed_even_when_they_fail(step, error, monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "release_freed_memory", lambda: calls.append("released") or True)
    with pytest.raises(error):
        step()
    assert calls == ["released"]
