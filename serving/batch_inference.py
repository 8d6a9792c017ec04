r"""Batch inference on Apache Beam: classify every image under a directory, or matching a glob, with the pushed model.

    python pipeline_runner.py infer --model-dir outputs/demo/serving/resizer_classifier \\
        --images photos/ --output predictions.csv [-- BEAM_ARGS]

Files -> the ingestion policy -> RunInference with
:class:`serving.saved_model_handler.ServingModelHandler` (``serving_default``,
in batches) -> two files:

* ``predictions.csv``: ``filename,class,p_<class>...`` for every kept or
  converted image, sorted by filename (the path relative to the input
  directory, or to a glob's directory part);
* ``predictions.bad_images.tsv``: ingestion's bad-image report, written by
  the same writer with the same columns (:mod:`components.bad_images`:
  ``split, outcome, reason, path, detail``; ``split`` is empty here) for
  every file that is not simply classified: converted, kept with a warning
  (libjpeg's, e.g. ``jpeg_extraneous_bytes``), skipped, ignored (not data) or
  not read (a link); ``path`` is the filename of the predictions CSV.

Which files: a directory is walked by ingestion's own walker
(:func:`components.image_folder_example_gen.scan_image_folder`), with its
rules for links (followed, also to other disks; each real file once; loops,
dangling and unresolvable links reported), hidden files and OS metadata
(ignored), and top-level files that are not images by extension (ignored);
class folders are optional (a flat folder works).  A glob (local, ``gs://``,
any Beam filesystem) selects files by Beam's ``fileio``, with the same ignore
rules for every part of the path below its directory.  Every file then goes
through the ingestion policy (:func:`components.image_records.normalize_image`:
kept, converted, skipped with a reason).  Every file found is either
classified or reported, with its reason.

Bad files never fail the job. One the model itself cannot decode is skipped as
``corrupt`` and the rest of its batch is still classified. Each file is
written by one worker from the sorted rows (about 100 bytes per image).
"""

import dataclasses
import os
import time
from collections import Counter
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from components import image_records
from components.bad_images import BadImageRow, read_bad_images, write_bad_images
from serving.saved_model_handler import Rejection, ServingModelHandler, absolute, read_model_info, resolve_model_dir
from trainer import contract

DEFAULT_BATCH_SIZE = contract.DEFAULT_INFER_BATCH_SIZE
# Report outcomes of files that are not read: not data (hidden, OS metadata, ...), and links.
IGNORED = "ignored"
NOT_READ = "not_read"
GLOB_CHARACTERS = "*?["
MODEL_REJECTED = "the model cannot decode it: "


class InputError(ValueError):
    """The images argument matches no file."""


def report_row(outcome: str, reason: str, filename: str, detail: str = "") -> BadImageRow:
    """A bad-images row of this job (no split).

    Args:
      outcome: ``converted``, ``skipped``, ``kept`` (with a warning), ``ignored`` or ``not_read``.
      reason: why (an :mod:`components.image_records` reason, an ignore or link reason).
      filename: the file, relative to the input directory (as in the predictions CSV).
      detail: the decoder's message or other detail.

    Returns:
      The row, for :func:`components.bad_images.write_bad_images`.
    """
    return BadImageRow("", outcome, reason, filename, detail)


@dataclasses.dataclass
class Summary:
    """What a run did, counted from the files it wrote (:func:`serving.infer_command.summary_lines` prints it).

    ``ignored``/``not_read``: files that are not data (hidden, OS metadata,
    ...) and links not followed or files reached twice, by reason;
    ``warned``: classified files kept with a libjpeg warning, by reason.
    """

    model_dir: str
    predictions_path: str
    bad_images_path: str
    classified: int
    kept: int
    converted: int
    skipped: int
    skipped_by_reason: dict[str, int]
    seconds: float
    ignored_by_reason: dict[str, int] = dataclasses.field(default_factory=dict)
    not_read_by_reason: dict[str, int] = dataclasses.field(default_factory=dict)
    warned_by_reason: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def ignored(self) -> int:
        return sum(self.ignored_by_reason.values())

    @property
    def not_read(self) -> int:
        return sum(self.not_read_by_reason.values())

    @property
    def warned(self) -> int:
        return sum(self.warned_by_reason.values())

    @property
    def files(self) -> int:
        """Every file found: classified, skipped, ignored or not read."""
        return self.classified + self.skipped + self.ignored + self.not_read


