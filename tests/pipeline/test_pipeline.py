"""The component graph of ``create_components`` / ``create_pipeline``: ids, order and which output feeds which input.

No component runs: the pipeline is only built (seconds), as TFX's own pipeline tests do.
"""

from pathlib import Path

import pytest

from pipeline import config as config_lib
from pipeline.pipeline import create_components, create_pipeline
from trainer import contract

EXAMPLE_GEN = contract.IMAGE_FOLDER_EXAMPLE_GEN_ID
DEMO_ARMS = (contract.BILINEAR_BASELINE_ARM, contract.LEARNABLE_RESIZER_ARM, contract.MULLER_ARM)
THREE_CANDIDATES = (contract.LEARNABLE_RESIZER_ARM, contract.MULLER_ARM, contract.BICUBIC_ARM)


def demo(tmp_path, **overrides):
    return config_lib.profile("demo", overrides={"output_dir": str(tmp_path), **overrides})


def feeds(component) -> dict[str, tuple[str, str]]:
    """{input key: (producing component id, its output key)}."""
    return {key: (channel.producer_component_id, channel.output_key) for key, channel in component.inputs.items()}


def upstream(component) -> set[str]:
    return {node.id for node in component.upstream_nodes}


def expected_feeds(arms, tuned: bool) -> dict[str, dict[str, tuple[str, str]]]:
    """The graph the pipeline's docs describe, written out input by input."""
    examples = (EXAMPLE_GEN, "examples")
    schema = (contract.SCHEMA_GEN_ID, "schema")
    statistics = (contract.STATISTICS_GEN_ID, "statistics")
    transform_graph = (contract.TRANSFORM_ID, "transform_graph")
    blessing = (contract.PAIRED_COMPARISON_ID, "blessing")
    comparison = (contract.PAIRED_COMPARISON_ID, "comparison")
    evaluation = (contract.EVALUATOR_ID, "evaluation")
    models = {contract.model_input(arm): (contract.trainer_id(arm), "model") for arm in arms}
    model_runs = {contract.model_run_input(arm): (contract.trainer_id(arm), "model_run") for arm in arms}
    decoded_images = (contract.DECODE_IMAGES_ID, contract.DECODED_IMAGES_INPUT)
    trainer_inputs = {"examples": examples, "transform_graph": transform_graph, "schema": schema,
                      contract.DECODED_IMAGES_INPUT: decoded_images}
    graph = {
        EXAMPLE_GEN: {},
        contract.STATISTICS_GEN_ID: {"examples": examples},
        contract.SCHEMA_GEN_ID: {"statistics": statistics},
        contract.EXAMPLE_VALIDATOR_ID: {"statistics": statistics, "schema": schema},
        contract.DATA_GATE_ID: {"examples": examples, "anomalies": (contract.EXAMPLE_VALIDATOR_ID, "anomalies")},
        contract.TRANSFORM_ID: {"examples": examples, "schema": schema},
        contract.DECODE_IMAGES_ID: {"examples": examples, "transform_graph": transform_graph},
    }
    if tuned:
        graph.update({contract.tuner_id(arm): dict(trainer_inputs) for arm in arms})
    for arm in arms:
        hyperparameters = {"hyperparameters": (contract.tuner_id(arm), contract.TUNER_BEST_HYPERPARAMETERS_OUTPUT)}
        graph[contract.trainer_id(arm)] = {**trainer_inputs, **(hyperparameters if tuned else {})}
    graph.update({
        contract.EVALUATOR_ID: {"examples": examples, **models},
        contract.PAIRED_COMPARISON_ID: {"examples": examples, "evaluation": evaluation, **models},
        contract.SERVABILITY_CHECK_ID: {"model": (contract.PAIRED_COMPARISON_ID, "chosen_model"),
                                        "model_blessing": blessing, "examples": examples},
        # No ``model`` input: TFX's InfraValidator contract, the Pusher pushes the InfraBlessing's model.
        contract.PUSHER_ID: {"model_blessing": blessing, "infra_blessing": (contract.SERVABILITY_CHECK_ID, "blessing")},
        contract.COMPARISON_REPORT_ID: {"evaluation": evaluation, "comparison": comparison,
                                        "pushed_model": (contract.PUSHER_ID, "pushed_model"),
                                        "infra_blessing": (contract.SERVABILITY_CHECK_ID, "blessing"),
                                        **models, **model_runs},
        contract.MODEL_CARD_ID: {"examples": examples, "comparison": comparison, "blessing": blessing,
                                 "pushed_model": (contract.PUSHER_ID, "pushed_model"), **models, **model_runs},
    })
    return graph


