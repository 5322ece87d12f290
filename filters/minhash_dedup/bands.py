"""Band keys → candidate pairs: grouping partition by partition, the engine shuffle rows and the spill to Parquet past the memory budget: step (b)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from filters.columns import to_arrow
from filters.minhash_dedup.compiled import kernels
from filters.minhash_dedup.hashes import U64


BAND_SCHEMA = pa.schema([pa.field("key", pa.uint64()), pa.field("doc", pa.uint32())])


def sorted_unique(x: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting (numpy 2's hash-based unique is several times slower on uint64)."""
    x = np.sort(x)
    if x.size < 2:
        return x
    keep = np.empty(x.size, dtype=bool)
    keep[0] = True
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


def pairs_from_band_table(table: pa.Table) -> np.ndarray:
    """Candidate pairs (packed ``lo << 32 | hi``) among documents sharing a band key.

    Each group links its members to its smallest document (a star, not all k² pairs). Key and
    document are packed into one uint64 (the key's low bits give way to the document number)
    and sorted once; a truncated-key collision only adds a candidate that verification rejects.
    """
    if table.num_rows < 2:
        return np.zeros(0, dtype=U64)
    key = table.column("key").to_numpy()
    doc = table.column("doc").to_numpy().astype(U64)
    bits = U64(max(int(doc.max()).bit_length(), 1))
    packed = np.sort(((key >> bits) << bits) | doc)
    group = packed >> bits
    first = np.empty(packed.size, dtype=bool)
    first[0] = True
    np.not_equal(group[1:], group[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    sizes = np.diff(np.append(starts, packed.size))
    multi = sizes > 1  # only keys held by two or more documents matter
    if not multi.any():
        return np.zeros(0, dtype=U64)
    mask = (U64(1) << bits) - U64(1)
    docs = packed & mask
    heads = np.repeat(docs[starts[multi]], sizes[multi])
    members = docs[np.repeat(multi, sizes)]
    link = members != heads
    return sorted_unique((heads[link] << U64(32)) | members[link])


def partition_of(keys: np.ndarray, partitions: int) -> np.ndarray:
    """The partition of each band key (bits well away from those the grouping sort relies on)."""
    return ((keys >> U64(40)) % U64(partitions)).astype(np.uint16)


SHUFFLE_SCHEMA = pa.schema([pa.field("partition", pa.uint16()), pa.field("key", pa.uint64()), pa.field("order", pa.int64())])
PAIR_SCHEMA = pa.schema([pa.field("a", pa.int64()), pa.field("b", pa.int64())])


def shuffle_table(keys: np.ndarray, orders: np.ndarray, partitions: int) -> pa.Table:
    """Band keys as engine shuffle rows: ``partition, key, order`` (``order`` = document ordinal)."""
    return pa.table(
        [to_arrow(partition_of(keys, partitions), pa.uint16()), to_arrow(keys, pa.uint64()), to_arrow(orders, pa.int64())],
        schema=SHUFFLE_SCHEMA,
    )


def pairs_of_partition(rows: pa.Table) -> pa.Table:
    """Candidate pairs (``a``, ``b`` document ordinals) among one partition's shuffle rows: the
    same star grouping as :func:`pairs_from_band_table`, on dense local numbers."""
    orders = rows.column("order").to_numpy()
    if orders.size < 2:
        return PAIR_SCHEMA.empty_table()
    uniq, local = np.unique(orders, return_inverse=True)
    packed = pairs_from_band_table(pa.table({"key": rows.column("key"), "doc": to_arrow(local.astype(np.uint32), pa.uint32())}))
    lo, hi = unpack(packed)
    return pa.table([to_arrow(uniq[lo], pa.int64()), to_arrow(uniq[hi], pa.int64())], schema=PAIR_SCHEMA)


def pairs_by_doc_number(grouped: Iterable[pa.Table], orders: np.ndarray, n: int) -> np.ndarray:
    """Engine-grouped pairs of ordinals (:func:`pairs_of_partition`) as packed pairs of document
    numbers: ``orders[i]`` is document ``i``'s ordinal; released row ``r`` (ordinal ``-1 - r``)
    is document ``n + r``."""
    # A group links its members to its smallest ordinal; the driver's grouping links them to the
    # first document. They agree (same pairs, same clusters) because keys arrive in ingest order.
    if orders.size > 1 and not (orders[1:] > orders[:-1]).all():
        raise ValueError("minhash_dedup: an engine shuffle needs the keys in ascending ordinal order")

    def number(o: np.ndarray) -> np.ndarray:
        out = np.empty(o.size, dtype=U64)
        rel = o < 0
        out[rel] = (n - 1 - o[rel]).astype(U64)
        out[~rel] = np.searchsorted(orders, o[~rel]).astype(U64)
        return out

    parts = []
    for t in grouped:
        if t.num_rows:
            a, b = number(t.column("a").to_numpy()), number(t.column("b").to_numpy())
            parts.append((np.minimum(a, b) << U64(32)) | np.maximum(a, b))
    return sorted_unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=U64)


def candidate_pairs(band_tables: Iterable[pa.Table], threads: int = 1) -> np.ndarray:
    """(b) Group band keys per table (each table = one partition holding all rows of its keys).

    With ``threads`` > 1, that many partitions are grouped at once (numpy's sort releases the
    GIL); partitions are read one at a time, so at most ``threads`` are in memory."""
    parts: list[np.ndarray] = []
    if threads <= 1:
        parts = [pairs_from_band_table(t) for t in band_tables]
    else:
        pending: deque[Any] = deque()
        with ThreadPoolExecutor(threads) as pool:
            for t in band_tables:
                pending.append(pool.submit(pairs_from_band_table, t))
                if len(pending) >= threads:
                    parts.append(pending.popleft().result())
            parts += [f.result() for f in pending]
    parts = [p for p in parts if p.size]
    return sorted_unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=U64)


