"""Writing a benchmark's results file: one JSON object under ``bench/results/`` (or ``--output``)."""

import json
import os
import platform


def write_result(path: str, result: dict, sort_keys: bool = False) -> None:
    """Writes ``result`` to ``path`` as indented JSON ending in a newline, creating its folder.

    Args:
        path: the JSON file to write (replaced when it exists).
        result: the benchmark's figures; values JSON can hold.
        sort_keys: write the keys in sorted order (else in the order ``result`` has them).
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2, sort_keys=sort_keys)
        f.write("\n")


def host() -> dict:
    """What a results file says about the machine: ``cpu_count``, ``python`` (version) and ``machine`` (x86_64...)."""
    return {"cpu_count": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()}


def cpu() -> dict:
    """The CPU a figure was measured on, from ``/proc/cpuinfo``: ``model`` ('' when unknown) and ``vector``.

    Returns:
        ``{"model": str, "vector": [str]}``: the first ``model name`` line, and which of the vector extensions
        ``avx``, ``avx2``, ``fma``, ``avx512f``, ``avx512_bf16``, ``amx_tile`` its flags list (an empty list
        when ``/proc/cpuinfo`` is not there).
    """
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not model:
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {"model": model, "vector": [v for v in ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
                                       if v in flags]}
