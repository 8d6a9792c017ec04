"""The standard-error filter of a quiet run: noise dropped, everything else kept in order, nothing lost."""

import os
import re
import subprocess
import sys
import textwrap
import threading
import time

from trainer.environment import SCREEN_NOISE
from trainer.quiet_screen import drain

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# As TensorFlow's CUDA build prints them at import, in the main process and in every Beam worker.
CUDA_LINES = [
    "E0000 00:00:1764532329.113 1234 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to register "
    "factory for plugin cuDNN when one has already been registered",
    "E0000 00:00:1764532329.114 1234 cuda_fft.cc:485] Unable to register cuFFT factory: Attempting to register "
    "factory for plugin cuFFT when one has already been registered",
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
]
# As the runner repeats its multi_processing workers' log lines, and TFMA's AUC on a slice of one class.
WORKER_LINES = [
    "WARNING:apache_beam.runners.portability.local_job_service:Worker: severity: WARN timestamp {   seconds: 1796069167"
    "   nanos: 160605192 } message: \"No semi_persistent_directory found: Functions defined in __main__ (interactive "
    "session) may fail.\" log_location: \"/venv/apache_beam/runners/worker/sdk_worker_main.py:361\" thread: "
    "\"MainThread\" ",
    "WARNING:apache_beam.runners.portability.local_job_service:Worker: severity: WARN timestamp {   seconds: 1796069167"
    "   nanos: 191586017 } message: \"Discarding unparseable args: [\\'--pipeline_type_check\\', "
    "\\'--direct_runner_use_stacked_bundle\\']\" log_location: \"/venv/apache_beam/options/pipeline_options.py:394\"",
    "WARNING:apache_beam.runners.portability.local_job_service:Worker: severity: WARN timestamp {   seconds: 1796069193"
    "   nanos: 358710050 } message: \"Couldn\\'t find python-snappy so the implementation of "
    "_TFRecordUtil._masked_crc32c is not as fast as it could be.\" instruction_id: \"bundle_11\"",
    "/venv/lib/python3.10/site-packages/tensorflow_model_analysis/metrics/confusion_matrix_metrics.py:553: "
    "RuntimeWarning: invalid value encountered in divide",
]
KEPT_LINES = [
    "WARNING: skipped 3 bad image file(s): see bad_images.tsv",
    "Traceback (most recent call last):",
    '  File "x.py", line 1, in <module>',
    "ValueError: too few examples in split 'eval': 2 (at least 4)",
]


def filtered(data, noise=SCREEN_NOISE, writes=None, pause=0.0):
    """``data`` (bytes, or a list of chunks written ``pause`` seconds apart) through :func:`drain`."""
    chunks = writes or [data]
    read_end, write_end = os.pipe()
    out_read, out_write = os.pipe()
    result = {}

    def run():
        result["dropped"] = drain(read_end, out_write, noise, partial_seconds=0.1)
        os.close(out_write)

    thread = threading.Thread(target=run)
    thread.start()
    for chunk in chunks:
        os.write(write_end, chunk)
        time.sleep(pause)
    os.close(write_end)
    with os.fdopen(out_read, "rb") as f:
        output = f.read()
    thread.join(timeout=10)
    os.close(read_end)
    return output, result["dropped"]


def test_noise_lines_are_dropped_and_the_others_kept_in_order():
    lines = [CUDA_LINES[0], KEPT_LINES[0], CUDA_LINES[1], CUDA_LINES[2], *KEPT_LINES[1:]]
    output, dropped = filtered(("\n".join(lines) + "\n").encode())
    assert output.decode().splitlines() == KEPT_LINES
    assert dropped == len(CUDA_LINES)


def test_lines_split_across_writes_are_matched_whole():
    data = ("\n".join([KEPT_LINES[0], CUDA_LINES[0], KEPT_LINES[1]]) + "\n").encode()
    pieces = [data[i:i + 7] for i in range(0, len(data), 7)]
    output, _ = filtered(None, writes=pieces)
    assert output.decode().splitlines() == KEPT_LINES[:2]


