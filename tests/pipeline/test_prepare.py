"""One pipeline definition: ``run`` and ``compile`` build the same components from the same resolved config."""

import json
import os

import pytest
from google.protobuf import json_format, message

import pipeline_runner
from pipeline import config as config_lib
from pipeline import kubeflow
from pipeline.prepare import curated_schema_path, resolve_config, write_inputs
from pipeline.progress import ProgressReporter
from tests.pipeline.helpers import IMAGE
from trainer import contract
from trainer.contract import RUNTIME_CONFIG_ID

SMALL = ["--data.demo_images_per_class", "4"]


def test_resolve_config_decides_schema_and_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    demo = resolve_config(config_lib.profile("demo", overrides={"output_dir": "out"}))
    assert demo.output_dir == str(tmp_path / "out")
    assert demo.data.schema_file == curated_schema_path(demo)
    assert os.path.dirname(os.path.dirname(demo.data.schema_file)) == str(tmp_path / "out" / "schema")
    assert os.path.basename(demo.data.schema_file) == contract.SCHEMA_FILE
    assert demo.image_dir == str(tmp_path / "out" / "demo_data")
    assert resolve_config(demo) == demo  # resolving twice changes nothing
    # Class names unknown (a user's folder, none configured): SchemaGen infers the schema.
    folder = resolve_config(config_lib.profile("demo", overrides={"data.image_dir": "/data/pets"}))
    assert folder.data.schema_file == ""
    # Known class names on a remote output dir: the curated schema goes there too.
    full = resolve_config(config_lib.profile("full", overrides={"output_dir": "gs://b/x"}))
    assert full.output_dir == "gs://b/x" and full.data.schema_file.startswith("gs://b/x/schema/")
    # Other class names (order or spelling) get another schema path: ImportSchemaGen caches by path.
    paths = {names: resolve_config(config_lib.profile("full", overrides={"training.class_names": names}))
             .data.schema_file
             for names in ("cat,dog", "dog,cat", "cat,dgo")}
    assert len(set(paths.values())) == 3
    assert paths["cat,dog"] == resolve_config(config_lib.profile("full", overrides={})).data.schema_file
    # A schema the user gives is kept.
    given = resolve_config(config_lib.profile("full", overrides={"data.schema_file": "/s/schema.pbtxt"}))
    assert given.data.schema_file == "/s/schema.pbtxt"
    assert not os.path.exists(tmp_path / "out")  # resolving writes nothing


def test_resolve_config_makes_a_local_weights_file_absolute_and_checks_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "b.weights.h5").write_bytes(b"")
    weights = resolve_config(config_lib.profile("demo", overrides={"training.backbone_weights": "b.weights.h5"}))
    assert weights.training.backbone_weights == str(tmp_path / "b.weights.h5")
    remote = resolve_config(config_lib.profile("full", overrides={"training.backbone_weights": "gs://b/r.keras"}))
    assert remote.training.backbone_weights == "gs://b/r.keras"  # read by the Trainer, wherever it runs
    with pytest.raises(config_lib.ConfigError) as info:
        resolve_config(config_lib.profile("demo", overrides={"training.backbone_weights": "absent.weights.h5"}))
    assert info.value.field == "training.backbone_weights"
    assert f"{tmp_path / 'absent.weights.h5'} does not exist" in str(info.value)


def test_write_inputs_writes_what_the_resolved_config_reads(tmp_path):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    config = resolve_config(config_lib.profile("demo", overrides={
        "output_dir": str(tmp_path), "data.demo_images_per_class": 4}))
    written = write_inputs(config)
    assert written == [str(tmp_path / "demo_data.json"), curated_schema_path(config)]
    schema = text_format.Parse(open(config.data.schema_file).read(), schema_pb2.Schema())
    label_names = {f.name: f for f in schema.feature}[contract.LABEL_NAME_KEY]
    assert list(label_names.string_domain.value) == sorted(os.listdir(config.image_dir))
    assert len(os.listdir(os.path.join(config.image_dir, "stripes_horizontal"))) >= 4
    # A finished demo set is not generated again.
    stamp = os.path.getmtime(written[0])
    assert write_inputs(config)[0] == written[0] and os.path.getmtime(written[0]) == stamp


# --- run and compile build the same pipeline ------------------------------------------------------

class CapturingRunner:
    """Stands in for LocalDagRunner: keeps the pipeline ``run`` would run."""

    def __init__(self):
        self.pipeline = None

    def run(self, pipeline):
        self.pipeline = pipeline


def _plain(value):
    """An execution property as comparable data: JSON strings parsed, numbers as floats, and proto JSON
    field names in one spelling (TFX writes ``metrics_specs``, ``MessageToJson`` ``metricsSpecs``).
    """
    if isinstance(value, str):
        try:
            return _plain(json.loads(value))
        except json.JSONDecodeError:
            return value
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        return {k.replace("_", "").lower(): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _same(compiled, local):
    """The compiled spec's value (JSON for protos) equals the local component's."""
    if isinstance(local, message.Message):
        return json_format.Parse(compiled, type(local)()) == local
    return _plain(compiled) == _plain(local)


@pytest.fixture(scope="module", params=["demo", "full"])
def both_pipelines(request, tmp_path_factory):
    """The pipeline ``run`` builds and the job ``compile`` writes, for one profile and the same options."""
    root = tmp_path_factory.mktemp(f"one_pipeline_{request.param}")
    options = ["--profile", request.param, "--output-dir", str(root / "out"), *SMALL]
    runner = CapturingRunner()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline_runner, "make_runner", lambda config: runner)
        mp.setattr(pipeline_runner, "quiet_logs", lambda verbose: ProgressReporter())
        assert pipeline_runner.main(["run", *options]) == 0
    job_file = root / "pipeline.json"
    assert pipeline_runner.main(["compile", "--output", str(job_file), "--image", IMAGE, *options]) == 0
    with open(job_file) as f:
        job = json.load(f)
    config = resolve_config(config_lib.profile(request.param, overrides={
        "output_dir": str(root / "out"), "data.demo_images_per_class": "4"}))
    return config, {c.id: c for c in runner.pipeline.components}, job


