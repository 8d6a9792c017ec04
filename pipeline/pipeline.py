"""``create_pipeline(config)``: the TFX pipeline, wiring only.

ExampleGen (train / validation / test) -> StatisticsGen -> SchemaGen ->
ExampleValidator -> DataGate (stops the run when ``training.class_names``
disagrees with the data's label names, or on anomalies in a label or image
feature unless ``data.continue_on_anomalies``) -> Transform (runs after the
DataGate) -> DecodeImages (the train and validation images through the
Transform graph once, as uint8) -> one Trainer per arm (the baseline and each
of ``training.candidates``; ids ``Trainer_<arm>``), all reading those decoded
images, fitting on train and validating on validation -> Evaluator (TFMA, every arm on test, the baseline
marked) -> PairedComparison (every arm on every test example: intervals,
McNemar with Holm across candidates, cost, the gate, the chosen candidate)
-> ServabilityCheck (the chosen candidate served in a fresh process with the
client's requests; its warm-up records written: TFX's InfraValidator
contract) -> Pusher (the checked model with its warm-up records, only when
the gate and the servability check both bless it) -> ComparisonReport,
and ModelCard (the pushed model's card, written beside it).
With ``training.warm_start_epochs`` (the paper's control experiment) one
more Trainer (``Trainer_warm_start``, the baseline arm) runs first and every
arm starts from its model (TFX's ``base_model``). With ``tuning.trials`` > 0
every arm's Trainer is preceded by a Tuner (``Tuner_<arm>``, KerasTuner on
train and validation) whose ``best_hyperparameters`` it trains with.
"""

import os
from collections.abc import Iterable
from pathlib import Path

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components import sources
from components.comparison_report import ComparisonReport
from components.data_gate import DataGate
from components.decode_images import DecodeImages
from components.evaluator import Evaluator
from components.model_card import ModelCard
from components.paired_comparison import PairedComparison
from components.servability_check import ServabilityCheck
from components.training_components import Trainer, Tuner
from pipeline.config import PipelineConfig
from trainer import contract
from trainer.config import code_fingerprint

# The distribution name in the project's setup.py (how project_setup_file tells it from another's).
PROJECT_DISTRIBUTION = "resizer-tfx"
# The Beam options by which TFX's Beam executors (ExampleGen, StatisticsGen, Transform, Evaluator) take the
# workers' dependencies as given (tfx/utils/dependency_utils.py, make_beam_dependency_flags).
BEAM_DEPENDENCY_OPTIONS = ("extra_packages", "setup_file", "requirements_file", "worker_harness_container_image",
                           "sdk_container_image")
# Beam's runners that run the workers from this Python environment (apache_beam/runners/direct) and, for batch
# pipelines, never read --setup_file.
DIRECT_RUNNERS = ("directrunner", "switchingdirectrunner", "bundlebaseddirectrunner")
# What the DirectRunner is given: the project's setup.py where its commands run (the checkout's root; the image's
# WORKDIR), written the same in every checkout.
DIRECT_RUNNER_SETUP_FILE = "./setup.py"


def project_setup_file(root: str | os.PathLike | None = None) -> Path | None:
    """The project's ``setup.py`` when the code runs from its source tree, else None.

    Args:
        root: the folder that holds ``pipeline/``; None: this module's.

    Returns:
        ``root/setup.py`` when it is a file naming :data:`PROJECT_DISTRIBUTION`; None otherwise (the project
        installed into site-packages, where no such file, or another package's, sits beside it).
    """
    path = Path(root if root is not None else Path(__file__).resolve().parents[1]) / "setup.py"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return path if f'name="{PROJECT_DISTRIBUTION}"' in text else None