#: A spilled band-key row: 12 bytes, written and read as raw records (Parquet's page encoding
#: and per-call overhead made the spill 1.2 of the 2.2 CPU-s of grouping on the 20 MB sample).
BAND_RECORD = np.dtype([("key", "<u8"), ("doc", "<u4")])


class BandSpill:
    """Band keys, partitioned by key as they arrive: in memory up to a budget, then on disk.

    Rows are 12 bytes (uint64 key, uint32 document). Grouping happens one partition at a time,
    so its working memory is a partition's, whether or not anything was spilled. Spilled rows
    are appended to one raw file per partition (a private scratch format, removed at the end).
    """

    def __init__(self, budget_bytes: int, partitions: int, workdir: str | None):
        self.budget = budget_bytes
        self.partitions = partitions
        self.workdir = workdir
        self.buffer: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(partitions)]
        self.buffered = 0
        self.dir: Path | None = None
        self.spilled_rows = 0

    def add(self, keys: np.ndarray, doc: np.ndarray) -> None:
        doc = doc.astype(np.uint32)
        compiled = kernels(keys.nbytes)
        if compiled is not None:  # one counting-sort pass (argsort + gathers took 3 of 12 s on the 84 MB corpus)
            sorted_keys, sorted_doc = np.empty_like(keys, dtype=U64), np.empty_like(doc)
            bounds = np.empty(self.partitions + 1, dtype=np.int64)
            compiled.partition_rows(np.ascontiguousarray(keys, dtype=U64), doc, self.partitions, sorted_keys, sorted_doc, bounds)
            keys, doc = sorted_keys, sorted_doc
        else:
            part = partition_of(keys, self.partitions)
            order = np.argsort(part, kind="stable")  # radix sort on uint16
            bounds = np.searchsorted(part[order], np.arange(self.partitions + 1))
            keys, doc = keys[order], doc[order]
        for p in range(self.partitions):
            lo, hi = bounds[p], bounds[p + 1]
            if hi > lo:
                self.buffer[p].append((keys[lo:hi], doc[lo:hi]))  # views of this call's sorted copies
        self.buffered += keys.nbytes + doc.nbytes
        if self.buffered > self.budget:
            self._flush()

    def _path(self, p: int) -> Path:
        assert self.dir is not None  # spilled: the directory exists
        return self.dir / f"part-{p:04d}.bin"

    def _flush(self) -> None:
        if self.dir is None:
            base = self.workdir or tempfile.gettempdir()
            os.makedirs(base, exist_ok=True)
            self.dir = Path(tempfile.mkdtemp(prefix="minhash-bands-", dir=base))
        for p in range(self.partitions):
            if self.buffer[p]:
                rec = np.empty(sum(k.size for k, _ in self.buffer[p]), dtype=BAND_RECORD)
                rec["key"] = np.concatenate([k for k, _ in self.buffer[p]])
                rec["doc"] = np.concatenate([d for _, d in self.buffer[p]])
                with open(self._path(p), "ab") as f:
                    rec.tofile(f)
                self.spilled_rows += rec.size
                self.buffer[p] = []
        self.buffered = 0

    @staticmethod
    def _table(keys: np.ndarray, docs: np.ndarray) -> pa.Table:
        return pa.table([to_arrow(np.ascontiguousarray(keys), pa.uint64()), to_arrow(np.ascontiguousarray(docs), pa.uint32())], schema=BAND_SCHEMA)

    @property
    def spilled(self) -> bool:
        return self.dir is not None

    def tables(self) -> Iterator[pa.Table]:
        """One table per partition (all rows with the same key land in the same partition)."""
        if self.spilled:
            self._flush()
        for p in range(self.partitions):
            if self.spilled:
                rec = np.fromfile(self._path(p), dtype=BAND_RECORD) if self._path(p).exists() else np.zeros(0, dtype=BAND_RECORD)
                yield self._table(rec["key"], rec["doc"])
            elif self.buffer[p]:
                parts, self.buffer[p] = self.buffer[p], []
                yield self._table(np.concatenate([k for k, _ in parts]), np.concatenate([d for _, d in parts]))

    def cleanup(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


def unpack(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (pairs >> U64(32)).astype(np.int64), (pairs & U64(0xFFFFFFFF)).astype(np.int64)
