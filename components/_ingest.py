"""The ingestion executor every source shares, and its Beam plumbing.

:class:`IngestExecutor` owns ``Do``: a source's executor (a subclass)
implements only :meth:`IngestExecutor.plan`, which returns an
:class:`IngestPlan` (label names, output splits, a ``PTransform`` turning the
pipeline's root into a PCollection of :class:`IngestItem`, one per input file
/ example, already assigned to an output split).  ``Do`` then (optionally
after :func:`group_duplicates`) calls :func:`write_ingest_outputs`, which

* normalises every item with :func:`components.image_records.normalize_image`,
* writes the records of each split as gzip TFRecords of ``tf.Example``
  under ``<examples uri>/Split-<name>/data_tfrecord-*.gz`` (TFX's layout;
  stored, not deflated: :mod:`components.tfrecord_files`),
* writes ``bad_images.tsv`` (:func:`components.bad_images.write_bad_images`)
  and ``ingest_report.json`` at the artifact root.

After the Beam pipeline has run, :func:`finish_examples_artifact` writes
``label_names.txt``, sets the artifact's properties (``split_names``,
``payload_format``, ``file_format``, custom ``label_names`` and counts), logs
the totals and enforces ``max_bad_fraction``
(:func:`components.bad_images.check_bad_fraction`), that every class folder
gave a record (image folders) and that every split got records; when any of
these stops the run, a copy of the report is kept in a temp folder named in
the error (:func:`keep_report_copy`).  Which sources exist is the table in
:mod:`components.sources`.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import apache_beam as beam
from absl import logging
from tfx.dsl.components.base import base_beam_executor

from components import example_records, image_records
from components.bad_images import BadImageRow, TooManyBadImagesError, check_bad_fraction, clean, write_bad_images
from components.tfrecord_files import WriteToGzipTFRecord
from trainer.contract import BAD_IMAGES_FILE, INGEST_REPORT_FILE, LABEL_NAMES_FILE, LABEL_NAMES_PROPERTY

RECORD_FILE_PREFIX = "data_tfrecord"
METRICS_NAMESPACE = "resizer_ingest"


class IngestItem(NamedTuple):
    """One input image, before validation."""

    split: str
    path: str  # relative path (image folder) or TFDS file name; report key
    label: int  # -1 when unknown (the item is then skipped by `skip_reason`)
    label_name: str
    data: bytes | None  # None when the bytes could not be read
    skip_reason: str = ""  # pre-decided skip (unreadable, hidden_file, ...)
    skip_detail: str = ""
    # Set when the same bytes are also filed under another class: the item is
    # then skipped as ``label_conflict`` if it would otherwise give a record.
    conflict: str = ""
    # Set (with ``data`` None) when the bytes were dropped after hashing, so that grouping moves no image
    # bytes: the item is read again by ``path`` (:class:`ReadAgainDoFn`) and must have this SHA-256.
    sha256: str = ""


class ReportRow(NamedTuple):
    split: str
    outcome: str
    reason: str
    path: str
    detail: str
    label_name: str = ""  # the item's class ("" when it has none)


class NormalizeDoFn(beam.DoFn):
    """IngestItem -> (split, serialized tf.Example) and a ReportRow for every item."""

    REPORT = "report"

    def __init__(self, max_pixels: int):
        self._max_pixels = int(max_pixels)
        self._counters = {}

    def _inc(self, name: str) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = beam.metrics.Metrics.counter(METRICS_NAMESPACE, name)
            self._counters[name] = counter
        counter.inc()

    def process(self, item: IngestItem):
        if item.skip_reason:
            result = image_records.skipped(item.skip_reason, item.skip_detail)
        elif item.data is None:
            result = image_records.skipped(image_records.UNREADABLE, item.skip_detail)
        else:
            result = image_records.normalize_image(item.data, self._max_pixels)
            if result.ok and item.conflict:
                result = image_records.skipped(image_records.LABEL_CONFLICT, item.conflict)
        self._inc(result.outcome)
        yield beam.pvalue.TaggedOutput(
            self.REPORT,
            ReportRow(item.split, result.outcome, result.reason or result.warning, item.path,
                      clean(result.detail), item.label_name),
        )
        if result.ok:
            example = example_records.make_example(
                result, item.path, item.label, item.label_name)
            yield item.split, example.SerializeToString(deterministic=True)


def _content_key(item: IngestItem) -> tuple[str, IngestItem]:
    """(key, item) to group by: SHA-256 of the bytes for readable, non-empty, not pre-skipped items.

    Those leave without their bytes (read again after the grouping, :func:`read_again`); any other item keeps
    a key of its own and is left as it is.
    """
    if item.skip_reason or not item.data:
        return "path:" + item.path, item
    digest = hashlib.sha256(item.data).hexdigest()
    return "sha256:" + digest, item._replace(data=None, sha256=digest)


class UnreadableError(OSError):
    """A source's read function could not read an item's bytes; the message is the report's detail."""


