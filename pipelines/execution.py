"""The execution core: what every engine does to documents, in one place.

An engine (local, Ray, Beam) only schedules work, moves data and resumes; everything that looks
inside a document or writes a ledger row is here:

* :func:`split_segments` — the stage list cut at each global stage into :class:`Segment` s
  (a :class:`MapChain` of map stages, then the global stage or nothing);
* :class:`MapChain` — a table of documents through a segment's map stages (schemas conformed,
  drops turned into ledger rows by :func:`apply_map_stage`, counters and timings summed);
* :class:`KeysStep` / :func:`keys_in_order` — how a global stage's keys reach ``decide``
  (ingest order, in chunks of :data:`KEY_CHUNK_ROWS`, on every engine);
* :class:`DecisionStep` / :func:`apply_decisions` — a global stage's decisions applied to a table;
* :class:`Assembler` — units (pieces) into shards in ingest order, the ledger, file facts and
  counters: the :class:`Execution` an engine hands back to the runner.

Parity between engines follows from this: they differ only in how pieces travel between these
steps, never in what the steps do.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpusmill_base.atomic import AtomicParquetWriter
from filters.analysis import BatchAnalysis
from filters.base import GlobalStage, MapStage, Stage
from filters.columns import strictly_ascending
from filters.ingest import FileTask
from filters.readers import FileInfo
from filters.schema import DOCUMENT_SCHEMA, LEDGER_SCHEMA, NOTE_TYPE, NOTED, RECORD_BITS
from manifests.manifest import ledger_counts
from pipelines.shards import ShardInfo, ShardWriter

if TYPE_CHECKING:
    from pipelines.plan import Plan
    from pipelines.progress import Progress

Counters = dict[str, dict[str, dict[str, int]]]  # stage → source → name → n

#: ``decide`` gets its keys in chunks of this many rows, in ingest order — on every engine (a
#: stage may number documents by arrival, e.g. MinHash).
KEY_CHUNK_ROWS = 65536


#: The run's ledger, in the staging directory (the assembler writes it; the runner installs it).
LEDGER_NAME = "ledger.parquet"


@dataclass
class LedgerSummary:
    """What the manifest needs from the ledger, counted as it was written (so the runner never
    reads the whole ledger back): its rows, their counts by (source_id, outcome, stage, reason)
    — :func:`manifests.manifest.ledger_counts`'s table — and the kept documents' ids."""

    rows: int
    counts: pa.Table
    kept_ids: pa.Array


@dataclass
class Execution:
    """What an engine hands back to the runner."""

    shards: list[ShardInfo]
    ledger_path: Path  # written by the assembler, sorted by ``order``
    summary: LedgerSummary
    files: dict[str, list[FileInfo]]  # source id → file facts
    seconds: dict[str, float] = field(default_factory=dict)  # wall, by stage key
    #: CPU seconds by stage key; the manifest's ``run.cpu_seconds_by_stage`` (see :class:`StageTimes`;
    #: what Ray and Beam count: docs/cluster.md).
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    counters: Counters = field(default_factory=dict)
    workers: int | None = None  # processes of the local engine (the manifest's run block)

    @property
    def ledger(self) -> pa.Table:
        """The whole ledger, read back (tests, small runs; the runner reads only :attr:`summary`)."""
        return pq.read_table(self.ledger_path)


# --------------------------------------------------------------------------- counters


def add_counters(total: Counters, stage_key: str, counters: dict[str, dict[str, int]]) -> None:
    per_stage = total.setdefault(stage_key, {})
    for source_id, names in counters.items():
        per_source = per_stage.setdefault(source_id, {})
        for name, n in names.items():
            per_source[name] = per_source.get(name, 0) + int(n)


def merge_counters(total: Counters, more: Counters) -> None:
    for stage_key, per_source in more.items():
        add_counters(total, stage_key, per_source)


def merge_seconds(total: dict[str, float], more: dict[str, float]) -> None:
    for k, v in more.items():
        total[k] = total.get(k, 0.0) + v


@dataclass
class StageTimes:
    """Seconds by stage key, twice: ``wall`` (``time.perf_counter`` inside a process) and ``cpu``.

    Wall time counts every moment a process waits for a core: with several workers and the
    decider on a loaded 2-core machine the same MinHash code read 19.6 s in one run and 25.2 in
    the next for ~10 CPU-s (docs/performance.md). ``cpu`` is what the stage's code itself used:
    ``time.thread_time`` for work on the calling thread (a unit's commit thread's fsyncs are not a
    stage's), ``time.process_time`` where the stage's own threads work for it (the decide)."""

    wall: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    def merge(self, more: StageTimes) -> None:
        merge_seconds(self.wall, more.wall)
        merge_seconds(self.cpu, more.cpu)


class Stopwatch:
    """Wall and CPU clocks read at the start of a step; :meth:`charge` adds the step to a stage."""

    __slots__ = ("clock", "wall", "cpu")

    def __init__(self, clock: Callable[[], float] = time.thread_time):
        self.clock = clock
        self.wall, self.cpu = time.perf_counter(), clock()

    def charge(self, times: StageTimes, key: str) -> None:
        times.wall[key] = times.wall.get(key, 0.0) + time.perf_counter() - self.wall
        times.cpu[key] = times.cpu.get(key, 0.0) + self.clock() - self.cpu


# --------------------------------------------------------------------------- schemas and tasks


def output_schema(stages: list[Stage]) -> pa.Schema:
    """Document columns after ``stages``: the ingest columns, then each stage's, first wins."""
    fields = list(DOCUMENT_SCHEMA)
    names = set(DOCUMENT_SCHEMA.names)
    for st in stages:
        for f in st.output_fields:
            if f.name not in names:
                fields.append(f)
                names.add(f.name)
    return pa.schema(fields)


def conform(batch: pa.RecordBatch | pa.Table, schema: pa.Schema) -> pa.Table:
    """Give a batch exactly ``schema``'s columns (missing ones as nulls) and types."""
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    cols = []
    for f in schema:
        if f.name in table.column_names:
            cols.append(table.column(f.name).cast(f.type))
        else:
            cols.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(cols, schema=schema)


def file_tasks(plan: Plan) -> list[FileTask]:
    """One ingest task per planned input file, in config order (source, then file)."""
    return [
        FileTask(sp.source.id, sp.index, i, f.url, f.rel, sp.source.lang, sp.source.domain, sp.options, f.refused, f.size, f.name,
                 f.max_records)
        for sp in plan.sources
        for i, f in enumerate(sp.files)
    ]


def file_key(order: int) -> int:
    """The input file an ingest ordinal belongs to (source and file index), sortable."""
    return order >> RECORD_BITS


# --------------------------------------------------------------------------- decisions → ledger rows


def ledger_from_docs(
    docs: pa.Table,
    outcome: str,
    stage: str | None = None,
    reasons: list[str | None] | None = None,
    details: list[str | None] | None = None,
    duplicate_of: pa.Array | None = None,
    cluster_id: pa.Array | None = None,
    shard: list[str] | pa.Array | None = None,
    score: pa.Array | None = None,
    threshold: pa.Array | None = None,
    label: pa.Array | None = None,
) -> pa.Table:
    n = docs.num_rows
    nulls = pa.nulls(n, pa.string())
    no_number = pa.nulls(n, pa.float64())
    return pa.table(
        {
            "id": docs.column("id"),
            "source_id": docs.column("source_id"),
            "source_file": docs.column("source_file"),
            "source_locator": docs.column("source_locator"),
            "order": docs.column("order"),
            "outcome": pa.array([outcome] * n, pa.string()),
            "stage": pa.array([stage] * n, pa.string()),
            "reason": pa.array(reasons, pa.string()) if reasons is not None else nulls,
            "duplicate_of": duplicate_of if duplicate_of is not None else nulls,
            "cluster_id": cluster_id if cluster_id is not None else nulls,
            "detail": pa.array(details, pa.string()) if details is not None else nulls,
            "shard": (shard if isinstance(shard, pa.Array) else pa.array(shard, pa.string())) if shard is not None else nulls,
            "n_chars": n_chars(docs),
            "score": score if score is not None else no_number,
            "threshold": threshold if threshold is not None else no_number,
            "label": label if label is not None else nulls,
            "notes": pa.nulls(n, LEDGER_SCHEMA.field("notes").type),
        },
        schema=LEDGER_SCHEMA,
    )


def _floats(values: np.ndarray | None, rows: np.ndarray) -> pa.Array | None:
    """``values[rows]`` as float64 with NaN → null (a stage's per-row score or threshold)."""
    if values is None:
        return None
    return pa.array(np.asarray(values, dtype=np.float64)[rows], pa.float64(), from_pandas=True)


def n_chars(docs: pa.Table) -> pa.Array:
    """Length of each document's text as it is now (the ledger's ``n_chars``)."""
    if "text" in docs.column_names:
        return pc.utf8_length(docs.column("text")).cast(pa.int64()).combine_chunks()
    if "n_chars" in docs.column_names:
        return docs.column("n_chars").cast(pa.int64()).combine_chunks()
    return pa.nulls(docs.num_rows, pa.int64())


def apply_map_stage(
    stage: MapStage, table: pa.Table, schema: pa.Schema, counters: Counters | None = None, shared: BatchAnalysis | None = None
) -> tuple[pa.Table, pa.Table]:
    """Run one map stage on a table; returns (survivors conformed to ``schema``, ledger rows of
    drops and of the stage's notes on survivors — :data:`NOTED` rows, folded by :func:`fold_notes`).

    ``shared``: the analyses of this table shared with the segment's other stages
    (:mod:`filters.analysis`); told here what the stage did (text replaced, rows dropped)."""
    if table.num_rows == 0:
        return conform(table, schema), LEDGER_SCHEMA.empty_table()
    stage.ensure_setup()
    batch = table.combine_chunks().to_batches()[0]
    result = stage.process_shared(batch, shared) if shared is not None else stage.process(batch)
    if shared is not None:
        shared.stage_done(batch.num_rows, "text" in result.columns, result.keep)
    if counters is not None and result.counters:
        add_counters(counters, stage.key, result.counters)
    for name, col in result.columns.items():
        idx = table.schema.get_field_index(name)
        table = table.set_column(idx, name, col) if idx >= 0 else table.append_column(name, col)
    keep = np.asarray(result.keep, dtype=bool)
    drops = LEDGER_SCHEMA.empty_table()
    noted = [(i, note) for i, note in enumerate(result.notes or ()) if note is not None and keep[i]]
    if noted:
        drops = ledger_from_docs(
            table.take(pa.array([i for i, _ in noted], pa.int64())),
            outcome=NOTED,
            stage=stage.key,
            reasons=[action for _, (action, _) in noted],
            details=[detail for _, (_, detail) in noted],
        )
    if not keep.all():
        gone = np.flatnonzero(~keep)
        dropped = table.take(pa.array(gone))
        details = result.details or [None] * len(keep)
        rows = ledger_from_docs(
            dropped,
            outcome="dropped",
            stage=stage.key,
            reasons=[result.reasons[i] or "unspecified" for i in gone],
            details=[details[i] for i in gone],
            score=_floats(result.scores, gone),
            threshold=_floats(result.thresholds, gone),
            label=dropped.column(stage.label).cast(pa.string()) if stage.label else None,
        )
        drops = pa.concat_tables([drops, rows]) if drops.num_rows else rows
        table = table.filter(pa.array(keep))
    return conform(table, schema), drops


def apply_decisions(table: pa.Table, decisions: pa.Table, stage_key: str) -> tuple[pa.Table, pa.Table]:
    """Remove the documents a global stage decided to drop; return (survivors, ledger rows)."""
    if decisions.num_rows == 0 or table.num_rows == 0:
        return table, LEDGER_SCHEMA.empty_table()
    hit = pc.is_in(table.column("id"), value_set=decisions.column("id"))
    if not pc.any(hit).as_py():
        return table, LEDGER_SCHEMA.empty_table()
    dropped = table.filter(hit)
    pos = pc.index_in(dropped.column("id"), value_set=decisions.column("id"))
    d = decisions.take(pos)
    rows = ledger_from_docs(
        dropped,
        outcome="dropped",
        stage=stage_key,
        reasons=d.column("reason").to_pylist(),
        details=d.column("detail").to_pylist(),
        duplicate_of=d.column("duplicate_of"),
        cluster_id=d.column("cluster_id"),
        score=d.column("score") if "score" in d.column_names else None,
        threshold=d.column("threshold") if "threshold" in d.column_names else None,
    )
    return table.filter(pc.invert(hit)), rows


# --------------------------------------------------------------------------- pieces and steps


@dataclass
class Piece:
    """What one unit of work produced: surviving documents and everything decided on the way."""

    key: int  # file_key of the input file the documents come from (0 where it does not matter)
    docs: pa.Table
    ledger: pa.Table = field(default_factory=LEDGER_SCHEMA.empty_table)
    files: list[tuple[str, int, FileInfo]] = field(default_factory=list)  # (source id, file index, facts)
    counters: Counters = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall, by stage key
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # thread CPU, by stage key
    #: The analyses the chain's stages shared on these documents, for the segment's keys step when
    #: the engine runs it right away (local); pickles as an empty one (never crosses processes).
    shared: BatchAnalysis | None = field(default=None, repr=False, compare=False)


class MapChain:
    """Consecutive map stages, run on one table of documents at a time (no global stage between).

    The stages share one :class:`~filters.analysis.BatchAnalysis` per table: an analysis of the
    texts (e.g. the strings of the ``text`` column) is computed by the first stage that asks and
    handed to the later ones, then dropped with the table — never written, never carried to the
    next table. ``share_analyses = False`` makes every stage compute its own (same output: the
    equality test and ``bench/shared_analysis.py`` compare both)."""

    share_analyses: bool = True

    def __init__(self, stages: list[MapStage], schemas: list[pa.Schema], schema_in: pa.Schema):
        self.stages = stages
        self.schemas = schemas  # schema after each stage
        self.schema_in = schema_in

    @property
    def schema_out(self) -> pa.Schema:
        return self.schemas[-1] if self.schemas else self.schema_in

    def setup(self) -> None:
        """Load every stage's models; engines call it once per worker (Ray actor, Beam DoFn)."""
        for st in self.stages:
            st.ensure_setup()

    def __call__(self, key: int, docs: pa.Table) -> Piece:
        piece = Piece(key, conform(docs, self.schema_in))
        drops = []
        shared = BatchAnalysis() if self.share_analyses else None
        times = StageTimes(piece.seconds, piece.cpu_seconds)
        for st, schema in zip(self.stages, self.schemas):
            watch = Stopwatch()
            piece.docs, dropped = apply_map_stage(st, piece.docs, schema, piece.counters, shared)
            watch.charge(times, st.key)
            if dropped.num_rows:
                drops.append(dropped)
        if drops:
            piece.ledger = pa.concat_tables(drops)
        piece.shared = shared
        return piece


class KeysStep:
    """Map side of a global stage: the stage's keys for one table of documents."""

    def __init__(self, stage: GlobalStage, schema_in: pa.Schema):
        self.stage = stage
        self.schema_in = schema_in

    def setup(self) -> None:
        self.stage.ensure_setup()

    def __call__(self, docs: pa.Table, shared: BatchAnalysis | None = None) -> pa.Table | None:
        """Keys of ``docs``; ``shared``: the chain's analyses of exactly these documents
        (:attr:`Piece.shared`), or None (the stage computes what it needs)."""
        docs = conform(docs, self.schema_in)
        if docs.num_rows == 0:
            return None
        self.stage.ensure_setup()
        batches = docs.combine_chunks().to_batches()
        if shared is not None and len(batches) == 1:
            return self.stage.keys_shared(batches[0], shared)
        parts = [self.stage.keys(b) for b in batches]
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]


