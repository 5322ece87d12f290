"""Engine-agnostic steps for the distributed engines (Ray, Beam).

The local engine (:mod:`pipelines.engine_local`) is the reference; this module cuts the same work
into units a distributed engine can schedule, without any engine import:

* :class:`IngestStep` — one input file → :class:`Piece` s (documents + ledger rows + file facts);
* :class:`MapChain` — consecutive map stages on one table of documents, models set up once per
  worker (the engine calls :meth:`MapChain.setup` from its per-worker hook);
* :class:`KeysStep` / :class:`DecisionStep` — the two distributed halves of a global stage; the
  stage's ``decide`` sits between them and gets its keys through :func:`keys_in_order`;
* :class:`Shuffle` — a global stage's own shuffle (MinHash band keys), for the engine to run with
  its group-by (Ray ``groupby``, Beam ``GroupByKey``) instead of ``decide`` grouping on the driver;
* :class:`Assembler` — the driver end: kept documents in ingest order into the
  :class:`~pipelines.shards.ShardWriter`, the ledger, file facts and counters into an
  :class:`~pipelines.engine_local.Execution` identical to the local engine's.

An adapter only moves pieces around (Ray Data blocks, Beam PCollections) and never looks inside a
document. :class:`Envelope` packs a piece into one Arrow table for engines whose data streams have
a single schema (Ray Data).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.base import GlobalStage, MapStage, Stage
from filters.columns import to_arrow
from filters.ingest import FileTask, ingest_file
from filters.readers import FileInfo
from filters.schema import DOCUMENT_SCHEMA, LEDGER_SCHEMA, RECORD_BITS, make_order
from pipelines.engine_local import (
    Execution,
    _n_chars,
    add_counters,
    apply_decisions,
    apply_map_stage,
    conform,
    ledger_from_docs,
    output_schema,
)
from pipelines.progress import Progress
from pipelines.shards import ShardWriter

Counters = dict[str, dict[str, dict[str, int]]]  # stage → source → name → n

#: The local engine hands ``decide`` its keys replayed from Parquet in chunks of this many rows;
#: the distributed engines hand them over in the same order and chunks.
KEY_CHUNK_ROWS = 65536


def file_key(order: int) -> int:
    """The input file an ingest ordinal belongs to (source and file index), sortable."""
    return order >> RECORD_BITS


@dataclass
class Piece:
    """What one unit of work produced: surviving documents and everything decided on the way."""

    key: int  # file_key of the input file the documents come from
    docs: pa.Table
    ledger: pa.Table = field(default_factory=LEDGER_SCHEMA.empty_table)
    files: list[tuple[str, int, FileInfo]] = field(default_factory=list)  # (source id, file index, facts)
    counters: Counters = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def merge_counters(total: Counters, more: Counters) -> None:
    for stage_key, per_source in more.items():
        add_counters(total, stage_key, per_source)


def merge_seconds(total: dict[str, float], more: dict[str, float]) -> None:
    for k, v in more.items():
        total[k] = total.get(k, 0.0) + v


class IngestStep:
    """Read one input file into pieces (one per ingest batch)."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size

    def __call__(self, task: FileTask) -> Iterator[Piece]:
        key = file_key(make_order(task.source_index, task.file_index, 0))
        t0 = time.perf_counter()
        for ib in ingest_file(task, self.batch_size):
            files = [(task.source_id, task.file_index, ib.info)] if ib.info is not None else []
            piece = Piece(key, conform(ib.documents, DOCUMENT_SCHEMA), ib.ledger, files)
            piece.seconds["ingest@1"] = time.perf_counter() - t0
            yield piece
            t0 = time.perf_counter()


class MapChain:
    """Consecutive map stages, run on one table of documents at a time (no global stage between)."""

    def __init__(self, stages: list[MapStage], schemas: list[pa.Schema], schema_in: pa.Schema):
        self.stages = stages
        self.schemas = schemas  # schema after each stage
        self.schema_in = schema_in

    def setup(self) -> None:
        for st in self.stages:
            st.ensure_setup()

    def __call__(self, key: int, docs: pa.Table) -> Piece:
        piece = Piece(key, conform(docs, self.schema_in))
        drops = []
        for st, schema in zip(self.stages, self.schemas):
            t0 = time.perf_counter()
            piece.docs, dropped = apply_map_stage(st, piece.docs, schema, piece.counters)
            piece.seconds[st.key] = piece.seconds.get(st.key, 0.0) + time.perf_counter() - t0
            if dropped.num_rows:
                drops.append(dropped)
        if drops:
            piece.ledger = pa.concat_tables(drops)
        return piece


