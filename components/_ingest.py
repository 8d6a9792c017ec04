"""Beam plumbing shared by the two ExampleGens.

Both executors turn their source into a PCollection of :class:`IngestItem`
(one per input file / TFDS example, already assigned to an output split),
then call :func:`write_ingest_outputs`, which

* normalises every item with :func:`components.image_records.normalize_image`,
* writes the records of each split as gzipped TFRecords of ``tf.Example``
  under ``<examples uri>/Split-<name>/data_tfrecord-*.gz`` (TFX's layout),
* writes ``bad_images.tsv`` and ``ingest_report.json`` at the artifact root.

After the Beam pipeline has run, :func:`finish_examples_artifact` writes
``label_names.txt``, sets the artifact's properties (``split_names``,
``payload_format``, ``file_format``, custom ``label_names`` and counts), logs
the totals and enforces ``max_bad_fraction``
(:func:`components.bad_images.check_bad_fraction`).
"""

from __future__ import annotations

import collections
import json
import os
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import apache_beam as beam
from absl import logging

from components import example_records, image_records
from components.bad_images import check_bad_fraction
from trainer.contract import BAD_IMAGES_FILE, INGEST_REPORT_FILE, LABEL_NAMES_FILE, LABEL_NAMES_PROPERTY

RECORD_FILE_PREFIX = "data_tfrecord"
BAD_IMAGES_HEADER = "split\toutcome\treason\tpath\tdetail"
METRICS_NAMESPACE = "resizer_ingest"


class IngestItem(NamedTuple):
    """One input image, before validation."""

    split: str
    path: str  # relative path (image folder) or TFDS file name; report key
    label: int  # -1 when unknown (the item is then skipped by `skip_reason`)
    label_name: str
    data: Optional[bytes]  # None when the bytes could not be read
    skip_reason: str = ""  # pre-decided skip (unreadable, hidden_file, ...)
    skip_detail: str = ""


class ReportRow(NamedTuple):
    split: str
    outcome: str
    reason: str
    path: str
    detail: str


def _clean(text: str) -> str:
    return " ".join(str(text).replace("\t", " ").split())


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
        self._inc(result.outcome)
        yield beam.pvalue.TaggedOutput(
            self.REPORT,
            ReportRow(item.split, result.outcome, result.reason, item.path,
                      _clean(result.detail)),
        )
        if result.ok:
            example = example_records.make_example(
                result, item.path, item.label, item.label_name)
            yield item.split, example.SerializeToString(deterministic=True)


def _split_index(element: Tuple[str, bytes], num_partitions: int, split_names: List[str]) -> int:
    del num_partitions
    return split_names.index(element[0])


def _count_key(row: ReportRow) -> Tuple[Tuple[str, str, str], int]:
    return (row.split, row.outcome, row.reason), 1


def _build_report(_, counts, split_names, extra) -> Dict[str, Any]:
    splits = {}
    for name in split_names:
        splits[name] = {
            "files_in": 0,
            "records_out": 0,
            "kept": 0,
            "converted": 0,
            "skipped": 0,
            "converted_by_reason": {},
            "skipped_by_reason": {},
        }
    for (split, outcome, reason), n in counts:
        entry = splits[split]
        entry["files_in"] += n
        entry[outcome] += n
        if outcome != image_records.SKIPPED:
            entry["records_out"] += n
        if outcome == image_records.CONVERTED:
            entry["converted_by_reason"][reason] = entry["converted_by_reason"].get(reason, 0) + n
        elif outcome == image_records.SKIPPED:
            entry["skipped_by_reason"][reason] = entry["skipped_by_reason"].get(reason, 0) + n
    totals = {"files_in": 0, "records_out": 0, "kept": 0, "converted": 0, "skipped": 0,
              "converted_by_reason": collections.Counter(),
              "skipped_by_reason": collections.Counter()}
    for entry in splits.values():
        for key in ("files_in", "records_out", "kept", "converted", "skipped"):
            totals[key] += entry[key]
        totals["converted_by_reason"].update(entry["converted_by_reason"])
        totals["skipped_by_reason"].update(entry["skipped_by_reason"])
    totals["converted_by_reason"] = dict(totals["converted_by_reason"])
    totals["skipped_by_reason"] = dict(totals["skipped_by_reason"])
    report = dict(extra)
    report["splits"] = splits
    report["totals"] = totals
    report["bad_images_file"] = BAD_IMAGES_FILE
    return report


