"""What only the distributed engines (Ray, Beam) need on top of :mod:`pipelines.execution`.

The document and ledger logic (map chains, keys, decisions, assembly) is in the execution core;
this module adds the pieces a distributed engine schedules, without any engine import:

* :func:`set_up` — segments, envelope, assembler and file tasks, one place for Ray and Beam;
* :class:`IngestStep` — one input file → :class:`~pipelines.execution.Piece` s (documents +
  ledger rows + file facts);
* :class:`Shuffle` — a global stage's own shuffle (MinHash band keys), for the engine to run with
  its group-by (Ray ``groupby``, Beam ``GroupByKey``) instead of ``decide`` grouping on the driver;
* :class:`Envelope` — a piece packed into one Arrow table, for engines whose data streams have
  a single schema (Ray Data).

An adapter only moves pieces around (Ray Data blocks, Beam PCollections) and never looks inside a
document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.base import GlobalStage, Stage
from filters.columns import to_arrow
from filters.ingest import FileTask, ingest_file
from filters.readers import FileInfo
from filters.schema import DOCUMENT_SCHEMA, LEDGER_SCHEMA, RECORD_BITS, make_order
from pipelines.execution import (
    Assembler,
    Piece,
    Segment,
    StageTimes,
    Stopwatch,
    conform,
    file_key,
    file_tasks,
    merge_counters,
    merge_seconds,
    split_segments,
)


@dataclass
class RunSetup:
    """What every distributed engine starts from: the segments, the envelope, the driver's
    assembler and the per-file tasks (one place, so Ray and Beam cannot drift apart)."""

    segments: list[Segment]
    envelope: Envelope
    assembler: Assembler
    tasks: list[FileTask]


def set_up(plan, stages: list[Stage], staging: Path) -> RunSetup:
    segments, schema = split_segments(stages)
    return RunSetup(segments, Envelope(schema), Assembler.for_plan(plan, schema, staging), file_tasks(plan))


class IngestStep:
    """Read one input file into pieces (one per ingest batch)."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size

    def __call__(self, task: FileTask) -> Iterator[Piece]:
        key = file_key(make_order(task.source_index, task.file_index, 0))
        watch = Stopwatch()  # this thread's CPU, as the local engine charges ingest
        for ib in ingest_file(task, self.batch_size):
            files = [(task.source_id, task.file_index, ib.info)] if ib.info is not None else []
            piece = Piece(key, conform(ib.documents, DOCUMENT_SCHEMA), ib.ledger, files)
            watch.charge(StageTimes(piece.seconds, piece.cpu_seconds), "ingest@1")
            yield piece
            watch = Stopwatch()


class Shuffle:
    """A global stage's engine shuffle, cut into what an engine schedules: :meth:`rows` per key
    table on the workers (plus :meth:`outside` rows from the driver), the engine's own group-by on
    ``partition``, :meth:`reduce` per group on the workers, and the reduced tables handed to
    ``decide(keys, grouped=...)``. :meth:`driver_keys` is what the driver still needs of the keys."""

    def __init__(self, stage: GlobalStage):
        self.stage = stage
        self.shuffle_only = stage.shuffle_only_columns

    @classmethod
    def of(cls, stage: GlobalStage) -> Shuffle | None:
        """The stage's shuffle, or None for a stage that groups its keys in ``decide`` only."""
        return cls(stage) if type(stage).shuffle_rows is not GlobalStage.shuffle_rows else None

    def rows(self, keys: pa.Table) -> pa.Table:
        rows = self.stage.shuffle_rows(keys)
        if rows is None:
            raise TypeError(f"{self.stage.key} overrides shuffle_rows but returned no rows")
        return rows

    def driver_keys(self, keys: pa.Table) -> pa.Table:
        return keys.drop_columns([c for c in self.shuffle_only if c in keys.column_names])

    def outside(self) -> pa.Table | None:
        """Rows from outside the run (earlier releases); called once, on the driver."""
        return self.stage.outside_shuffle_rows()

    def reduce(self, rows: pa.Table) -> pa.Table:
        """All rows of one partition (as the engine grouped them) → one table for ``decide``."""
        if rows.num_rows and pc.count_distinct(rows.column("partition")).as_py() != 1:
            raise RuntimeError(f"{self.stage.key}: the engine handed reduce rows of several partitions")
        return self.stage.reduce_partition(rows)

    @staticmethod
    def by_partition(rows: pa.Table) -> Iterator[tuple[int, pa.Table]]:
        """Shuffle rows split per partition, for engines that group ``(key, value)`` elements (Beam).

        Each part is a compact copy: a pickled slice would carry its parent's whole buffers."""
        if rows.num_rows == 0:
            return
        part = rows.column("partition").to_numpy()
        order = np.argsort(part, kind="stable").astype(np.int64)
        part = part[order]
        starts = np.flatnonzero(np.r_[True, part[1:] != part[:-1]])
        for start, stop in zip(starts.tolist(), [*starts[1:].tolist(), part.size]):
            idx = order[start:stop]
            yield int(part[start]), rows.take(to_arrow(idx, pa.int64()))


