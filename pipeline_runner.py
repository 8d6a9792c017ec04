#!/usr/bin/env python
"""resizer-tfx command line: run the pipeline locally, compile it for Kubeflow, query TF Serving, classify in batch.

    python pipeline_runner.py run --profile demo --output-dir outputs/demo
    python pipeline_runner.py run --profile full --training.epochs 3 -- --direct_num_workers=4
    python pipeline_runner.py sweep --seeds 0,1,2              # the comparison over seeds, never pushing
    python pipeline_runner.py compile --profile full --output pipeline.json --image IMAGE --pipeline-root gs://B/root
    python pipeline_runner.py predict --server localhost:8500 cat.jpg dog.png
    python pipeline_runner.py infer --model-dir outputs/demo/serving/resizer_classifier --images photos/ \
        --output predictions.csv

Every configuration field is an option (``--help`` lists each with its help
and default); values are validated before anything runs.  Arguments after ``--`` go to Beam unchanged
(e.g. ``--runner=DataflowRunner --project=... --region=...``,
``--runner=FlinkRunner --flink_master=...``, ``--runner=SparkRunner ...``,
or ``--direct_running_mode=multi_processing --direct_num_workers=2``).
"""

import argparse
import json
import os
import signal
import sys
import time
import traceback
import typing

from trainer.environment import apply_keras_policy, import_tensorflow, quiet_startup

apply_keras_policy()  # before TensorFlow is imported anywhere

from pipeline import config as config_lib
from pipeline import local_runners
from pipeline.prepare import resolve_config
from pipeline.progress import closing_table, quiet_logs
from trainer import contract
from trainer.config import ConfigError
from trainer.quiet_screen import filtered_stderr

# Fields with an option of their own.
OWN_OPTIONS = {"output_dir": "--output-dir"}
CONFIG_USAGE = "[--profile {demo,full}] [--headline] [--output-dir DIR] [--FIELD VALUE ...] [--set FIELD=VALUE ...]"


# --- command line -------------------------------------------------------------

