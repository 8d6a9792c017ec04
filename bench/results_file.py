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
