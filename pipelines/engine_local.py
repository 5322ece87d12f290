"""The embedded local engine: the reference implementation every other engine must match.

Shape of a run (the same on every engine):

1. ingest each input file into document batches (in config order: source, file, record);
2. run map stages batch by batch; at a global stage (deduplication), spill the surviving
   documents to a work file, collect the stage's keys, let the stage decide, then continue from
   the spill without the dropped documents;
3. write what survives into shards in ingest order, and every decision into the ledger.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from filters.base import GlobalStage, MapStage, Stage
from filters.ingest import FileTask, ingest_file, ledger_rows
from filters.readers import FileInfo
from filters.schema import DOCUMENT_SCHEMA, LEDGER_SCHEMA
from pipelines.plan import Plan
from pipelines.progress import Progress
from pipelines.shards import ShardInfo, ShardWriter


@dataclass
class Execution:
    """What an engine hands back to the runner."""

    shards: list[ShardInfo]
    ledger: pa.Table
    files: dict[str, list[FileInfo]]  # source id → file facts
    seconds: dict[str, float] = field(default_factory=dict)
    counters: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # stage → source → name → n


def add_counters(total: dict[str, dict[str, dict[str, int]]], stage_key: str, counters: dict[str, dict[str, int]]) -> None:
    per_stage = total.setdefault(stage_key, {})
    for source_id, names in counters.items():
        per_source = per_stage.setdefault(source_id, {})
        for name, n in names.items():
            per_source[name] = per_source.get(name, 0) + int(n)


def output_schema(stages: list[Stage]) -> pa.Schema:
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
    return [
        FileTask(sp.source.id, sp.index, i, f.url, f.rel, sp.source.lang, sp.source.domain, sp.options)
        for sp in plan.sources
        for i, f in enumerate(sp.files)
    ]


def apply_map_stage(
    stage: MapStage, table: pa.Table, schema: pa.Schema, counters: dict | None = None
) -> tuple[pa.Table, pa.Table]:
    """Run one map stage on a table; returns (survivors conformed to ``schema``, ledger rows of drops)."""
    if table.num_rows == 0:
        return conform(table, schema), LEDGER_SCHEMA.empty_table()
    stage.ensure_setup()
    batch = table.combine_chunks().to_batches()[0]
    result = stage.process(batch)
    if counters is not None and result.counters:
        add_counters(counters, stage.key, result.counters)
    for name, col in result.columns.items():
        idx = table.schema.get_field_index(name)
        table = table.set_column(idx, name, col) if idx >= 0 else table.append_column(name, col)
    keep = np.asarray(result.keep, dtype=bool)
    drops = LEDGER_SCHEMA.empty_table()
    if not keep.all():
        gone = np.flatnonzero(~keep)
        dropped = table.take(pa.array(gone))
        details = result.details or [None] * len(keep)
        drops = ledger_from_docs(
            dropped,
            outcome="dropped",
            stage=stage.key,
            reasons=[result.reasons[i] or "unspecified" for i in gone],
            details=[details[i] for i in gone],
        )
        table = table.filter(pa.array(keep))
    return conform(table, schema), drops


def ledger_from_docs(
    docs: pa.Table,
    outcome: str,
    stage: str | None = None,
    reasons: list | None = None,
    details: list | None = None,
    duplicate_of: pa.Array | None = None,
    cluster_id: pa.Array | None = None,
    shard: list | None = None,
) -> pa.Table:
    n = docs.num_rows
    nulls = pa.nulls(n, pa.string())
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
            "shard": pa.array(shard, pa.string()) if shard is not None else nulls,
            "n_chars": _n_chars(docs),
        },
        schema=LEDGER_SCHEMA,
    )


def _n_chars(docs: pa.Table) -> pa.Array:
    """Length of each document's text as it is now (the ledger's ``n_chars``)."""
    if "text" in docs.column_names:
        return pc.utf8_length(docs.column("text")).cast(pa.int64()).combine_chunks()
    if "n_chars" in docs.column_names:
        return docs.column("n_chars").cast(pa.int64()).combine_chunks()
    return pa.nulls(docs.num_rows, pa.int64())


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
    )
    return table.filter(pc.invert(hit)), rows


def execute(plan: Plan, stages: list[Stage], staging: Path, progress: Progress) -> Execution:
    cfg = plan.config
    ledger_parts: list[pa.Table] = []
    files: dict[str, list[FileInfo]] = {sp.source.id: [] for sp in plan.sources}
    seconds: dict[str, float] = {}
    counters: dict[str, dict[str, dict[str, int]]] = {}
    tasks = file_tasks(plan)

    def ingested() -> Iterator[pa.Table]:
        t0 = time.perf_counter()
        bar = progress.bar("ingest", total=plan.total_bytes, unit="B")
        sizes = {(sp.source.id, f.rel): f.size for sp in plan.sources for f in sp.files}
        for task in tasks:
            for ib in ingest_file(task, cfg.limits.batch_size):
                if ib.ledger.num_rows:
                    ledger_parts.append(ib.ledger)
                    progress.note_issues(task.source_id, task.rel, ib.ledger)
                if ib.info is not None:
                    files[task.source_id].append(ib.info)
                    bar.update(sizes[(task.source_id, task.rel)])
                t1 = time.perf_counter()
                seconds["ingest@1"] = seconds.get("ingest@1", 0.0) + (t1 - t0)
                yield conform(ib.documents, DOCUMENT_SCHEMA)
                t0 = time.perf_counter()
        bar.close()

    def mapped(source: Iterator[pa.Table], maps: list[MapStage], schema_after: list[pa.Schema]) -> Iterator[pa.Table]:
        for table in source:
            for st, schema in zip(maps, schema_after):
                t0 = time.perf_counter()
                table, drops = apply_map_stage(st, table, schema, counters)
                seconds[st.key] = seconds.get(st.key, 0.0) + time.perf_counter() - t0
                if drops.num_rows:
                    ledger_parts.append(drops)
            yield table

    stream: Iterator[pa.Table] = ingested()
    done: list[Stage] = []
    pending: list[MapStage] = []
    workdir = staging / ".work"
    for st in [*stages, None]:
        if isinstance(st, MapStage):
            pending.append(st)
            continue
        schemas = []
        for m in pending:
            done.append(m)
            schemas.append(output_schema(done))
        stream = mapped(stream, pending, schemas)
        pending = []
        if st is None:
            break
        assert isinstance(st, GlobalStage)
        stream = _global_stage(st, stream, output_schema(done), workdir, ledger_parts, seconds)
        done.append(st)

    schema = output_schema(done)
    writer = ShardWriter(staging, schema, int(cfg.output.shard_target_mb * 1024 * 1024))
    kept_parts: list[pa.Table] = []
    for table in stream:
        if table.num_rows:
            writer.add(table)
            kept = table.select(["id", "source_id", "source_file", "source_locator", "order"])
            kept_parts.append(kept.append_column("n_chars", _n_chars(table)))
    shards = writer.close()
    kept = pa.concat_tables(kept_parts) if kept_parts else None
    if kept is not None and kept.num_rows:
        shard_paths = writer.shard_of(kept.column("order").to_numpy())
        ledger_parts.append(ledger_from_docs(kept, outcome="kept", shard=shard_paths))
    ledger = pa.concat_tables([LEDGER_SCHEMA.empty_table(), *ledger_parts])
    ledger = ledger.sort_by([("order", "ascending")])
    return Execution(shards=shards, ledger=ledger, files=files, seconds=seconds, counters=counters)


def _global_stage(
    stage: GlobalStage,
    stream: Iterator[pa.Table],
    schema: pa.Schema,
    workdir: Path,
    ledger_parts: list[pa.Table],
    seconds: dict[str, float],
) -> Iterator[pa.Table]:
    """Spill documents and keys to disk; decide from the streamed keys; replay without the drops.

    Memory stays bounded by a batch: documents and keys both go through Parquet files.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    spill = workdir / f"before-{stage.name}.parquet"
    keys_path = workdir / f"keys-{stage.name}.parquet"
    stage.ensure_setup()
    key_writer = None
    with pq.ParquetWriter(spill, schema, compression="zstd") as w:
        for table in stream:
            if table.num_rows == 0:
                continue
            w.write_table(table)
            t0 = time.perf_counter()
            for batch in table.to_batches():
                k = stage.keys(batch)
                if key_writer is None:
                    key_writer = pq.ParquetWriter(keys_path, k.schema, compression="lz4")
                key_writer.write_table(k)
            seconds[stage.key] = seconds.get(stage.key, 0.0) + time.perf_counter() - t0
    if key_writer is not None:
        key_writer.close()

    def stream_keys() -> Iterator[pa.Table]:
        if key_writer is None:
            return
        for batch in pq.ParquetFile(keys_path).iter_batches(batch_size=65536):
            yield pa.Table.from_batches([batch])

    t0 = time.perf_counter()
    decisions = stage.decide(stream_keys())
    keys_path.unlink(missing_ok=True)
    seconds[stage.key] = seconds.get(stage.key, 0.0) + time.perf_counter() - t0

    def replay() -> Iterator[pa.Table]:
        pf = pq.ParquetFile(spill)
        for batch in pf.iter_batches(batch_size=8192):
            table, drops = apply_decisions(pa.Table.from_batches([batch]), decisions, stage.key)
            if drops.num_rows:
                ledger_parts.append(drops)
            yield table
        spill.unlink()

    return replay()
