"""Both ExampleGens inside real TFX pipelines (LocalDagRunner + SQLite MLMD)."""

from __future__ import annotations

import glob
import json
import os

import pytest

from tests.components.helpers import read_records, read_report, run_executor
from trainer import contract

MULTIPROCESS_ARGS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def _metadata_config(tmp_path):
    from tfx.orchestration import metadata

    return metadata.sqlite_metadata_connection_config(str(tmp_path / "metadata.sqlite"))


def _run(tmp_path, components, beam_pipeline_args=None):
    from tfx import v1 as tfx

    pipeline = tfx.dsl.Pipeline(
        pipeline_name="ingest_test",
        pipeline_root=str(tmp_path / "root"),
        metadata_connection_config=_metadata_config(tmp_path),
        components=components,
        enable_cache=False,
        beam_pipeline_args=beam_pipeline_args or [],
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)


def _examples_artifacts(tmp_path):
    from tfx.orchestration import metadata

    with metadata.Metadata(_metadata_config(tmp_path)) as m:
        artifacts = m.store.get_artifacts_by_type("Examples")
        result = {}
        for artifact in artifacts:
            [event] = [e for e in m.store.get_events_by_artifact_ids([artifact.id])
                       if e.type == e.OUTPUT]
            [execution] = m.store.get_executions_by_id([event.execution_id])
            [context] = [c for c in m.store.get_contexts_by_execution(execution.id)
                         if c.type_id == m.store.get_context_type("node").id]
            result[context.name.split(".")[-1]] = artifact
        return result


def _anomalies(tmp_path, validator_id, split):
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    [path] = glob.glob(str(tmp_path / "root" / validator_id / "anomalies" / "*" /
                           f"Split-{split}" / "SchemaDiff.pb"))
    anomalies = anomalies_pb2.Anomalies()
    with open(path, "rb") as f:
        anomalies.ParseFromString(f.read())
    return anomalies


@pytest.mark.slow
def test_pipeline_with_statistics_schema_and_validation(demo_dir, tfds_data_dir, tmp_path):
    from tfx import v1 as tfx

    from components.image_folder_example_gen import ImageFolderExampleGen
    from components.schema import write_curated_schema
    from components.tfds_example_gen import TfdsExampleGen

    root, _ = demo_dir
    folder_gen = ImageFolderExampleGen(input_base=root, max_bad_fraction=0.5)
    tfds_gen = TfdsExampleGen(data_dir=tfds_data_dir)
    components = [folder_gen, tfds_gen]
    stats = {}
    for name, gen in (("folder", folder_gen), ("tfds", tfds_gen)):
        statistics = tfx.components.StatisticsGen(
            examples=gen.outputs["examples"]).with_id(f"StatisticsGen_{name}")
        schema = tfx.components.SchemaGen(
            statistics=statistics.outputs["statistics"]).with_id(f"SchemaGen_{name}")
        validator = tfx.components.ExampleValidator(
            statistics=statistics.outputs["statistics"],
            schema=schema.outputs["schema"]).with_id(f"ExampleValidator_{name}")
        components += [statistics, schema, validator]
        stats[name] = statistics
    labels = ["stripes_horizontal", "stripes_vertical"]
    for name, max_side in (("curated", 10_000), ("strict", 300)):
        schema_path = write_curated_schema(str(tmp_path / name), labels, max_side=max_side)
        imported = tfx.components.ImportSchemaGen(schema_file=schema_path).with_id(
            f"ImportSchemaGen_{name}")
        validator = tfx.components.ExampleValidator(
            statistics=stats["folder"].outputs["statistics"],
            schema=imported.outputs["schema"]).with_id(f"ExampleValidator_{name}")
        components += [imported, validator]

    _run(tmp_path, components)

    artifacts = _examples_artifacts(tmp_path)
    for node, expected_labels in ((contract.IMAGE_FOLDER_EXAMPLE_GEN_ID, labels),
                                  (contract.TFDS_EXAMPLE_GEN_ID, ["cat", "dog"])):
        artifact = artifacts[node]
        assert json.loads(artifact.custom_properties[contract.LABEL_NAMES_PROPERTY].string_value) == \
            expected_labels
        assert json.loads(artifact.properties["split_names"].string_value) == list(contract.REQUIRED_SPLITS)
        assert artifact.custom_properties["num_records"].int_value > 0
        assert os.path.exists(os.path.join(artifact.uri, contract.INGEST_REPORT_FILE))
    tfds_uri = artifacts[contract.TFDS_EXAMPLE_GEN_ID].uri
    assert [len(read_records(tfds_uri, split)) for split in contract.REQUIRED_SPLITS] == [20, 5, 5]

    for split in contract.REQUIRED_SPLITS:
        # Statistics were computed on the records (the split dirs are standard).
        assert glob.glob(str(tmp_path / "root" / "StatisticsGen_folder" / "statistics" / "*" /
                             f"Split-{split}" / "FeatureStats.pb"))
        # The curated schema accepts good data ...
        assert not _anomalies(tmp_path, "ExampleValidator_curated", split).anomaly_info
        # ... and flags images outside the expected size range.
        strict = _anomalies(tmp_path, "ExampleValidator_strict", split).anomaly_info
        assert {contract.IMAGE_HEIGHT_KEY, contract.IMAGE_WIDTH_KEY} & set(strict), dict(strict)
        # The inferred schema validates its own training data.
        if split == "train":
            assert not _anomalies(tmp_path, "ExampleValidator_folder", split).anomaly_info


