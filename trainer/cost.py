"""What an arm costs to serve, counted from its graph: parameters and floating-point operations per image.

FLOPs are TensorFlow's profiler count (``tf.compat.v1.profiler``, ``float_operation``) of one call at batch 1,
where a multiply-add is 2 FLOPs (a 3x3 convolution from 16 to 16 channels costs 2 * 3 * 3 * 16 FLOPs per output
value).  The profiler has no count for TensorFlow's resize kernels; :func:`register_resize_flops` adds one on
the same convention (2 FLOPs per tap of the interpolation kernel), so fixed resizes do not count as free.
Measured serving latency, the cost a user pays, comes from the comparison (``components/serving_latency.py``).

A training step is counted the same way (:func:`training_step_flops`): the graph of the forward pass and the loss
at the training batch size, and of the whole step (forward, loss and the gradients of every trainable weight).
The profiler counts convolution backprops and most gradient ops itself; :func:`register_gradient_flops` adds the
backward ops it has no count for, each counted as its forward op is (a depthwise convolution's backprops as the
forward depthwise convolution, a resize's gradient as the resize).  Elementwise activations (Relu, LeakyRelu,
Tanh and their gradients) stay uncounted, as TensorFlow leaves them; :func:`flops_by_op_type` lists what each
graph leaves uncounted, with its output size.
"""

import json
import math
import os

import tensorflow as tf
from tensorflow.python.framework import ops

from trainer import models
from trainer.contract import MODEL_COST_FILE

# Half-width of tf.image.resize's kernels at scale 1, in input pixels
# (tensorflow/core/kernels/image/sampling_kernels.h).
_KERNEL_RADIUS = {"box": 0.5, "triangle": 1.0, "keyscubic": 2.0, "mitchellcubic": 2.0, "lanczos1": 1.0,
                  "lanczos3": 3.0, "lanczos5": 5.0, "gaussian": 1.5}
_FIXED_TAPS = {"ResizeBilinear": 4, "ResizeBicubic": 16, "ResizeNearestNeighbor": 0}


def _shape(graph, name):
    """The static shape of tensor ``name`` as a list (a node's name means its output 0); fully defined or ValueError.

    Reads what ``graph_util.tensor_shape_from_node_def_name`` reads (the profiler's own counters use it; TensorFlow
    marks it deprecated and logs so on first use).
    """
    shape = graph.get_tensor_by_name(name if ":" in name else f"{name}:0").get_shape()
    shape.assert_is_fully_defined()
    return shape.as_list()


def _shapes(graph, node):
    """(input 0's shape, the output's shape) of ``node``."""
    return _shape(graph, node.input[0]), _shape(graph, node.name)


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
    return _scale_and_translate_count(node, inp, out)


def _scale_and_translate_count(node, inp, out):
    radius = _KERNEL_RADIUS.get(node.attr["kernel_type"].s.decode(), 1.0)
    widen = node.attr["antialias"].b

    def taps(size_in, size_out):
        return math.ceil(2 * radius * (max(1.0, size_in / size_out) if widen else 1.0))

    batch, height_in, width_in, channels = inp
    _, height_out, width_out, _ = out
    columns = 2 * taps(width_in, width_out) * batch * height_in * width_out * channels
    rows = 2 * taps(height_in, height_out) * batch * height_out * width_out * channels
    return ops.OpStats("flops", columns + rows)


def _resize_grad_flops(graph, node):
    """ResizeBilinearGrad / ResizeBicubicGrad / ResizeNearestNeighborGrad: the forward resize's count.

    Input 0 is the gradient of the forward resize's output, so it has the forward output's shape.
    """
    return ops.OpStats("flops", 2 * _FIXED_TAPS[node.op[:-len("Grad")]] * math.prod(_shape(graph, node.input[0])))


def _scale_and_translate_grad_flops(graph, node):
    """ScaleAndTranslateGrad (grads, original_image, scale, translation): the forward op's count."""
    return _scale_and_translate_count(node, _shape(graph, node.input[1]), _shape(graph, node.input[0]))


