"""Compile the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines.

    python pipeline_runner.py compile --output pipeline.json --image IMAGE \
        --pipeline-root gs://BUCKET/root --output-dir gs://BUCKET/resizer [config overrides]

:func:`compile_pipeline` turns :func:`pipeline.pipeline.create_components`
into a KFP ``PipelineJob`` JSON with TFX's ``KubeflowV2DagRunner``, from the
same resolved configuration ``run`` uses (:mod:`pipeline.prepare`), so the
compiled pipeline has the local pipeline's components and properties.  Every
component runs in ``image`` (see ``Dockerfile``) with TFX's container
entrypoint, ``python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor``;
module code is referenced by dotted path (``trainer.run.run_fn``), so no
code is uploaded at compile time.  The files the pipeline reads from the
output dir (the curated schema; the demo images when no ``data.image_dir`` is
set) are written there by ``compile``, like ``run`` does; with
``--skip-inputs`` (they are there already) compiling touches no filesystem
and needs no network.

Runtime parameters (change them per run without recompiling; the compiled
defaults are the config's values):

``epochs`` (int)
    ``training.epochs`` of every arm's Trainer.
``accuracy_margin`` (float)
    ``evaluation.accuracy_margin``: a candidate's test accuracy must beat
    the baseline's by more than this for it to pass the gate (and the best
    candidate that passes to be pushed).
``tfds_splits`` (str, JSON object; ``data.source=tfds`` only)
    ``data.tfds_splits``, e.g. ``{"train": "train[:90%]", "validation":
    "train[90%:95%]", "test": "train[95%:]"}``.

A data source's own parameters (here ``tfds_splits``) come from its entry
in the table of sources (:mod:`components.sources`).

Why ``epochs`` goes through an extra step: Kubeflow v2 (and TFX's compiler
for it) can only substitute a runtime parameter for a *whole* execution
property, never for a value inside one, and ``epochs`` lives inside the
Trainers' ``custom_config`` JSON (a different one per arm).  So the
compiled pipeline gets one more step, ``RuntimeConfig``, that takes the
parameter, re-validates the configuration with it (a bad value fails that
step, naming the field, before anything trains) and outputs one
``custom_config`` string per arm (every arm the project knows, so the
step's outputs do not depend on the configuration); the Trainers read theirs as dynamic execution
properties (``channel.future()[0].value``).  ``tfds_splits`` and the
PairedComparison's ``accuracy_margin`` (the gate lives there alone; the
Evaluator has no thresholds) are plain properties, so those parameters are
wired in directly; the PairedComparison validates the margin.  The
image-folder ExampleGen's ``split_buckets`` live in its ``output_config``
proto, which TFX's v2 ExampleGen driver reads at compile time, so they are
not a runtime parameter.

The JSON is TFX's compiler output finished by :mod:`pipeline.kubeflow_spec`
(parameter defaults, producer task names KFP resolves, artifact types TFX's
container can rebuild).

Caching: each task's ``cachingOptions.enableCache`` follows
``config.enable_cache`` (``--enable_cache false`` compiles it off; KFP's
own submit-time ``enable_caching`` overrides it).
"""

import json
import logging
import os
import re
from collections.abc import Iterable, Sequence

from trainer.environment import apply_keras_policy

apply_keras_policy()

from tfx import v1 as tfx
from tfx.dsl.component.experimental.annotations import OutputDict, Parameter
from tfx.dsl.component.experimental.decorators import component

from components import sources
from pipeline import config as config_lib
from pipeline.kubeflow_spec import finish_pipeline_job, write_pipeline_file
from trainer import contract
from trainer.contract import ALL_ARMS, RUNTIME_CONFIG_ID

KUBEFLOW_TFX_COMMAND = (
    "python",
    "-m",
    "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor",
)
# The project's setup.py inside the image (Dockerfile: WORKDIR /pipeline, COPY setup.py): the Beam workers'
# dependencies when a step runs Beam on another runner than its pod's DirectRunner
# (pipeline.pipeline.beam_args_with_dependencies).
IMAGE_SETUP_FILE = "/pipeline/setup.py"
EPOCHS, ACCURACY_MARGIN = "epochs", "accuracy_margin"