class KeysStep:
    """Map side of a global stage: the stage's keys for one table of documents."""

    def __init__(self, stage: GlobalStage, schema_in: pa.Schema):
        self.stage = stage
        self.schema_in = schema_in

    def setup(self) -> None:
        self.stage.ensure_setup()

    def __call__(self, docs: pa.Table) -> pa.Table | None:
        docs = conform(docs, self.schema_in)
        if docs.num_rows == 0:
            return None
        parts = [self.stage.keys(b) for b in docs.combine_chunks().to_batches()]
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]


def keys_in_order(tables: Iterable[pa.Table]) -> Iterator[pa.Table]:
    """Keys as the local engine gives them to ``decide``: ingest order, per input file, in chunks
    of at most KEY_CHUNK_ROWS (a stage may number documents by arrival, e.g. MinHash)."""
    parts = [t for t in tables if t is not None and t.num_rows]
    if not parts:
        return
    keys = pa.concat_tables(parts, promote_options="default").sort_by([("order", "ascending")]).combine_chunks()
    for _, per_file in _split_by_file(keys):
        for start in range(0, per_file.num_rows, KEY_CHUNK_ROWS):
            yield per_file.slice(start, KEY_CHUNK_ROWS)


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


class DecisionStep:
    """Second half of a global stage: drop the decided documents from one table."""

    def __init__(self, stage_key: str, decisions: pa.Table, schema: pa.Schema):
        self.stage_key = stage_key
        self.decisions = decisions
        self.schema = schema

    def __call__(self, key: int, docs: pa.Table) -> Piece:
        kept, drops = apply_decisions(conform(docs, self.schema), self.decisions, self.stage_key)
        return Piece(key, kept, drops)


@dataclass
class Step:
    """One step of the plan after ingest: a chain of map stages, or one global stage."""

    chain: MapChain | None = None
    stage: GlobalStage | None = None
    schema_in: pa.Schema | None = None  # documents going into a global stage

    @property
    def name(self) -> str:
        if self.chain is not None:
            return "+".join(st.name for st in self.chain.stages)
        return self.stage.name


def plan_steps(stages: list[Stage]) -> tuple[list[Step], pa.Schema]:
    """Cut the stage list as the local engine does: map chains between global stages."""
    steps: list[Step] = []
    done: list[Stage] = []
    pending: list[MapStage] = []
    for st in [*stages, None]:
        if isinstance(st, MapStage):
            pending.append(st)
            continue
        if pending:
            schema_in = output_schema(done)
            schemas = []
            for m in pending:
                done.append(m)
                schemas.append(output_schema(done))
            steps.append(Step(chain=MapChain(pending, schemas, schema_in)))
            pending = []
        if st is None:
            break
        if not isinstance(st, GlobalStage):
            raise TypeError(f"stage {st.key} is neither a MapStage nor a GlobalStage")
        steps.append(Step(stage=st, schema_in=output_schema(done)))
        done.append(st)
    return steps, output_schema(done)


@dataclass
class RunSetup:
    """What every distributed engine starts from: the steps, the envelope, the driver's assembler
    and the per-file tasks (one place, so Ray and Beam cannot drift apart)."""

    steps: list[Step]
    envelope: Envelope
    assembler: Assembler
    tasks: list[FileTask]


def set_up(plan, stages: list[Stage], staging: Path) -> RunSetup:
    from pipelines.engine_local import file_tasks

    steps, schema = plan_steps(stages)
    target = int(plan.config.output.shard_target_mb * 1024 * 1024)
    assembler = Assembler(staging, schema, target, [sp.source.id for sp in plan.sources])
    return RunSetup(steps, Envelope(schema), assembler, file_tasks(plan))


