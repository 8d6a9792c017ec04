"""What an arm costs to serve, counted from its graph: parameters and floating-point operations per image.

FLOPs are TensorFlow's profiler count (``tf.compat.v1.profiler``, ``float_operation``) of one call at batch 1,
where a multiply-add is 2 FLOPs (a 3x3 convolution from 16 to 16 channels costs 2 * 3 * 3 * 16 FLOPs per output
value).  The profiler has no count for TensorFlow's resize kernels; :func:`register_resize_flops` adds one on
the same convention (2 FLOPs per tap of the interpolation kernel), so fixed resizes do not count as free.
Measured serving latency, the cost a user pays, comes from the comparison (``components/serving_latency.py``).
"""

import json
import math
import os

import tensorflow as tf
from tensorflow.python.framework import graph_util, ops

from trainer import models
from trainer.contract import MODEL_COST_FILE

# Half-width of tf.image.resize's kernels at scale 1, in input pixels
# (tensorflow/core/kernels/image/sampling_kernels.h).
_KERNEL_RADIUS = {"box": 0.5, "triangle": 1.0, "keyscubic": 2.0, "mitchellcubic": 2.0, "lanczos1": 1.0,
                  "lanczos3": 3.0, "lanczos5": 5.0, "gaussian": 1.5}
_FIXED_TAPS = {"ResizeBilinear": 4, "ResizeBicubic": 16, "ResizeNearestNeighbor": 0}


def _shapes(graph, node):
    out = graph_util.tensor_shape_from_node_def_name(graph, node.name)
    inp = graph_util.tensor_shape_from_node_def_name(graph, node.input[0])
    out.assert_is_fully_defined()
    inp.assert_is_fully_defined()
    return inp.as_list(), out.as_list()


def _fixed_taps_flops(graph, node):
    _, out = _shapes(graph, node)
    return ops.OpStats("flops", 2 * _FIXED_TAPS[node.op] * math.prod(out))


def _area_flops(graph, node):
    inp, out = _shapes(graph, node)
    taps = math.ceil(inp[1] / out[1]) * math.ceil(inp[2] / out[2])
    return ops.OpStats("flops", 2 * taps * math.prod(out))


def _scale_and_translate_flops(graph, node):
    """tf.image.resize with antialias (and lanczos / gaussian...): a separable kernel widened by the scale."""
    inp, out = _shapes(graph, node)
    radius = _KERNEL_RADIUS.get(node.attr["kernel_type"].s.decode(), 1.0)
    widen = node.attr["antialias"].b

    def taps(size_in, size_out):
        return math.ceil(2 * radius * (max(1.0, size_in / size_out) if widen else 1.0))

    batch, height_in, width_in, channels = inp
    _, height_out, width_out, _ = out
    columns = 2 * taps(width_in, width_out) * batch * height_in * width_out * channels
    rows = 2 * taps(height_in, height_out) * batch * height_out * width_out * channels
    return ops.OpStats("flops", columns + rows)


_REGISTERED = []


def register_resize_flops():
    """Teaches TensorFlow's profiler the resize kernels' FLOPs (once per process): 2 per tap, per output value."""
    if _REGISTERED:
        return
    for op_type in _FIXED_TAPS:
        ops.RegisterStatistics(op_type, "flops")(_fixed_taps_flops)
    ops.RegisterStatistics("ResizeArea", "flops")(_area_flops)
    ops.RegisterStatistics("ScaleAndTranslate", "flops")(_scale_and_translate_flops)
    _REGISTERED.append(True)


def count_flops(layer, input_shape) -> int:
    """FLOPs of one inference call of ``layer`` (a Keras layer or model) on float32 input of ``input_shape``.

    Args:
        layer: called as ``layer(x, training=False)`` on a fully defined shape, e.g. (1, 300, 300, 3).
        input_shape: the input's shape, batch included.

    Returns:
        The profiler's total of floating-point operations (int, >= 0).
    """
    register_resize_flops()
    concrete = tf.function(lambda x: layer(x, training=False)).get_concrete_function(
        tf.TensorSpec(input_shape, tf.float32))
    options = (tf.compat.v1.profiler.ProfileOptionBuilder(tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
               .with_empty_output().build())
    return int(tf.compat.v1.profiler.profile(concrete.graph, options=options).total_float_ops)


def model_cost(model, image_size) -> dict:
    """Per image, for a classifier of :func:`trainer.models.build_classifier`.

    Args:
        model: the classifier.
        image_size: (height, width) of its input, in pixels.

    Returns:
        ``{"parameters": int, "resizer_parameters": int (trainable weights of the resizing stage),
        "resizer_flops": int, "model_flops": int}``; FLOPs for one (*image_size, 3) image (the resizing stage is
        counted on its [0, 1] input of that size).
    """
    resizer = models.get_resizer(model)
    shape = (1, *image_size, 3)
    return {
        "parameters": int(model.count_params()),
        "resizer_parameters": int(sum(math.prod(w.shape) for w in resizer.trainable_weights)),
        "resizer_flops": count_flops(resizer, shape),
        "model_flops": count_flops(model, shape),
    }


def write_model_cost(model, arm: str, image_size, model_dir: str) -> dict:
    """Counts :func:`model_cost` and writes it, with the arm, beside the serving SavedModel.

    Args:
        model: the trained classifier.
        arm: its arm (the file's ``"arm"``).
        image_size: (height, width) of one input image, in pixels.
        model_dir: the Model artifact directory (above ``Format-Serving``; any ``tf.io.gfile`` path).

    Returns:
        :func:`model_cost`'s dict (what the training summary holds under ``cost``).

    Files written:
        ``<model_dir>/model_cost.json``: ``{"arm": arm, **cost}``, indented.
    """
    cost = model_cost(model, image_size)
    with tf.io.gfile.GFile(os.path.join(model_dir, MODEL_COST_FILE), "w") as f:
        json.dump({"arm": arm, **cost}, f, indent=2)
    return cost
