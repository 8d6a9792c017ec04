"""The command line's first screen: the project's own lines, not the libraries' start-up noise."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from trainer import contract

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(ROOT, "pipeline_runner.py")
FIRST_LINES = 5

# What a first screen showed before it was quieted, as seen on these machines.
NOISE = re.compile(
    r"Unable to register cu(DNN|FFT|BLAS) factory"  # TensorFlow's CUDA build at import
    r"|FutureWarning|warnings\.warn\("  # Google client libraries
    r"|^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] "  # TensorFlow C++ info / warning lines
    r"|^[IW]\d{4} \d\d:\d\d:\d\d"  # the same through absl's C++ logging
    r"|oneDNN custom operations|TensorRT|cuda drivers|absl::InitializeLog"
    r"|ArtifactQuery\.property_predicate|python-snappy|in-place Transform"
    # Beam's worker processes (multi_processing), as the runner repeats their log lines; TFMA's 0/0 in one-class slices
    r"|semi_persistent_directory|Discarding unparseable args: \[\\'--(direct_runner|pipeline_type)"
    r"|RuntimeWarning: invalid value encountered in divide|^  (recall|fp_rate) = "
)


def _environment():
    """The user's environment, without what the tests' own process set up."""
    removed = ("TF_CPP_MIN_LOG_LEVEL", "TF_USE_LEGACY_KERAS", "KERAS_BACKEND", "PYTHONWARNINGS",
               "TF_ENABLE_ONEDNN_OPTS")
    return {k: v for k, v in os.environ.items() if k not in removed}


def first_lines(argv, limit=FIRST_LINES, timeout=300, then=None):
    """The first ``limit`` lines of stdout and stderr together; the process is killed after them.

    With ``then`` (a function of the process) it is called instead of the kill, and the process is read to
    its end: returns (first lines, the lines after them, exit status).
    """
    proc = subprocess.Popen([sys.executable, RUNNER, *argv], cwd=ROOT, env=_environment(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines, deadline = [], time.monotonic() + timeout
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if len(lines) == limit or time.monotonic() > deadline:
                break
        if then is None:
            return lines
        then(proc)
        rest, _ = proc.communicate(timeout=timeout)
        return lines, rest.splitlines(), proc.returncode
    finally:
        proc.kill()
        proc.wait(timeout=60)


def assert_quiet(lines):
    noisy = [line for line in lines if NOISE.search(line)]
    assert not noisy, "\n".join(lines)


def test_noise_pattern_matches_what_the_libraries_print():
    """The check below would see each kind of line it is meant to keep out."""
    seen_before = [
        "2026-11-28 15:52:00.943366: E external/local_xla/xla/stream_executor/cuda/cuda_dnn.cc:10575] "
        "Unable to register cuDNN factory: Attempting to register factory for plugin cuDNN",
        "/x/google/api_core/_python_version_support.py:246: FutureWarning: You are using a non-supported "
        "Python version (3.10.13).",
        "2026-11-28 15:52:33.028951: I external/local_tsl/tsl/cuda/cudart_stub.cc:32] Could not find cuda drivers",
        "WARNING: ArtifactQuery.property_predicate is not supported.",
    ]
    assert all(NOISE.search(line) for line in seen_before)
    assert not NOISE.search("[16:06:01] ▶ ImageFolderExampleGen ...")


def test_help_starts_with_the_usage():
    for command in ("run", "compile", "predict"):
        lines = first_lines([command, "--help"])
        assert lines[0].startswith(f"usage: pipeline_runner.py {command}"), lines
        assert_quiet(lines)


def test_a_tiny_run_starts_with_the_projects_own_lines_and_ctrl_c_ends_it_in_one(tmp_path):
    lines, rest, status = first_lines(
        ["run", "--output-dir", str(tmp_path), "--data.demo_images_per_class", "4",
         "--data.max_bad_fraction", "0.9", "--training.image_size", "64,64",
         "--training.target_size", "32,32", "--training.epochs", "1"],
        then=lambda proc: proc.send_signal(signal.SIGINT))  # Ctrl-C
    assert len(lines) == FIRST_LINES, lines
    assert_quiet(lines)
    assert lines[0].startswith("Generating the synthetic demo data set"), lines
    assert lines[1].startswith("Running resizer_tfx (demo profile, local runner)"), lines
    # A warning that matters stays: the demo set's deliberately bad files.
    assert any("skipped" in line and contract.BAD_IMAGES_FILE in line for line in lines), lines
    # Interrupted: what is kept and how to go on, in one line, instead of a traceback.
    assert status == 130, rest
    assert not any("Traceback" in line for line in rest), "\n".join(rest)
    assert rest[-1].startswith("pipeline_runner.py: interrupted. What finished is kept"), rest
    assert f"in {tmp_path / 'metadata.sqlite'} and" in rest[-1], rest


def test_verbose_shows_tensorflow_start_up_lines(tmp_path):
    lines = first_lines(["compile", "--verbose", "--output", str(tmp_path / "p.json"), "--image", "img",
                         "--output-dir", str(tmp_path / "out"), "--skip-inputs"], limit=40)
    assert any(NOISE.search(line) for line in lines), "\n".join(lines)


def test_the_interrupted_line_says_when_the_cache_is_off_and_shows_the_error_it_cut_into(capsys):
    import types

    sys.path.insert(0, ROOT)
    import pipeline_runner

    config = types.SimpleNamespace(enable_cache=False, output_dir="/out", metadata_path="/out/metadata.sqlite")
    try:
        try:
            raise ValueError("the component's own failure")
        except ValueError:
            raise KeyboardInterrupt  # noqa: B904 - Ctrl-C while the failure was unwinding
    except KeyboardInterrupt as error:
        assert error.__context__ is not None
        assert pipeline_runner.interrupted(config, error) == 130
    err = capsys.readouterr().err
    assert "ValueError: the component's own failure" in err and "Traceback" in err
    assert err.rstrip().endswith("pipeline_runner.py: interrupted. What finished is kept under /out, but the "
                                 "cache is off (enable_cache false): the same command runs every component again.")


def test_ctrl_c_that_a_library_turned_into_its_own_error_is_still_the_interrupt(tmp_path, monkeypatch, capsys):
    """TFX's launcher can report the interrupt as "Execution 1 failed"; the command still ends as interrupted."""
    import signal as signals

    sys.path.insert(0, ROOT)
    import pipeline_runner

    def run_interrupted_inside_a_library(config, beam_args, verbose=False):
        try:
            os.kill(os.getpid(), signals.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt as error:
            raise RuntimeError("Execution 1 failed.") from error

    monkeypatch.setattr(pipeline_runner, "run", run_interrupted_inside_a_library)
    monkeypatch.setattr(pipeline_runner._CtrlC, "seen", False)
    try:
        status = pipeline_runner.main(["run", "--verbose", "--output-dir", str(tmp_path)])
    finally:
        signals.signal(signals.SIGINT, signals.default_int_handler)
    assert status == 130
    assert "pipeline_runner.py: interrupted." in capsys.readouterr().err
    # Any other error, without Ctrl-C, is raised as it is.
    monkeypatch.setattr(pipeline_runner._CtrlC, "seen", False)
    monkeypatch.setattr(pipeline_runner, "run", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("real")))
    with pytest.raises(RuntimeError, match="real"):
        pipeline_runner.main(["run", "--verbose", "--output-dir", str(tmp_path)])
    signals.signal(signals.SIGINT, signals.default_int_handler)