# --- inputs and outputs ----------------------------------------------------------------------------

def resolve_inputs(images: str) -> tuple[str | None, str]:
    """``(glob pattern, base)``; filenames are reported relative to ``base``.

    A directory (local, or a ``gs://`` path without glob characters) gives
    ``(None, directory + "/")``: it is walked by :func:`list_directory`.
    """
    if not contract.is_remote(images):
        images = os.path.abspath(images)
        if os.path.isdir(images):
            return None, os.path.join(images, "")
    elif not any(c in images for c in GLOB_CHARACTERS):
        return None, images.rstrip("/") + "/"  # a bucket "directory"
    fixed = min([images.index(c) for c in GLOB_CHARACTERS if c in images] + [len(images)])
    return images, images[: images.rfind("/", 0, fixed) + 1]


def bad_images_path(predictions_path: str) -> str:
    """``predictions.csv`` -> ``predictions.bad_images.tsv``, beside it."""
    stem = predictions_path[:-4] if predictions_path.lower().endswith(".csv") else predictions_path
    return f"{stem}.{contract.BAD_IMAGES_FILE}"


def csv_header(class_names: Sequence[str]) -> list[str]:
    """The predictions CSV's columns: ``filename``, ``class``, then ``p_<class>`` per class, in class order."""
    return [contract.FILENAME_COLUMN, contract.CLASS_COLUMN] + [
        f"{contract.PROBABILITY_COLUMN_PREFIX}{name}" for name in class_names]


def write_predictions_csv(rows, path: str, class_names: list[str]) -> None:
    """Writes the predictions CSV at ``path`` (:func:`csv_header`), rows sorted, float32 values in their shortest form.

    Args:
      rows: ``(filename, class name, probabilities)`` per classified image.
      path: the file to write (any Beam filesystem).
      class_names: the model's classes, in its output order.  A ``list`` (Beam checks a side argument
        against this hint, and rejects a list for ``collections.abc.Sequence``).
    """
    import csv
    import io

    import numpy as np

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(csv_header(class_names))
    for filename, class_name, probabilities in sorted(rows):
        writer.writerow([filename, class_name] + [str(np.float32(p)) for p in probabilities])
    with FileSystems.create(path) as f:
        f.write(text.getvalue().encode("utf-8"))


# --- the pipeline ----------------------------------------------------------------------------------

def list_directory(base: str) -> tuple[list[str], list[BadImageRow]]:
    """(filenames to read, report rows of the files that are not) under the directory ``base``.

    Ingestion's walker and rules (:func:`components.image_folder_example_gen.scan_image_folder`):
    class folders are optional, links are followed (each real file once), hidden
    files, OS metadata and top-level files that are not images by extension are
    ignored, loops and unresolvable links are not read.  Filenames are relative
    to ``base`` (forward slashes).  A file reached from two class folders
    (``same_file_in_other_class``) is classified under each name.
    """
    from components.image_folder_example_gen import scan_image_folder

    scan = scan_image_folder(base)
    read = set(scan.files)
    rows = [report_row(IGNORED, reason, rel, "") for rel, reason in scan.ignored]
    rows += [report_row(NOT_READ, reason, rel, detail) for rel, reason, detail in scan.links if rel not in read]
    return list(scan.files), rows


def glob_decision(name: str) -> str:
    """Why a file a glob matched is not data ('' when it is): ingestion's ignore rule on every part of ``name``."""
    from components.image_folder_example_gen import ignore_reason

    return next((ignore_reason(part) for part in name.split("/") if ignore_reason(part)), "")


