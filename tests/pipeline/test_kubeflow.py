"""Compiling the pipeline for Kubeflow v2: the JSON, its runtime parameters, caching, no network."""

import json
import os
import socket

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

import pipeline_runner
from pipeline import config as config_lib
from pipeline import kubeflow
from tests.pipeline.helpers import IMAGE, ROOT, compile_offline, no_network
from trainer import contract
from trainer.contract import ALL_ARMS, LEARNABLE_RESIZER_ARM, RUNTIME_CONFIG_ID

LEARNABLE_TRAINER_ID = contract.trainer_id(LEARNABLE_RESIZER_ARM)


def test_parses_as_pipeline_job_and_spec(compiled):
    _, job = compiled
    parsed = json_format.ParseDict(job, pipeline_spec_pb2.PipelineJob())
    spec = json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    assert spec.schema_version == "2.1.0"
    assert spec.pipeline_info.name == "resizer-tfx"
    assert parsed.runtime_config.gcs_output_directory == ROOT


def test_every_component_runs_in_the_image_with_tfx_entrypoint(compiled):
    from pipeline.pipeline import create_components

    config, job = compiled
    spec = job["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    expected = set(create_components(config)) | {RUNTIME_CONFIG_ID}
    assert set(tasks) == expected
    executors = spec["deploymentSpec"]["executors"]
    for name in expected:
        executor = spec["components"][tasks[name]["componentRef"]["name"]]["executorLabel"]
        container = executors[executor]["container"]
        assert container["image"] == IMAGE
        assert container["command"] == list(kubeflow.KUBEFLOW_TFX_COMMAND)
        assert "--direct_num_workers=3" in container["args"] and "--extra=x" in container["args"]
        # A setup file for the pod's DirectRunner: TFX builds no package of itself in each pod.
        assert "--setup_file=./setup.py" in container["args"]
    # Module code by dotted path: nothing to upload, importable from the image.
    trainer_args = executors[f"{LEARNABLE_TRAINER_ID}_executor"]["container"]["args"]
    assert "components.training_components.TrainerExecutor" in trainer_args  # TFX's GenericExecutor, subclassed
    assert contract.RUN_FN in json.dumps(tasks[LEARNABLE_TRAINER_ID])
    # Every Trainer reads the images DecodeImages decoded once.
    trainer_inputs = tasks[LEARNABLE_TRAINER_ID]["inputs"]["artifacts"]
    assert trainer_inputs[contract.DECODED_IMAGES_INPUT]["taskOutputArtifact"]["producerTask"] == \
        contract.DECODE_IMAGES_ID
    assert contract.PREPROCESSING_FN in json.dumps(tasks[contract.TRANSFORM_ID])
    # Transform waits for the DataGate, which reads the ExampleValidator's anomalies and the examples' label names.
    assert contract.DATA_GATE_ID in tasks[contract.TRANSFORM_ID]["dependentTasks"]
    gate_inputs = tasks[contract.DATA_GATE_ID]["inputs"]["artifacts"]
    assert gate_inputs["anomalies"]["taskOutputArtifact"]["producerTask"] == contract.EXAMPLE_VALIDATOR_ID
    assert json.loads(tasks[contract.DATA_GATE_ID]["inputs"]["parameters"]["class_names"]["runtimeValue"]
                      ["constant"]) == list(config.training.class_names)


def test_the_image_setup_file_is_where_the_dockerfile_copies_setup_py():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(repo, "Dockerfile")) as f:
        lines = [line.split() for line in f if line.strip() and not line.startswith("#")]
    [workdir] = [line[1] for line in lines if line[0] == "WORKDIR"]
    assert any(line[0] == "COPY" and "setup.py" in line[1:-1] and line[-1] == "./" for line in lines)
    assert kubeflow.IMAGE_SETUP_FILE == f"{workdir}/setup.py"


def test_another_runner_gets_the_images_setup_file():
    config = config_lib.profile("demo", overrides={"output_dir": "gs://bucket/resizer"})
    remote = ["--runner=DataflowRunner", "--project=p", "--region=r"]
    pipeline = kubeflow.create_kubeflow_pipeline(config, beam_pipeline_args=remote)
    assert pipeline.beam_pipeline_args == [f"--setup_file={kubeflow.IMAGE_SETUP_FILE}", *remote]


def test_caching_options_follow_the_config(compiled, tmp_path):
    config, job = compiled
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    assert config.enable_cache
    assert all(task.get("cachingOptions", {}).get("enableCache") is True for task in tasks.values())
    off = config_lib.with_overrides(config, {"enable_cache": "false"})
    with open(compile_offline(off, str(tmp_path / "off.json"))) as f:
        tasks_off = json.load(f)["pipelineSpec"]["root"]["dag"]["tasks"]
    assert not any(task.get("cachingOptions", {}).get("enableCache") for task in tasks_off.values())


