"""Ray engine: the steps of :mod:`pipelines.distributed` on Ray Data. Wiring only.

* ingest: one Ray Data task per input file (our readers), fused with the first map chain;
* map chains: ``map_batches`` with a callable class on an actor pool (``ray.actors`` in the
  config), so each actor sets the models up once;
* global stages: documents are materialised in the object store, keys are computed by tasks
  and streamed to the driver for ``decide``; decisions go back out as a task argument. A stage
  with its own shuffle (MinHash band keys) has it run as ``groupby("partition").map_groups``
  and gets the reduced tables as ``decide(keys, grouped=...)``;
* the driver receives the stream in ingest order (``preserve_order``) and cuts the shards.

Everything travels as :class:`~pipelines.distributed.Envelope` tables, so ledger rows, file facts
and counters ride with the documents and survive task retries exactly once.

Cluster: ``ray.address`` in the config, else ``$RAY_ADDRESS`` (``auto``, ``host:port`` or
``ray://host:10001``); without either a local cluster is started (``ray.num_cpus``,
``ray.object_store_mb``) and shut down at the end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusmill_base.errors import ConfigError, CorpusmillError
from filters.base import Stage
from filters.ingest import FileTask
from pipelines.config import PipelineConfig, RayOptions
from pipelines.distributed import Envelope, IngestStep, Shuffle, set_up
from pipelines.execution import DecisionStep, Execution, KeysStep, MapChain, keys_in_order
from pipelines.plan import Plan
from pipelines.progress import Progress

log = logging.getLogger("corpusmill")


def execute(plan: Plan, stages: list[Stage], staging: Path, progress: Progress, workdir: Path | None = None) -> Execution:
    """Same contract as :func:`pipelines.engine_local.execute`; ``workdir`` is unused (no resume:
    Ray recovers lost work itself, by task retries and lineage reconstruction)."""
    import ray

    cfg = plan.config
    started = connect(cfg.ray)
    try:
        return _execute(plan, stages, staging, progress)
    except Exception as e:
        ours = worker_error(e)
        if ours is None:
            raise
        raise ours from None  # the worker's own error, as the local engine raises it: one line at the CLI
    finally:
        if started:
            ray.shutdown()


def _execute(plan: Plan, stages: list[Stage], staging: Path, progress: Progress) -> Execution:
    import ray

    cfg = plan.config
    run = set_up(plan, stages, staging)
    envelope, asm, tasks = run.envelope, run.assembler, run.tasks
    if not tasks:
        return asm.finish()
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # the driver cuts shards in ingest order
    ctx.enable_progress_bars = False
    if not log.isEnabledFor(logging.DEBUG):
        # Without -v, a task's failure reaches the CLI as an exception (ours as one line, any other
        # with its worker's traceback); Ray Data also logged it twice at ERROR, with ~150 lines of
        # its own tracebacks (its warnings are already off: RAY_DATA_LOG_LEVEL, pipelines.progress).
        # Only its console handler: its session file (`ray-data.log`) keeps every record, Ray's
        # internal tracebacks included (review, session 13: the logger's level hid them from both).
        for handler in logging.getLogger("ray.data").handlers:
            if type(handler).__name__ != "SessionFileHandler" and not isinstance(handler, logging.FileHandler):
                handler.setLevel(logging.CRITICAL)
    # The band shuffle as a sort-based shuffle: on 2 CPUs it grouped 8 M shuffle rows in 4.7 s,
    # the default hash shuffle (aggregator actors, zstd-compressed blocks) in 20–25 s.
    ctx.shuffle_strategy = ray.data.context.ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    # Start with the configured pool; shrink to one actor if nodes are lost rather than wait.
    pool = ray.data.ActorPoolStrategy(min_size=1, max_size=cfg.ray.actors, initial_size=cfg.ray.actors)

    ds: ray.data.Dataset = ray.data.from_items([{"task": i} for i in range(len(tasks))], override_num_blocks=len(tasks))
    # Functions get their arguments bound with partial (what map_batches' fn_kwargs does too:
    # a closure shipped with the task); a partial is a one-argument callable to the type checker.
    ingest = partial(_ingest, tasks=tasks, step=IngestStep(cfg.limits.batch_size), envelope=envelope)
    ds = ds.map_batches(ingest, batch_size=1, batch_format="pyarrow")
    for seg in run.segments:
        if seg.chain.stages:
            ds = ds.map_batches(
                _ChainActor, batch_size=None, batch_format="pyarrow", compute=pool,
                fn_constructor_kwargs={"chain": seg.chain, "envelope": envelope},
            )
        if seg.glob is None:
            continue
        ds = ds.materialize()  # read twice: keys now, decisions after
        keys = ds.map_batches(  # tasks: key functions are light, no actor start-up
            partial(_keys, step=KeysStep(seg.glob, seg.schema), envelope=envelope), batch_size=None, batch_format="pyarrow",
        )
        t0, c0 = time.perf_counter(), time.process_time()
        shuffle = Shuffle.of(seg.glob)
        cpu = _KeysCpu()
        if shuffle is None:
            decisions = seg.glob.decide(keys_in_order(cpu.take(t) for t in _stream(keys)))
        else:
            keys = keys.materialize()  # read twice: shuffle rows, then the driver's keys
            t1 = time.perf_counter()
            grouped = run_shuffle(keys, shuffle)
            asm.seconds[f"{seg.glob.key} shuffle"] = time.perf_counter() - t1  # also inside the stage's total
            # The driver maps the key blocks from the object store and ignores the shuffle-only
            # columns; dropping them on workers first would copy every other column (text,
            # signatures) into new blocks. On a multi-node cluster they cross the network.
            decisions = seg.glob.decide(keys_in_order(shuffle.driver_keys(cpu.take(t)) for t in _stream(keys)), grouped=grouped)
        del keys  # let Ray free the key blocks before the next step
        asm.seconds[seg.glob.key] = asm.seconds.get(seg.glob.key, 0.0) + time.perf_counter() - t0  # keys + decide
        # CPU: the key tasks' own (each task's thread) and the driver's (the decide, and its
        # share of running the shuffle); the shuffle's rows and reduce tasks are not counted.
        asm.cpu_seconds[seg.glob.key] = asm.cpu_seconds.get(seg.glob.key, 0.0) + cpu.seconds + time.process_time() - c0
        ds = ds.map_batches(
            partial(_apply, step=DecisionStep(seg.glob.key, decisions, seg.schema), envelope=envelope),
            batch_size=None, batch_format="pyarrow",
        )
    bar = progress.bar("ray", total=plan.total_bytes, unit="B")
    for table in _stream(ds):
        for piece in envelope.unpack(table):
            asm.add(piece, progress)
            asm.add_kept(piece.docs)
            bar.update(sum(info.bytes for _, _, info in piece.files))
    bar.close()
    return asm.finish()


def _without_retry_note(e: CorpusmillError) -> CorpusmillError:
    """The error's message without the lines Ray Data appends to it on the worker ("Failed to apply
    UDF transform after 1/1 attempts … configure `ray.data.DataContext…`")."""
    if e.args and isinstance(e.args[0], str):
        cut = e.args[0].find("\nFailed to ")
        if cut >= 0 and " attempts (total backoff " in e.args[0][cut:]:
            e.args = (e.args[0][:cut], *e.args[1:])
    return e