def test_an_unfinished_last_line_is_kept():
    output, _ = filtered(f"{KEPT_LINES[0]}\n{CUDA_LINES[0]}\nprompt without newline".encode())
    assert output == f"{KEPT_LINES[0]}\nprompt without newline".encode()


def test_an_unfinished_line_is_shown_after_a_pause_and_its_rest_follows():
    # A progress bar redrawn with \r: shown while it is drawn, not only when its line ends.
    chunks = [b"\r 10%|#", b"\r 50%|#####", b"\r100%|##########| Unable to register cuDNN factory\n",
              (CUDA_LINES[0] + "\n").encode()]
    output, dropped = filtered(None, writes=chunks, pause=0.3)
    assert output == b"".join(chunks[:3]) and dropped == 1


def test_invalid_utf8_passes_byte_for_byte():
    data = b"caf\xe9 \xff\xfe kept\n" + (CUDA_LINES[0] + "\n").encode()
    output, _ = filtered(data)
    assert output == b"caf\xe9 \xff\xfe kept\n"


# As a Trainer of the learnable resizer printed it with oneDNN on (TensorFlow 2.16, AMD EPYC, AVX2 only).
REMAPPER_LINE = (
    "2026-12-01 07:16:50.705255: E tensorflow/core/grappler/optimizers/meta_optimizer.cc:961] remapper failed: "
    "INVALID_ARGUMENT: Mutation::Apply error: fanout 'StatefulPartitionedCall/gradient_tape/learnable_resizer_1/"
    "resizer_1/LeakyRelu_1/LeakyReluGrad' exist for missing node 'StatefulPartitionedCall/learnable_resizer_1/"
    "resizer_1/conv_mix_1/BiasAdd'.")


def test_the_table_matches_what_workers_print_and_not_what_matters():
    for line in CUDA_LINES + WORKER_LINES + [REMAPPER_LINE]:
        assert SCREEN_NOISE.search(line), line
    # Any other Grappler failure still shows.
    assert not SCREEN_NOISE.search(REMAPPER_LINE.replace("LeakyReluGrad", "ReluGrad"))
    assert not SCREEN_NOISE.search(REMAPPER_LINE.replace("remapper failed", "layout failed"))
    # A worker's line that matters, an option of the user's that Beam does not know, another TFMA warning.
    unknown_option = WORKER_LINES[1].replace("--pipeline_type_check", "--direct_num_wrokers=2")
    other_warning = WORKER_LINES[3].replace("invalid value encountered in divide", "divide by zero encountered")
    for line in KEPT_LINES + [WORKER_LINES[0].replace("No semi_persistent_directory found", "Worker failed"),
                              unknown_option, other_warning]:
        assert not SCREEN_NOISE.search(line), line


def run_python(code, timeout=60):
    """``code`` in a fresh interpreter; its standard error as the terminal would see it."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


CHILD = (
    "import os, sys\n"
    + "".join(f"os.write(2, {line + chr(10)!r}.encode())\n" for line in (CUDA_LINES[0], KEPT_LINES[0], CUDA_LINES[1],
                                                                         KEPT_LINES[1]))
)


def test_output_of_child_processes_is_filtered():
    done = run_python(f"""
        import subprocess, sys
        from trainer.quiet_screen import filtered_stderr
        with filtered_stderr():
            print("parent before", file=sys.stderr, flush=True)
            subprocess.run([sys.executable, "-c", {CHILD!r}], check=True)
            print("parent after", file=sys.stderr, flush=True)
        print("parent outside", file=sys.stderr, flush=True)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ["parent before", KEPT_LINES[0], KEPT_LINES[1], "parent after",
                                        "parent outside"]


