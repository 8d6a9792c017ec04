"""Batch inference on Apache Beam: classify every image under a directory, or matching a glob, with the pushed model.

    python pipeline_runner.py infer --model-dir outputs/demo/serving/resizer_classifier \\
        --images photos/ --output predictions.csv [-- BEAM_ARGS]

Files (Beam's fileio: local, ``gs://``, any Beam filesystem) -> the ingestion
policy (:func:`components.image_records.normalize_image`: kept, converted,
skipped with a reason; hidden files skipped) -> RunInference with
:class:`serving.saved_model_handler.ServingModelHandler` (``serving_default``,
in batches) -> two files:

* ``predictions.csv``: ``filename,class,p_<class>...`` for every kept or
  converted image, sorted by filename (the path relative to the input
  directory, or to a glob's directory part);
* ``predictions.bad_images.tsv``: ``outcome, reason, filename, detail`` for
  every converted or skipped file, as ingestion's ``bad_images.tsv``.

Bad files never fail the job. One the model itself cannot decode is skipped as
``corrupt`` and the rest of its batch is still classified. Each file is
written by one worker from the sorted rows (about 100 bytes per image).
"""

import dataclasses
import os
import time
from collections import Counter
from typing import Dict, NamedTuple, Sequence, Tuple

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from components import image_records
from serving.infer_command import DEFAULT_BATCH_SIZE
from serving.saved_model_handler import (Rejection, ServingModelHandler, absolute, read_model_info,
                                         resolve_model_dir)
from trainer import contract

BAD_IMAGES_HEADER = "outcome\treason\tfilename\tdetail"
GLOB_CHARACTERS = "*?["
MODEL_REJECTED = "the model cannot decode it: "


class InputError(ValueError):
    """The images argument matches no file."""


class ReportRow(NamedTuple):
    outcome: str
    reason: str
    filename: str
    detail: str


@dataclasses.dataclass
class Summary:
    """What a run did, counted from the files it wrote (:func:`serving.infer_command.summary_lines` prints it)."""

    model_dir: str
    predictions_path: str
    bad_images_path: str
    classified: int
    kept: int
    converted: int
    skipped: int
    skipped_by_reason: Dict[str, int]
    seconds: float

    @property
    def files(self) -> int:
        return self.classified + self.skipped


# --- inputs and outputs ----------------------------------------------------------------------------

def resolve_inputs(images: str) -> Tuple[str, str]:
    """``(glob pattern, base)``: a directory means every file under it; filenames are reported relative to base."""
    if "://" not in images:
        images = os.path.abspath(images)
        if os.path.isdir(images):
            return os.path.join(images, "**"), os.path.join(images, "")
    elif not any(c in images for c in GLOB_CHARACTERS):
        base = images.rstrip("/") + "/"  # a bucket "directory"
        return base + "**", base
    fixed = min([images.index(c) for c in GLOB_CHARACTERS if c in images] + [len(images)])
    return images, images[: images.rfind("/", 0, fixed) + 1]


def bad_images_path(predictions_path: str) -> str:
    """``predictions.csv`` -> ``predictions.bad_images.tsv``, beside it."""
    stem = predictions_path[:-4] if predictions_path.lower().endswith(".csv") else predictions_path
    return f"{stem}.{contract.BAD_IMAGES_FILE}"


def _clean(text: str) -> str:
    return " ".join(str(text).replace("\t", " ").split())


def csv_header(class_names: Sequence[str]):
    return [contract.FILENAME_COLUMN, contract.CLASS_COLUMN] + [
        f"{contract.PROBABILITY_COLUMN_PREFIX}{name}" for name in class_names]


def write_predictions_csv(rows, path: str, class_names: Sequence[str]) -> None:
    """``rows``: (filename, class name, probabilities); written sorted, float32 values in their shortest form."""
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


def write_bad_images(rows, path: str) -> None:
    lines = [BAD_IMAGES_HEADER] + ["\t".join(_clean(field) for field in (row.outcome, row.reason, row.filename,
                                                                          row.detail))
                                   for row in sorted(rows, key=lambda r: (r.filename, r.outcome))]
    with FileSystems.create(path) as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8"))


# --- the pipeline ----------------------------------------------------------------------------------

