"""The resizer picture: evaluation images beside their learned and bilinear resizing."""

import io

import numpy as np
from PIL import Image, ImageDraw

import tensorflow as tf

from trainer import models


def _to_uint8(image, stretch):
    image = np.asarray(image, dtype=np.float32)
    if stretch:  # the learned output is not confined to [0, 1]: show its full range
        low, high = float(image.min()), float(image.max())
        image = (image - low) / max(high - low, 1e-6)
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def resizer_picture(model, images, class_names=(), labels=None):
    """PNG bytes: one row per image; columns input | learned resize | bilinear resize.

    ``images`` are float (N, H, W, 3) in [0, 255] (the Transform output).  The
    learned column exists only for models with a learnable resizer; its values
    are stretched to the displayed range per image.  Resized images are shown
    at twice their size, nearest-neighbour, so their pixels stay visible.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    scaled = images / 255.0
    downscaler = models.get_downscaler(model)
    learnable = isinstance(downscaler, models.LearnableResizer)
    target = tuple(downscaler.target_size) if learnable else (downscaler.height, downscaler.width)
    columns = [("input", [_to_uint8(im, False) for im in scaled.numpy()])]
    if learnable:
        learned = downscaler(scaled, training=False).numpy()
        columns.append(("learned resizer", [_to_uint8(im, True) for im in learned]))
    bilinear = tf.image.resize(scaled, target, method="bilinear").numpy()
    columns.append(("bilinear", [_to_uint8(im, False) for im in bilinear]))

    cell_h = max(images.shape[1], 2 * target[0])
    cell_w = max(images.shape[2], 2 * target[1])
    header, pad = 18, 6
    canvas = Image.new(
        "RGB",
        (len(columns) * (cell_w + pad) + pad, header + len(scaled) * (cell_h + header) + pad),
        "white",
    )
    draw = ImageDraw.Draw(canvas)
    for col, (title, cells) in enumerate(columns):
        x = pad + col * (cell_w + pad)
        draw.text((x, 3), title, fill="black")
        for row, cell in enumerate(cells):
            picture = Image.fromarray(cell)
            if title != "input":
                picture = picture.resize((2 * picture.width, 2 * picture.height), Image.NEAREST)
            y = header + row * (cell_h + header)
            canvas.paste(picture, (x, y))
            if col == 0 and labels is not None:
                label = int(labels[row])
                name = class_names[label] if label < len(class_names) else str(label)
                draw.text((x, y + cell_h + 2), f"label: {name}", fill="black")
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()
