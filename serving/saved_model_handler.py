"""The pushed SavedModel for Beam's RunInference: where it is, what it answers, and its model handler.

:func:`resolve_model_dir` takes a version directory or the model's base
directory (the Pusher's ``<serving_dir>/<model_name>``: the newest numeric
version is used), locally or on any Beam filesystem (``gs://``...).
:func:`read_model_info` checks the ``serving_default`` signature and reads the
class names from the model itself. :class:`ServingModelHandler` loads the
model on each worker and calls that signature on batches of encoded images.

Why our own ``ModelHandler`` and not Beam's ``TFModelHandlerTensor``
(``apache_beam.ml.inference.tensorflow_inference``) with an ``inference_fn``:
calling a string-input signature would be easy, but in this stack that module
does not import (it imports tensorflow_hub 0.15, which needs ``pkg_resources``,
gone from setuptools >= 81, and ``tf.compat.v1.estimator``, gone from
TensorFlow 2.16), and its ``load_model`` is ``tf.keras.models.load_model``,
which refuses our model: a ``tf.Module`` saved with ``tf.saved_model.save``
has no Keras metadata. This handler loads it with ``tf.saved_model.load``.
"""

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import ModelHandler

from serving.predictions import Prediction, to_predictions
from trainer import contract

METRICS_NAMESPACE = "resizer_batch_inference"


class ModelDirError(ValueError):
    """No usable SavedModel at the given place."""


@dataclasses.dataclass(frozen=True)
class Rejection:
    """An image the model could not decode (its batch was retried one image at a time)."""

    detail: str


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a pushed model answers with, read from the model itself.

    Attributes:
        version_dir: the SavedModel's directory (absolute, or ``scheme://``).
        class_names: its class names in class-id order (the ids as strings when the model does not hold them).
    """

    version_dir: str
    class_names: tuple[str, ...]


def absolute(path: str) -> str:
    """Local paths made absolute (Beam workers may run elsewhere); ``scheme://`` paths as they are."""
    return path if contract.is_remote(path) else os.path.abspath(path)


def resolve_model_dir(model_dir: str) -> str:
    """The SavedModel directory: ``model_dir`` itself, or its newest numeric version subdirectory.

    Args:
        model_dir: a version directory, or a model's base directory (``<serving_dir>/<model_name>``); local or on
            any Beam filesystem.

    Returns:
        The directory holding ``saved_model.pb`` (local paths made absolute).

    Raises:
        ModelDirError: neither ``model_dir`` nor a numeric subdirectory holds one (saying whether the directory
            exists).
    """
    model_dir = absolute(model_dir).rstrip("/") or "/"
    if FileSystems.exists(FileSystems.join(model_dir, contract.SAVED_MODEL_FILE)):
        return model_dir
    pattern = FileSystems.join(model_dir, "*", contract.SAVED_MODEL_FILE)
    versions = {}
    for metadata in FileSystems.match([pattern])[0].metadata_list:
        version_dir = metadata.path[: -len(contract.SAVED_MODEL_FILE)].rstrip("/\\")
        name = version_dir.replace("\\", "/").rsplit("/", 1)[-1]
        if name.isdigit():
            versions[int(name)] = version_dir
    if not versions:
        missing = "" if contract.is_remote(model_dir) or os.path.isdir(model_dir) else " (no such directory)"
        raise ModelDirError(
            f"no SavedModel in {model_dir}{missing}: expected {contract.SAVED_MODEL_FILE} in it, or in a numeric "
            f"version directory under it (the Pusher's <serving_dir>/<model_name>/<version>/)")
    return versions[max(versions)]


