"""The image folder's input fingerprint: a content hash, so a changed byte is never served from the cache."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from tests.components.helpers import feature, read_records
from trainer import contract


def _bmp(seed: int, size=(8, 8)) -> bytes:
    """An uncompressed BMP: the byte size depends on the dimensions alone, not on the picture."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, format="BMP")
    return buffer.getvalue()


def _folder(root, per_class=3):
    for c, cls in enumerate(("cat", "dog")):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (root / cls / f"{i}.bmp").write_bytes(_bmp(100 * c + i))
    return root


def _replace_keeping_size_and_mtime(path, data: bytes):
    """Writes ``data`` over ``path`` and restores its time stamps (as ``cp -p``/``rsync -a``/``tar x`` do)."""
    before = os.stat(path)
    assert len(data) == before.st_size
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_same_size_same_mtime_different_picture_changes_the_fingerprint(tmp_path):
    """The reported case: a BMP replaced by another picture of the same dimensions, time stamp kept."""
    from components.image_folder_example_gen import folder_fingerprint

    root = _folder(tmp_path / "images")
    before = folder_fingerprint(str(root))
    new_picture = _bmp(999)
    assert new_picture != (root / "cat" / "1.bmp").read_bytes()
    _replace_keeping_size_and_mtime(root / "cat" / "1.bmp", new_picture)
    after = folder_fingerprint(str(root))
    assert after != before
    assert "Num files: 6" in before and "Num files: 6" in after
    assert f"Total bytes: {6 * len(new_picture)}" in after
    assert "SHA-256(path,content)" in after


def test_one_flipped_byte_changes_it_and_a_touch_does_not(tmp_path):
    """A PNG with one byte changed in place (size and mtime kept) changes the fingerprint; a new mtime alone
    does not."""
    from components.image_folder_example_gen import file_content_sha256, folder_fingerprint

    root = tmp_path / "images"
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            buffer = io.BytesIO()
            Image.new("RGB", (4, 4), (i * 50, 10, 200 if cls == "cat" else 20)).save(buffer, format="PNG")
            (root / cls / f"{i}.png").write_bytes(buffer.getvalue())
    path = root / "dog" / "1.png"
    original = path.read_bytes()
    before = folder_fingerprint(str(root))

    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # touched: same bytes, another time stamp
    assert folder_fingerprint(str(root)) == before

    flipped = bytearray(original)
    flipped[-20] ^= 0x01
    _replace_keeping_size_and_mtime(path, bytes(flipped))
    changed = folder_fingerprint(str(root))
    assert changed != before
    import hashlib

    assert file_content_sha256(str(path)) == hashlib.sha256(bytes(flipped)).hexdigest()

    _replace_keeping_size_and_mtime(path, original)  # put back: the fingerprint is a function of the content
    assert folder_fingerprint(str(root)) == before


def test_unreadable_file_is_fingerprinted_not_fatal(tmp_path):
    """A dangling link is fingerprinted as unreadable (the executor reports it); the fingerprint still changes
    with it."""
    from components.image_folder_example_gen import folder_fingerprint

    root = _folder(tmp_path / "images", per_class=2)
    before = folder_fingerprint(str(root))
    os.symlink(str(tmp_path / "nowhere.bmp"), root / "cat" / "gone.bmp")
    after = folder_fingerprint(str(root))
    assert after != before and "Num files: 5" in after


@pytest.mark.slow
def test_cached_rerun_reingests_a_picture_replaced_at_the_same_size_and_mtime(tmp_path):
    """ExampleGen in a cached LocalDagRunner pipeline: unchanged -> cached; replaced BMP -> re-ingested, new bytes."""
    from tfx import v1 as tfx
    from tfx.orchestration import metadata

    from components.image_folder_example_gen import ImageFolderExampleGen

    root = _folder(tmp_path / "images", per_class=8)
    connection = metadata.sqlite_metadata_connection_config(str(tmp_path / "metadata.sqlite"))

    def run():
        gen = ImageFolderExampleGen(input_base=str(root), split_buckets={"train": 1, "validation": 1, "test": 1})
        tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
            pipeline_name="fingerprint_test", pipeline_root=str(tmp_path / "pipeline_root"),
            metadata_connection_config=connection, components=[gen], enable_cache=True))
        with metadata.Metadata(connection) as m:
            return sorted((a.id, a.uri) for a in m.store.get_artifacts_by_type("Examples"))

    def stored_bytes(uri):
        out = {}
        for split in contract.REQUIRED_SPLITS:
            for example in read_records(uri, split):
                out[feature(example, contract.FILENAME_KEY).decode()] = example
        return out

    first = run()
    assert len(first) == 1
    assert run() == first  # nothing changed: served from the cache
    new_picture = _bmp(4242)
    _replace_keeping_size_and_mtime(root / "dog" / "2.bmp", new_picture)
    third = run()
    assert len(third) == 2, "the replaced picture was served from the cache"
    old, new = stored_bytes(first[0][1]), stored_bytes(third[1][1])
    assert set(old) == set(new) and len(new) == 16
    changed = [name for name in new if new[name] != old[name]]
    assert changed == ["dog/2.bmp"]
