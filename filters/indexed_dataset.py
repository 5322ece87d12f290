"""Writing Megatron-Core's ``IndexedDataset`` (``PREFIX.bin`` + ``PREFIX.idx``), streaming.

The ``.idx`` layout is the one ``megatron.core.datasets.indexed_dataset._IndexReader`` reads
(checked in tests by loading that very module): 9-byte magic ``MMIDIDX\\0\\0``, version ``<Q`` 1,
dtype code ``<B``, sequence count ``<Q``, document count ``<Q`` (sequences + 1), then int32
sequence lengths, int64 byte pointers into ``.bin``, and int64 document indices ``0..N``
(one sequence per document). ``.bin`` is the token ids back to back in the dataset's dtype.

Memory is bounded: sequence lengths are spooled to a side file while ``.bin`` is written and the
index is assembled from it in fixed-size chunks, so a billion documents need no more RAM than ten.
Files appear under their final names only in :meth:`IndexedDatasetWriter.finish` (atomic renames),
so a killed run never leaves a ``.bin/.idx`` pair that looks complete.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from corpusmill_base.errors import InputError

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
# Megatron-Core's DType codes (megatron/core/datasets/indexed_dataset.py, class DType).
DTYPE_CODES = {"uint8": 1, "int8": 2, "int16": 3, "int32": 4, "int64": 5, "float64": 6, "float32": 7, "uint16": 8}
TOKEN_DTYPES = ("uint16", "int32")
CHUNK = 1 << 20  # entries per chunk when assembling the index (4–8 MiB of numpy per step)


def dtype_for_vocab(vocab_size: int, declared: str = "auto") -> str:
    """uint16 when every id fits (vocab ≤ 65,536), else int32; a declared dtype that is too small is an error."""
    if declared not in ("auto", *TOKEN_DTYPES):
        raise InputError(f"token dtype {declared!r}: expected auto, uint16 or int32")
    fits16 = vocab_size <= np.iinfo(np.uint16).max + 1
    if declared == "auto":
        return "uint16" if fits16 else "int32"
    if declared == "uint16" and not fits16:
        raise InputError(f"a vocabulary of {vocab_size:,} ids does not fit the declared dtype uint16 (max 65,536 ids); use int32")
    return declared


def bin_path(prefix: str | Path) -> Path:
    return Path(f"{prefix}.bin")


def idx_path(prefix: str | Path) -> Path:
    return Path(f"{prefix}.idx")


class IndexedDatasetWriter:
    """Append documents (one sequence each) and :meth:`finish` to get ``PREFIX.bin/.idx``."""

    def __init__(self, prefix: str | Path, dtype: str, resume: dict[str, int] | None = None):
        """``resume`` (from :meth:`checkpoint`) continues a killed write: the partial files are cut
        back to the last checkpoint and appended to."""
        if dtype not in DTYPE_CODES:
            raise InputError(f"unknown Megatron dtype {dtype!r}")
        self.prefix = Path(prefix)
        self.dtype = np.dtype(dtype)
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        self._bin_tmp = Path(f"{prefix}.bin.part")
        self._len_tmp = Path(f"{prefix}.lengths.part")
        self.sequences = 0
        self.tokens = 0
        if resume and self._bin_tmp.exists() and self._len_tmp.exists():
            self.sequences, self.tokens = resume["sequences"], resume["tokens"]
            for path, size in ((self._bin_tmp, self.tokens * self.dtype.itemsize), (self._len_tmp, self.sequences * 4)):
                with open(path, "r+b") as f:
                    f.truncate(size)
            self._bin = open(self._bin_tmp, "ab")  # noqa: SIM115 — closed in finish/abort
            self._len = open(self._len_tmp, "ab")  # noqa: SIM115
        else:
            self._bin = open(self._bin_tmp, "wb")  # noqa: SIM115
            self._len = open(self._len_tmp, "wb")  # noqa: SIM115

    def checkpoint(self) -> dict[str, int]:
        """Flush to disk; the returned counts let a later writer resume from exactly here."""
        for f in (self._bin, self._len):
            f.flush()
            os.fsync(f.fileno())
        return {"sequences": self.sequences, "tokens": self.tokens}

    def add(self, ids: np.ndarray, lengths: np.ndarray) -> None:
        """Append documents given as their concatenated ids and one length per document."""
        if len(ids) != int(lengths.sum()):
            raise ValueError("ids and lengths disagree")
        if len(ids):
            hi = int(ids.max())
            if hi > np.iinfo(self.dtype).max or int(ids.min()) < 0:
                raise InputError(f"token id {hi:,} does not fit the dataset dtype {self.dtype.name}")
        self._bin.write(np.ascontiguousarray(ids, dtype=self.dtype).tobytes())
        self._len.write(np.ascontiguousarray(lengths, dtype=np.int32).tobytes())
        self.sequences += len(lengths)
        self.tokens += len(ids)

    def close(self) -> None:
        """Stop without finishing (the partial files stay for a resume)."""
        for f in (self._bin, self._len):
            f.close()

    def finish(self) -> tuple[Path, Path]:
        self._bin.close()
        self._len.close()
        n = self.sequences
        idx_tmp = Path(f"{self.prefix}.idx.part")
        item = self.dtype.itemsize
        with open(idx_tmp, "wb") as out:
            out.write(MAGIC)
            out.write(struct.pack("<Q", VERSION))
            out.write(struct.pack("<B", DTYPE_CODES[self.dtype.name]))
            out.write(struct.pack("<Q", n))
            out.write(struct.pack("<Q", n + 1))
            with open(self._len_tmp, "rb") as lf:  # lengths, copied through
                while data := lf.read(CHUNK * 4):
                    out.write(data)
            pointer = 0
            with open(self._len_tmp, "rb") as lf:  # byte pointers: running sum of lengths × itemsize
                while data := lf.read(CHUNK * 4):
                    lengths = np.frombuffer(data, dtype=np.int32).astype(np.int64)
                    ends = np.cumsum(lengths * item) + pointer
                    starts = np.concatenate(([pointer], ends[:-1])).astype(np.int64)
                    out.write(starts.tobytes())
                    pointer = int(ends[-1])
            for lo in range(0, n + 1, CHUNK):  # document indices 0..n: one sequence per document
                out.write(np.arange(lo, min(n + 1, lo + CHUNK), dtype=np.int64).tobytes())
            out.flush()
            os.fsync(out.fileno())
        self._len_tmp.unlink()
        os.replace(self._bin_tmp, bin_path(self.prefix))
        os.replace(idx_tmp, idx_path(self.prefix))
        return bin_path(self.prefix), idx_path(self.prefix)


def read_index(prefix: str | Path) -> tuple[str, np.ndarray, np.ndarray]:
    """(dtype, sequence lengths, byte pointers) of a dataset this module wrote (for copying
    sequences into a blend's splits; trainers use Megatron's own reader)."""
    with open(idx_path(prefix), "rb") as f:
        return parse_index(f.read(), idx_path(prefix).name)


def parse_index(data: bytes, name: str) -> tuple[str, np.ndarray, np.ndarray]:
    """:func:`read_index` of an ``.idx`` file's bytes (``name`` for the error)."""
    if len(data) < 34 or data[:9] != MAGIC:
        raise InputError(f"{name}: not a Megatron index file")
    version, code = struct.unpack("<Q", data[9:17])[0], data[17]
    if version != VERSION:  # Megatron-Core's reader asserts version 1
        raise InputError(f"{name}: Megatron index version {version}, not 1")
    if code not in DTYPE_CODES.values():
        raise InputError(f"{name}: unknown token dtype code {code} in a Megatron index")
    n = struct.unpack("<Q", data[18:26])[0]
    docs = struct.unpack("<Q", data[26:34])[0]
    if len(data) < 34 + 12 * n + 8 * docs:  # lengths, pointers, then the document indices
        raise InputError(f"{name}: a Megatron index of {n:,} sequences cut short ({len(data):,} bytes)")
    lengths = np.frombuffer(data, dtype=np.int32, count=n, offset=34)
    pointers = np.frombuffer(data, dtype=np.int64, count=n, offset=34 + 4 * n)
    dtype = next(k for k, v in DTYPE_CODES.items() if v == code)
    return dtype, lengths, pointers
