"""Test harness: executes a compiled KFP v2 ``PipelineJob`` task by task, as a KFP v2 backend would.

Not a runner (nothing outside ``tests/`` uses it, and it is not offered to
users): it exists so a test can execute exactly what ``pipeline_runner.py
compile`` wrote, without a cluster.  For each task of ``root.dag``, once the
tasks it reads from have finished (independent tasks side by side, as a KFP
backend runs them), it does what KFP's driver and launcher do for a container
task:

* resolves the task's inputs from the spec: ``runtimeValue.constant``,
  ``componentInputParameter`` (the run's parameters: the root's defaults,
  then the job's ``runtimeConfig``, then the overrides given here),
  ``taskOutputParameter`` and ``taskOutputArtifact`` (another task's outputs,
  looked up by that task's name in the DAG, as KFP does: an unknown name is
  an error);
* provisions output artifacts (a name, a URI under the pipeline root, the type
  from the component's ``outputDefinitions``), output parameter files and the
  executor-output file, and writes all that as an ``ExecutorInput``;
* substitutes ``{{$}}`` (the ``ExecutorInput`` JSON) in the container's args;
  any other ``{{$...}}`` placeholder is an error, because TFX emits none;
* runs ``lifecycle.preCacheCheck`` first when the executor has one (TFX's
  ExampleGen driver; Vertex AI runs it and copies its artifact metadata onto
  the task's outputs before the executor runs), then the container's own
  ``command`` + ``args``, each in a subprocess whose ``python`` is this
  interpreter (the project installed, as in the image);
* reads the ``ExecutorOutput`` back: output artifacts' metadata and output
  parameters, which downstream tasks then receive.

What it does not emulate: scheduling, caching, retries, ML Metadata (artifact
names are counters), object stores, the container image itself.
"""

import concurrent.futures
import itertools
import json
import os
import re
import subprocess
import sys
import time

EXECUTOR_INPUT_PLACEHOLDER = "{{$}}"
UNKNOWN_PLACEHOLDER = re.compile(r"\{\{\$[^}]*\}\}")


class SpecError(AssertionError):
    """The compiled spec is not something a KFP v2 backend could run."""


class TaskFailedError(AssertionError):
    """A task's process exited with an error."""


