"""trainer/cost.py: FLOPs counted from the graph agree with hand counts; the resize kernels are counted."""

import keras
import pytest

from trainer import backbones, cost, models
from trainer.config import ArmConfig
from trainer.contract import BILINEAR_BASELINE_ARM, LEARNABLE_RESIZER_ARM, MULLER_ARM


def test_a_convolution_costs_two_flops_per_multiply_add():
    conv = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)
    conv.build((1, 20, 30, 3))
    assert cost.count_flops(conv, (1, 20, 30, 3)) == 2 * 3 * 3 * 3 * 16 * 20 * 30


@pytest.mark.parametrize("interpolation, antialias, expected", [
    ("bilinear", False, 8 * 150 * 150 * 3),  # 4 taps per output value
    ("bicubic", False, 32 * 150 * 150 * 3),  # 16 taps
    ("area", False, 2 * 4 * 150 * 150 * 3),  # a 2x2 block
    # Separable, 4 (12) taps per axis at 2x: 300 rows x 150 columns first, then 150 x 150; + 2 for the
    # division that computes the two scales.
    ("bilinear", True, 2 * 4 * 300 * 150 * 3 + 2 * 4 * 150 * 150 * 3 + 2),
    ("lanczos3", True, 2 * 12 * 300 * 150 * 3 + 2 * 12 * 150 * 150 * 3 + 2),
])
def test_resize_kernels_are_counted_per_tap(interpolation, antialias, expected):
    layer = keras.layers.Resizing(150, 150, interpolation=interpolation, antialias=antialias)
    assert cost.count_flops(layer, (1, 300, 300, 3)) == expected


def test_model_cost_of_each_kind_of_arm():
    costs = {}
    for arm in (BILINEAR_BASELINE_ARM, MULLER_ARM, LEARNABLE_RESIZER_ARM):
        config = ArmConfig(arm=arm, backbone="small_convnet", image_size=(64, 64), target_size=(32, 32))
        model = models.build_classifier(config, backbones.build_backbone(config))
        costs[arm] = cost.model_cost(model, config.image_size)
        assert costs[arm]["parameters"] == model.count_params()
    assert [costs[a]["resizer_parameters"] for a in (BILINEAR_BASELINE_ARM, MULLER_ARM)] == [0, 4]
    assert costs[LEARNABLE_RESIZER_ARM]["resizer_parameters"] == 12_035
    assert costs[BILINEAR_BASELINE_ARM]["resizer_flops"] == 8 * 32 * 32 * 3
    assert costs[BILINEAR_BASELINE_ARM]["resizer_flops"] < costs[MULLER_ARM]["resizer_flops"]
    assert costs[MULLER_ARM]["resizer_flops"] < costs[LEARNABLE_RESIZER_ARM]["resizer_flops"]
    # The same backbone and head behind every stage: the rest of the model costs the same.
    rest = {arm: c["model_flops"] - c["resizer_flops"] for arm, c in costs.items()}
    assert len(set(rest.values())) == 1


def test_the_cost_file_names_the_arm_beside_the_counts(tmp_path):
    import json

    from trainer.contract import MODEL_COST_FILE

    config = ArmConfig(arm=MULLER_ARM, backbone="small_convnet", image_size=(16, 16), target_size=(8, 8))
    model = models.build_classifier(config, backbones.build_backbone(config))
    counted = cost.write_model_cost(model, MULLER_ARM, config.image_size, str(tmp_path))
    assert counted == cost.model_cost(model, config.image_size)
    with open(tmp_path / MODEL_COST_FILE) as f:
        assert json.load(f) == {"arm": MULLER_ARM, **counted}


def _compiled(*hidden, shape=(8, 8, 3)):
    """Input -> hidden layers -> global pooling -> 2 logits, compiled with a cross-entropy loss."""
    inputs = keras.Input(shape)
    x = inputs
    for layer in hidden:
        x = layer(x)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    return model


