"""An Examples artifact's files (components/tfrecord_files.py): gzip TFRecords every reader reads, not deflated."""

import glob
import os

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from components.tfrecord_files import WriteToGzipTFRecord


def _write(records, prefix):
    with beam.Pipeline() as pipeline:
        _ = pipeline | beam.Create(records, reshuffle=False) | WriteToGzipTFRecord(prefix)
    return sorted(glob.glob(prefix + "-*"))


def test_the_records_read_back_as_gzip_tfrecords_through_tensorflow_and_beam(tmp_path):
    import tensorflow as tf

    records = [b"", b"\x00" * 7, os.urandom(70_000), b"a" * 100_000, *(bytes([i]) * i for i in range(1, 40))]
    files = _write(records, str(tmp_path / "Split-train" / "data_tfrecord"))
    assert files and all(f.endswith(".gz") and "-of-" in os.path.basename(f) for f in files)
    through_tf = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    assert sorted(through_tf) == sorted(records)
    with beam.Pipeline() as pipeline:
        read = pipeline | beam.io.ReadFromTFRecord(str(tmp_path / "Split-train" / "*.gz"))
        assert_that(read, equal_to(records))


def test_the_gzip_stream_stores_the_records_without_deflating_them(tmp_path):
    # 200 kB of one byte deflates to a few hundred bytes; stored, the file is larger than the records.
    records = [b"a" * 100_000, b"b" * 100_000]
    files = _write(records, str(tmp_path / "data_tfrecord"))
    assert sum(os.path.getsize(f) for f in files) > 200_000
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        # gzip; no optional header field (a file name would be the temporary file's); no time stamp.
        assert data[:2] == b"\x1f\x8b" and data[3] == 0 and data[4:8] == b"\x00\x00\x00\x00"
        # After gzip's 10-byte header, the first deflate block's type bits (BTYPE, bits 1-2): 00 is "stored".
        assert data[10] & 0b110 == 0
