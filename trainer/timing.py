"""The Trainer's two clocks: wall seconds per phase of the run, and per epoch inside ``fit``.

Both read ``time.perf_counter`` (seconds, monotonic); ``training_summary.json``
records what they measured (``phase_seconds``, ``run_fn_seconds``,
``epoch_seconds``, ``validation_seconds``, ``fit_outside_epochs_seconds``), and
with the phases the process's peak resident memory after each
(``process_peak_resident_bytes_after_phase``).
"""

import contextlib
import sys
import time

import keras


def process_peak_resident_bytes() -> int | None:
    """This process's peak resident memory so far, in bytes.

    Linux: ``VmHWM`` of ``/proc/self/status``, this program's own high-water mark (``getrusage``'s
    ``ru_maxrss`` would not do: it keeps the high-water mark of the process that started this one, which a
    child started from a pipeline's process inherits at ``exec``).  Elsewhere: ``ru_maxrss``.  A Trainer in a
    process of its own (``training.process: child``) gets its own peak; in the component's process
    (``same``), that of the whole local run so far.

    Returns:
        Bytes, or None where neither is available (Windows).
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, kilobytes elsewhere


class PhaseTimer:
    """Wall seconds per named phase of a Trainer (``with timer.phase("export"): ...``), for the summary.

    Attributes:
        seconds: ``{phase name: seconds}`` in the order the phases first ran; a phase entered twice adds up.
        peak_resident_bytes: ``{phase name: the process's peak resident bytes when the phase ended}``
            (:func:`process_peak_resident_bytes`; a high-water mark, so the phase where it rises is the one
            that took the memory).
        start: ``time.perf_counter()`` when the timer was made (the start of the run).
    """

    def __init__(self):
        self.seconds = {}
        self.peak_resident_bytes = {}
        self.start = time.perf_counter()

    @contextlib.contextmanager
    def phase(self, name):
        """Adds the wall seconds of the ``with`` block to ``seconds[name]``, also when the block raises.

        Args:
            name: the phase, e.g. ``"decode"``, ``"build"``, ``"fit"``, ``"export"``.

        Yields:
            None.
        """
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            self.peak_resident_bytes[name] = process_peak_resident_bytes()

    def elapsed(self) -> float:
        """Wall seconds since the timer was made."""
        return time.perf_counter() - self.start


class EpochTimer(keras.callbacks.Callback):
    """Wall time per epoch, the part of it spent on validation, and the time ``fit`` spends between them.

    Keep this callback first in ``fit``'s list, so the other callbacks' work counts as outside the epochs.

    Attributes:
        seconds: wall seconds of each epoch, validation included (one float per epoch).
        validation_seconds: the part of each epoch spent in validation (0.0 without validation data).
        outside_seconds: ``{"before_first_epoch", "between_epochs", "after_last_epoch"}`` seconds: from the start
            of training to the first epoch, between epochs (the other callbacks' epoch ends) and from the last
            epoch to the end of training.
    """

    def __init__(self):
        super().__init__()
        self.seconds = []
        self.validation_seconds = []
        self.outside_seconds = {"before_first_epoch": 0.0, "between_epochs": 0.0, "after_last_epoch": 0.0}
        self._last_end = None

    def on_train_begin(self, logs=None):
        self._last_end = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        if self._last_end is not None:
            key = "between_epochs" if self.seconds else "before_first_epoch"
            self.outside_seconds[key] += self._start - self._last_end
        self.validation_seconds.append(0.0)

    def on_test_begin(self, logs=None):
        self._test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        if self.validation_seconds:
            self.validation_seconds[-1] += time.perf_counter() - self._test_start

    def on_epoch_end(self, epoch, logs=None):
        self._last_end = time.perf_counter()
        self.seconds.append(self._last_end - self._start)

    def on_train_end(self, logs=None):
        if self._last_end is not None:
            self.outside_seconds["after_last_epoch"] = time.perf_counter() - self._last_end

    def train_seconds(self) -> list[float]:
        """Wall seconds of each epoch less its validation: the time spent on training steps."""
        return [total - val for total, val in zip(self.seconds, self.validation_seconds)]