def _write_reports(report: Dict[str, Any], bad_rows: List[ReportRow], output_dir: str) -> None:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    lines = [BAD_IMAGES_HEADER]
    for row in sorted(bad_rows, key=lambda r: (r.path, r.split)):
        lines.append("\t".join([row.split, row.outcome, row.reason, _clean(row.path), row.detail]))
    with tf.io.gfile.GFile(os.path.join(output_dir, BAD_IMAGES_FILE), "w") as f:
        f.write("\n".join(lines) + "\n")
    with tf.io.gfile.GFile(os.path.join(output_dir, INGEST_REPORT_FILE), "w") as f:
        f.write(json.dumps(report, indent=2, sort_keys=True) + "\n")


def write_ingest_outputs(
    items: beam.PCollection,
    examples_uri: str,
    split_names: Sequence[str],
    max_pixels: int,
    report_extra: Dict[str, Any],
) -> None:
    """Adds normalisation, split writing and the report to the pipeline of ``items``."""
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
            | f"WriteSplit[{name}]" >> beam.io.WriteToTFRecord(
                os.path.join(examples_uri, f"Split-{name}", RECORD_FILE_PREFIX),
                file_name_suffix=".gz",
            )
        )

    counts = (
        report_rows
        | "CountKey" >> beam.Map(_count_key)
        | "CountPerKey" >> beam.CombinePerKey(sum)
        | "CountsToList" >> beam.combiners.ToList()
    )
    bad_rows = (
        report_rows
        | "OnlyNotKept" >> beam.Filter(lambda row: row.outcome != image_records.KEPT)
        | "BadToList" >> beam.combiners.ToList()
    )
    report = (
        items.pipeline
        | "ReportSeed" >> beam.Create([None])
        | "BuildReport" >> beam.Map(
            _build_report,
            counts=beam.pvalue.AsSingleton(counts),
            split_names=split_names,
            extra=report_extra,
        )
    )
    _ = report | "WriteReports" >> beam.Map(
        _write_reports, bad_rows=beam.pvalue.AsSingleton(bad_rows), output_dir=examples_uri)


def read_report(examples_uri: str) -> Dict[str, Any]:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    with tf.io.gfile.GFile(os.path.join(examples_uri, INGEST_REPORT_FILE), "r") as f:
        return json.loads(f.read())


def write_label_names(examples_uri: str, label_names: Sequence[str]) -> None:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

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
) -> Dict[str, Any]:
    """Properties, log line and the ``max_bad_fraction`` check, after Beam ran."""
    from tfx.components.util import examples_utils  # pylint: disable=g-import-not-at-top
    from tfx.proto import example_gen_pb2  # pylint: disable=g-import-not-at-top
    from tfx.types import artifact_utils  # pylint: disable=g-import-not-at-top

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
        "per split records/files: %s; report: %s",
        component_name, totals["files_in"], totals["records_out"], totals["kept"],
        totals["converted"], totals["skipped"], json.dumps(totals["skipped_by_reason"],
                                                          sort_keys=True),
        per_split, os.path.join(examples.uri, BAD_IMAGES_FILE),
    )
    check_bad_fraction(component_name, report, max_bad_fraction, examples.uri)
    empty = [name for name in split_names if not report["splits"][name]["records_out"]]
    if empty:
        # Downstream, SchemaGen would infer nothing from it and the gate would judge on no examples.
        raise ValueError(
            f"{component_name}: split(s) {', '.join(map(repr, empty))} got no records "
            f"(per split records/files: {per_split}); add images or give those splits a larger share")
    return report


def validate_common(max_pixels: int, max_bad_fraction: float) -> None:
    """The arguments both ExampleGens take, checked when the component is built."""
    if not isinstance(max_pixels, int) or max_pixels <= 0:
        raise ValueError(f"max_pixels must be a positive int, got {max_pixels!r}")
    if not 0.0 <= float(max_bad_fraction) <= 1.0:
        raise ValueError(f"max_bad_fraction must be in [0, 1], got {max_bad_fraction!r}")