class PipelineRun:
    """What one execution of a compiled job did: task order, seconds and outputs per task."""

    def __init__(self, job: dict, pipeline_root: str, parameter_values: dict | None = None,
                 run_id: str = "local-run", timeout_s: float = 1200):
        self.spec = job["pipelineSpec"]
        self.tasks = self.spec["root"]["dag"]["tasks"]
        self.run_root = os.path.join(pipeline_root, self.spec["pipelineInfo"]["name"], run_id)
        self.parameters = self._run_parameters(job, parameter_values or {})
        self.timeout_s = timeout_s
        self.order: list[str] = []  # the order the tasks started in
        self.started: dict[str, float] = {}  # time.monotonic() when each task started and finished
        self.finished: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self.outputs: dict[str, dict] = {}  # task name -> {"artifacts": {...}, "parameterValues": {...}}
        self.executor_inputs: dict[str, dict] = {}
        self._artifact_ids = itertools.count(1)

    # --- the run's parameters and the DAG ----------------------------------------------

    def _run_parameters(self, job: dict, overrides: dict) -> dict:
        declared = self.spec["root"].get("inputDefinitions", {}).get("parameters", {})
        values = {name: p["defaultValue"] for name, p in declared.items() if "defaultValue" in p}
        values.update(job.get("runtimeConfig", {}).get("parameterValues", {}))
        unknown = set(overrides) - set(declared)
        if unknown:
            raise SpecError(f"not runtime parameters of this pipeline: {sorted(unknown)}")
        values.update(overrides)
        missing = [name for name, p in declared.items() if name not in values and not p.get("isOptional")]
        if missing:
            raise SpecError(f"runtime parameters without a value: {missing}")
        return values

    def producers(self, name: str) -> set:
        task = self.tasks[name]
        producers = set(task.get("dependentTasks", []))
        inputs = task.get("inputs", {})
        for spec in list(inputs.get("parameters", {}).values()) + list(inputs.get("artifacts", {}).values()):
            upstream = spec.get("taskOutputParameter") or spec.get("taskOutputArtifact")
            if upstream:
                producers.add(upstream["producerTask"])
        unknown = producers - set(self.tasks)
        if unknown:
            raise SpecError(f"task {name}: unknown producer task(s) {sorted(unknown)} in the DAG")
        return producers

    def topological_order(self) -> list[str]:
        """Tasks in dependency order (ties by name, so the order is reproducible)."""
        waiting = {name: self.producers(name) for name in self.tasks}
        order: list[str] = []
        while waiting:
            ready = sorted(name for name, needs in waiting.items() if needs <= set(order))
            if not ready:
                raise SpecError(f"the DAG has a cycle among {sorted(waiting)}")
            order.append(ready[0])
            del waiting[ready[0]]
        return order

    # --- one task ------------------------------------------------------------------------

    def _parameter_value(self, task_name: str, key: str, spec: dict):
        if "runtimeValue" in spec:
            return spec["runtimeValue"]["constant"]
        if "componentInputParameter" in spec:
            return self.parameters[spec["componentInputParameter"]]
        if "taskOutputParameter" in spec:
            upstream = spec["taskOutputParameter"]
            produced = self.outputs[upstream["producerTask"]]["parameterValues"]
            if upstream["outputParameterKey"] not in produced:
                raise SpecError(f"{task_name}.{key}: {upstream['producerTask']} has no output parameter "
                                f"{upstream['outputParameterKey']!r}")
            return produced[upstream["outputParameterKey"]]
        raise SpecError(f"{task_name}.{key}: parameter source the harness does not know: {spec}")

    def _input_artifacts(self, task_name: str, component: dict) -> dict:
        declared = component.get("inputDefinitions", {}).get("artifacts", {})
        out = {}
        for key, spec in self.tasks[task_name].get("inputs", {}).get("artifacts", {}).items():
            upstream = spec["taskOutputArtifact"]
            artifacts = self.outputs[upstream["producerTask"]]["artifacts"].get(upstream["outputArtifactKey"])
            if artifacts is None:
                raise SpecError(f"{task_name}.{key}: {upstream['producerTask']} has no output artifact "
                                f"{upstream['outputArtifactKey']!r}")
            wanted = declared[key]["artifactType"]
            for artifact in artifacts:
                if artifact["type"] != wanted:
                    raise SpecError(f"{task_name}.{key}: expects {wanted}, {upstream['producerTask']} "
                                    f"produced {artifact['type']}")
            out[key] = {"artifacts": artifacts}
        return out

    def executor_input(self, task_name: str, component: dict) -> dict:
        task, task_dir = self.tasks[task_name], os.path.join(self.run_root, task_name)
        parameters = {key: self._parameter_value(task_name, key, spec)
                      for key, spec in task.get("inputs", {}).get("parameters", {}).items()}
        declared = component.get("inputDefinitions", {}).get("parameters", {})
        missing = [k for k, p in declared.items() if k not in parameters and not p.get("isOptional")]
        if missing:
            raise SpecError(f"{task_name}: required input parameters without a value: {missing}")
        outputs = component.get("outputDefinitions", {})
        return {
            "inputs": {"parameterValues": parameters, "artifacts": self._input_artifacts(task_name, component)},
            "outputs": {
                "artifacts": {
                    key: {"artifacts": [{"name": str(next(self._artifact_ids)), "uri": os.path.join(task_dir, key),
                                         "type": definition["artifactType"], "metadata": {}}]}
                    for key, definition in outputs.get("artifacts", {}).items()
                },
                "parameters": {key: {"outputFile": os.path.join(task_dir, "parameters", key)}
                               for key in outputs.get("parameters", {})},
                "outputFile": os.path.join(task_dir, "executor_output.json"),
            },
        }

    def _execute(self, task_name: str, step: str, command: list[str], args: list[str], executor_input: dict):
        """Runs one container command with ``{{$}}`` substituted; returns its ExecutorOutput (or {})."""
        for arg in list(command) + list(args):
            if UNKNOWN_PLACEHOLDER.search(arg.replace(EXECUTOR_INPUT_PLACEHOLDER, "")):
                raise SpecError(f"{task_name}: placeholder the harness does not substitute: {arg[:200]}")
        serialized = json.dumps(executor_input)
        argv = [arg.replace(EXECUTOR_INPUT_PLACEHOLDER, serialized) for arg in list(command) + list(args)]
        task_dir = os.path.dirname(executor_input["outputs"]["outputFile"])
        _prepare_output_folders(executor_input)
        env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        with open(os.path.join(task_dir, f"{step}.log"), "w") as log:
            proc = subprocess.run(argv, cwd=task_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=self.timeout_s)
        if proc.returncode != 0:
            with open(log.name) as f:
                raise TaskFailedError(f"{task_name} ({step}) exited with {proc.returncode}:\n{f.read()[-6000:]}")
        path = executor_input["outputs"]["outputFile"]
        if not os.path.exists(path):
            return {}
        with open(path) as f:
            return json.load(f)

    def run_task(self, task_name: str) -> None:
        component = self.spec["components"][self.tasks[task_name]["componentRef"]["name"]]
        container = self.spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
        executor_input = self.executor_input(task_name, component)
        self.executor_inputs[task_name] = executor_input
        pre_cache_check = container.get("lifecycle", {}).get("preCacheCheck")
        if pre_cache_check:
            driver_output = self._execute(task_name, "driver", pre_cache_check["command"],
                                          pre_cache_check.get("args", []), executor_input)
            _merge_artifact_metadata(executor_input["outputs"]["artifacts"], driver_output.get("artifacts", {}))
        executor_output = self._execute(task_name, "executor", container["command"], container.get("args", []),
                                        executor_input)
        artifacts = executor_input["outputs"]["artifacts"]
        _merge_artifact_metadata(artifacts, executor_output.get("artifacts", {}))
        parameters = {}
        for key, spec in executor_input["outputs"]["parameters"].items():
            if key in executor_output.get("parameterValues", {}):
                parameters[key] = executor_output["parameterValues"][key]
            elif os.path.exists(spec["outputFile"]):  # the launcher's fallback: the parameter's own file
                with open(spec["outputFile"]) as f:
                    parameters[key] = f.read()
            else:
                raise SpecError(f"{task_name}: output parameter {key!r} was not produced")
        self.outputs[task_name] = {"artifacts": {k: v["artifacts"] for k, v in artifacts.items()},
                                   "parameterValues": parameters}

    def _timed_task(self, task_name: str) -> None:
        self.run_task(task_name)
        self.finished[task_name] = time.monotonic()
        self.seconds[task_name] = self.finished[task_name] - self.started[task_name]

    def run(self, parallelism: int = 2) -> "PipelineRun":
        """Starts each task once its producers have finished, up to ``parallelism`` at a time; a failed
        task stops the run (the tasks already running finish first).
        """
        waiting = {name: self.producers(name) for name in self.topological_order()}  # a cycle: SpecError
        running: dict[concurrent.futures.Future, str] = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=parallelism) as pool:
            while waiting or running:
                ready = sorted(name for name, needs in waiting.items() if needs <= set(self.finished))
                for name in ready[: parallelism - len(running)]:
                    del waiting[name]
                    self.started[name] = time.monotonic()
                    self.order.append(name)
                    running[pool.submit(self._timed_task, name)] = name
                done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    del running[future]
                    future.result()  # a task's failure, raised here
        return self


def _prepare_output_folders(executor_input: dict) -> None:
    """As the launcher does: the folder of each output parameter file, the *parent* of each output artifact."""
    outputs = executor_input["outputs"]
    folders = [os.path.dirname(outputs["outputFile"])]
    folders += [os.path.dirname(p["outputFile"]) for p in outputs["parameters"].values()]
    folders += [os.path.dirname(a["uri"]) for group in outputs["artifacts"].values() for a in group["artifacts"]]
    for folder in folders:
        os.makedirs(folder, exist_ok=True)


def _merge_artifact_metadata(provisioned: dict, produced: dict) -> None:
    """What the launcher records: the provisioned artifacts, with the metadata the process reported."""
    for key, artifact_list in produced.items():
        if key not in provisioned:
            raise SpecError(f"the process reported an artifact {key!r} the component does not declare")
        for mine, theirs in zip(provisioned[key]["artifacts"], artifact_list.get("artifacts", [])):
            mine["metadata"] = dict(mine["metadata"], **theirs.get("metadata", {}))


def artifact_uri(run: PipelineRun, task_name: str, key: str) -> str:
    [artifact] = run.outputs[task_name]["artifacts"][key]
    return artifact["uri"]
