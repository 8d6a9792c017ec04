"""The bad-image report (``bad_images.tsv``) and budget.

Ingestion (both ExampleGens, at the Examples artifact's root) and
``pipeline_runner.py infer`` (beside its predictions CSV) write the same
file with :func:`write_bad_images`: a header line, then one tab-separated
line per file that was not simply kept, with the columns
:data:`BAD_IMAGES_COLUMNS`:

* ``split``: the output split the file went to (ingestion; empty for
  ``infer``, which has no splits);
* ``outcome``: ``converted``, ``skipped``, ``kept`` (with a warning), or, for
  ``infer`` only, ``ignored`` (not data) and ``not_read`` (a link);
* ``reason``: why (``alpha``, ``corrupt``, ``jpeg_extraneous_bytes``, ...);
* ``path``: the file's path relative to the input folder (TFDS: its file
  name);
* ``detail``: the decoder's message or other detail ('' when none).

Tabs and line breaks inside a field become spaces, so every row is one line.

After writing their report, the ExampleGens call :func:`check_bad_fraction`,
so a run with too many skipped files fails naming the worst reasons.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, NamedTuple

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from trainer.contract import BAD_IMAGES_FILE

# The report's columns, in file order (the header line joins them with tabs).
BAD_IMAGES_COLUMNS = ("split", "outcome", "reason", "path", "detail")
BAD_IMAGES_HEADER = "\t".join(BAD_IMAGES_COLUMNS)


class BadImageRow(NamedTuple):
    """One line of ``bad_images.tsv`` (see :data:`BAD_IMAGES_COLUMNS`)."""

    split: str
    outcome: str
    reason: str
    path: str
    detail: str


def clean(text: Any) -> str:
    """``text`` as one report field: tabs, line breaks and runs of spaces become one space.

    Args:
      text: any value; ``str()`` of it is cleaned.

    Returns:
      The cleaned string (no tab, no line break, no leading/trailing space).
    """
    return " ".join(str(text).replace("\t", " ").split())


def format_bad_images(rows: Iterable[BadImageRow]) -> str:
    """The text of a ``bad_images.tsv``: the header, then ``rows`` sorted by (path, split, outcome).

    Args:
      rows: the report's rows, in any order.

    Returns:
      The file's text, each line ending with a line break; every field cleaned with :func:`clean`.
    """
    lines = [BAD_IMAGES_HEADER]
    for row in sorted(rows, key=lambda r: (r.path, r.split, r.outcome)):
        lines.append("\t".join(clean(field) for field in row))
    return "\n".join(lines) + "\n"


def write_bad_images(rows: Iterable[BadImageRow], path: str) -> None:
    """Writes ``rows`` as a ``bad_images.tsv`` at ``path`` (:func:`format_bad_images`).

    Args:
      rows: the report's rows, in any order.
      path: the file to write (local path or any URI Beam's ``FileSystems`` can write, ``gs://...``);
        replaced if it exists.
    """
    with FileSystems.create(path) as f:
        f.write(format_bad_images(rows).encode("utf-8"))


def read_bad_images(path: str) -> list[BadImageRow]:
    """The rows of a ``bad_images.tsv`` written by :func:`write_bad_images`.

    Args:
      path: the file (local path or any URI Beam's ``FileSystems`` can read).

    Returns:
      The rows, in file order.

    Raises:
      ValueError: the file's header is not :data:`BAD_IMAGES_HEADER` or a line has another number of
        fields (the message names the file and the line).
    """
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        lines = f.read().decode("utf-8").splitlines()
    if not lines or lines[0] != BAD_IMAGES_HEADER:
        raise ValueError(f"{path}: not a bad-images report (first line {lines[0] if lines else ''!r}, "
                         f"expected {BAD_IMAGES_HEADER!r})")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(BAD_IMAGES_COLUMNS):
            raise ValueError(f"{path}, line {number}: {len(fields)} fields, expected "
                             f"{len(BAD_IMAGES_COLUMNS)} ({', '.join(BAD_IMAGES_COLUMNS)})")
        rows.append(BadImageRow(*fields))
    return rows


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
