"""The same config on the local, Ray and Beam engines gives the same shards, ledger and manifest.

Parity is checked on the bundled sample and on a subset of the shared deliveries (Korean CP949
bills, statutes in two versions — near-duplicates —, Korean medical Q&A naming doctors — PII —,
and English PubMed abstracts), with every registered stage. Ray runs in this process on a small
local cluster (2 CPUs, 500 MB object store); Beam on the in-process FnApiRunner, through the CLI.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from filters.registry import STAGES
from filters.schema import make_order
from manifests.manifest import check_id, content_digest
from pipelines.distributed import Envelope
from pipelines import execution
from pipelines.execution import Assembler, Piece, conform, keys_in_order, output_schema, split_segments
from pipelines.runner import build_stages
from pipelines.config import load_config
from tests.conftest import EXAMPLES, cli

#: Runs compared by the parity tests: name → (engine, local workers). One local worker is the
#: reference; two workers run the units on a process pool and must give the same bytes.
RUNS = {"local": ("local", 1), "local-2w": ("local", 2), "ray": ("ray", None), "beam": ("beam", None)}

def parity_stages(quality_model: Path | None) -> list:
    """Every registered stage, in a sensible order, with options that make each one act."""
    canonical = [
        ("normalize", "normalize"),
        ("langid", "langid"),
        ("length", {"name": "length", "min_chars": 2, "max_chars": 1000000}),
        ("quality_heuristics", "quality_heuristics"),
        ("quality_classifier", {"name": "quality_classifier", "model": str(quality_model), "threshold": 0.02}),
        ("exact_dedup", "exact_dedup"),
        ("minhash_dedup", {"name": "minhash_dedup", "threshold": 0.6}),
        ("quality_top_fraction", {"name": "quality_top_fraction", "fraction": 0.97}),
        ("decontaminate", "decontaminate"),  # the configs below declare a small benchmark
        ("takedown_list", {"name": "takedown_list", "lists": [
            {"source": "ko_reviews", "manifest": "cm-0000000000000000", "reason": "parity test", "ids": [], "sha256": []}]}),
        ("pii", {"name": "pii", "lang": "auto"}),
    ]
    # A stage added since runs with its default options (before pii), so adding a stage needs no
    # edit here; list it above when it needs options to act.
    added = [name for name in sorted(STAGES) if name not in CANONICAL_NAMES]
    specs = [spec for name, spec in canonical if name in STAGES]
    return specs[:-1] + added + specs[-1:]


CANONICAL_NAMES = {
    "normalize", "langid", "length", "quality_heuristics", "quality_classifier", "exact_dedup", "minhash_dedup",
    "quality_top_fraction", "decontaminate", "takedown_list", "pii",
}


def with_benchmark(cfg: dict, dest: Path) -> dict:
    """A benchmark whose one item is the opening of a bundled statute, for the decontaminate stage."""
    if any((st if isinstance(st, str) else st["name"]) == "decontaminate" for st in cfg["stages"]):
        statutes = [json.loads(line)["text"] for line in (EXAMPLES / "data/statutes.jsonl").read_text(encoding="utf-8").splitlines()]
        filler = "".join(chr(0xAC00 + (i * 7919) % 11172) for i in range(400))  # syllables no document holds
        items = [
            {"id": "b1", "text": statutes[0][:400]},  # a whole item: the statute is dropped
            {"id": "b2", "text": statutes[4][1000:1200] + filler},  # a quarter of an item: masked (a ledger note)
            {"id": "b3", "text": statutes[5][1500:1550] + filler},  # a short shared span: a quote (a ledger note)
        ]
        path = dest / "benchmark.jsonl"
        path.write_text("".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items), encoding="utf-8")
        cfg["benchmarks"] = [{"id": "parity_bench", "paths": [str(path)], "format": "jsonl", "text_field": "text", "id_field": "id",
                              "provenance": {"licence": "LicenseRef-KR-Copyright-Act-Art7", "origin": "examples/data/statutes.jsonl"}}]
    return cfg


@pytest.fixture(scope="module")
def quality_model(tmp_path_factory) -> Path | None:
    """A small fastText quality model trained on the bundled sample (statutes+speeches vs reviews)."""
    if "quality_classifier" not in STAGES:
        return None
    from filters.quality_classifier import LabelledDoc, train_classifier

    docs = []
    for line in (EXAMPLES / "data/statutes.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        for j, para in enumerate(p for p in rec["text"].split("\n") if len(p) > 20):
            docs.append(LabelledDoc(f"st{rec['id']}-{j}", para, "statutes", "ko", 1, f"st{rec['id']}"))
    for f in sorted((EXAMPLES / "data/speeches").glob("*.txt")):
        for j, para in enumerate(p for p in f.read_text(encoding="utf-8").split("\n") if len(p) > 20):
            docs.append(LabelledDoc(f"{f.stem}-{j}", para, "speeches", "en", 1, f.stem))
    with gzip.open(EXAMPLES / "data/nsmc_sample.jsonl.gz", "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            rec = json.loads(line)
            docs.append(LabelledDoc(f"r{i}", rec["text"], "reviews", "ko", 0, f"r{i}"))
    out = tmp_path_factory.mktemp("quality") / "quality.bin"
    train_classifier(docs, out)
    return out


def subset_config(shared: Path, dest: Path, stages: list) -> Path:
    d = shared / "deliveries"
    research = {"owner": "see ../shared/data/README.md", "acquisition": "public-download", "licence": None,
                "permitted_uses": ["research", "pretraining"]}
    cfg = {
        "name": "engines-parity-subset",
        "purpose": {"description": "engine parity test (research only)", "uses": ["research"]},
        "output": {"dir": "out", "shard_target_mb": 0.5},
        "limits": {"batch_size": 256},
        "accept_unknown_licence": {"ko_medical_qa": "test only"},
        "stages": stages,
        "sources": [
            {"id": "ko_statutes", "paths": [str(d / "ko_statutes/statutes.jsonl")], "format": "jsonl", "id_field": "id",
             "lang": "ko", "domain": "legal", "priority": 0,
             "provenance": {"owner": "Government of the Republic of Korea", "acquisition": "public-domain",
                            "licence": "LicenseRef-KR-Copyright-Act-Art7"}},
            {"id": "ko_bills", "paths": [str(d / "ko_bills_cp949/*.txt")], "format": "txt", "split": "file",
             "lang": "ko", "domain": "legal", "priority": 1,
             "provenance": {"owner": "National Assembly of the Republic of Korea", "acquisition": "public-domain",
                            "licence": "LicenseRef-KR-Copyright-Act-Art7"}},
            {"id": "ko_medical_qa", "paths": [str(d / "ko_medical_qa/*.csv")], "format": "csv", "text_field": ["Q", "A"],
             "lang": "ko", "domain": "medical", "priority": 2, "provenance": research},
            {"id": "en_pubmed", "paths": [str(d / "en_pubmed/NCBItestset_corpus.txt")], "format": "pubtator",
             "lang": "en", "domain": "biomedical", "priority": 3,
             "provenance": {"owner": "NCBI", "acquisition": "open-licence", "licence": "LicenseRef-NCBI-public"}},
        ],
    }
    path = dest / "subset.yaml"
    with_benchmark(cfg, dest)
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    # A busy (shared, 2-core) machine starts raylets, agents and workers slowly.
    for name, value in (("RAY_raylet_start_wait_time_s", "600"), ("RAY_agent_register_timeout_ms", "600000"),
                        ("RAY_worker_register_timeout_seconds", "600")):
        os.environ.setdefault(name, value)
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=500 << 20, log_to_driver=False)
    yield ray
    ray.shutdown()


def run_all(config: Path, root: Path, stderr: dict[str, str] | None = None, runs: tuple[str, ...] = tuple(RUNS)) -> dict[str, Path]:
    """Run ``config`` on every engine (and the local one with 1 and 2 workers), or the ``runs`` named;
    returns run name → output directory (and each run's stderr in ``stderr``)."""
    import ray

    outs = {}
    env = {"CORPUSMILL_CATALOG": str(root / "catalog")}
    for name in runs:
        engine, workers = RUNS[name]
        out = root / name
        if engine == "ray":  # the real CLI, joining the module's Ray cluster (no second cluster start)
            res = cli("run", str(config), "--engine", "ray", "--out", str(out), cwd=root,
                      env=env | {"RAY_ADDRESS": ray.get_runtime_context().gcs_address})
            if stderr is not None:
                stderr[name] = res.stderr
        else:
            extra = ["--workers", str(workers)] if workers else []
            cli("run", str(config), "--engine", engine, "--out", str(out), *extra, cwd=root, env=env)
        outs[name] = out
    return outs


def assert_identical(outs: dict[str, Path]) -> dict:
    manifests = {e: json.loads((o / "manifest.json").read_text(encoding="utf-8")) for e, o in outs.items()}
    ref = manifests["local"]
    check_id(ref)
    for engine, m in manifests.items():
        assert m["run"]["engine"] == RUNS[engine][0]
        if engine == "local-2w":
            assert m["run"]["workers"] == 2, f"{engine}: the run did not use its workers"
        check_id(m)
        assert m["id"] == ref["id"], f"{engine} manifest differs from local"
        assert content_digest(m) == content_digest(ref)
        assert m["shards"] == ref["shards"]
        ref_ledger = pq.read_table(outs["local"] / "ledger.parquet")
        assert pq.read_table(outs[engine] / "ledger.parquet").equals(ref_ledger), f"{engine} ledger differs"
        for sh in ref["shards"]:
            a = pq.read_table(outs["local"] / sh["path"])
            b = pq.read_table(outs[engine] / sh["path"])
            assert a.num_rows == sh["rows"] and b.equals(a), f"{engine} shard {sh['path']} differs"
    return ref


def sample_config(dest: Path, stages: list) -> Path:
    """The bundled demo config with every registered stage (paths made absolute)."""
    raw = yaml.safe_load((EXAMPLES / "pipeline.yaml").read_text(encoding="utf-8"))
    for src in raw["sources"]:
        src["paths"] = [str(EXAMPLES / p) for p in src["paths"]]
    raw["stages"] = stages
    raw["output"]["shard_target_mb"] = 0.05
    with_benchmark(raw, dest)
    path = dest / "sample.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.slow
def test_parity_on_the_sample(tmp_path, ray_local, quality_model):
    stderr: dict[str, str] = {}
    ref = assert_identical(run_all(sample_config(tmp_path, parity_stages(quality_model)), tmp_path, stderr))
    assert ref["totals"]["kept"] > 0 and ref["totals"]["dropped"] > 0
    notes = [n for row in pq.read_table(tmp_path / "local" / "ledger.parquet").column("notes").to_pylist() for n in row or []]
    assert {(n["stage"], n["action"]) for n in notes} >= {("decontaminate@1", "mask"), ("decontaminate@1", "quote")}
    assert len(ref["shards"]) >= 2, "shard cutting must be exercised"
    assert_no_third_party_noise(stderr["ray"])
    # Every engine records CPU seconds of every stage (Ray and Beam since session 13; what they leave
    # out — the band shuffle's worker CPU, set-up, shards — is in docs/cluster.md)
    stage_keys = {k for k in ref["run"]["seconds_by_stage"] if "@" in k and " " not in k}
    for name in ("ray", "beam"):
        run = json.loads((tmp_path / name / "manifest.json").read_text(encoding="utf-8"))["run"]
        cpu = run.get("cpu_seconds_by_stage") or {}
        assert stage_keys <= set(cpu) and all(v >= 0 for v in cpu.values()), (name, stage_keys, cpu)


def assert_no_third_party_noise(stderr: str) -> None:
    """Without -v, a Ray run's stderr holds only our own log lines (issue #17: Ray added ~25 lines,
    Presidio "INFO Using device of type: cpu", Ray's C++ core worker "[… E …] core_worker.cc: …")."""
    for noise in ("Using device", "core_worker", "Started a local Ray instance", "Connecting to existing Ray cluster",
                  "ray.data", "Running Dataset", "Execution plan", "raylet", "(MapWorker"):
        assert noise not in stderr, f"third-party noise on stderr: {noise!r}\n{stderr}"
    ours = ("INFO ", "WARNING ", "ERROR ")
    assert all(line.startswith(ours) for line in stderr.splitlines() if line.strip()), stderr


@pytest.mark.slow
@pytest.mark.shared
def test_parity_on_shared_deliveries(tmp_path, ray_local, shared_data, quality_model):
    # Engines only: one and two local workers are compared on the sample above, and on the real
    # deliveries by test_shared_deliveries' subset twice. A two-worker run here loaded every model
    # (PII's too) twice: 91.9 -> 55.3 CPU-s without it, fixtures included (2026-12-07, load 10-12).
    runs = ("local", "ray", "beam")
    ref = assert_identical(run_all(subset_config(shared_data, tmp_path, parity_stages(quality_model)), tmp_path, runs=runs))
    dropped_by = {}
    for s in ref["sources"]:
        for stage, reasons in s["counts"]["dropped_by"].items():
            dropped_by[stage] = dropped_by.get(stage, 0) + sum(reasons.values())
    # the subset exercises the near-duplicate stage (statutes in two versions) and the scrubber
    assert dropped_by.get("minhash_dedup@2", 0) > 0, dropped_by
    assert any(s["stage_counters"] for s in ref["sources"])


@pytest.fixture
def decide_calls(monkeypatch):
    """Every ``MinHashDedup.decide`` on the driver from now on, with its stats; grouping band keys
    on the driver (the path without an engine shuffle) fails."""
    import filters.minhash_dedup.stage as mh  # the module whose globals decide() uses

    calls = []
    decide = mh.MinHashDedup.decide

    def recording(self, keys, grouped=None):
        grouped = None if grouped is None else list(grouped)
        out = decide(self, keys, grouped=grouped)
        calls.append({"grouped": grouped, **self.stats})
        return out

    def on_the_driver(*_, **__):
        raise AssertionError("band keys were grouped on the driver")

    monkeypatch.setattr(mh.MinHashDedup, "decide", recording)
    monkeypatch.setattr(mh, "candidate_pairs", on_the_driver)
    monkeypatch.setattr(mh.BandSpill, "add", on_the_driver)
    return calls


@pytest.mark.slow
def test_band_shuffle_runs_on_the_engine_also_against_a_release(tmp_path, ray_local, request):
    """Ray (groupby) and Beam (GroupByKey) group MinHash band keys — this run's and a released
    manifest's — and the driver's decide only gets the reduced pairs: same output as local."""
    from pipelines import runner
    from pipelines.progress import null_progress

    catalog = str(tmp_path / "catalog")
    stages = ["normalize", {"name": "length", "min_chars": 2, "max_chars": 2000000}, "exact_dedup",
              {"name": "minhash_dedup", "threshold": 0.6}]
    raw = yaml.safe_load((EXAMPLES / "pipeline.yaml").read_text(encoding="utf-8"))
    for src in raw["sources"]:
        src["paths"] = [str(EXAMPLES / p) for p in src["paths"]]
    first = dict(raw, name="release-1", stages=stages, sources=[s for s in raw["sources"] if s["id"] in ("ko_statutes", "en_speeches")])
    (tmp_path / "v1.yaml").write_text(yaml.safe_dump(first, allow_unicode=True, sort_keys=False), encoding="utf-8")
    released = runner.run(tmp_path / "v1.yaml", out=tmp_path / "v1", catalog=catalog, progress=null_progress()).manifest["id"]

    stages[-1] = {"name": "minhash_dedup", "threshold": 0.6, "released": [released], "catalog": catalog}
    second = dict(raw, name="release-2", stages=stages)
    (tmp_path / "v2.yaml").write_text(yaml.safe_dump(second, allow_unicode=True, sort_keys=False), encoding="utf-8")
    outs = {"local": tmp_path / "local"}
    runner.run(tmp_path / "v2.yaml", out=outs["local"], catalog=catalog, progress=null_progress())
    calls = request.getfixturevalue("decide_calls")  # from here on, grouping on the driver fails
    for engine in ("ray", "beam"):
        outs[engine] = tmp_path / engine
        runner.run(tmp_path / "v2.yaml", out=outs[engine], catalog=catalog, engine=engine, progress=null_progress())
    ref = assert_identical(outs)

    assert len(calls) == 2
    for call in calls:
        assert call["grouped"], "decide got no pairs from the engine's shuffle"
        assert all(t.schema.names == ["a", "b"] for t in call["grouped"])
        assert call["spilled_band_rows"] == 0 and call["released"] > 0
        assert call["dropped_released"] > 0 and call["dropped"] > call["dropped_released"]
    ledger = pq.read_table(outs["local"] / "ledger.parquet").to_pylist()
    assert {r["reason"] for r in ledger if r["stage"] == "minhash_dedup@2"} == {"near_duplicate", "duplicate_of_released"}
    assert "minhash_dedup@2 shuffle" in json.loads((outs["ray"] / "manifest.json").read_text())["run"]["seconds_by_stage"]
    assert ref["totals"]["kept"] > 0


@pytest.mark.slow
def test_band_shuffle_with_no_documents_left(tmp_path, ray_local):
    """Every document is dropped before minhash_dedup: the engines' shuffle has nothing to group."""
    stages = ["normalize", {"name": "length", "min_chars": 10**7, "max_chars": 2 * 10**7}, {"name": "minhash_dedup"}]
    ref = assert_identical(run_all(sample_config(tmp_path, stages), tmp_path))
    assert ref["totals"]["kept"] == 0


def test_parity_configs_cover_every_registered_stage():
    from filters.registry import stage_class

    names = [s if isinstance(s, str) else s["name"] for s in parity_stages(Path("q.bin"))]
    assert sorted(names) == sorted(STAGES)
    for name in set(STAGES) - CANONICAL_NAMES:  # run with defaults: they must be valid
        stage_class(name)()


# --- engine-agnostic pieces, without an engine -----------------------------------------------------


def _docs(orders: list[int], texts: list[str]) -> pa.Table:
    n = len(orders)
    return pa.table({
        "id": [f"s-{o}" for o in orders], "text": texts, "source_id": ["s"] * n, "source_file": ["f"] * n,
        "source_locator": [f"line {o}" for o in orders], "source_record_id": [None] * n, "lang": ["ko"] * n,
        "domain": [None] * n, "order": pa.array(orders, pa.int64()),
    })


def test_envelope_round_trip_keeps_documents_ledger_and_facts():
    cfg, _ = load_config(EXAMPLES / "pipeline.yaml")
    stages = build_stages(cfg)
    segments, schema = split_segments(stages)
    assert segments[0].name == "normalize+length+exact_dedup"
    env = Envelope(schema)
    docs = conform(_docs([5, 6, 7], ["가나다 라마", "", "다라마바"]), output_schema([]))
    piece = segments[0].chain(0, docs)  # length drops the empty text
    piece.counters = {"x@1": {"s": {"n": 2}}}
    back = env.unpack(env.pack(piece))
    assert len(back) == 1
    assert back[0].docs.column("order").to_pylist() == [5, 7]
    assert back[0].ledger.column("reason").to_pylist() == ["empty_after_normalisation"]
    assert back[0].ledger.column("n_chars").to_pylist() == [0]
    assert back[0].counters == {"x@1": {"s": {"n": 2}}}
    # The map stages' CPU seconds travel with the piece (the manifest's run.cpu_seconds_by_stage on Ray).
    assert set(piece.cpu_seconds) == {st.key for st in segments[0].chain.stages} and back[0].cpu_seconds == piece.cpu_seconds


def test_keys_reach_decide_in_ingest_order_in_fixed_chunks(monkeypatch):
    a = pa.table({"id": ["c", "a"], "order": pa.array([make_order(0, 1, 1), 3], pa.int64())})
    b = pa.table({"id": ["b"], "order": pa.array([4], pa.int64())})
    assert [c.column("id").to_pylist() for c in keys_in_order([a, b])] == [["a", "b", "c"]]
    monkeypatch.setattr(execution, "KEY_CHUNK_ROWS", 2)
    chunks = [c.column("id").to_pylist() for c in keys_in_order([a, b])]
    assert chunks == [["a", "b"], ["c"]]
    # However the keys arrive cut (a unit's Parquet batches), decide gets the same chunks.
    assert [c.column("id").to_pylist() for c in execution.rechunk([a.slice(1), b, a.slice(0, 1)])] == chunks


def test_assembler_refuses_documents_out_of_ingest_order(tmp_path):
    schema = output_schema([])
    asm = Assembler(tmp_path, schema, 1 << 20, ["s"])
    asm.add_kept(conform(_docs([1, 2], ["a", "b"]), schema))
    with pytest.raises(RuntimeError, match="out of ingest order"):
        asm.add_kept(conform(_docs([0], ["c"]), schema))
    asm.add(Piece(0, schema.empty_table()))


def test_engine_settings_do_not_change_the_config_digest(tmp_path):
    raw = yaml.safe_load((EXAMPLES / "pipeline.yaml").read_text(encoding="utf-8"))
    for src in raw["sources"]:
        src["paths"] = [str(EXAMPLES / p) for p in src["paths"]]
    a = tmp_path / "a.yaml"
    a.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    raw |= {"engine": "ray", "ray": {"address": "ray://head:10001", "actors": 8},
            "beam": {"runner": "DataflowRunner", "pipeline_args": ["--project=p"], "temp_location": "gs://b/t"}}
    b = tmp_path / "b.yaml"
    b.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    (ca, _), (cb, _) = load_config(a), load_config(b)
    assert cb.ray.actors == 8 and cb.beam.runner == "DataflowRunner"
    assert ca.digest() == cb.digest()


# --- the adversarial pass of session 13: what a worker raises, engine options, CPU seconds -----------


def small_config(dest: Path, **extra) -> Path:
    """One small JSON-lines source through cheap stages (a global one included)."""
    data = dest / "in.jsonl"
    data.write_text("".join(json.dumps({"id": f"d{i}", "text": f"document {i} of a small test source"}) + "\n"
                            for i in range(30)), encoding="utf-8")
    cfg = {"name": "small", "purpose": {"description": "engine test", "uses": ["pretraining"]},
           "output": {"dir": "out"}, "stages": ["normalize", "exact_dedup", "minhash_dedup"],
           "sources": [{"id": "s", "paths": [str(data)], "format": "jsonl", "lang": "en",
                        "provenance": {"owner": "t", "acquisition": "public-domain", "licence": "CC0-1.0"}}]} | extra
    path = dest / "small.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["ray", "beam"])
def test_an_input_error_in_a_worker_reaches_the_cli_as_itself(tmp_path, request, engine):
    """A file that grew after the plan was made stops the run with the local engine's InputError,
    one line. Before: Ray handed it over wrapped (``UserCodeException`` / ``RayTaskError``: a
    traceback at the CLI, exit 1); Beam appended " [while running 'Ingest']" to the message."""
    from corpusmill_base.errors import InputError
    from pipelines import runner
    from pipelines.progress import null_progress

    if engine == "ray":
        request.getfixturevalue("ray_local")
    config = small_config(tmp_path)
    plan = runner.prepare(config, engine, out=tmp_path / "out", catalog=str(tmp_path / "catalog"))
    with open(tmp_path / "in.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "late", "text": "appended after the plan was made"}) + "\n")
    with pytest.raises(InputError) as err:
        runner.run(config, out=tmp_path / "out", catalog=str(tmp_path / "catalog"), plan=plan, progress=null_progress())
    assert type(err.value) is InputError
    assert str(err.value).startswith("source s: input file 'in.jsonl': its size changed from") and "\n" not in str(err.value)
    assert "while running" not in str(err.value)


@pytest.mark.slow
def test_ctrl_c_and_os_errors_in_a_beam_step_come_out_as_themselves(tmp_path, monkeypatch):
    """Beam re-raises a step's KeyboardInterrupt or ``OSError(errno, …)`` as a RuntimeError naming
    it (the types cannot take its annotated message): Ctrl-C ended a Beam run with a traceback and
    exit 1 instead of "interrupted" (130), a full disk was not the one-line OSError it is locally."""
    from pipelines import distributed, runner
    from pipelines.progress import null_progress

    from corpusmill_base.errors import OutputError

    config = small_config(tmp_path)
    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))
    for raised, expected in ((KeyboardInterrupt(), None), (OSError(errno.EIO, "Input/output error", "y"), None), (full, OutputError)):
        def fail(self, task, raised=raised):
            raise raised
            yield

        monkeypatch.setattr(distributed.IngestStep, "__call__", fail)
        with pytest.raises(expected or type(raised)) as err:
            runner.run(config, out=tmp_path / "out", catalog=str(tmp_path / "catalog"), engine="beam", progress=null_progress())
        if expected is None:
            assert err.value is raised
        else:  # the runner's one line for a full disk
            assert str(err.value).startswith(f"no space left on device while writing {tmp_path / 'x'}")
            assert str(err.value).endswith("free space and re-run (a beam run starts over: it has no --resume)")