def custom_config_output(arm: str) -> str:
    """The RuntimeConfig output carrying the Trainer ``custom_config`` of ``arm``."""
    return f"{arm}_custom_config"


log = logging.getLogger(__name__)


# --- the runtime-configuration step ------------------------------------------------

def resolve_runtime_config(pipeline_config: str, code_fingerprint: str, epochs: int) -> dict[str, str]:
    """The Trainers' ``custom_config`` strings for these runtime values (the RuntimeConfig step's body).

    Args:
        pipeline_config: the compiled configuration as JSON (``PipelineConfig.to_dict``).
        code_fingerprint: :func:`trainer.config.code_fingerprint` at compile time.
        epochs: the ``epochs`` runtime parameter.

    Returns:
        {``<arm>_custom_config``: the arm's ``custom_config`` as sorted JSON}, for every arm in ``ALL_ARMS``.

    Raises:
        ConfigError: naming the field, when the values do not validate (the run fails at this step).
    """
    config = config_lib.with_overrides(
        config_lib.PipelineConfig.from_dict(json.loads(pipeline_config)), {"training.epochs": int(epochs)})
    return {
        custom_config_output(arm): json.dumps(config.arm_custom_config(arm, code_fingerprint), sort_keys=True)
        for arm in ALL_ARMS
    }


@component
def RuntimeConfig(  # noqa: N802 (TFX component naming)
    pipeline_config: Parameter[str],
    code_fingerprint: Parameter[str],
    epochs: Parameter[int],
) -> OutputDict(**{custom_config_output(arm): str for arm in ALL_ARMS}):
    """Applies the run's parameters to the compiled configuration (validated; a bad value fails here)."""
    return resolve_runtime_config(pipeline_config, code_fingerprint, epochs)


# --- building --------------------------------------------------------------------------

def runtime_parameters(config: config_lib.PipelineConfig) -> dict[str, object]:
    """The pipeline's runtime parameters with the config's values as defaults.

    Args:
      config: the validated configuration.

    Returns:
      ``{name: tfx RuntimeParameter}``: ``epochs``, ``accuracy_margin``, and those of the data source
      (:class:`components.sources.IngestSource` ``runtime_parameters``; ``tfds_splits`` for ``tfds``).
    """
    runtime_parameter = tfx.dsl.experimental.RuntimeParameter
    params = {
        EPOCHS: runtime_parameter(name=EPOCHS, ptype=int, default=int(config.training.epochs)),
        ACCURACY_MARGIN: runtime_parameter(name=ACCURACY_MARGIN, ptype=float,
                                           default=float(config.evaluation.accuracy_margin)),
    }
    for spec in sources.get_source(config.data.source).runtime_parameters:
        params[spec.name] = runtime_parameter(name=spec.name, ptype=spec.ptype, default=spec.default(config))
    return params


def _set_exec_property(node, name, value):
    if name not in node.exec_properties:
        raise KeyError(f"{node.id} has no execution property {name!r}")
    node.exec_properties[name] = value


def create_kubeflow_components(config: config_lib.PipelineConfig, example_gen=None) -> dict[str, object]:
    """``create_components(config)`` plus the RuntimeConfig step, with the runtime parameters wired in.

    Args:
        config: the resolved configuration.
        example_gen: replaces the configured ExampleGen (tests); the ``tfds_splits`` parameter then reaches none.

    Returns:
        {component id: component}, ``RuntimeConfig`` first: every Trainer reads its ``custom_config`` from it,
        the PairedComparison's ``accuracy_margin`` and a TfdsExampleGen's ``splits`` are runtime parameters.

    Raises:
        KeyError: a component lacks the execution property a parameter is wired to.
    """
    from pipeline.pipeline import create_components
    from trainer.config import code_fingerprint

    components = create_components(config, example_gen)
    params = runtime_parameters(config)
    resolver = RuntimeConfig(
        pipeline_config=json.dumps(config.to_dict(), sort_keys=True),
        code_fingerprint=code_fingerprint(),
        epochs=params[EPOCHS],
    ).with_id(RUNTIME_CONFIG_ID)
    for arm in config.training.arms:
        trainer = components[contract.trainer_id(arm)]
        _set_exec_property(trainer, "custom_config",
                           resolver.outputs[custom_config_output(arm)].future()[0].value)
        trainer.add_upstream_node(resolver)
    # A plain float property of the gate: the runtime parameter goes in directly.
    _set_exec_property(components[contract.PAIRED_COMPARISON_ID], "accuracy_margin", params[ACCURACY_MARGIN])
    source = sources.get_source(config.data.source)
    if example_gen is None:
        for spec in source.runtime_parameters:
            _set_exec_property(components[source.component_id], spec.exec_property, params[spec.name])
    out = {RUNTIME_CONFIG_ID: resolver}
    out.update(components)
    return out