@pytest.mark.parametrize("tuned", [False, True], ids=["demo", "three_candidates_tuned"])
def test_component_graph(tmp_path, tuned):
    overrides = {"training.candidates": ",".join(THREE_CANDIDATES), "tuning.trials": "2"} if tuned else {}
    config = demo(tmp_path, **overrides)
    arms = (contract.BILINEAR_BASELINE_ARM, *THREE_CANDIDATES) if tuned else DEMO_ARMS
    assert config.training.arms == arms
    want = expected_feeds(arms, tuned)

    components = create_components(config)
    # Ids in topological order: every component after all it reads.
    assert list(components) == list(want)
    assert all(c.id == key for key, c in components.items())

    built = create_pipeline(config)
    by_id = {c.id: c for c in built.components}
    assert set(by_id) == set(want)
    order = [c.id for c in built.components]
    for component_id, inputs in want.items():
        component = by_id[component_id]
        assert feeds(component) == inputs, component_id
        # Upstream: the producers of its inputs, and for Transform the DataGate (it stops the run on bad data).
        producers = {producer for producer, _ in inputs.values()}
        gate = {contract.DATA_GATE_ID} if component_id == contract.TRANSFORM_ID else set()
        assert upstream(component) == producers | gate, component_id
        assert all(order.index(p) < order.index(component_id) for p in upstream(component)), component_id

    # Every Trainer (and Tuner) reads the one Transform graph and the same examples and schema.
    readers = [by_id[contract.trainer_id(arm)] for arm in arms]
    readers += [by_id[contract.tuner_id(arm)] for arm in arms] if tuned else []
    for key in ("transform_graph", "examples", "schema", contract.DECODED_IMAGES_INPUT):
        assert len({id(c.inputs[key]) for c in readers}) == 1, key
    assert built.pipeline_info.pipeline_name == config.pipeline_name
    assert built.pipeline_info.pipeline_root == config.pipeline_root


def test_warm_start_trainer_runs_first_and_feeds_every_arm(tmp_path):
    built = create_pipeline(demo(tmp_path, **{"training.warm_start_epochs": "1"}))
    by_id = {c.id: c for c in built.components}
    warm = by_id[contract.WARM_START_TRAINER_ID]
    assert feeds(warm) == {"examples": (EXAMPLE_GEN, "examples"), "schema": (contract.SCHEMA_GEN_ID, "schema"),
                           "transform_graph": (contract.TRANSFORM_ID, "transform_graph"),
                           contract.DECODED_IMAGES_INPUT: (contract.DECODE_IMAGES_ID,
                                                           contract.DECODED_IMAGES_INPUT)}
    for arm in DEMO_ARMS:
        assert feeds(by_id[contract.trainer_id(arm)])["base_model"] == (contract.WARM_START_TRAINER_ID, "model")


def test_without_push_the_servability_check_pusher_and_model_card_are_left_out(tmp_path):
    components = create_components(demo(tmp_path), push=False)
    assert not {contract.SERVABILITY_CHECK_ID, contract.PUSHER_ID, contract.MODEL_CARD_ID} & set(components)
    report = components[contract.COMPARISON_REPORT_ID]
    assert "pushed_model" not in report.inputs and "infra_blessing" not in report.inputs
    assert feeds(report)["comparison"] == (contract.PAIRED_COMPARISON_ID, "comparison")


def test_a_schema_file_replaces_schema_gen_with_import_schema_gen(tmp_path):
    schema_file = tmp_path / "schema.pbtxt"
    schema_file.write_text("")
    built = create_pipeline(demo(tmp_path, **{"data.schema_file": str(schema_file)}))
    by_id = {c.id: c for c in built.components}
    assert contract.SCHEMA_GEN_ID not in by_id and feeds(by_id[contract.IMPORT_SCHEMA_GEN_ID]) == {}
    assert feeds(by_id[contract.TRANSFORM_ID])["schema"] == (contract.IMPORT_SCHEMA_GEN_ID, "schema")


