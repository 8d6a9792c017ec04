"""What compile fixes and checks in TFX's PipelineJob: producer task names, artifact types a container can rebuild."""

import pytest

from pipeline import kubeflow_spec
from trainer.contract import COMPARISON_REPORT_ID, MODEL_CARD_ID, PAIRED_COMPARISON_ID, RUNTIME_CONFIG_ID


def _dag(**tasks):
    return {"root": {"dag": {"tasks": tasks}}, "components": {}}


def _reads(producer, key="out"):
    return {"inputs": {"parameters": {"p": {"taskOutputParameter": {"producerTask": producer,
                                                                       "outputParameterKey": key}}}}}


def _schema(title):
    return {"artifactType": {"instanceSchema": f"title: {title}\ntype: object\n"}}


@pytest.fixture
def compiled_spec(compiled):
    return compiled[1]["pipelineSpec"]


def test_every_producer_is_a_task_of_the_dag(compiled_spec):
    tasks = compiled_spec["root"]["dag"]["tasks"]
    producers = [spec.get("taskOutputParameter", spec.get("taskOutputArtifact"))["producerTask"]
                 for task in tasks.values()
                 for group in ("parameters", "artifacts")
                 for spec in task.get("inputs", {}).get(group, {}).values()
                 if "taskOutputParameter" in spec or "taskOutputArtifact" in spec]
    assert RUNTIME_CONFIG_ID in producers  # the dynamic properties TFX names "<id>_task"
    assert set(producers) <= set(tasks)


def test_producer_task_suffix_is_removed_and_unknown_producers_fail():
    spec = _dag(A={}, B=_reads("A_task"), C=_reads("A"))
    kubeflow_spec.point_producers_at_tasks(spec)
    tasks = spec["root"]["dag"]["tasks"]
    assert [tasks[t]["inputs"]["parameters"]["p"]["taskOutputParameter"]["producerTask"] for t in "BC"] == ["A", "A"]
    with pytest.raises(ValueError, match="'Z_task' is not in the DAG"):
        kubeflow_spec.point_producers_at_tasks(_dag(A={}, B=_reads("Z_task")))


def test_our_artifact_types_import_by_their_title(compiled_spec):
    titles = dict(kubeflow_spec.artifact_type_titles(compiled_spec))
    from components.comparison_report import ComparisonReportArtifact
    from components.paired_comparison import PairedComparisonArtifact

    assert titles[f"{PAIRED_COMPARISON_ID}.comparison"] == PairedComparisonArtifact.TYPE_NAME
    assert titles[f"{COMPARISON_REPORT_ID}.report"] == ComparisonReportArtifact.TYPE_NAME
    from components.model_card import ModelCardArtifact

    assert titles[f"{MODEL_CARD_ID}.model_card"] == ModelCardArtifact.TYPE_NAME
    kubeflow_spec.check_artifact_types(compiled_spec)


@pytest.mark.parametrize("title, message", [
    ("resizer_tfx.PairedComparison", "does not import"),  # a valid Kubeflow title that names no class
    ("components.ARTIFACT_TYPE_MODULES", "TYPE_NAME"),  # imports, but is not that artifact type
])
def test_artifact_type_that_a_container_cannot_rebuild_fails(title, message):
    spec = {"components": {"C": {"outputDefinitions": {"artifacts": {"x": _schema(title)}}}}}
    with pytest.raises(ValueError, match=message):
        kubeflow_spec.check_artifact_types(spec)
    tfx_type = {"components": {"C": {"inputDefinitions": {"artifacts": {"x": _schema("tfx.Model")}}}}}
    kubeflow_spec.check_artifact_types(tfx_type)