def _depthwise_backprop_flops(graph, node):
    """DepthwiseConv2dNativeBackpropInput / ...Filter: the forward depthwise convolution's count.

    Input 2 (out_backprop) has the forward output's shape; the filter's height and width are input 1's shape
    (backprop to the input) or the node's own output (backprop to the filter).  Like TensorFlow's count of the
    forward op: 2 FLOPs per filter tap per output value.
    """
    kernel = _shape(graph, node.input[1] if node.op.endswith("Input") else node.name)
    return ops.OpStats("flops", 2 * kernel[0] * kernel[1] * math.prod(_shape(graph, node.input[2])))


# The backward ops TensorFlow's profiler has no FLOP statistics for, and how they are counted here.
GRADIENT_FLOPS = {
    "ResizeBilinearGrad": _resize_grad_flops,
    "ResizeBicubicGrad": _resize_grad_flops,
    "ResizeNearestNeighborGrad": _resize_grad_flops,
    "ScaleAndTranslateGrad": _scale_and_translate_grad_flops,
    "DepthwiseConv2dNativeBackpropInput": _depthwise_backprop_flops,
    "DepthwiseConv2dNativeBackpropFilter": _depthwise_backprop_flops,
}

_REGISTERED = []
_GRADIENTS_REGISTERED = []


def register_resize_flops():
    """Teaches TensorFlow's profiler the resize kernels' FLOPs (once per process): 2 per tap, per output value."""
    if _REGISTERED:
        return
    for op_type in _FIXED_TAPS:
        ops.RegisterStatistics(op_type, "flops")(_fixed_taps_flops)
    ops.RegisterStatistics("ResizeArea", "flops")(_area_flops)
    ops.RegisterStatistics("ScaleAndTranslate", "flops")(_scale_and_translate_flops)
    _REGISTERED.append(True)


def register_gradient_flops():
    """Teaches TensorFlow's profiler the backward ops of :data:`GRADIENT_FLOPS` (once per process).

    Also registers the forward resize kernels (:func:`register_resize_flops`).
    """
    register_resize_flops()
    if _GRADIENTS_REGISTERED:
        return
    # The profiler's own registry must be loaded first: a second registration of an op type raises.
    from tensorflow.python.profiler.internal import flops_registry  # noqa: F401  (registers TensorFlow's counts)

    for op_type, count in GRADIENT_FLOPS.items():
        ops.RegisterStatistics(op_type, "flops")(count)
    _GRADIENTS_REGISTERED.append(True)


def _profiled_flops(graph) -> int:
    options = (tf.compat.v1.profiler.ProfileOptionBuilder(tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
               .with_empty_output().build())
    return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)


def live_ops(graph) -> set:
    """The ops of a function's graph that run: those its outputs or its stateful ops (control outputs) need.

    A gradient function adds every gradient of its op, used or not (a first convolution's backprop to the
    images, which are no variable); TensorFlow prunes the unused ones before running the graph.

    Args:
        graph: a concrete function's ``graph`` (a ``FuncGraph``, with ``outputs`` and ``control_outputs``).

    Returns:
        The set of ``tf.Operation`` in the transitive inputs (data and control) of the outputs.
    """
    stack = [t.op for t in graph.outputs] + list(graph.control_outputs)
    live = set()
    while stack:
        op = stack.pop()
        if op not in live:
            live.add(op)
            stack.extend(t.op for t in op.inputs)
            stack.extend(op.control_inputs)
    return live


