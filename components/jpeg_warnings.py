"""libjpeg's warnings about a JPEG that still decodes, attributed to the file.

TensorFlow decodes JPEGs with libjpeg-turbo, which prints its warnings
(``Corrupt JPEG data: 16 extraneous bytes before marker 0xd9``, ``Premature
end of JPEG file``, ...) from C code straight to the process's standard error,
without a file name, every time the image is decoded (Transform, the
Trainers, the Evaluator, serving).  Pillow, which ingestion decodes with,
silences them.

:func:`check_jpeg` decodes the bytes once with TensorFlow's own JPEG decoder
while file descriptor 2 points at a temporary file, so the warning is read
back and returned instead of printed (anything else written to standard
error meanwhile, by any thread, is written back to it unchanged).
Extraneous bytes before the end-of-image marker (the damage of a part of the
``cats_vs_dogs`` download) are then dropped from the bytes to store, in
as many passes as libjpeg needs to stop warning, and only when TensorFlow
decodes the result to exactly the same pixels without a warning; the image
the model sees is the same, and no later decode prints anything.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import tempfile
import threading

# Warning reasons (ingest report ``warnings``, bad_images.tsv's reason of a file kept with a warning).
JPEG_EXTRANEOUS_BYTES = "jpeg_extraneous_bytes"  # bytes before the end-of-image marker, dropped
JPEG_WARNING = "jpeg_warning"  # any other libjpeg warning; the original bytes are stored
WARNING_REASONS = (JPEG_EXTRANEOUS_BYTES, JPEG_WARNING)

# libjpeg's messages (jerror.h) that are warnings, not errors; each decode prints at most one.
_LIBJPEG_WARNING = re.compile(
    r"^(Corrupt JPEG data: .*|Premature end of JPEG file|Warning: .*|Invalid SOS parameters .*|"
    r"Inconsistent progression sequence .*|Unsupported marker type .*|.*JPEG datastream.*)$")
# libjpeg's errors (jerror.h's families), printed by TensorFlow's decoder before it fails: held back for
# a file Pillow refuses too (its reason is reported). Any other line is written back, even then.
_LIBJPEG_ERROR = re.compile(
    r"^(Improper call to JPEG library.*|Input file read error|Not a JPEG file.*|Empty JPEG image.*|"
    r"(Huffman|Quantization|Arithmetic) table 0x[0-9a-f]+ was not defined|Missing Huffman code table.*|"
    r"Bogus .*|Invalid .*|Unsupported .*|Bad .*|Premature end of JPEG.*|Corrupt JPEG data.*|"
    r"Sampling factors too large.*|Maximum supported image dimension.*|Image too wide.*|"
    r"Component index \d+.*|DCT coefficient out of range|Didn't expect more than one scan|"
    r"Scan script does not transmit all data|Application transferred too (few|many) scanlines|"
    r"Insufficient memory.*|Wrong JPEG library version.*|Requested features are incompatible|"
    r"Cannot .*|JPEG datastream contains no image|Unknown APP\d+ marker.*|"
    # TensorFlow's own log line about the image ("Premature end of JPEG data. Stopped at line 0/40").
    r".*tensorflow/core/lib/jpeg/jpeg_mem\.cc:\d+\] .*)$")
_EXTRANEOUS = re.compile(r"^Corrupt JPEG data: (\d+) extraneous bytes before marker 0x([0-9a-f]{2})$")
_EOI = b"\xff\xd9"
# Each pass drops what libjpeg counted; its bit buffer can swallow a few more bytes first.
_MAX_REPAIR_PASSES = 4
_STDERR_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class JpegCheck:
    """What libjpeg said about one JPEG.

    ``reason``: ``""`` (no warning), :data:`JPEG_EXTRANEOUS_BYTES` or
    :data:`JPEG_WARNING`; ``message``: libjpeg's first warning, as it would
    have printed it; ``data``: the bytes to store (the input, or the input
    without the extraneous bytes); ``removed``: how many bytes were dropped;
    ``decoded``: whether TensorFlow decoded the bytes at all; ``unprinted``:
    when it did not, libjpeg's error message(s) it printed, held back for
    :func:`print_unprinted` (anything else written meanwhile is printed).
    """

    reason: str = ""
    message: str = ""
    data: bytes | None = None
    removed: int = 0
    decoded: bool = True
    unprinted: str = ""

    @property
    def detail(self) -> str:
        """One line for the report: the message, and what was done about it."""
        if not self.reason:
            return ""
        if self.removed:
            return (f"libjpeg: {self.message}; {self.removed} extraneous byte(s) dropped from the stored "
                    f"image, decoded pixels unchanged")
        return f"libjpeg: {self.message}; stored as it is"

    @property
    def clean(self) -> bool:
        """TensorFlow decoded the whole image and libjpeg had nothing to say."""
        return self.decoded and not self.reason


def _decode_capturing_stderr(data: bytes) -> tuple[object | None, list[str], str]:
    """(pixels as a numpy array or None when TensorFlow cannot decode it, libjpeg's warning lines, its errors).

    The rest: when the decode failed, libjpeg's error message(s), returned unwritten; any other text
    written to fd 2 meanwhile (by any thread) is written back to standard error at once.
    """
    import tensorflow as tf

    with _STDERR_LOCK, tempfile.TemporaryFile() as capture:
        if sys.stderr is not None:  # None when the process started with fd 2 closed
            sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # no standard error to redirect (a closed fd 2): nothing would be printed either
            try:
                return tf.io.decode_jpeg(data, channels=0).numpy(), [], ""
            except Exception:  # noqa: BLE001 - libjpeg error: the caller keeps Pillow's verdict
                return None, [], ""
        os.dup2(capture.fileno(), 2)
        try:
            try:
                pixels = tf.io.decode_jpeg(data, channels=0).numpy()
            except Exception:  # noqa: BLE001 - libjpeg error: the caller keeps Pillow's verdict
                pixels = None
        finally:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode("utf-8", "replace")
    warnings, errors, others = [], [], []
    for line in text.splitlines(keepends=True):
        if _LIBJPEG_WARNING.match(line.strip()):
            warnings.append(line)
        elif pixels is None and (not line.strip() or _LIBJPEG_ERROR.match(line.strip())):
            errors.append(line)  # the failed decode's message: the caller decides
        else:
            others.append(line)
    if others:  # not libjpeg's: give it back to standard error as it was written
        os.write(2, "".join(others).encode("utf-8"))
    return pixels, [line.strip() for line in warnings], "".join(errors)


def print_unprinted(check: JpegCheck) -> None:
    """Writes ``check.unprinted`` to standard error: the decode failed but the image is kept (Pillow's verdict)."""
    if check.unprinted:
        os.write(2, check.unprinted.encode("utf-8"))


def _drop_before_eoi(data: bytes, count: int) -> bytes | None:
    """``data`` without the ``count`` bytes before its final end-of-image marker (and its FF fill bytes)."""
    end = data.rfind(_EOI)
    if end < 0:
        return None
    start = end
    while start > 0 and data[start - 1] == 0xFF:  # fill bytes libjpeg swallows without counting
        start -= 1
    if count <= 0 or count > start:
        return None
    return data[:start - count] + data[start:]


def check_jpeg(data: bytes) -> JpegCheck:
    """Libjpeg's warning about ``data`` (a JPEG), and the bytes to store.

    Args:
      data: the file's bytes (a JPEG).

    Returns:
      A :class:`JpegCheck`; ``reason`` is ``""`` and ``data`` is the input
      when libjpeg has nothing to say or TensorFlow cannot decode the bytes
      at all (``decoded`` False: then Pillow's decision stands).
    """
    pixels, warnings, unprinted = _decode_capturing_stderr(data)
    if pixels is None:
        return JpegCheck(data=data, decoded=False, unprinted=unprinted)
    if not warnings:
        return JpegCheck(data=data)
    message = warnings[0]
    match = _EXTRANEOUS.match(message)
    if not match or match.group(2) != "d9":
        return JpegCheck(JPEG_WARNING, message, data)
    repaired, count = data, int(match.group(1))
    for _ in range(_MAX_REPAIR_PASSES):
        candidate = _drop_before_eoi(repaired, count)
        if candidate is None:
            break
        again, more, _ = _decode_capturing_stderr(candidate)  # a failure's message is of our candidate
        if again is None or again.shape != pixels.shape or (again != pixels).any():
            break
        repaired = candidate
        if not more:
            return JpegCheck(JPEG_EXTRANEOUS_BYTES, message, repaired, len(data) - len(repaired))
        follow = _EXTRANEOUS.match(more[0])
        if not follow or follow.group(2) != "d9":
            break
        count = int(follow.group(1))
    return JpegCheck(JPEG_WARNING, message, data)


__all__ = ["JPEG_EXTRANEOUS_BYTES", "JPEG_WARNING", "WARNING_REASONS", "JpegCheck", "check_jpeg", "print_unprinted"]
