"""What the served model answers (serving/predictions.py): predictions from rows, the server's error."""

import pytest

from serving.predictions import Prediction, ServingError, to_predictions


def test_to_predictions_takes_each_rows_probability_of_its_class():
    import numpy as np

    rows = np.array([[0.2, 0.8], [0.6, 0.4]], np.float32)
    out = to_predictions(rows, np.array([1, 0], np.int64), ["bright", "dark"])
    assert out == [Prediction("bright", 1, pytest.approx(0.8), pytest.approx([0.2, 0.8])),
                   Prediction("dark", 0, pytest.approx(0.6), pytest.approx([0.6, 0.4]))]
    assert all(type(p.class_id) is int and type(p.probability) is float for p in out)
    assert all(type(v) is float for p in out for v in p.probabilities)


def test_the_class_id_is_the_servers_not_the_argmax():
    # A served model answers its own class_id; the client reports it as it is.
    [p] = to_predictions([[0.9, 0.1]], [1], ["b"])
    assert (p.class_id, p.class_name, p.probability) == (1, "b", 0.1)


def test_nothing_in_nothing_out():
    assert to_predictions([], [], []) == []


def test_serving_error_carries_code_and_message():
    error = ServingError("INVALID_ARGUMENT", "image 2 is not an image")
    assert str(error) == "server error INVALID_ARGUMENT: image 2 is not an image"
    assert (error.code, error.message) == ("INVALID_ARGUMENT", "image 2 is not an image")
    assert isinstance(error, RuntimeError)
