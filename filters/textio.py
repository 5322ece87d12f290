"""Byte-level input handling shared by the readers: hashing, decompression, encoding
detection, bounded line reading, binary detection.

Everything here streams: memory is bounded by ``max_record_bytes`` and the read buffer, never
by the file size.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import zstandard

SAMPLE_BYTES = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_BZIP2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zX"


class DecompressionLimit(OSError):
    """A compressed file expands past ``max_decompressed_bytes`` (a decompression bomb)."""


# Errors a decompressor raises on truncated or corrupt input (and our size limit).
STREAM_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError, lzma.LZMAError, OSError)


def describe_stream_error(e: BaseException, offset: int) -> str:
    if isinstance(e, DecompressionLimit):
        return str(e)
    return f"truncated or corrupt compressed data after byte {offset}: {e}"


class _Limited(io.RawIOBase):
    """Counts decompressed bytes and stops a decompression bomb before it fills memory or disk."""

    def __init__(self, inner, limit: int):
        self._inner = inner
        self._limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        reader = getattr(self._inner, "read1", self._inner.read)
        data = reader(len(b))
        self.count += len(data)
        if self.count > self._limit:
            raise DecompressionLimit(
                f"decompressed size exceeds max_decompressed_bytes ({self._limit:,} bytes): possible decompression bomb"
            )
        b[: len(data)] = data
        return len(data)


class HashingReader(io.RawIOBase):
    """Wraps a binary file and hashes every byte read through it (the file's sha256)."""

    def __init__(self, raw):
        self._raw = raw
        self._sha = hashlib.sha256()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self._raw.read(len(b))
        n = len(data)
        b[:n] = data
        self._sha.update(data)
        self.bytes_read += n
        return n

    def drain(self) -> None:
        """Read the rest so the digest covers the whole file even if parsing stopped early."""
        while not getattr(self._raw, "closed", False):
            data = self._raw.read(1 << 20)
            if not data:
                return
            self._sha.update(data)
            self.bytes_read += len(data)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()

    def close(self) -> None:
        # The caller owns the underlying file; wrappers closing this reader must not close it
        # before drain() has hashed the rest.
        super().close()


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were already read (for sniffing) and are served again."""

    def __init__(self, prefix: bytes, rest):
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        # read1: take what the source has decoded so far, so a stream that fails later
        # (truncated archive) still delivers every byte before the damage.
        reader = getattr(self._rest, "read1", self._rest.read)
        data = reader(len(b))
        b[: len(data)] = data
        return len(data)


class _ZstdFrames(io.RawIOBase):
    """Decompresses one or more zstd frames and raises :class:`EOFError` when the input ends
    inside a frame.

    ``ZstdDecompressor().stream_reader`` ends silently at a cut frame (a file truncated in its
    second of two frames read as complete: 2,000 records in, 0 quarantined); a
    ``decompressobj`` per frame says whether its frame reached its end. Input goes in 1 KiB
    pieces because one call returns everything that piece expands to (at most ~32 MiB for
    zstd's worst-case RLE blocks), which keeps a bomb's memory bounded.
    """

    STEP = 1024

    def __init__(self, raw):
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = None
        self._out = b""
        self._pending = b""
        self._consumed = 0  # compressed bytes fed so far (for the error message)
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._out:
            if self._done:
                return 0
            if not self._pending:
                self._pending = self._raw.read(1 << 16) or b""
                if not self._pending:
                    self._done = True
                    if self._obj is not None and not self._obj.eof:
                        raise EOFError(
                            f"zstd stream ends inside a frame after {self._consumed:,} compressed bytes (file truncated)"
                        )
                    return 0
            if self._obj is None or self._obj.eof:
                self._obj = self._dctx.decompressobj()
            piece, self._pending = self._pending[: self.STEP], self._pending[self.STEP :]
            self._consumed += len(piece)
            self._out = self._obj.decompress(piece)
            if self._obj.eof and self._obj.unused_data:
                # the next frame starts inside this piece
                self._pending = self._obj.unused_data + self._pending
        n = min(len(b), len(self._out))
        b[:n] = self._out[:n]
        self._out = self._out[n:]
        return n


def detect_compression(head: bytes, path: str) -> str:
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    if head.startswith(_BZIP2_MAGIC) and (head[4:10] == b"1AY&SY" or path.endswith((".bz2", ".bz"))):
        return "bzip2"  # "BZh" alone is also plain text: the block magic (π in BCD) or the suffix must agree
    if head.startswith(_XZ_MAGIC):
        return "xz"
    return "none"


def open_decompressed(
    hashing: HashingReader, path: str, declared: str, limit: int | None = None
) -> tuple[io.BufferedReader, str]:
    """Return a buffered stream of decompressed bytes and the compression used.

    With ``limit``, a compressed stream that expands past it raises :class:`DecompressionLimit`.
    """
    head = hashing.read(10) or b""
    compression = detect_compression(head, path) if declared == "auto" else declared
    base: io.BufferedReader = io.BufferedReader(_Prefixed(head, hashing), buffer_size=1 << 20)
    stream: io.RawIOBase | io.BufferedIOBase
    if compression == "gzip":
        # GzipFile buffers internally in small chunks, so a truncated archive fails only when
        # reading reaches the damage; an extra large buffer would lose the lines before it.
        stream = gzip.GzipFile(fileobj=base, mode="rb")
    elif compression == "zstd":
        stream = _ZstdFrames(base)
    elif compression == "bzip2":
        # BZ2File and LZMAFile raise EOFError on a stream cut before its end marker.
        stream = bz2.BZ2File(base, mode="rb")
    elif compression == "xz":
        stream = lzma.LZMAFile(base, mode="rb")
    else:
        return base, "none"
    if limit is not None:
        stream = _Limited(stream, limit)
    return io.BufferedReader(stream, buffer_size=1 << 16), compression


@dataclass
class Sniffed:
    stream: io.BufferedReader
    sample: bytes
    binary_reason: str | None


class _Failing(io.RawIOBase):
    """Raises, on the first read, the error met while sniffing (so it surfaces at the right line)."""

    def __init__(self, error: Exception):
        self._error = error

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        raise self._error


def sniff(stream: io.BufferedReader) -> Sniffed:
    """Read a sample of the decompressed content (served again afterwards) and judge if it is binary.

    A stream that fails inside the sample (a short truncated archive) still yields the bytes read
    before the failure; the error is raised again when reading reaches that point.
    """
    parts: list[bytes] = []
    size = 0
    rest: io.BufferedReader | _Failing = stream
    while size < SAMPLE_BYTES:
        try:
            chunk = stream.read1(min(8192, SAMPLE_BYTES - size))
        except STREAM_ERRORS as e:
            rest = _Failing(e)
            break
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    sample = b"".join(parts)
    rewound: io.BufferedReader = io.BufferedReader(_Prefixed(sample, rest), buffer_size=1 << 20)
    return Sniffed(rewound, sample, binary_reason(sample))


#: Byte-order marks of the encodings whose newline is not the byte 0x0A (the readers split on it);
#: UTF-32 first: its little-endian mark begins with UTF-16's.
_WIDE_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}


def binary_reason(sample: bytes) -> str | None:
    """A file is binary when its sample is dominated by bytes that never occur in text.

    A few NUL bytes inside a text file are a record-level problem (that record is
    quarantined), not a reason to refuse the whole file.
    """
    wide = _WIDE_BOMS.get(sample[:4]) or _WIDE_BOMS.get(sample[:2])
    if wide:  # Excel's "Unicode Text" export: it read as "binary content (48% control bytes …)"
        return f"{wide} text (byte-order mark); the readers take UTF-8 and other ASCII-compatible encodings: convert it to UTF-8"
    if len(sample) < 32:
        return None  # too little to judge; bad bytes in it are handled record by record
    head = sample[:8192]
    junk = sum(1 for b in head if b < 9 or 13 < b < 32 and b != 27)
    frac = junk / len(head)
    if frac > 0.10:
        return f"binary content ({frac:.0%} control bytes in the first {len(head)} bytes)"
    return None


def detect_encoding(sample: bytes, declared: str) -> tuple[str, str]:
    """Return ``(codec used to decode, encoding recorded in the manifest)``.

    ``auto`` tries UTF-8, then EUC-KR, then CP949 on a sample; CP949 is a superset of EUC-KR,
    so EUC-KR files are decoded with the CP949 codec (same mapping) and recorded as EUC-KR.
    EUC-KR/CP949 are taken only when the decoded sample reads as Korean: they decode almost any
    pair of high bytes, so an English file with a few stray Latin-1 or Big5 bytes would
    otherwise be silently filled with Hangul (nltk's 2005-Bush.txt did).
    """
    if declared.lower() != "auto":
        codec = declared.lower().replace("_", "-")
        if codec in ("euc-kr", "euckr"):
            return "cp949", "euc-kr"
        return codec, codec
    body = sample.removeprefix(b"\xef\xbb\xbf")
    cut = body.rfind(b"\n")
    if len(body) >= SAMPLE_BYTES and cut > 0:
        body = body[: cut + 1]  # do not judge a character split at the sample's end
    for codec, label in (("utf-8", "utf-8"), ("euc-kr", "euc-kr"), ("cp949", "cp949")):
        try:
            text = body.decode(codec)
        except UnicodeDecodeError:
            continue
        if codec != "utf-8" and not looks_korean(text):
            continue
        return ("cp949" if label == "euc-kr" else codec), label
    return "utf-8", "utf-8 (undetected; undecodable records quarantined)"


_HANGUL = re.compile("[\uac00-\ud7a3]")
_NON_SPACE = re.compile(r"\S")


def looks_korean(text: str) -> bool:
    """At least one character in ten that is not whitespace is a Hangul syllable.

    >>> looks_korean("제1조(목적) 이 법은 ..."), looks_korean("America…s vital interests" * 50)
    (True, False)
    """
    hangul = len(_HANGUL.findall(text))
    return hangul > 0 and hangul * 10 >= len(_NON_SPACE.findall(text))


@dataclass
class Line:
    number: int  # 1-based
    offset: int  # byte offset of the line's start in the decompressed stream
    data: bytes | None  # None when the line could not be read (see error)
    error: str | None = None
    fatal: bool = False  # the stream cannot be read further (truncated archive)


_BLANK = b" \t\r\f\v\n"


def _skip_blank_run(stream: io.BufferedReader) -> tuple[int, int]:
    """Consume the blank lines at the stream's position; returns (lines, bytes) skipped.

    Works on the read buffer with ``bytes.lstrip`` and ``count`` (C loops) instead of a Python
    step per line: 200 MB of blank lines cost ~2.6 µs a line through readline (≈9 minutes), and
    a regex over the buffer still 0.3 s/MB; nothing downstream needs them one by one.
    """
    lines = size = 0
    while True:
        ahead = stream.peek(1 << 16)
        blank = len(ahead) - len(ahead.lstrip(_BLANK))
        run = ahead.rfind(b"\n", 0, blank) + 1  # whole lines only
        if run == 0:
            return lines, size
        lines += ahead.count(b"\n", 0, run)
        size += run
        stream.read(run)
        if run < len(ahead):
            return lines, size


def iter_lines(stream: io.BufferedReader, limit: int, collapse_blank: bool = False) -> Iterator[Line]:
    """Yield lines with bounded memory; an over-long line is skipped and reported, not loaded.

    With ``collapse_blank`` a run of blank (whitespace-only) lines is yielded as its first line
    only (line numbers stay true): for formats where blank lines are no records, or where a run
    of them is one separator.
    """
    number = 0
    offset = 0
    while True:
        try:
            chunk = stream.readline(limit + 1)
        except STREAM_ERRORS as e:
            yield Line(number + 1, offset, None, describe_stream_error(e, offset), True)
            return
        if not chunk:
            return
        number += 1
        if len(chunk) > limit and not chunk.endswith(b"\n"):
            size = len(chunk)
            try:
                while True:
                    more = stream.readline(1 << 20)
                    size += len(more)
                    if not more or more.endswith(b"\n"):
                        break
            except STREAM_ERRORS as e:
                yield Line(number, offset, None, describe_stream_error(e, offset + size), True)
                return
            yield Line(number, offset, None, f"record exceeds max_record_bytes ({limit:,} bytes): {size:,} bytes")
            offset += size
            continue
        yield Line(number, offset, chunk)
        offset += len(chunk)
        if collapse_blank and chunk.endswith(b"\n") and not chunk.strip():
            try:
                lines, size = _skip_blank_run(stream)
            except STREAM_ERRORS as e:
                yield Line(number + 1, offset, None, describe_stream_error(e, offset), True)
                return
            number += lines
            offset += size


class Unreadable(ValueError):
    """Bytes that cannot become text: over a size limit, a broken stream, a NUL byte or bytes
    the codec refuses. The message says what and where (a byte offset), never the content."""


def read_all(stream: io.BufferedReader, limit: int) -> bytes:
    """Read a whole (decompressed) file, refusing past ``limit`` bytes without loading more
    (:class:`Unreadable`)."""
    try:
        data = stream.read(limit + 1)
    except STREAM_ERRORS as e:
        raise Unreadable(describe_stream_error(e, 0)) from None
    if len(data) > limit:
        raise Unreadable(f"file exceeds the size limit ({limit:,} bytes) for a whole-file record")
    return data


def decode(data: bytes, codec: str, offset: int = 0) -> str:
    """``data`` as text, or :class:`Unreadable` naming the byte (``offset``: of ``data`` in the file)."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise Unreadable(f"NUL byte at byte {offset + nul}")
    try:
        return data.decode(codec)
    except UnicodeDecodeError as e:
        raise Unreadable(f"undecodable bytes for {codec} at byte {offset + e.start}") from None
