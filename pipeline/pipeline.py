"""``create_pipeline(config)``: the TFX pipeline, wiring only.

ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform ->
Trainer (learnable resizer) and Trainer (bilinear baseline) -> Evaluator
(candidate vs baseline) -> Pusher, plus a side-by-side comparison report.
"""

import os
from typing import Dict

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components.comparison_report import ComparisonReport
from components.image_folder_example_gen import ImageFolderExampleGen
from components.tfds_example_gen import TfdsExampleGen
from pipeline.config import PipelineConfig
from trainer import contract
from trainer.config import code_fingerprint
from trainer.contract import BASELINE_ARM, CANDIDATE_ARM


def make_example_gen(config: PipelineConfig):
    data = config.data
    if data.source == "tfds":
        return TfdsExampleGen(
            dataset=data.tfds_name,
            splits=dict(data.tfds_splits),
            data_dir=data.tfds_data_dir or None,
            max_pixels=data.max_pixels,
            max_bad_fraction=data.max_bad_fraction,
        )
    return ImageFolderExampleGen(
        input_base=os.path.abspath(config.image_dir) if "://" not in config.image_dir else config.image_dir,
        split_buckets=dict(data.split_buckets),
        max_pixels=data.max_pixels,
        max_bad_fraction=data.max_bad_fraction,
    )


def make_eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """Candidate vs baseline on the eval split; the gate is judged on the overall slice only."""
    training, gate = config.training, config.evaluation
    model_specs = [
        tfma.ModelSpec(
            name=name,
            signature_name=contract.SERVING_TF_EXAMPLE_SIGNATURE,
            label_key=contract.LABEL_KEY,
            prediction_key=contract.PROBABILITIES_OUTPUT,
            model_type="tf_generic",
            is_baseline=(name == BASELINE_ARM),
        )
        for name in (CANDIDATE_ARM, BASELINE_ARM)
    ]
    overall = tfma.SlicingSpec()
    accuracy_gate = tfma.MetricConfig(
        class_name=contract.ACCURACY_METRIC_CLASS,
        per_slice_thresholds=[
            tfma.PerSliceMetricThreshold(
                slicing_specs=[overall],
                threshold=tfma.MetricThreshold(
                    value_threshold=tfma.GenericValueThreshold(lower_bound={"value": gate.accuracy_floor}),
                    change_threshold=tfma.GenericChangeThreshold(
                        direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                        absolute={"value": gate.accuracy_margin},
                    ),
                ),
            )
        ],
    )
    class_ids = tfma.BinarizationOptions(class_ids={"values": list(range(training.num_classes))})
    return tfma.EvalConfig(
        model_specs=model_specs,
        slicing_specs=[overall, tfma.SlicingSpec(feature_keys=[contract.LABEL_NAME_KEY])],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    accuracy_gate,
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
                    metadata_connection_config=None) -> tfx.dsl.Pipeline:
    """The whole pipeline for ``config``.

    ``example_gen`` replaces the configured ExampleGen (tests feed prepared
    data this way); ``metadata_connection_config`` defaults to SQLite under
    the output dir (Kubeflow passes None and uses its own).
    """
    components = create_components(config, example_gen)
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=list(components.values()),
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args if beam_pipeline_args is not None else config.beam_pipeline_args),
    )


def create_components(config: PipelineConfig, example_gen=None) -> Dict[str, object]:
    """The pipeline's components by id, in topological order."""
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
    transform = tfx.components.Transform(
        examples=examples,
        schema=schema,
        preprocessing_fn=contract.PREPROCESSING_FN,
        # Decoded float images are ~1 MB each: the Trainer applies the graph instead.
        materialize=False,
        disable_statistics=True,
        custom_config=config.training.to_custom_config(fingerprint),
    )

    def trainer(arm):
        return tfx.components.Trainer(
            run_fn=contract.RUN_FN,
            examples=examples,
            transform_graph=transform.outputs["transform_graph"],
            schema=schema,
            custom_config=config.training.for_arm(arm).to_custom_config(fingerprint),
        ).with_id(contract.trainer_id(arm))

    candidate, baseline = trainer(CANDIDATE_ARM), trainer(BASELINE_ARM)
    evaluator = tfx.components.Evaluator(
        examples=examples,
        model=candidate.outputs["model"],
        baseline_model=baseline.outputs["model"],
        example_splits=[contract.EVAL_SPLIT],
        eval_config=make_eval_config(config),
    )
    pusher = tfx.components.Pusher(
        model=candidate.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=os.path.join(config.serving_dir, config.model_name)
            )
        ),
    )
    report = ComparisonReport(
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        candidate_model=candidate.outputs["model"],
        candidate_run=candidate.outputs["model_run"],
        baseline_model=baseline.outputs["model"],
        baseline_run=baseline.outputs["model_run"],
        pushed_model=pusher.outputs["pushed_model"],
        report_dir=config.report_dir,
    )
    return {
        c.id: c
        for c in (example_gen, statistics_gen, schema_gen, example_validator, transform,
                  candidate, baseline, evaluator, pusher, report)
    }
