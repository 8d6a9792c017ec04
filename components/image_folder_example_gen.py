"""ImageFolderExampleGen: ``root/<class_name>/<files>`` -> TFX Examples.

A :class:`tfx.components.FileBasedExampleGen` with its own spec and Beam
executor:

* labels are the sorted class-folder names (``label`` = index, ``label_name``
  = folder name);
* each file goes to a split by SHA-256 of its path relative to ``input_base``
  (``split_buckets``, default :data:`components.splits.DEFAULT_SPLIT_BUCKETS`,
  ``{"train": 4, "eval": 1}``), so the split of a
  file never changes when other files are added or removed;
* every file is validated and normalised by
  :mod:`components.image_records`; bad files are skipped and reported, never
  crash the run;
* output: TFX's standard Examples layout (``Split-<name>/data_tfrecord-*.gz``,
  ``split_names`` property) plus ``label_names.txt``, ``bad_images.tsv`` and
  ``ingest_report.json`` at the artifact root, and the custom property
  ``label_names`` (JSON list).

Being a FileBasedExampleGen, it keeps TFX's driver: the input fingerprint of
``input_base/*/*`` makes caching notice changed files.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import apache_beam as beam
import tensorflow as tf
from absl import logging
from tfx import types
from tfx.components.example_gen import driver as example_gen_driver
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, base_beam_executor, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import proto_utils

from components import _ingest, image_records, splits
from trainer.contract import IMAGE_FOLDER_EXAMPLE_GEN_ID

MAX_PIXELS_KEY = "max_pixels"
MAX_BAD_FRACTION_KEY = "max_bad_fraction"
INPUT_PATTERN = "*/*"


class ImageFolderExampleGenSpec(types.ComponentSpec):
    """FileBasedExampleGen's parameters plus the image-ingest ones."""

    PARAMETERS = dict(standard_component_specs.FileBasedExampleGenSpec.PARAMETERS)
    PARAMETERS.update({
        MAX_PIXELS_KEY: ExecutionParameter(type=int),
        MAX_BAD_FRACTION_KEY: ExecutionParameter(type=float),
    })
    INPUTS = {}
    OUTPUTS = dict(standard_component_specs.FileBasedExampleGenSpec.OUTPUTS)


# ---------------------------------------------------------------------------
# Listing and reading (driver side and Beam workers).


def _join(base: str, rel: str) -> str:
    return base.rstrip("/") + "/" + rel


def list_image_folder(input_base: str) -> Tuple[List[str], List[str]]:
    """(class names, sorted relative paths of every file under ``input_base``).

    Class names are the non-hidden immediate subfolders, sorted.  Paths use
    forward slashes.
    """
    if not tf.io.gfile.isdir(input_base):
        raise FileNotFoundError(f"input_base {input_base!r} is not a directory")
    class_names = sorted(
        name.rstrip("/")
        for name in tf.io.gfile.listdir(input_base)
        if not name.startswith(".") and tf.io.gfile.isdir(_join(input_base, name.rstrip("/")))
    )
    prefix = input_base.rstrip("/") + "/"
    paths = []
    for dirpath, _, filenames in tf.io.gfile.walk(input_base):
        dirpath = dirpath.rstrip("/") + "/"
        rel_dir = dirpath[len(prefix):] if dirpath.startswith(prefix) else ""
        for filename in filenames:
            paths.append((rel_dir + filename).replace("\\", "/"))
    return class_names, sorted(paths)


def plan_items(
    rel_paths: List[str],
    class_names: List[str],
    split_buckets: List[Tuple[str, int]],
) -> List[Tuple[str, str, int, str, str]]:
    """(split, rel_path, label, label_name, skip_reason) for every file."""
    index = {name: i for i, name in enumerate(class_names)}
    plan = []
    for rel in rel_paths:
        split = splits.assign_split(rel, split_buckets)
        parts = rel.split("/")
        if any(part.startswith(".") for part in parts):
            plan.append((split, rel, -1, "", image_records.HIDDEN_FILE))
        elif len(parts) < 2 or parts[0] not in index:
            plan.append((split, rel, -1, "", image_records.NO_CLASS_FOLDER))
        else:
            plan.append((split, rel, index[parts[0]], parts[0], ""))
    return plan


class ReadFileDoFn(beam.DoFn):
    """Planned file -> IngestItem with its bytes (or an ``unreadable`` skip)."""

    def __init__(self, input_base: str):
        self._input_base = input_base

    def process(self, planned):
        split, rel, label, label_name, skip_reason = planned
        if skip_reason:
            yield _ingest.IngestItem(split, rel, label, label_name, None, skip_reason)
            return
        path = _join(self._input_base, rel)
        try:
            with tf.io.gfile.GFile(path, "rb") as f:
                data = f.read()
        except Exception as exc:  # noqa: BLE001 - permission denied, dangling link, ...
            detail = f"{type(exc).__name__}: {exc}".replace(path, rel)
            yield _ingest.IngestItem(split, rel, label, label_name, None,
                                     image_records.UNREADABLE, detail)
            return
        yield _ingest.IngestItem(split, rel, label, label_name, data)