def runs_on_direct_runner(beam_args: Iterable[str]) -> bool:
    """Whether ``beam_args`` select one of :data:`DIRECT_RUNNERS` (Beam's default when no ``--runner`` is given).

    Names are matched as Beam matches them (``apache_beam.runners.runner.create_runner``): case-insensitive,
    ``Runner`` optional, or the class's full dotted path.
    """
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    runner = PipelineOptions(flags=list(beam_args)).view_as(StandardOptions).runner or "DirectRunner"
    name = runner.rsplit(".", 1)[-1].lower()
    return name in DIRECT_RUNNERS or f"{name}runner" in DIRECT_RUNNERS


def beam_args_with_dependencies(beam_args: Iterable[str], setup_file: str | os.PathLike | None) -> list[str]:
    """``beam_args`` with a ``--setup_file`` first, unless they name the workers' dependencies already.

    Given none of :data:`BEAM_DEPENDENCY_OPTIONS`, each of TFX 1.16's Beam executors copies the installed
    ``tfx`` package (48 MB) into a new temporary directory, builds a source distribution of it in a
    subprocess (3.2-3.6 s on a 2-core AMD EPYC, AVX2) and passes it as ``--extra_package``; it never removes
    the directory, and the DirectRunner never reads the package.  Any runner but the DirectRunner gets
    ``setup_file``, what it needs anyway (the workers must import our executors, not only TFX's; see
    docs/deploy.md).  The DirectRunner (batch pipelines: apache_beam/runners/direct) never reads the flag and
    gets :data:`DIRECT_RUNNER_SETUP_FILE`, the same string in every checkout: TFX puts the Beam arguments in
    each component's cache key, which must not depend on where the checkout lies.

    Args:
        beam_args: Beam's arguments, as for ``tfx.dsl.Pipeline(beam_pipeline_args=...)``.
        setup_file: the ``setup.py`` that installs this project and its requirements where the components run;
            None (e.g. the project installed without its source tree): the arguments of any runner but the
            DirectRunner are returned unchanged.

    Returns:
        A new list: ``--setup_file=...`` when added, then ``beam_args`` (first, so a ``--`` among them cannot
        hide it from Beam's parser).
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    beam_args = list(beam_args)
    given = PipelineOptions(flags=beam_args).get_all_options()
    if any(given.get(name) for name in BEAM_DEPENDENCY_OPTIONS):
        return beam_args
    if runs_on_direct_runner(beam_args):
        return [f"--setup_file={DIRECT_RUNNER_SETUP_FILE}", *beam_args]
    return beam_args if setup_file is None else [f"--setup_file={setup_file}", *beam_args]


def make_example_gen(config: PipelineConfig):
    """The ExampleGen of ``config.data.source``, built by its entry in the table of sources.

    Args:
      config: the validated configuration.

    Returns:
      The source's TFX component (:mod:`components.sources`); its ``examples`` output holds the train,
      validation and test splits with ``ingest_report.json`` and ``bad_images.tsv``.
    """
    return sources.get_source(config.data.source).build_component(config)


def make_eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """Every arm on the test split (one model spec each, the baseline marked), with TFMA's jackknife 95 % intervals.

    No thresholds here: the gate is the PairedComparison's alone (floor,
    strict margin, paired test), so changing the gate never reruns the
    Evaluator, and Kubeflow's runtime margin reaches one component.

    Args:
        config: the configuration (``training.arms``, ``training.baseline``, ``training.num_classes``).

    Returns:
        The EvalConfig: one model spec per arm (its ``serving_tf_example`` signature, label ``label``,
        prediction ``probabilities``); slices overall and by ``label_name``; example count, accuracy and the
        confusion matrix, per class AUC, precision, recall and calibration, and their macro averages.
    """
    training = config.training
    model_specs = [
        tfma.ModelSpec(
            name=name,
            signature_name=contract.SERVING_TF_EXAMPLE_SIGNATURE,
            label_key=contract.LABEL_KEY,
            prediction_key=contract.PROBABILITIES_OUTPUT,
            model_type="tf_generic",
            is_baseline=(name == training.baseline),
        )
        for name in training.arms
    ]
    overall = tfma.SlicingSpec()
    class_ids = tfma.BinarizationOptions(class_ids={"values": list(range(training.num_classes))})
    return tfma.EvalConfig(
        model_specs=model_specs,
        options=tfma.Options(
            compute_confidence_intervals={"value": True},
            confidence_intervals=tfma.ConfidenceIntervalOptions(method=tfma.ConfidenceIntervalOptions.JACKKNIFE),
        ),
        slicing_specs=[overall, tfma.SlicingSpec(feature_keys=[contract.LABEL_NAME_KEY])],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(class_name=contract.ACCURACY_METRIC_CLASS),
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            ),
            # Per class (one-vs-rest): AUC, precision/recall, calibration.
            tfma.MetricsSpec(
                metrics=[
                    *[tfma.MetricConfig(class_name=name) for name in ("AUC", "Precision", "Recall")],
                    tfma.MetricConfig(class_name="Calibration"),
                    tfma.MetricConfig(class_name="CalibrationPlot"),
                ],
                binarize=class_ids,
            ),
            # Their macro average over classes (plots cannot be averaged).
            tfma.MetricsSpec(
                metrics=[tfma.MetricConfig(class_name=name) for name in ("AUC", "Precision", "Recall")],
                binarize=class_ids,
                aggregate=tfma.AggregationOptions(
                    macro_average=True, class_weights={i: 1.0 for i in range(training.num_classes)}
                ),
            ),
        ],
    )


def create_pipeline(config: PipelineConfig, example_gen=None, beam_pipeline_args=None,
                    metadata_connection_config=None, push=True, report_dir=None) -> tfx.dsl.Pipeline:
    """The whole TFX pipeline for ``config``: the components of :func:`create_components`, wired by their channels.

    Args:
        config: the resolved configuration (:func:`pipeline.prepare.resolve_config`); its ``pipeline_name``,
            ``pipeline_root`` and ``enable_cache`` name and place the pipeline.
        example_gen: replaces the configured ExampleGen (tests feed prepared data this way); None: the configured
            one.
        beam_pipeline_args: Beam arguments of every component; None: ``config.beam_pipeline_args``.  A
            ``--setup_file`` is added unless they name the workers' dependencies
            (:func:`beam_args_with_dependencies`; the checkout's ``setup.py`` for any runner but the DirectRunner).
        metadata_connection_config: the ML Metadata connection; the local runner passes SQLite at
            ``config.metadata_path``, Kubeflow passes None and uses its own.
        push: False leaves the ServabilityCheck, the Pusher and the ModelCard out (the seeds sweep).
        report_dir: where the ComparisonReport copies its report; None: ``config.report_dir``.

    Returns:
        The ``tfx.dsl.Pipeline``, for LocalDagRunner, BeamDagRunner or the Kubeflow compiler.  Building it runs
        nothing and writes nothing.
    """
    components = create_components(config, example_gen, push=push, report_dir=report_dir)
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=list(components.values()),
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_args_with_dependencies(
            beam_pipeline_args if beam_pipeline_args is not None else config.beam_pipeline_args,
            project_setup_file()),
    )


def create_components(config: PipelineConfig, example_gen=None, push=True, report_dir=None) -> dict[str, object]:
    """The pipeline's components by id, in topological order (the module docstring draws the graph).

    Every Trainer and Tuner reads the same examples, schema, Transform graph and decoded images; the Transform
    waits for the DataGate; the ids come from ``trainer/contract.py`` (``Trainer_<arm>``, ``Tuner_<arm>``,
    ``Evaluator``...).

    Args:
        config: the validated configuration.
        example_gen: replaces the configured ExampleGen (tests feed prepared data this way).
        push: False leaves the ServabilityCheck, the Pusher and the ModelCard out (the seeds sweep).
        report_dir: replaces ``config.report_dir``.

    Returns:
        {component id: component}, every component after the ones it reads.
    """
    fingerprint = code_fingerprint()
    example_gen = example_gen or make_example_gen(config)
    examples = example_gen.outputs["examples"]
    statistics_gen = tfx.components.StatisticsGen(examples=examples)
    if config.data.schema_file:
        schema_gen = tfx.components.ImportSchemaGen(schema_file=config.data.schema_file)
    else:
        schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"])
    schema = schema_gen.outputs["schema"]
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema
    )
    data_gate = DataGate(
        examples=examples,
        anomalies=example_validator.outputs["anomalies"],
        class_names=config.training.class_names,
        continue_on_anomalies=config.data.continue_on_anomalies,
    ).with_id(contract.DATA_GATE_ID)
    transform = tfx.components.Transform(
        examples=examples,
        schema=schema,
        preprocessing_fn=contract.PREPROCESSING_FN,
        # Decoded float images are ~1 MB each: the Trainer applies the graph instead.
        materialize=False,
        disable_statistics=True,
        # Only what preprocessing_fn reads: a new seed or epoch count keeps Transform cached.
        custom_config=config.training.transform_custom_config(fingerprint),
    )
    # Nothing is transformed or trained on data the gate stopped.
    transform.add_upstream_node(data_gate)

    # The training splits decoded once; every Trainer and Tuner reads them instead of decoding again.
    decode_images = DecodeImages(
        examples=examples,
        transform_graph=transform.outputs["transform_graph"],
        image_size=config.training.image_size,
    ).with_id(contract.DECODE_IMAGES_ID)
    decoded_images = decode_images.outputs[contract.DECODED_IMAGES_INPUT]

    def trainer(component_id, custom_config, base_model=None, hyperparameters=None):
        return Trainer(
            run_fn=contract.RUN_FN,
            examples=examples,
            transform_graph=transform.outputs["transform_graph"],
            schema=schema,
            base_model=base_model,
            hyperparameters=hyperparameters,
            train_args=tfx.proto.TrainArgs(splits=[contract.TRAIN_SPLIT]),
            eval_args=tfx.proto.EvalArgs(splits=[contract.VALIDATION_SPLIT]),
            custom_config=custom_config,
            decoded_images=decoded_images,
        ).with_id(component_id)

    # The paper's control experiment: every arm continues from one baseline trained first (TFX's base_model).
    warm_start = None
    if config.training.warm_start_epochs:
        warm_start = trainer(contract.WARM_START_TRAINER_ID, config.training.warm_start_custom_config(fingerprint))
    base_model = warm_start.outputs["model"] if warm_start else None
    # The hyperparameter search: one Tuner per arm, on train and validation only (the test split stays unread).
    tuners = {}
    if config.tuning.trials:
        tuners = {
            arm: Tuner(
                tuner_fn=contract.TUNER_FN,
                examples=examples,
                transform_graph=transform.outputs["transform_graph"],
                schema=schema,
                base_model=base_model,
                train_args=tfx.proto.TrainArgs(splits=[contract.TRAIN_SPLIT]),
                eval_args=tfx.proto.EvalArgs(splits=[contract.VALIDATION_SPLIT]),
                custom_config=config.arm_custom_config(arm, fingerprint),
                decoded_images=decoded_images,
            ).with_id(contract.tuner_id(arm))
            for arm in config.training.arms
        }
    trainers = {
        arm: trainer(contract.trainer_id(arm), config.arm_custom_config(arm, fingerprint), base_model,
                     tuners[arm].outputs[contract.TUNER_BEST_HYPERPARAMETERS_OUTPUT] if tuners else None)
        for arm in config.training.arms
    }
    models = {arm: t.outputs["model"] for arm, t in trainers.items()}
    evaluator = Evaluator(
        examples=examples,
        models=models,
        eval_config=make_eval_config(config),
        example_splits=[contract.TEST_SPLIT],
    ).with_id(contract.EVALUATOR_ID)
    gate = config.evaluation
    paired = PairedComparison(
        examples=examples,
        models=models,
        evaluation=evaluator.outputs["evaluation"],
        baseline=config.training.baseline,
        candidates=config.training.candidates,
        split=contract.TEST_SPLIT,
        accuracy_margin=gate.accuracy_margin,
        accuracy_floor=gate.accuracy_floor,
        significance_level=gate.significance_level,
        latency_calls=gate.latency_calls,
        latency_warmup=gate.latency_warmup,
    ).with_id(contract.PAIRED_COMPARISON_ID)
    check = pusher = None
    if push:
        check = ServabilityCheck(
            model=paired.outputs["chosen_model"],
            model_blessing=paired.outputs["blessing"],
            examples=examples,
            split=contract.VALIDATION_SPLIT,
            num_images=config.servability.num_images,
            timeout_seconds=config.servability.timeout_seconds,
            model_name=config.model_name,
        ).with_id(contract.SERVABILITY_CHECK_ID)
        # TFX's InfraValidator contract: with no ``model`` input the Pusher pushes the InfraBlessing's model
        # (the chosen model with its warm-up records), and only when both blessings say blessed.
        pusher = tfx.components.Pusher(
            model_blessing=paired.outputs["blessing"],
            infra_blessing=check.outputs["blessing"],
            push_destination=tfx.proto.PushDestination(
                filesystem=tfx.proto.PushDestination.Filesystem(
                    base_directory=os.path.join(config.serving_dir, config.model_name)
                )
            ),
        )
    report = ComparisonReport(
        evaluation=evaluator.outputs["evaluation"],
        comparison=paired.outputs["comparison"],
        models=models,
        model_runs={arm: t.outputs["model_run"] for arm, t in trainers.items()},
        pushed_model=pusher.outputs["pushed_model"] if pusher else None,
        infra_blessing=check.outputs["blessing"] if check else None,
        report_dir=report_dir or config.report_dir,
        data_note=data_note(config),
    ).with_id(contract.COMPARISON_REPORT_ID)
    model_card = None
    if pusher:
        model_card = ModelCard(
            examples=examples,
            comparison=paired.outputs["comparison"],
            blessing=paired.outputs["blessing"],
            models=models,
            model_runs={arm: t.outputs["model_run"] for arm, t in trainers.items()},
            pushed_model=pusher.outputs["pushed_model"],
            model_name=config.model_name,
            data_note=data_note(config),
        ).with_id(contract.MODEL_CARD_ID)
    return {
        c.id: c
        for c in (example_gen, statistics_gen, schema_gen, example_validator, data_gate, transform, decode_images,
                  warm_start,
                  *tuners.values(), *trainers.values(), evaluator, paired, check, pusher, report, model_card)
        if c is not None
    }


def data_note(config: PipelineConfig) -> str:
    """What the report and the closing table say about the data and the experiment, when a reader must know it.

    Args:
        config: the configuration.

    Returns:
        A warning that the data is the SYNTHETIC demo set (and what a win on it shows), and that every arm
        continued from one warm-start model when ``training.warm_start_epochs`` is set; "" when neither applies.
    """
    note = ""
    if config.training.warm_start_epochs:
        note = (f"CONTROL EXPERIMENT: every arm continues for {config.training.epochs} epoch(s) from one "
                f"{config.training.baseline} model trained {config.training.warm_start_epochs} epoch(s) first (its "
                f"backbone and head). ")
    if config.uses_demo_data:
        (h, w), (th, tw) = config.training.image_size, config.training.target_size
        return note + ("SYNTHETIC demo data (components/demo_data.py), built as a positive control: its class cue "
                f"survives the {h}x{w} Transform and cancels in the bilinear baseline's {th}x{tw} resize (and in "
                "every fixed resize and MULLER at this exact 2x factor, away from the borders). A win here shows "
                "the pipeline can detect a resizer that helps; it says nothing about photos.")
    return note.strip()