# The detail of an item whose bytes changed between the two reads of group_duplicates.
CHANGED_WHILE_READ = "the file changed during ingestion: its bytes differ from those read first"


def read_again(item: IngestItem, read: Callable[[str], bytes]) -> IngestItem:
    """``item`` with its bytes read again by ``read(item.path)`` when :func:`_content_key` dropped them.

    Returns:
        The item as it was when it kept its bytes; else with ``data`` set, or skipped as ``unreadable`` when
        the read fails (as detail: an :class:`UnreadableError`'s message, another exception's type and
        message) or the bytes' SHA-256 is not ``item.sha256`` (:data:`CHANGED_WHILE_READ`).
    """
    if item.data is not None or not item.sha256 or item.skip_reason:
        return item
    try:
        data = read(item.path)
    except Exception as exc:  # noqa: BLE001 - removed or unreadable since the first read
        detail = str(exc) if isinstance(exc, UnreadableError) else f"{type(exc).__name__}: {exc}"
        return item._replace(skip_reason=image_records.UNREADABLE, skip_detail=detail)
    if hashlib.sha256(data).hexdigest() != item.sha256:
        return item._replace(skip_reason=image_records.UNREADABLE, skip_detail=CHANGED_WHILE_READ)
    return item._replace(data=data)


class ReadAgainDoFn(beam.DoFn):
    """IngestItem without its bytes -> the same with them (:func:`read_again`)."""

    def __init__(self, read: Callable[[str], bytes]):
        self._read = read

    def process(self, item: IngestItem):
        yield read_again(item, self._read)


class GroupDuplicatesDoFn(beam.DoFn):
    """(key, items with the same bytes) -> the items, all in one split, and a report entry.

    The group's split is the path-hash split of its first path (sorted), so a
    file without copies keeps its usual split.  Copies under one class all go
    there; copies under different classes are marked as a label conflict
    (skipped when ``keep_label_conflicts`` is false).  Identical files that
    give no record anyway (not an image, corrupt, ...) are left to their own
    skip reason and not reported as duplicates.
    """

    DUPLICATES = "duplicates"

    def __init__(self, max_pixels: int, read: Callable[[str], bytes], keep_label_conflicts: bool = False):
        self._max_pixels = int(max_pixels)
        self._read = read
        self._keep = bool(keep_label_conflicts)

    def process(self, keyed):
        key, grouped = keyed
        group = sorted(grouped, key=lambda it: it.path)
        if len(group) == 1 or not key.startswith("sha256:"):
            yield from group
            return
        # Copies are read again here (a group's bytes only): one removed or changed since it was hashed is
        # skipped as unreadable and is no copy; the others are grouped as they would have been without it.
        again = [read_again(it, self._read) for it in group]
        yield from (it for it in again if it.skip_reason)
        group = [it for it in again if not it.skip_reason]
        if len(group) < 2 or not image_records.normalize_image(group[0].data, self._max_pixels).ok:
            yield from group
            return
        split = group[0].split
        paths = [it.path for it in group]
        classes = sorted({it.label_name for it in group})
        entry = {"sha256": key[len("sha256:"):], "split": split, "paths": paths}
        if len(classes) == 1:
            entry["label_name"] = classes[0]
            yield beam.pvalue.TaggedOutput(self.DUPLICATES, ("duplicate", entry))
            for it in group:
                yield it._replace(split=split)
            return
        entry["label_names"] = classes
        entry["trained_on"] = self._keep
        yield beam.pvalue.TaggedOutput(self.DUPLICATES, ("label_conflict", entry))
        for it in group:
            others = ", ".join(p for p in paths if p != it.path)
            detail = "" if self._keep else (
                f"same bytes as {others} (classes {', '.join(classes)})")
            yield it._replace(split=split, conflict=detail)