def _shown(value):
    """A value as it is written on the command line."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value) or '""'
    if isinstance(value, dict):
        return json.dumps(value)
    return '""' if value == "" else str(value)


def _metavar(annotation):
    if typing.get_origin(annotation) is typing.Literal:
        return "{" + ",".join(typing.get_args(annotation)) + "}"
    kind = typing.get_origin(annotation) or annotation
    if kind is tuple and typing.get_args(annotation)[-1] is not Ellipsis:
        return "H,W"
    return {int: "INT", float: "FLOAT", bool: "BOOL", str: "TEXT", dict: "JSON", tuple: "A,B"}.get(kind, "VALUE")


def _value_at(config, path):
    for name in path.split("."):
        config = getattr(config, name)
    return config


def _add_field_options(parser):
    group = parser.add_argument_group(
        "configuration fields (override the profile; defaults that a profile changes are listed after them)")
    profiles = {name: config_lib.profile(name) for name in config_lib.PROFILES}
    default = config_lib.PipelineConfig()
    for path, info in config_lib.field_paths().items():
        if path in OWN_OPTIONS:
            continue
        value = _value_at(default, path)
        changed = [f"{name}: {_shown(_value_at(cfg, path))}" for name, cfg in profiles.items()
                   if _value_at(cfg, path) != value]
        text = f"{info.description} (default: {_shown(value)}{'; ' if changed else ''}{', '.join(changed)})"
        group.add_argument(f"--{path}", dest=f"field:{path}", metavar=_metavar(info.annotation), default=None,
                           help=text.replace("%", "%%"))


def build_parser():
    """The command line: ``run``, ``sweep``, ``compile`` (every configuration field an option), ``predict``, ``infer``.

    Returns:
        The ``argparse.ArgumentParser``; a configuration field's value lands in ``args`` as ``field:<dotted
        path>`` (None when not given), read by :func:`config_from_args`.
    """
    parser = argparse.ArgumentParser(
        prog="pipeline_runner.py",
        description="Train resizer + backbone models (DenseNet-121 by default) and choose the resizer to ship with "
                    "TFX: the learnable resizer, MULLER and fixed resizes against a bilinear baseline.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the whole pipeline locally (LocalDagRunner or BeamDagRunner)",
                              usage=f"%(prog)s {CONFIG_USAGE} [--verbose] [-- BEAM_ARGS ...]",
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="Arguments after -- are passed to Beam unchanged.")
    run.add_argument("--verbose", action="store_true", help="show TFX's INFO logs and TensorFlow's start-up lines")
    _add_config_options(run)

    sweep = commands.add_parser("sweep", help="repeat the comparison over seeds (never pushes): sweep.md/json/png",
                                usage=f"%(prog)s --seeds SEEDS {CONFIG_USAGE} [--verbose] [-- BEAM_ARGS ...]",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Ingestion and Transform run once (cached); every arm is retrained "
                                       "for every seed.")
    sweep.add_argument("--seeds", required=True,
                       help="a comma-separated list (0,1,2) or a count N (the seeds 0..N-1)")
    sweep.add_argument("--verbose", action="store_true", help="show TFX's INFO logs and TensorFlow's start-up lines")
    _add_config_options(sweep)

    compile_ = commands.add_parser("compile", help="compile the pipeline for Kubeflow Pipelines v2",
                                   usage=f"%(prog)s --output FILE --image IMAGE [--pipeline-root ROOT] "
                                         f"[--skip-inputs] {CONFIG_USAGE} [-- BEAM_ARGS ...]",
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog="Arguments after -- become the components' Beam arguments.")
    _add_compile_options(compile_)
    _add_config_options(compile_)

    from serving import client

    predict = commands.add_parser("predict", help="classify image files with a model served by TF Serving")
    client.add_predict_arguments(predict)

    from serving import infer_command

    infer = commands.add_parser("infer", help="classify any number of image files with a pushed SavedModel on Beam",
                                usage="%(prog)s --model-dir DIR --images DIR_OR_GLOB --output CSV [--batch-size N] "
                                      "[--max-pixels N] [--verbose] [-- BEAM_ARGS ...]",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Arguments after -- are passed to Beam unchanged "
                                       "(e.g. --direct_running_mode=multi_processing --direct_num_workers=2).")
    infer_command.add_infer_arguments(infer)
    return parser


def _add_compile_options(parser):
    parser.add_argument("--output", required=True, metavar="FILE",
                        help="where to write the pipeline (.json: PipelineJob; .yaml: PipelineSpec)")
    parser.add_argument("--image", required=True,
                        help="container image every component runs in (built from Dockerfile)")
    parser.add_argument("--pipeline-root", default=None, metavar="ROOT",
                        help="artifact root, e.g. gs://BUCKET/root (default: <output-dir>/pipeline_root)")
    parser.add_argument("--display-name", default=None, help="display name of the pipeline job")
    parser.add_argument("--skip-inputs", action="store_true",
                        help="do not write the curated schema and the demo images under --output-dir "
                             "(they are there already; compiling then needs no filesystem access)")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up lines")


def _add_config_options(parser):
    parser.add_argument("--profile", choices=sorted(config_lib.PROFILES), default="demo",
                        help="the starting configuration (default: %(default)s)")
    parser.add_argument("--headline", action="store_true",
                        help="full profile only: the published setting (90%% of the data, 10 epochs)")
    parser.add_argument("--output-dir", help="everything the run writes goes under this directory "
                                             "(default: outputs/<profile>)")
    parser.add_argument("--set", action="append", metavar="FIELD=VALUE", default=[],
                        help="another way to override any field, e.g. --set training.epochs=2")
    _add_field_options(parser)


def config_from_args(args):
    """The configuration a parsed ``run``, ``sweep`` or ``compile`` command line asks for.

    Args:
        args: :func:`build_parser`'s result: ``--profile``, ``--headline``, ``--output-dir``, ``--set`` and the
            field options (a field option wins over ``--set`` for the same field).

    Returns:
        The validated :class:`pipeline.config.PipelineConfig` (not yet resolved).

    Raises:
        ConfigError: naming the field, for an unknown field or an invalid value.
    """
    overrides = config_lib.parse_assignments(args.set)
    for key, value in vars(args).items():
        if key.startswith("field:") and value is not None:
            overrides[key[len("field:"):]] = value
    if args.output_dir:
        overrides["output_dir"] = args.output_dir
    return config_lib.profile(args.profile, headline=args.headline, overrides=overrides)


# --- run ----------------------------------------------------------------------------

def make_runner(config):
    """TFX's orchestrator for ``config.runner``: BeamDagRunner for ``beam``, else LocalDagRunner."""
    return local_runners.make_runner(config.runner)


