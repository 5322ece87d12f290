"""The execution core and the local engine's units: many small files are batched into few units
(bounded temporary files), the grouping never depends on the worker count, and a process pool
gives the same bytes as one process."""

from __future__ import annotations

import itertools
import json
import multiprocessing
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines import engine_local, runner
from pipelines.engine_local import UNIT_MAX_FILES, plan_units, unit_target_bytes
from pipelines.progress import null_progress


def small_files_config(root: Path, n: int) -> Path:
    data = root / "data"
    data.mkdir()
    for i in range(n):
        (data / f"f{i:05d}.jsonl").write_text(json.dumps({"text": f"document {i % (n - 3)} in a file of one line"}) + "\n")
    cfg = root / "p.yaml"
    cfg.write_text(
        "name: small-files\n"
        "purpose: {description: many small files, uses: [research]}\n"
        "stages: [normalize, {name: length, min_chars: 2}, exact_dedup]\n"
        "sources:\n"
        "  - id: small\n"
        "    paths: [data/]\n"
        "    format: jsonl\n"
        "    lang: en\n"
        "    provenance: {owner: me, acquisition: owned, licence: CC0-1.0}\n",
        encoding="utf-8",
    )
    return cfg


def test_units_group_consecutive_files_by_size_only():
    assert plan_units([]) == []
    assert plan_units([10] * 5) == [[0, 1, 2, 3, 4]]
    many = plan_units([50] * 3000)  # 3,000 one-line files: units of at most UNIT_MAX_FILES
    assert [len(u) for u in many] == [UNIT_MAX_FILES, UNIT_MAX_FILES, 3000 - 2 * UNIT_MAX_FILES]
    big = 10 * unit_target_bytes(0)
    assert plan_units([10, big, 10, 10]) == [[0], [1], [2, 3]]  # a large file is a unit of its own
    flat = [i for u in plan_units([7_000_000] * 40 + [100] * 50) for i in u]
    assert flat == list(range(90)), "units are consecutive files, in order, each once"


@pytest.mark.parametrize("workers", [1, 2])
def test_many_small_files_make_few_units_and_few_temporary_files(tmp_path, workers):
    n = 400
    cfg = small_files_config(tmp_path, n)
    plan = runner.prepare(cfg, workers=workers)
    stages = runner.build_stages(plan.config)
    staging, work = tmp_path / "staging", tmp_path / "work"
    staging.mkdir()
    execution = engine_local.execute(plan, stages, staging, null_progress(), workdir=work)
    assert execution.workers == 1  # 400 small files are one unit: one process is enough
    files = [p for p in work.rglob("*") if p.is_file()]
    # 2 segments × (docs, ledger, keys, meta, done) + a decision unit — not ~7 per input file.
    assert len(files) <= 15, sorted(str(p.relative_to(work)) for p in files)
    ledger = execution.ledger
    assert ledger.num_rows == n and len(set(ledger.column("id").to_pylist())) == n
    assert sorted(set(ledger.column("outcome").to_pylist())) == ["dropped", "kept"]  # 3 exact duplicates
    assert len(execution.files["small"]) == n


def test_workers_give_the_same_bytes_as_one_process(tmp_path):
    """Two workers on several units: shards, ledger and manifest ID equal one process's."""
    cfg = small_files_config(tmp_path, 120)
    # Make units small enough that there are several (the grouping itself is size-based).
    outs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        mp = pytest.MonkeyPatch()
        mp.setattr(engine_local, "UNIT_MIN_BYTES", 1024)
        mp.setattr(engine_local, "UNIT_MAX_FILES", 16)
        try:
            outcome = runner.run(cfg, out=out, catalog=str(tmp_path / "cat"), progress=null_progress(),
                                 plan=runner.prepare(cfg, workers=workers))
        finally:
            mp.undo()
        assert outcome.manifest["run"]["workers"] == workers
        outs[workers] = outcome
    a, b = outs[1], outs[2]
    assert a.id == b.id
    assert (a.out_dir / "ledger.parquet").read_bytes() == (b.out_dir / "ledger.parquet").read_bytes()
    for sh in a.manifest["shards"]:
        assert (a.out_dir / sh["path"]).read_bytes() == (b.out_dir / sh["path"]).read_bytes()
    assert pq.read_table(a.out_dir / "ledger.parquet").num_rows == 120