class ReadImageDoFn(beam.DoFn):
    """A matched file -> ((filename, outcome, reason), bytes to classify), or a report row for a skipped file."""

    REPORT = "report"

    def __init__(self, base: str, max_pixels: int):
        self._base = base
        self._max_pixels = int(max_pixels)

    def process(self, readable_file):
        path = readable_file.metadata.path
        name = path[len(self._base):] if path.startswith(self._base) else path
        name = name.replace("\\", "/")
        if any(part.startswith(".") for part in name.split("/")):
            yield beam.pvalue.TaggedOutput(self.REPORT, ReportRow(image_records.SKIPPED, image_records.HIDDEN_FILE,
                                                                  name, ""))
            return
        try:
            with readable_file.open(compression_type=CompressionTypes.UNCOMPRESSED) as f:
                data = f.read()
        except Exception as error:  # noqa: BLE001 - permission denied, vanished file, ...
            yield beam.pvalue.TaggedOutput(self.REPORT, ReportRow(
                image_records.SKIPPED, image_records.UNREADABLE, name, f"{type(error).__name__}: {error}"))
            return
        result = image_records.normalize_image(data, self._max_pixels)
        if not result.ok:
            yield beam.pvalue.TaggedOutput(self.REPORT, ReportRow(result.outcome, result.reason, name, result.detail))
            return
        yield (name, result.outcome, result.reason), result.encoded


class SortOutPredictionsDoFn(beam.DoFn):
    """(key, prediction) -> a CSV row; converted images and the model's rejections also -> a report row."""

    REPORT = "report"

    def process(self, keyed):
        (name, outcome, reason), prediction = keyed
        if isinstance(prediction, Rejection):
            yield beam.pvalue.TaggedOutput(self.REPORT, ReportRow(
                image_records.SKIPPED, image_records.CORRUPT, name, MODEL_REJECTED + prediction.detail))
            return
        if outcome == image_records.CONVERTED:
            yield beam.pvalue.TaggedOutput(self.REPORT, ReportRow(outcome, reason, name, ""))
        yield name, prediction.class_name, tuple(prediction.probabilities)


def add_batch_inference(pipeline, pattern: str, base: str, version_dir: str, class_names: Sequence[str],
                        predictions_path: str, bad_path: str, batch_size: int = DEFAULT_BATCH_SIZE,
                        max_pixels: int = image_records.DEFAULT_MAX_PIXELS) -> None:
    """Adds the whole job to ``pipeline``: match, read, check, classify, write both files."""
    read = (pipeline
            | "MatchFiles" >> fileio.MatchFiles(pattern)
            | "ReadMatches" >> fileio.ReadMatches(compression=CompressionTypes.UNCOMPRESSED)
            | "ReadImages" >> beam.ParDo(ReadImageDoFn(base, max_pixels)).with_outputs(
                ReadImageDoFn.REPORT, main="images"))
    sorted_out = (read.images
                  | "Classify" >> RunInference(KeyedModelHandler(ServingModelHandler(version_dir, batch_size)))
                  | "SortOut" >> beam.ParDo(SortOutPredictionsDoFn()).with_outputs(
                      SortOutPredictionsDoFn.REPORT, main="rows"))
    _ = (sorted_out.rows
         | "PredictionsToList" >> beam.combiners.ToList()
         | "WritePredictions" >> beam.Map(write_predictions_csv, predictions_path, list(class_names)))
    _ = ((read[ReadImageDoFn.REPORT], sorted_out[SortOutPredictionsDoFn.REPORT])
         | "AllReportRows" >> beam.Flatten()
         | "ReportToList" >> beam.combiners.ToList()
         | "WriteBadImages" >> beam.Map(write_bad_images, bad_path))


def run_batch_inference(model_dir: str, images: str, output: str, beam_args: Sequence[str] = (),
                        batch_size: int = DEFAULT_BATCH_SIZE,
                        max_pixels: int = image_records.DEFAULT_MAX_PIXELS) -> Summary:
    """Classifies the images; returns the counts. Raises :class:`ModelDirError` or :class:`InputError` first."""
    version_dir = resolve_model_dir(model_dir)
    pattern, base = resolve_inputs(images)
    if not FileSystems.match([pattern], limits=[1])[0].metadata_list:
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
    with FileSystems.open(predictions_path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        classified = sum(1 for _ in f) - 1
    with FileSystems.open(bad_path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        rows = [line.decode("utf-8").split("\t") for line in f.read().splitlines()[1:]]
    outcomes = Counter(row[0] for row in rows)
    skipped_by_reason = Counter(row[1] for row in rows if row[0] == image_records.SKIPPED)
    return Summary(version_dir, predictions_path, bad_path, classified,
                   classified - outcomes[image_records.CONVERTED], outcomes[image_records.CONVERTED],
                   outcomes[image_records.SKIPPED], dict(sorted(skipped_by_reason.items())), seconds)