def test_same_components(both_pipelines):
    config, local, job = both_pipelines
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    # Excluded: RuntimeConfig, the Kubeflow-only step that applies the run's parameters (see pipeline/kubeflow.py).
    assert set(tasks) - {RUNTIME_CONFIG_ID} == set(local)
    schema_gen = contract.IMPORT_SCHEMA_GEN_ID  # both profiles know their class names
    assert schema_gen in local and local[schema_gen].exec_properties["schema_file"] == config.data.schema_file


def test_same_wiring(both_pipelines):
    _, local, job = both_pipelines
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    for node_id, component in local.items():
        task = tasks[node_id]
        compiled_inputs = {key: (spec["taskOutputArtifact"]["producerTask"],
                                 spec["taskOutputArtifact"]["outputArtifactKey"])
                           for key, spec in task["inputs"].get("artifacts", {}).items()}
        local_inputs = {key: (channel.producer_component_id, channel.output_key)
                        for key, channel in component.inputs.items()}
        assert compiled_inputs == local_inputs, node_id
        # Excluded: the dependency on RuntimeConfig (Kubeflow only).
        upstream = set(task.get("dependentTasks", [])) - {RUNTIME_CONFIG_ID}
        assert upstream == {node.id for node in component.upstream_nodes}, node_id


def test_same_execution_properties(both_pipelines):
    """Every property equal, the dynamic ones once resolved with the compiled defaults.

    Excluded as constants, because Kubeflow can only substitute a run's
    parameter for a whole property: the Trainers' ``custom_config`` are outputs
    of the RuntimeConfig step, and the TfdsExampleGen's ``splits`` and the
    PairedComparison's ``accuracy_margin`` are runtime parameters.  Their values are
    compared instead by resolving them as a run without parameter overrides
    would.  No path is excluded: both commands got the same ``--output-dir``
    and the compiled pipeline root defaults to the local one.  The compiled
    spec writes numbers as floats and protos as JSON; :func:`_same` reads
    both sides the same way.
    """
    config, local, job = both_pipelines
    spec = job["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    defaults = {name: p["defaultValue"] for name, p in spec["root"]["inputDefinitions"]["parameters"].items()}
    resolver = {k: v["runtimeValue"]["constant"] for k, v in tasks[RUNTIME_CONFIG_ID]["inputs"]["parameters"].items()
                if "runtimeValue" in v}
    resolved = kubeflow.resolve_runtime_config(resolver["pipeline_config"], resolver["code_fingerprint"],
                                               defaults[kubeflow.EPOCHS])
    assert config_lib.PipelineConfig.from_dict(json.loads(resolver["pipeline_config"])) == config
    checked = set()
    for node_id, component in local.items():
        parameters = tasks[node_id]["inputs"].get("parameters", {})
        for name, value in component.exec_properties.items():
            compiled = parameters.get(name)
            if compiled is None:
                assert value is None, (node_id, name)
                continue
            if "taskOutputParameter" in compiled:
                compiled_value = resolved[compiled["taskOutputParameter"]["outputParameterKey"]]
            elif "componentInputParameter" in compiled:
                compiled_value = defaults[compiled["componentInputParameter"]]
            else:
                compiled_value = compiled["runtimeValue"]["constant"]
            assert _same(compiled_value, value), (node_id, name, compiled_value, value)
            checked.add((node_id, name))
        assert set(parameters) <= set(component.exec_properties), node_id
    example_gen = contract.TFDS_EXAMPLE_GEN_ID if config.data.source == "tfds" else contract.IMAGE_FOLDER_EXAMPLE_GEN_ID
    assert {(contract.trainer_id(arm), "custom_config") for arm in config.training.arms} <= checked
    assert {(contract.EVALUATOR_ID, "eval_config"), (contract.PAIRED_COMPARISON_ID, "accuracy_margin"),
            (contract.TRANSFORM_ID, "custom_config"),
            (contract.PUSHER_ID, "push_destination"), (contract.IMPORT_SCHEMA_GEN_ID, "schema_file"),
            (example_gen, "max_pixels"), (contract.COMPARISON_REPORT_ID, "report_dir"),
            (contract.MODEL_CARD_ID, "model_name"), (contract.MODEL_CARD_ID, "data_note")} <= checked
    dynamic = {tasks[contract.trainer_id(arm)]["inputs"]["parameters"]["custom_config"]["taskOutputParameter"][
        "outputParameterKey"] for arm in config.training.arms}
    assert dynamic == {kubeflow.custom_config_output(arm) for arm in config.training.arms}


def test_same_beam_arguments(both_pipelines):
    config, local, job = both_pipelines
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
    for node_id in local:
        args = executors[f"{node_id}_executor"]["container"]["args"]
        for beam_arg in config.beam_pipeline_args:
            assert beam_arg in args, (node_id, beam_arg)
