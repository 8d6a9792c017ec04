"""JPEGs libjpeg warns about but decodes: kept with a warning, by name, and no raw message on the console.

TensorFlow's own decoder is the oracle: a test first shows that decoding the
damaged bytes prints libjpeg's message to file descriptor 2 (pytest's capfd),
then that ingestion attributes it to the file, prints nothing, and stores
bytes TensorFlow decodes to the same pixels without a message.
"""

from __future__ import annotations

import numpy as np
import pytest

from components import image_records, jpeg_warnings
from tests.components.helpers import jpeg_bytes, read_bad_rows, read_records, read_report, run_executor
from trainer import contract

EOI = b"\xff\xd9"


def _clean_jpeg(seed=0, height=40, width=50) -> bytes:
    rng = np.random.default_rng(seed)
    data = jpeg_bytes((rng.random((height, width, 3)) * 255).astype(np.uint8))
    assert data.endswith(EOI)
    return data


def _with_garbage_before_eoi(data: bytes, garbage: bytes) -> bytes:
    return data[:-2] + garbage + EOI


def _with_gap_after_app0(data: bytes, garbage: bytes) -> bytes:
    """``garbage`` between the JFIF APP0 segment and the next marker (a header gap)."""
    assert data[2:4] == b"\xff\xe0"
    end = 4 + int.from_bytes(data[4:6], "big")
    assert data[end] == 0xFF
    return data[:end] + garbage + data[end:]


def _tf_decode(data: bytes) -> np.ndarray:
    import tensorflow as tf

    return tf.io.decode_jpeg(data, channels=0).numpy()


@pytest.mark.parametrize("garbage", [
    b"\x00\x11\x22\x33" * 5,  # the case of the report: bytes before the end-of-image marker
    bytes(range(1, 255)) * 2,  # 508 bytes, every value but 0x00 and 0xFF
    b"\x12\xff\x00" * 30 + b"\xff\xff",  # stuffed FF00 pairs and FF fill bytes before the marker
])
def test_extraneous_bytes_before_eoi_are_kept_with_a_warning_and_dropped(garbage, capfd):
    clean = _clean_jpeg()
    damaged = _with_garbage_before_eoi(clean, garbage)
    capfd.readouterr()
    want = _tf_decode(damaged)  # the oracle: TensorFlow's libjpeg complains, without a file name
    assert "extraneous bytes before marker 0xd9" in capfd.readouterr().err

    result = image_records.normalize_image(damaged)
    assert capfd.readouterr().err == ""  # attributed here, not printed
    assert (result.outcome, result.reason, result.warning) == (
        image_records.KEPT, "", jpeg_warnings.JPEG_EXTRANEOUS_BYTES)
    assert "libjpeg: Corrupt JPEG data:" in result.detail and "0xd9" in result.detail
    assert "pixels unchanged" in result.detail
    stored = result.encoded
    assert len(clean) <= len(stored) < len(damaged)
    np.testing.assert_array_equal(_tf_decode(stored), want)
    np.testing.assert_array_equal(_tf_decode(stored), _tf_decode(clean))
    assert capfd.readouterr().err == ""  # the stored bytes decode without a message downstream


@pytest.mark.parametrize("garbage", [b"\x01\x02\x03", b"\x00" * 40])
def test_other_libjpeg_warnings_keep_the_bytes_and_name_the_message(garbage, capfd):
    damaged = _with_gap_after_app0(_clean_jpeg(seed=1), garbage)
    result = image_records.normalize_image(damaged)
    assert capfd.readouterr().err == ""
    assert (result.outcome, result.warning) == (image_records.KEPT, jpeg_warnings.JPEG_WARNING)
    assert result.encoded == damaged  # nothing is dropped from a header
    assert result.detail == (f"libjpeg: Corrupt JPEG data: {len(garbage)} extraneous bytes before marker 0xdb; "
                             "stored as it is")


def test_a_clean_jpeg_has_no_warning_and_is_stored_as_it_is(capfd):
    clean = _clean_jpeg(seed=2, height=64, width=30)
    result = image_records.normalize_image(clean)
    assert (result.outcome, result.warning, result.detail, result.encoded) == (image_records.KEPT, "", "", clean)
    assert capfd.readouterr().err == ""