def _duplicates_section(_, entries) -> dict[str, Any]:
    duplicates = sorted((e for kind, e in entries if kind == "duplicate"), key=lambda e: e["paths"])
    conflicts = sorted((e for kind, e in entries if kind == "label_conflict"), key=lambda e: e["paths"])
    return {
        "duplicates": {
            "groups": len(duplicates),
            "files": sum(len(e["paths"]) for e in duplicates),
            "extra_copies": sum(len(e["paths"]) - 1 for e in duplicates),
            "entries": duplicates,
        },
        "label_conflicts": {
            "groups": len(conflicts),
            "files": sum(len(e["paths"]) for e in conflicts),
            "entries": conflicts,
        },
    }


def group_duplicates(items: beam.PCollection, max_pixels: int, read: Callable[[str], bytes],
                     keep_label_conflicts: bool = False) -> tuple[beam.PCollection, beam.PCollection]:
    """(items with identical bytes moved into one split, report section) - see GroupDuplicatesDoFn.

    The grouping moves each item's SHA-256 and path, not its bytes: ``read`` (a path -> the bytes, raising
    when it cannot) reads every item again after it (:class:`ReadAgainDoFn`), in the stage that normalises
    it.  A runner keeps a grouping's whole input (in memory for Beam's in-process DirectRunner; every byte
    crosses processes with ``multi_processing`` workers): with the bytes in it, 5.4 GB instead of 1.3 at
    23,265 files of 35 KB (docs/trainer.md).
    """
    grouped = (
        items
        | "KeyByContent" >> beam.Map(_content_key)
        | "GroupByContent" >> beam.GroupByKey()
        | "OneSplitPerContent" >> beam.ParDo(
            GroupDuplicatesDoFn(max_pixels, read, keep_label_conflicts)).with_outputs(
            GroupDuplicatesDoFn.DUPLICATES, main="items")
    )
    entries = grouped[GroupDuplicatesDoFn.DUPLICATES] | "DuplicatesToList" >> beam.combiners.ToList()
    section = (
        items.pipeline
        | "DuplicatesSeed" >> beam.Create([None])
        | "DuplicatesSection" >> beam.Map(_duplicates_section,
                                          entries=beam.pvalue.AsSingleton(entries))
    )
    return grouped.items | "ReadAgain" >> beam.ParDo(ReadAgainDoFn(read)), section


def _split_index(element: tuple[str, bytes], num_partitions: int, split_names: list[str]) -> int:
    del num_partitions
    return split_names.index(element[0])


def _count_key(row: ReportRow) -> tuple[tuple[str, str, str, str], int]:
    return (row.split, row.outcome, row.reason, row.label_name), 1


def _warnings_section(rows: Sequence[ReportRow]) -> dict[str, Any]:
    """The report's ``warnings``: every file kept with a warning, by name (sorted)."""
    kept = sorted((row for row in rows if row.outcome == image_records.KEPT and row.reason),
                  key=lambda r: (r.path, r.split))
    return {
        "count": len(kept),
        "by_reason": dict(sorted(collections.Counter(row.reason for row in kept).items())),
        "entries": [{"path": row.path, "split": row.split, "reason": row.reason, "detail": row.detail}
                    for row in kept],
    }


