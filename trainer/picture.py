"""The resizer picture: evaluation images beside what the arm's resizing stage makes of them, and bilinear."""

import io

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw

from trainer import models, resizers


def _to_uint8(image, stretch):
    image = np.asarray(image, dtype=np.float32)
    if stretch:  # the learned output is not confined to [0, 1]: show its full range
        low, high = float(image.min()), float(image.max())
        image = (image - low) / max(high - low, 1e-6)
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def resizer_picture(model, images, class_names=(), labels=None):
    """PNG bytes: one row per image; columns input | the arm's resizing stage | bilinear resize.

    ``images`` are float (N, H, W, 3) in [0, 255] (the Transform output).  The
    middle column shows the arm's own resizing stage (learned or fixed; left out
    for the bilinear baseline, which is the last column); a learned stage's
    output is not confined to [0, 1], so it is stretched to the displayed range
    per image.  Resized images are shown at twice their size, nearest-neighbour,
    so their pixels stay visible.  Each row's label sits on its own line above
    the row.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    scaled = images / 255.0
    resizer = models.get_resizer(model)
    spec = resizers.resizer_spec(model.name) if model.name in resizers.RESIZERS else None
    target = tuple(resizer.compute_output_shape(tuple(scaled.shape))[1:3])
    bilinear = tf.image.resize(scaled, target, method="bilinear").numpy()
    columns = [("input", [_to_uint8(im, False) for im in scaled.numpy()])]
    own = resizer(scaled, training=False).numpy()
    if not np.array_equal(own, bilinear):
        learned = spec is None or spec.learned
        title = f"{model.name}{' (stretched)' if learned else ''}"
        columns.append((title, [_to_uint8(im, learned) for im in own]))
    columns.append(("bilinear", [_to_uint8(im, False) for im in bilinear]))

    cell_h = max(images.shape[1], 2 * target[0])
    cell_w = max(images.shape[2], 2 * target[1])
    line, pad = 16, 6
    row_h = line + cell_h + pad
    canvas = Image.new("RGB", (len(columns) * (cell_w + pad) + pad, line + len(scaled) * row_h + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for col, (title, cells) in enumerate(columns):
        x = pad + col * (cell_w + pad)
        draw.text((x, 2), title, fill="black")
        for row, cell in enumerate(cells):
            top = line + row * row_h
            if col == 0 and labels is not None:
                label = int(labels[row])
                name = class_names[label] if label < len(class_names) else str(label)
                draw.text((x, top + 2), f"label: {name}", fill="black")
            picture = Image.fromarray(cell)
            if title != "input":
                picture = picture.resize((2 * picture.width, 2 * picture.height), Image.NEAREST)
            canvas.paste(picture, (x, top + line))
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()