class DecisionStep:
    """Second half of a global stage: drop the decided documents from one table."""

    def __init__(self, stage_key: str, decisions: pa.Table, schema: pa.Schema):
        self.stage_key = stage_key
        self.decisions = decisions
        self.schema = schema

    def __call__(self, key: int, docs: pa.Table) -> Piece:
        kept, drops = apply_decisions(conform(docs, self.schema), self.decisions, self.stage_key)
        return Piece(key, kept, drops)


def keys_in_order(tables: Iterable[pa.Table | None]) -> Iterator[pa.Table]:
    """Keys as ``decide`` gets them on every engine: in ingest order, in chunks of
    :data:`KEY_CHUNK_ROWS` rows (a stage may number documents by arrival, e.g. MinHash)."""
    parts = [t for t in tables if t is not None and t.num_rows]
    if not parts:
        return
    keys = pa.concat_tables(parts, promote_options="default").sort_by([("order", "ascending")]).combine_chunks()
    yield from rechunk([keys])


def rechunk(tables: Iterable[pa.Table]) -> Iterator[pa.Table]:
    """Key tables already in ingest order, re-cut into chunks of :data:`KEY_CHUNK_ROWS` rows (the
    last one shorter): the same chunks however the tables were cut (an engine's blocks, a unit's
    Parquet batches). Not per input file: 100,000 one-line files would be 100,000 chunks."""
    pending: list[pa.Table] = []
    rows = 0
    for table in tables:
        while table.num_rows:
            take = min(KEY_CHUNK_ROWS - rows, table.num_rows)
            pending.append(table.slice(0, take))
            rows += take
            table = table.slice(take)
            if rows == KEY_CHUNK_ROWS:
                yield pa.concat_tables(pending).combine_chunks()
                pending, rows = [], 0
    if pending:
        yield pa.concat_tables(pending).combine_chunks()


