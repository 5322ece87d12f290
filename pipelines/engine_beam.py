"""Beam engine: the steps of :mod:`pipelines.distributed` as PTransforms. Wiring only.

One Beam pipeline per *segment* (the stages up to and including a global stage), like the local
engine's segments:

* ``Ingest`` (first segment) or ``ReadUnit`` + ``ApplyDecisions`` (later ones): documents as
  ``(file key, Arrow table)`` elements, ledger rows and file facts on tagged side outputs;
* ``MapChain``: a batched DoFn over Arrow tables; ``DoFn.setup`` sets the models up once per
  worker; dropped documents go to the ``ledger`` side output;
* ``Keys`` of the segment's global stage on a side output; a stage with its own shuffle (MinHash
  band keys) also emits ``(partition, rows)``, grouped by ``GroupByKey`` and reduced per
  partition (``<partition>.reduced.parquet``, handed to ``decide(keys, grouped=...)``);
* ``GroupByKey`` on the input file, and one unit file per input file written to the temp
  location (deterministic names, so a retried bundle rewrites the same file).

Between segments the driver reads the keys, lets the stage ``decide`` (stage state such as the
MinHash signature index stays on the driver) and passes the decisions to the next pipeline. At
the end the driver walks the units in file order and cuts the shards.

Runner: ``beam.runner`` in the config — ``FnApiRunner`` (in process, the default here; Beam's
``DirectRunner`` would try to download the Prism runner) or any runner name with
``beam.pipeline_args`` (``--flink_master=…``, ``--project=… --region=… --temp_location=gs://…``).
On a cluster ``beam.temp_location`` must be storage every worker and the driver can reach.
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam import pvalue
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from corpusmill_base import arrowio
from corpusmill_base.errors import ConfigError
from filters.base import Stage
from pipelines.distributed import Envelope, IngestStep, Shuffle, set_up
from pipelines.execution import (
    DecisionStep,
    Execution,
    KeysStep,
    Piece,
    keys_in_order,
    merge_counters,
    merge_seconds,
)
from pipelines.config import PipelineConfig
from pipelines.plan import Plan
from pipelines.progress import Progress

LEDGER, FILES, KEYS, SHUFFLE = "ledger", "files", "keys", "shuffle"
_NO_DOCS = pa.table({})  # a facts-only piece's documents (never read)

log = logging.getLogger("corpusmill")


def check_options(cfg: PipelineConfig) -> None:
    """A runner Beam cannot create, or a pipeline option no Beam options class knows, refused
    before any work (``run --dry-run`` too): the first was a ``ValueError`` / ``ImportError``
    traceback once the run had started; the second Beam drops with a log line the CLI does not
    show, so a misspelt ``--job_endpoint`` ran somewhere else than meant."""
    opts = cfg.beam
    if opts.runner != "FnApiRunner":
        from apache_beam.runners.runner import create_runner

        try:
            create_runner(opts.runner)
        except (ValueError, ImportError, AttributeError) as e:  # AttributeError: a misspelt dotted path
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise ConfigError(f"beam.runner: {opts.runner!r} is not a runner this Beam can create ({first})") from None
    options = PipelineOptions(list(opts.pipeline_args))
    given = options.get_all_options(retain_unknown_options=True)
    if given.get("runner") and str(given["runner"]) != opts.runner:
        # beam.runner is passed to the pipeline explicitly: a --runner here was ignored without a word
        raise ConfigError(f"beam.pipeline_args: --runner={given['runner']} is ignored; set beam.runner instead (it is {opts.runner!r})")
    unknown = sorted(set(given) - set(options.get_all_options()))
    if not unknown:
        return
    shown = ", ".join("--" + u for u in unknown)
    if opts.runner in _IN_PROCESS_RUNNERS:
        raise ConfigError(f"beam.pipeline_args: Beam knows no option {shown} (the in-process runner {opts.runner} would drop it)")
    # Flink/Spark uber jars, Prism and Dataflow pass options the Python SDK does not know on to the
    # runner's own (Java) side (--checkpointingInterval, --numWorkers …): not refused (review, session 13)
    log.warning("beam.pipeline_args: %s unknown to the Python SDK; passed on to %s as given", shown, opts.runner)


#: Runners that run the pipeline in this process and drop an option no Python options class knows.
_IN_PROCESS_RUNNERS = ("FnApiRunner", "DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner")


def execute(plan: Plan, stages: list[Stage], staging: Path, progress: Progress, workdir: Path | None = None) -> Execution:
    """Same contract as :func:`pipelines.engine_local.execute` (no resume: the runner retries)."""
    cfg = plan.config
    run = set_up(plan, stages, staging)
    envelope, asm, tasks = run.envelope, run.assembler, run.tasks
    if not tasks:
        return asm.finish()
    # A directory of this run only: the configured temp location may be shared by many runs.
    temp = FileSystems.join(cfg.beam.temp_location, staging.name) if cfg.beam.temp_location else str((workdir or staging / ".work") / "beam")
    decisions = None
    units: list[str] = []
    for k, seg in enumerate(run.segments):
        out_dir = FileSystems.join(temp, f"seg{k}")
        glob = seg.glob
        shuffle = Shuffle.of(glob) if glob is not None else None
        chains = [seg.chain] if seg.chain.stages else []
        try:
            _run_segment(cfg.beam, tasks, cfg.limits.batch_size, units, decisions, chains, seg, shuffle, envelope, out_dir)
        except BaseException as e:
            original = step_error(e)
            if original is e:
                raise
            raise original from None
        units = _glob(out_dir, "*.unit.parquet")
        for path in units:
            for piece in envelope.unpack(_read(path)):
                asm.add(piece, progress)
                if glob is None:
                    asm.add_kept(piece.docs)
        if glob is not None:
            key_paths = _glob(out_dir, "*.keys.parquet")
            t0, c0 = time.perf_counter(), time.process_time()
            keys = keys_in_order(_read(p) for p in key_paths)
            if shuffle is None:
                decided = glob.decide(keys)
            else:  # the runner grouped the stage's shuffle rows: one reduced table per partition
                grouped = [_read(p) for p in _glob(out_dir, "*.reduced.parquet")]
                log.info("beam: %s shuffle ran on the runner: %d partitions, %d reduced rows", glob.key, len(grouped), sum(t.num_rows for t in grouped))
                decided = glob.decide(keys, grouped=grouped)
            decisions = (glob.key, seg.schema, decided)
            asm.seconds[glob.key] = asm.seconds.get(glob.key, 0.0) + time.perf_counter() - t0
            asm.cpu_seconds[glob.key] = asm.cpu_seconds.get(glob.key, 0.0) + time.process_time() - c0  # + the keys' (units)
    FileSystems.delete([temp])
    return asm.finish()


def step_error(e: BaseException) -> BaseException:
    """The error a step raised, as it was raised. Beam re-raises a DoFn's error as a new one of the
    same type with " [while running 'Step']" appended, or — where the type takes no such message
    (``KeyboardInterrupt()``, ``OSError(errno, strerror)``) — as a ``RuntimeError`` naming it: Ctrl-C
    ended a run with a traceback (exit 1, not "interrupted", 130) and a full disk was no longer an
    ``OSError`` the runner and the CLI report in one line. The original is the new one's context."""
    while getattr(e, "_tagged_with_step", False) and e.__context__ is not None:
        e = e.__context__
    return e


