"""Writing an Examples artifact's files: gzip TFRecords whose gzip stream stores the records without deflating.

TFX reads the TFRecord files of an Examples artifact as GZIP (``FORMAT_TFRECORDS_GZIP``, the one TFRecord
format its readers take, ``tfx/components/util/tfxio_utils.py``), so the files stay gzip. Beam's
``WriteToTFRecord`` deflates them at zlib's default level, but an image record is almost all JPEG or PNG bytes,
which deflate cannot shrink: on cats_vs_dogs-sized JPEGs it saved 1.6 % of the bytes and took about 1 ms per
image on one core, more than Pillow's decode of the image (``bench/bench_ingest.py``; docs/trainer.md, "The
mission's scale"). :class:`WriteToGzipTFRecord` writes the same format with zlib's level 0: the gzip stream
holds stored blocks, which every gzip reader (TensorFlow's ``TFRecordDataset(compression_type="GZIP")``, Beam,
tfx-bsl) reads, faster than deflated ones, and each file's bytes depend only on its records.
"""

from __future__ import annotations

import gzip

import apache_beam as beam
from apache_beam import coders
from apache_beam.io import tfrecordio
from apache_beam.io.filesystem import CompressionTypes

GZIP_LEVEL = 0  # stored blocks: the records are already-compressed images


class _GzipStoredFile:
    """A gzip stream at :data:`GZIP_LEVEL` over a Beam file handle; closing it closes both."""

    def __init__(self, raw):
        self._raw = raw
        # No time stamp and no file name (GzipFile would take the temporary file's) in the header: the same
        # records give the same file.
        self._gzip = gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)

    def write(self, data: bytes) -> None:
        self._gzip.write(data)

    def close(self) -> None:
        self._gzip.close()
        self._raw.close()


class _GzipTFRecordSink(tfrecordio._TFRecordSink):  # Beam's (private) TFRecord framing and file finalisation
    """Beam's TFRecord sink writing through :class:`_GzipStoredFile` instead of Beam's default-level gzip."""

    def open(self, temp_path):
        return _GzipStoredFile(super().open(temp_path))


class WriteToGzipTFRecord(beam.PTransform):
    """Writes a PCollection of ``bytes`` records as gzip TFRecord files ``<prefix>-SSSSS-of-NNNNN.gz``.

    Args:
        file_path_prefix: the files' path before the shard numbers (any filesystem Beam knows).

    The files read as GZIP TFRecords anywhere; Beam picks the number of shards, as ``WriteToTFRecord`` does.
    """

    def __init__(self, file_path_prefix: str):
        super().__init__()
        self._sink = _GzipTFRecordSink(file_path_prefix, coder=coders.BytesCoder(), file_name_suffix=".gz",
                                       num_shards=0, shard_name_template=None,
                                       compression_type=CompressionTypes.UNCOMPRESSED)

    def expand(self, records):
        return records | beam.io.Write(self._sink)