def test_stage_notes_fold_into_one_ledger_row_per_record(tmp_path):
    """A map stage's notes on the rows it keeps become the ``notes`` of each record's one ledger
    row — kept, or dropped by a later stage — in the same order whatever order pieces arrive in."""
    import numpy as np
    import pyarrow as pa

    from filters.base import MapStage, StageResult
    from pipelines.execution import Assembler, MapChain, Piece, output_schema

    class Scrub(MapStage):
        name, version = "scrub_x", 1

        def process(self, batch):
            texts = batch.column("text").to_pylist()
            notes = [("mask", "1 span") if "x" in t else None for t in texts]
            return StageResult(np.ones(len(texts), bool), [None] * len(texts),
                               columns={"text": pa.array([t.replace("x", "") for t in texts])}, notes=notes)

    class Short(MapStage):
        name, version = "short_x", 1

        def process(self, batch):
            texts = batch.column("text").to_pylist()
            keep = np.array([len(t) > 2 for t in texts])
            # a note on a row it drops is not written: the drop's own row says what happened
            return StageResult(keep, [None if k else "short" for k in keep], notes=[("quote", "q")] * len(texts))

    stages = [Scrub(), Short()]
    schema = output_schema(stages)
    chain = MapChain(stages, [output_schema(stages[:1]), schema], output_schema([]))
    docs = pa.table({
        "id": ["a", "b", "c"], "text": ["xxabcd", "xy", "plain"], "source_id": ["s"] * 3, "source_file": ["f"] * 3,
        "source_locator": ["line 1", "line 2", "line 3"], "source_record_id": [None] * 3, "lang": [None] * 3,
        "domain": [None] * 3, "order": pa.array([1, 2, 3], pa.int64()),
    })
    ledgers = []
    for reverse in (False, True):
        piece = chain(0, docs)
        assert set(piece.ledger.column("outcome").to_pylist()) == {"noted", "dropped"}
        staging = tmp_path / f"staging-{reverse}"
        staging.mkdir()
        asm = Assembler(staging, schema, 1 << 20, ["s"])
        parts = [piece.ledger.slice(i, 1) for i in range(piece.ledger.num_rows)]
        for part in reversed(parts) if reverse else parts:
            asm.add(Piece(0, schema.empty_table(), ledger=part))
        asm.add_kept(piece.docs)
        ledgers.append(asm.finish().ledger)
    rows = {r["id"]: r for r in ledgers[0].to_pylist()}
    assert len(rows) == 3 and ledgers[0].equals(ledgers[1])
    assert rows["a"]["outcome"] == "kept" and rows["a"]["notes"] == [
        {"stage": "scrub_x@1", "action": "mask", "detail": "1 span"}, {"stage": "short_x@1", "action": "quote", "detail": "q"}]
    assert rows["b"]["outcome"] == "dropped" and rows["b"]["stage"] == "short_x@1"
    assert rows["b"]["notes"] == [{"stage": "scrub_x@1", "action": "mask", "detail": "1 span"}]  # noted before the drop
    assert rows["c"]["notes"] == [{"stage": "short_x@1", "action": "quote", "detail": "q"}]


def test_a_stage_label_reaches_the_ledger_of_its_drops():
    """A stage declaring ``label`` (a categorical column it writes) gets that column's value of
    each document it drops into the ledger's ``label``; other stages' drops leave it null."""
    import numpy as np
    import pyarrow as pa

    from filters.base import MapStage, StageResult
    from filters.schema import DOCUMENT_SCHEMA, LEDGER_SCHEMA
    from pipelines.execution import apply_map_stage

    class Script(MapStage):
        name, version = "script_test", 1
        output_fields = [pa.field("script", pa.string())]
        label = "script"

        def process(self, batch: pa.RecordBatch) -> StageResult:
            script = ["hangul" if any("가" <= c <= "힣" for c in t) else "latin" for t in batch.column("text").to_pylist()]
            keep = np.array([s == "hangul" for s in script])
            return StageResult(keep=keep, reasons=[None if k else "wrong_script" for k in keep],
                               columns={"script": pa.array(script, pa.string())})

    class Unlabelled(Script):
        name, label = "unlabelled_test", None

    n = 3
    docs = pa.table({"id": [f"s-{i}" for i in range(n)], "text": ["가나다", "abc", "def"], "source_id": ["s"] * n,
                     "source_file": ["f"] * n, "source_locator": [f"line {i}" for i in range(n)], "order": list(range(n))})
    docs = pa.table({f.name: docs.column(f.name) if f.name in docs.column_names else pa.nulls(n, f.type) for f in DOCUMENT_SCHEMA},
                    schema=DOCUMENT_SCHEMA)
    schema = pa.schema([*DOCUMENT_SCHEMA, *Script.output_fields])
    kept, drops = apply_map_stage(Script(), docs, schema)
    assert drops.schema == LEDGER_SCHEMA and kept.column("id").to_pylist() == ["s-0"]
    assert drops.column("label").to_pylist() == ["latin", "latin"]
    assert Script().describe()["label"] == "script"
    _, drops = apply_map_stage(Unlabelled(), docs, schema)
    assert drops.column("label").null_count == 2 and "label" not in Unlabelled().describe()


