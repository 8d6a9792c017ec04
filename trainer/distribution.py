"""Where a Trainer runs: one device, every local GPU, or several workers described by ``TF_CONFIG``.

``TF_CONFIG`` is what Vertex AI Training and Kubeflow's training operator set
on every worker of a cluster (``{"cluster": {"chief": [...], "worker": [...]},
"task": {"type": "worker", "index": 0}}``).  When it describes more than one
task, the Trainer uses ``MultiWorkerMirroredStrategy``: every worker builds the
same model, takes its share of every global batch, and gradients (and
BatchNorm statistics, synchronised so that the global batch behaves as on one
machine) are all-reduced.  The chief (the ``chief`` task, or worker 0 when
there is none) writes the model and the summary; the others write to
temporary locations, which are removed.
"""

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Mapping

import keras
import tensorflow as tf
from absl import logging

from trainer.batch_norm import batchnorm_layers

TF_CONFIG = "TF_CONFIG"


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where this Trainer process runs and in what precision (:func:`select_placement` makes it).

    Attributes:
        strategy: the ``tf.distribute`` strategy the model is built and trained under.
        precision: Keras' dtype policy name: ``float32``, ``mixed_float16`` or ``mixed_bfloat16``.
        num_workers: the processes training together (1 without ``TF_CONFIG``).
        worker_index: this process among them (0 for the chief).
        is_chief: whether this process writes the model and the summary.
    """

    strategy: tf.distribute.Strategy
    precision: str
    num_workers: int = 1
    worker_index: int = 0
    is_chief: bool = True

    @property
    def multi_worker(self) -> bool:
        """Whether several processes train together."""
        return self.num_workers > 1


def cluster_spec(environ: Mapping[str, str] | None = None) -> dict | None:
    """The parsed ``TF_CONFIG`` when it describes a cluster of more than one task, else None.

    Args:
        environ: where ``TF_CONFIG`` is read (default: the process environment).

    Returns:
        ``{"cluster": {...}, "task": {"type", "index"}}``, or None (unset, empty, or a single task).

    Raises:
        ValueError: ``TF_CONFIG`` is no JSON, or names no chief or worker task of this process.
    """
    text = (os.environ if environ is None else environ).get(TF_CONFIG, "")
    if not text.strip():
        return None
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{TF_CONFIG} is not JSON: {error}") from None
    if task_count(tf_config.get("cluster") or {}) < 2:
        return None
    task = tf_config.get("task") or {}
    if task.get("type") not in ("chief", "worker") or not isinstance(task.get("index"), int):
        raise ValueError(f"{TF_CONFIG} names no chief or worker task of this process: {task!r}")
    return tf_config


def task_count(cluster: dict) -> int:
    """The chief and worker tasks of a ``TF_CONFIG`` cluster (those that train)."""
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def is_chief_task(tf_config: dict) -> bool:
    """Whether ``tf_config``'s task writes the results: the ``chief`` task, or worker 0 when there is none."""
    task, cluster = tf_config["task"], tf_config["cluster"]
    return task["type"] == "chief" or (task["type"] == "worker" and task["index"] == 0 and not cluster.get("chief"))


class KerasMultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """``MultiWorkerMirroredStrategy`` whose ``reduce`` takes what Keras 3's ``fit`` hands it.

    Keras 3 (keras-team/keras#20585) calls ``reduce`` with a whole (images,
    labels) batch when it builds the model, and with ``axis=0`` on scalar
    metrics after every step; the multi-worker strategy accepts neither. Each
    value is reduced on its own, a scalar over the replicas only.
    """

    def reduce(self, reduce_op, value, axis):
        parent = super()

        def reduce_one(per_replica):
            rank = self.experimental_local_results(per_replica)[0].shape.rank
            return parent.reduce(reduce_op, per_replica, None if rank == 0 else axis)

        return tf.nest.map_structure(reduce_one, value)


