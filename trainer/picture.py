"""The resizer picture: evaluation images beside what the arm's resizing stage makes of them, and bilinear."""

import io
import itertools
import os

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw

from trainer import models, resizers
from trainer.contract import RESIZER_PICTURE_FILE


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

    Args:
        model: a classifier of :func:`trainer.models.build_classifier`.
        images: float (N, H, W, 3) in [0, 255].
        class_names: the class names in label order.
        labels: int (N,) labels of the images, or None for no label lines.

    Returns:
        The PNG's bytes.
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


def picture_images(split, num_classes: int, count: int):
    """The first ``count`` images of ``split``, taking the classes in turn (class 0, 1, ..., 0, 1, ...).

    Args:
        split: a decoded split (:class:`trainer.data.DecodedSplit`), in its canonical order.
        num_classes: the number of classes.
        count: how many images; fewer when the split has fewer.

    Returns:
        (images float32 (n, H, W, 3) in [0, 255], labels int64 (n,)).
    """
    by_class = [np.flatnonzero(split.labels == c).tolist() for c in range(num_classes)]
    order = [i for group in itertools.zip_longest(*by_class) for i in group if i is not None]
    chosen = order[:count]
    return split.images[chosen].astype(np.float32), split.labels[chosen]


def write_resizer_picture(model, split, class_names, num_classes: int, count: int, model_dir: str) -> str:
    """Draws :func:`resizer_picture` of ``count`` images of ``split`` and writes it beside the SavedModel.

    Args:
        model: the trained classifier.
        split: the decoded validation split (:func:`picture_images` chooses from it).
        class_names: the class names in label order.
        num_classes: the number of classes.
        count: images drawn (``training.picture_images``).
        model_dir: the Model artifact directory (above ``Format-Serving``; any ``tf.io.gfile`` path).

    Returns:
        The path written, ``<model_dir>/resizer_picture.png``.
    """
    images, labels = picture_images(split, num_classes, count)
    picture = resizer_picture(model, images, class_names, labels)
    path = os.path.join(model_dir, RESIZER_PICTURE_FILE)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(picture)
    return path