def _tfx_dependency_flags(beam_args, monkeypatch):
    """What TFX's Beam executors make of ``beam_args``, and whether they built TFX's ephemeral package."""
    from tfx.utils import dependency_utils

    built = []
    monkeypatch.setattr(dependency_utils, "build_ephemeral_package",
                        lambda: built.append(1) or "/nowhere/tfx_ephemeral.tar.gz")
    return dependency_utils.make_beam_dependency_flags(list(beam_args)), bool(built)


def test_the_pipeline_names_a_setup_file_so_tfx_builds_no_package_of_itself(tmp_path, monkeypatch):
    config = demo(tmp_path)
    args = create_pipeline(config).beam_pipeline_args
    # The DirectRunner (the default): the same string in every checkout, as TFX's cache keys hold these arguments.
    assert args == ["--setup_file=./setup.py", *config.beam_pipeline_args]
    assert _tfx_dependency_flags(args, monkeypatch) == (args, False)
    # Without it TFX packages itself: the fault the flag avoids (the check above can fail).
    flags, built = _tfx_dependency_flags(config.beam_pipeline_args, monkeypatch)
    assert built and flags[-1] == "--extra_package=/nowhere/tfx_ephemeral.tar.gz"


def test_another_runner_gets_the_checkouts_setup_file(tmp_path, monkeypatch):
    from pipeline.pipeline import project_setup_file

    setup_file = project_setup_file()
    assert setup_file == Path(__file__).resolve().parents[2] / "setup.py"
    remote = ["--runner=DataflowRunner", "--project=p", "--region=r", "--temp_location=gs://b/tmp"]
    args = create_pipeline(demo(tmp_path), beam_pipeline_args=remote).beam_pipeline_args
    assert args == [f"--setup_file={setup_file}", *remote]
    assert _tfx_dependency_flags(args, monkeypatch) == (args, False)


@pytest.mark.parametrize("runner", [None, "DirectRunner", "direct", "directrunner", "SwitchingDirectRunner",
                                    "apache_beam.runners.direct.direct_runner.BundleBasedDirectRunner"])
def test_beams_direct_runner_under_any_of_its_names_gets_the_same_setup_file(runner):
    from pipeline.pipeline import beam_args_with_dependencies

    args = ["--direct_num_workers=2"] + ([f"--runner={runner}"] if runner else [])
    for setup_file in ("/one/checkout/setup.py", "/another/setup.py", None):
        assert beam_args_with_dependencies(args, setup_file) == ["--setup_file=./setup.py", *args]


@pytest.mark.parametrize("runner", ["DataflowRunner", "dataflow", "FlinkRunner", "PortableRunner", "SparkRunner"])
def test_other_runners_get_the_setup_file_given(runner):
    from pipeline.pipeline import beam_args_with_dependencies

    args = [f"--runner={runner}"]
    assert beam_args_with_dependencies(args, "/p/setup.py") == ["--setup_file=/p/setup.py", *args]
    assert beam_args_with_dependencies(args, None) == args  # installed without its sources: TFX's way


def test_the_flag_comes_before_a_bare_double_dash():
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.pipeline import beam_args_with_dependencies

    args = beam_args_with_dependencies(["--direct_num_workers=1", "--", "--something"], None)
    assert PipelineOptions(flags=args).get_all_options()["setup_file"] == "./setup.py"


@pytest.mark.parametrize("given", [
    ["--setup_file", "/src/setup.py"], ["--extra_package=/dist/pkg.tar.gz"], ["--requirements_file=/r.txt"],
    ["--sdk_container_image=gcr.io/p/beam:1"], ["--worker_harness_container_image=gcr.io/p/beam:1"]])
def test_beam_args_that_name_the_workers_dependencies_are_kept_as_given(given, monkeypatch):
    from pipeline.pipeline import beam_args_with_dependencies

    args = ["--direct_num_workers=2", *given]
    assert beam_args_with_dependencies(args, "/project/setup.py") == args
    assert _tfx_dependency_flags(args, monkeypatch) == (args, False)


def test_the_project_setup_file_is_found_only_beside_the_project_sources(tmp_path):
    from pipeline.pipeline import project_setup_file

    assert project_setup_file(tmp_path) is None  # installed: no setup.py beside the packages
    (tmp_path / "setup.py").write_text('import setuptools\nsetuptools.setup(name="someone-else")\n')
    assert project_setup_file(tmp_path) is None  # another package's
    (tmp_path / "setup.py").write_text('import setuptools\nsetuptools.setup(\n    name="resizer-tfx",\n)\n')
    assert project_setup_file(tmp_path) == tmp_path / "setup.py"
