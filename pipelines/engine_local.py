"""The embedded local engine: units of work on a process pool, resumable. Scheduling only.

What happens to documents is the execution core's (:mod:`pipelines.execution`); this module
decides *where and when*: which input files form a unit, which process runs it, what is on disk
so that a killed run resumes.

Shape of a run (the same on every engine):

1. ingest each input file into document batches (in config order: source, file, record);
2. run map stages batch by batch; at a global stage (deduplication) collect the stage's keys,
   let the stage decide, then continue without the dropped documents;
3. write what survives into shards in ingest order, and every decision into the ledger.

Units. Consecutive input files are grouped into *units* of about :func:`unit_target_bytes`
(at most :data:`UNIT_MAX_FILES` files; a large file is a unit of its own), so 100,000 one-line
files are ~100 units, not 100,000. From the second segment on, a unit's documents are cut into
row ranges of at most :data:`PART_ROWS` (:func:`layout`), each a unit of its own, so 8 big files
are not 8 units for the whole run. Both cuts depend only on the plan and the documents, never on
the worker count, so resuming with another ``--workers`` finds the same units. For every segment
of the stage list (:func:`~pipelines.execution.split_segments`) and every unit the engine writes
the surviving documents, the ledger rows of the unit's decisions, the global stage's keys and a
small meta file — and then, last and atomically, a ``.done`` marker (the fsyncs and the marker
on a thread, :class:`_Commit`, while the process runs its next unit). A global stage's decisions
are a unit of their own, decided in a child forked at the run's start (:class:`_Decider`: what it
allocates goes back to the system when it exits); with several workers it follows the segment's
units, reading each one's keys as soon as its marker exists, in ingest order. ``--resume`` skips every unit whose marker
exists; a unit without its marker is redone from scratch (its partial files are never read).
Shards are cut from the last segment's units in ingest order, so a resumed run — and a run with
any number of workers — writes byte-identical shards.

Workers. With ``workers > 1`` the main process and ``workers - 1`` forked processes run the
units of a segment, each taking the next unit nobody took yet (biggest first by a deterministic
estimate, or in ingest order where many units feed a following decide). The main process
sets every stage's models up once before the pool that needs them forks (:func:`preload`; the
next segment's while the current segment's workers run their units), so the workers share those pages
copy-on-write instead of each loading its own copy; one worker (the main process alone) still
loads each model lazily on first use (``ensure_setup``). What a process holds at a
time is one batch going through the stages (in-flight memory is bounded by ``workers × batch``);
documents go to the unit's files, and only small results (timings) come back. Progress
(documents, bytes, quarantined records; during ingest the position inside each input file)
travels to the main process on a queue as each batch is done, so the meter is as truthful as
with one worker. Workers die with the main process (``PR_SET_PDEATHSIG``), so a killed run
leaves no stray writer behind.
"""

from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing
import os
import resource
import signal
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from corpusmill_base.atomic import fsync_dir, write_text_atomic
from corpusmill_base.errors import OutputError
from filters.base import GlobalStage, Stage
from filters.ingest import FileTask, ingest_file
from filters.readers import FileInfo
from filters.schema import DOCUMENT_SCHEMA, LEDGER_SCHEMA
from pipelines.execution import (
    Assembler,
    Execution,
    KeysStep,
    Segment,
    apply_decisions,
    rechunk,
    conform,
    file_tasks,
    merge_counters,
    StageTimes,
    Stopwatch,
    read_ahead,
    split_segments,
)
from pipelines.faults import checkpoint
from pipelines.plan import Plan
from pipelines.progress import Progress

#: A unit holds at most this many input files (a unit's per-file facts are kept in its meta file).
UNIT_MAX_FILES = 1024
#: Units aim at 1/64 of the input, between these bounds: enough units to keep 64 workers busy on
#: a big run, few enough that small files cost nothing per file (100,000 one-line files: ~100 units).
UNIT_MIN_BYTES = 64 << 10
UNIT_MAX_BYTES = 64 << 20