@pytest.mark.slow
def test_multiprocess_direct_runner(demo_dir, demo_run, tfds_data_dir, tmp_path, capfd, monkeypatch):
    """Both ExampleGens with 2 DirectRunner worker processes: same records, same report.

    Standard error through the quiet screen's filter, as ``pipeline_runner.py run`` has it: none of the lines the
    workers print at start-up (TensorFlow's CUDA factories, the libraries' FutureWarnings, Beam's routine worker
    lines) shows.
    """
    from tfx.utils import dependency_utils

    from components.image_folder_example_gen import ImageFolderExampleGen
    from components.tfds_example_gen import TfdsExampleGen
    from pipeline.pipeline import beam_args_with_dependencies, project_setup_file
    from tests.test_pipeline_runner import NOISE
    from trainer.quiet_screen import filtered_stderr

    def packaged_tfx():
        raise AssertionError("TFX built a package of itself: the Beam arguments name no dependencies")

    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", packaged_tfx)
    root, _ = demo_dir
    capfd.readouterr()
    with filtered_stderr() as screen:
        _run(tmp_path, [ImageFolderExampleGen(input_base=root, max_bad_fraction=0.5),
                        TfdsExampleGen(data_dir=tfds_data_dir)],
             beam_pipeline_args=beam_args_with_dependencies(MULTIPROCESS_ARGS, project_setup_file()))
    assert screen.returncode == 0
    screen_lines = capfd.readouterr().err.splitlines()
    noisy = [line for line in screen_lines if NOISE.search(line)]
    assert not noisy, noisy[:20]
    artifacts = _examples_artifacts(tmp_path)
    tfds_reference = run_executor(TfdsExampleGen(data_dir=tfds_data_dir),
                                  str(tmp_path / "tfds_in_process"))
    for node, reference in ((contract.IMAGE_FOLDER_EXAMPLE_GEN_ID, demo_run[2].uri),
                            (contract.TFDS_EXAMPLE_GEN_ID, tfds_reference.uri)):
        uri = artifacts[node].uri
        for split in contract.REQUIRED_SPLITS:
            got = sorted(e.SerializeToString(deterministic=True) for e in read_records(uri, split))
            want = sorted(e.SerializeToString(deterministic=True)
                          for e in read_records(reference, split))
            assert got == want, (node, split)
        assert read_report(uri)["splits"] == read_report(reference)["splits"]
        with open(os.path.join(uri, contract.BAD_IMAGES_FILE)) as a, \
                open(os.path.join(reference, contract.BAD_IMAGES_FILE)) as b:
            assert a.read() == b.read()
