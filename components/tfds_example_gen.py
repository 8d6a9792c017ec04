"""TfdsExampleGen: a TFDS dataset (default ``cats_vs_dogs``) -> TFX Examples.

Reads the dataset's prepared TFRecord shards with Beam, one shard (or shard
slice) per work item, through TFDS's own builder and ``data_dir``:

* if the dataset is not prepared in ``data_dir`` yet, the executor calls
  ``builder.download_and_prepare()`` (needs internet for the real
  cats_vs_dogs; a prepared ``data_dir`` works offline);
* ``splits`` maps output split names to TFDS split strings, default
  :data:`components.splits.DEFAULT_TFDS_SPLITS`
  (``{"train": "train[:40%]", "eval": "train[40%:50%]"}``); any slicing TFDS
  accepts works (``{"train": "train[:90%]", "eval": "train[90%:95%]",
  "test": "train[95%:]"}``), with TFDS's own rounding (the split's
  ``file_instructions`` decide which examples are read);
* the images are read with ``tfds.decode.SkipDecoding()``, so the original
  encoded bytes go through :mod:`components.image_records` exactly like the
  image-folder files (kept, converted or skipped and reported);
* ``label`` and ``label_name`` come from ``builder.info.features[label_key]``;
  ``image/filename`` is TFDS's ``image/filename`` feature when the dataset
  has one, else ``<tfds split>/<shard>/<index>``.

Output layout and reports are the same as ImageFolderExampleGen's: the
executor supplies only the shard plan and reader (:meth:`Executor.plan`), the
shared :class:`components._ingest.IngestExecutor` does the rest
(``data.source=tfds``, :mod:`components.sources`).  Skipped examples stay in
the output split they were sliced into.
"""

from __future__ import annotations

import json
import os
from typing import Any

import apache_beam as beam
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components import _ingest, image_records
from components.splits import DEFAULT_TFDS_DATASET, DEFAULT_TFDS_SPLITS, parse_tfds_splits
from trainer.contract import TFDS_EXAMPLE_GEN_ID

# TFDS's own feature name (cats_vs_dogs has one), not the record's.
FILENAME_FEATURE = "image/filename"

DATASET_KEY = "dataset"
SPLITS_KEY = "splits"
DATA_DIR_KEY = "data_dir"
IMAGE_KEY_KEY = "image_key"
LABEL_KEY_KEY = "label_key"
MAX_PIXELS_KEY = _ingest.MAX_PIXELS_KEY
MAX_BAD_FRACTION_KEY = _ingest.MAX_BAD_FRACTION_KEY
EXAMPLES_KEY = _ingest.EXAMPLES_KEY