def _build_report(_, counts, split_names, extra, sections=(), bad_rows=()) -> dict[str, Any]:
    splits = {}
    for name in split_names:
        splits[name] = {
            "files_in": 0,
            "records_out": 0,
            "kept": 0,
            "converted": 0,
            "skipped": 0,
            "kept_with_warning": 0,
            "converted_by_reason": {},
            "skipped_by_reason": {},
            "warnings_by_reason": {},
        }
    classes = {name: {"files_in": 0, "records_out": 0, "skipped_by_reason": {}}
               for name in extra.get("label_names", [])}
    for (split, outcome, reason, label_name), n in counts:
        if label_name in classes:
            per_class = classes[label_name]
            per_class["files_in"] += n
            if outcome == image_records.SKIPPED:
                per_class["skipped_by_reason"][reason] = per_class["skipped_by_reason"].get(reason, 0) + n
            else:
                per_class["records_out"] += n
        entry = splits[split]
        entry["files_in"] += n
        entry[outcome] += n
        if outcome != image_records.SKIPPED:
            entry["records_out"] += n
        if outcome == image_records.KEPT and reason:
            entry["kept_with_warning"] += n
            entry["warnings_by_reason"][reason] = entry["warnings_by_reason"].get(reason, 0) + n
        if outcome == image_records.CONVERTED:
            entry["converted_by_reason"][reason] = entry["converted_by_reason"].get(reason, 0) + n
        elif outcome == image_records.SKIPPED:
            entry["skipped_by_reason"][reason] = entry["skipped_by_reason"].get(reason, 0) + n
    by_reason_keys = ("converted_by_reason", "skipped_by_reason", "warnings_by_reason")
    totals = {"files_in": 0, "records_out": 0, "kept": 0, "converted": 0, "skipped": 0,
              "kept_with_warning": 0, **{key: collections.Counter() for key in by_reason_keys}}
    for entry in splits.values():
        for key in ("files_in", "records_out", "kept", "converted", "skipped", "kept_with_warning"):
            totals[key] += entry[key]
        for key in by_reason_keys:
            totals[key].update(entry[key])
    for key in by_reason_keys:
        totals[key] = dict(sorted(totals[key].items()))
    report = dict(extra)
    for section in sections:
        report.update(section)
    report["splits"] = splits
    report["totals"] = totals
    report["warnings"] = _warnings_section(bad_rows)
    report["classes"] = classes
    no_records = [
        {"class": name, "files_in": entry["files_in"],
         "skipped_by_reason": dict(sorted(entry["skipped_by_reason"].items()))}
        for name, entry in sorted(classes.items()) if not entry["records_out"]]
    if "empty_class_folders" in report:
        report["empty_class_folders"] = dict(report["empty_class_folders"], no_records=no_records)
    report["bad_images_file"] = BAD_IMAGES_FILE
    return report


def _write_reports(report: dict[str, Any], bad_rows: list[ReportRow], output_dir: str) -> None:
    import tensorflow as tf

    write_bad_images([BadImageRow(row.split, row.outcome, row.reason, row.path, row.detail) for row in bad_rows],
                     os.path.join(output_dir, BAD_IMAGES_FILE))
    with tf.io.gfile.GFile(os.path.join(output_dir, INGEST_REPORT_FILE), "w") as f:
        f.write(json.dumps(report, indent=2, sort_keys=True) + "\n")