def folder_fingerprint(input_base: str) -> str:
    """Fingerprint of every file under ``input_base`` (paths, sizes, mtimes).

    Unlike TFX's own fingerprint of a glob pattern, it covers the whole tree
    and does not fail on entries that cannot be stat'ed (dangling links):
    those are fingerprinted as such and later reported as ``unreadable``.
    """
    import hashlib  # pylint: disable=g-import-not-at-top

    _, rel_paths = list_image_folder(input_base)
    digest = hashlib.sha256()
    total_bytes = 0
    for rel in rel_paths:
        try:
            stat = tf.io.gfile.stat(_join(input_base, rel))
            entry = f"{rel}\t{stat.length}\t{stat.mtime_nsec}"
            total_bytes += stat.length
        except Exception as exc:  # noqa: BLE001 - dangling link, permission...
            entry = f"{rel}\tunstat:{type(exc).__name__}"
        digest.update(entry.encode("utf-8") + b"\n")
    return (f"Image folder: {input_base}, Num files: {len(rel_paths)}, "
            f"Total bytes: {total_bytes}, SHA-256(path,size,mtime): {digest.hexdigest()}")


class ImageFolderDriver(example_gen_driver.FileBasedDriver):
    """FileBasedDriver with a whole-tree, never-failing input fingerprint.

    Span is always 0 and version None (no ``{SPAN}`` patterns for image
    folders).  The fingerprint makes cached runs notice added, removed or
    modified files anywhere under ``input_base``.
    """

    def resolve_exec_properties(self, exec_properties, pipeline_info, component_info):
        del pipeline_info, component_info
        input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        exec_properties[example_gen_utils.SPAN_PROPERTY_NAME] = 0
        exec_properties[example_gen_utils.VERSION_PROPERTY_NAME] = None
        exec_properties[example_gen_utils.FINGERPRINT_PROPERTY_NAME] = folder_fingerprint(
            input_base)
        return exec_properties


# ---------------------------------------------------------------------------
# Executor.


class Executor(base_beam_executor.BaseBeamExecutor):
    """Beam executor of :class:`ImageFolderExampleGen`."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
        split_buckets = splits.parse_split_buckets(
            [(s.name, s.hash_buckets) for s in output_config.split_config.splits])
        split_names = [name for name, _ in split_buckets]
        max_pixels = int(exec_properties[MAX_PIXELS_KEY])
        max_bad_fraction = float(exec_properties[MAX_BAD_FRACTION_KEY])
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])

        class_names, rel_paths = list_image_folder(input_base)
        if not class_names:
            raise ValueError(f"{IMAGE_FOLDER_EXAMPLE_GEN_ID}: no class folders under {input_base!r}")
        plan = plan_items(rel_paths, class_names, split_buckets)
        logging.info("%s: %d files, classes %s, splits %s",
                     IMAGE_FOLDER_EXAMPLE_GEN_ID, len(plan), class_names, split_buckets)
        _ingest.write_label_names(examples.uri, class_names)
        report_extra = {
            "component": IMAGE_FOLDER_EXAMPLE_GEN_ID,
            "source": input_base,
            "label_names": class_names,
            "split_buckets": dict(split_buckets),
            "max_pixels": max_pixels,
            "max_bad_fraction": max_bad_fraction,
        }
        with self._make_beam_pipeline() as pipeline:
            items = (
                pipeline
                | "PlannedFiles" >> beam.Create(plan)
                | "ReadFiles" >> beam.ParDo(ReadFileDoFn(input_base))
            )
            _ingest.write_ingest_outputs(items, examples.uri, split_names, max_pixels,
                                         report_extra)
        _ingest.finish_examples_artifact(IMAGE_FOLDER_EXAMPLE_GEN_ID, examples, split_names,
                                         class_names, max_bad_fraction)


# ---------------------------------------------------------------------------
# Component.


class ImageFolderExampleGen(FileBasedExampleGen):
    """ExampleGen for an image folder ``input_base/<class_name>/<image files>``.

    Args:
      input_base: the folder (local path or any ``tf.io.gfile`` URI).
      split_buckets: ordered ``{split name: hash buckets}``; a file goes to a
        split with probability buckets/sum(buckets), decided by SHA-256 of its
        relative path.  Default :data:`components.splits.DEFAULT_SPLIT_BUCKETS`.
      max_pixels: images with width*height above this are skipped
        (``too_many_pixels``).
      max_bad_fraction: the run fails (after writing its report) when more
        than this fraction of the input files was skipped.

    Output ``examples``: standard_artifacts.Examples.
    """

    SPEC_CLASS = ImageFolderExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
    DRIVER_CLASS = ImageFolderDriver

    def __init__(self, input_base: str,
                 split_buckets: Optional[Dict[str, int]] = None,
                 max_pixels: int = image_records.DEFAULT_MAX_PIXELS,
                 max_bad_fraction: float = image_records.DEFAULT_MAX_BAD_FRACTION):
        buckets = splits.parse_split_buckets(
            splits.DEFAULT_SPLIT_BUCKETS if split_buckets is None else split_buckets)
        _ingest.validate_common(max_pixels, max_bad_fraction)
        input_config = example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="single_split", pattern=INPUT_PATTERN)])
        output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
            splits=[example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=n)
                    for name, n in buckets]))
        spec = ImageFolderExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            max_pixels=int(max_pixels),
            max_bad_fraction=float(max_bad_fraction),
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        # Skip FileBasedExampleGen.__init__ (it builds its own spec); keep its
        # class attributes (DRIVER_CLASS) and isinstance() identity.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)


def split_buckets_of(component: ImageFolderExampleGen) -> Dict[str, int]:
    """The ``{split: buckets}`` mapping a component was built with."""
    output_config = component.exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY]
    if isinstance(output_config, str):
        parsed = example_gen_pb2.Output()
        proto_utils.json_to_proto(output_config, parsed)
        output_config = parsed
    return {s.name: s.hash_buckets for s in output_config.split_config.splits}


__all__ = ["ImageFolderExampleGen", "ImageFolderExampleGenSpec", "Executor",
           "ImageFolderDriver", "folder_fingerprint",
           "list_image_folder", "plan_items", "split_buckets_of"]
