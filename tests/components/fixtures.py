"""Session fixtures of ingestion: the demo folder, its executor run, a TFDS data dir (tests/components/helpers.py)."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from tests.components.helpers import TFDS_NUM_EXAMPLES, jpeg_bytes, run_executor


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """Small synthetic demo folder (6 regular images per class + the specials)."""
    from components.demo_data import make_demo_dataset

    root = str(tmp_path_factory.mktemp("demo") / "images")
    summary = make_demo_dataset(root, per_class=6, seed=7)
    # Extra awkward entries the generator cannot make portably.
    os.symlink("/nonexistent/target.jpg", os.path.join(root, "stripes_vertical",
                                                        "special_dangling_link.jpg"))
    with open(os.path.join(root, "stripes_vertical", ".DS_Store"), "wb") as f:
        f.write(b"\x00\x01junk")
    with open(os.path.join(root, "README.txt"), "w") as f:
        f.write("not in a class folder\n")
    summary["extra_files"] = {
        "stripes_vertical/special_dangling_link.jpg": ("skipped", "unreadable"),
        "stripes_vertical/.DS_Store": ("ignored", "os_metadata"),
        "README.txt": ("ignored", "top_level_not_image"),
    }
    return root, summary


@pytest.fixture(scope="session")
def demo_run(demo_dir, tmp_path_factory):
    """The image-folder executor run once on ``demo_dir`` (in-process Beam)."""
    from components.image_folder_example_gen import ImageFolderExampleGen

    root, summary = demo_dir
    out = str(tmp_path_factory.mktemp("demo_run") / "examples")
    component = ImageFolderExampleGen(input_base=root, max_bad_fraction=0.5)
    examples = run_executor(component, out)
    return root, summary, examples


# --------------------------------------------------------------------------
# A real, offline-prepared TFDS cats_vs_dogs (50 images) in TFDS format.



@pytest.fixture(scope="session")
def tfds_data_dir(tmp_path_factory):
    import tensorflow_datasets as tfds
    from tensorflow_datasets.image_classification import cats_vs_dogs

    data_dir = str(tmp_path_factory.mktemp("tfds_data"))
    rng = np.random.default_rng(0)
    images = []
    for i in range(TFDS_NUM_EXAMPLES):
        label = i % 2
        h, w = int(rng.integers(40, 90)), int(rng.integers(40, 90))
        arr = rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)
        if i == 7:  # one CMYK JPEG: must come out converted
            buf = io.BytesIO()
            Image.fromarray(arr).convert("CMYK").save(buf, format="JPEG", quality=90)
            data = buf.getvalue()
        else:
            data = jpeg_bytes(arr)
        images.append((f"PetImages/{'Cat' if label == 0 else 'Dog'}/{i}.jpg", label, data))

    class OfflineCatsVsDogs(cats_vs_dogs.CatsVsDogs, skip_registration=True):
        name = "cats_vs_dogs"

        def _split_generators(self, dl_manager):
            return [tfds.core.SplitGenerator(name=tfds.Split.TRAIN, gen_kwargs={})]

        def _generate_examples(self, **kwargs):
            for filename, label, data in images:
                yield filename, {
                    "image": io.BytesIO(data),
                    "image/filename": filename,
                    "label": label,
                }

    # Three shards, so slices cross shard boundaries (skip/take per shard).
    OfflineCatsVsDogs(data_dir=data_dir).download_and_prepare(
        download_config=tfds.download.DownloadConfig(num_shards=3))
    return data_dir
