"""The synthetic data set the tests and benchmarks train on: learnable images as canonical gzipped records."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from components import image_records, synthetic_examples
from tests.components.helpers import feature, read_records
from trainer import contract


def test_images_are_uint8_rgb_of_the_asked_size_and_their_brightness_tells_the_label():
    rng = np.random.default_rng(0)
    dark = synthetic_examples.make_image(rng, 0, 30, 40)
    bright = synthetic_examples.make_image(rng, 1, 30, 40)
    for image in (dark, bright):
        assert image.dtype == np.uint8 and image.shape == (30, 40, 3)
    assert abs(dark.mean() - 60) < 5 and abs(bright.mean() - 190) < 5
    assert dark.std() > 10  # noise, not a flat image


def test_the_same_seed_gives_the_same_image():
    first = synthetic_examples.make_image(np.random.default_rng(3), 1, 8, 8)
    again = synthetic_examples.make_image(np.random.default_rng(3), 1, 8, 8)
    other = synthetic_examples.make_image(np.random.default_rng(4), 1, 8, 8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_png_is_lossless_and_jpeg_is_a_jpeg_of_the_same_size():
    image = synthetic_examples.make_image(np.random.default_rng(1), 0, 12, 20)
    png = synthetic_examples.encode(image, "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), image)
    jpeg = synthetic_examples.encode(image)
    assert jpeg.startswith(b"\xff\xd8")
    decoded = Image.open(io.BytesIO(jpeg))
    assert decoded.format == "JPEG" and decoded.size == (20, 12) and decoded.mode == "RGB"


def test_an_example_carries_every_canonical_feature():
    encoded = synthetic_examples.encode(np.zeros((5, 7, 3), np.uint8), "png")
    example = synthetic_examples.image_example(encoded, 1, "png", 5, 7, "bright/3.png")
    assert sorted(example.features.feature) == sorted(contract.RECORD_FEATURE_KEYS)
    assert feature(example, contract.IMAGE_KEY) == encoded
    assert feature(example, contract.IMAGE_FORMAT_KEY) == b"png"
    assert (feature(example, contract.IMAGE_HEIGHT_KEY), feature(example, contract.IMAGE_WIDTH_KEY)) == (5, 7)
    assert feature(example, contract.FILENAME_KEY) == b"bright/3.png"
    assert feature(example, contract.LABEL_KEY) == 1
    assert feature(example, contract.LABEL_NAME_KEY) == b"bright"
    named = synthetic_examples.image_example(encoded, 0, "png", class_names=("cat", "dog"))
    assert feature(named, contract.LABEL_NAME_KEY) == b"cat"


def test_the_data_set_file_holds_both_classes_in_varied_sizes_as_ingestion_would_keep_them(tmp_path):
    directory = str(tmp_path / "Split-train")
    sizes = ((20, 16), (12, 30))
    assert synthetic_examples.write_tfrecord_dataset(directory, 6, seed=5, sizes=sizes) == directory
    assert os.listdir(directory) == ["data.tfrecord.gz"]
    examples = read_records(str(tmp_path), "train")
    assert len(examples) == 6
    for i, example in enumerate(examples):
        label = i % 2
        fmt = "png" if i % 5 == 0 else "jpeg"
        height, width = sizes[i % len(sizes)]
        assert feature(example, contract.LABEL_KEY) == label
        assert feature(example, contract.LABEL_NAME_KEY) == synthetic_examples.CLASS_NAMES[label].encode()
        assert feature(example, contract.IMAGE_FORMAT_KEY) == fmt.encode()
        assert feature(example, contract.FILENAME_KEY) == f"{synthetic_examples.CLASS_NAMES[label]}/{i}.{fmt}".encode()
        assert (feature(example, contract.IMAGE_HEIGHT_KEY), feature(example, contract.IMAGE_WIDTH_KEY)) == (
            height, width)
        # Canonical: ingestion would keep the bytes as they are, with the same format and size.
        result = image_records.normalize_image(feature(example, contract.IMAGE_KEY))
        assert (result.outcome, result.reason) == (image_records.KEPT, "")
        assert (result.image_format, result.height, result.width) == (fmt, height, width)


def test_the_same_seed_writes_the_same_records(tmp_path):
    for run in ("a", "b"):
        synthetic_examples.write_tfrecord_dataset(str(tmp_path / run / "Split-x"), 3, seed=2)
    first, again = (read_records(str(tmp_path / run), "x") for run in ("a", "b"))
    assert len(first) == 3
    assert [e.SerializeToString(deterministic=True) for e in first] == [
        e.SerializeToString(deterministic=True) for e in again]


@pytest.mark.parametrize("label", [0, 1])
def test_the_class_names_are_the_two_brightnesses(label):
    assert synthetic_examples.CLASS_NAMES == ("dark", "bright")
    image = synthetic_examples.make_image(np.random.default_rng(label), label, 16, 16)
    assert (image.mean() > 128) == (synthetic_examples.CLASS_NAMES[label] == "bright")