def test_engine_options_the_engine_would_refuse_fail_the_dry_run(tmp_path):
    """Refused by ``run --dry-run`` (and before any work by ``run``), one line each. Before: a
    ``ValueError`` traceback once Ray started (an object store below its 75 MB minimum) or once the
    Beam pipeline was built (a runner name it does not know), and a misspelt pipeline option
    was dropped by Beam with a log line the CLI does not show."""
    cases = [
        ({"engine": "ray", "ray": {"object_store_mb": 10}}, "ray.object_store_mb: 10 MB is below"),
        ({"engine": "beam", "beam": {"runner": "FlinkRuner"}}, "beam.runner: 'FlinkRuner' is not a runner"),
        ({"engine": "beam", "beam": {"pipeline_args": ["--job_endpont=host:8099"]}}, "beam.pipeline_args: Beam knows no option --job_endpont"),
        ({"engine": "beam", "beam": {"runner": "apache_beam.NoRunner"}}, "beam.runner: 'apache_beam.NoRunner' is not a runner"),
        ({"engine": "beam", "beam": {"pipeline_args": ["--runner=DataflowRunner"]}}, "beam.pipeline_args: --runner=DataflowRunner is ignored"),
    ]
    env = {"RAY_ADDRESS": ""}
    for i, (extra, message) in enumerate(cases):
        (tmp_path / str(i)).mkdir()
        config = small_config(tmp_path / str(i), **extra)
        res = cli("run", str(config), "--dry-run", cwd=tmp_path, env=env, check=False)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert res.stderr.startswith("corpusmill: error: " + message), res.stderr
    ok = small_config(tmp_path, engine="beam", beam={"pipeline_args": ["--job_endpoint=host:8099", "--environment_type=EXTERNAL"]})
    assert cli("run", str(ok), "--dry-run", cwd=tmp_path, env=env).returncode == 0
    # A runner with a Java side (Flink/Spark uber jars, Prism, Dataflow) takes options the Python SDK
    # does not know (review, session 13: they were refused): passed on, with a warning
    (tmp_path / "j").mkdir()
    java = small_config(tmp_path / "j", engine="beam", beam={"runner": "PortableRunner", "pipeline_args": ["--checkpointingInterval=1000"]})
    res = cli("run", str(java), "--dry-run", cwd=tmp_path, env=env)
    assert res.returncode == 0 and "--checkpointingInterval unknown to the Python SDK" in res.stderr, res.stderr


