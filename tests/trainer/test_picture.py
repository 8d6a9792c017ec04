"""trainer.picture: which validation images the resizer picture shows, and the file it writes."""

import numpy as np
import tensorflow as tf

from trainer import backbones, data, models, picture
from trainer.config import ArmConfig
from trainer.contract import LEARNABLE_RESIZER_ARM, RESIZER_PICTURE_FILE


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