# --------------------------------------------------------------------------- segments


@dataclass
class Segment:
    """Map stages up to (and including) one global stage — or the map stages after the last one."""

    chain: MapChain  # may hold no stages (two global stages in a row)
    glob: GlobalStage | None

    @property
    def schema_in(self) -> pa.Schema:
        return self.chain.schema_in

    @property
    def schema(self) -> pa.Schema:
        """Documents leaving the map stages (what the global stage's keys are computed on)."""
        return self.chain.schema_out

    @property
    def name(self) -> str:
        names = [st.name for st in self.chain.stages] + ([self.glob.name] if self.glob is not None else [])
        return "+".join(names)


def split_segments(stages: list[Stage]) -> tuple[list[Segment], pa.Schema]:
    """Cut the stage list at each global stage; returns the segments and the final document schema.

    The last segment has no global stage (possibly no map stages either)."""
    segments: list[Segment] = []
    done: list[Stage] = []
    pending: list[MapStage] = []
    schemas: list[pa.Schema] = []
    schema_in = output_schema(done)
    for st in stages:
        if isinstance(st, MapStage):
            pending.append(st)
            done.append(st)
            schemas.append(output_schema(done))
        elif isinstance(st, GlobalStage):
            segments.append(Segment(MapChain(pending, schemas, schema_in), st))
            done.append(st)
            pending, schemas, schema_in = [], [], output_schema(done)
        else:
            raise TypeError(f"stage {st.key} is neither a MapStage nor a GlobalStage")
    segments.append(Segment(MapChain(pending, schemas, schema_in), None))
    return segments, output_schema(done)