def test_a_ray_address_where_nothing_listens_is_one_line_at_once(tmp_path):
    """``ray.address`` (or ``$RAY_ADDRESS``) naming a port where nothing listens: one line, exit 2,
    within seconds. Before: ``ray.init`` waited over 200 s without a word (its stderr is off while
    it starts), then a traceback."""
    import socket
    import subprocess

    with socket.socket() as s:  # a port nothing listens on (bound, then released)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = small_config(tmp_path, engine="ray")
    try:
        res = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", str(config), "--out", str(tmp_path / "out")],
                             cwd=tmp_path, env={**os.environ, "RAY_ADDRESS": f"127.0.0.1:{port}"}, capture_output=True,
                             text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the run waited for the missing cluster")
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.strip() == (f"corpusmill: error: ray: cannot join the cluster at '127.0.0.1:{port}' (ray.address, else "
                                  f"$RAY_ADDRESS): nothing answers at 127.0.0.1:{port} (Connection refused)")


def test_ray_address_check_leaves_other_schemes_and_proxies_to_ray(monkeypatch):
    """Review, session 13: `anyscale://…` was refused as "not a port number", `http://…` (a leftover
    of `ray job submit`) read as "nothing answers", and a client behind a proxy failed the direct
    connection; a host that does not resolve says so."""
    from pipelines.engine_ray import _unreachable

    for v in ("grpc_proxy", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(v, raising=False)
    assert _unreachable("anyscale://my-cluster") is None and _unreachable("http://127.0.0.1:8265") is None
    assert _unreachable("auto") is None and _unreachable("ray://head") is None
    assert _unreachable("no-such-host.invalid:10001", timeout=5).startswith("cannot resolve host no-such-host.invalid")
    monkeypatch.setenv("grpc_proxy", "http://proxy:3128")
    assert _unreachable("ray://10.255.255.1:10001") is None


def test_a_bug_raised_while_our_error_was_handled_keeps_its_traceback():
    """worker_error follows Ray's wrappers only: a TypeError raised `from None` (or in a finally)
    while an InputError was handled came out as that InputError, its own traceback lost."""
    from corpusmill_base.errors import InputError
    from pipelines.engine_ray import worker_error

    try:
        try:
            raise InputError("x.jsonl: changed after the plan")
        except InputError:
            raise TypeError("a bug") from None
    except TypeError as bug:
        assert worker_error(bug) is None
    try:
        try:
            raise InputError("x.jsonl: changed after the plan")
        finally:
            raise AttributeError("cleanup bug")  # noqa: B012
    except AttributeError as bug:
        assert worker_error(bug) is None
