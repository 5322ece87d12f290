"""The embedded local engine: the reference implementation every other engine must match.

Shape of a run (the same on every engine):

1. ingest each input file into document batches (in config order: source, file, record);
2. run map stages batch by batch; at a global stage (deduplication) collect the stage's keys,
   let the stage decide, then continue without the dropped documents;
3. write what survives into shards in ingest order, and every decision into the ledger.

Resumable units of work. The stage list is cut into *segments* at each global stage. For every
segment and every input file the engine writes a *unit* to the work directory — the surviving
documents, the ledger rows of this unit's decisions, the global stage's keys and a small meta
file — and then, last and atomically, a ``.done`` marker. A global stage's decisions are a unit
of their own. ``--resume`` skips every unit whose marker exists; a unit without its marker is
redone from scratch (its partial files are never read). Shards are cut from the last segment's
units in ingest order, so a resumed run writes byte-identical shards.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from filters.base import GlobalStage, MapStage, Stage
from filters.ingest import FileTask, ingest_file
from filters.readers import FileInfo
from filters.schema import DOCUMENT_SCHEMA, LEDGER_SCHEMA
from pipelines.faults import checkpoint
from pipelines.plan import Plan
from pipelines.progress import Progress
from corpusmill_base.atomic import fsync_dir
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
        FileTask(sp.source.id, sp.index, i, f.url, f.rel, sp.source.lang, sp.source.domain, sp.options, f.refused, f.size)
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
            score=_floats(result.scores, gone),
            threshold=_floats(result.thresholds, gone),
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
    score: pa.Array | None = None,
    threshold: pa.Array | None = None,
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
            "shard": pa.array(shard, pa.string()) if shard is not None else nulls,
            "n_chars": _n_chars(docs),
            "score": score if score is not None else no_number,
            "threshold": threshold if threshold is not None else no_number,
        },
        schema=LEDGER_SCHEMA,
    )


def _floats(values: np.ndarray | None, rows: np.ndarray) -> pa.Array | None:
    """``values[rows]`` as float64 with NaN → null (a stage's per-row score or threshold)."""
    if values is None:
        return None
    return pa.array(np.asarray(values, dtype=np.float64)[rows], pa.float64(), from_pandas=True)


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
        score=d.column("score") if "score" in d.column_names else None,
        threshold=d.column("threshold") if "threshold" in d.column_names else None,
    )
    return table.filter(pc.invert(hit)), rows


class Unit:
    """One resumable unit of work: segment ``k`` of input file ``i`` (or a global stage's decisions)."""

    def __init__(self, directory: Path, name: str):
        self.dir = directory
        self.name = name

    def path(self, kind: str) -> Path:
        return self.dir / f"{self.name}.{kind}"

    @property
    def done(self) -> bool:
        return self.path("done").exists()

    def reset(self) -> None:
        for p in self.dir.glob(f"{self.name}.*"):
            p.unlink()

    def mark_done(self) -> None:
        tmp = self.path("done.tmp")
        tmp.write_bytes(b"")
        os.replace(tmp, self.path("done"))
        fsync_dir(self.dir)

    def meta(self) -> dict:
        return json.loads(self.path("meta.json").read_text(encoding="utf-8"))


