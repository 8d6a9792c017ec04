"""components.example_records: the canonical record, written with the contract's keys."""

import numpy as np
import pytest

from components import example_records
from components import image_records as ir
from tests.components.helpers import jpeg_bytes
from trainer import contract

GOOD_JPEG = jpeg_bytes(np.random.default_rng(1).integers(0, 256, size=(24, 32, 3), dtype=np.uint8))


def test_make_example_fields():
    result = ir.normalize_image(GOOD_JPEG)
    example = example_records.make_example(result, "cat/a.jpg", 1, "dog")
    f = example.features.feature
    assert sorted(f.keys()) == sorted(example_records.FEATURE_KEYS)
    assert f[contract.IMAGE_KEY].bytes_list.value[0] == GOOD_JPEG
    assert f[contract.IMAGE_FORMAT_KEY].bytes_list.value[0] == b"jpeg"
    assert f[contract.IMAGE_HEIGHT_KEY].int64_list.value[0] == 24
    assert f[contract.IMAGE_WIDTH_KEY].int64_list.value[0] == 32
    assert f[contract.FILENAME_KEY].bytes_list.value[0] == b"cat/a.jpg"
    assert f[contract.LABEL_KEY].int64_list.value[0] == 1
    assert f[contract.LABEL_NAME_KEY].bytes_list.value[0] == b"dog"
    with pytest.raises(ValueError):
        example_records.make_example(ir.skipped(ir.CORRUPT), "x", 0, "cat")