def select_placement(precision: str, environ: Mapping[str, str] | None = None) -> Placement:
    """The strategy and compute precision for this process; sets Keras' global dtype policy to that precision.

    Create it first thing in the Trainer: a multi-worker strategy configures
    TensorFlow's collective ops, which must happen before other work runs.

    Args:
        precision: ``auto`` (mixed_float16 where a GPU is visible, float32 otherwise), ``float32``,
            ``mixed_float16`` (on a machine without a GPU it is used, with a warning that it is slow there)
            or ``mixed_bfloat16``.
        environ: where ``TF_CONFIG`` is read (default: the process environment).

    Returns:
        The :class:`Placement`: ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` describes a cluster,
        ``MirroredStrategy`` over the local GPUs when there are any, else the default strategy.

    Raises:
        ValueError: ``TF_CONFIG`` is no JSON or names no chief or worker task of this process.
    """
    tf_config = cluster_spec(environ)
    strategy = KerasMultiWorkerStrategy() if tf_config else None
    gpus = tf.config.list_physical_devices("GPU")
    if precision == "auto":
        precision = "mixed_float16" if gpus else "float32"
    elif precision == "mixed_float16" and not gpus:
        logging.warning("precision mixed_float16 on a machine without a GPU: TensorFlow's float16 convolution "
                        "gradients have no fast CPU kernels, so a training step takes 10-20x as long as in "
                        "float32 (docs/trainer.md, 'Mixed precision on a CPU'); precision auto picks float32 here")
    keras.mixed_precision.set_global_policy(precision)
    if tf_config:
        workers = task_count(tf_config["cluster"])
        resolver = strategy.cluster_resolver
        index = resolver.task_id + (1 if resolver.task_type == "worker" and tf_config["cluster"].get("chief") else 0)
        return Placement(strategy, precision, workers, index, is_chief_task(tf_config))
    strategy = tf.distribute.MirroredStrategy() if gpus else tf.distribute.get_strategy()
    return Placement(strategy, precision)


def synchronize_batchnorm(model) -> int:
    """Makes every BatchNorm layer compute its batch statistics over the global batch (all replicas).

    Args:
        model: a Keras model; its BatchNormalization layers are changed in place (``synchronized = True``).

    Returns:
        How many layers were changed.
    """
    count = 0
    for layer in batchnorm_layers(model):
        layer.synchronized = True
        count += 1
    return count


@dataclasses.dataclass(frozen=True)
class OutputDirs:
    """Where this process writes its model and its run's files.

    Attributes:
        serving_model_dir: the serving SavedModel's directory (TFX's ``Format-Serving`` on the chief).
        model_run_dir: the ModelRun directory (TensorBoard logs, ``training_summary.json``).
        scratch: a temporary directory holding both on a worker that is not the chief, else None.
    """

    serving_model_dir: str
    model_run_dir: str
    scratch: str | None = None

    def remove_scratch(self) -> None:
        """Removes :attr:`scratch` and everything in it (nothing on the chief)."""
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


def output_dirs(placement: Placement, serving_model_dir: str, model_run_dir: str) -> OutputDirs:
    """TFX's output directories on the chief; a temporary copy of them on every other worker.

    Every worker saves (saving reads variables collectively); only the chief's copy is kept.

    Args:
        placement: where this process runs.
        serving_model_dir: TFX's ``serving_model_dir``.
        model_run_dir: TFX's ``model_run_dir``.

    Returns:
        The :class:`OutputDirs`; on a non-chief worker under a new ``worker<i>_*`` temporary directory.
    """
    if placement.is_chief:
        return OutputDirs(serving_model_dir, model_run_dir)
    scratch = tempfile.mkdtemp(prefix=f"worker{placement.worker_index}_")
    return OutputDirs(os.path.join(scratch, "model", os.path.basename(serving_model_dir)),
                      os.path.join(scratch, "model_run"), scratch)