class MatchedNameDoFn(beam.DoFn):
    """A glob's match -> its filename relative to the glob's directory, or an ``ignored`` report row."""

    REPORT = "report"

    def __init__(self, base: str):
        self._base = base

    def process(self, metadata):
        path = metadata.path
        name = (path[len(self._base):] if path.startswith(self._base) else path).replace("\\", "/")
        reason = glob_decision(name)
        if reason:
            yield beam.pvalue.TaggedOutput(self.REPORT, report_row(IGNORED, reason, name, ""))
            return
        yield name


class ReadImageDoFn(beam.DoFn):
    """A filename -> ((filename, outcome, warning or conversion reason), bytes to classify), or a report row.

    Skipped files (unreadable, empty, corrupt, ...) give only a report row;
    converted ones and JPEGs kept with a libjpeg warning give both.
    """

    REPORT = "report"

    def __init__(self, base: str, max_pixels: int):
        self._base = base
        self._max_pixels = int(max_pixels)

    def process(self, name: str):
        path = self._base + name
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                data = f.read()
        except Exception as error:  # noqa: BLE001 - permission denied, dangling link, vanished file, ...
            detail = f"{type(error).__name__}: {error}".replace(path, name)
            if not contract.is_remote(path) and os.path.islink(path) and not os.path.exists(path):
                detail = f"dangling link: {name} -> {os.readlink(path)}"
            yield beam.pvalue.TaggedOutput(self.REPORT, report_row(
                image_records.SKIPPED, image_records.UNREADABLE, name, detail))
            return
        result = image_records.normalize_image(data, self._max_pixels)
        if not result.ok:
            yield beam.pvalue.TaggedOutput(self.REPORT, report_row(result.outcome, result.reason, name, result.detail))
            return
        if result.warning:
            yield beam.pvalue.TaggedOutput(self.REPORT, report_row(result.outcome, result.warning, name,
                                                                  result.detail))
        yield (name, result.outcome, result.reason), result.encoded


class SortOutPredictionsDoFn(beam.DoFn):
    """(key, prediction) -> a CSV row; converted images and the model's rejections also -> a report row."""

    REPORT = "report"

    def process(self, keyed):
        (name, outcome, reason), prediction = keyed
        if isinstance(prediction, Rejection):
            yield beam.pvalue.TaggedOutput(self.REPORT, report_row(
                image_records.SKIPPED, image_records.CORRUPT, name, MODEL_REJECTED + prediction.detail))
            return
        if outcome == image_records.CONVERTED:
            yield beam.pvalue.TaggedOutput(self.REPORT, report_row(outcome, reason, name, ""))
        yield name, prediction.class_name, tuple(prediction.probabilities)


def add_batch_inference(pipeline, pattern: str, base: str, version_dir: str, class_names: Sequence[str],
                        predictions_path: str, bad_path: str, batch_size: int = DEFAULT_BATCH_SIZE,
                        max_pixels: int = image_records.DEFAULT_MAX_PIXELS) -> None:
    """Adds the whole job to ``pipeline``: list, read, check, classify, write both files.

    ``pattern`` is ``None`` when ``base`` is a directory (walked by :func:`list_directory`).
    """
    if pattern is None:
        names, listed_rows = list_directory(base)
        filenames = pipeline | "ListDirectory" >> beam.Create(names)
        not_read = pipeline | "NotRead" >> beam.Create(listed_rows)
    else:
        matched = (pipeline
                   | "MatchFiles" >> fileio.MatchFiles(pattern)
                   | "Names" >> beam.ParDo(MatchedNameDoFn(base)).with_outputs(MatchedNameDoFn.REPORT,
                                                                               main="names"))
        filenames, not_read = matched.names, matched[MatchedNameDoFn.REPORT]
    read = (filenames
            | "ReadImages" >> beam.ParDo(ReadImageDoFn(base, max_pixels)).with_outputs(
                ReadImageDoFn.REPORT, main="images"))
    sorted_out = (read.images
                  | "Classify" >> RunInference(KeyedModelHandler(ServingModelHandler(version_dir, batch_size)))
                  | "SortOut" >> beam.ParDo(SortOutPredictionsDoFn()).with_outputs(
                      SortOutPredictionsDoFn.REPORT, main="rows"))
    _ = (sorted_out.rows
         | "PredictionsToList" >> beam.combiners.ToList()
         | "WritePredictions" >> beam.Map(write_predictions_csv, predictions_path, list(class_names)))
    _ = ((not_read, read[ReadImageDoFn.REPORT], sorted_out[SortOutPredictionsDoFn.REPORT])
         | "AllReportRows" >> beam.Flatten()
         | "ReportToList" >> beam.combiners.ToList()
         | "WriteBadImages" >> beam.Map(write_bad_images, bad_path))


