#!/usr/bin/env python
"""resizer-tfx command line: run the pipeline locally, compile it for Kubeflow, query TF Serving.

    python pipeline_runner.py run --profile demo --output-dir outputs/demo
    python pipeline_runner.py run --profile full --training.epochs 3 -- --direct_num_workers=4
    python pipeline_runner.py compile --profile full --output pipeline.json --image IMAGE --pipeline-root gs://B/root
    python pipeline_runner.py predict --server localhost:8500 cat.jpg dog.png

Every configuration field is an option (``--help`` lists them); values are
validated before anything runs.  Arguments after ``--`` go to Beam unchanged
(e.g. ``--runner=DataflowRunner --project=... --region=...``,
``--runner=FlinkRunner --flink_master=...``, ``--runner=SparkRunner ...``,
or ``--direct_running_mode=multi_processing --direct_num_workers=2``).
"""

import argparse
import dataclasses
import json
import logging as std_logging
import os
import sys
import time

from trainer.environment import apply_keras_policy

apply_keras_policy()  # before TensorFlow is imported anywhere

from pipeline import config as config_lib  # noqa: E402
from trainer.config import ConfigError  # noqa: E402


# --- command line -------------------------------------------------------------

def _add_field_options(parser):
    group = parser.add_argument_group("configuration fields (override the profile)")
    for path, annotation in config_lib.field_paths().items():
        if path in ("profile", "output_dir"):
            continue
        type_name = getattr(annotation, "__name__", str(annotation).replace("typing.", ""))
        group.add_argument(f"--{path}", dest=f"field:{path}", metavar=type_name.upper(), default=None,
                           help=f"({type_name})")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="pipeline_runner.py",
        description="Train a learnable resizer + DenseNet-121 against a bilinear baseline with TFX.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the whole pipeline locally (LocalDagRunner or BeamDagRunner)",
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="Arguments after -- are passed to Beam unchanged.")
    run.add_argument("--verbose", action="store_true", help="show TFX's own INFO logs")
    _add_config_options(run)

    from pipeline import kubeflow
    from serving import client

    compile_ = commands.add_parser("compile", help="compile the pipeline for Kubeflow Pipelines v2 (no network)",
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog="Arguments after -- become the components' Beam arguments.")
    kubeflow.add_compile_arguments(compile_)
    _add_config_options(compile_)

    predict = commands.add_parser("predict", help="classify image files with a model served by TF Serving")
    client.add_predict_arguments(predict)
    return parser


def _add_config_options(parser):
    parser.add_argument("--profile", choices=sorted(config_lib.PROFILES), default="demo")
    parser.add_argument("--headline", action="store_true",
                        help="full profile only: the published setting (90%% of the data, 10 epochs)")
    parser.add_argument("--output-dir", help="everything the run writes goes under this directory")
    parser.add_argument("--set", action="append", metavar="FIELD=VALUE", default=[],
                        help="another way to override any field, e.g. --set training.epochs=2")
    _add_field_options(parser)


def config_from_args(args):
    overrides = config_lib.parse_assignments(args.set)
    for key, value in vars(args).items():
        if key.startswith("field:") and value is not None:
            overrides[key[len("field:"):]] = value
    if args.output_dir:
        overrides["output_dir"] = args.output_dir
    return config_lib.profile(args.profile, headline=args.headline, overrides=overrides)


# --- progress -------------------------------------------------------------------

class ProgressReporter(std_logging.Handler):
    """Turns TFX's component log lines into short progress lines and wall times."""

    RUNNING = ("Component %s is running.", "node %s is running.")
    FINISHED = ("Component %s is finished.", "node %s is finished.")

    def __init__(self, stream=sys.stdout):
        super().__init__(std_logging.INFO)
        self.stream = stream
        self.started = {}
        self.seconds = {}
        self.cached = set()
        self._current = None

    def emit(self, record):
        if record.msg in self.RUNNING:
            node = record.args[0]
            self._current = node
            self.started[node] = time.perf_counter()
            self._print(f"▶ {node} ...")
        elif record.msg in self.FINISHED:
            node = record.args[0]
            self.seconds[node] = time.perf_counter() - self.started.get(node, time.perf_counter())
            note = " (from cache)" if node in self.cached else ""
            self._print(f"✓ {node} {self.seconds[node]:.1f} s{note}")
        elif record.msg.startswith("A cached execution") and self._current:
            self.cached.add(self._current)
        elif record.levelno < std_logging.WARNING and os.sep + "trainer" + os.sep in (record.pathname or ""):
            # Trainer lines (ours and TFX's trainer executor): arm, hardware, export path.
            self._print("  " + record.getMessage())

    def _print(self, text):
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=self.stream, flush=True)


