"""The bad-image budget: a run fails when too many input files had to be skipped.

Both ExampleGens call :func:`check_bad_fraction` after writing their report
(``bad_images.tsv``, ``ingest_report.json``), so the user can read why.
"""

from __future__ import annotations

import os
from typing import Any

from trainer.contract import BAD_IMAGES_FILE


class TooManyBadImagesError(RuntimeError):
    """More than ``max_bad_fraction`` of the input files were skipped (or none gave a record)."""


def check_bad_fraction(component_name: str, report: dict[str, Any], max_bad_fraction: float,
                       uri: str = "") -> None:
    """Raises :class:`TooManyBadImagesError` naming the worst skip reasons."""
    totals = report["totals"]
    files_in = totals["files_in"]
    if files_in == 0:
        raise TooManyBadImagesError(f"{component_name}: no input files found")
    if totals["records_out"] == 0:
        raise TooManyBadImagesError(
            f"{component_name}: none of the {files_in} input files gave a record; "
            f"reasons: {_worst(totals['skipped_by_reason'])}")
    fraction = totals["skipped"] / files_in
    if fraction > max_bad_fraction:
        raise TooManyBadImagesError(
            f"{component_name}: {totals['skipped']} of {files_in} input files "
            f"({fraction:.1%}) were skipped, above max_bad_fraction={max_bad_fraction}; "
            f"worst reasons: {_worst(totals['skipped_by_reason'])}; "
            f"see {os.path.join(uri, BAD_IMAGES_FILE)}")


def _worst(by_reason: dict[str, int], limit: int = 3) -> str:
    top = sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return ", ".join(f"{reason}={n}" for reason, n in top) or "none"