# --------------------------------------------------------------------------- assembly


class Assembler:
    """The end of every run: shards in ingest order, the ledger, file facts, counters.

    ``add_kept`` must be called in ingest order (the local engine walks its units in order, Ray
    preserves order, Beam groups by input file and the driver walks the files in order), so shard
    boundaries and bytes are the same on every engine and worker count.

    The ledger is written by a k-way merge on ``order`` (:func:`merge_on_order`) of sorted
    streams: the ledger parts handed to :meth:`add` (sorted together at the end), streams an
    engine registers with :meth:`add_ledger_stream` (the local engine: one per segment, read from
    its units' files one unit at a time), and the kept documents' rows, made as their shards are
    written. What the merge holds is a window of each stream, and the output leaves a row group
    at a time (:class:`~corpusmill_base.atomic.AtomicParquetWriter`), so the assembly no longer
    holds the whole ledger three times (concatenated, folded, sorted: +260 MB on the 20 MB
    sample) — same bytes: a stable merge of the same parts is the stable sort of their
    concatenation, and the row groups are those ``write_table`` cut from the sorted table.
    """

    def __init__(self, staging: Path, schema: pa.Schema, shard_target_bytes: int, source_ids: list[str]):
        self.schema = schema
        self.staging = staging
        self.writer = ShardWriter(staging, schema, shard_target_bytes)
        self.ledger_parts: list[pa.Table] = []
        self.ledger_streams: list[Iterable[pa.Table]] = []
        self.kept_parts: list[pa.Table] = []  # the kept documents' ledger rows (``add_kept``)
        self.files: dict[str, list[tuple[int, FileInfo]]] = {s: [] for s in source_ids}
        self.counters: Counters = {}
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        self._last_order = -1

    @classmethod
    def for_plan(cls, plan: Plan, schema: pa.Schema, staging: Path) -> Assembler:
        target = int(plan.config.output.shard_target_mb * 1024 * 1024)
        return cls(staging, schema, target, [sp.source.id for sp in plan.sources])

    def add(self, piece: Piece, progress: Progress | None = None) -> None:
        """Everything of a piece except its documents (those go through :meth:`add_kept`);
        with ``progress``, quarantined records are reported as they arrive."""
        if piece.ledger.num_rows:
            self.ledger_parts.append(piece.ledger.cast(LEDGER_SCHEMA))
            if progress is not None:
                note_quarantined(progress, piece.ledger)
        self.add_facts(piece.files, piece.counters, piece.seconds, piece.cpu_seconds)

    def add_facts(
        self, files: list[tuple[str, int, FileInfo]], counters: Counters, seconds: dict[str, float] | None = None,
        cpu_seconds: dict[str, float] | None = None,
    ) -> None:
        for source_id, index, info in files:
            self.files.setdefault(source_id, []).append((index, info))
        merge_counters(self.counters, counters)
        merge_seconds(self.seconds, seconds or {})
        merge_seconds(self.cpu_seconds, cpu_seconds or {})

    def add_ledger_stream(self, tables: Iterable[pa.Table]) -> None:
        """Ledger rows, each table sorted by ``order`` and every table after the previous one's
        last row (checked); read lazily by :meth:`finish`, after the parts given to :meth:`add`."""
        self.ledger_streams.append(tables)

    def add_kept(self, docs: pa.Table) -> None:
        rows = self._kept(docs)
        if rows is not None:
            self.kept_parts.append(rows)

    def _kept(self, docs: pa.Table) -> pa.Table | None:
        """Write kept documents into shards; returns their ledger rows (``shard`` filled in)."""
        if docs.num_rows == 0:
            return None
        orders = docs.column("order")
        first = pc.min(orders).as_py()
        if first <= self._last_order or not strictly_ascending(orders):
            raise RuntimeError("engine delivered kept documents out of ingest order; shards would not be deterministic")
        self._last_order = pc.max(orders).as_py()
        docs = conform(docs, self.schema)
        where = self.writer.add(docs)
        paths = pa.array([self.writer.path_of(i) for i in range(int(where[0]), int(where[-1]) + 1)], pa.string())
        shard = paths.take(pa.array(where - where[0]))
        kept = docs.select(["id", "source_id", "source_file", "source_locator", "order"])
        return ledger_from_docs(kept.append_column("n_chars", n_chars(docs)), outcome="kept", shard=shard)

    def _kept_stream(self, docs: Iterable[pa.Table]) -> Iterator[pa.Table]:
        yield from self.kept_parts
        for table in docs:
            rows = self._kept(table)
            if rows is not None:
                yield rows

    def finish(self, kept: Iterable[pa.Table] = ()) -> Execution:
        """Write the ledger (and, from ``kept``, read lazily in ingest order, the rest of the
        shards) into the staging directory; the :class:`Execution` the runner gets."""
        streams: list[Iterable[pa.Table]] = []
        if self.ledger_parts:
            parts, self.ledger_parts = self.ledger_parts, []
            streams.append([pa.concat_tables(parts).sort_by([("order", "ascending")])])
        streams += self.ledger_streams
        streams.append(self._kept_stream(kept))
        out = AtomicParquetWriter(self.staging / LEDGER_NAME, LEDGER_SCHEMA, row_group_size=LEDGER_ROW_GROUP)
        # The ledger's row groups are encoded and compressed on a thread (pyarrow without the GIL)
        # while this one merges, reads and writes the shards: the assembly is the main process
        # alone at the run's end, a core idle beside it (0.73 CPU-s in 1.29 s of wall on the 20 MB
        # sample, 0.47 of it Parquet writes; ~5 CPU-s on the full corpus). Same calls, same order:
        # the same bytes.
        behind = WriteBehind(out.write)
        counts: list[pa.Table] = []
        kept_ids: list[pa.Array] = []
        pending: list[pa.Table] = []  # windows not counted yet: counted a row group's worth at a time
        pending_rows = 0

        def count() -> None:
            nonlocal pending, pending_rows
            rows = pa.concat_tables(pending) if len(pending) > 1 else pending[0]
            counts.append(ledger_counts(rows))
            kept_ids.append(rows.filter(pc.equal(rows.column("outcome"), "kept")).column("id").combine_chunks())
            pending, pending_rows = [], 0

        try:
            for window in merge_on_order(streams):
                behind.put(window)
                pending.append(window)
                pending_rows += window.num_rows
                if pending_rows >= LEDGER_ROW_GROUP:
                    count()
            if pending:
                count()
            shards = self.writer.close()
            behind.close()
            out.close()
        except BaseException:
            behind.stop()
            out.abort()
            self.writer.abort()
            raise
        summary = LedgerSummary(out.rows, _sum_counts(counts), pa.concat_arrays(kept_ids) if kept_ids else pa.array([], pa.string()))
        files = {s: [info for _, info in sorted(items, key=lambda x: x[0])] for s, items in self.files.items()}
        return Execution(shards=shards, ledger_path=out.path, summary=summary, files=files, seconds=self.seconds,
                         cpu_seconds=self.cpu_seconds, counters=self.counters)


