"""What the pipeline runs with, decided once for every runner.

``pipeline_runner.py run`` and ``compile`` both build the pipeline from
:func:`resolve_config` (pure: no file is written), so the local pipeline and
the compiled Kubeflow one have the same components with the same properties:

* a local ``output_dir`` is made absolute, so artifact URIs and the pushed
  location do not depend on the working directory;
* images: an ``image_folder`` source without ``data.image_dir`` reads the
  synthetic demo set, generated under ``<output_dir>/demo_data``;
* schema: when the class names are known (``training.class_names``, or the
  demo set's) and no ``data.schema_file`` is given, ImportSchemaGen imports
  the curated schema (``components/schema.py``) from
  ``<output_dir>/schema/<digest of the class names>/schema.pbtxt``;
  otherwise SchemaGen infers one;
* splits: ``data.split_buckets`` or ``data.tfds_splits``, as configured;
* a local ``training.backbone_weights`` file is made absolute and must
  exist (a missing one stops the run before anything is written).

:func:`write_inputs` then writes the files the resolved configuration refers
to (the demo set, the curated schema), locally or on any filesystem
``tf.io.gfile`` knows (``gs://...``).
"""

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence

from pipeline.config import ConfigError, PipelineConfig
from trainer.contract import SCHEMA_FILE, is_remote


def curated_schema_path(config: PipelineConfig) -> str:
    """Where the curated schema for ``config``'s class names goes: ``<output_dir>/schema/<digest>/schema.pbtxt``.

    The folder is named by SHA-256 of the class names in label order (12 hex
    digits): ImportSchemaGen's cache looks at the path alone, so other class
    names (another order, another spelling) must give another path, or a
    rerun would validate against the schema of the previous names.

    Args:
      config: the pipeline configuration (``output_dir``, the class names).

    Returns:
      The path (local or remote, like ``output_dir``).
    """
    digest = hashlib.sha256("\n".join(schema_class_names(config)).encode("utf-8")).hexdigest()[:12]
    return os.path.join(config.output_dir, "schema", digest, SCHEMA_FILE)


def schema_class_names(config: PipelineConfig) -> Sequence[str]:
    """The class names the curated schema is written for.

    Args:
        config: the configuration.

    Returns:
        ``training.class_names``, else the demo set's when it is used; () when they are not known in advance
        (then SchemaGen infers the schema).
    """
    if config.training.class_names:
        return tuple(config.training.class_names)
    if config.uses_demo_data:
        from components.demo_data import CLASS_NAMES

        return tuple(CLASS_NAMES)
    return ()


def resolve_config(config: PipelineConfig) -> PipelineConfig:
    """The configuration every runner builds the pipeline from (see the module docstring).  Writes nothing.

    Args:
        config: the validated configuration.

    Returns:
        A copy with a local ``output_dir`` and ``training.backbone_weights`` made absolute, and
        ``data.schema_file`` set to :func:`curated_schema_path` when the class names are known and no schema file
        is given.

    Raises:
        ConfigError: ``training.backbone_weights``, when a local weights file does not exist.
    """
    if not is_remote(config.output_dir):
        config = config.replace(output_dir=os.path.abspath(config.output_dir))
    if not config.data.schema_file and schema_class_names(config):
        config = config.replace(data=config.data.replace(schema_file=curated_schema_path(config)))
    weights = config.training.backbone_weights
    if weights and not is_remote(weights):
        weights = os.path.abspath(weights)
        if not os.path.isfile(weights):
            raise ConfigError("training.backbone_weights", f"{weights} does not exist")
        config = config.replace(training=config.training.replace(backbone_weights=weights))
    return config


def write_inputs(config: PipelineConfig) -> list[str]:
    """Writes the demo set and the curated schema where a resolved ``config`` expects them.

    Args:
        config: a configuration from :func:`resolve_config`.

    Returns:
        The paths written: the demo set's summary (``<output_dir>/demo_data.json``, when the demo set is used) and
        the curated ``schema.pbtxt`` (when ``data.schema_file`` is :func:`curated_schema_path`).
    """
    written = []
    if config.uses_demo_data:
        written.append(write_demo_data(config))
    if config.data.schema_file == curated_schema_path(config):
        from components.schema import write_curated_schema

        written.append(write_curated_schema(os.path.dirname(config.data.schema_file), schema_class_names(config)))
    return written


def write_demo_data(config: PipelineConfig) -> str:
    """Generates the demo image folder once, into ``config.demo_data_dir`` (local, or ``gs://`` via a temp folder).

    A set made with other settings (images per class, seed, side, generator version) is deleted and made again.

    Args:
        config: the configuration (``data.demo_images_per_class``, ``data.demo_seed``, ``training.image_size``).

    Returns:
        The path of its summary, ``<demo_data_dir>.json`` beside the folder (the marker of a finished set).
    """
    import tensorflow as tf

    from components.demo_data import CLASS_NAMES, GENERATOR_VERSION, make_demo_dataset

    target = config.demo_data_dir
    # Beside the image folder, not inside it (the ExampleGen would report it as a stray file).
    marker = target.rstrip("/") + ".json"
    data = config.data
    side = config.training.image_size[0]  # square and even: PipelineConfig checks it for the demo set
    wanted = {"regular_images": {name: data.demo_images_per_class for name in CLASS_NAMES},
              "seed": data.demo_seed, "side": side, "generator_version": GENERATOR_VERSION}
    if tf.io.gfile.exists(marker):
        with tf.io.gfile.GFile(marker) as f:
            existing = json.load(f)
        if all(existing.get(key) == value for key, value in wanted.items()):
            return marker
        # Another size, seed or generator: start afresh rather than mix two sets.
        print(f"The demo set in {target} was made with other settings; generating it again.", flush=True)
        if tf.io.gfile.exists(target):
            tf.io.gfile.rmtree(target)
    print(f"Generating the synthetic demo data set in {target} ...", flush=True)
    if is_remote(target):
        with tempfile.TemporaryDirectory() as local:
            summary = make_demo_dataset(local, per_class=data.demo_images_per_class, seed=data.demo_seed, side=side)
            _copy_tree(local, target)
        summary["output_dir"] = target
    else:
        summary = make_demo_dataset(target, per_class=data.demo_images_per_class, seed=data.demo_seed, side=side)
    with tf.io.gfile.GFile(marker, "w") as f:
        f.write(json.dumps(summary, indent=2))
    return marker


def _copy_tree(local_dir: str, target: str) -> None:
    import tensorflow as tf

    for folder, _, files in os.walk(local_dir):
        relative = os.path.relpath(folder, local_dir)
        destination = target if relative == "." else f"{target.rstrip('/')}/{relative}"
        tf.io.gfile.makedirs(destination)
        for name in files:
            tf.io.gfile.copy(os.path.join(folder, name), os.path.join(destination, name), overwrite=True)