def _glob(out_dir: str, pattern: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([FileSystems.join(out_dir, pattern)])[0].metadata_list)


def _run_segment(opts, tasks, batch_size, units, decisions, chains, seg, shuffle, envelope, out_dir) -> None:
    options = PipelineOptions(list(opts.pipeline_args))
    if opts.runner == "FnApiRunner":
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        pipeline = beam.Pipeline(runner=FnApiRunner(), options=options)
    else:
        pipeline = beam.Pipeline(runner=opts.runner, options=options)
    with pipeline as p:
        if decisions is None:
            first = (
                p
                | "FileTasks" >> beam.Create(list(range(len(tasks))))
                | "Ingest" >> beam.ParDo(_Ingest(tasks, batch_size)).with_outputs(LEDGER, FILES, main="docs")
            )
        else:
            stage_key, schema_in, table = decisions
            first = (
                p
                | "Units" >> beam.Create(units)
                | "ReadUnit" >> beam.ParDo(_ReadUnit(envelope))
                | "ApplyDecisions" >> beam.ParDo(_Step(DecisionStep(stage_key, table, schema_in))).with_outputs(LEDGER, FILES, main="docs")
            )
        docs = first.docs
        side = [first[LEDGER], first[FILES]]
        for i, chain in enumerate(chains):
            r = docs | f"MapChain{i}" >> beam.ParDo(_Step(chain)).with_outputs(LEDGER, FILES, main="docs")
            docs = r.docs
            side += [r[LEDGER], r[FILES]]
        tagged = [docs | "TagDocs" >> beam.Map(lambda kv: (kv[0], ("docs", kv[1]))), *side]
        if seg.glob is not None:
            keyed = docs | "Keys" >> beam.ParDo(_Keys(KeysStep(seg.glob, seg.schema), shuffle)).with_outputs(SHUFFLE, main=KEYS)
            tagged.append(keyed[KEYS])
            if shuffle is not None:
                rows = [keyed[SHUFFLE]]
                outside = shuffle.outside()
                if outside is not None:
                    rows.append(p | "OutsideRows" >> beam.Create(list(Shuffle.by_partition(outside))))
                (
                    rows
                    | "ShuffleRows" >> beam.Flatten()
                    | "ByPartition" >> beam.GroupByKey()
                    | "Reduce" >> beam.ParDo(_Reduce(shuffle, out_dir))
                )
        (
            tagged
            | "Flatten" >> beam.Flatten()
            | "ByInputFile" >> beam.GroupByKey()
            | "WriteUnit" >> beam.ParDo(_WriteUnit(envelope, out_dir))
        )