def unit_target_bytes(total_bytes: int) -> int:
    return min(UNIT_MAX_BYTES, max(UNIT_MIN_BYTES, total_bytes // 64))


def plan_units(sizes: list[int]) -> list[list[int]]:
    """Consecutive input files (by index) grouped into units; depends only on the file sizes."""
    target = unit_target_bytes(sum(sizes))
    units: list[list[int]] = []
    current: list[int] = []
    acc = 0
    for i, size in enumerate(sizes):
        if current and (acc + size > target or len(current) >= UNIT_MAX_FILES):
            units.append(current)
            current, acc = [], 0
        current.append(i)
        acc += size
    if current:
        units.append(current)
    return units


def default_workers() -> int:
    """CPUs this process may run on (the affinity mask on Linux, the machine's count elsewhere)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Unit:
    """One resumable unit of work: segment ``k`` of a group of input files (or a global stage's decisions)."""

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


#: How a unit's scratch files are written (read back once by the next step, never published:
#: shards and ledger are written anew by the assembler with their own codec). zstd's compression,
#: Parquet's dictionary attempts and min/max statistics were 13 % of a run's CPU without PII on
#: the 20 MB sample (py-spy, 2026-12-07); lz4 still shrinks the text ~2.5×. The MinHash keys are
#: hashes, which nothing compresses: written plain (read back ~10× faster than lz4 with dictionary).
SCRATCH = {"compression": "lz4", "use_dictionary": False, "write_statistics": False}
SCRATCH_PLAIN = SCRATCH | {"compression": "none"}


class _StreamingParquet:
    """Parquet written under a temporary name and renamed on commit (never half-visible)."""

    def __init__(self, path: Path, schema: pa.Schema | None = None, options: dict | None = None):
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.schema = schema
        self.options = SCRATCH if options is None else options
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self.writer is None:
            self.schema = self.schema or table.schema
            self.writer = pq.ParquetWriter(self.tmp, self.schema, **self.options)
        self.writer.write_table(table.cast(self.schema) if table.schema != self.schema else table)
        self.rows += table.num_rows

    def abort(self) -> None:
        """Drop a unit's partial file after a failure (e.g. a full disk): the writer is closed
        quietly here, not later by the garbage collector, whose failed close prints a traceback."""
        if self.writer is not None:
            with contextlib.suppress(OSError):
                self.writer.close()
            self.writer.is_open = False
            self.writer = None
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)

    def commit(self) -> None:
        self.close()
        self.publish()

    def close(self) -> None:
        """The file complete under its temporary name (footer written), not yet durable."""
        if self.writer is None:
            if self.schema is None:
                return  # nothing was written and there is no schema: no file (readers treat as empty)
            self.writer = pq.ParquetWriter(self.tmp, self.schema, **self.options)
        self.writer.close()

    def publish(self) -> None:
        """fsync the closed file, then rename it to its real name."""
        if self.writer is None:
            return
        with open(self.tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(self.tmp, self.path)


def _read_parquet(path: Path, batch_size: int = 16384, rows: tuple[int, int] | None = None) -> Iterator[pa.Table]:
    """A Parquet file's rows (``rows``: only those of ``[lo, hi)``), a batch at a time.

    Only the row groups holding ``[lo, hi)`` are read (found from the footer): reading from the
    start and slicing made the parts of a unit cost quadratically (17× on a 30 MB unit)."""
    if not path.exists():
        return
    pf = pq.ParquetFile(path)
    if rows is None:
        for batch in pf.iter_batches(batch_size=batch_size):
            yield pa.Table.from_batches([batch])
        return
    lo, hi = rows
    groups, at, first = [], 0, None  # the row groups overlapping [lo, hi); the first one's start
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if at + n > lo and at < hi:
            groups.append(g)
            first = at if first is None else first
        at += n
    if not groups:
        return
    at = first
    for batch in pf.iter_batches(batch_size=batch_size, row_groups=groups):
        a, b = max(lo - at, 0), min(hi - at, batch.num_rows)
        if a < b:
            yield pa.Table.from_batches([batch.slice(a, b - a) if (a, b) != (0, batch.num_rows) else batch])
        at += batch.num_rows
        if at >= hi:
            return


def _rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0


# --------------------------------------------------------------------------- one unit


@dataclass(frozen=True)
class UnitJob:
    segment: int
    unit: int
    files: tuple[int, ...]  # indices into the run's file tasks
    name: str = ""  # the unit's files in its segment's directory (default: the unit's number)
    source: str = ""  # what it reads: this unit of the previous segment (default: the same name) …
    rows: tuple[int, int] | None = None  # … these rows of it (default: all)
    size: int = 0  # what it reads (bytes of input files, or documents): what the meter counts
    cost: int = 0  # the deterministic estimate of its work the biggest-first order uses (0: ``size``)


def unit_name(unit: int, part: int = 0, parts: int = 1) -> str:
    return f"{unit:06d}" if parts == 1 else f"{unit:06d}-{part:04d}"


#: From the first segment that reads the previous one's documents on, a unit is cut into parts of
#: at most this many documents (row ranges of its file), each a resumable unit of its own: a
#: segment ends when its last unit does, and 8 big files gave 2 workers 8 units, so one worker
#: waited for the other at every segment's end. The cut depends only on the documents (never on
#: the worker count), so resuming with another ``--workers`` finds the same parts.
PART_ROWS = 8192

#: A segment with at least this many units per process runs them in ingest order, not biggest
#: first, when its global stage decides beside them (reading their keys as they finish, in ingest
#: order): with many small units the order costs little in the segment's tail.
FOLLOW_UNITS_PER_WORKER = 8


def layout(k: int, previous: list[UnitJob], rows_of, text_bytes_of=None) -> list[UnitJob]:
    """Segment ``k``'s units (k ≥ 1), in ingest order, from the previous segment's: segment 1 cuts
    each unit's documents into parts of :data:`PART_ROWS`; later segments keep segment 1's parts.
    ``rows_of(name)``: documents the previous segment left in that unit; ``text_bytes_of(name)``
    (optional): their text's bytes, each unit's ``cost`` (a part: its share of them).

    Parts hold the same number of documents, so ordering by documents ordered nothing: a part
    of long documents (statutes, opinions) ran last as often as first. Text bytes come from the
    Parquet footer (the ``text`` column's uncompressed size), so the estimate reads no data."""
    jobs = []
    for prev in previous:
        n = rows_of(prev.name)
        nbytes = text_bytes_of(prev.name) if text_bytes_of is not None else 0
        parts = max(1, -(-n // PART_ROWS)) if k == 1 else 1
        for p in range(parts):
            name = unit_name(prev.unit, p, parts) if k == 1 else prev.name
            lo, hi = n * p // parts, n * (p + 1) // parts
            cost = nbytes * (hi - lo) // n if n else 0
            jobs.append(UnitJob(k, prev.unit, prev.files, name, prev.name, (lo, hi) if parts > 1 else None, hi - lo, cost))
    return jobs


def _text_bytes(path: Path) -> int:
    """The ``text`` column's uncompressed bytes in a scratch Parquet file (its footer only)."""
    if not path.exists():
        return 0
    meta = pq.ParquetFile(path).metadata
    if not meta.num_row_groups:
        return 0
    first = meta.row_group(0)
    cols = [i for i in range(first.num_columns) if first.column(i).path_in_schema == "text"]
    return sum(meta.row_group(g).column(c).total_uncompressed_size for g in range(meta.num_row_groups) for c in cols)


class _Report:
    """Where a unit reports progress: straight to the meter (one worker) or onto the queue."""

    def __init__(self, meter=None, progress: Progress | None = None, queue=None, drain=None):
        self.meter, self.progress, self.queue, self.drain = meter, progress, queue, drain

    def count(self, docs: int, nbytes: int) -> None:
        if self.queue is not None:
            self.queue.put(("count", docs, nbytes))
        else:
            self.meter.count(docs, nbytes)
            if self.drain is not None:  # the main process runs a unit: the workers' progress too
                self.drain()

    def advance(self, n: int) -> None:
        if self.queue is not None:
            self.queue.put(("advance", n))
        else:
            self.meter.advance(n)

    def issues(self, source_id: str, rel: str, ledger: pa.Table) -> None:
        if self.queue is not None:
            self.queue.put(("issues", source_id, rel, ledger))
        else:
            self.progress.note_issues(source_id, rel, ledger)


class _Commit:
    """A unit's files made durable and its ``.done`` marker written, on a thread, while the
    process runs its next unit.

    The order is the one resume relies on — each file fsynced, then renamed, then the meta file,
    then the marker (itself renamed and its directory fsynced) — only no longer on the process's
    path: a unit's fsyncs waited for the disk with the core idle (segment 1 writes ~0.9 GB of
    MinHash keys on the full corpus, ~9 MB a unit; one fsync of 1 MB took 1–96 ms, median 6, on
    this machine at load 11). A process killed before the marker is written leaves a unit that is
    redone from scratch, as before. A process waits for its last commit before it reports its
    units done (:meth:`UnitRunner.flush`), so a segment's barrier still means every marker is on
    disk."""

    def __init__(self, unit: Unit, writers: tuple[_StreamingParquet, ...], meta: str, point: str):
        import threading

        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(unit, writers, meta, point), name="unit-commit", daemon=True)
        self.thread.start()

    def _run(self, unit: Unit, writers, meta: str, point: str) -> None:
        try:
            t0, c0 = time.time(), time.thread_time()
            for w in writers:
                w.publish()
            write_text_atomic(unit.path("meta.json"), meta)  # durable before the marker (a power loss after it)
            unit.mark_done()
            timeline("commit", t0, c0, clock=time.thread_time, unit=unit.name)
            checkpoint(point)
        except BaseException as e:  # re-raised by wait(), in the process's own thread
            self.error = e

    def wait(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


class UnitRunner:
    """Runs one unit of one segment; lives in the main process (one worker) or in every worker."""

    def __init__(self, tasks: list[FileTask], sizes: list[int], segments: list[Segment], work: Path, batch_size: int):
        self.tasks, self.sizes, self.segments, self.work, self.batch_size = tasks, sizes, segments, work, batch_size
        self._decisions: dict[int, pa.Table] = {}
        self._committing: _Commit | None = None  # the last unit's fsyncs and marker, on a thread

    def decisions(self, k: int) -> pa.Table:
        """Decisions of segment ``k``'s global stage (read once per process)."""
        if k not in self._decisions:
            self._decisions[k] = pq.read_table(Unit(self.work, f"decide{k}").path("decisions.parquet"))
        return self._decisions[k]

    def run(self, job: UnitJob, report: _Report) -> None:
        k = job.segment
        seg = self.segments[k]
        unit = Unit(self.work / f"seg{k}", job.name or unit_name(job.unit))
        unit.reset()
        t0, c0 = time.time(), time.process_time()
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        times = StageTimes()
        files: list = []
        if k == 0:
            source = self._ingest(job.files, report, times, files)
        else:
            prev = self.segments[k - 1].glob
            source = self._decided(Unit(self.work / f"seg{k - 1}", job.source or unit.name).path("docs.parquet"), self.decisions(k - 1), prev.key, job.rows)
        docs = _StreamingParquet(unit.path("docs.parquet"), seg.schema)
        ledger = _StreamingParquet(unit.path("ledger.parquet"), LEDGER_SCHEMA)
        keys = _StreamingParquet(unit.path("keys.parquet"), options=SCRATCH_PLAIN)
        keys_step = KeysStep(seg.glob, seg.schema) if seg.glob is not None else None
        counters: dict = {}
        try:
            self._fill(unit, source, report, seg, docs, ledger, keys, keys_step, counters, times)
            for w in (docs, ledger, keys):
                w.close()
        except BaseException:
            for w in (docs, ledger, keys):
                w.abort()
            raise
        # The unit's seconds go with its files (read at the assembly): a resumed run still counts
        # the units done before it was killed.
        meta = json.dumps({"counters": counters, "files": files, "seconds": times.wall, "cpu_seconds": times.cpu}, sort_keys=True)
        self.flush()  # at most one unit's commit in flight
        self._committing = _Commit(unit, (docs, ledger, keys), meta, f"unit:seg{k}/{unit.name}")
        _give_back_memory()
        # minflt: pages this unit faulted in (a unit's memory handed back and faulted in again by the next)
        timeline("unit", t0, c0, segment=k, unit=unit.name, size=job.size, minflt=resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)

    def flush(self) -> None:
        """Wait for the last unit's commit (its files durable, its marker written); re-raises its error."""
        committing, self._committing = self._committing, None
        if committing is not None:
            committing.wait()

    def _fill(self, unit, source, report, seg, docs, ledger, keys, keys_step, counters: dict, times: StageTimes) -> None:
        """Run a unit's batches through its segment into its partial files."""
        for n, (table, drops) in enumerate(source):
            if n:
                checkpoint(f"batch:{unit.dir.name}/{unit.name}/{n}")  # mid-unit: partial files exist, no marker
            text = table.column("text") if "text" in table.column_names else None
            report.count(table.num_rows + drops.num_rows, text.nbytes if text is not None else 0)
            ledger.write(drops)
            piece = seg.chain(0, table)
            merge_counters(counters, piece.counters)
            times.merge(StageTimes(piece.seconds, piece.cpu_seconds))
            ledger.write(piece.ledger)
            if piece.docs.num_rows == 0:
                continue
            docs.write(piece.docs)
            if keys_step is not None:
                watch = Stopwatch()
                keys.write(keys_step(piece.docs, piece.shared))
                watch.charge(times, seg.glob.key)

    def _ingest(self, indices, report: _Report, times: StageTimes, files: list) -> Iterator[tuple[pa.Table, pa.Table]]:
        """Ingest a unit's files; batches of several small files are joined up to ``batch_size``
        documents, so a map stage is not called once per one-line file."""
        docs: list[pa.RecordBatch] = []
        drops: list[pa.Table] = []
        rows = 0
        for i in indices:
            task = self.tasks[i]
            watch = Stopwatch()
            moved = 0  # of this file's planned size, reported so far
            for ib in ingest_file(task, self.batch_size):
                # Progress moves while a big file is read (its position in the raw file, batch by
                # batch), never past the planned size, so the pass still ends at exactly 100 %.
                step = min(ib.position, self.sizes[i]) - moved
                if step > 0:
                    report.advance(step)
                    moved += step
                if ib.ledger.num_rows:
                    drops.append(ib.ledger)
                    report.issues(task.source_id, task.shown, ib.ledger)
                if ib.info is not None:
                    files.append([task.source_id, task.file_index, asdict(ib.info)])
                if ib.documents.num_rows:
                    # Ingest gives DOCUMENT_SCHEMA batches; conforming each one-line file's batch
                    # cost 0.4 ms a file (a third of ingest for 100,000 small files).
                    b = ib.documents
                    docs.append(b if b.schema == DOCUMENT_SCHEMA else conform(b, DOCUMENT_SCHEMA).to_batches()[0])
                    rows += b.num_rows
                watch.charge(times, "ingest@1")
                if rows >= self.batch_size:
                    yield _joined(docs, DOCUMENT_SCHEMA), _joined(drops, LEDGER_SCHEMA)
                    docs, drops, rows = [], [], 0
                watch = Stopwatch()
            if self.sizes[i] > moved:
                report.advance(self.sizes[i] - moved)
        if docs or drops:
            yield _joined(docs, DOCUMENT_SCHEMA), _joined(drops, LEDGER_SCHEMA)

    @staticmethod
    def _decided(path: Path, decisions: pa.Table, stage_key: str, rows: tuple[int, int] | None) -> Iterator[tuple[pa.Table, pa.Table]]:
        for table in _read_parquet(path, rows=rows):
            yield apply_decisions(table, decisions, stage_key)


def timeline(what: str, t0: float, c0: float, clock=time.process_time, **facts) -> None:
    """With ``CORPUSMILL_TIMELINE=PATH``, one JSON line appended to PATH: this process, what it
    did (a unit, a decide, a set-up, the assembly), its wall start and end (epoch seconds) and
    the CPU seconds it took (``time.process_time`` since ``c0``). ``bench/e2e.py
    --worker-scaling`` reads it to show where a core idles; nothing is written otherwise."""
    path = os.environ.get("CORPUSMILL_TIMELINE")
    if path:
        rec = {"pid": os.getpid(), "what": what, "t0": round(t0, 3), "t1": round(time.time(), 3), "cpu": round(clock() - c0, 3), **facts}
        with open(path, "a", encoding="utf-8") as f:  # one short append per line: lines from several processes do not mix
            f.write(json.dumps(rec) + "\n")


def _born() -> float | None:
    """When this process was created (epoch seconds; Linux only): the timeline's ``start`` record
    then shows the interpreter's start and the imports before the run began."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return round(time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, ValueError, IndexError):
        return None


def _give_back_memory() -> None:
    """Hand what a unit freed back to the system (glibc's arenas, Arrow's mimalloc pool), so a
    process between units, or waiting at a segment's end, holds its models and not the last
    unit's high-water mark: the RSS summed over the processes counts both."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _drop_file_pages() -> int:
    """Let go of the pages of read-only file maps (shared libraries' code, mmapped dictionaries)
    this process touched so far; returns the bytes they held. Linux only; nothing elsewhere.

    RSS counts each file page a process touched once, in every process that touched it, though
    the page cache holds it once: the main process still held, at segment 2, the pages of what
    only the earlier segments ran (numba's LLVM, 68 MB, from compiling MinHash's kernels; the
    readers). ``MADV_DONTNEED`` on a map that is not writable and holds no anonymous page (no
    private copy of any of its pages) only drops the page table entries: the next access maps
    the same page of the file again (a minor fault, the page is cached), so what the segment
    uses comes back and the rest stays out. Maps with a private copy (relocated data) are left."""
    try:
        import ctypes

        madvise = ctypes.CDLL("libc.so.6", use_errno=True).madvise
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        with open("/proc/self/smaps", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except (OSError, AttributeError):
        return 0
    maps, cur = [], None
    for line in lines:
        head = line.split(None, 5)
        if "-" in head[0] and not head[0].endswith(":"):  # a map's first line: range, perms, offset, dev, inode, path
            path = head[5] if len(head) > 5 else ""
            lo, hi = (int(x, 16) for x in head[0].split("-"))
            ok = head[1][1] != "w" and path.startswith("/") and not path.endswith("(deleted)") and not path.startswith("/dev/")
            cur = {"lo": lo, "hi": hi, "ok": ok, "rss": 0, "anon": -1, "swap": -1}
            maps.append(cur)
        elif cur is not None and head[0] == "Rss:":
            cur["rss"] = int(head[1]) << 10
        elif cur is not None and head[0] == "Anonymous:":
            cur["anon"] = int(head[1])
        elif cur is not None and head[0] == "Swap:":
            cur["swap"] = int(head[1])
    dropped = 0
    for m in maps:
        # A private copy swapped out is counted under Swap, not Anonymous: MADV_DONTNEED would throw
        # it away and the next read would see the file's bytes. Only maps with no copy anywhere
        # (Private_Dirty is no test: it also counts a shared map's page-cache pages not yet written back).
        clean = m["anon"] == 0 and m["swap"] == 0
        if m["ok"] and clean and m["rss"] and madvise(m["lo"], m["hi"] - m["lo"], 4) == 0:  # 4: MADV_DONTNEED
            dropped += m["rss"]
    return dropped


def _joined(parts: list, schema: pa.Schema) -> pa.Table:
    """Record batches or tables of ``schema`` as one table."""
    if not parts:
        return schema.empty_table()
    if isinstance(parts[0], pa.RecordBatch):
        return pa.Table.from_batches(parts, schema=schema)
    return parts[0] if len(parts) == 1 else pa.concat_tables(parts)


# --------------------------------------------------------------------------- the pool

# Per-process state of a pool worker, set by the initializer (the pool's documented pattern: the
# runner, with the stages and their lazily loaded models, is inherited by fork, never pickled).
_worker: tuple[UnitRunner, object, object] | None = None


def _init_worker(runner: UnitRunner | None, queue, claimed, parent: int | None = None) -> None:
    global _worker
    _worker = (runner, queue, claimed)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    _die_with_parent(parent)


def _die_with_parent(parent: int | None) -> None:
    """Die with the main process (``parent``: its pid, taken before the fork): a killed run must
    leave no worker writing into its work directory.

    ``PR_SET_PDEATHSIG`` only covers a parent that dies *after* the call: one killed between
    the fork and this call (a window of milliseconds, longer on a loaded machine) left the
    worker running, adopted by init, with the units already queued for it — free to take units
    and reset their files while a resumed run writes the same ones. So: the call, then the
    parent checked once."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if parent is not None and os.getppid() != parent:
        os._exit(1)  # the main process is gone already: nothing this process does is wanted


def _claim(claimed, n: int) -> int | None:
    """The next job of the segment nobody took yet (a counter shared by every process of the pool)."""
    with claimed.get_lock():
        i = claimed.value
        if i >= n:
            return None
        claimed.value = i + 1
        return i


def _stop_claims(claimed) -> None:
    with claimed.get_lock():
        claimed.value = 1 << 62


def _run_claimed(runner: UnitRunner, claimed, jobs: list[UnitJob], report: _Report) -> None:
    """Run jobs of the list, each taken when this process is free, until none is left."""
    try:
        while (i := _claim(claimed, len(jobs))) is not None:
            runner.run(jobs[i], report)
        runner.flush()
    except BaseException:
        _stop_claims(claimed)  # the others finish their unit and stop: the run fails anyway
        with contextlib.suppress(BaseException):
            runner.flush()  # no commit of this process's outlives the failure it reports
        raise


def _run_in_worker(jobs: list[UnitJob]) -> None:
    runner, queue, claimed = _worker
    _run_claimed(runner, claimed, jobs, _Report(queue=queue))


class Pool:
    """``workers`` processes running units: the main process and ``workers - 1`` forked ones.

    Every process takes the next unit nobody took yet (biggest first) from a shared counter when
    it is free, so a segment ends when the last unit does, whoever runs it. The main process runs
    units too: it used to wait beside its workers holding the models every worker inherited (on
    the full corpus ~0.75 GB of RSS counted once more) while doing nothing but drain progress."""

    def __init__(self, workers: int, runner: UnitRunner, progress: Progress):
        self.runner, self.progress, self.workers = runner, progress, workers
        self.executor: ProcessPoolExecutor | None = None
        if workers > 1:
            ctx = multiprocessing.get_context("fork")
            self.queue = ctx.SimpleQueue()
            self.claimed = ctx.Value("q", 0)
            self.executor = ProcessPoolExecutor(workers - 1, mp_context=ctx, initializer=_init_worker, initargs=(runner, self.queue, self.claimed, os.getpid()))

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        if self.executor is not None:
            _stop_claims(self.claimed)  # on an error or Ctrl-C: workers stop after their current unit
            self.executor.shutdown(wait=True, cancel_futures=True)

    def run(self, jobs: list[UnitJob], meter, ahead=None) -> None:
        """Run ``jobs`` (taken in list order); their seconds are in their meta files.
        ``ahead``: what the main process does once the workers are forked, before it takes units
        (with one worker: nothing)."""
        if self.executor is None:
            report = _Report(meter, self.progress)
            try:
                for job in jobs:
                    self.runner.run(job, report)
            except BaseException:
                with contextlib.suppress(BaseException):
                    self.runner.flush()  # the error raised is the unit's, not its predecessor's commit's
                raise
            self.runner.flush()
            return
        if not jobs:
            return
        self.claimed.value = 0  # no worker is running: the previous segment's tasks have all returned
        t0, c0 = time.time(), time.process_time()
        futures = [self.executor.submit(_run_in_worker, jobs) for _ in range(self.workers - 1)]
        timeline("fork", t0, c0, segment=jobs[0].segment)
        try:
            if ahead is not None:
                ahead()
            _run_claimed(self.runner, self.claimed, jobs, _Report(meter, self.progress, drain=lambda: self._drain(meter)))
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                self._drain(meter)
                for f in done:
                    f.result()
        except BrokenProcessPool:
            raise OutputError(
                f"a worker process died while running units of segment {jobs[0].segment} "
                "(killed by the system — out of memory?); nothing incomplete was published: "
                "re-run with --resume (fewer --workers use less memory)"
            ) from None
        finally:
            self._drain(meter)

    def _drain(self, meter) -> None:
        while not self.queue.empty():
            kind, *args = self.queue.get()
            if kind == "count":
                meter.count(*args)
            elif kind == "advance":
                meter.advance(*args)
            else:
                self.progress.note_issues(*args)


class _Decider:
    """A process forked at the start of the run, before any model or unit's working set is in
    the main process, that runs the global stages' ``decide`` (:func:`_decide_in_decider`).

    What ``decide`` allocates (MinHash's band keys, pairs, signatures: hundreds of MB that the
    allocators keep mapped) stays out of the main process (on the 20 MB sample it stayed 0.5 GB
    larger for the rest of the run when it decided itself); and since a
    forked child's RSS counts every resident page it inherits, forking it while the main process
    is small (imports and plan, ~200 MB) keeps the decide's process small too — the main process
    can then load the last segment's models early (while segment 0's worker runs its units)
    without the decide's child inheriting them. It exits once the last global stage decided."""

    def __init__(self, runner: UnitRunner):
        ctx = multiprocessing.get_context("fork")
        self.stop = ctx.Value("b", 0)  # set when the run ends: a decide still following units gives up
        self.executor: ProcessPoolExecutor | None = ProcessPoolExecutor(
            1, mp_context=ctx, initializer=_init_worker, initargs=(runner, None, self.stop, os.getpid()))
        self.executor.submit(int)  # forks now (a fork pool starts its processes on the first submit)

    def warm(self, k: int) -> Future:
        """Set segment ``k``'s global stage up in the decider now (after what it was given
        before), not when its decide starts: see :func:`_setup_in_decider`."""
        return self.executor.submit(_setup_in_decider, k)

    def decide(self, k: int, names: list[str], follow: bool = False) -> Future:
        """``follow``: submitted before the segment's units run; the decide reads each unit's keys
        as soon as its ``.done`` marker exists, in ingest order (:func:`_decide_unit`)."""
        return self.executor.submit(_decide_in_decider, k, names, follow)

    def close(self) -> None:
        if self.executor is not None:
            self.stop.value = 1  # after a failure a following decide would wait for units nobody runs
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None


def _setup_in_decider(k: int) -> None:
    """Segment ``k``'s global stage set up in the decider ahead of its decide.

    The decider is forked before any model loads, so MinHash's ``setup()`` (numba's import and its
    cached kernels, ~1.2 CPU-s) ran when its decide started, beside segment 1's first units: on the
    20 MB sample at load 3-4 the keys then streamed in ~5 s late and the decide ended 6.3 s after
    the segment's last unit (2026-12-07, 20:14 UTC). The first one after segment 0 is submitted
    when the decider is forked, later ones right after the decide before them (:func:`execute`)."""
    t0, c0 = time.time(), time.process_time()
    _worker[0].segments[k].glob.ensure_setup()
    timeline("decider setup", t0, c0, segment=k)


def _decide_in_decider(k: int, names: list[str], follow: bool = False) -> None:
    runner = _worker[0]
    t0, c0 = time.time(), time.process_time()
    facts: dict = {}
    _decide_unit(runner.segments[k].glob, Unit(runner.work, f"decide{k}"), [Unit(runner.work / f"seg{k}", n) for n in names],
                 stop=_worker[2] if follow else None, facts=facts)
    after = time.process_time() - facts.get("cpu_at_last_unit", c0)  # CPU after the segment's last unit (all of it unless followed)
    _give_back_memory()  # the next global stage's decide starts from the models, not this one's peak
    timeline("decide", t0, c0, segment=k, follow=follow, cpu_after_units=round(after, 3), phases=getattr(runner.segments[k].glob, "timings", None) or None,
             **{key: v for key, v in facts.items() if key.endswith("_s")})


def _result(future: Future):
    try:
        return future.result()
    except BrokenProcessPool:
        raise OutputError(
            "the process deciding a global stage died (killed by the system — out of memory?); "
            "nothing incomplete was published: re-run with --resume"
        ) from None


# --------------------------------------------------------------------------- the run


def execute(plan: Plan, stages: list[Stage], staging: Path, progress: Progress, workdir: Path | None = None, check=None) -> Execution:
    """Run the plan; units already done in ``workdir`` (an interrupted run) are not redone.

    ``check``: the models' pin check (the runner's ``check_models``), run before any model
    loads: with several workers and more than one segment, in the main process once segment 0's
    workers are forked (beside their first units: it was ~1-2 CPU-s of imports with every
    other core idle), else before the first unit."""
    cfg = plan.config
    work = workdir or staging / ".work"
    work.mkdir(parents=True, exist_ok=True)
    tasks = file_tasks(plan)
    sizes = [f.size for sp in plan.sources for f in sp.files]
    units = plan_units(sizes)
    segments, schema = split_segments(stages)
    # Not capped by the ingest units: from segment 1 on a big file is cut into parts of at most
    # 8,192 rows, so one input file still gives the later segments (PII among them) every worker.
    workers = max(1, cfg.workers or default_workers())
    times = StageTimes()  # the main process's set-up; units and decides are read from their meta files
    runner = UnitRunner(tasks, sizes, segments, work, cfg.limits.batch_size)
    layouts: list[list[UnitJob]] = []  # each segment's units, in ingest order
    loaded = 0  # segments whose models the main process has set up (with workers > 1)
    warmed: set[int] = set()  # segments whose global stage the decider was asked to set up ahead
    timeline("start", time.time(), 0.0, born=_born())  # CPU seconds so far: imports, config, plan
    pending_check = [check] if check is not None else []

    def checked() -> None:
        """The models' pin check, once, before any model loads."""
        if pending_check:
            t0, c0 = time.time(), time.process_time()
            pending_check.pop()()
            timeline("check models", t0, c0)

    first = next((i for i, st in enumerate(stages) if isinstance(st, GlobalStage)), len(stages))
    if workers == 1 or len(segments) == 1 or any(type(st).artifacts is not Stage.artifacts for st in stages[: first + 1]):
        checked()  # segment 0 itself loads a pinned model (or nothing runs beside it): check first
    # Forked now, while the main process holds imports and the plan only (see _Decider).
    decider = _Decider(runner) if any(seg.glob is not None and not Unit(work, f"decide{k}").done for k, seg in enumerate(segments)) else None
    if workers > 1 and decider is not None:
        # The first global stage after segment 0 (MinHash) is set up in the decider at once: it
        # idles through segment 0 but for following its units (exact dedup's small keys, which it
        # catches up on), while queued after that decide the set-up ran beside segment 1's units
        # and held back the MinHash decide that the next segment waits for (20 MB, load 9-12:
        # its set-up ran 35 → 47 s, the segment's units from 36 s). Later ones: after the decide before them.
        first = next((j for j in range(1, len(segments)) if segments[j].glob is not None and not Unit(work, f"decide{j}").done), None)
        if first is not None:
            warmed.add(first)
            decider.warm(first)

    def ahead(k: int) -> None:
        """Once segment ``k``'s workers are forked: the next segment's models load in the main
        process while the workers run units, not at a barrier with the other cores idle; the pool
        forked next inherits them. Only the next one: loading every later segment's models beside
        segment 0 (PII and language ID, ~4.8 CPU-s at load 3) took longer than segment 0's units
        (~3.2 CPU-s), so the worker sat idle at the barrier and the main process ran no unit of
        it; the last segment's models now load beside segment 1 and the MinHash decide."""
        nonlocal loaded
        checked()
        loaded = _preload(segments, loaded, k + 2, times)

    try:
        for k, seg in enumerate(segments):
            tk0, ck0 = time.time(), time.process_time()
            if k:
                checked()  # a resumed run whose segment 0 was done forked no worker for it
            seg_dir = work / f"seg{k}"
            seg_dir.mkdir(exist_ok=True)
            if k == 0:
                seg_jobs = [UnitJob(0, u, tuple(files), unit_name(u), size=sum(sizes[i] for i in files)) for u, files in enumerate(units)]
            else:
                prev_dir = work / f"seg{k - 1}"
                seg_jobs = layout(k, layouts[k - 1], lambda name, d=prev_dir: _rows(Unit(d, name).path("docs.parquet")),
                                  lambda name, d=prev_dir: _text_bytes(Unit(d, name).path("docs.parquet")))
            layouts.append(seg_jobs)
            total = plan.total_bytes if k == 0 else sum(job.size for job in seg_jobs)
            name = "ingest" if k == 0 else f"stages {seg.name or segments[k - 1].glob.name}"
            meter = progress.meter(name, total=total, unit="B" if k == 0 else "doc")
            jobs = []
            for job in seg_jobs:
                if not Unit(seg_dir, job.name).done:
                    jobs.append(job)
                else:  # resumed: done before this process started
                    meter.advance(job.size)
            decided = Unit(work, f"decide{k}")
            # With several workers the global stage decides beside the segment's units (``follow``):
            # it reads each unit's keys once that unit is done, in ingest order, so what it does
            # while the keys stream in is off the barrier. With many units per process they run
            # in ingest order (the decide then never waits long for the next one); with few,
            # biggest first, where a big unit left last would hold the barrier.
            follow = workers > 1 and seg.glob is not None and not decided.done
            if workers > 1 and jobs:
                if not (follow and len(jobs) >= FOLLOW_UNITS_PER_WORKER * workers):
                    # Longest-processing-time first (by the deterministic estimate ``cost``): each
                    # segment ends in a barrier, so its last unit should be a small one. Only the
                    # order units *run* in changes; shards are cut in ingest order.
                    jobs.sort(key=lambda job: -(job.cost or job.size))
                loaded = _preload(segments, loaded, k + 1, times)
            if jobs:  # what only the earlier segments ran (their libraries' code) stops counting in RSS
                _drop_file_pages()
            # A pool per segment, forked when its first unit is handed out: its workers inherit
            # the models loaded by then, and give their memory back when the segment ends.
            decision = decider.decide(k, [job.name for job in seg_jobs], follow=True) if follow else None
            if workers > 1 and decider is not None:
                nxt = next((j for j in range(k + 1, len(segments)) if segments[j].glob is not None and not Unit(work, f"decide{j}").done), None)
                if nxt is not None and nxt not in warmed:
                    warmed.add(nxt)
                    decider.warm(nxt)  # errors surface in its decide (``ensure_setup`` again)
            timeline("prepare", tk0, ck0, segment=k)
            with Pool(max(1, min(workers, len(jobs))), runner, progress) as pool:
                pool.run(jobs, meter, ahead=(lambda k=k: ahead(k)) if k + 1 < len(segments) else None)
            meter.close()
            if seg.glob is not None:
                # A decide that followed the units may have finished (its marker written) before
                # the last unit did: its result is still collected — any error —
                # so the test is on the decision started, not only on the marker (a race seen in CI).
                if decision is not None or not decided.done:
                    t0, c0 = time.time(), time.process_time()
                    if decision is None:
                        decision = decider.decide(k, [job.name for job in seg_jobs])
                    if workers > 1:  # a resumed run: the next segment's models load while it decides
                        checked()  # before any later segment's model loads (a one-unit segment 0 forked no worker to run it beside)
                        loaded = _preload(segments, loaded, k + 2, times)
                    _result(decision)
                    timeline("wait for decide", t0, c0, segment=k)
                if not any(later.glob is not None for later in segments[k + 1 :]) and decider is not None:
                    t0, c0 = time.time(), time.process_time()
                    decider.close()
                    timeline("decider close", t0, c0)  # the last global stage decided: its process's memory goes back now
                checkpoint(f"decided:{seg.glob.key}")
    finally:
        if decider is not None:
            decider.close()
        if loaded:
            gc.unfreeze()  # the models stay loaded; only the collector sees them again

    execution = _assemble(plan, [[job.name for job in jobs] for jobs in layouts], work, schema, staging, times)
    execution.workers = max(1, min(workers, max(len(jobs) for jobs in layouts)))  # processes a segment could use
    return execution


def _preload(segments: list[Segment], loaded: int, upto: int, times: StageTimes) -> int:
    """Set up segments ``loaded … upto - 1`` in this process (:func:`preload`); returns ``upto``."""
    if upto > loaded:
        watch, w0, c0 = Stopwatch(), time.time(), time.process_time()
        preload(segments[loaded:upto])
        watch.charge(times, "setup")
        timeline("setup", w0, c0, segments=[loaded, upto])
    return max(loaded, upto)


def preload(segments: list[Segment]) -> None:
    """The segments' models, loaded once in this process before a pool forks its workers.

    The workers then share the models' pages copy-on-write (spaCy's weights, Kiwi's and MeCab's
    dictionaries, fastText) instead of each loading its own copy: the set-up's CPU is paid once,
    not once per worker, and a worker's private memory is what it reads and writes for its batch.
    The engine loads a segment's models just before its pool forks, the heavy ones (PII, language
    ID: ~3-4 CPU-s) beside the previous segment's units and the decide that follows them, so that
    time is not spent with every other core idle. ``gc.freeze`` moves everything alive now out of the
    collector's reach: a collection in a worker would otherwise write into the header of every
    object it scans and so copy the page that holds it (reference counts still copy the pages of
    objects a worker touches)."""
    for seg in segments:
        seg.chain.setup()
        if seg.glob is not None:
            seg.glob.ensure_setup()
    gc.collect()
    gc.freeze()


class _Stopped(Exception):
    """The run ended (failed) while a decide was still waiting for units."""


def _decide_unit(glob: GlobalStage, unit: Unit, inputs: list[Unit], stop=None, facts: dict | None = None) -> None:
    """A global stage's decisions on every unit's keys, into the ``decide`` unit (run in a forked
    child: :class:`_Decider`); its seconds (wall not counting the wait for units, and CPU) go to the
    unit's meta file, which the assembly reads (a resumed run keeps them).

    ``stop`` (a shared flag): the decide was started beside the segment's units (``follow``) and
    waits for each unit's ``.done`` marker before reading its keys — the keys reach ``decide``
    in the same order and the same chunks either way, so the decisions are the same bytes; what
    changes is that reading them (and whatever ``decide`` does as they stream in: MinHash's band
    keys spilled, its side file written) happens while the units still run, not after the
    segment's barrier with the other cores idle."""
    unit.reset()
    s0 = time.perf_counter()
    glob.ensure_setup()
    if facts is not None:
        facts["setup_s"] = round(time.perf_counter() - s0, 3)
    waited = 0.0

    def stream_keys() -> Iterator[pa.Table]:
        nonlocal waited
        for u in inputs:  # units hold consecutive files: their keys, read in turn, are in ingest order
            if stop is not None and not u.done:
                w0 = time.perf_counter()
                while not u.done:
                    if stop.value:
                        raise _Stopped(f"stopped waiting for unit {u.name}")
                    time.sleep(0.02)
                waited += time.perf_counter() - w0
            yield from _read_parquet(u.path("keys.parquet"), 65536)
        if facts is not None:  # the segment's last unit was done: what the decide did after it is the serial part
            facts["cpu_at_last_unit"] = time.process_time()

    # The decider's process time: its side-file writer and grouping threads work for the decide
    # (nothing else runs in it meanwhile); the polls for markers sleep, so subtract nothing.
    watch = Stopwatch(time.process_time)
    decided = glob.decide(rechunk(stream_keys()))
    times = StageTimes({glob.key: time.perf_counter() - watch.wall - waited}, {glob.key: time.process_time() - watch.cpu})
    w0 = time.perf_counter()
    out = _StreamingParquet(unit.path("decisions.parquet"), decided.schema)
    out.write(decided)
    out.commit()
    write_text_atomic(unit.path("meta.json"), json.dumps({"seconds": times.wall, "cpu_seconds": times.cpu}, sort_keys=True))
    unit.mark_done()
    if facts is not None:
        facts["waited_s"], facts["write_s"] = round(waited, 3), round(time.perf_counter() - w0, 3)


def _assemble(plan: Plan, layouts: list[list[str]], work: Path, schema: pa.Schema, staging: Path, times: StageTimes) -> Execution:
    """The units' ledgers, file facts and counters, and the last segment's documents (in ingest
    order) into shards, through the execution core's assembler. ``layouts``: each segment's unit
    names in ingest order.

    Each segment's ledger is one stream of the assembler's merge (a segment's units hold
    consecutive, disjoint ranges of ``order``, in layout order), read a unit at a time, and the
    documents are read a batch at a time as the merge needs their rows, each stream by
    :func:`read_ahead` on a thread: the main process holds at most four of a segment's unit ledgers
    (two queued, one being read, one merged) and four batches of documents, not the run's."""
    # Process time: the assembly's reader and writer threads are its work, and by now no other
    # thread of this process runs (the last unit's commit was waited for, the decider is apart).
    watch, w0, c0 = Stopwatch(time.process_time), time.time(), time.process_time()
    times = StageTimes(dict(times.wall), dict(times.cpu))
    asm = Assembler.for_plan(plan, schema, staging)
    for k, names in enumerate(layouts):
        for name in names:
            meta = Unit(work / f"seg{k}", name).meta()
            asm.add_facts([(s, i, FileInfo(**info)) for s, i, info in meta["files"]], meta["counters"])
            times.merge(_meta_times(meta))
        decide = Unit(work, f"decide{k}")
        if decide.path("meta.json").exists():  # a decide of an earlier version (resumed) wrote none
            times.merge(_meta_times(decide.meta()))
        asm.add_ledger_stream(read_ahead(_unit_ledgers(work / f"seg{k}", names)))
    last = work / f"seg{len(layouts) - 1}"
    # Read on threads ahead of the merge (the units' ledgers, the kept documents: 0.37 of the
    # assembly's 0.73 CPU-s on the 20 MB sample), beside the ledger's and the shards' writes.
    execution = asm.finish(kept=read_ahead(table for name in layouts[-1] for table in _read_parquet(last / f"{name}.docs.parquet")))
    watch.charge(times, "shards")
    execution.seconds, execution.cpu_seconds = times.wall, times.cpu
    timeline("assembly", w0, c0)
    return execution


def _meta_times(meta: dict) -> StageTimes:
    """A unit's or decide's seconds from its meta file (none in one written before they were kept)."""
    return StageTimes(meta.get("seconds", {}), meta.get("cpu_seconds", {}))


def _unit_ledgers(seg_dir: Path, names: list[str]) -> Iterator[pa.Table]:
    """A segment's ledger rows, unit by unit in ingest order, each unit's sorted (stably) by ``order``."""
    for name in names:
        path = Unit(seg_dir, name).path("ledger.parquet")
        if path.exists():
            table = pq.read_table(path)
            if table.num_rows:
                yield table.sort_by([("order", "ascending")])