def test_runtime_parameters(compiled):
    config, job = compiled
    spec = job["pipelineSpec"]
    params = spec["root"]["inputDefinitions"]["parameters"]
    expected = {
        "epochs": ("NUMBER_INTEGER", config.training.epochs),
        "accuracy_margin": ("NUMBER_DOUBLE", config.evaluation.accuracy_margin),
    }
    if config.data.source == "tfds":
        expected["tfds_splits"] = ("STRING", json.dumps(dict(config.data.tfds_splits)))
    assert set(params) == set(expected)
    for name, (ptype, default) in expected.items():
        assert params[name]["parameterType"] == ptype
        assert params[name]["defaultValue"] == default
        assert job["runtimeConfig"]["parameterValues"][name] == default
    tasks = spec["root"]["dag"]["tasks"]
    resolver = tasks[RUNTIME_CONFIG_ID]["inputs"]["parameters"]
    assert resolver["epochs"] == {"componentInputParameter": "epochs"}
    assert "accuracy_margin" not in resolver
    gate = tasks[contract.PAIRED_COMPARISON_ID]["inputs"]["parameters"]
    assert gate["accuracy_margin"] == {"componentInputParameter": "accuracy_margin"}
    # Every arm's Trainer (the full profile adds bilinear_antialias), its custom_config from RuntimeConfig.
    trainers = {task for task in tasks if task.startswith("Trainer_")}
    assert trainers == {contract.trainer_id(a) for a in config.training.arms}
    for arm in config.training.arms:
        custom = tasks[contract.trainer_id(arm)]["inputs"]["parameters"]["custom_config"]
        assert custom["taskOutputParameter"] == {
            "producerTask": RUNTIME_CONFIG_ID, "outputParameterKey": kubeflow.custom_config_output(arm)}
        assert RUNTIME_CONFIG_ID in tasks[contract.trainer_id(arm)]["dependentTasks"]
    # The Evaluator has no thresholds, so nothing of it depends on the run's parameters.
    assert "runtimeValue" in tasks[contract.EVALUATOR_ID]["inputs"]["parameters"]["eval_config"]
    if config.data.source == "tfds":
        splits = tasks[contract.TFDS_EXAMPLE_GEN_ID]["inputs"]["parameters"]["splits"]
        assert splits == {"componentInputParameter": "tfds_splits"}


def test_yaml_output_is_a_pipeline_spec_with_defaults(tmp_path):
    import yaml

    config = config_lib.profile("full", overrides={"output_dir": "gs://bucket/resizer"})
    with open(compile_offline(config, str(tmp_path / "p.yaml"))) as f:
        spec = yaml.safe_load(f)
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    assert spec["root"]["inputDefinitions"]["parameters"]["epochs"]["defaultValue"] == config.training.epochs


def test_resolve_runtime_config_applies_and_validates():
    config = config_lib.profile("full")
    assert config_lib.PipelineConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    out = kubeflow.resolve_runtime_config(json.dumps(config.to_dict()), "fp", 3)
    assert set(out) == {kubeflow.custom_config_output(arm) for arm in ALL_ARMS}
    for arm in ALL_ARMS:
        custom = json.loads(out[kubeflow.custom_config_output(arm)])
        assert custom == config.training.replace(epochs=3).for_arm(arm).to_custom_config("fp")
    with pytest.raises(config_lib.ConfigError, match="epochs"):
        kubeflow.resolve_runtime_config(json.dumps(config.to_dict()), "fp", 0)


def test_runtime_config_step_through_the_container_entrypoint(compiled, tmp_path):
    """Runs the compiled RuntimeConfig step the way the KFP v2 launcher does (ExecutorInput -> ExecutorOutput)."""
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    config, job = compiled
    spec = job["pipelineSpec"]
    task = spec["root"]["dag"]["tasks"][RUNTIME_CONFIG_ID]
    component = spec["components"][task["componentRef"]["name"]]
    container = spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
    values = {k: v["runtimeValue"]["constant"] for k, v in task["inputs"]["parameters"].items()
              if "runtimeValue" in v}
    values.update(epochs=2)  # what the run's parameter would be
    outputs = component["outputDefinitions"]
    executor_input = {
        "inputs": {"parameterValues": values},
        "outputs": {
            "artifacts": {
                key: {"artifacts": [{"name": key, "uri": str(tmp_path / key),
                                     "type": definition["artifactType"]}]}
                for key, definition in outputs["artifacts"].items()
            },
            "parameters": {key: {"outputFile": str(tmp_path / f"{key}.param")} for key in outputs["parameters"]},
            "outputFile": str(tmp_path / "executor_output.json"),
        },
    }
    args = [json.dumps(executor_input) if a == "{{$}}" else a for a in container["args"]]
    kubeflow_v2_run_executor.main(kubeflow_v2_run_executor._parse_flags(args))
    with open(tmp_path / "executor_output.json") as f:
        produced = json.load(f)["parameterValues"]
    for arm in config.training.arms:
        custom = json.loads(produced[kubeflow.custom_config_output(arm)])[contract.TRAINING_CONFIG_KEY]
        assert custom["epochs"] == 2 and custom["arm"] == arm