def test_a_spawned_process_inside_does_not_leave_multiprocessings_tracker_holding_the_pipe():
    """The resource tracker outlives the block; with the pipe as its fd 2, leaving the block would wait 30 s."""
    done = run_python("""
        import multiprocessing, os
        from multiprocessing import resource_tracker
        from trainer.quiet_screen import filtered_stderr
        if __name__ == "__main__":
            real = os.readlink("/proc/self/fd/2")
            with filtered_stderr():
                process = multiprocessing.get_context("spawn").Process(target=os.getpid)
                process.start()
                process.join()
            tracker = resource_tracker._resource_tracker._pid
            print(real, os.readlink(f"/proc/{tracker}/fd/2"))
    """)
    assert done.returncode == 0, done.stderr
    real, trackers = done.stdout.split()
    assert trackers == real


def test_verbose_keeps_everything():
    done = run_python(f"""
        import subprocess, sys
        from trainer.quiet_screen import filtered_stderr
        with filtered_stderr(verbose=True) as process:
            assert process is None
            subprocess.run([sys.executable, "-c", {CHILD!r}], check=True)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [CUDA_LINES[0], KEPT_LINES[0], CUDA_LINES[1], KEPT_LINES[1]]


def test_nothing_is_lost_when_the_command_is_killed():
    """SIGKILL while a child is still writing: the filter drains the pipe to its end."""
    done = run_python(f"""
        import os, signal, subprocess, sys, time
        from trainer.quiet_screen import filtered_stderr
        slow_child = "import os, time\\ntime.sleep(1)\\n" + {CHILD!r} + "os.write(2, b'child done, no newline')"
        with filtered_stderr():
            sys.stderr.write("".join(f"line {{i}}\\n" for i in range(2000)))
            sys.stderr.write("{CUDA_LINES[0]}\\n")
            sys.stderr.flush()
            subprocess.Popen([sys.executable, "-c", slow_child])
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert done.returncode == -9
    lines = done.stderr.splitlines()
    assert lines == [f"line {i}" for i in range(2000)] + [KEPT_LINES[0], KEPT_LINES[1], "child done, no newline"]


def test_an_uncaught_exception_reaches_the_screen_after_the_filtered_lines():
    done = run_python(f"""
        import sys
        from trainer.quiet_screen import filtered_stderr
        with filtered_stderr():
            print("{CUDA_LINES[0]}", file=sys.stderr)
            print("{KEPT_LINES[0]}", file=sys.stderr)
            raise ValueError("too few examples")
    """)
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == KEPT_LINES[0]
    assert re.search(r"Traceback \(most recent call last\):\n(.*\n)+ValueError: too few examples\n$", done.stderr)


FUTURE_WARNING = [
    "/venv/lib/python3.10/site-packages/google/api_core/_python_version_support.py:246: FutureWarning: You are "
    "using a non-supported Python version (3.10.13).",
    "  warnings.warn(message, FutureWarning)",
]


def test_a_noisy_python_warning_goes_with_its_source_line_and_others_stay_whole():
    ours = ["/app/components/data_gate.py:88: UserWarning: only 3 examples in split 'eval'",
            "  warnings.warn(text)"]
    lines = [*FUTURE_WARNING, *ours, *FUTURE_WARNING[:1], KEPT_LINES[1], "  indented, not a source line"]
    output, dropped = filtered(("\n".join(lines) + "\n").encode())
    assert output.decode().splitlines() == [*ours, KEPT_LINES[1], "  indented, not a source line"]
    assert dropped == 3


def test_the_main_process_ignores_the_same_warnings_by_message_and_module():
    done = run_python("""
        import warnings
        from trainer.environment import quiet_startup
        quiet_startup()
        for message, module in (("invalid value encountered in divide", "tensorflow_model_analysis.metrics."
                                 "confusion_matrix_metrics"), ("invalid value encountered in divide", "components.x"),
                                ("divide by zero encountered", "tensorflow_model_analysis.metrics."
                                 "confusion_matrix_metrics")):
            warnings.warn_explicit(message, RuntimeWarning, "x.py", 1, module=module)
    """)
    assert done.returncode == 0, done.stderr
    shown = [line for line in done.stderr.splitlines() if "RuntimeWarning" in line]
    assert shown == ["x.py:1: RuntimeWarning: invalid value encountered in divide",
                     "x.py:1: RuntimeWarning: divide by zero encountered"], done.stderr


def test_counting_flops_and_reading_tfma_results_print_no_deprecation():
    """The cost of an arm (the Trainer) and TFMA's reader of its results (the comparison) in a quiet process."""
    done = run_python("""
        from trainer.environment import import_tensorflow, quiet_startup
        quiet_startup()
        tf = import_tensorflow()
        import os, tempfile
        import tensorflow_model_analysis as tfma
        from tensorflow_model_analysis.proto import metrics_for_slice_pb2
        from trainer import backbones, cost, models
        from trainer.config import ArmConfig
        config = ArmConfig(arm="learnable_resizer", backbone="small_convnet", image_size=(16, 16),
                           target_size=(8, 8))
        print(cost.model_cost(models.build_classifier(config, backbones.build_backbone(config)), (16, 16)))
        folder = tempfile.mkdtemp()
        with tf.io.TFRecordWriter(os.path.join(folder, "metrics")) as writer:
            writer.write(metrics_for_slice_pb2.MetricsForSlice().SerializeToString())
        print(len(list(tfma.load_metrics(folder))))
    """, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "flops" in done.stdout and done.stdout.splitlines()[-1] == "1"
    assert "deprecated" not in done.stderr, done.stderr


def test_deprecation_lines_of_calls_inside_tfma_or_tensorflow_are_dropped_and_others_kept():
    import logging

    from trainer.environment import ROUTINE_LOG_LINES, _DropRoutineLines

    keep = _DropRoutineLines(ROUTINE_LOG_LINES["tensorflow"])
    message = ("From {}: tf_record_iterator (from tensorflow.python.lib.io.tf_record) is deprecated and will be "
               "removed in a future version.\nInstructions for updating:\nUse eager execution and: \n"
               "`tf.data.TFRecordDataset(path)`")
    tfma_file = "/venv/lib/python3.10/site-packages/tensorflow_model_analysis/writers/metrics_plots_and_validations_" \
                "writer.py:112"

    def record(text):
        return logging.LogRecord("tensorflow", logging.WARNING, "x.py", 1, text, None, None)

    tf_file = "/venv/lib/python3.10/site-packages/tensorflow/python/ops/nn_ops.py:5256"
    assert not keep.filter(record(message.format(tfma_file)))
    assert not keep.filter(record(message.format(tf_file)))
    assert keep.filter(record(message.format("/app/components/paired_comparison.py:140")))
    assert keep.filter(record(message.format("/venv/lib/python3.10/site-packages/tfx/x.py:3")))
    assert keep.filter(record(message.format("/home/user/tensorflow_work/train.py:3")))
    assert keep.filter(record(f"From {tfma_file}: calling dropout (from tensorflow.python.ops.nn_ops) with "
                              "keep_prob is deprecated and will be removed in a future version."))
    assert keep.filter(record(message.format(tfma_file).replace("is deprecated", "failed")))


def test_beams_warning_about_tfxs_component_dofn_is_dropped_and_about_any_other_dofn_kept():
    import logging

    from tfx.orchestration.beam.beam_dag_runner import PipelineNodeAsDoFn

    from trainer.environment import ROUTINE_LOG_LINES, SCREEN_NOISE, _DropRoutineLines

    keep = _DropRoutineLines(ROUTINE_LOG_LINES["apache_beam.transforms.core"])

    def record(cls):  # as Beam logs it: a tuple as the message (apache_beam.transforms.core)
        return logging.LogRecord("apache_beam.transforms.core", logging.WARNING, "core.py", 1,
                                 ("No iterator is returned by the process method in %s.", cls), None, None)

    class MyDoFn:
        pass

    assert not keep.filter(record(PipelineNodeAsDoFn))
    assert keep.filter(record(MyDoFn))
    # The same line as a Beam worker process would print it, through the quiet screen's filter.
    assert SCREEN_NOISE.search(f"WARNING:apache_beam.transforms.core:{record(PipelineNodeAsDoFn).getMessage()}")
    assert not SCREEN_NOISE.search(f"WARNING:apache_beam.transforms.core:{record(MyDoFn).getMessage()}")