def _quiet_logs(verbose):
    """Progress lines from TFX's INFO logs; the rest of that flood only with --verbose."""
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    reporter = ProgressReporter()
    logger = std_logging.getLogger("absl")
    logger.addHandler(reporter)
    if not verbose:
        warnings = std_logging.StreamHandler(sys.stderr)
        warnings.setLevel(std_logging.WARNING)
        warnings.setFormatter(std_logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(warnings)
        logger.propagate = False
    return reporter


# --- run ----------------------------------------------------------------------------

def prepare_demo_data(config):
    """Generates the demo image folder when the configured one is the (absent) default."""
    if config.data.source != "image_folder" or config.data.image_dir:
        return None
    # Beside the image folder, not inside it (the ExampleGen would report it as a stray file).
    marker = config.demo_data_dir.rstrip("/") + ".json"
    if os.path.exists(marker):
        return marker
    from components.demo_data import make_demo_dataset

    print(f"Generating the synthetic demo data set in {config.demo_data_dir} ...", flush=True)
    summary = make_demo_dataset(
        config.demo_data_dir, per_class=config.data.demo_images_per_class, seed=config.data.demo_seed
    )
    with open(marker, "w") as f:
        json.dump(summary, f, indent=2)
    return marker


def prepare_schema(config):
    """Writes the curated schema when the class names are known; returns the config to run."""
    if config.data.schema_file:
        return config
    names = list(config.training.class_names)
    if not names and config.data.source == "image_folder" and not config.data.image_dir:
        from components.demo_data import CLASS_NAMES

        names = list(CLASS_NAMES)
    if not names:
        return config  # SchemaGen infers one
    from components.schema import write_curated_schema

    path = write_curated_schema(os.path.join(config.output_dir, "schema"), names)
    return dataclasses.replace(config, data=dataclasses.replace(config.data, schema_file=os.path.abspath(path)))


def make_runner(config):
    from tfx import v1 as tfx

    if config.runner == "beam":
        from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

        return BeamDagRunner()
    return tfx.orchestration.LocalDagRunner()


def run(config, beam_args=(), verbose=False):
    from tfx.orchestration import metadata

    from pipeline.pipeline import create_pipeline

    # Absolute paths in the artifacts and the pushed location, whatever the working directory.
    config = dataclasses.replace(config, output_dir=os.path.abspath(config.output_dir))
    os.makedirs(config.output_dir, exist_ok=True)
    prepare_demo_data(config)
    config = prepare_schema(config)
    reporter = _quiet_logs(verbose)
    beam_pipeline_args = list(config.beam_pipeline_args) + list(beam_args)
    pipeline = create_pipeline(
        config,
        beam_pipeline_args=beam_pipeline_args,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(config.metadata_path),
    )
    print(f"Running {config.pipeline_name} ({config.profile} profile, {config.runner} runner) "
          f"into {os.path.abspath(config.output_dir)}", flush=True)
    start = time.perf_counter()
    make_runner(config).run(pipeline)
    total = time.perf_counter() - start
    print(closing_table(config, reporter.seconds, reporter.cached, total))
    return 0


def closing_table(config, seconds, cached, total):
    lines = ["", "Component wall times:"]
    for node, value in seconds.items():
        lines.append(f"  {node:<32} {value:7.1f} s{'  (cached)' if node in cached else ''}")
    lines.append(f"  {'total':<32} {total:7.1f} s")
    summary_path = os.path.join(config.report_dir, "summary.json")
    if not os.path.exists(summary_path):
        lines.append(f"No comparison report at {summary_path}.")
        return "\n".join(lines)
    with open(summary_path) as f:
        summary = json.load(f)
    acc = summary["accuracy"]

    def fmt(v):
        return "n/a" if v is None else f"{v:.4f}"

    lines += [
        "",
        "                     learnable_resizer  bilinear_baseline  difference",
        f"  eval accuracy       {fmt(acc.get('learnable_resizer')):>17}  {fmt(acc.get('bilinear_baseline')):>17}"
        f"  {fmt(acc.get('diff')):>10}",
    ]
    training = summary.get("training", {})
    for label, key in (("final train loss", "loss"), ("Keras val accuracy", "val_accuracy")):
        cells = []
        for arm in ("learnable_resizer", "bilinear_baseline"):
            history = training.get(arm, {}).get("history", {}).get(key) or [None]
            cells.append(fmt(history[-1]))
        lines.append(f"  {label:<19} {cells[0]:>17}  {cells[1]:>17}")
    pushed = summary.get("pushed", {})
    lines += [
        "",
        f"  blessed: {'yes' if summary.get('blessed') else 'no'} "
        f"(margin >= {config.evaluation.accuracy_margin}, floor >= {config.evaluation.accuracy_floor})",
        f"  pushed:  {pushed.get('destination') or 'nothing (not blessed)'}",
        f"  report:  {os.path.abspath(os.path.join(config.report_dir, 'report.md'))}",
    ]
    return "\n".join(lines)


def main(argv=None):
    # Keras prints epochs to stdout: keep them flowing when stdout is a pipe or file.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    argv = list(sys.argv[1:] if argv is None else argv)
    beam_args = []
    if "--" in argv:
        split = argv.index("--")
        argv, beam_args = argv[:split], argv[split + 1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "predict":
        from serving.client import predict_command

        return predict_command(args)
    try:
        config = config_from_args(args)
    except ConfigError as error:
        parser.exit(2, f"pipeline_runner.py: invalid configuration: {error}\n")
    if args.command == "run":
        return run(config, beam_args, verbose=args.verbose)
    if args.command == "compile":
        from pipeline import kubeflow

        return kubeflow.compile_command(config, args, beam_args)
    parser.error(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
