"""Adding an ingestion source is one file and its test: the table of sources and the shared executor.

The source below (a CSV manifest of ``path,label`` lines, split by path hash)
is registered in the table from this file alone; the configuration accepts
it and checks only its own split settings, the pipeline builds its
component, the Kubeflow compile asks it for its parameters, and the shared
executor ingests it with the same records and reports as the built-in ones.
"""

import json
import os

import apache_beam as beam
import numpy as np
import pytest
from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components import _ingest, image_records, sources, splits
from pipeline import config as config_lib
from tests.components.helpers import feature, jpeg_bytes, read_bad_rows, read_records, read_report, run_executor
from trainer import contract

# --- the source: what a new source file holds ------------------------------------------------------

MANIFEST_ID = "ManifestExampleGen"
MANIFEST_KEY = "manifest"
SPLIT_BUCKETS_KEY = "split_buckets"


def _read_item(planned):
    split, rel, label, label_name, path = planned
    try:
        with open(path, "rb") as f:
            return _ingest.IngestItem(split, rel, label, label_name, f.read())
    except OSError as error:
        return _ingest.IngestItem(split, rel, label, label_name, None, image_records.UNREADABLE,
                                  type(error).__name__)


@beam.ptransform_fn
def _read_manifest(pbegin, planned):
    return pbegin | "Planned" >> beam.Create(planned) | "Read" >> beam.Map(_read_item)


class ManifestExecutor(_ingest.IngestExecutor):
    COMPONENT_ID = MANIFEST_ID

    def plan(self, exec_properties):
        manifest = exec_properties[MANIFEST_KEY]
        buckets = splits.parse_split_buckets(json.loads(exec_properties[SPLIT_BUCKETS_KEY]))
        with open(manifest) as f:
            rows = [line.strip().split(",") for line in f if line.strip()]
        label_names = sorted({label for _, label in rows})
        base = os.path.dirname(manifest)
        planned = [(splits.assign_split(rel, buckets), rel, label_names.index(label), label, os.path.join(base, rel))
                   for rel, label in rows]
        return _ingest.IngestPlan(source=manifest, label_names=label_names, split_names=[n for n, _ in buckets],
                                  read=_read_manifest(planned), report_extra={"split_buckets": dict(buckets)})


