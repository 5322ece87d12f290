"""``corpusmill dedup``: near-duplicate removal on a JSONL or Parquet file with ``id`` and ``text``.

Runs the same :class:`filters.minhash_dedup.MinHashDedup` stage as ``corpusmill run``: its
``keys`` per batch (in ``workers`` threads — the compiled kernels release the GIL — or processes
without numba; results taken in input order so the output does not depend on the worker count),
then its ``decide``. The input is read twice (keys, then the kept documents; a JSON-lines input
the second time from a Parquet copy made during the first), so memory does not hold the corpus. Reading and writing the file go through
:mod:`pipelines.stage_file`, like every command that runs a stage over a file.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from filters.base import StageContext
from filters.columns import to_arrow
from filters.minhash_dedup import MinHashDedup, kernels
from corpusmill_base.errors import InputError
from pipelines.execution import read_ahead
from pipelines.stage_file import BadLine, FileWriter, file_format, read_batches, write_tables

_WORKER_STAGE: MinHashDedup | None = None


def _init_worker(options: dict[str, Any], context: StageContext) -> None:
    global _WORKER_STAGE
    _WORKER_STAGE = MinHashDedup(options, context)
    _WORKER_STAGE.ensure_setup()


def _keys(batch: pa.RecordBatch) -> pa.Table:
    assert _WORKER_STAGE is not None
    return _WORKER_STAGE.keys(batch)


def _ordered_map(submit: Callable[[pa.RecordBatch], Any], batches: Iterator[pa.RecordBatch], ahead: int) -> Iterator[pa.Table]:
    """Keys of each batch in input order, with at most ``ahead`` batches in flight (``Pool.imap``
    would read the whole input into its task queue when reading outpaces the workers).
    ``submit`` returns a future (``result()``) or an ``AsyncResult`` (``get()``)."""
    pending: deque = deque()

    def done(f: Any) -> pa.Table:
        return f.result() if hasattr(f, "result") else f.get()

    for b in batches:
        pending.append(submit(b))
        if len(pending) >= ahead:
            yield done(pending.popleft())
    while pending:
        yield done(pending.popleft())


class _Prefetch:
    """The input's batches, read on a background thread (:func:`~pipelines.execution.read_ahead`:
    pyarrow parses without the GIL, so reading overlaps the signatures and the decision's
    bookkeeping), optionally also copied to an uncompressed Parquet file, one row group per batch:
    the second pass (writing the kept documents) then reads that copy instead of parsing the JSON
    again (~3 s of 8 on the 84 MB corpus)."""

    def __init__(self, batches: Iterator[pa.RecordBatch], copy_to: Path | None = None, depth: int = 2):
        self.batches, self.copy_to, self.depth = batches, copy_to, depth
        self.copied = False  # the copy holds every batch (a schema change abandons it)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return read_ahead(self._copying(), self.depth)

    def _copying(self) -> Iterator[pa.RecordBatch]:
        """The batches, each copied as it passes (on the reading thread)."""
        writer = None
        copying = self.copy_to is not None
        try:
            for b in self.batches:
                if copying:
                    if writer is None:
                        writer = pq.ParquetWriter(self.copy_to, b.schema, compression="none", use_dictionary=False, write_statistics=False)
                    if b.schema.equals(writer.schema):
                        writer.write_batch(b, row_group_size=max(b.num_rows, 1))
                    else:
                        copying = False
                yield b
            wrote = writer is not None  # no batch (an empty or all-quarantined input): no copy to read
            if writer is not None:
                writer.close()
                writer = None
            self.copied = copying and wrote
        finally:
            if writer is not None:
                writer.close()


@dataclass
class DedupRun:
    decisions: pa.Table
    stats: dict[str, int]
    documents: int
    timings: dict[str, float]  # seconds per part of the decision
    copy: Path | None = None  # the input's batches as Parquet, for the second pass (see _Prefetch)
    rows: np.ndarray | None = None  # input row (``order``) of each decision
    quarantined: list[BadLine] = field(default_factory=list)  # JSON-lines input lines no row came from


def find_duplicates(
    path: str | os.PathLike,
    options: dict[str, Any] | None = None,
    workers: int = 1,
    workdir: str | None = None,
    memory_budget_bytes: int = 2 << 30,
    copy_input: str | os.PathLike | None = None,
) -> DedupRun:
    """Keys of every batch (in ``workers`` threads, or processes without numba), then the
    stage's decision. ``copy_input``: where to copy a JSON-lines input as Parquet for
    :func:`write_outputs` (the caller removes it)."""
    quarantined: list[BadLine] = []
    reader = _Prefetch(read_batches(path, quarantine=quarantined), Path(copy_input) if copy_input and file_format(path) == "jsonl" else None)
    with tempfile.TemporaryDirectory(prefix="corpusmill-dedup-", dir=workdir) as tmp:
        context = StageContext(workdir=tmp, memory_budget_bytes=memory_budget_bytes)
        # No release here, so no signature index (and no signatures carried in the keys).
        stage = MinHashDedup({**(options or {}), "write_index": False}, context)
        threads = None
        if workers > 1 and kernels.AVAILABLE:
            # The compiled kernels release the GIL: threads share the batches (no pickling of
            # texts to workers and of keys back, which cost more than the signatures).
            stage.ensure_setup()
            pool = None
            threads = ThreadPoolExecutor(workers)
            results = _ordered_map(lambda b: threads.submit(stage.keys, b), iter(reader), ahead=2 * workers)
        elif workers > 1:
            pool = procs = mp.get_context("fork").Pool(workers, initializer=_init_worker, initargs=(stage.options, context))
            results = _ordered_map(lambda b: procs.apply_async(_keys, (b,)), iter(reader), ahead=2 * workers)
        else:
            stage.ensure_setup()
            pool = None
            results = (stage.keys(b) for b in reader)
        counted = [0]
        ids: list[pa.Array] = []  # every id in input order (the stage holds them too)

        def stream() -> Iterator[pa.Table]:
            for k in results:  # in input order, whatever the worker count
                counted[0] += k.num_rows
                ids.append(k.column("id"))
                yield k
            if pool is not None:  # the workers' memory is not needed while deciding
                pool.close()
                pool.join()

        try:
            decisions = stage.decide(stream())
        finally:
            if pool is not None:
                pool.close()
                pool.join()
            if threads is not None:
                threads.shutdown()
        n = counted[0]
        if stage.stats.get("distinct_ids", n) != n:
            raise InputError(f"{path}: ids are not unique ({n - stage.stats['distinct_ids']:,} repeated); decisions are made by id")
        # One hash lookup for all decisions; the second pass then selects rows by number.
        rows = pc.index_in(decisions.column("id").cast(pa.string()), value_set=pa.chunked_array(ids, pa.string())) if ids else pa.array([], pa.int32())
        return DedupRun(
            decisions=decisions, stats=stage.stats, documents=n, timings=stage.timings, copy=reader.copy_to if reader.copied else None,
            rows=rows.to_numpy(zero_copy_only=False).astype(np.int64), quarantined=quarantined,
        )


def write_outputs(path: str | os.PathLike, out: str | os.PathLike, run: DedupRun, clusters: str | os.PathLike | None = None) -> int:
    """Write the kept documents (input columns, input order) and optionally every document's cluster."""
    rows = run.rows if run.rows is not None else pc.index_in(run.decisions.column("id").cast(pa.string()), value_set=_all_ids(path)).to_numpy(zero_copy_only=False).astype(np.int64)
    decision_of = np.full(run.documents, -1, dtype=np.int64)  # input row → its drop decision, or -1
    decision_of[rows] = np.arange(rows.size)
    cluster_of = run.decisions.column("cluster_id")
    kept_n = 0
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cl_parts: list[pa.Table] = []
    if run.copy is not None:  # the same batches, without parsing JSON again
        copy = pq.ParquetFile(run.copy)
        batches: Iterator[pa.RecordBatch] = (b for i in range(copy.num_row_groups) for b in copy.read_row_group(i).combine_chunks().to_batches())
    else:  # the lines the first read quarantined are skipped again (same rows, same order)
        batches = read_batches(path, quarantine=[])
    with FileWriter(out) as w:
        for batch in _Prefetch(batches):
            t = pa.Table.from_batches([batch])
            at = decision_of[t.column("order").to_numpy()]
            kept_mask = to_arrow(at < 0, pa.bool_())
            kept = t.filter(kept_mask)
            kept_n += kept.num_rows
            w.write(kept)
            if clusters:
                ids = t.column("id").cast(pa.string())
                cluster = pc.if_else(kept_mask, ids, cluster_of.take(to_arrow(np.maximum(at, 0), pa.int64()))) if len(cluster_of) else ids
                cl_parts.append(pa.table({"id": ids, "cluster_id": cluster, "kept": kept_mask}))
    if clusters:
        # A kept document that others duplicate is its cluster's id; singletons are their own cluster.
        write_tables([pa.concat_tables(cl_parts) if cl_parts else pa.table({"id": [], "cluster_id": [], "kept": []})], clusters)
    return kept_n


def _all_ids(path: str | os.PathLike) -> pa.ChunkedArray:
    return pa.chunked_array([b.column("id") for b in read_batches(path, quarantine=[])], pa.string())