def worker_error(e: BaseException) -> CorpusmillError | None:
    """The corpusmill error (``InputError``, ``ConfigError`` …) a task or actor raised, out of
    Ray's wrappers: Ray Data raises a UDF's error as ``UserCodeException`` (its ``__cause__`` the
    error), and Ray hands a task's error to the driver as ``RayTaskError`` (``.cause``), a class
    that also derives from the error's own but whose message is the worker's whole traceback.
    None when the failure is not one of ours (a bug, a lost node: Ray's own message stands)."""
    from ray.exceptions import RayError

    seen: set[int] = set()
    todo: list[BaseException | None] = [e]
    while todo:
        x = todo.pop(0)
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, CorpusmillError) and not isinstance(x, RayError):
            return _without_retry_note(x)
        if not isinstance(x, RayError):
            # Not a Ray wrapper: a bug raised while one of our errors was handled (in a finally, or
            # `raise … from None`) keeps its own traceback (review, session 13)
            continue
        todo += [getattr(x, "cause", None), x.__cause__, None if x.__suppress_context__ else x.__context__]
    return None


@contextlib.contextmanager
def _quiet_native_stderr():
    """Without -v (pipelines.progress sets RAY_BACKEND_LOG_LEVEL=fatal), the driver's C++ core
    worker prints one line while it starts — "[… I …] logging.cc:303: Set ray log level from
    environment variable RAY_BACKEND_LOG_LEVEL to 3" — straight to file descriptor 2, past Python's
    logging. Only during ``ray.init``: failures still raise, and our own log lines come after."""
    if os.environ.get("RAY_BACKEND_LOG_LEVEL") != "fatal":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


