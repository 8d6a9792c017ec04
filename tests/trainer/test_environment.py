"""The Keras policy: the same Keras 3 model whichever entry point imports first."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROBE = r"""
import json, os, sys
order = sys.argv[1]
if order == "tft_first":
    import tensorflow_transform  # sets TF_USE_LEGACY_KERAS as a side effect
    from trainer import backbones, models
else:
    from trainer import backbones, models
    import tensorflow_transform
import numpy as np
import tensorflow as tf
import keras
from trainer.config import ArmConfig
from trainer.contract import LEARNABLE_RESIZER_ARM
config = ArmConfig(arm=LEARNABLE_RESIZER_ARM, backbone="small_convnet", image_size=(64, 64), target_size=(32, 32),
                   seed=5)
model = models.build_classifier(config, backbones.build_backbone(config))
x = np.linspace(0, 255, 2 * 64 * 64 * 3, dtype="float32").reshape(2, 64, 64, 3)
print(json.dumps({
    "env": os.environ.get("TF_USE_LEGACY_KERAS"),
    "keras": keras.__version__,
    "model_module": type(model).__module__,
    "tf_keras": tf.keras.__name__,
    "out": model(x, training=False).numpy().tolist(),
}))
"""


def probe(order):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "KERAS_BACKEND")}
    proc = subprocess.run([sys.executable, "-c", PROBE, order], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def probes():
    return probe("trainer_first"), probe("tft_first")


def test_policy_is_the_same_whatever_imports_first(probes):
    trainer_first, tft_first = probes
    for result in probes:
        assert result["env"] == "1"
        assert result["keras"].startswith("3.")
        assert result["model_module"].startswith("keras.")  # Keras 3, not tf_keras
        assert "tf_keras" in result["tf_keras"]
    assert trainer_first["tf_keras"] == tft_first["tf_keras"]


def test_model_outputs_are_identical_whatever_imports_first(probes):
    trainer_first, tft_first = probes
    assert trainer_first["out"] == tft_first["out"]


def test_onednn_is_on_unless_the_user_chose(tmp_path):
    from trainer import environment

    assert environment.apply_keras_policy({})["TF_ENABLE_ONEDNN_OPTS"] == "1"
    assert environment.apply_keras_policy({"TF_ENABLE_ONEDNN_OPTS": "0"})["TF_ENABLE_ONEDNN_OPTS"] == "0"
    # GPU memory grows as used (a Trainer's child process shares the GPU with the pipeline's), unless the user chose.
    assert environment.apply_keras_policy({})["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    chosen = {"TF_FORCE_GPU_ALLOW_GROWTH": "false"}
    assert environment.apply_keras_policy(chosen)["TF_FORCE_GPU_ALLOW_GROWTH"] == "false"
    # In a fresh process (the user's environment without the variable) it is in force once TensorFlow loads.
    check = ("import trainer, tensorflow\nfrom tensorflow.python.util import _pywrap_util_port\n"
             "print(_pywrap_util_port.IsMklEnabled())")
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    for setting, expected in ((None, "True"), ("0", "False")):
        if setting is not None:
            env["TF_ENABLE_ONEDNN_OPTS"] = setting
        proc = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.strip().splitlines()[-1] == expected
        assert "came too late" not in proc.stderr  # the package came first: nothing to warn about


def test_tensorflow_imported_first_is_a_warning_naming_what_came_too_late():
    # The user's environment without the variables, TensorFlow imported before the package (a notebook's order).
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_USE_LEGACY_KERAS", "KERAS_BACKEND")}
    proc = subprocess.run([sys.executable, "-c", "import tensorflow\nimport trainer"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "RuntimeWarning: TensorFlow was imported before resizer-tfx's trainer package, so " \
           "TF_USE_LEGACY_KERAS=1, KERAS_BACKEND=tensorflow, TF_ENABLE_ONEDNN_OPTS=1 came too late" in proc.stderr


def test_the_pipeline_package_applies_the_policy_before_it_loads_tensorflow():
    """``pipeline.pipeline`` (what a user's own runner imports) loads TFMA, hence TensorFlow, at its top."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_USE_LEGACY_KERAS", "KERAS_BACKEND")}
    check = ("import os, sys\nimport pipeline.pipeline\n"
             "print('tensorflow' in sys.modules, os.environ['TF_ENABLE_ONEDNN_OPTS'])")
    proc = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-2:] == ["True", "1"] and "came too late" not in proc.stderr


def test_the_container_image_sets_the_same_variables():
    from trainer import environment

    with open(os.path.join(ROOT, "Dockerfile")) as f:
        dockerfile = f.read()
    for key, value in {**environment.KERAS_POLICY_ENV, **environment.TENSORFLOW_CPU_ENV,
                       **environment.TENSORFLOW_GPU_ENV}.items():
        assert f"{key}={value}" in dockerfile


def test_beam_pickling_sets_no_logger_level_it_already_has(monkeypatch):
    """Beam's dill pickler resets dill's logger after every dumps/loads; an unchanged level is not set again."""
    import logging

    import dill._dill
    from apache_beam.internal import pickler

    import trainer  # noqa: F401  (applies the change on import)
    from trainer.environment import spare_dill_trace_resets

    assert dill._dill._trace.skips_unchanged_level
    wrapped = dill._dill._trace
    spare_dill_trace_resets()  # a second call leaves it as it is
    assert dill._dill._trace is wrapped
    levels = []
    monkeypatch.setattr(dill._dill.log, "setLevel", levels.append)
    monkeypatch.setattr(dill._dill.log, "level", logging.WARN)
    value = {"thresholds": [0.5] * 10, "name": "auc"}
    for _ in range(5):
        assert pickler.loads(pickler.dumps(value)) == value
    assert levels == []
    # A changed level (dill's own trace switched on) is still reset, as dill does it.
    monkeypatch.setattr(dill._dill.log, "level", logging.INFO)
    assert pickler.loads(pickler.dumps(value)) == value
    assert levels and set(levels) == {logging.WARN}
    # Beam's retry of a failed pickle switches dill's trace on (INFO), then off again.
    levels.clear()
    monkeypatch.setattr(dill._dill.log, "level", logging.WARN)

    class Unpicklable:
        def __reduce__(self):
            raise TypeError("not picklable")

    with pytest.raises(TypeError, match="not picklable"):
        pickler.dumps({"x": Unpicklable()})
    assert levels == [logging.INFO]  # on for the retry; off again is a no-op while the level stays as it was


def test_another_dill_is_left_as_it_is(monkeypatch):
    import dill
    import dill._dill

    import trainer  # noqa: F401
    from trainer.environment import spare_dill_trace_resets

    original = dill._dill._trace.__wrapped__
    monkeypatch.setattr(dill._dill, "_trace", original)
    monkeypatch.setattr(dill, "__version__", "0.3.9")
    spare_dill_trace_resets()
    assert dill._dill._trace is original
