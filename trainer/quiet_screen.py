"""A quiet screen for every process of a run: standard error through a filter process.

Beam's ``multi_processing`` direct runner starts its workers as
``python -m apache_beam.runners.worker.sdk_worker_main`` subprocesses that
inherit the command's standard error.  Each one imports TensorFlow, whose
CUDA build writes the "Unable to register cuDNN/cuFFT/cuBLAS factory" lines
from C++ straight to file descriptor 2, before any code of ours could run in
that process; :func:`trainer.environment.import_tensorflow` can hide them in
the main process only.

So while a command runs Beam, :func:`filtered_stderr` makes file descriptor 2
a pipe read by a separate small process (this module's :func:`main`)
that writes every line to the real standard error except those matching
:data:`trainer.environment.SCREEN_NOISE`.  Every process started meanwhile
(Beam workers, TFX's subprocesses) inherits that descriptor, so one filter
covers them all, whatever wrote the line (C++, Python, a library's logger).

Why a process and not a thread: the filter must outlive the command.  When
the command dies (an exception, a signal, ``SIGKILL``), whatever is still in
the pipe -- the traceback included -- is drained by the filter, which ends
only when the last process holding the pipe has closed it.  The other
option, having each worker quiet itself, cannot reach the C++ lines written
while the worker imports TensorFlow.

What passes: every line that does not match, unchanged and in order; a line
still unfinished after :data:`PARTIAL_LINE_SECONDS` (a prompt, a progress bar
redrawn after a carriage return) is written as it stands, and the rest of that line follows
unfiltered; an unfinished last line is written at the end.  A Python
warning is two lines (``<file>:<line>: <category>: <message>``, then the
indented source line): when the first is noise, the second goes with it.

With ``--verbose`` nothing is filtered: :func:`filtered_stderr` does nothing.
"""

import contextlib
import os
import re
import select
import signal
import subprocess
import sys

from trainer.environment import SCREEN_NOISE

# How long an unfinished line waits for its end before it is shown as it stands (seconds).
PARTIAL_LINE_SECONDS = 0.2
# How long the command waits, at its end, for the filter to write out what is still in the pipe (seconds).
DRAIN_SECONDS = 30.0
_READ_BYTES = 65536
# The first line of a Python warning as ``warnings`` prints it: "<file>:<line>: <category>: <message>".
_PYTHON_WARNING = re.compile(rb":\d+: \w*Warning: ")
# The filter process: this module's main(), found from this file's place whatever the working directory.
_PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_FILTER_COMMAND = "import sys; sys.path.insert(0, sys.argv[1]); from trainer.quiet_screen import main; sys.exit(main())"


def _write_all(fd, data):
    """Writes ``data`` to ``fd``; False once ``fd`` is gone (e.g. the reader of a pipe has exited)."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BrokenPipeError:
            return False
        view = view[written:]
    return True


def drain(source, sink, noise=SCREEN_NOISE, partial_seconds=PARTIAL_LINE_SECONDS):
    """Copies ``source`` to ``sink`` until end of file, without the lines that match ``noise``.

    Args:
        source: a readable file descriptor (a pipe's read end).
        sink: a writable file descriptor (the real standard error).
        noise: a compiled regular expression (``str`` or ``bytes``); a complete line it matches anywhere is
            dropped, newline included, and when that line is a Python warning's first line
            (``<file>:<line>: <category>: <message>``), the indented source line under it too.  Lines are
            decoded as UTF-8 (errors replaced) only to be matched; what is written is the bytes read.
        partial_seconds: how long an unfinished line waits for the rest before it is written as it stands (its
            rest is then written unfiltered).

    Returns:
        The number of lines dropped.
    """
    matches = ((lambda line: noise.search(line)) if isinstance(noise.pattern, bytes)
               else (lambda line: noise.search(line.decode("utf-8", "replace"))))
    pending = b""  # the start of a line whose end has not come yet
    shown = False  # the pending line's start is already on the screen: its rest is passed through
    source_line = False  # the last line was a dropped Python warning: the indented source line under it goes too
    dropped, writable = 0, True
    while True:
        if pending:
            ready, _, _ = select.select([source], [], [], partial_seconds)
            if not ready:
                writable = writable and _write_all(sink, pending)
                pending, shown = b"", True
                continue
        chunk = os.read(source, _READ_BYTES)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        kept = []
        for line in lines:
            if shown:
                kept.append(line + b"\n")
                source_line = False
            elif source_line and line.startswith(b"  "):
                dropped += 1
                source_line = False
            elif matches(line):
                dropped += 1
                source_line = bool(_PYTHON_WARNING.search(line))
            else:
                kept.append(line + b"\n")
                source_line = False
            shown = False
        if kept and writable:
            writable = _write_all(sink, b"".join(kept))
    if pending and writable:
        _write_all(sink, pending)
    return dropped


@contextlib.contextmanager
def filtered_stderr(verbose=False):
    """File descriptor 2 through the filter process while the ``with`` block runs (unless ``verbose``).

    Processes started inside the block inherit the filtered descriptor.  On leaving the block (normally or by an
    exception) descriptor 2 is the real standard error again, and the command waits up to
    :data:`DRAIN_SECONDS` for the filter to write out what is still in the pipe; a process still holding the pipe
    after that keeps the filter alive until it exits.

    Args:
        verbose: filter nothing.

    Yields:
        The filter's ``subprocess.Popen``, or None when ``verbose``.
    """
    if verbose:
        yield None
        return
    # multiprocessing's resource tracker, started with the first spawned process, lives as long as this
    # process: started inside the block it would hold the pipe, and leaving the block would wait
    # DRAIN_SECONDS for nothing (at the end of every sweep). Started here, it keeps the real standard error.
    if sys.platform != "win32":
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    sys.stderr.flush()
    real = os.dup(2)
    try:
        # The filter writes to the real standard error; it must not import TensorFlow (trainer's package does not).
        process = subprocess.Popen([sys.executable, "-c", _FILTER_COMMAND, _PROJECT_ROOT], stdin=subprocess.PIPE,
                                   stdout=real, stderr=real)
    except BaseException:
        os.close(real)
        raise
    os.dup2(process.stdin.fileno(), 2)
    process.stdin.close()  # descriptor 2 is now this process's only writer of the pipe
    try:
        yield process
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)
        os.close(real)
        try:
            process.wait(timeout=DRAIN_SECONDS)
        except subprocess.TimeoutExpired:
            pass  # a subprocess still holds the pipe; the filter drains it until that one exits


def main():
    """The filter process: standard input to standard output, without :data:`SCREEN_NOISE`, until end of file.

    Ctrl-C reaches the whole foreground process group; the filter ignores it, so that the command's own
    ``KeyboardInterrupt`` traceback still reaches the screen.

    Returns:
        0.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    drain(sys.stdin.fileno(), sys.stdout.fileno(), re.compile(SCREEN_NOISE.pattern.encode()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