#: Ray's smallest object store (``ray._private.ray_constants.OBJECT_STORE_MINIMUM_MEMORY_BYTES``).
OBJECT_STORE_MIN_MB = 75


def check_options(cfg: PipelineConfig) -> None:
    """What Ray would refuse only once the run starts, refused by ``run --dry-run`` too (without
    importing Ray): a local cluster's object store below Ray's minimum was a ``ValueError`` traceback."""
    opts = cfg.ray
    if not (opts.address or os.environ.get("RAY_ADDRESS")) and opts.object_store_mb < OBJECT_STORE_MIN_MB:
        raise ConfigError(f"ray.object_store_mb: {opts.object_store_mb} MB is below the smallest object store Ray starts "
                          f"({OBJECT_STORE_MIN_MB} MB)")


def connect(opts: RayOptions) -> bool:
    """Join the configured cluster or start a local one; True when this call started Ray."""
    import ray

    if ray.is_initialized():
        return False
    address = opts.address or os.environ.get("RAY_ADDRESS")
    if address:
        problem = _unreachable(address)
        if problem:  # ray.init would wait for it for minutes, silently (its stderr is off: _quiet_native_stderr)
            raise ConfigError(f"ray: cannot join the cluster at {address!r} (ray.address, else $RAY_ADDRESS): {problem}")
        runtime_env = None
        if address.startswith("ray://"):
            import filters
            import manifests
            import pipelines

            # A laptop driving a remote cluster ships its checkout's code; the cluster image has
            # the pinned dependencies. A driver on a cluster node uses the code of the image.
            runtime_env = {"py_modules": [m.__path__[0] for m in (filters, pipelines, manifests)]}  # the package folders
        try:
            with _quiet_native_stderr():
                ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        except (ConnectionError, TimeoutError, ValueError) as e:  # e.g. `auto` with no cluster on this machine
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise ConfigError(f"ray: cannot join the cluster at {address!r} (ray.address, else $RAY_ADDRESS): {first}") from None
        log.info("ray: joined cluster at %s (%s CPUs)", address, ray.cluster_resources().get("CPU", 0))
    else:
        with _quiet_native_stderr():
            ray.init(  # "local": a new cluster, never a stray one found on the machine
                address="local", num_cpus=opts.num_cpus, include_dashboard=False,
                object_store_memory=opts.object_store_mb << 20, log_to_driver=False,
            )
    return True


def _unreachable(address: str, timeout: float = 10.0) -> str | None:
    """Why nothing answers at a ``host:port`` or ``ray://host:port`` address (None when a TCP
    connection opens, or for ``auto``, which Ray resolves itself). ``ray.init`` on a wrong port
    waited over 200 s without a word (2026-12-08); a refused or unanswered connection is known
    here in at most ``timeout`` seconds."""
    if "://" in address and not address.startswith("ray://"):
        return None  # another client scheme (anyscale://…), or http:// (Ray's own error names the GCS address)
    if any(os.environ.get(v) for v in ("grpc_proxy", "https_proxy", "HTTPS_PROXY")) and address.startswith("ray://"):
        return None  # a client through a proxy: a direct connection may be firewalled where the proxy is not
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host:
        return None
    if not port.isdigit():
        return f"{port!r} is not a port number"
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return None
    except socket.gaierror as e:
        return f"cannot resolve host {host} ({e.strerror or type(e).__name__})"
    except OSError as e:
        return f"nothing answers at {host}:{port} ({e.strerror or str(e) or type(e).__name__})"


