"""Deterministic, atomic Parquet shard writing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusmill_base.atomic import write_table_atomic
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
    timing, so the same documents always give the same shards.
    """

    def __init__(self, root: Path, schema: pa.Schema, target_bytes: int, subdir: str = "shards"):
        self.root = root
        self.schema = schema
        self.target = max(1, int(target_bytes))
        self.subdir = subdir
        self.shards: list[ShardInfo] = []
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        table = table.select(self.schema.names).cast(self.schema)
        sizes = pc.binary_length(pc.cast(table.column("text"), pa.binary())).to_numpy(zero_copy_only=False)
        start = 0
        acc = self._pending_bytes
        for i, size in enumerate(sizes):
            acc += int(size)
            if acc >= self.target:
                self._pending.append(table.slice(start, i + 1 - start))
                self._flush()
                start, acc = i + 1, 0
        if start < table.num_rows:
            self._pending.append(table.slice(start))
        self._pending_bytes = acc

    def close(self) -> list[ShardInfo]:
        if self._pending:
            self._flush()
        return self.shards

    def _flush(self) -> None:
        table = pa.concat_tables(self._pending).combine_chunks()
        self._pending, self._pending_bytes = [], 0
        rel = f"{self.subdir}/part-{len(self.shards):05d}.parquet"
        path = self.root / rel
        write_table_atomic(table, path)
        checkpoint(f"shard:{len(self.shards)}")
        order = table.column("order")
        self.shards.append(
            ShardInfo(rel, sha256_file(path), path.stat().st_size, table.num_rows, order[0].as_py(), order[-1].as_py())
        )

    def shard_of(self, orders: np.ndarray) -> list[str]:
        """Shard path for each kept document's ingest order (shards hold contiguous order ranges)."""
        firsts = np.array([s.first_order for s in self.shards], dtype=np.int64)
        idx = np.searchsorted(firsts, orders, side="right") - 1
        return [self.shards[i].path for i in idx]
