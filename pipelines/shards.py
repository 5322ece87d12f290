"""Deterministic, atomic Parquet shard writing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusmill_base.atomic import AtomicParquetWriter
from corpusmill_base.hashing import sha256_file
from pipelines.faults import checkpoint

@dataclass(frozen=True)
class ShardInfo:
    path: str  # relative to the run directory
    sha256: str
    bytes: int
    rows: int
    first_order: int
    last_order: int

    def to_json(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "bytes": self.bytes, "rows": self.rows}


class ShardWriter:
    """Cuts kept documents into shards of about ``target_bytes`` of text, in arrival order.

    Shard boundaries depend only on the documents (their text sizes), never on batch sizes or
    timing, so the same documents always give the same shards. A shard is written a row group
    at a time as documents arrive (:class:`~corpusmill_base.atomic.AtomicParquetWriter`, the
    bytes of one ``write_table`` of the whole shard): the writer holds at most a row group, not
    a shard — it held every kept document of a shard (64 MB of text in the bench's config, the
    whole 20 MB sample) and then a combined copy of them.
    """

    def __init__(self, root: Path, schema: pa.Schema, target_bytes: int, subdir: str = "shards"):
        self.root = root
        self.schema = schema
        self.target = max(1, int(target_bytes))
        self.subdir = subdir
        self.shards: list[ShardInfo] = []
        self._open: AtomicParquetWriter | None = None
        self._first = self._last = 0
        self._pending_bytes = 0

    def path_of(self, index: int) -> str:
        return f"{self.subdir}/part-{index:05d}.parquet"

    def add(self, table: pa.Table) -> np.ndarray:
        """Write ``table``'s rows; returns the shard number each row went to (in :meth:`path_of`)."""
        where = np.empty(table.num_rows, dtype=np.int64)
        if table.num_rows == 0:
            return where
        table = table.select(self.schema.names).cast(self.schema)
        sizes = pc.binary_length(pc.cast(table.column("text"), pa.binary())).to_numpy(zero_copy_only=False).astype(np.int64)
        total = np.cumsum(sizes)  # the rows' text bytes from the table's start
        start, base, acc = 0, 0, self._pending_bytes  # base: bytes before ``start``; acc: the open shard's
        while start < table.num_rows:
            # the first row at which the open shard reaches the target (it ends with that row)
            end = int(np.searchsorted(total, self.target - acc + base, side="left")) + 1
            if end > table.num_rows:
                self._write(table.slice(start), where, start)
                self._pending_bytes = acc + int(total[-1]) - base
                return where
            self._write(table.slice(start, end - start), where, start)
            self._flush()
            start, base, acc = end, int(total[end - 1]), 0
        self._pending_bytes = 0
        return where

    def _write(self, part: pa.Table, where: np.ndarray, at: int) -> None:
        if self._open is None:
            self._open = AtomicParquetWriter(self.root / self.path_of(len(self.shards)), self.schema)
            self._first = part.column("order")[0].as_py()
        where[at : at + part.num_rows] = len(self.shards)
        self._open.write(part)
        self._last = part.column("order")[-1].as_py()

    def close(self) -> list[ShardInfo]:
        if self._open is not None:
            self._flush()
        return self.shards

    def abort(self) -> None:
        if self._open is not None:
            self._open.abort()
            self._open = None

    def _flush(self) -> None:
        w, self._open = self._open, None
        assert w is not None  # called only with a shard open
        w.close()
        rel = self.path_of(len(self.shards))
        checkpoint(f"shard:{len(self.shards)}")
        self.shards.append(ShardInfo(rel, sha256_file(w.path), w.path.stat().st_size, w.rows, self._first, self._last))

    def shard_of(self, orders: np.ndarray) -> list[str]:
        """Shard path for each kept document's ingest order (shards hold contiguous order ranges)."""
        firsts = np.array([s.first_order for s in self.shards], dtype=np.int64)
        idx = np.searchsorted(firsts, orders, side="right") - 1
        return [self.shards[i].path for i in idx]
