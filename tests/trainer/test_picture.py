"""The resizer picture (trainer/picture.py): input | the arm's resizing stage | bilinear, one row per image."""

import io

import numpy as np
import pytest
from PIL import Image

from tests.serving.helpers import SMALL
from trainer import contract

HEIGHT, WIDTH = SMALL["image_size"]
TARGET_H, TARGET_W = SMALL["target_size"]
LINE, PAD = 16, 6  # the picture's layout: a title line, a label line per row, padding
CELL_H, CELL_W = max(HEIGHT, 2 * TARGET_H), max(WIDTH, 2 * TARGET_W)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, size=(2, HEIGHT, WIDTH, 3)).astype(np.float32)


def classifier(arm):
    from trainer import backbones, models
    from trainer.config import TrainingConfig

    config = TrainingConfig(**SMALL).for_arm(arm)
    return models.build_classifier(config, backbones.build_backbone(config))


def cell(picture, column, row, height, width):
    left, top = PAD + column * (CELL_W + PAD), LINE + row * (LINE + CELL_H + PAD) + LINE
    return picture[top:top + height, left:left + width]


def label_line(picture, row):
    top = LINE + row * (LINE + CELL_H + PAD)
    return picture[top:top + LINE, PAD:PAD + CELL_W]


def decode(png):
    assert png.startswith(b"\x89PNG")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.mark.parametrize("arm, columns", [(contract.LEARNABLE_RESIZER_ARM, 3), (contract.BILINEAR_BASELINE_ARM, 2)])
def test_the_layout_the_input_and_the_bilinear_column(arm, columns, images):
    import tensorflow as tf

    from trainer.picture import resizer_picture

    picture = decode(resizer_picture(classifier(arm), images, ("dark", "bright"), labels=[1, 0]))
    assert picture.shape == (LINE + len(images) * (LINE + CELL_H + PAD) + PAD, columns * (CELL_W + PAD) + PAD, 3)
    bilinear = tf.image.resize(images / 255.0, (TARGET_H, TARGET_W), method="bilinear").numpy()
    for row in range(len(images)):
        np.testing.assert_array_equal(cell(picture, 0, row, HEIGHT, WIDTH), images[row].astype(np.uint8))
        # Shown at twice its size, nearest-neighbour.
        want = (np.clip(bilinear[row], 0, 1) * 255 + 0.5).astype(np.uint8).repeat(2, axis=0).repeat(2, axis=1)
        np.testing.assert_array_equal(cell(picture, columns - 1, row, 2 * TARGET_H, 2 * TARGET_W), want)
        assert (label_line(picture, row) < 128).any()  # the row's label is written above it


def test_a_learned_stage_is_stretched_to_the_full_range_and_no_labels_leave_the_lines_blank(images):
    from trainer.picture import resizer_picture

    picture = decode(resizer_picture(classifier(contract.LEARNABLE_RESIZER_ARM), images))
    for row in range(len(images)):
        own = cell(picture, 1, row, 2 * TARGET_H, 2 * TARGET_W)
        assert own.min() == 0 and own.max() == 255  # stretched per image
        assert (label_line(picture, row) == 255).all()