def read_model_info(version_dir: str) -> ModelInfo:
    """Loads the model once, checks its ``serving_default`` signature, and reads its class names.

    Args:
        version_dir: a SavedModel directory (:func:`resolve_model_dir`).

    Returns:
        Its :class:`ModelInfo`.

    Raises:
        ModelDirError: the model does not load, or its ``serving_default`` does not take ``image_bytes`` (string)
            and answer ``probabilities``.
    """
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(version_dir)
    except Exception as error:  # noqa: BLE001 - any load failure is a bad model directory
        raise ModelDirError(f"cannot load the SavedModel in {version_dir}: {type(error).__name__}: "
                            f"{str(error).splitlines()[0] if str(error) else ''}") from None
    signature = loaded.signatures.get(contract.SERVING_DEFAULT_SIGNATURE)
    inputs = signature.structured_input_signature[1] if signature is not None else {}
    spec = inputs.get(contract.IMAGE_BYTES_INPUT)
    outputs = signature.structured_outputs if signature is not None else {}
    if spec is None or spec.dtype != tf.string or contract.PROBABILITIES_OUTPUT not in outputs:
        raise ModelDirError(
            f"{version_dir}: its {contract.SERVING_DEFAULT_SIGNATURE!r} signature does not take "
            f"{contract.IMAGE_BYTES_INPUT!r} (encoded images) and answer {contract.PROBABILITIES_OUTPUT!r}; "
            f"signatures: {sorted(loaded.signatures)}")
    num_classes = outputs[contract.PROBABILITIES_OUTPUT].shape[-1]
    return ModelInfo(version_dir, class_names_of(signature, num_classes))


def class_names_of(signature, num_classes: int | None) -> tuple[str, ...]:
    """The model's class names, in class-id order.

    The export keeps them as a string constant that ``class_name`` gathers
    from; a SavedModel keeps such a constant as a captured input of the
    signature. Without exactly one candidate, the class ids stand in.

    Args:
        signature: the loaded ``serving_default`` concrete function.
        num_classes: K, the length of ``probabilities``; None: any length.

    Returns:
        K names (or ``"0"``, ``"1"``, ... when the names cannot be told apart).
    """
    import tensorflow as tf

    candidates = [t for t in signature.captured_inputs
                  if t.dtype == tf.string and t.shape.rank == 1
                  and (num_classes is None or t.shape[0] == num_classes)]
    if len(candidates) == 1:
        return tuple(name.decode("utf-8") for name in candidates[0].numpy())
    return tuple(str(i) for i in range(num_classes or 0))


def predict_images(signature, images: Sequence[bytes]) -> list[Prediction | Rejection]:
    """One :class:`Prediction` per image, or a :class:`Rejection` for an image the model cannot decode.

    The model fails a whole batch for one undecodable image, so a failed batch
    is retried one image at a time: the good ones are still classified.

    Args:
        signature: the loaded ``serving_default`` concrete function.
        images: encoded images (JPEG/PNG/GIF/BMP bytes), one batch.

    Returns:
        One result per image, in order; a rejection's ``detail`` is TensorFlow's message (200 characters at most).
    """
    import tensorflow as tf

    try:
        outputs = signature(**{contract.IMAGE_BYTES_INPUT: tf.constant(list(images), dtype=tf.string)})
    except tf.errors.InvalidArgumentError as error:
        if len(images) == 1:
            return [Rejection(" ".join((error.message or "").splitlines()[0].split())[:200])]
        return [result for image in images for result in predict_images(signature, [image])]
    names = [name.decode("utf-8") for name in outputs[contract.CLASS_NAME_OUTPUT].numpy()]
    return to_predictions(outputs[contract.PROBABILITIES_OUTPUT].numpy(),
                          outputs[contract.CLASS_ID_OUTPUT].numpy(), names)


class ServingModelHandler(ModelHandler[bytes, Prediction | Rejection, Any]):
    """RunInference's handler: encoded image bytes in, one :class:`Prediction` (or :class:`Rejection`) out.

    Each worker process loads the model once (RunInference shares it between
    the worker's threads); batches hold exactly ``batch_size`` images, except
    the last of a bundle.

    Args:
        version_dir: the SavedModel directory (:func:`resolve_model_dir`), reachable from every worker.
        batch_size: images per call of the signature.
    """

    def __init__(self, version_dir: str, batch_size: int):
        super().__init__()
        self._version_dir = version_dir
        self._batch_size = int(batch_size)

    def load_model(self):
        import tensorflow as tf

        return tf.saved_model.load(self._version_dir)

    def run_inference(self, batch: Sequence[bytes], model, inference_args=None):
        del inference_args  # the signature takes the images only
        return predict_images(model.signatures[contract.SERVING_DEFAULT_SIGNATURE], batch)

    def get_num_bytes(self, batch: Sequence[bytes]) -> int:
        return sum(len(image) for image in batch)

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE

    def batch_elements_kwargs(self):
        return {"min_batch_size": self._batch_size, "max_batch_size": self._batch_size}