class TfdsExampleGenSpec(types.ComponentSpec):
    """The TFDS source's parameters (dataset, splits JSON, data_dir, feature keys) plus the common ingest ones."""

    PARAMETERS = {
        DATASET_KEY: ExecutionParameter(type=str),
        SPLITS_KEY: ExecutionParameter(type=str),  # JSON object, ordered
        DATA_DIR_KEY: ExecutionParameter(type=str, optional=True),
        IMAGE_KEY_KEY: ExecutionParameter(type=str),
        LABEL_KEY_KEY: ExecutionParameter(type=str),
        **_ingest.ingest_parameters(),
    }
    INPUTS = {}
    OUTPUTS = {EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


def _builder(dataset: str, data_dir: str | None):
    import tensorflow_datasets as tfds

    return tfds.builder(dataset, data_dir=data_dir or None)


def plan_shards(builder, splits: list[tuple]) -> list[tuple]:
    """(output split, tfds split, shard index, skip, take) per file instruction."""
    from tensorflow_datasets.core import naming

    plan = []
    for out_split, spec in splits:
        for instruction in builder.info.splits[spec].file_instructions:
            info = naming.FilenameInfo.from_str(os.path.basename(instruction.filename))
            take = -1 if instruction.takes_all else int(instruction.take)
            plan.append((out_split, info.split, int(info.shard_index), int(instruction.skip),
                         take))
    return plan


class ReadTfdsShardDoFn(beam.DoFn):
    """(out split, tfds split, shard, skip, take) -> IngestItems, streamed."""

    def __init__(self, dataset: str, data_dir: str | None, image_key: str,
                 label_key: str, label_names: list[str], has_filename: bool):
        self._dataset = dataset
        self._data_dir = data_dir
        self._image_key = image_key
        self._label_key = label_key
        self._label_names = list(label_names)
        self._has_filename = has_filename
        self._builder = None

    def setup(self):
        self._builder = _builder(self._dataset, self._data_dir)

    def process(self, planned):
        import tensorflow_datasets as tfds

        out_split, tfds_split, shard, skip, take = planned
        ds = self._builder.as_dataset(
            split=f"{tfds_split}[{shard}shard]",
            decoders={self._image_key: tfds.decode.SkipDecoding()},
            shuffle_files=False,
            read_config=tfds.ReadConfig(try_autocache=False),
        )
        if skip > 0:
            ds = ds.skip(skip)
        if take >= 0:
            ds = ds.take(take)
        for offset, example in enumerate(tfds.as_numpy(ds)):
            index = skip + offset
            if self._has_filename:
                filename = example[FILENAME_FEATURE]
                filename = filename.decode("utf-8") if isinstance(filename, bytes) else str(filename)
            else:
                filename = f"{tfds_split}/{shard:05d}/{index}"
            label = int(example[self._label_key])
            data = example[self._image_key]
            if not isinstance(data, bytes):
                data = bytes(data)
            yield _ingest.IngestItem(out_split, filename, label, self._label_names[label], data)


class ReadTfdsShards(beam.PTransform):
    """Pipeline root -> one :class:`components._ingest.IngestItem` per example of the planned shard reads."""

    def __init__(self, plan: list[tuple], read_shard: ReadTfdsShardDoFn):
        """Reads every ``(out split, tfds split, shard, skip, take)`` of ``plan`` with ``read_shard``.

        Args:
          plan: the shard reads, from :func:`plan_shards`.
          read_shard: the DoFn that reads one of them.
        """
        super().__init__()
        self._plan = plan
        self._read_shard = read_shard

    def expand(self, pbegin):
        return (pbegin
                | "ShardReads" >> beam.Create(self._plan)
                | "ReadShards" >> beam.ParDo(self._read_shard))


class Executor(_ingest.IngestExecutor):
    """Beam executor of :class:`TfdsExampleGen`: plans the shard reads, the shared executor does the rest."""

    COMPONENT_ID = TFDS_EXAMPLE_GEN_ID

    def plan(self, exec_properties: dict[str, Any]) -> _ingest.IngestPlan:
        """Prepares the dataset if needed; labels are its ClassLabel names, splits the ``splits`` slices.

        Args:
          exec_properties: ``dataset``, ``splits`` (JSON), ``data_dir``, ``image_key``, ``label_key``.

        Returns:
          The plan: one read per TFDS file instruction, with the ``tfds_splits`` report entry.

        Raises:
          ValueError: ``splits`` is not a valid ``{output split: TFDS split}`` object.
        """
        dataset = exec_properties[DATASET_KEY]
        splits = parse_tfds_splits(exec_properties[SPLITS_KEY])
        data_dir = exec_properties.get(DATA_DIR_KEY) or None
        image_key = exec_properties[IMAGE_KEY_KEY]
        label_key = exec_properties[LABEL_KEY_KEY]

        builder = _builder(dataset, data_dir)
        # No-op when the data is already prepared in data_dir (works offline).
        builder.download_and_prepare()
        features = builder.info.features
        label_names = list(features[label_key].names)
        has_filename = FILENAME_FEATURE in features.keys()
        plan = plan_shards(builder, splits)
        logging.info("%s: %s (data_dir=%s), splits %s, %d shard reads",
                     TFDS_EXAMPLE_GEN_ID, dataset, builder.data_dir, splits, len(plan))
        return _ingest.IngestPlan(
            source=f"tfds:{builder.info.full_name}",
            label_names=label_names,
            split_names=[name for name, _ in splits],
            read=ReadTfdsShards(plan, ReadTfdsShardDoFn(dataset, data_dir, image_key, label_key, label_names,
                                                        has_filename)),
            report_extra={"tfds_splits": dict(splits)},
        )


class TfdsExampleGen(base_beam_component.BaseBeamComponent):
    """ExampleGen reading a TFDS image-classification dataset through Beam.

    Args:
      dataset: TFDS name (optionally ``name:version``), default cats_vs_dogs.
      splits: ordered ``{output split: TFDS split string}``, default
        :data:`components.splits.DEFAULT_TFDS_SPLITS`.
      data_dir: TFDS data dir (None: TFDS's default, ``~/tensorflow_datasets``).
      max_pixels: images with width*height above this are skipped (``too_many_pixels``).
      max_bad_fraction: the run fails (after writing its report) when more than this fraction of
        the examples was skipped.
      image_key: the dataset's image feature name.
      label_key: the dataset's ClassLabel feature name.

    Raises:
      ValueError: ``splits``, ``max_pixels`` or ``max_bad_fraction`` is not valid (the message names
        it), when the component is built.

    Output ``examples``: standard_artifacts.Examples, laid out as ImageFolderExampleGen's
    (``Split-<name>/data_tfrecord-*.gz``, ``label_names.txt``, ``bad_images.tsv``, ``ingest_report.json``).
    """

    SPEC_CLASS = TfdsExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, dataset: str = DEFAULT_TFDS_DATASET,
                 splits: dict[str, str] | None = None,
                 data_dir: str | None = None,
                 max_pixels: int = image_records.DEFAULT_MAX_PIXELS,
                 max_bad_fraction: float = image_records.DEFAULT_MAX_BAD_FRACTION,
                 image_key: str = "image",
                 label_key: str = "label"):
        parsed = parse_tfds_splits(DEFAULT_TFDS_SPLITS if splits is None else splits)
        _ingest.validate_common(max_pixels, max_bad_fraction)
        spec = TfdsExampleGenSpec(
            dataset=dataset,
            splits=json.dumps(dict(parsed)),
            data_dir=data_dir,
            image_key=image_key,
            label_key=label_key,
            max_pixels=int(max_pixels),
            max_bad_fraction=float(max_bad_fraction),
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        super().__init__(spec=spec)


def from_config(config) -> TfdsExampleGen:
    """The pipeline's TfdsExampleGen (``data.source=tfds``, :mod:`components.sources`).

    Args:
      config: the validated ``pipeline.config.PipelineConfig``: ``data.tfds_name``, ``data.tfds_splits``,
        ``data.tfds_data_dir`` (empty: TFDS's default), ``data.max_pixels``, ``data.max_bad_fraction``.

    Returns:
      The component.
    """
    data = config.data
    return TfdsExampleGen(
        dataset=data.tfds_name,
        splits=dict(data.tfds_splits),
        data_dir=data.tfds_data_dir or None,
        max_pixels=data.max_pixels,
        max_bad_fraction=data.max_bad_fraction,
    )


__all__ = ["TfdsExampleGen", "TfdsExampleGenSpec", "Executor", "ReadTfdsShards", "from_config", "plan_shards"]