def write_ingest_outputs(
    items: beam.PCollection,
    examples_uri: str,
    split_names: Sequence[str],
    max_pixels: int,
    report_extra: dict[str, Any],
    report_sections: beam.PCollection | None = None,
) -> None:
    """Adds normalisation, split writing and the report to the pipeline of ``items``.

    ``report_sections``: optional PCollection of dicts computed in the
    pipeline, merged into the report's top level (e.g. ``duplicates``).
    """
    split_names = list(split_names)
    results = items | "Normalize" >> beam.ParDo(NormalizeDoFn(max_pixels)).with_outputs(
        NormalizeDoFn.REPORT, main="records")
    records = results.records
    report_rows = results[NormalizeDoFn.REPORT]

    partitions = records | "PartitionBySplit" >> beam.Partition(
        _split_index, len(split_names), split_names)
    for index, name in enumerate(split_names):
        _ = (
            partitions[index]
            | f"DropKey[{name}]" >> beam.Values()
            | f"WriteSplit[{name}]" >> WriteToGzipTFRecord(
                os.path.join(examples_uri, f"Split-{name}", RECORD_FILE_PREFIX))
        )

    counts = (
        report_rows
        | "CountKey" >> beam.Map(_count_key)
        | "CountPerKey" >> beam.CombinePerKey(sum)
        | "CountsToList" >> beam.combiners.ToList()
    )
    bad_rows = (
        report_rows
        | "OnlyNotKeptOrWarned" >> beam.Filter(
            lambda row: row.outcome != image_records.KEPT or bool(row.reason))
        | "BadToList" >> beam.combiners.ToList()
    )
    if report_sections is None:
        report_sections = items.pipeline | "NoReportSections" >> beam.Create([])
    sections = report_sections | "SectionsToList" >> beam.combiners.ToList()
    report = (
        items.pipeline
        | "ReportSeed" >> beam.Create([None])
        | "BuildReport" >> beam.Map(
            _build_report,
            counts=beam.pvalue.AsSingleton(counts),
            split_names=split_names,
            extra=report_extra,
            sections=beam.pvalue.AsSingleton(sections),
            bad_rows=beam.pvalue.AsSingleton(bad_rows),
        )
    )
    _ = report | "WriteReports" >> beam.Map(
        _write_reports, bad_rows=beam.pvalue.AsSingleton(bad_rows), output_dir=examples_uri)


def read_report(examples_uri: str) -> dict[str, Any]:
    import tensorflow as tf

    with tf.io.gfile.GFile(os.path.join(examples_uri, INGEST_REPORT_FILE), "r") as f:
        return json.loads(f.read())


def write_label_names(examples_uri: str, label_names: Sequence[str]) -> None:
    import tensorflow as tf

    for name in label_names:
        if "\n" in name or "\r" in name or not name:
            raise ValueError(f"label name {name!r} cannot be written one per line")
    tf.io.gfile.makedirs(examples_uri)
    with tf.io.gfile.GFile(os.path.join(examples_uri, LABEL_NAMES_FILE), "w") as f:
        f.write("".join(f"{name}\n" for name in label_names))


