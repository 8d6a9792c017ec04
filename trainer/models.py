"""The classifier of every arm: ``Rescaling(1/255) -> resizing stage -> backbone -> head``.

The resizing stage is the arm's (``trainer/resizers.py``: the learnable resizer, MULLER or a fixed resize);
the backbone (DenseNet-121 by default, ``trainer/backbones.py``) is built first and handed to
:func:`build_classifier`.  Every arm built from the same config starts from identical backbone and head
weights (the backbone is seeded on its own, the head's initializer carries the seed), so arms differ in
their resizing stage alone.  The head is global average pooling and a dense layer with ``num_classes``
outputs.
"""

import keras
import numpy as np
from keras import layers

from trainer.backbones import input_scaling
from trainer.config import ArmConfig, TrainingConfig
from trainer.optimizers import FusedAdam, FusedSGD
from trainer.resizers import RESIZER_LAYER, build_resizer

HEAD_LAYER = "logits"  # the classification head's dense layer


def build_classifier(config: ArmConfig, backbone: keras.Model):
    """``Rescaling(1/255) -> resizing stage -> backbone -> head`` for ``config.arm``.

    The seed's classifier (Talebi & Milanfar 2021's Keras example): the resizing stage of the arm
    (:func:`trainer.resizers.build_resizer`), the backbone's input scaling when it needs one, the backbone,
    global average pooling and a dense head of ``num_classes`` logits, seeded so every arm's head starts alike.

    Args:
        config: the arm's configuration (``TrainingConfig.for_arm``).
        backbone: :func:`trainer.backbones.build_backbone` of the same config.

    Returns:
        A Keras model named after the arm: float images (B, *image_size, 3) in [0, 255] in, class probabilities
        (B, num_classes) out, float32 whatever the compute precision.

    Raises:
        ConfigError: an unknown arm.
    """
    keras.utils.set_random_seed(config.seed + 1)
    resizer = build_resizer(config)
    inputs = keras.Input((*config.image_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = resizer(x)
    scaling = input_scaling(config)
    if scaling is not None:
        x = scaling(x)
    x = backbone(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    # Seeded initializer: the head starts alike in every arm, whatever was drawn before.
    x = layers.Dense(config.num_classes, kernel_initializer=keras.initializers.GlorotUniform(seed=config.seed),
                     name=HEAD_LAYER)(x)
    # Mixed precision computes in float16/bfloat16; the softmax and the probabilities stay float32.
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=config.arm)


def compile_classifier(model, config: TrainingConfig):
    """Compiles ``model`` with the configured optimizer and the seed's loss (label-smoothed cross-entropy).

    Keras' model, loss and optimizers, so every backend (and the GPU benchmark) trains what the Trainer trains.
    The optimizers are :mod:`trainer.optimizers`' (Keras' SGD and Adam with each weight's update in one
    TensorFlow op; SGD's values as Keras' on a CPU without XLA, Adam's within rounding).

    Args:
        model: a classifier of :func:`build_classifier`.
        config: the training configuration (``optimizer``, ``learning_rate``, ``momentum``,
            ``label_smoothing``, ``jit_compile``).

    Returns:
        ``model``, compiled with the metric ``accuracy``; it takes one-hot labels (B, num_classes).
    """
    if config.optimizer == "sgd":
        optimizer = FusedSGD(config.learning_rate, momentum=config.momentum)
    else:
        optimizer = FusedAdam(config.learning_rate)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
        jit_compile=config.jit_compile,
    )
    return model


def create_training_variables(model, config: TrainingConfig):
    """Creates the variables of ``model``'s loss, metrics and optimizer now, eagerly, from one blank image.

    Without a ``tf.distribute`` strategy, Keras 3 defers them to the first trace of the training step; a
    ``tf.function`` that creates variables while tracing is traced twice, and the training step of
    DenseNet-121 (forward, gradients, the optimizer's update of 364 weights) takes about a minute to trace on a
    2-core CPU.  Creating them first leaves one trace; the weights, the optimizer's state (zeros) and the
    training are unchanged.  Under a strategy Keras builds them itself before tracing: do not call this there.

    Args:
        model: a classifier of :func:`build_classifier`, compiled by :func:`compile_classifier`.
        config: the training configuration (``image_size``, ``num_classes``).

    Returns:
        ``model``, with its metrics reset.
    """
    images = np.zeros((1, *config.image_size, 3), "float32")
    labels = np.eye(config.num_classes, dtype="float32")[:1]
    predictions = model(images, training=False)
    model.compute_loss(images, labels, predictions, training=False)
    model.compute_metrics(images, labels, predictions, sample_weight=None)
    model.reset_metrics()
    model.optimizer.build(model.trainable_variables)
    return model


def get_resizer(model):
    """The resizing stage of a classifier built by :func:`build_classifier` (the layer :data:`RESIZER_LAYER`).

    Raises:
        ValueError: ``model`` has no such layer (naming the model).
    """
    try:
        return model.get_layer(RESIZER_LAYER)
    except ValueError:
        raise ValueError(f"model {model.name!r} has no resizing stage (no layer {RESIZER_LAYER!r})") from None