def test_units_cut_into_parts_give_the_same_bytes(tmp_path):
    """Past the first segment a unit is cut into row ranges (``PART_ROWS``), each its own unit:
    any cut, with one process or two, gives the bytes of the uncut run."""
    cfg = small_files_config(tmp_path, 120)
    ids, ledgers = set(), set()
    for part_rows, workers in ((1 << 30, 1), (3, 1), (3, 2), (7, 2)):
        out = tmp_path / f"p{part_rows}-w{workers}"
        mp = pytest.MonkeyPatch()
        mp.setattr(engine_local, "UNIT_MIN_BYTES", 1024)
        mp.setattr(engine_local, "UNIT_MAX_FILES", 16)
        mp.setattr(engine_local, "PART_ROWS", part_rows)
        try:
            outcome = runner.run(cfg, out=out, catalog=str(tmp_path / "cat"), progress=null_progress(),
                                 plan=runner.prepare(cfg, workers=workers))
        finally:
            mp.undo()
        ids.add(outcome.id)
        ledgers.add((out / "ledger.parquet").read_bytes())
    assert len(ids) == 1 and len(ledgers) == 1


def test_layout_cuts_rows_into_parts_in_order():
    first = [engine_local.UnitJob(0, u, (u,), engine_local.unit_name(u)) for u in range(2)]
    n = 2 * engine_local.PART_ROWS + 1  # three parts of (nearly) equal size
    seg1 = engine_local.layout(1, first, {"000000": n, "000001": 5}.get)
    assert [(j.name, j.source, j.rows) for j in seg1] == [
        ("000000-0000", "000000", (0, n // 3)),
        ("000000-0001", "000000", (n // 3, 2 * n // 3)),
        ("000000-0002", "000000", (2 * n // 3, n)),
        ("000001", "000001", None),
    ]
    seg2 = engine_local.layout(2, seg1, lambda name: 4)  # later segments keep segment 1's parts
    assert [(j.name, j.source, j.rows) for j in seg2] == [(n, n, None) for n in ("000000-0000", "000000-0001", "000000-0002", "000001")]


def test_a_run_stopped_inside_a_cut_unit_resumes_to_the_same_bytes(tmp_path):
    """Stopped after some parts of segment 1, then resumed with another worker count: the parts
    done are kept, the rest redone, the bytes those of a run never stopped."""
    cfg = small_files_config(tmp_path, 120)
    mp = pytest.MonkeyPatch()
    mp.setattr(engine_local, "UNIT_MIN_BYTES", 1024)
    mp.setattr(engine_local, "UNIT_MAX_FILES", 16)
    mp.setattr(engine_local, "PART_ROWS", 3)
    try:
        whole = runner.run(cfg, out=tmp_path / "whole", catalog=str(tmp_path / "cat"), progress=null_progress(),
                           plan=runner.prepare(cfg, workers=1))
        seen = []

        def stop_at(name: str) -> None:
            seen.append(name)
            if name == "unit:seg1/000001-0002":
                raise KeyboardInterrupt  # what Ctrl-C raises: no unit is half-marked done

        mp.setattr(engine_local, "checkpoint", stop_at)
        with pytest.raises(KeyboardInterrupt):
            runner.run(cfg, out=tmp_path / "out", catalog=str(tmp_path / "cat"), progress=null_progress(), plan=runner.prepare(cfg, workers=1))
        assert "unit:seg1/000000-0000" in seen
        mp.setattr(engine_local, "checkpoint", lambda name: None)
        resumed = runner.run(cfg, out=tmp_path / "out", catalog=str(tmp_path / "cat"), progress=null_progress(),
                             plan=runner.prepare(cfg, workers=2), resume=True)
    finally:
        mp.undo()
    assert resumed.id == whole.id
    assert (tmp_path / "out" / "ledger.parquet").read_bytes() == (tmp_path / "whole" / "ledger.parquet").read_bytes()


def test_one_unit_cut_into_parts_gives_later_segments_every_worker(tmp_path, monkeypatch):
    """The worker count is not capped by the ingest units: one unit cut into parts from segment 1
    on keeps both processes (it was capped to 1, so one big file ran PII on one core); same bytes."""
    cfg = small_files_config(tmp_path, 400)  # 400 small files: one ingest unit
    monkeypatch.setattr(engine_local, "PART_ROWS", 100)
    out = {}
    for workers in (1, 2):
        plan = runner.prepare(cfg, workers=workers)
        staging, work = tmp_path / f"staging{workers}", tmp_path / f"work{workers}"
        staging.mkdir()
        execution = engine_local.execute(plan, runner.build_stages(plan.config), staging, null_progress(), workdir=work)
        assert execution.workers == workers
        out[workers] = execution.ledger
    assert out[1].equals(out[2])


def test_the_ledger_merge_equals_sorting_the_whole():
    """The assembler's k-way merge on ``order`` gives the rows (and note lists) of folding and
    stably sorting the concatenated streams — with notes and drops of one record in different
    streams and a record's rows split across a stream's tables."""
    import random

    import pyarrow as pa

    from filters.schema import LEDGER_SCHEMA
    from pipelines.execution import fold_notes, merge_on_order

    rng = random.Random(5)
    orders = sorted(rng.sample(range(10_000), 600))
    final = {o: rng.randrange(4) for o in orders}  # the stream holding each record's one row

    def row(o: int, outcome: str, stage: str) -> dict:
        return {"id": f"d{o}", "source_id": "s", "source_file": "f", "source_locator": str(o), "order": o,
                "outcome": outcome, "stage": stage, "reason": "r"}

    streams = []
    for k in range(4):
        rows = []
        for o in orders:
            if rng.random() < 0.3:
                rows.append(row(o, "noted", f"stage{rng.randrange(3)}"))
            if final[o] == k:
                rows.append(row(o, "kept" if k == 3 else "dropped", f"stage{k}"))
        cuts = sorted({0, len(rows), *(rng.randrange(len(rows) + 1) for _ in range(8))})
        table = pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA)
        streams.append([table.slice(a, b - a) for a, b in itertools.pairwise(cuts)])
    whole = fold_notes(pa.concat_tables([t for s in streams for t in s])).sort_by([("order", "ascending")])
    merged = pa.concat_tables(list(merge_on_order(streams)))
    assert merged.num_rows == len(orders) and merged.equals(whole)


@pytest.mark.parametrize("slow_pool_exit", [False, True])
def test_models_load_during_the_first_segment_and_decides_run_in_the_decider(tmp_path, monkeypatch, slow_pool_exit):
    """With two workers the main process sets the later segments up once segment 0's worker is
    forked (not at a barrier, all other cores idle), and the global stage decides in the process
    forked at the start (neither the main process nor a unit's worker); the timeline records it.
    ``slow_pool_exit``: the decide that follows the units finishes (its marker written) before the
    pool has wound down — its result must still be collected (a race seen in CI, session 10)."""
    import time as _time

    if slow_pool_exit:
        exit_ = engine_local.Pool.__exit__

        def slow(self, *exc):
            _time.sleep(1.5)
            return exit_(self, *exc)

        monkeypatch.setattr(engine_local.Pool, "__exit__", slow)
    cfg = small_files_config(tmp_path, 120)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("stages: [normalize, {name: length, min_chars: 2}, exact_dedup]",
                                                         "stages: [normalize, exact_dedup, {name: length, min_chars: 2}]"), encoding="utf-8")
    monkeypatch.setattr(engine_local, "UNIT_MIN_BYTES", 1024)
    monkeypatch.setattr(engine_local, "UNIT_MAX_FILES", 16)
    timeline = tmp_path / "timeline.jsonl"
    monkeypatch.setenv("CORPUSMILL_TIMELINE", str(timeline))
    outcome = runner.run(cfg, out=tmp_path / "out", catalog=str(tmp_path / "cat"), progress=null_progress(), plan=runner.prepare(cfg, workers=2))
    recs = [json.loads(ln) for ln in timeline.read_text(encoding="utf-8").splitlines()]
    main = next(r["pid"] for r in recs if r["what"] == "start")
    seg0 = [r for r in recs if r["what"] == "unit" and r["segment"] == 0]
    assert {r["pid"] for r in seg0} - {main}, "segment 0 had a worker"
    ahead = [r for r in recs if r["what"] == "setup" and r["pid"] == main and r["segments"][1] == 2]
    assert ahead and ahead[0]["t1"] <= max(r["t1"] for r in seg0), "the last segment set up before segment 0 ended"
    (decide,) = [r for r in recs if r["what"] == "decide"]
    assert decide["pid"] != main and decide["pid"] not in {r["pid"] for r in recs if r["what"] == "unit"}
    assert {"unit", "assembly", "wait for decide"} <= {r["what"] for r in recs}
    assert pq.read_table(outcome.out_dir / "ledger.parquet").num_rows == 120


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="Linux: reads /proc/self/smaps")
def test_dropping_file_pages_keeps_the_content_and_lowers_rss(tmp_path):
    import mmap

    data = bytes(range(256)) * (32 << 12)  # 8 MB
    (tmp_path / "dict.bin").write_bytes(data)
    with open(tmp_path / "dict.bin", "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    def rss_of_map() -> int:
        kb, ours = 0, False
        for line in open("/proc/self/smaps", encoding="utf-8"):
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                ours = line.rstrip().endswith(str(tmp_path / "dict.bin"))
            elif ours and head[0] == "Rss:":
                kb += int(head[1])
        return kb

    assert sum(m[i + 1] for i in range(0, len(data), 4096)) > 0 and rss_of_map() >= 8000  # every page touched
    assert engine_local._drop_file_pages() >= 8000 << 10
    assert rss_of_map() == 0
    assert m[:] == data  # read again from the (cached) file
    m.close()


def test_a_global_stage_decides_beside_its_units_with_the_same_bytes(tmp_path, monkeypatch):
    """With many units per process the global stage decides beside the segment's units (reading
    each unit's keys once it is done, in ingest order), with the bytes of one process."""
    cfg = small_files_config(tmp_path, 120)
    monkeypatch.setattr(engine_local, "UNIT_MIN_BYTES", 1024)
    monkeypatch.setattr(engine_local, "UNIT_MAX_FILES", 8)
    monkeypatch.setattr(engine_local, "FOLLOW_UNITS_PER_WORKER", 2)
    outs, timeline = {}, tmp_path / "timeline.jsonl"
    for workers in (1, 2):
        if workers == 2:
            monkeypatch.setenv("CORPUSMILL_TIMELINE", str(timeline))
        out = tmp_path / f"w{workers}"
        outs[workers] = runner.run(cfg, out=out, catalog=str(tmp_path / "cat"), progress=null_progress(),
                                   plan=runner.prepare(cfg, workers=workers)).id, (out / "ledger.parquet").read_bytes()
    assert outs[1] == outs[2]
    recs = [json.loads(ln) for ln in timeline.read_text(encoding="utf-8").splitlines()]
    units = [r for r in recs if r["what"] == "unit" and r["segment"] == 0]
    (decide,) = [r for r in recs if r["what"] == "decide"]
    assert len(units) >= 4 and decide["follow"], "the decide was submitted before the units ran"


def test_a_failing_unit_stops_a_decide_that_follows_the_units(tmp_path, monkeypatch):
    """A unit that fails while the global stage follows the segment's units ends the run with the
    unit's error (the decide waiting for the missing unit gives up; nothing hangs)."""
    from filters.length import LengthFilter

    cfg = small_files_config(tmp_path, 120)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("stages: [normalize, {name: length, min_chars: 2}, exact_dedup]",
                                                         "stages: [normalize, length, exact_dedup]"), encoding="utf-8")
    monkeypatch.setattr(engine_local, "UNIT_MIN_BYTES", 1024)
    monkeypatch.setattr(engine_local, "UNIT_MAX_FILES", 8)
    monkeypatch.setattr(engine_local, "FOLLOW_UNITS_PER_WORKER", 2)
    process = LengthFilter.process

    def failing(self, batch):
        if any("document 40 " in t for t in batch.column("text").to_pylist()):
            raise RuntimeError("a stage failed on this batch")
        return process(self, batch)

    monkeypatch.setattr(LengthFilter, "process", failing)
    with pytest.raises(RuntimeError, match="a stage failed"):
        runner.run(cfg, out=tmp_path / "out", catalog=str(tmp_path / "cat"), progress=null_progress(), plan=runner.prepare(cfg, workers=2))


def test_layout_estimates_each_units_cost_from_its_text_bytes():
    """Parts hold the same number of documents; their cost (the biggest-first order) is their
    share of the text bytes the previous segment's footer gives."""
    first = [engine_local.UnitJob(0, u, (u,), engine_local.unit_name(u)) for u in range(2)]
    n = 2 * engine_local.PART_ROWS
    seg1 = engine_local.layout(1, first, {"000000": n, "000001": n}.get, {"000000": 1000, "000001": 9000}.get)
    assert [(j.name, j.size, j.cost) for j in seg1] == [
        ("000000-0000", n // 2, 500), ("000000-0001", n // 2, 500), ("000001-0000", n // 2, 4500), ("000001-0001", n // 2, 4500)]
    assert [j.name for j in sorted(seg1, key=lambda j: -(j.cost or j.size))][:2] == ["000001-0000", "000001-0001"]


def test_text_bytes_come_from_the_footer(tmp_path):
    import pyarrow as pa

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["x" * 1000, "y" * 3000]}), path, **engine_local.SCRATCH)  # as units are written
    assert 4000 <= engine_local._text_bytes(path) <= 4100
    assert engine_local._text_bytes(tmp_path / "missing.parquet") == 0


def test_a_worker_whose_main_process_died_before_its_set_up_exits():
    """PR_SET_PDEATHSIG only covers a parent dying after the call: a worker whose main process
    was killed between the fork and its set-up must exit, not run the units queued for it."""
    import os

    for parent_alive, expected in ((True, 0), (False, 1)):
        pid = os.fork()
        if pid == 0:  # the child: as if forked by the pool of the process with this pid
            try:
                engine_local._die_with_parent(os.getppid() if parent_alive else os.getppid() + 1_000_000)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == expected


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_commit_surfaces_as_one_error_and_leaves_no_marker(tmp_path, monkeypatch, workers):
    # Each unit's files are made durable and its marker written on a commit thread (session 10);
    # an error there (disk full) must end the run, never be lost with the unit counted done.
    from corpusmill_base.errors import CorpusmillError

    monkeypatch.setattr(engine_local, "UNIT_MIN_BYTES", 1024)
    monkeypatch.setattr(engine_local, "UNIT_MAX_FILES", 8)
    publish = engine_local._StreamingParquet.publish

    def failing(self):
        if "seg0" in str(self.path) and "000003" in str(self.path):
            raise OSError(28, "No space left on device (injected)")
        return publish(self)

    monkeypatch.setattr(engine_local._StreamingParquet, "publish", failing)
    cfg = small_files_config(tmp_path, 120)
    with pytest.raises(CorpusmillError, match="no space left on device"):
        runner.run(cfg, out=tmp_path / "out", catalog=str(tmp_path / "cat"), progress=null_progress(),
                   plan=runner.prepare(cfg, workers=workers))
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert not [p for p in tmp_path.rglob("seg0/000003.done")]
    assert [p for p in tmp_path.rglob("seg0/000002.done")]  # the units before it committed (kept for --resume)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_models_pin_check_runs_once_and_its_failure_ends_the_run(tmp_path, workers):
    """The runner hands the local engine its models' check; with 2 workers it runs beside segment
    0's first units (once), with 1 before any unit; an :class:`IntegrityError` from it ends the run
    with that error (no worker left behind, nothing half-published)."""
    from corpusmill_base.errors import IntegrityError

    cfg = small_files_config(tmp_path, 60)
    text = cfg.read_text(encoding="utf-8").replace("exact_dedup]", "exact_dedup, minhash_dedup]")
    cfg.write_text(text, encoding="utf-8")
    plan = runner.prepare(cfg, workers=workers)
    calls = []
    mp = pytest.MonkeyPatch()
    mp.setattr(engine_local, "UNIT_MIN_BYTES", 256)
    try:
        for n, fail in enumerate((False, True)):
            staging, work = tmp_path / f"staging{n}", tmp_path / f"work{n}"
            staging.mkdir()

            def check(fail=fail, n=n):
                calls.append(n)
                if fail:
                    raise IntegrityError("model.bin has sha256 0000, its card says 1111")

            stages = runner.build_stages(plan.config)
            if not fail:
                engine_local.execute(plan, stages, staging, null_progress(), workdir=work, check=check)
            else:
                with pytest.raises(IntegrityError, match=r"model\.bin"):
                    engine_local.execute(plan, stages, staging, null_progress(), workdir=work, check=check)
    finally:
        mp.undo()
    assert calls == [0, 1]
    assert multiprocessing.active_children() == []


def test_the_pin_check_runs_before_a_later_segments_models_load_with_a_one_unit_segment_0(tmp_path):
    """Review finding (session 11): with one unit in segment 0 no worker is forked, so the check
    put off to run beside segment 0 never did, and the next segment's models were loaded (after
    the exact-dedup decide) before the pin check — a bad model deserialised before its sha256."""
    cfg = small_files_config(tmp_path, 6)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("exact_dedup]", "exact_dedup, quality_heuristics]"), encoding="utf-8")
    plan = runner.prepare(cfg, workers=2)
    events: list = []
    real = engine_local._preload

    def preload(segments, loaded, upto, seconds):
        events.append(("preload", loaded, upto))
        return real(segments, loaded, upto, seconds)

    mp = pytest.MonkeyPatch()
    mp.setattr(engine_local, "_preload", preload)
    try:
        (tmp_path / "staging").mkdir()
        engine_local.execute(plan, runner.build_stages(plan.config), tmp_path / "staging", null_progress(),
                             workdir=tmp_path / "work", check=lambda: events.append(("check",)))
    finally:
        mp.undo()
    assert events.count(("check",)) == 1
    later = [i for i, e in enumerate(events) if e[0] == "preload" and e[2] > 1 and e[2] > e[1]]
    assert later and events.index(("check",)) < later[0], events


def test_the_assembly_writes_the_ledger_behind_and_reads_ahead_with_the_same_bytes(tmp_path, monkeypatch):
    """The ledger's row groups are written on a thread and the units' files read on threads ahead
    of the merge (the assembly is the main process alone, a core idle beside it); the ledger, the
    shards and the manifest ID are those of the same writes made in the caller's thread."""
    import threading

    from corpusmill_base.atomic import AtomicParquetWriter
    from pipelines import execution

    cfg = small_files_config(tmp_path, 120)
    monkeypatch.setattr(engine_local, "UNIT_MIN_BYTES", 1024)
    monkeypatch.setattr(engine_local, "UNIT_MAX_FILES", 16)
    writers: list[str] = []
    write = AtomicParquetWriter.write

    def recording(self, table):
        if self.path.name == execution.LEDGER_NAME:
            writers.append(threading.current_thread().name)
        return write(self, table)

    monkeypatch.setattr(AtomicParquetWriter, "write", recording)
    outs = {}
    for mode in ("threads", "inline"):
        if mode == "inline":  # the same calls in the caller's thread: what the assembly did before
            class Inline:
                def __init__(self, fn, depth=2):
                    self.fn = fn

                def put(self, item):
                    self.fn(item)

                def close(self):
                    pass

                def stop(self):
                    pass

            monkeypatch.setattr(execution, "WriteBehind", Inline)
            monkeypatch.setattr(engine_local, "read_ahead", lambda items, depth=2: iter(items))
        out = tmp_path / mode
        outcome = runner.run(cfg, out=out, catalog=str(tmp_path / "cat"), progress=null_progress(), plan=runner.prepare(cfg, workers=2))
        shards = [(out / sh["path"]).read_bytes() for sh in outcome.manifest["shards"]]
        outs[mode] = outcome.id, (out / "ledger.parquet").read_bytes(), shards
        if mode == "threads":
            assert writers and set(writers) == {"write-behind"}, "the ledger is written on the write-behind thread"
    assert outs["threads"] == outs["inline"]


def test_write_behind_and_read_ahead_keep_order_and_raise_errors_in_the_caller():
    from pipelines.execution import WriteBehind, read_ahead

    got: list[int] = []
    behind = WriteBehind(got.append, depth=1)
    for i in range(50):
        behind.put(i)
    behind.close()
    assert got == list(range(50))

    def failing_write(item):
        raise OSError(28, "No space left on device (injected)")

    behind = WriteBehind(failing_write)
    behind.put(0)
    with pytest.raises(OSError, match="No space left"):
        for i in range(1, 10):  # the error surfaces at a later put or at close
            behind.put(i)
        behind.close()
    behind.stop()

    assert list(read_ahead(iter(range(20)), depth=1)) == list(range(20))

    def failing_items():
        yield 1
        raise ValueError("a unit's file could not be read")

    it = read_ahead(failing_items())
    assert next(it) == 1
    with pytest.raises(ValueError, match="could not be read"):
        next(it)

    produced: list[int] = []

    def counted():
        for i in range(1000):
            produced.append(i)
            yield i

    it = read_ahead(counted(), depth=2)
    assert next(it) == 0
    it.close()  # the consumer stops early: the producer stops too, a few items ahead at most
    assert len(produced) <= 5


def test_the_bench_names_each_processs_peak_by_its_role_in_the_timeline():
    """``bench/e2e.py --worker-scaling`` prints each process's peak under the role the timeline
    gives it (the full corpus's 1,300 MB "largest worker" was the decider, not a worker)."""
    from bench.e2e import peaks_by_role
    from bench.measure import Measured

    recs = [{"pid": 1, "what": "start"}, {"pid": 2, "what": "decider setup"}, {"pid": 2, "what": "decide"},
            {"pid": 3, "what": "unit", "segment": 0}, {"pid": 1, "what": "unit", "segment": 0}, {"pid": 4, "what": "unit", "segment": 2}]
    m = Measured(seconds=1.0, cpu=1.0, peak_rss=0, peak_pss=0, load=(0.0, 0.0), returncode=0, stdout="", stderr="",
                 peak_rss_by_pid={1: 900_000_000, 2: 1_300_000_000, 3: 100_000_000, 4: 800_000_000},
                 peak_pss_by_pid={1: 800_000_000, 2: 1_200_000_000, 3: 50_000_000, 4: 400_000_000}, root_pid=1)
    assert peaks_by_role(recs, m) == "decider 1300/1200, main 900/800, segment-2 worker 800/400, segment-0 worker 100/50"


def test_the_timeline_shows_the_start_the_steps_between_segments_and_the_manifest(tmp_path, monkeypatch):
    """``CORPUSMILL_TIMELINE`` (read by ``bench/e2e.py --worker-scaling``): the main process's
    creation time, each segment's preparation and pool fork, the manifest, each unit's faults."""
    monkeypatch.setattr(engine_local, "UNIT_MIN_BYTES", 1024)
    monkeypatch.setattr(engine_local, "UNIT_MAX_FILES", 16)
    cfg = small_files_config(tmp_path, 120)
    timeline = tmp_path / "timeline.jsonl"
    monkeypatch.setenv("CORPUSMILL_TIMELINE", str(timeline))
    runner.run(cfg, out=tmp_path / "out", catalog=str(tmp_path / "cat"), progress=null_progress(), plan=runner.prepare(cfg, workers=2))
    recs = [json.loads(ln) for ln in timeline.read_text(encoding="utf-8").splitlines()]
    start = next(r for r in recs if r["what"] == "start")
    assert start["born"] is not None and 0 <= start["t0"] - start["born"] < 600
    segments = {r["segment"] for r in recs if r["what"] == "unit"}
    assert {r["segment"] for r in recs if r["what"] == "prepare"} == segments
    assert {r["segment"] for r in recs if r["what"] == "fork"} <= segments
    assert all(r["minflt"] >= 0 for r in recs if r["what"] == "unit")
    manifest = next(r for r in recs if r["what"] == "manifest")
    assert manifest["pid"] == start["pid"] and manifest["t0"] >= max(r["t1"] for r in recs if r["what"] == "assembly")
