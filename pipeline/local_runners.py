"""TFX's local orchestrators, and one pipeline run in a fresh process (what a sweep does per seed).

A pipeline run in this process leaves memory behind: TensorFlow, Keras and
the allocator keep much of what three Trainers, TFMA and Beam took, and a
sweep of seeds in one process grew from one run's peak to about 8 GB over
three.  :func:`run_in_fresh_process` compiles the pipeline here (TFX's IR)
and runs it in a new Python process (``spawn``, not ``fork``: TensorFlow's
threads do not survive a fork), so every seed starts from the same memory
and gives it all back when it ends.
"""

import multiprocessing
import resource
import sys


def make_runner(runner: str):
    """TFX's orchestrator: ``BeamDagRunner`` for ``"beam"``, else ``LocalDagRunner``."""
    if runner == "beam":
        from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

        return BeamDagRunner()
    from tfx import v1 as tfx

    return tfx.orchestration.LocalDagRunner()


def _run_ir(runner: str, ir: bytes, verbose: bool, prefix: str) -> None:
    """The fresh process: the project's quiet start, progress lines with ``prefix``, the IR run to its end."""
    from trainer.environment import apply_keras_policy, import_tensorflow, quiet_startup

    apply_keras_policy()
    quiet_startup(verbose)
    import_tensorflow(verbose)
    from tfx.proto.orchestration import pipeline_pb2

    from pipeline.progress import quiet_logs

    reporter = quiet_logs(verbose)
    reporter.prefix = prefix
    try:
        make_runner(runner).run_with_ir(pipeline_pb2.Pipeline.FromString(ir))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent says what is kept
        sys.exit(130)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kilobytes
    reporter.print_line(f"peak memory of this run's process: {peak / 1e9:.2f} GB")


def run_in_fresh_process(runner: str, pipeline, verbose: bool = False, prefix: str = "") -> None:
    """Runs ``pipeline`` to its end in a new Python process, which returns all its memory when it ends.

    The pipeline is compiled here, as TFX's runners compile it (``Compiler().compile``; the project's
    components name their functions by import path, so there are no module files to package), and the new
    process runs the IR with :func:`make_runner`.  It writes to this process's standard output and error; its
    progress lines start with ``prefix`` and it ends with a line giving its peak resident memory.

    Args:
        runner: ``"local"`` or ``"beam"`` (``PipelineConfig.runner``).
        pipeline: the ``tfx.dsl.Pipeline`` (:func:`pipeline.pipeline.create_pipeline`).
        verbose: show TFX's INFO logs and TensorFlow's start-up lines there too.
        prefix: put before each progress line (e.g. ``seed 1 (2/3) ``).

    Raises:
        RuntimeError: the process ended with a non-zero status (its error is on standard error above).
    """
    from tfx.dsl.compiler import compiler

    ir = compiler.Compiler().compile(pipeline).SerializeToString()
    process = multiprocessing.get_context("spawn").Process(target=_run_ir, args=(runner, ir, verbose, prefix),
                                                           name=f"{pipeline.pipeline_info.pipeline_name} run")
    process.start()
    try:
        process.join()
    except BaseException:  # Ctrl-C here: the run must not go on alone, nor keep this process waiting
        process.terminate()
        process.join()
        raise
    if process.exitcode != 0:
        raise RuntimeError(f"pipeline {pipeline.pipeline_info.pipeline_name!r} ({prefix.strip() or 'one run'}) "
                           f"failed in its process (exit status {process.exitcode}); its error is above")
