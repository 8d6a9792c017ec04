"""trainer.run.EpochTimer: epochs, and where ``fit`` spends time outside them."""

import time

import numpy as np

import keras

from trainer.run import EpochTimer

PAUSE = 0.3


class Pauses(keras.callbacks.Callback):
    """Sleeps where ``fit`` calls other callbacks: at the start of training and at every epoch's end."""

    def on_train_begin(self, logs=None):
        time.sleep(PAUSE)

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(PAUSE)


def test_time_outside_the_epochs_is_counted_where_it_is_spent():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    timer = EpochTimer()
    x, y = np.zeros((4, 3), "float32"), np.zeros((4, 1), "float32")
    model.fit(x, y, epochs=3, batch_size=2, verbose=0, callbacks=[timer, Pauses()])
    assert len(timer.seconds) == 3 and len(timer.validation_seconds) == 3
    outside = timer.outside_seconds
    assert outside["before_first_epoch"] >= PAUSE
    assert outside["between_epochs"] >= 2 * PAUSE  # the pauses after epochs 1 and 2
    assert outside["after_last_epoch"] >= PAUSE  # the pause after epoch 3
    # The epochs after the first (which traces the step) do not contain the pauses.
    assert all(s < PAUSE for s in timer.seconds[1:])