def finish_examples_artifact(
    component_name: str,
    examples,
    split_names: Sequence[str],
    label_names: Sequence[str],
    max_bad_fraction: float,
) -> dict[str, Any]:
    """Properties, log line and the ``max_bad_fraction`` check, after Beam ran."""
    from tfx.components.util import examples_utils
    from tfx.proto import example_gen_pb2
    from tfx.types import artifact_utils

    report = read_report(examples.uri)
    totals = report["totals"]
    examples.split_names = artifact_utils.encode_split_names(list(split_names))
    examples.span = 0
    examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
    examples_utils.set_file_format(examples, "tfrecords_gzip")
    examples.set_string_custom_property(LABEL_NAMES_PROPERTY, json.dumps(list(label_names)))
    examples.set_int_custom_property("num_files_in", totals["files_in"])
    examples.set_int_custom_property("num_records", totals["records_out"])
    examples.set_int_custom_property("num_converted", totals["converted"])
    examples.set_int_custom_property("num_skipped", totals["skipped"])

    per_split = ", ".join(
        f"{name}: {report['splits'][name]['records_out']}/{report['splits'][name]['files_in']}"
        for name in split_names
    )
    log = logging.warning if totals["skipped"] else logging.info
    log(
        "%s: %d files in, %d records out (%d kept as is, %d converted), %d skipped %s; "
        "per split records/files: %s;%s report: %s",
        component_name, totals["files_in"], totals["records_out"], totals["kept"],
        totals["converted"], totals["skipped"], json.dumps(totals["skipped_by_reason"],
                                                          sort_keys=True),
        per_split, layout_summary(report), os.path.join(examples.uri, BAD_IMAGES_FILE),
    )
    try:
        check_bad_fraction(component_name, report, max_bad_fraction, examples.uri)
        _check_classes_have_records(component_name, report)
        empty = [name for name in split_names if not report["splits"][name]["records_out"]]
        if empty:
            # Downstream, SchemaGen would infer nothing from it and the gate would judge on no examples.
            raise ValueError(
                f"{component_name}: split(s) {', '.join(map(repr, empty))} got no records "
                f"(per split records/files: {per_split}); add images or give those splits a larger "
                f"share")
    except (TooManyBadImagesError, ValueError) as exc:
        # The orchestrator removes a failed component's output: keep the report where it can be read.
        kept = keep_report_copy(examples.uri, component_name)
        raise type(exc)(
            f"{exc}; the failed run's output is removed, a copy of the report is kept at "
            f"{os.path.join(kept, BAD_IMAGES_FILE)} (and {INGEST_REPORT_FILE} beside it)") from None
    return report


def _describe_no_records(entry: dict[str, Any]) -> str:
    reasons = ", ".join(f"{n} {reason}" for reason, n in entry["skipped_by_reason"].items())
    if not entry["files_in"]:
        return f"{entry['class']!r} (no file)"
    return f"{entry['class']!r} ({entry['files_in']} file(s), all skipped: {reasons})"


def _check_classes_have_records(component_name: str, report: dict[str, Any]) -> None:
    """Image folders: a class folder whose files gave no record in any split stops the run.

    Unless ``ignore_empty_class_folders`` is set; the class is then only
    reported (``empty_class_folders.no_records``) and named in the log line:
    labels are numbered before any record is written, so the class keeps its
    label (with no example).
    """
    section = report.get("empty_class_folders")
    if not section or not section.get("no_records"):
        return
    described = "; ".join(_describe_no_records(e) for e in section["no_records"])
    if section.get("ignore_empty_class_folders"):
        logging.warning("%s: class folder(s) with no record in any split (kept as labels without "
                        "examples): %s", component_name, described)
        return
    raise ValueError(
        f"{component_name}: class folder(s) gave no record in any split, so their class(es) would "
        f"have no examples: {described}; add usable images, remove the folder(s), or set "
        f"ignore_empty_class_folders=True (data.ignore_empty_class_folders) to go on with them "
        f"reported")


def layout_summary(report: dict[str, Any]) -> str:
    """' 3 ignored (not data), 2 links not followed, ...;' for the closing log line ('' when none)."""
    parts = []
    if report.get("warnings", {}).get("count"):
        parts.append(f"{report['warnings']['count']} kept with a warning "
                     f"{json.dumps(report['warnings']['by_reason'], sort_keys=True)} (by name in "
                     f"{BAD_IMAGES_FILE})")
    if report.get("ignored", {}).get("count"):
        parts.append(f"{report['ignored']['count']} ignored (not data: "
                     f"{json.dumps(report['ignored']['by_reason'], sort_keys=True)})")
    if report.get("links", {}).get("count"):
        parts.append(f"{report['links']['count']} links not followed or files reached twice "
                     f"{json.dumps(report['links']['by_reason'], sort_keys=True)}")
    if report.get("duplicates", {}).get("groups"):
        parts.append(f"{report['duplicates']['files']} files in {report['duplicates']['groups']} "
                     f"groups of identical bytes (each group in one split)")
    if report.get("label_conflicts", {}).get("groups"):
        parts.append(f"{report['label_conflicts']['files']} files in "
                     f"{report['label_conflicts']['groups']} label conflicts (same bytes, different "
                     f"classes)")
    if report.get("empty_class_folders", {}).get("ignored"):
        parts.append(f"empty class folders ignored: {report['empty_class_folders']['ignored']}")
    if report.get("empty_class_folders", {}).get("no_records"):
        parts.append("classes with no records (their files all skipped): "
                     f"{[e['class'] for e in report['empty_class_folders']['no_records']]}")
    return (" " + "; ".join(parts) + ";") if parts else ""