def run_batch_inference(model_dir: str, images: str, output: str, beam_args: Sequence[str] = (),
                        batch_size: int = DEFAULT_BATCH_SIZE,
                        max_pixels: int = image_records.DEFAULT_MAX_PIXELS) -> Summary:
    """Classifies every image of ``images`` with the model; writes the predictions CSV and its bad-images report.

    Args:
      model_dir: a pushed SavedModel: its version directory, or the model's directory (newest numeric version).
      images: a directory (walked as ingestion walks an image folder) or a glob (local, ``gs://``, any Beam
        filesystem).
      output: the predictions CSV to write (``filename,class,p_<class>...``, float32 probabilities); the
        bad-images report goes beside it (:func:`bad_images_path`, columns
        :data:`components.bad_images.BAD_IMAGES_COLUMNS`).
      beam_args: Beam pipeline options (``--runner``, ``--direct_num_workers``, ...).
      batch_size: images per model call.
      max_pixels: images with more pixels (width*height) are skipped as ingestion skips them.

    Returns:
      The :class:`Summary` of the run, counted from the files written.

    Raises:
      ModelDirError: ``model_dir`` holds no usable SavedModel (raised before anything runs).
      InputError: ``images`` matches no file (raised before anything runs).
    """
    version_dir = resolve_model_dir(model_dir)
    pattern, base = resolve_inputs(images)
    if pattern is None:
        try:
            names, rows = list_directory(base)
        except FileNotFoundError as error:
            raise InputError(f"{images!r}: {error}") from None
        if not names and not rows:
            raise InputError(f"no files under {images!r} (a directory, or a glob such as 'photos/*.jpg')")
    elif not FileSystems.match([pattern], limits=[1])[0].metadata_list:
        raise InputError(f"no files match {images!r} (a directory, or a glob such as 'photos/*.jpg')")
    info = read_model_info(version_dir)
    predictions_path = absolute(output)
    bad_path = bad_images_path(predictions_path)
    start = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(list(beam_args))) as pipeline:
        add_batch_inference(pipeline, pattern, base, version_dir, info.class_names, predictions_path, bad_path,
                            batch_size, max_pixels)
    return summarize(version_dir, predictions_path, bad_path, time.perf_counter() - start)


def summarize(version_dir: str, predictions_path: str, bad_path: str, seconds: float) -> Summary:
    """The run's :class:`Summary`, counted from the two files it wrote.

    Args:
      version_dir: the model's version directory.
      predictions_path: the predictions CSV.
      bad_path: its bad-images report.
      seconds: the Beam job's wall time (s).

    Returns:
      The counts.

    Raises:
      ValueError: the bad-images report is not one (:func:`components.bad_images.read_bad_images`).
    """
    with FileSystems.open(predictions_path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        classified = sum(1 for _ in f) - 1
    rows = read_bad_images(bad_path)
    outcomes = Counter(row.outcome for row in rows)

    def by_reason(outcome):
        return dict(sorted(Counter(row.reason for row in rows if row.outcome == outcome).items()))

    return Summary(version_dir, predictions_path, bad_path, classified,
                   classified - outcomes[image_records.CONVERTED], outcomes[image_records.CONVERTED],
                   outcomes[image_records.SKIPPED], by_reason(image_records.SKIPPED), seconds,
                   ignored_by_reason=by_reason(IGNORED), not_read_by_reason=by_reason(NOT_READ),
                   warned_by_reason=by_reason(image_records.KEPT))
