"""The resizer picture (trainer/picture.py): input | the arm's resizing stage | bilinear, one row per image;
which validation images it shows, and the file it writes."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.serving.helpers import SMALL
from trainer import backbones, contract, data, models, picture
from trainer.config import ArmConfig
from trainer.contract import LEARNABLE_RESIZER_ARM, RESIZER_PICTURE_FILE

HEIGHT, WIDTH = SMALL["image_size"]
TARGET_H, TARGET_W = SMALL["target_size"]
LINE, PAD = 16, 6  # the picture's layout: a title line, a label line per row, padding
CELL_H, CELL_W = max(HEIGHT, 2 * TARGET_H), max(WIDTH, 2 * TARGET_W)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, size=(2, HEIGHT, WIDTH, 3)).astype(np.float32)


def classifier(arm):
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


def labelled_split(labels):
    images = np.stack([np.full((16, 16, 3), i, np.uint8) for i in range(len(labels))])
    return data.DecodedSplit(images=images, labels=np.asarray(labels, np.int64),
                             keys=[f"{i}.png" for i in range(len(labels))])


def test_the_classes_take_turns():
    images, labels = picture.picture_images(labelled_split([0, 0, 0, 1, 1, 0]), num_classes=2, count=5)
    assert labels.tolist() == [0, 1, 0, 1, 0]
    assert images.dtype == np.float32 and images[:, 0, 0, 0].tolist() == [0, 3, 1, 4, 2]
    _, few = picture.picture_images(labelled_split([1, 1]), num_classes=2, count=5)
    assert few.tolist() == [1, 1]


def test_the_picture_is_written_beside_the_model(tmp_path):
    config = ArmConfig(arm=LEARNABLE_RESIZER_ARM, backbone="small_convnet", image_size=(16, 16),
                       target_size=(8, 8), filters=4)
    model = models.build_classifier(config, backbones.build_backbone(config))
    path = picture.write_resizer_picture(model, labelled_split([0, 1, 0]), ["a", "b"], 2, 2, str(tmp_path))
    assert path == str(tmp_path / RESIZER_PICTURE_FILE)
    png = tf.io.decode_png(open(path, "rb").read())
    # A title line, then two rows (16 px input cells, 8 px outputs shown at 16) each under its label line.
    assert png.shape[0] == 16 + 2 * (16 + 16 + 6) + 6