def local_paths(config: config_lib.PipelineConfig, pipeline_root: str) -> Sequence[str]:
    """Config locations that a cluster would not see (local paths), for a warning.

    Args:
        config: the configuration.
        pipeline_root: the compiled pipeline root.

    Returns:
        ``"<name>=<path>"`` for each of the pipeline root, ``output_dir``, the image or TFDS data dir, the schema
        file and the backbone weights that has no ``scheme://``.
    """
    named = {"pipeline root": pipeline_root, "output_dir": config.output_dir}
    named.update(sources.get_source(config.data.source).input_locations(config))
    if config.data.schema_file:
        named["data.schema_file"] = config.data.schema_file
    if config.training.backbone_weights:
        named["training.backbone_weights"] = config.training.backbone_weights
    return [f"{name}={value}" for name, value in named.items() if not contract.is_remote(value)]


def kubeflow_pipeline_name(name: str) -> str:
    """Kubeflow v2 names must match ``[a-z0-9][a-z0-9-]{0,127}``: ``resizer_tfx`` -> ``resizer-tfx``.

    Args:
        name: ``pipeline_name``.

    Returns:
        The name lowercased, ``_`` as ``-``.

    Raises:
        ConfigError: ``pipeline_name``, when the result still does not match.
    """
    out = name.lower().replace("_", "-")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,127}", out):
        raise config_lib.ConfigError("pipeline_name", f"{name!r} cannot be a Kubeflow pipeline name "
                                     "(letters, digits, '-', '_'; starting with a letter or digit)")
    return out


def create_kubeflow_pipeline(config: config_lib.PipelineConfig, pipeline_root: str | None = None,
                             beam_pipeline_args: Iterable[str] | None = None, example_gen=None):
    """The TFX pipeline for Kubeflow: :func:`create_kubeflow_components`, with no ML Metadata connection.

    Args:
        config: the resolved configuration.
        pipeline_root: where the artifacts go; None: ``config.pipeline_root``.
        beam_pipeline_args: Beam arguments of every component; None: ``config.beam_pipeline_args``.  A
            ``--setup_file`` is added unless they name the workers' dependencies
            (:func:`pipeline.pipeline.beam_args_with_dependencies`; the image's :data:`IMAGE_SETUP_FILE` for any
            runner but the DirectRunner).
        example_gen: replaces the configured ExampleGen (tests).

    Returns:
        The ``tfx.dsl.Pipeline``, named by :func:`kubeflow_pipeline_name`.
    """
    from pipeline.pipeline import beam_args_with_dependencies

    components = create_kubeflow_components(config, example_gen)
    return tfx.dsl.Pipeline(
        pipeline_name=kubeflow_pipeline_name(config.pipeline_name),
        pipeline_root=pipeline_root or config.pipeline_root,
        components=list(components.values()),
        enable_cache=config.enable_cache,
        metadata_connection_config=None,  # Kubeflow / Vertex AI bring their own ML Metadata.
        beam_pipeline_args=beam_args_with_dependencies(
            config.beam_pipeline_args if beam_pipeline_args is None else beam_pipeline_args, IMAGE_SETUP_FILE),
    )