def test_each_convolution_backprop_costs_the_forward_convolution():
    batch = 2
    model = _compiled(keras.layers.Conv2D(4, 3, padding="same", use_bias=False),
                      keras.layers.Conv2D(5, 3, padding="same", use_bias=False))
    first, second = 2 * 3 * 3 * 3 * 4 * 8 * 8 * batch, 2 * 3 * 3 * 4 * 5 * 8 * 8 * batch
    counted = cost.training_step_flops(model, batch)
    forward, step = counted["forward_by_op_type"]["counted"], counted["step_by_op_type"]["counted"]
    assert forward["Conv2D"] == step["Conv2D"] == first + second
    # Both kernels get a gradient; only the second convolution's input does (the images are no variable).
    assert step["Conv2DBackpropFilter"] == first + second
    assert step["Conv2DBackpropInput"] == second
    assert counted["backward"] == counted["step"] - counted["forward"] > 0
    assert counted["added"] == 0
    # The profiler's total of the whole graph also counts the first convolution's unused backprop to the images
    # (and a few elementwise ops of the loss's unused gradient with respect to the (batch, 2) labels: 40 FLOPs here,
    # 42 once TensorFlow's op determinism is on in the process, as earlier tests of the suite leave it).
    unused = counted["step_whole_graph"] - counted["step"]
    assert first <= unused <= first + 16 * batch * 2


def test_the_op_types_add_up_to_the_profiler_total():
    import tensorflow as tf

    model = _compiled(keras.layers.Resizing(6, 6), keras.layers.Conv2D(4, 3, padding="same"),
                      keras.layers.BatchNormalization(), keras.layers.ReLU(),
                      keras.layers.Conv2D(4, 3, padding="same"))
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec((3, 8, 8, 3), tf.float32)).graph
    assert sum(cost.flops_by_op_type(graph)["counted"].values()) == cost.count_flops(model, (3, 8, 8, 3)) > 0
    counted = cost.training_step_flops(model, 3)
    assert sum(counted["step_by_op_type"]["counted"].values()) == counted["step"]
    # Only the second convolution's backprop to its input runs (nothing before the first has weights): the
    # forward convolution's count, 3x3 taps x 4 -> 4 channels on 6x6, batch 3.
    assert counted["step_by_op_type"]["counted"]["Conv2DBackpropInput"] == 2 * 3 * 3 * 4 * 4 * 6 * 6 * 3
    # ReLU has no count in TensorFlow's convention, nor its gradient: listed with the values they output.
    uncounted = counted["step_by_op_type"]["uncounted"]
    assert uncounted["Relu"] == uncounted["ReluGrad"] == {"nodes": 1, "output_elements": 3 * 6 * 6 * 4}


def test_depthwise_convolution_backprops_are_counted_as_the_forward():
    batch = 2
    model = _compiled(keras.layers.Conv2D(4, 1), keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False))
    step = cost.training_step_flops(model, batch)
    counted = step["step_by_op_type"]["counted"]
    forward = 2 * 3 * 3 * 8 * 8 * 4 * batch
    assert counted["DepthwiseConv2dNative"] == forward
    assert counted["DepthwiseConv2dNativeBackpropInput"] == counted["DepthwiseConv2dNativeBackpropFilter"] == forward
    assert step["added"] == 2 * forward


@pytest.mark.parametrize("antialias, forward_op", [(False, "ResizeBilinear"), (True, "ScaleAndTranslate")])
def test_a_resize_gradient_is_counted_as_the_resize(antialias, forward_op):
    # Between two convolutions, so the loss has a gradient with respect to the resize's input.
    model = _compiled(keras.layers.Conv2D(3, 1), keras.layers.Resizing(4, 4, antialias=antialias),
                      keras.layers.Conv2D(3, 1), shape=(12, 12, 3))
    step = cost.training_step_flops(model, 2)
    counted = step["step_by_op_type"]["counted"]
    assert counted[f"{forward_op}Grad"] == counted[forward_op] > 0
    assert step["added"] == counted[forward_op]
    if not antialias:
        assert counted[forward_op] == 2 * 4 * 2 * 4 * 4 * 3  # 4 taps per output value


def test_every_gradient_op_counted_here_is_a_tensorflow_op():
    import tensorflow as tf

    assert all(hasattr(tf.raw_ops, op_type) for op_type in cost.GRADIENT_FLOPS)


def test_a_training_step_needs_a_compiled_model():
    config = ArmConfig(arm=BILINEAR_BASELINE_ARM, backbone="small_convnet", image_size=(16, 16), target_size=(8, 8))
    model = models.build_classifier(config, backbones.build_backbone(config))
    with pytest.raises(ValueError, match="not compiled"):
        cost.training_step_flops(model, 2)
