"""trainer.timing: the phases of a run, the epochs, and where ``fit`` spends time outside them."""

import os
import subprocess
import sys
import types

import keras
import numpy as np
import pytest

from trainer import timing

PAUSE = 5.0


class Clock:
    """A clock that moves only when told: the figures below are exact, whatever the machine's load."""

    def __init__(self):
        self.now = 100.0

    def perf_counter(self):
        return self.now


class Pauses(keras.callbacks.Callback):
    """Advances the clock where ``fit`` calls other callbacks: at the start of training and at every epoch's end."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def on_train_begin(self, logs=None):
        self.clock.now += PAUSE

    def on_epoch_end(self, epoch, logs=None):
        self.clock.now += PAUSE


def test_time_outside_the_epochs_is_counted_where_it_is_spent(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    timer = timing.EpochTimer()
    x, y = np.zeros((4, 3), "float32"), np.zeros((4, 1), "float32")
    model.fit(x, y, epochs=3, batch_size=2, verbose=0, callbacks=[timer, Pauses(clock)])
    assert timer.seconds == [0.0, 0.0, 0.0] and timer.validation_seconds == [0.0, 0.0, 0.0]
    assert timer.outside_seconds == {
        "before_first_epoch": PAUSE,
        "between_epochs": 2 * PAUSE,  # after epochs 1 and 2
        "after_last_epoch": PAUSE,  # after epoch 3
    }
    assert timer.train_seconds() == [0.0, 0.0, 0.0]


def test_validation_is_counted_apart_from_training(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    timer = timing.EpochTimer()
    for epoch, (train, validation) in enumerate(((3.0, 1.0), (2.0, 0.5))):
        timer.on_epoch_begin(epoch)
        clock.now += train
        timer.on_test_begin()
        clock.now += validation
        timer.on_test_end()
        timer.on_epoch_end(epoch)
    assert timer.seconds == [4.0, 2.5] and timer.validation_seconds == [1.0, 0.5]
    assert timer.train_seconds() == [3.0, 2.0]


def test_phases_add_up_in_the_order_they_first_ran_also_when_one_raises(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    timer = timing.PhaseTimer()
    with timer.phase("decode"):
        clock.now += 2.0
    with timer.phase("fit"):
        clock.now += 3.0
    with pytest.raises(RuntimeError), timer.phase("decode"):
        clock.now += 0.5
        raise RuntimeError("stop")
    assert list(timer.seconds.items()) == [("decode", 2.5), ("fit", 3.0)]
    assert timer.elapsed() == 5.5


def test_each_phase_records_the_process_peak_memory_when_it_ended(monkeypatch):
    peaks = iter([100, 250])
    monkeypatch.setattr(timing, "process_peak_resident_bytes", lambda: next(peaks))
    timer = timing.PhaseTimer()
    with timer.phase("fit"):
        pass
    with pytest.raises(RuntimeError), timer.phase("export"):
        raise RuntimeError("stop")
    assert timer.peak_resident_bytes == {"fit": 100, "export": 250}


def test_the_process_peak_memory_is_its_own_not_its_parents(tmp_path):
    """A child of a process that holds 600 MB more reports its own peak (``ru_maxrss`` would report the parent's).

    The child, started from this process after it touched 600 MB, allocates 200 MB and reports its peak before
    and after; both must lie far below the parent's, and differ by the 200 MB, in bytes.
    """
    code = ("import numpy; from trainer.timing import process_peak_resident_bytes as peak; before = peak(); "
            "block = numpy.ones(200 * 2**20, numpy.uint8); print(before, peak())")
    held = np.ones(600 * 2**20, np.uint8)
    parent_peak = timing.process_peak_resident_bytes()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    del held
    before, after = map(int, out.stdout.split()[-2:])
    assert 100 * 2**20 < before < parent_peak - 500 * 2**20, (before, parent_peak)
    assert 190 * 2**20 < after - before < 230 * 2**20  # bytes, not kilobytes