class WriteBehind:
    """``write(item)`` for each item :meth:`put`, in order, on a thread, at most ``depth`` items
    queued; the thread's error is raised by the next :meth:`put` or by :meth:`close`. For writes
    whose work releases the GIL (Parquet encoding and compression), so they overlap the caller's."""

    def __init__(self, write: Callable[[object], None], depth: int = 2):
        self.queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(write,), name="write-behind", daemon=True)
        self.thread.start()

    def _run(self, write: Callable[[object], None]) -> None:
        while (item := self.queue.get()) is not _END:
            if self.error is None:  # after an error the rest is drained, not written
                try:
                    write(item)
                except BaseException as e:  # raised in the caller's thread
                    self.error = e

    def put(self, item: object) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(item)

    def close(self) -> None:
        """Wait until every item is written; raise the thread's error, if any."""
        self.stop()
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """End the thread once what is queued is handled (no error raised: the caller's own failure is)."""
        if self.thread.is_alive():
            self.queue.put(_END)
            self.thread.join()


def read_ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """``items``, produced on a thread up to ``depth`` ahead of the consumer (reading Parquet
    releases the GIL, so the reads overlap the consumer's work); the producer's error is raised
    in the consumer. A consumer that stops early stops the producer after its current item (and
    closes ``items`` if it is a generator, on the producer's thread)."""
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as e:  # handed to the consumer
            put(_Raised(e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not _END:
            if isinstance(item, _Raised):
                raise item.error
            yield item  # type: ignore[misc]  # what ``items`` gave
    finally:
        stop.set()
        thread.join()


_END = object()
T = TypeVar("T")


@dataclass
class _Raised:
    error: BaseException


#: Rows per row group of the ledger (``write_table_atomic``'s default, which wrote it before).
LEDGER_ROW_GROUP = 65536


def _sum_counts(parts: list[pa.Table]) -> pa.Table:
    """Per-window :func:`ledger_counts` tables summed into one (the same as counting the whole)."""
    if not parts:
        return ledger_counts(LEDGER_SCHEMA.empty_table())
    keys = ["source_id", "outcome", "stage", "reason"]
    total = pa.concat_tables(parts).group_by(keys, use_threads=False).aggregate([("id_count", "sum")])
    return pa.table({**{k: total.column(k) for k in keys}, "id_count": total.column("id_count_sum")})


class _Cursor:
    """One sorted stream of ledger tables, buffered a table at a time for :func:`merge_on_order`."""

    def __init__(self, tables: Iterable[pa.Table]):
        self.tables = iter(tables)
        self.buf = LEDGER_SCHEMA.empty_table()
        self.orders = np.empty(0, dtype=np.int64)
        self.done = False
        self.last = -(1 << 63)

    def pull(self) -> None:
        """Append the stream's next non-empty table to the buffer (or mark the stream done)."""
        for table in self.tables:
            if table.num_rows == 0:
                continue
            orders = table.column("order").to_numpy()
            if orders[0] < self.last or (len(orders) > 1 and bool((orders[1:] < orders[:-1]).any())):
                raise RuntimeError("a ledger stream is not sorted by order; the ledger would not be deterministic")
            self.last = int(orders[-1])
            table = table.cast(LEDGER_SCHEMA) if table.schema != LEDGER_SCHEMA else table
            self.buf = pa.concat_tables([self.buf, table]) if self.buf.num_rows else table
            self.orders = np.concatenate([self.orders, orders]) if len(self.orders) else orders
            return
        self.done = True

    def take(self, n: int) -> pa.Table:
        head, self.buf, self.orders = self.buf.slice(0, n), self.buf.slice(n), self.orders[n:]
        return head


def merge_on_order(streams: list[Iterable[pa.Table]]) -> Iterator[pa.Table]:
    """The final ledger, a window at a time, from ``streams`` of ledger rows each sorted by
    ``order``: rows below every unfinished stream's buffered end are taken from all streams
    (in stream order, so ties keep the order of a concatenation of the streams), notes folded
    (:func:`fold_notes`; a record's rows all fall in one window) and sorted stably by ``order``.
    The result is the sorted, folded concatenation, cut into windows."""
    cursors = [_Cursor(s) for s in streams]
    while True:
        for c in cursors:
            if not c.buf.num_rows and not c.done:
                c.pull()
        cursors = [c for c in cursors if c.buf.num_rows or not c.done]
        if not cursors:
            return
        ends = [int(c.orders[-1]) for c in cursors if not c.done]
        bound = min(ends) if ends else None
        parts = []
        for c in cursors:
            n = len(c.orders) if bound is None else int(np.searchsorted(c.orders, bound, side="left"))
            if n:
                parts.append(c.take(n))
        if not parts:  # every buffered row is at the bound: the streams ending there may have more of it
            for c in cursors:
                if not c.done and int(c.orders[-1]) == bound:
                    c.pull()
            continue
        window = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        yield fold_notes(window).sort_by([("order", "ascending")])


def fold_notes(ledger: pa.Table) -> pa.Table:
    """The :data:`NOTED` rows of a ledger folded into the ``notes`` of their records' rows (joined
    on ``order``, sorted by stage key: the same list whatever order the engine delivered them in)."""
    is_note = pc.equal(ledger.column("outcome"), NOTED)
    if not pc.any(is_note).as_py():
        return ledger
    notes = ledger.filter(is_note).sort_by([("order", "ascending"), ("stage", "ascending")])
    rows = ledger.filter(pc.invert(is_note))
    orders = notes.column("order").to_numpy()
    uniq, starts = np.unique(orders, return_index=True)
    items = pa.StructArray.from_arrays(
        [notes.column(c).combine_chunks() for c in ("stage", "reason", "detail")], fields=list(NOTE_TYPE)
    )
    lists = pa.ListArray.from_arrays(pa.array(np.append(starts, len(orders)), pa.int32()), items)
    row_orders = rows.column("order").to_numpy()
    pos = np.searchsorted(uniq, row_orders).clip(max=len(uniq) - 1)
    hit = uniq[pos] == row_orders
    if int(hit.sum()) != len(uniq):
        raise RuntimeError("a stage noted a record that has no ledger row; counts would not reconcile")
    taken = lists.take(pa.array(pos, pa.int64(), mask=~hit))
    return rows.set_column(rows.schema.get_field_index("notes"), LEDGER_SCHEMA.field("notes"), taken)


def note_quarantined(progress: Progress, ledger: pa.Table) -> None:
    """Report a ledger part's quarantined records, file by file (the progress logs name them)."""
    quarantined = ledger.filter(pc.equal(ledger.column("outcome"), "quarantined"))
    for rel in sorted(set(quarantined.column("source_file").to_pylist())):
        rows = quarantined.filter(pc.equal(quarantined.column("source_file"), rel))
        progress.note_issues(rows.column("source_id")[0].as_py(), rel, rows)