def run_shuffle(keys, shuffle: Shuffle) -> list[pa.Table]:
    """The stage's shuffle on Ray: rows by tasks, ``groupby(partition).map_groups(reduce)``; the
    reduced tables (candidate pairs, small) come back to the driver."""
    import ray

    parts = []
    if keys.count():  # no documents reached the stage: nothing of this run to shuffle
        parts.append(keys.map_batches(partial(_shuffle_rows, shuffle=shuffle), batch_size=None, batch_format="pyarrow"))
    outside = shuffle.outside()
    if outside is not None:
        parts.append(ray.data.from_arrow(outside))
    if not parts:
        return []
    rows = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    # As many shuffle partitions as CPUs (Ray's default is 200 reducers).
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    reduced = rows.groupby("partition", num_partitions=cpus).map_groups(partial(_reduce, shuffle=shuffle), batch_format="pyarrow")
    grouped = list(_stream(reduced))
    log.info("ray: %s shuffle ran on the cluster: %d reduced rows", shuffle.stage.key, sum(t.num_rows for t in grouped))
    return grouped


def _stream(ds: Any) -> Iterator[pa.Table]:
    return ds.iter_batches(batch_format="pyarrow", batch_size=None)


def _ingest(batch: pa.Table, tasks: list[FileTask], step: IngestStep, envelope: Envelope) -> Iterator[pa.Table]:
    for i in batch.column("task").to_pylist():
        for piece in step(tasks[i]):
            yield envelope.pack(piece)


class _ChainActor:
    def __init__(self, chain: MapChain, envelope: Envelope):
        self.chain, self.envelope = chain, envelope
        chain.setup()

    def __call__(self, table: pa.Table) -> pa.Table:
        return self.envelope.apply(table, self.chain)


#: A key table's column with the CPU seconds of the task that made it (in its first row, 0 in
#: the others: a sum that survives Ray slicing or joining blocks); the driver takes it off before
#: the keys reach the shuffle or ``decide``.
CPU_COLUMN = "_corpusmill_cpu_s"


def _keys(table: pa.Table, step: KeysStep, envelope: Envelope) -> pa.Table:
    step.setup()  # models: once per worker process, not a batch's work
    c0 = time.thread_time()
    keys = step(envelope.live_docs(table))
    if keys is None:
        return pa.table({"order": pa.array([], pa.int64())})
    cpu = np.zeros(keys.num_rows)
    cpu[0] = time.thread_time() - c0
    return keys.append_column(CPU_COLUMN, pa.array(cpu))


class _KeysCpu:
    """The driver's side of :data:`CPU_COLUMN`: sums it and hands the keys on without it."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def take(self, keys: pa.Table) -> pa.Table:
        if CPU_COLUMN not in keys.column_names:
            return keys
        self.seconds += pc.sum(keys.column(CPU_COLUMN)).as_py() or 0.0
        return keys.drop_columns([CPU_COLUMN])


def _apply(table: pa.Table, step: DecisionStep, envelope: Envelope) -> pa.Table:
    return envelope.apply(table, step)


def _shuffle_rows(table: pa.Table, shuffle: Shuffle) -> Iterator[pa.Table]:
    if table.num_rows:  # a block without live documents has no keys
        yield shuffle.rows(table.drop_columns([c for c in (CPU_COLUMN,) if c in table.column_names]))


def _reduce(rows: pa.Table, shuffle: Shuffle) -> pa.Table:
    return shuffle.reduce(rows)