def flops_by_op_type(graph) -> dict:
    """Every op type that runs in ``graph`` (:func:`live_ops`) with its FLOPs, as the profiler counts them.

    The profiler's registry (``tf.compat.v1.profiler``'s counts, plus :func:`register_resize_flops` and
    :func:`register_gradient_flops` when registered), node by node.

    Args:
        graph: a concrete function's ``graph`` with fully defined shapes.

    Returns:
        ``{"counted": {op_type: flops}, "uncounted": {op_type: {"nodes": int, "output_elements": int}}}``:
        op types with a FLOP count, largest first, and op types with none that output floating-point
        tensors (data movement included: Identity, Reshape, Tile...), with how many values they output
        (an upper bound of their work for an elementwise op), largest first.
    """
    counted, uncounted = {}, {}
    for op in live_ops(graph):
        flops = ops.get_stats_for_node_def(graph, op.node_def, "flops").value
        if flops is not None:
            counted[op.type] = counted.get(op.type, 0) + int(flops)
            continue
        outputs = [t for t in op.outputs if t.dtype.is_floating and t.shape.is_fully_defined()]
        if not outputs:
            continue
        entry = uncounted.setdefault(op.type, {"nodes": 0, "output_elements": 0})
        entry["nodes"] += 1
        entry["output_elements"] += sum(t.shape.num_elements() for t in outputs)
    return {"counted": dict(sorted(counted.items(), key=lambda kv: -kv[1])),
            "uncounted": dict(sorted(uncounted.items(), key=lambda kv: -kv[1]["output_elements"]))}


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
    return _profiled_flops(concrete.graph)


def training_step_flops(model, batch_size: int) -> dict:
    """FLOPs of one training step of a compiled classifier, counted from its graphs at ``batch_size``.

    Two graphs are traced (nothing runs): the forward pass in training mode (BatchNorm on batch statistics)
    with the compiled loss, and the whole step: the same under a ``tf.GradientTape`` and the gradients of the
    loss with respect to every trainable weight, as Keras' ``train_step`` computes them.  The optimizer's
    update (a few FLOPs per parameter) is left out.  Backward ops are counted as their forward op
    (:func:`register_gradient_flops`); a convolution's two backprops each cost its forward FLOPs, so a step of
    convolutions alone is about 3x its forward pass.  Only the ops that run are counted (:func:`live_ops`):
    the profiler's total of the whole step graph also counts the gradients nothing uses (the first
    convolution's backprop to the images), which TensorFlow prunes.

    Args:
        model: a classifier of :func:`trainer.models.build_classifier`, compiled
            (:func:`trainer.models.compile_classifier`): float32 images (B, H, W, 3) in, (B, classes) out.
        batch_size: images per step.

    Returns:
        ``{"forward": int, "step": int, "backward": int (step - forward), "added": int (FLOPs of
        :data:`GRADIENT_FLOPS`' op types in the step), "step_whole_graph": int (the profiler's total of the
        step graph, unused gradients included), "forward_by_op_type": dict, "step_by_op_type": dict}``: FLOPs
        of the whole batch; the by-op-type dicts are :func:`flops_by_op_type` of each graph, whose counted
        FLOPs add up to ``forward`` and ``step``.

    Raises:
        ValueError: ``model`` is not compiled (no loss).
    """
    if getattr(model, "loss", None) is None:
        raise ValueError(f"model {model.name!r} is not compiled: a training step needs its loss")
    register_gradient_flops()
    images = tf.TensorSpec((batch_size, *model.input_shape[1:]), tf.float32)
    labels = tf.TensorSpec((batch_size, model.output_shape[-1]), tf.float32)

    def loss(x, y):
        return model.compute_loss(x=x, y=y, y_pred=model(x, training=True), training=True)

    def step(x, y):
        with tf.GradientTape() as tape:
            value = loss(x, y)
        return tape.gradient(value, model.trainable_variables)

    graphs = {name: tf.function(fn).get_concrete_function(images, labels).graph
              for name, fn in (("forward", loss), ("step", step))}
    by_type = {name: flops_by_op_type(graph) for name, graph in graphs.items()}
    counts = {name: sum(counted["counted"].values()) for name, counted in by_type.items()}
    added = sum(flops for op_type, flops in by_type["step"]["counted"].items() if op_type in GRADIENT_FLOPS)
    return {"forward": counts["forward"], "step": counts["step"], "backward": counts["step"] - counts["forward"],
            "added": added, "step_whole_graph": _profiled_flops(graphs["step"]),
            "forward_by_op_type": by_type["forward"], "step_by_op_type": by_type["step"]}


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