def run(config, beam_args=(), verbose=False):
    """``pipeline_runner.py run`` for a resolved ``config`` (:func:`pipeline.prepare.resolve_config`).

    Writes the pipeline's inputs (:func:`pipeline.prepare.write_inputs`), runs the pipeline with ML Metadata in
    ``<output_dir>/metadata.sqlite``, printing a line per component, then prints the closing table.  Everything
    is written under ``config.output_dir`` (README.md lists what).

    Args:
        config: the resolved configuration.
        beam_args: the arguments after ``--``, appended to ``config.beam_pipeline_args``.
        verbose: show TFX's INFO logs and TensorFlow's start-up lines.

    Returns:
        0, the exit status (a failing component raises).
    """
    import_tensorflow(verbose)
    from tfx.orchestration import metadata

    from pipeline.pipeline import create_pipeline
    from pipeline.prepare import write_inputs

    os.makedirs(config.output_dir, exist_ok=True)
    write_inputs(config)
    reporter = quiet_logs(verbose)
    beam_pipeline_args = list(config.beam_pipeline_args) + list(beam_args)
    pipeline = create_pipeline(
        config,
        beam_pipeline_args=beam_pipeline_args,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(config.metadata_path),
    )
    print(f"Running {config.pipeline_name} ({config.profile} profile, {config.runner} runner) "
          f"into {config.output_dir}", flush=True)
    start = time.perf_counter()
    make_runner(config).run(pipeline)
    total = time.perf_counter() - start
    print(closing_table(config, reporter.seconds, reporter.cached, total))
    return 0


def sweep(config, seeds, beam_args=(), verbose=False):
    """``pipeline_runner.py sweep``: the comparison for every seed, then the verdict across seeds.

    Args:
        config: the resolved configuration.
        seeds: the seeds (:func:`pipeline.sweep.parse_seeds`).
        beam_args: the arguments after ``--``, appended to ``config.beam_pipeline_args``.
        verbose: show TFX's INFO logs and TensorFlow's start-up lines.

    Returns:
        0, the exit status.  Written: each seed's report and ``sweep.md``, ``sweep.json``, ``sweep.png`` under
        ``<output_dir>/reports`` (:func:`pipeline.sweep.run_sweep`).
    """
    import_tensorflow(verbose)
    from components.verdict import AcrossSeeds
    from components.verdict_text import across_seeds_table, text_table
    from pipeline.prepare import write_inputs
    from pipeline.sweep import run_sweep

    os.makedirs(config.output_dir, exist_ok=True)
    write_inputs(config)
    reporter = quiet_logs(verbose)
    config = config.replace(beam_pipeline_args=tuple(config.beam_pipeline_args) + tuple(beam_args))
    print(f"Sweeping seeds {', '.join(map(str, seeds))} ({config.profile} profile) into {config.output_dir}",
          flush=True)
    start = time.perf_counter()
    # Each seed in a process of its own: its memory is given back before the next seed starts.
    summary = run_sweep(config, seeds, lambda pipeline: local_runners.run_in_fresh_process(
        config.runner, pipeline, verbose, reporter.prefix), reporter)
    print(f"\nSweep of {len(seeds)} seeds in {(time.perf_counter() - start) / 60:.1f} min, every candidate "
          f"against {summary['baseline']} (mean ± std over seeds):")
    candidates = [AcrossSeeds.from_dict(values) for values in summary["candidates"].values()]
    print("\n".join(text_table(across_seeds_table(candidates))))
    print("")
    for entry in candidates:
        print(f"  {entry.verdict}")
    print(f"  report:  {os.path.join(config.report_dir, contract.SWEEP_MARKDOWN_FILE)}")
    if summary.get("data_note"):
        print(f"\n  NOTE: {summary['data_note']}")
    return 0