def _read(path: str) -> pa.Table:
    with FileSystems.open(path) as f:
        return arrowio.read_parquet(f.read())


def _write(path: str, table: pa.Table) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    with FileSystems.create(path) as f:
        f.write(buf.getvalue())


def _side_outputs(piece: Piece):
    """A piece as Beam outputs: documents on the main output, the rest tagged by kind."""
    yield (piece.key, piece.docs)
    if piece.ledger.num_rows:
        yield pvalue.TaggedOutput(LEDGER, (piece.key, (LEDGER, piece.ledger)))
    if piece.files or piece.counters or piece.seconds or piece.cpu_seconds:
        facts = Piece(piece.key, piece.docs.schema.empty_table(), files=piece.files, counters=piece.counters, seconds=piece.seconds,
                      cpu_seconds=piece.cpu_seconds)
        yield pvalue.TaggedOutput(FILES, (piece.key, (FILES, facts)))


class _Ingest(beam.DoFn):
    def __init__(self, tasks, batch_size: int):
        self.tasks, self.step = tasks, IngestStep(batch_size)

    def process(self, index):
        for piece in self.step(self.tasks[index]):
            yield from _side_outputs(piece)


class _Step(beam.DoFn):
    """A MapChain or a DecisionStep on one ``(file key, documents)`` element."""

    def __init__(self, step):
        self.step = step

    def setup(self):
        if hasattr(self.step, "setup"):
            self.step.setup()

    def process(self, element):
        key, docs = element
        yield from _side_outputs(self.step(key, docs))


class _Keys(beam.DoFn):
    """Keys of one file's documents; with the stage's shuffle, its rows on the ``shuffle`` output
    as ``(partition, rows)`` and the keys without what only the shuffle reads."""

    def __init__(self, step: KeysStep, shuffle: Shuffle | None):
        self.step, self.shuffle = step, shuffle

    def setup(self):
        self.step.setup()

    def process(self, element):
        key, docs = element
        c0 = time.thread_time()
        keys = self.step(docs)
        if keys is None:
            return
        parts = []
        if self.shuffle is not None:
            parts = list(Shuffle.by_partition(self.shuffle.rows(keys)))
            keys = self.shuffle.driver_keys(keys)
        # This thread's CPU for the keys and shuffle rows, before a yield runs the fused steps after it.
        cpu = time.thread_time() - c0
        for partition, rows in parts:
            yield pvalue.TaggedOutput(SHUFFLE, (partition, rows))
        yield (key, (KEYS, keys))
        yield (key, (FILES, Piece(key, _NO_DOCS, cpu_seconds={self.step.stage.key: cpu})))


class _Reduce(beam.DoFn):
    """All shuffle rows of one partition → ``<partition>.reduced.parquet`` for the driver's decide."""

    def __init__(self, shuffle: Shuffle, out_dir: str):
        self.shuffle, self.out_dir = shuffle, out_dir

    def process(self, element):
        partition, tables = element
        reduced = self.shuffle.reduce(pa.concat_tables(list(tables)))
        _write(FileSystems.join(self.out_dir, f"{partition:05d}.reduced.parquet"), reduced)


class _ReadUnit(beam.DoFn):
    """The documents of one unit written by the previous segment."""

    def __init__(self, envelope: Envelope):
        self.envelope = envelope

    def process(self, path):
        for piece in self.envelope.unpack(_read(path)):
            yield (piece.key, piece.docs)


class _WriteUnit(beam.DoFn):
    """Everything of one input file in this segment → ``<key>.unit.parquet`` (+ ``.keys.parquet``)."""

    def __init__(self, envelope: Envelope, out_dir: str):
        self.envelope, self.out_dir = envelope, out_dir

    def process(self, element):
        key, values = element
        piece = Piece(key, self.envelope.doc_schema.empty_table())
        docs, ledger, keys = [], [], []
        for kind, payload in values:
            if kind == "docs":
                docs.append(payload)
            elif kind == LEDGER:
                ledger.append(payload)
            elif kind == KEYS:
                keys.append(payload)
            else:
                piece.files += payload.files
                merge_counters(piece.counters, payload.counters)
                merge_seconds(piece.seconds, payload.seconds)
                merge_seconds(piece.cpu_seconds, payload.cpu_seconds)
        if docs:
            piece.docs = pa.concat_tables(docs).sort_by([("order", "ascending")])
        if ledger:
            piece.ledger = pa.concat_tables(ledger).sort_by([("order", "ascending")])
        name = f"{key:012x}"
        _write(FileSystems.join(self.out_dir, f"{name}.unit.parquet"), self.envelope.pack(piece))
        if keys:
            _write(FileSystems.join(self.out_dir, f"{name}.keys.parquet"), pa.concat_tables(keys).sort_by([("order", "ascending")]))
