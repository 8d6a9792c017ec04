"""Image decoding and resizing to the model's input size, as a TF graph.

Used by the Transform ``preprocessing_fn`` (:mod:`trainer.preprocessing`);
the Transform graph is in turn what the Trainer's input pipeline and every
serving signature apply, so training and serving see exactly the same pixels.
"""

import tensorflow as tf

from trainer.config import RESIZE_MODES


def _decode_one(image_bytes):
    not_empty = tf.debugging.assert_positive(
        tf.strings.length(image_bytes), message="image bytes are empty (expected an encoded JPEG/PNG/GIF/BMP)"
    )
    # The check must run before the decoder, which would fail first with a vaguer "Input is empty".
    with tf.control_dependencies([not_empty]):
        # Unknown formats raise "Unknown image file format. One of JPEG, PNG, GIF, BMP required."
        image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, 3])
    return image


def decode_and_resize(image_bytes, image_size, resize_mode="stretch"):
    """Encoded images (B,) -> float32 (B, height, width, 3) in [0, 255].

    ``stretch`` is the seed example's plain bilinear resize; ``pad`` keeps the
    aspect ratio and pads with black.  Each image may have its own size.

    Args:
        image_bytes: string (B,) (any shape, flattened) of JPEG, PNG, GIF or BMP bytes; decoded to RGB.
        image_size: (height, width) in pixels.
        resize_mode: ``stretch`` or ``pad``.

    Returns:
        float32 (B, height, width, 3) in [0, 255].

    Raises:
        ValueError: an unknown ``resize_mode``.
        tf.errors.InvalidArgumentError: (when run) empty bytes, or bytes that are no image in those formats.
    """
    if resize_mode not in RESIZE_MODES:
        raise ValueError(f"resize_mode: {resize_mode!r} is not one of {', '.join(RESIZE_MODES)}")
    height, width = image_size

    def one(encoded):
        image = _decode_one(encoded)
        if resize_mode == "pad":
            return tf.image.resize_with_pad(image, height, width)
        return tf.image.resize(image, (height, width))

    image_bytes = tf.reshape(image_bytes, [-1])
    return tf.map_fn(
        one,
        image_bytes,
        fn_output_signature=tf.TensorSpec((height, width, 3), tf.float32),
        name="decode_and_resize",
    )