class _CtrlC:
    """SIGINT, noted before it raises ``KeyboardInterrupt``.

    A library may turn the interrupt into an error of its own (TFX's launcher: "Execution 1 failed"); with
    the note, that error is still the interrupt.
    """

    seen = False

    @classmethod
    def handler(cls, signum, frame):
        cls.seen = True
        signal.default_int_handler(signum, frame)

    @classmethod
    def install(cls):
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, cls.handler)


def _follows_an_interrupt(error: BaseException) -> bool:
    """Whether ``error`` was raised while an earlier ``KeyboardInterrupt`` was handled.

    TFX's launcher then looks for the executor's output, which the interrupted executor never wrote: a
    consequence of the interrupt, no news.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def interrupted(config, error: BaseException) -> int:
    """Ctrl-C during ``run`` or ``sweep``: one line on what is kept instead of a traceback; exit status 130.

    ``error``: the ``KeyboardInterrupt``, or what a library made of it.  An error the interrupt came in the
    middle of is shown first, with its traceback.
    """
    if (isinstance(error, KeyboardInterrupt) and error.__context__ is not None
            and not _follows_an_interrupt(error.__context__)):
        traceback.print_exception(error.__context__)
    if config.enable_cache:
        how = (f"What finished is kept: the same command goes on from there, taking the finished components "
               f"from the cache in {config.metadata_path} and running the interrupted one again.")
    else:
        how = (f"What finished is kept under {config.output_dir}, but the cache is off (enable_cache false): "
               f"the same command runs every component again.")
    print(f"\npipeline_runner.py: interrupted. {how}", file=sys.stderr, flush=True)
    return 130


def main(argv=None):
    """Runs one command; what ``python pipeline_runner.py ...`` calls.

    Args:
        argv: the arguments after the program name; None: ``sys.argv[1:]``.  Those after ``--`` go to Beam.

    Returns:
        The exit status.  An invalid configuration or ``--seeds`` exits with status 2 and a message naming it;
        Ctrl-C during ``run`` or ``sweep`` with status 130 and a line on how to go on (:func:`interrupted`).
    """
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
    verbose = getattr(args, "verbose", False)
    quiet_startup(verbose)
    if args.command == "predict":
        from serving.client import predict_command

        if not args.rest:  # gRPC requests are TensorFlow protos
            import_tensorflow(verbose)
        return predict_command(args)
    if args.command == "infer":
        import_tensorflow(verbose)
        from serving.infer_command import infer_command

        with filtered_stderr(verbose):  # Beam's worker processes print to this process's standard error
            return infer_command(args, beam_args)
    try:
        # The same decisions for run and compile: both build the pipeline from this.
        config = resolve_config(config_from_args(args))
    except ConfigError as error:
        parser.exit(2, f"pipeline_runner.py: invalid configuration: {error}\n")
    if args.command == "run":
        _CtrlC.install()
        try:
            with filtered_stderr(verbose):
                return run(config, beam_args, verbose=verbose)
        except BaseException as error:
            if not (isinstance(error, KeyboardInterrupt) or _CtrlC.seen):
                raise
            return interrupted(config, error)
    if args.command == "sweep":
        from pipeline.sweep import parse_seeds

        try:
            seeds = parse_seeds(args.seeds)
        except ValueError as error:
            parser.exit(2, f"pipeline_runner.py: {error}\n")
        _CtrlC.install()
        try:
            with filtered_stderr(verbose):
                return sweep(config, seeds, beam_args, verbose=verbose)
        except BaseException as error:
            if not (isinstance(error, KeyboardInterrupt) or _CtrlC.seen):
                raise
            return interrupted(config, error)
    if args.command == "compile":
        import_tensorflow(verbose)
        from pipeline import kubeflow

        return kubeflow.compile_command(config, args, beam_args)
    parser.error(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