def test_compile_command_prints_summary(tmp_path, capsys, monkeypatch):
    out = tmp_path / "job.json"
    argv = ["compile", "--output", str(out), "--image", IMAGE, "--pipeline-root", ROOT, "--skip-inputs",
            "--output-dir", "gs://bucket/resizer", "--data.image_dir", "gs://bucket/images"]
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert pipeline_runner.main(argv + ["--", "--runner=DataflowRunner"]) == 0
    printed = capsys.readouterr().out
    epochs = config_lib.profile("demo").training.epochs
    assert str(out) in printed and f"epochs={epochs}" in printed and "pipeline input" not in printed
    with open(out) as f:
        job = json.load(f)
    args_ = job["pipelineSpec"]["deploymentSpec"]["executors"][f"{contract.TRANSFORM_ID}_executor"]["container"]["args"]
    assert "--runner=DataflowRunner" in args_


def test_image_is_required(tmp_path):
    with pytest.raises(ValueError, match="image"):
        kubeflow.compile_pipeline(config_lib.profile("demo"), str(tmp_path / "x.json"), "")


def test_kubeflow_pipeline_name():
    assert kubeflow.kubeflow_pipeline_name("resizer_tfx") == "resizer-tfx"
    with pytest.raises(config_lib.ConfigError):
        kubeflow.kubeflow_pipeline_name("_bad")


def test_the_control_experiment_compiles_with_its_first_trainer(tmp_path):
    from pipeline.prepare import resolve_config

    config = resolve_config(config_lib.profile("demo", overrides={"output_dir": "gs://bucket/resizer",
                                                                  "training.warm_start_epochs": 2}))
    with open(compile_offline(config, str(tmp_path / "control.json"))) as f:
        tasks = json.load(f)["pipelineSpec"]["root"]["dag"]["tasks"]
    assert contract.WARM_START_TRAINER_ID in tasks
    for arm in config.training.arms:
        base_model = tasks[contract.trainer_id(arm)]["inputs"]["artifacts"]["base_model"]["taskOutputArtifact"]
        assert base_model["producerTask"] == contract.WARM_START_TRAINER_ID


def test_the_hyperparameter_search_compiles_with_a_tuner_per_arm(tmp_path):
    from pipeline.prepare import resolve_config

    config = resolve_config(config_lib.profile("demo", overrides={"output_dir": "gs://bucket/resizer",
                                                                  "tuning.trials": 3}))
    with open(compile_offline(config, str(tmp_path / "tuned.json"))) as f:
        spec = json.load(f)["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    for arm in config.training.arms:
        tuner = tasks[contract.tuner_id(arm)]
        custom = json.loads(tuner["inputs"]["parameters"]["custom_config"]["runtimeValue"]["constant"])
        assert custom[contract.TUNING_CONFIG_KEY]["trials"] == 3
        assert custom[contract.TRAINING_CONFIG_KEY]["arm"] == arm
        hyperparameters = tasks[contract.trainer_id(arm)]["inputs"]["artifacts"]["hyperparameters"]
        assert hyperparameters["taskOutputArtifact"] == {
            "producerTask": contract.tuner_id(arm), "outputArtifactKey": contract.TUNER_BEST_HYPERPARAMETERS_OUTPUT}
    # The Trainers' custom_config comes from the RuntimeConfig step, which carries the search too.
    out = kubeflow.resolve_runtime_config(json.dumps(config.to_dict()), "fp", 2)
    custom = json.loads(out[kubeflow.custom_config_output(LEARNABLE_RESIZER_ARM)])
    assert custom[contract.TUNING_CONFIG_KEY] == config.tuning.to_dict()
    assert custom[contract.TRAINING_CONFIG_KEY]["epochs"] == 2


def test_the_servability_check_runs_before_the_pusher(compiled):
    _, job = compiled
    spec = job["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    check = tasks[contract.SERVABILITY_CHECK_ID]
    executor = spec["components"][check["componentRef"]["name"]]["executorLabel"]
    args = spec["deploymentSpec"]["executors"][executor]["container"]["args"]
    assert any("components.servability_check.Executor" in a for a in args), args
    inputs = check["inputs"]["artifacts"]
    assert inputs["model_blessing"]["taskOutputArtifact"]["producerTask"] == contract.PAIRED_COMPARISON_ID
    infra = tasks[contract.PUSHER_ID]["inputs"]["artifacts"]["infra_blessing"]["taskOutputArtifact"]
    assert infra == {"producerTask": contract.SERVABILITY_CHECK_ID, "outputArtifactKey": "blessing"}