class _StreamingParquet:
    """Parquet written under a temporary name and renamed on commit (never half-visible)."""

    def __init__(self, path: Path, schema: pa.Schema | None = None, compression: str = "zstd"):
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.schema = schema
        self.compression = compression
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self.writer is None:
            self.schema = self.schema or table.schema
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression=self.compression)
        self.writer.write_table(table.cast(self.schema) if table.schema != self.schema else table)
        self.rows += table.num_rows

    def commit(self) -> None:
        if self.writer is None:
            if self.schema is None:
                return  # nothing was written and there is no schema: no file (readers treat as empty)
            self.writer = pq.ParquetWriter(self.tmp, self.schema, compression=self.compression)
        self.writer.close()
        with open(self.tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(self.tmp, self.path)


def _read_parquet(path: Path, batch_size: int = 16384) -> Iterator[pa.Table]:
    if not path.exists():
        return
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
        yield pa.Table.from_batches([batch])


def _rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0


def split_segments(stages: list[Stage]) -> list[tuple[list[MapStage], GlobalStage | None]]:
    """Cut the stage list at each global stage: ``[(map stages, global stage or None), …]``."""
    segments: list[tuple[list[MapStage], GlobalStage | None]] = []
    maps: list[MapStage] = []
    for st in stages:
        if isinstance(st, GlobalStage):
            segments.append((maps, st))
            maps = []
        else:
            maps.append(st)
    segments.append((maps, None))
    return segments


def execute(
    plan: Plan,
    stages: list[Stage],
    staging: Path,
    progress: Progress,
    workdir: Path | None = None,
) -> Execution:
    """Run the plan; units already done in ``workdir`` (an interrupted run) are not redone."""
    cfg = plan.config
    work = workdir or staging / ".work"
    work.mkdir(parents=True, exist_ok=True)
    tasks = file_tasks(plan)
    segments = split_segments(stages)
    seconds: dict[str, float] = {}
    done_stages: list[Stage] = []
    decisions: pa.Table | None = None
    previous: GlobalStage | None = None
    sizes = {(sp.source.id, f.rel): f.size for sp in plan.sources for f in sp.files}

    for k, (maps, glob) in enumerate(segments):
        schemas = []
        for m in maps:
            done_stages.append(m)
            schemas.append(output_schema(done_stages))
        seg_schema = output_schema(done_stages)
        seg_dir = work / f"seg{k}"
        seg_dir.mkdir(exist_ok=True)
        prev_docs = [Unit(work / f"seg{k - 1}", f"{i:06d}").path("docs.parquet") for i in range(len(tasks))] if k else []
        total = plan.total_bytes if k == 0 else sum(_rows(p) for p in prev_docs)
        bar = progress.meter("ingest" if k == 0 else f"stages {', '.join(s.name for s in maps) or previous.name}", total=total, unit="B" if k == 0 else "doc")
        for i, task in enumerate(tasks):
            unit = Unit(seg_dir, f"{i:06d}")
            if not unit.done:
                unit.reset()
                if k == 0:
                    source = _ingest_unit(task, cfg.limits.batch_size, unit, progress, seconds)
                else:
                    prev = Unit(work / f"seg{k - 1}", f"{i:06d}").path("docs.parquet")
                    source = _decided(_read_parquet(prev), decisions, previous.key)
                _run_unit(unit, bar.counting(source), maps, schemas, seg_schema, glob, seconds)
                checkpoint(f"unit:seg{k}/{unit.name}")
            elif k:
                bar.advance(_rows(prev_docs[i]))  # resumed: done before this process started
            if k == 0:
                bar.advance(sizes[(task.source_id, task.rel)])
        bar.close()
        if glob is not None:
            done_stages.append(glob)
            decisions = _decide_unit(glob, Unit(work, f"decide{k}"), [Unit(seg_dir, f"{i:06d}") for i in range(len(tasks))], seconds)
            checkpoint(f"decided:{glob.key}")
            previous = glob

    return _finish(plan, tasks, work, len(segments) - 1, output_schema(done_stages), staging, seconds)


def _ingest_unit(task: FileTask, batch_size: int, unit: Unit, progress: Progress, seconds: dict) -> Iterator[pa.Table]:
    """Ingest one file; its quarantines/drops and file facts go to the unit as it goes."""
    ledger = _StreamingParquet(unit.path("ingest-ledger.parquet"), LEDGER_SCHEMA)
    t0 = time.perf_counter()
    for ib in ingest_file(task, batch_size):
        if ib.ledger.num_rows:
            ledger.write(ib.ledger)
            progress.note_issues(task.source_id, task.rel, ib.ledger)
        if ib.info is not None:
            info = ib.info
            unit.path("file.json").write_text(json.dumps(info.__dict__), encoding="utf-8")
        seconds["ingest@1"] = seconds.get("ingest@1", 0.0) + time.perf_counter() - t0
        yield conform(ib.documents, DOCUMENT_SCHEMA)
        t0 = time.perf_counter()
    ledger.commit()


def _decided(tables: Iterator[pa.Table], decisions: pa.Table, stage_key: str) -> Iterator[pa.Table]:
    for table in tables:
        kept, drops = apply_decisions(table, decisions, stage_key)
        yield kept, drops


def _run_unit(unit, source, maps, schemas, seg_schema, glob, seconds) -> None:
    docs = _StreamingParquet(unit.path("docs.parquet"), seg_schema)
    ledger = _StreamingParquet(unit.path("ledger.parquet"), LEDGER_SCHEMA)
    keys = _StreamingParquet(unit.path("keys.parquet"), compression="lz4")
    counters: dict[str, dict[str, dict[str, int]]] = {}
    for n, item in enumerate(source):
        if n:
            checkpoint(f"batch:{unit.dir.name}/{unit.name}/{n}")  # mid-unit: partial files exist, no marker
        table, drops = item if isinstance(item, tuple) else (item, None)
        if drops is not None and drops.num_rows:
            ledger.write(drops)
        for st, schema in zip(maps, schemas):
            t0 = time.perf_counter()
            table, dropped = apply_map_stage(st, table, schema, counters)
            seconds[st.key] = seconds.get(st.key, 0.0) + time.perf_counter() - t0
            if dropped.num_rows:
                ledger.write(dropped)
        if table.num_rows == 0:
            continue
        table = conform(table, seg_schema)
        docs.write(table)
        if glob is not None:
            glob.ensure_setup()
            t0 = time.perf_counter()
            for batch in table.to_batches():
                keys.write(glob.keys(batch))
            seconds[glob.key] = seconds.get(glob.key, 0.0) + time.perf_counter() - t0
    for w in (docs, ledger, keys):
        w.commit()
    unit.path("meta.json").write_text(json.dumps({"counters": counters}, sort_keys=True), encoding="utf-8")
    unit.mark_done()


def _decide_unit(glob: GlobalStage, unit: Unit, inputs: list[Unit], seconds: dict) -> pa.Table:
    path = unit.path("decisions.parquet")
    if not unit.done:
        unit.reset()
        glob.ensure_setup()

        def stream_keys() -> Iterator[pa.Table]:
            for u in inputs:
                yield from _read_parquet(u.path("keys.parquet"), 65536)

        t0 = time.perf_counter()
        decided = glob.decide(stream_keys())
        seconds[glob.key] = seconds.get(glob.key, 0.0) + time.perf_counter() - t0
        out = _StreamingParquet(path, decided.schema)
        out.write(decided)
        out.commit()
        unit.mark_done()
    return pq.read_table(path)


def _finish(plan, tasks, work: Path, last: int, schema: pa.Schema, staging: Path, seconds: dict) -> Execution:
    """Cut shards from the last segment's units (ingest order) and assemble the ledger."""
    cfg = plan.config
    t0 = time.perf_counter()
    writer = ShardWriter(staging, schema, int(cfg.output.shard_target_mb * 1024 * 1024))
    kept_parts: list[pa.Table] = []
    for i in range(len(tasks)):
        for table in _read_parquet(work / f"seg{last}" / f"{i:06d}.docs.parquet"):
            writer.add(table)
            kept = table.select(["id", "source_id", "source_file", "source_locator", "order"])
            kept_parts.append(kept.append_column("n_chars", _n_chars(table)))
    shards = writer.close()
    ledger_parts: list[pa.Table] = []
    files: dict[str, list[FileInfo]] = {sp.source.id: [] for sp in plan.sources}
    counters: dict[str, dict[str, dict[str, int]]] = {}
    for k in range(last + 1):
        for i, task in enumerate(tasks):
            unit = Unit(work / f"seg{k}", f"{i:06d}")
            if k == 0:
                files[task.source_id].append(FileInfo(**json.loads(unit.path("file.json").read_text(encoding="utf-8"))))
                ledger_parts.extend(_read_parquet(unit.path("ingest-ledger.parquet")))
            ledger_parts.extend(_read_parquet(unit.path("ledger.parquet")))
            for stage_key, per_source in unit.meta()["counters"].items():
                add_counters(counters, stage_key, per_source)
    if kept_parts:
        kept = pa.concat_tables(kept_parts)
        ledger_parts.append(ledger_from_docs(kept, outcome="kept", shard=writer.shard_of(kept.column("order").to_numpy())))
    ledger = pa.concat_tables([LEDGER_SCHEMA.empty_table(), *[t.cast(LEDGER_SCHEMA) for t in ledger_parts]])
    ledger = ledger.sort_by([("order", "ascending")])
    seconds["shards"] = time.perf_counter() - t0
    return Execution(shards=shards, ledger=ledger, files=files, seconds=seconds, counters=counters)


def clear_workdir(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
