"""What ``compile`` does to the PipelineJob TFX's ``KubeflowV2DagRunner`` returns, before writing it.

* :func:`add_parameter_defaults`: each runtime parameter's default in the
  root's ``inputDefinitions``, so a ``.yaml`` PipelineSpec runs without values.
* :func:`point_producers_at_tasks`: TFX 1.16 names the producer of a dynamic
  execution property (``channel.future()[0].value``, how the Trainers and the
  Evaluator read the RuntimeConfig step's outputs) ``<node id>_task``, while
  the DAG's task is ``<node id>``.  KFP's backend looks the producer up by task
  name and rejects the job (``unknown producer task "RuntimeConfig_task" in
  DAG``); this points each such reference at the task.
* :func:`check_artifact_types`: TFX's container rebuilds every artifact from
  its type's schema title, mapping ``tfx.*`` titles to TFX's classes and
  importing any other title as ``<module>.<class>``.  A custom type whose
  name does not import that way compiles, then fails its tasks on the
  cluster; this makes it fail the compile instead.
"""

import os
from collections.abc import Iterator

PRODUCER_SUFFIX = "_task"  # what TFX's step builder appends to a node id


def add_parameter_defaults(pipeline_spec: dict, defaults: dict[str, object]) -> dict:
    """Writes each runtime parameter's default into the root's ``inputDefinitions``.

    TFX's compiler puts defaults only into the PipelineJob's ``runtimeConfig``,
    which a ``.yaml`` PipelineSpec (what the KFP 2 UI/client upload) does not
    carry; with ``defaultValue`` there, a run needs no parameter values at all.
    """
    parameters = pipeline_spec["root"].setdefault("inputDefinitions", {}).setdefault("parameters", {})
    for name, value in defaults.items():
        spec = parameters.setdefault(name, {})
        spec["defaultValue"] = value
        spec["isOptional"] = True
    return pipeline_spec


def point_producers_at_tasks(pipeline_spec: dict) -> dict:
    """Every ``taskOutputParameter``/``taskOutputArtifact`` names a task of the DAG (see the module docstring)."""
    tasks = pipeline_spec["root"]["dag"]["tasks"]
    for name, task in tasks.items():
        inputs = task.get("inputs", {})
        for key, spec in [*inputs.get("parameters", {}).items(), *inputs.get("artifacts", {}).items()]:
            upstream = spec.get("taskOutputParameter") or spec.get("taskOutputArtifact")
            if not upstream or upstream["producerTask"] in tasks:
                continue
            producer = upstream["producerTask"]
            if producer.endswith(PRODUCER_SUFFIX) and producer[:-len(PRODUCER_SUFFIX)] in tasks:
                upstream["producerTask"] = producer[:-len(PRODUCER_SUFFIX)]
            else:
                raise ValueError(f"task {name}, input {key}: producer task {producer!r} is not in the DAG")
    return pipeline_spec


def artifact_type_titles(pipeline_spec: dict) -> Iterator[tuple[str, str]]:
    """(where, schema title) of every artifact a component declares."""
    import yaml

    for component_name, component in pipeline_spec["components"].items():
        for direction in ("inputDefinitions", "outputDefinitions"):
            for key, definition in component.get(direction, {}).get("artifacts", {}).items():
                artifact_type = definition["artifactType"]
                title = artifact_type.get("schemaTitle") or yaml.safe_load(artifact_type["instanceSchema"])["title"]
                yield f"{component_name}.{key}", title


def check_artifact_types(pipeline_spec: dict) -> None:
    """Raises ValueError unless every artifact type's title gives back its class the way TFX's container does it."""
    from tfx.orchestration.kubeflow.v2 import compiler_utils
    from tfx.utils import import_utils

    for where, title in artifact_type_titles(pipeline_spec):
        if title in compiler_utils.TITLE_TO_CLASS_PATH:
            continue
        try:
            artifact_class = import_utils.import_class_by_path(title)
        except ImportError as error:
            raise ValueError(f"{where}: artifact type {title!r} does not import as <module>.<class>, so TFX's "
                             "container cannot rebuild it; make the type's TYPE_NAME its import path") from error
        if getattr(artifact_class, "TYPE_NAME", None) != title:
            raise ValueError(f"{where}: {title!r} imports {artifact_class!r}, whose TYPE_NAME is not {title!r}")


def finish_pipeline_job(job: dict, defaults: dict[str, object]) -> dict:
    """The PipelineJob ``compile`` writes: TFX's, with the additions and checks above."""
    spec = job["pipelineSpec"]
    add_parameter_defaults(spec, defaults)
    point_producers_at_tasks(spec)
    check_artifact_types(spec)
    return job


def write_pipeline_file(job: dict, path: str) -> str:
    """``.yaml``/``.yml``: the PipelineSpec (KFP 2 client/UI); otherwise the PipelineJob JSON (Vertex AI)."""
    import json

    import yaml

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        if path.endswith((".yaml", ".yml")):
            f.write(f"# PIPELINE DEFINITION\n# Name: {job['pipelineSpec']['pipelineInfo']['name']}\n")
            yaml.safe_dump(job["pipelineSpec"], f, sort_keys=True)
        else:
            json.dump(job, f, indent=2, sort_keys=True)
    return path