@pytest.fixture
def another_writer(monkeypatch):
    """TensorFlow's JPEG decoder, with another library's line written to fd 2 before each decode."""
    import os

    import tensorflow as tf

    real = tf.io.decode_jpeg

    def noisy(data, channels=0):
        os.write(2, b"another library's line\n")
        return real(data, channels=channels)

    monkeypatch.setattr(tf.io, "decode_jpeg", noisy)


def test_other_output_on_stderr_during_the_check_is_given_back(capfd, another_writer):
    """Only libjpeg's warning lines are taken; anything else written to fd 2 meanwhile reaches fd 2."""
    check = jpeg_warnings.check_jpeg(_with_garbage_before_eoi(_clean_jpeg(), b"\x07" * 20))
    assert check.reason == jpeg_warnings.JPEG_EXTRANEOUS_BYTES
    err = capfd.readouterr().err
    assert "another library's line" in err and "Corrupt JPEG" not in err


def test_other_output_during_a_failed_decode_is_given_back_and_libjpegs_error_is_not(capfd, another_writer):
    """A file both decoders refuse is reported as corrupt; another writer's line still reaches fd 2."""
    clean = _clean_jpeg(seed=4)
    capfd.readouterr()
    result = image_records.normalize_image(clean[:len(clean) // 3])
    assert (result.outcome, result.reason) == (image_records.SKIPPED, image_records.CORRUPT)
    assert capfd.readouterr().err == "another library's line\n"


def test_ingestion_reports_files_kept_with_a_warning_by_name(tmp_path, capfd, caplog):
    import logging

    from components.image_folder_example_gen import ImageFolderExampleGen

    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="absl")  # the component logs through absl; others may raise its level
    root = tmp_path / "images"
    files = {}
    for c, cls in enumerate(("cat", "dog")):
        (root / cls).mkdir(parents=True)
        for i in range(20):  # enough for every split to get records
            files[f"{cls}/{i}.jpg"] = _clean_jpeg(seed=100 * c + i, height=24, width=20)
    files["cat/2.jpg"] = _with_garbage_before_eoi(files["cat/2.jpg"], b"\x01\x02" * 40)
    files["dog/4.jpg"] = _with_garbage_before_eoi(files["dog/4.jpg"], b"\x05" * 30)
    files["dog/5.jpg"] = _with_gap_after_app0(files["dog/5.jpg"], b"\x09" * 4)
    for rel, data in files.items():
        (root / rel).write_bytes(data)
    capfd.readouterr()
    uri = run_executor(ImageFolderExampleGen(input_base=str(root)), str(tmp_path / "out")).uri
    assert "Corrupt JPEG" not in capfd.readouterr().err
    # The console's line of totals gives the count by reason, not libjpeg's message.
    assert ('3 kept with a warning {"jpeg_extraneous_bytes": 2, "jpeg_warning": 1} (by name in '
            f'{contract.BAD_IMAGES_FILE})') in caplog.text

    report = read_report(uri)
    warned = {"cat/2.jpg": jpeg_warnings.JPEG_EXTRANEOUS_BYTES, "dog/4.jpg": jpeg_warnings.JPEG_EXTRANEOUS_BYTES,
              "dog/5.jpg": jpeg_warnings.JPEG_WARNING}
    assert report["warnings"]["count"] == 3
    assert report["warnings"]["by_reason"] == {jpeg_warnings.JPEG_EXTRANEOUS_BYTES: 2, jpeg_warnings.JPEG_WARNING: 1}
    assert {e["path"]: e["reason"] for e in report["warnings"]["entries"]} == warned
    totals = report["totals"]
    assert (totals["files_in"], totals["records_out"], totals["kept"], totals["skipped"],
            totals["kept_with_warning"]) == (40, 40, 40, 0, 3)
    assert totals["warnings_by_reason"] == report["warnings"]["by_reason"]
    assert sum(s["kept_with_warning"] for s in report["splits"].values()) == 3
    rows = {row["path"]: row for row in read_bad_rows(uri)}
    assert {path: (row["outcome"], row["reason"]) for path, row in rows.items()} == {
        path: (image_records.KEPT, reason) for path, reason in warned.items()}
    assert "extraneous bytes before marker 0xdb" in rows["dog/5.jpg"]["detail"]
    # Every file gave a record; the stored bytes of the repaired ones decode to the clean pixels silently.
    records = {}
    for split in contract.REQUIRED_SPLITS:
        for ex in read_records(uri, split):
            records[ex.features.feature[contract.FILENAME_KEY].bytes_list.value[0].decode()] = (
                ex.features.feature[contract.IMAGE_KEY].bytes_list.value[0])
    assert sorted(records) == sorted(files)
    capfd.readouterr()
    np.testing.assert_array_equal(_tf_decode(records["dog/4.jpg"]), _tf_decode(files["dog/4.jpg"]))
    assert capfd.readouterr().err.count("Corrupt JPEG") == 1  # the original only
    assert records["dog/5.jpg"] == files["dog/5.jpg"]


def _damaged_variants(data: bytes, rng: np.random.Generator):
    """Truncations, flipped and inserted bytes, a cut with a new end-of-image marker, a deleted run."""
    n = len(data)
    for _ in range(5):
        yield data[:int(rng.integers(100, n))]
    for _ in range(4):
        damaged = bytearray(data)
        for i in rng.integers(200, n, size=int(rng.integers(1, 20))):
            damaged[i] = int(rng.integers(0, 256))
        yield bytes(damaged)
    for _ in range(3):
        i = int(rng.integers(200, n))
        yield data[:i] + rng.integers(0, 256, size=int(rng.integers(1, 50)), dtype=np.uint8).tobytes() + data[i:]
    yield data[:int(rng.integers(n // 2, n - 2))] + EOI
    i = int(rng.integers(200, n))
    yield data[:i] + data[i + int(rng.integers(1, 500)):]


def test_damaged_jpegs_get_the_verdict_of_decoding_with_pillow_first(capfd):
    """Pillow's decode is left out when TensorFlow's decodes cleanly: the outcome is the same as with it.

    The reference is the order of checks the shortcut replaces: Pillow decodes the file (its error makes
    the file ``corrupt``), then TensorFlow's libjpeg says what it warns about.
    """
    import io

    from PIL import Image

    rng = np.random.default_rng(7)
    sources = []
    for _ in range(3):
        pixels = (rng.random((96, 128, 3)) * 255).astype(np.uint8)
        for kwargs in ({}, {"progressive": True}):
            sources.append(jpeg_bytes(pixels, **kwargs))
        sources.append(jpeg_bytes(pixels[..., 0]))  # grayscale
    seen = {"pillow_refuses": 0, "kept_clean": 0, "kept_with_warning": 0}
    for source in sources:
        for damaged in (source, *_damaged_variants(source, rng)):
            try:
                with Image.open(io.BytesIO(damaged)) as img:
                    img.load()
            except Exception as exc:  # noqa: BLE001 - the reference's verdict: corrupt
                want = (image_records.SKIPPED, image_records.CORRUPT, "", f"{type(exc).__name__}: {exc}", None)
                seen["pillow_refuses"] += 1
            else:
                check = jpeg_warnings.check_jpeg(damaged)
                want = (image_records.KEPT, "", check.reason, check.detail, check.data)
                seen["kept_with_warning" if check.reason else "kept_clean"] += 1
            capfd.readouterr()
            result = image_records.normalize_image(damaged)
            got = (result.outcome, result.reason, result.warning, result.detail, result.encoded)
            assert got == want
            if result.outcome == image_records.SKIPPED:  # reported with Pillow's reason, libjpeg's line not printed
                assert capfd.readouterr().err == ""
    assert min(seen.values()) >= 5, seen  # every kind of verdict was met


def test_a_jpeg_tensorflow_decodes_cleanly_is_not_decoded_by_pillow(monkeypatch):
    from PIL import ImageFile

    loads = []
    real_load = ImageFile.ImageFile.load

    def counting_load(self):
        loads.append(self.format)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    clean = _clean_jpeg(seed=3)
    assert image_records.normalize_image(clean).encoded == clean
    assert loads == []
    result = image_records.normalize_image(_with_garbage_before_eoi(clean, b"\x03" * 12))
    assert (result.warning, loads) == (jpeg_warnings.JPEG_EXTRANEOUS_BYTES, ["JPEG"])  # Pillow's verdict too