class ManifestExampleGenSpec(types.ComponentSpec):
    PARAMETERS = {MANIFEST_KEY: ExecutionParameter(type=str), SPLIT_BUCKETS_KEY: ExecutionParameter(type=str),
                  **_ingest.ingest_parameters()}
    INPUTS = {}
    OUTPUTS = {_ingest.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


class ManifestExampleGen(base_beam_component.BaseBeamComponent):
    SPEC_CLASS = ManifestExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(ManifestExecutor)

    def __init__(self, manifest, split_buckets, max_pixels, max_bad_fraction):
        super().__init__(spec=ManifestExampleGenSpec(
            manifest=manifest, split_buckets=json.dumps(split_buckets), max_pixels=max_pixels,
            max_bad_fraction=max_bad_fraction, examples=types.Channel(type=standard_artifacts.Examples)))


def manifest_from_config(config):
    data = config.data
    return ManifestExampleGen(data.image_dir, dict(data.split_buckets), data.max_pixels,
                              data.max_bad_fraction).with_id(MANIFEST_ID)


MANIFEST_SOURCE = sources.IngestSource(
    name="manifest", component_id=MANIFEST_ID, split_field="split_buckets",
    parse_splits=lambda value: dict(splits.parse_split_buckets(value)), component=manifest_from_config,
    input_locations=lambda config: {"data.image_dir": config.data.image_dir})

# --- its test ---------------------------------------------------------------------------------------


@pytest.fixture
def manifest_source(monkeypatch):
    monkeypatch.setitem(sources.SOURCES, MANIFEST_SOURCE.name, MANIFEST_SOURCE)
    return MANIFEST_SOURCE


def _config(**overrides):
    return config_lib.demo_profile(**{"data.source": "manifest", "data.image_dir": "/data/manifest.csv",
                                      **overrides})


def test_the_config_checks_a_new_source_against_its_own_split_settings_only(manifest_source):
    # tfds_splits that would fail a TFDS run are not this source's business...
    config = _config(**{"data.tfds_splits": {"train": "train[:50%]"}})
    assert config.data.source == "manifest"
    # ...its own split_buckets are.
    with pytest.raises(config_lib.ConfigError, match=r"data\.split_buckets: needs exactly the splits"):
        _config(**{"data.split_buckets": {"train": 1, "test": 1}})


def test_the_pipeline_and_the_kubeflow_compile_take_a_new_source_from_the_table(manifest_source):
    from pipeline import kubeflow
    from pipeline.pipeline import make_example_gen

    config = _config()
    example_gen = make_example_gen(config)
    assert isinstance(example_gen, ManifestExampleGen) and example_gen.id == MANIFEST_ID
    assert example_gen.exec_properties[MANIFEST_KEY] == "/data/manifest.csv"
    assert set(kubeflow.runtime_parameters(config)) == {kubeflow.EPOCHS, kubeflow.ACCURACY_MARGIN}
    assert "data.image_dir=/data/manifest.csv" in kubeflow.local_paths(config, "gs://b/root")


def test_an_unknown_source_is_refused_naming_the_known_ones():
    with pytest.raises(config_lib.ConfigError, match=r"data\.source: unknown ingestion source 'csv'; known: "
                                                     r"image_folder, tfds"):
        config_lib.demo_profile(**{"data.source": "csv"})
    with pytest.raises(ValueError, match="unknown ingestion source 'no such'"):
        sources.get_source("no such")


def test_the_shared_executor_ingests_a_new_source_with_records_and_reports(manifest_source, tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for i in range(12):
        name = f"img_{i:02d}.jpg"
        (tmp_path / name).write_bytes(jpeg_bytes(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)))
        lines.append(f"{name},{'cat' if i % 2 else 'dog'}")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    lines += ["broken.jpg,cat", "missing.jpg,dog"]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    config = _config(**{"data.image_dir": str(manifest), "data.max_bad_fraction": 0.5,
                        "data.split_buckets": {"train": 1, "validation": 1, "test": 1}})
    component = sources.get_source("manifest").build_component(config)

    examples = run_executor(component, str(tmp_path / "out"))

    per_split = {name: read_records(examples.uri, name) for name in contract.REQUIRED_SPLITS}
    buckets = list(config.data.split_buckets.items())
    for split, records in per_split.items():
        names = sorted(feature(r, contract.FILENAME_KEY).decode() for r in records)
        assert names == sorted(f"img_{i:02d}.jpg" for i in range(12)
                               if splits.assign_split(f"img_{i:02d}.jpg", buckets) == split)
        for record in records:
            i = int(feature(record, contract.FILENAME_KEY).decode()[4:6])
            assert feature(record, contract.LABEL_NAME_KEY).decode() == ("cat" if i % 2 else "dog")
            assert feature(record, contract.LABEL_KEY) == (0 if i % 2 else 1)
    with open(os.path.join(examples.uri, contract.LABEL_NAMES_FILE)) as f:
        assert f.read().split() == ["cat", "dog"]
    report = read_report(examples.uri)
    assert report["component"] == MANIFEST_ID and report["source"] == str(manifest)
    assert report["totals"]["files_in"] == 14 and report["totals"]["records_out"] == 12
    assert report["totals"]["skipped_by_reason"] == {image_records.NOT_AN_IMAGE: 1, image_records.UNREADABLE: 1}
    assert {(row["path"], row["outcome"], row["reason"]) for row in read_bad_rows(examples.uri)} == {
        ("broken.jpg", image_records.SKIPPED, image_records.NOT_AN_IMAGE),
        ("missing.jpg", image_records.SKIPPED, image_records.UNREADABLE)}
    assert json.loads(examples.get_string_custom_property(contract.LABEL_NAMES_PROPERTY)) == ["cat", "dog"]


def test_compiles_for_kubeflow_v2(tmp_path):
    """Parameters serialize: both ExampleGens compile into a Kubeflow (Vertex) pipeline spec."""
    from tfx import v1 as tfx

    from components.image_folder_example_gen import ImageFolderExampleGen
    from components.tfds_example_gen import TfdsExampleGen

    folder_gen = ImageFolderExampleGen(input_base="gs://bucket/images",
                                       split_buckets={"train": 9, "eval": 1})
    tfds_gen = TfdsExampleGen(data_dir="gs://bucket/tfds",
                              splits={"train": "train[:90%]", "eval": "train[90%:95%]",
                                      "test": "train[95%:]"})
    statistics = tfx.components.StatisticsGen(examples=tfds_gen.outputs["examples"])
    pipeline = tfx.dsl.Pipeline(pipeline_name="ingest-compile", pipeline_root="gs://bucket/root",
                                components=[folder_gen, tfds_gen, statistics])
    out = tmp_path / "pipeline.json"
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image="gcr.io/project/resizer-tfx:latest"),
        output_dir=str(tmp_path), output_filename=out.name)
    runner.run(pipeline, write_out=True)
    spec = out.read_text()
    assert "components.image_folder_example_gen.Executor" in spec
    assert "components.tfds_example_gen.Executor" in spec
    assert "train[95%:]" in spec and "max_bad_fraction" in spec
