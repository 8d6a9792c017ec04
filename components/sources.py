"""The table of ingestion sources: ``data.source`` name -> what the pipeline needs of that source.

Every ExampleGen of the project runs the shared executor
(:class:`components._ingest.IngestExecutor`); a source supplies only what
differs (how it lists, reads, labels and splits its items) in its own file,
and one :class:`IngestSource` entry in :data:`SOURCES` tells the rest of the
project about it:

* the configuration (:mod:`pipeline.config`) accepts ``data.source`` when
  the name is in the table, and checks the source's own split settings (the
  ``DataConfig`` field it names, with its own parser) for the splits every
  run needs;
* the pipeline (:func:`pipeline.pipeline.make_example_gen`) builds the
  source's component with its ``component`` factory;
* the Kubeflow compile (:mod:`pipeline.kubeflow`) offers its runtime
  parameters and warns about its local input paths.

Built in: ``image_folder`` (:mod:`components.image_folder_example_gen`) and
``tfds`` (:mod:`components.tfds_example_gen`).  A new source is one file
(an ``IngestExecutor`` subclass with its ``plan``, a component, and a call
of :func:`register_source`) and its test; a name not in the table is looked
up as the module ``components.<name>_example_gen``, which registers itself
when imported.

This module is kept free of TFX, Beam and TensorFlow imports (the
configuration is validated before any of them is needed); a source's
component module is imported only when its component is built.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from components import splits
from trainer.contract import IMAGE_FOLDER_EXAMPLE_GEN_ID, TFDS_EXAMPLE_GEN_ID

IMAGE_FOLDER_SOURCE = "image_folder"
TFDS_SOURCE = "tfds"
# A name not in the table is looked for in this module (``components.<name>_example_gen``).
SOURCE_MODULE_TEMPLATE = "components.{name}_example_gen"


@dataclasses.dataclass(frozen=True)
class SourceRuntimeParameter:
    """A Kubeflow runtime parameter that replaces one execution property of the source's ExampleGen.

    Attributes:
      name: the parameter's name in the compiled pipeline.
      ptype: its type (``str``, ``int`` or ``float``).
      exec_property: the ExampleGen's execution property it is wired into (a whole property).
      default: ``config -> value``: the compiled default, from the ``PipelineConfig``.
    """

    name: str
    ptype: type
    exec_property: str
    default: Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class IngestSource:
    """One row of the table of sources.

    Attributes:
      name: the ``data.source`` value.
      component_id: the id of its ExampleGen in the pipeline (``trainer.contract``).
      split_field: the ``DataConfig`` field that holds its split settings (``split_buckets``, ``tfds_splits``).
      parse_splits: ``value of split_field -> {split name: setting}`` (ordered); raises ``ValueError`` naming
        the problem when the settings are not valid for this source.
      component: ``PipelineConfig -> component``, or ``"module:function"`` naming one (imported on use).
      runtime_parameters: its Kubeflow runtime parameters (none by default).
      input_locations: ``PipelineConfig -> {config field: location}`` of what it reads, for the Kubeflow
        compile's warning about local paths.
    """

    name: str
    component_id: str
    split_field: str
    parse_splits: Callable[[Any], Mapping[str, Any]]
    component: str | Callable[[Any], Any]
    runtime_parameters: tuple[SourceRuntimeParameter, ...] = ()
    input_locations: Callable[[Any], dict[str, str]] = lambda config: {}

    def build_component(self, config: Any) -> Any:
        """The source's ExampleGen for ``config``.

        Args:
          config: the validated ``pipeline.config.PipelineConfig``.

        Returns:
          The TFX component (its id :attr:`component_id`).
        """
        factory = self.component
        if isinstance(factory, str):
            module, _, function = factory.partition(":")
            factory = getattr(importlib.import_module(module), function)
        return factory(config)


SOURCES: dict[str, IngestSource] = {}


def register_source(source: IngestSource) -> IngestSource:
    """Adds ``source`` to :data:`SOURCES`.

    Args:
      source: the new row.

    Returns:
      ``source``.

    Raises:
      ValueError: another source already has that name.
    """
    existing = SOURCES.get(source.name)
    if existing is not None and existing != source:
        raise ValueError(f"an ingestion source named {source.name!r} is registered already")
    SOURCES[source.name] = source
    return source


def get_source(name: str) -> IngestSource:
    """The table's row for ``name`` (importing ``components.<name>_example_gen`` when it is not there yet).

    Args:
      name: a ``data.source`` value.

    Returns:
      Its :class:`IngestSource`.

    Raises:
      ValueError: no source has that name (the message lists the known ones).
    """
    if name not in SOURCES and name.isidentifier():
        try:
            importlib.import_module(SOURCE_MODULE_TEMPLATE.format(name=name))
        except ModuleNotFoundError as error:
            if error.name != SOURCE_MODULE_TEMPLATE.format(name=name):
                raise
    if name not in SOURCES:
        raise ValueError(f"unknown ingestion source {name!r}; known: {', '.join(sorted(SOURCES))}")
    return SOURCES[name]


def _local_image_dir(config: Any) -> dict[str, str]:
    return {"data.image_dir": config.image_dir}


def _tfds_data_dir(config: Any) -> dict[str, str]:
    return {"data.tfds_data_dir": config.data.tfds_data_dir} if config.data.tfds_data_dir else {}


register_source(IngestSource(
    name=IMAGE_FOLDER_SOURCE,
    component_id=IMAGE_FOLDER_EXAMPLE_GEN_ID,
    split_field="split_buckets",
    parse_splits=lambda value: dict(splits.parse_split_buckets(value)),
    component="components.image_folder_example_gen:from_config",
    input_locations=_local_image_dir,
))
register_source(IngestSource(
    name=TFDS_SOURCE,
    component_id=TFDS_EXAMPLE_GEN_ID,
    split_field="tfds_splits",
    parse_splits=lambda value: dict(splits.parse_tfds_splits(value)),
    component="components.tfds_example_gen:from_config",
    # A plain string property of TfdsExampleGen: the Kubeflow parameter replaces it whole.
    runtime_parameters=(SourceRuntimeParameter(
        name="tfds_splits", ptype=str, exec_property="splits",
        default=lambda config: json.dumps(dict(config.data.tfds_splits))),),
    input_locations=_tfds_data_dir,
))