class Assembler:
    """Driver end of a distributed run: shards in ingest order, ledger, file facts, counters.

    ``add_kept`` must be called in ingest order (the engine guarantees it: Ray preserves order,
    Beam groups by input file and the driver walks the files in order), so shard boundaries and
    bytes are those of the local engine.
    """

    def __init__(self, staging: Path, schema: pa.Schema, shard_target_bytes: int, source_ids: list[str]):
        self.schema = schema
        self.writer = ShardWriter(staging, schema, shard_target_bytes)
        self.ledger_parts: list[pa.Table] = []
        self.kept_parts: list[pa.Table] = []
        self.files: dict[str, list[tuple[int, FileInfo]]] = {s: [] for s in source_ids}
        self.counters: Counters = {}
        self.seconds: dict[str, float] = {}
        self._last_order = -1

    def add(self, piece: Piece, progress: Progress | None = None) -> None:
        """Everything of a piece except its documents (those go through :meth:`add_kept`)."""
        if piece.ledger.num_rows:
            self.ledger_parts.append(piece.ledger)
            if progress is not None:
                quarantined = piece.ledger.filter(pc.equal(piece.ledger.column("outcome"), "quarantined"))
                for rel in sorted(set(quarantined.column("source_file").to_pylist())):
                    rows = quarantined.filter(pc.equal(quarantined.column("source_file"), rel))
                    progress.note_issues(rows.column("source_id")[0].as_py(), rel, rows)
        for source_id, index, info in piece.files:
            self.files.setdefault(source_id, []).append((index, info))
        merge_counters(self.counters, piece.counters)
        merge_seconds(self.seconds, piece.seconds)

    def add_kept(self, docs: pa.Table) -> None:
        if docs.num_rows == 0:
            return
        orders = docs.column("order")
        first = pc.min(orders).as_py()
        if first <= self._last_order or not _ascending(orders):
            raise RuntimeError("engine delivered kept documents out of ingest order; shards would not be deterministic")
        self._last_order = pc.max(orders).as_py()
        docs = conform(docs, self.schema)
        self.writer.add(docs)
        kept = docs.select(["id", "source_id", "source_file", "source_locator", "order"])
        self.kept_parts.append(kept.append_column("n_chars", _n_chars(docs)))

    def finish(self) -> Execution:
        shards = self.writer.close()
        ledger_parts = list(self.ledger_parts)
        if self.kept_parts:
            kept = pa.concat_tables(self.kept_parts)
            shard_paths = self.writer.shard_of(kept.column("order").to_numpy())
            ledger_parts.append(ledger_from_docs(kept, outcome="kept", shard=shard_paths))
        ledger = pa.concat_tables([LEDGER_SCHEMA.empty_table(), *ledger_parts]).sort_by([("order", "ascending")])
        files = {s: [info for _, info in sorted(items, key=lambda x: x[0])] for s, items in self.files.items()}
        return Execution(shards=shards, ledger=ledger, files=files, seconds=self.seconds, counters=self.counters)


def _ascending(orders: pa.ChunkedArray | pa.Array) -> bool:
    a = orders.to_numpy() if isinstance(orders, pa.Array) else orders.combine_chunks().to_numpy()
    return bool((a[1:] > a[:-1]).all())


class Envelope:
    """A piece as one Arrow table, for engines whose streams carry a single schema (Ray Data).

    Rows with ``_outcome`` null are live documents (all document columns of the run; columns of
    stages not run yet are null). Rows with ``_outcome`` dropped/quarantined are ledger rows (text
    nulled: ``_n_chars`` keeps its length). One ``_outcome = meta`` row carries the piece's file
    facts, counters and timings as JSON in ``_detail``.
    """

    LEDGER_ONLY = ["outcome", "stage", "reason", "duplicate_of", "cluster_id", "detail", "n_chars", "score", "threshold"]

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

        for key, part in _split_by_file(live):
            piece(key).docs = conform(part, self.doc_schema)
        for key, part in _split_by_file(decided):
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
            out.append(self.pack(p))
        return pa.concat_tables(out) if out else self.schema.empty_table()

    def live_docs(self, table: pa.Table) -> pa.Table:
        return table.filter(pc.is_null(table.column("_outcome")))


def _split_by_file(table: pa.Table) -> Iterator[tuple[int, pa.Table]]:
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
