"""trainer.distribution: where each process of a Trainer writes (the chief keeps TFX's directories)."""

import os

import tensorflow as tf

from trainer import distribution


def placement(is_chief, worker_index):
    return distribution.Placement(tf.distribute.get_strategy(), "float32", num_workers=2,
                                  worker_index=worker_index, is_chief=is_chief)


def test_the_chief_writes_into_tfx_directories():
    out = distribution.output_dirs(placement(True, 0), "/artifacts/model/3/Format-Serving", "/artifacts/run/3")
    assert out == distribution.OutputDirs("/artifacts/model/3/Format-Serving", "/artifacts/run/3", None)
    out.remove_scratch()  # nothing to remove


def test_another_worker_writes_into_scratch_that_is_removed():
    out = distribution.output_dirs(placement(False, 1), "/artifacts/model/3/Format-Serving", "/artifacts/run/3")
    assert os.path.basename(out.scratch).startswith("worker1_") and os.path.isdir(out.scratch)
    assert out.serving_model_dir == os.path.join(out.scratch, "model", "Format-Serving")
    assert out.model_run_dir == os.path.join(out.scratch, "model_run")
    os.makedirs(out.model_run_dir)
    out.remove_scratch()
    assert not os.path.exists(out.scratch)