def keep_report_copy(examples_uri: str, component_name: str) -> str:
    """Copies ``bad_images.tsv`` and ``ingest_report.json`` to a new local temp folder; returns it.

    A failed component's output folder is removed by the orchestrator; the
    copy outlives it so the error can name a report the user can still read.
    """
    import tensorflow as tf

    folder = tempfile.mkdtemp(prefix=f"{component_name}-failed-ingest-")
    for name in (BAD_IMAGES_FILE, INGEST_REPORT_FILE):
        source = os.path.join(examples_uri, name)
        if tf.io.gfile.exists(source):
            tf.io.gfile.copy(source, os.path.join(folder, name), overwrite=True)
    return folder


def validate_common(max_pixels: int, max_bad_fraction: float) -> None:
    """The arguments both ExampleGens take, checked when the component is built."""
    if not isinstance(max_pixels, int) or max_pixels <= 0:
        raise ValueError(f"max_pixels must be a positive int, got {max_pixels!r}")
    if not 0.0 <= float(max_bad_fraction) <= 1.0:
        raise ValueError(f"max_bad_fraction must be in [0, 1], got {max_bad_fraction!r}")


# ---------------------------------------------------------------------------
# The shared executor: a source supplies an IngestPlan, the rest is common.

MAX_PIXELS_KEY = "max_pixels"
MAX_BAD_FRACTION_KEY = "max_bad_fraction"
EXAMPLES_KEY = "examples"


def ingest_parameters() -> dict[str, Any]:
    """The execution parameters every ingestion component's spec has (``max_pixels``, ``max_bad_fraction``).

    Returns:
      ``{name: tfx ExecutionParameter}``, to merge into a ComponentSpec's ``PARAMETERS``.
    """
    from tfx.types.component_spec import ExecutionParameter

    return {MAX_PIXELS_KEY: ExecutionParameter(type=int), MAX_BAD_FRACTION_KEY: ExecutionParameter(type=float)}


@dataclasses.dataclass
class IngestPlan:
    """What a source tells :class:`IngestExecutor` about one run, before anything is read.

    Attributes:
      source: where the images come from, as the report's ``source`` (a folder, ``tfds:<name>``).
      label_names: the class names; label ``i`` is ``label_names[i]``.  Written to ``label_names.txt``.
      split_names: the output splits, in order; every :class:`IngestItem` the read gives is in one of them.
      read: a Beam ``PTransform`` from the pipeline's root (``PBegin``) to a ``PCollection`` of
        :class:`IngestItem` (one per input file / example, with its bytes or a skip reason).
      report_extra: source-specific entries of ``ingest_report.json`` (its split settings, layout
        sections, ...), merged into the report's top level.
      group_duplicates: put files with identical bytes in one split and report them
        (:func:`group_duplicates`); for sources that split by path hash.
      read_again: with ``group_duplicates``, a picklable function reading an item's bytes again by its
        ``path`` (raising when it cannot): the grouping carries no bytes.
      keep_label_conflicts: with ``group_duplicates``, keep identical bytes filed under two classes
        instead of skipping them as ``label_conflict``.
    """

    source: str
    label_names: list[str]
    split_names: list[str]
    read: beam.PTransform
    report_extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    group_duplicates: bool = False
    keep_label_conflicts: bool = False
    read_again: Callable[[str], bytes] | None = None

    def __post_init__(self):
        if self.group_duplicates and self.read_again is None:
            raise ValueError("IngestPlan: group_duplicates needs read_again (the grouping carries no bytes)")