class Envelope:
    """A piece as one Arrow table, for engines whose streams carry a single schema (Ray Data).

    Rows with ``_outcome`` null are live documents (all document columns of the run; columns of
    stages not run yet are null). Rows with ``_outcome`` dropped/quarantined/noted are ledger rows (text
    nulled: ``_n_chars`` keeps its length). One ``_outcome = meta`` row carries the piece's file
    facts, counters and timings (wall and CPU) as JSON in ``_detail``.
    """

    LEDGER_ONLY = ["outcome", "stage", "reason", "duplicate_of", "cluster_id", "detail", "n_chars", "score", "threshold", "label", "notes"]

    def __init__(self, doc_schema: pa.Schema):
        self.doc_schema = doc_schema
        extra = [pa.field("_" + name, LEDGER_SCHEMA.field(name).type) for name in self.LEDGER_ONLY]
        self.schema = pa.schema([f.with_nullable(True) for f in doc_schema] + extra)

    def pack(self, piece: Piece) -> pa.Table:
        parts = []
        if piece.docs.num_rows:
            parts.append(conform(piece.docs, self.schema))
        if piece.ledger.num_rows:
            lg = piece.ledger
            cols = {name: lg.column(name) for name in ("id", "source_id", "source_file", "source_locator", "order")}
            cols.update({"_" + name: lg.column(name) for name in self.LEDGER_ONLY})
            parts.append(conform(pa.table(cols), self.schema))
        meta = {
            "files": [[s, i, asdict(info)] for s, i, info in piece.files],
            "counters": piece.counters,
            "seconds": piece.seconds,
            "cpu_seconds": piece.cpu_seconds,
        }
        first = piece.key << RECORD_BITS
        parts.append(
            conform(
                pa.table({"order": pa.array([first], pa.int64()), "_outcome": ["meta"], "_detail": [json.dumps(meta)]}),
                self.schema,
            )
        )
        return pa.concat_tables(parts)

    def unpack(self, table: pa.Table) -> list[Piece]:
        """The pieces of an envelope table, one per input file key, in key order."""
        outcome = table.column("_outcome")
        live = table.filter(pc.is_null(outcome))
        decided = table.filter(pc.and_(pc.is_valid(outcome), pc.not_equal(outcome, "meta")))
        meta = table.filter(pc.equal(outcome, "meta"))
        pieces: dict[int, Piece] = {}

        def piece(key: int) -> Piece:
            if key not in pieces:
                pieces[key] = Piece(key, self.doc_schema.empty_table())
            return pieces[key]

        for key, part in split_by_file(live):
            piece(key).docs = conform(part, self.doc_schema)
        for key, part in split_by_file(decided):
            cols = {name: part.column(name) for name in ("id", "source_id", "source_file", "source_locator", "order")}
            cols.update({name: part.column("_" + name) for name in self.LEDGER_ONLY})
            cols["shard"] = pa.nulls(part.num_rows, pa.string())
            piece(key).ledger = pa.table(cols).select(LEDGER_SCHEMA.names).cast(LEDGER_SCHEMA)
        for order, detail in zip(meta.column("order").to_pylist(), meta.column("_detail").to_pylist()):
            p = piece(file_key(order))
            m = json.loads(detail)
            p.files += [(s, i, FileInfo(**info)) for s, i, info in m["files"]]
            merge_counters(p.counters, m["counters"])
            merge_seconds(p.seconds, m["seconds"])
            merge_seconds(p.cpu_seconds, m.get("cpu_seconds", {}))
        return [pieces[k] for k in sorted(pieces)]

    def apply(self, table: pa.Table, step) -> pa.Table:
        """Run ``step(key, docs) -> Piece`` on the live documents; decided rows and facts pass through."""
        out = []
        for p in self.unpack(table):
            q = step(p.key, p.docs)
            p.docs = q.docs
            if q.ledger.num_rows:
                p.ledger = pa.concat_tables([p.ledger, q.ledger]) if p.ledger.num_rows else q.ledger
            merge_counters(p.counters, q.counters)
            merge_seconds(p.seconds, q.seconds)
            merge_seconds(p.cpu_seconds, q.cpu_seconds)
            out.append(self.pack(p))
        return pa.concat_tables(out) if out else self.schema.empty_table()

    def live_docs(self, table: pa.Table) -> pa.Table:
        return table.filter(pc.is_null(table.column("_outcome")))


def split_by_file(table: pa.Table) -> Iterator[tuple[int, pa.Table]]:
    """Rows grouped by input file key, keys ascending, rows in their original order."""
    if table.num_rows == 0:
        return
    keys = pc.shift_right(table.column("order"), RECORD_BITS).combine_chunks()
    uniq = pc.unique(keys).sort()
    if len(uniq) == 1:
        yield uniq[0].as_py(), table
        return
    for k in uniq.to_pylist():
        yield k, table.filter(pc.equal(keys, k))