def compile_pipeline(config: config_lib.PipelineConfig, output_file: str, image: str,
                     pipeline_root: str | None = None, beam_pipeline_args: Iterable[str] | None = None,
                     example_gen=None, display_name: str | None = None) -> str:
    """Writes the Kubeflow v2 ``PipelineJob`` JSON (``.yaml``/``.yml``: the PipelineSpec as YAML).

    Writes only ``output_file``; local paths in the configuration are logged as warnings (pods will not see
    them).

    Args:
        config: the resolved configuration (:func:`pipeline.prepare.resolve_config`).
        output_file: the file to write; its extension chooses JSON or YAML.
        image: the container image every component runs in (see ``Dockerfile``).
        pipeline_root: where the artifacts go; None: ``config.pipeline_root`` (``<output_dir>/pipeline_root``).
        beam_pipeline_args: Beam arguments of every component; None: ``config.beam_pipeline_args``.
        example_gen: replaces the configured ExampleGen (tests).
        display_name: the pipeline's display name in Kubeflow / Vertex AI; None: its name.

    Returns:
        The absolute path written.

    Raises:
        ValueError: ``image`` is empty.
        ConfigError: ``pipeline_name`` cannot be a Kubeflow name.
    """
    if not image:
        raise ValueError("image: a container image is required (see Dockerfile)")
    pipeline_root = pipeline_root or config.pipeline_root
    for item in local_paths(config, pipeline_root):
        log.warning("Kubeflow compile: %s is a local path; pods will not see it (use gs://, s3://, ...)", item)
    pipeline = create_kubeflow_pipeline(config, pipeline_root, beam_pipeline_args, example_gen)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=image,
            default_commands=list(KUBEFLOW_TFX_COMMAND),
            display_name=display_name,
            # Schema 2.1 (parameterType/parameterValues): what the KFP 2 backend and Vertex AI run.
            use_pipeline_spec_2_1=True,
        ),
    )
    defaults = {name: p.default for name, p in runtime_parameters(config).items()}
    job = runner.run(pipeline, parameter_values=defaults, write_out=False)
    # TFX's output, with the producer references KFP needs and the artifact types checked (kubeflow_spec.py).
    finish_pipeline_job(job, defaults)
    output_file = os.path.abspath(output_file)
    write_pipeline_file(job, output_file)
    return output_file


# --- command line -------------------------------------------------------------------

def compile_command(config: config_lib.PipelineConfig, args, beam_args: Sequence[str] = ()) -> int:
    """``pipeline_runner.py compile`` for a resolved ``config`` (:func:`pipeline.prepare.resolve_config`).

    Unless ``skip_inputs``, the files the pipeline reads from the output dir (curated schema, demo images) are
    written there first (:func:`pipeline.prepare.write_inputs`); then the pipeline file, and what was written
    is printed.

    Args:
        config: the resolved configuration.
        args: the parsed command line: ``output``, ``image``, ``pipeline_root`` (and optionally
            ``display_name``, ``skip_inputs``).
        beam_args: the arguments after ``--``, appended to ``config.beam_pipeline_args``.

    Returns:
        0, the exit status.
    """
    from pipeline.prepare import write_inputs

    written = [] if getattr(args, "skip_inputs", False) else write_inputs(config)
    beam_pipeline_args = list(config.beam_pipeline_args) + list(beam_args)
    path = compile_pipeline(
        config, args.output, args.image,
        pipeline_root=getattr(args, "pipeline_root", None),
        beam_pipeline_args=beam_pipeline_args,
        display_name=getattr(args, "display_name", None),
    )
    params = runtime_parameters(config)
    print(f"Wrote {path}")
    print(f"  image:              {args.image}")
    print(f"  pipeline root:      {getattr(args, 'pipeline_root', None) or config.pipeline_root}")
    print(f"  caching:            {'on' if config.enable_cache else 'off'}")
    for path in written:
        print(f"  pipeline input:     {path}")
    print("  runtime parameters: " + ", ".join(f"{name}={p.default!r}" for name, p in params.items()))
    return 0