class IngestExecutor(base_beam_executor.BaseBeamExecutor):
    """The Beam executor every ingestion source shares; a source implements :meth:`plan` only.

    Like TFX's ``BaseExampleGenExecutor`` (whose sources supply one
    ``PTransform``), ``Do`` asks the source for an :class:`IngestPlan`, then:
    writes ``label_names.txt``; runs one Beam pipeline that reads the items
    (``plan.read``), groups identical bytes when asked, normalises every item
    (:func:`components.image_records.normalize_image`), writes each split's
    gzip ``tf.Example`` TFRecords (``Split-<name>/data_tfrecord-*.gz``) and
    the reports ``bad_images.tsv`` and ``ingest_report.json``; then sets the
    Examples artifact's properties and enforces ``max_bad_fraction``, that
    every class gave a record (sources that report ``empty_class_folders``)
    and that every split got records (:func:`finish_examples_artifact`).

    Execution properties read here: ``max_pixels`` (int) and
    ``max_bad_fraction`` (float) (:func:`ingest_parameters`); the output is
    ``examples`` (one ``standard_artifacts.Examples``).

    Attributes:
      COMPONENT_ID: the component's id, named in the report, logs and errors.
    """

    COMPONENT_ID = "IngestExampleGen"

    def plan(self, exec_properties: dict[str, Any]) -> IngestPlan:
        """The source's plan for this run (its label names, splits and the read ``PTransform``).

        Args:
          exec_properties: the component's execution properties.

        Returns:
          The :class:`IngestPlan`.

        Raises:
          ValueError: the source's input or settings cannot be ingested (the message names them).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement plan()")

    def Do(self, input_dict: dict[str, list[Any]], output_dict: dict[str, list[Any]],
           exec_properties: dict[str, Any]) -> None:
        """Ingests the source into the ``examples`` artifact (see the class docstring).

        Args:
          input_dict: unused (ingestion has no input artifact).
          output_dict: ``{"examples": [Examples artifact]}``; everything is written under its ``uri``:
            ``Split-<name>/data_tfrecord-*.gz``, ``label_names.txt``, ``bad_images.tsv``,
            ``ingest_report.json``.
          exec_properties: ``max_pixels``, ``max_bad_fraction`` and the source's own properties.

        Raises:
          ValueError: the source's plan fails, or a class or a split got no record.
          TooManyBadImagesError: more than ``max_bad_fraction`` of the input files were skipped.
        """
        from tfx.types import artifact_utils

        self._log_startup(input_dict, output_dict, exec_properties)
        max_pixels = int(exec_properties[MAX_PIXELS_KEY])
        max_bad_fraction = float(exec_properties[MAX_BAD_FRACTION_KEY])
        examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        plan = self.plan(exec_properties)
        label_names = list(plan.label_names)
        split_names = list(plan.split_names)
        write_label_names(examples.uri, label_names)
        report_extra = {
            "component": self.COMPONENT_ID,
            "source": plan.source,
            "label_names": label_names,
            "max_pixels": max_pixels,
            "max_bad_fraction": max_bad_fraction,
            **plan.report_extra,
        }
        with self._make_beam_pipeline() as pipeline:
            items = pipeline | "ReadItems" >> plan.read
            sections = None
            if plan.group_duplicates:
                items, sections = group_duplicates(items, max_pixels, plan.read_again, plan.keep_label_conflicts)
            write_ingest_outputs(items, examples.uri, split_names, max_pixels, report_extra, sections)
        finish_examples_artifact(self.COMPONENT_ID, examples, split_names, label_names, max_bad_fraction)
