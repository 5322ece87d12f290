"""minhash_dedup: datasketch compatibility, Korean and English near-duplicates, keeper rule,
spill path, CLI (`corpusmill dedup`), and incremental dedup against a released manifest."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from filters.base import StageContext
from filters.minhash_dedup import (
    MinHashDedup,
    Shingler,
    candidate_probability,
    lsh_params,
    parse_options,
    signatures,
    sketch_estimate,
    sketch_of,
)
from corpusmill_base.errors import ConfigError
from tests.conftest import EXAMPLES, cli


def _statutes() -> dict[str, str]:
    rows = [json.loads(line) for line in (EXAMPLES / "data/statutes.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["id"]: r["text"] for r in rows}


def _speeches() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted((EXAMPLES / "data/speeches").glob("*.txt"))}


def edited(text: str, frac: float, seed: int) -> str:
    """Replace/delete/insert ``frac`` of the words (like neardup.jsonl's edit kinds)."""
    rng = random.Random(seed)
    words = text.split(" ")
    for _ in range(max(1, int(len(words) * frac))):
        i = rng.randrange(len(words))
        op = rng.random()
        if op < 0.34:
            words[i] = "변경" if any("\uac00" <= c <= "\ud7a3" for c in words[i]) else "changed"
        elif op < 0.67 and len(words) > 2:
            del words[i]
        else:
            words.insert(i, words[rng.randrange(len(words))])
    return " ".join(words)


def batch(rows: list[dict]) -> pa.RecordBatch:
    cols = {k: [r.get(k) for r in rows] for k in ("id", "text", "source_id")}
    cols["order"] = list(range(len(rows)))
    if any("domain" in r for r in rows):
        cols["domain"] = [r.get("domain") for r in rows]
    if any("quality_score" in r for r in rows):
        cols["quality_score"] = [r.get("quality_score") for r in rows]
    return pa.RecordBatch.from_pydict(cols)


def run_stage(rows: list[dict], options: dict | None = None, priority: dict | None = None, tmp: Path | None = None, split: int = 0):
    stage = MinHashDedup(options or {}, StageContext(source_priority=priority or {}, workdir=str(tmp) if tmp else None))
    b = batch(rows)
    parts = [b] if not split else [b.slice(i, split) for i in range(0, b.num_rows, split)]
    decisions = stage.decide([stage.keys(p) for p in parts])
    return {r["id"]: r for r in decisions.to_pylist()}, stage


@pytest.fixture(scope="module")
def mixed_rows() -> list[dict]:
    rows = []
    for i, (sid, text) in enumerate(sorted(_statutes().items())):
        rows.append({"id": f"ko-{sid}", "text": text, "source_id": "base"})
    for i, (name, text) in enumerate(sorted(_speeches().items())):
        rows.append({"id": f"en-{name}", "text": text, "source_id": "base"})
    variants = []
    for r in rows:
        if r["id"] in ("ko-s015", "ko-s015b", "ko-s021", "en-1793-Washington"):
            continue
        variants.append({"id": r["id"] + "-edit05", "text": edited(r["text"], 0.05, 1), "source_id": "copy"})
        variants.append({"id": r["id"] + "-ws", "text": r["text"].replace(" ", "  ").replace("\n", "\n\n"), "source_id": "copy"})
        variants.append({"id": r["id"] + "-boiler", "text": "무단 전재 및 재배포 금지 · All rights reserved\n" + r["text"] + "\nShare this page", "source_id": "copy"})
    return rows + variants


def test_signatures_are_datasketch_minhashes():
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    opts = parse_options({})
    sh = Shingler(opts)
    texts = [_statutes()["s008"], _speeches()["1865-Lincoln"], "짧은", ""]
    h, counts = sh.batch(texts)
    sig = signatures(h, counts, opts.num_perm, opts.seed)
    starts = np.concatenate([[0], np.cumsum(counts)])
    for i in range(len(texts)):
        m = MinHash(num_perm=opts.num_perm, seed=opts.seed, hashfunc=lambda x: int(x) & 0xFFFFFFFF)
        m.update_batch(h[starts[i] : starts[i + 1]])
        assert np.array_equal(m.hashvalues, sig[i])
    # A user can index our signatures with datasketch's LSH and find the near-duplicate.
    variant = edited(texts[0], 0.03, 5)
    vh, vc = sh.batch([variant])
    vsig = signatures(vh, vc, opts.num_perm, opts.seed)[0]
    lsh = MinHashLSH(threshold=0.6, num_perm=opts.num_perm)
    for i, name in enumerate(["statute", "lincoln"]):
        lsh.insert(name, LeanMinHash(seed=opts.seed, hashvalues=sig[i], scheme="affine32"))
    assert lsh.query(LeanMinHash(seed=opts.seed, hashvalues=vsig, scheme="affine32")) == ["statute"]


def test_compiled_kernels_equal_the_numpy_path(monkeypatch):
    """The numba kernels (signatures from the Arrow column's UTF-8 bytes, band keys, sketches)
    give the numpy path's values bit for bit, for every shingle mode and any column layout."""
    from filters.minhash_dedup import band_keys, kernels

    if not kernels.AVAILABLE:
        pytest.skip("numba not installed: only the numpy path runs")
    texts = [_statutes()["s008"], _speeches()["1865-Lincoln"], "짧은", "", "  \u3000\t", "ABCDE", "İstanbul ǅ Σσς",
             "emoji \U0001F600 and \U00020000 outside the BMP", "a.b,c", "1\\. 조문ㆍ항 ·목"]
    for shingle in ("char", "word", "auto"):
        opts = parse_options({"shingle": shingle, "char_n": 4 if shingle == "auto" else 5})
        sh = Shingler(opts)
        ref = signatures(*sh.batch(texts), opts.num_perm, opts.seed)
        col = pa.array(["pad", *texts, None], pa.string())
        for layout in (col.slice(1, len(texts)), pa.chunked_array([col[1:4], col[4 : len(texts) + 1]]), col.slice(1, len(texts)).cast(pa.large_string())):
            assert np.array_equal(sh.signatures(layout), ref), (shingle, layout.type)
        assert np.array_equal(sh.signatures(col)[-1], signatures(*sh.batch([""]), opts.num_perm, opts.seed)[0])  # null = empty
    keys, sketch = band_keys(ref, 42, 3), sketch_of(ref)
    monkeypatch.setattr(kernels, "AVAILABLE", False)
    assert np.array_equal(band_keys(ref, 42, 3), keys) and np.array_equal(sketch_of(ref), sketch)
    assert np.array_equal(Shingler(opts).signatures(pa.array(texts)), ref)


def test_kernels_load_only_once_a_process_has_enough_minhash_work():
    """A fresh process runs the numpy path (no numba import) until it has handed MinHash
    ``WORTH_IT`` bytes, then the compiled kernels (a large run still gets their speed)."""
    import subprocess
    import sys

    from filters.minhash_dedup import kernels

    if not kernels.AVAILABLE:
        pytest.skip("numba not installed: only the numpy path runs")
    script = ("import sys\nfrom filters.minhash_dedup import compiled\n"
              "print(compiled.kernels(1000) is None, 'numba' in sys.modules)\n"
              "print(compiled.kernels(compiled.WORTH_IT) is sys.modules[compiled.KERNELS])\n")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert res.stdout.split() == ["True", "False", "True"], res.stdout + res.stderr


def test_setup_of_a_large_run_loads_every_kernel_the_stage_calls():
    """With ``input_bytes`` past ``WORTH_IT`` the stage loads its keys' kernels in ``setup()``
    (before the local engine forks), each with the argument types the keys step uses — none is
    loaded again afterwards; the decide loads the band-key partitioning itself — and a small run's
    ``setup()`` loads none (fresh process), nor does the set-up of a process forked from the one
    that built the stage (the local engine's decider)."""
    import subprocess
    import sys

    from filters.minhash_dedup import kernels

    if not kernels.AVAILABLE:
        pytest.skip("numba not installed: only the numpy path runs")
    script = (
        "import sys, tempfile\nimport pyarrow as pa\nfrom filters.base import StageContext\n"
        "from filters.minhash_dedup import MinHashDedup, compiled\n"
        "MinHashDedup({}, StageContext(input_bytes=1000)).ensure_setup()\nprint('numba' in sys.modules)\n"
        "import os\nforked = MinHashDedup({}, StageContext(input_bytes=compiled.WORTH_IT))\n"
        "pid = os.fork()\n"
        "if pid == 0:\n    forked.ensure_setup()\n    os._exit(3 if 'numba' in sys.modules else 0)\n"
        "print(os.waitpid(pid, 0)[1] == 0)\n"
        "for opts, workdir in (({}, tempfile.mkdtemp()), ({'shingle': 'auto'}, tempfile.mkdtemp()), ({}, None)):\n"
        "    st = MinHashDedup(opts, StageContext(workdir=workdir, input_bytes=compiled.WORTH_IT))\n"
        "    st.ensure_setup()\n"
        "    k = sys.modules[compiled.KERNELS]\n"
        "    loaded = lambda: {n: list(getattr(k, n).signatures) for n in ('utf8_char_signatures', 'token_signatures', 'band_keys', 'sketches', 'partition_rows')}\n"
        "    before = loaded()\n"
        "    texts = ['한국어 문장 ' * 20, 'english words ' * 30, 'x'] * 50\n"
        "    batch = pa.record_batch({'id': [str(i) for i in range(len(texts))], 'text': texts, 'order': pa.array(range(len(texts)), pa.int64())})\n"
        "    st.decide(iter([st.keys(batch)]))\n"
        "    after = loaded()\n"
        "    keys = ('utf8_char_signatures', 'token_signatures', 'band_keys', 'sketches')\n"
        "    print(all(before[n] == after[n] for n in keys) and all(before[n] for n in ('utf8_char_signatures', 'band_keys')), bool(before['sketches']))\n"
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    # Keys with signatures (a run with a work directory writes the release index) carry no
    # sketch: neither set-up nor the decide loads that kernel (the decide sketches the candidates
    # on the numpy path); keys without signatures carry the sketch, so set-up loads it.
    assert res.stdout.split() == ["False", "True", "True", "False", "True", "False", "True", "True"], res.stdout + res.stderr


def test_sketches_estimate_jaccard_without_bias():
    """The one-byte sketches that settle clear candidate pairs must estimate the Jaccard fairly:
    the raw low byte of an affine MinHash value does not (two texts whose shingle hashes agree in
    their low bits would look identical)."""
    opts = parse_options({})
    sh = Shingler(opts)
    # J = 1/2: the second text's only 5-gram is the first of the first text's two.
    h, c = sh.batch(["재밋던데 ㅋㅋ", "재밋던데.. ㅋ"])
    sig = signatures(h, c, opts.num_perm, opts.seed)
    assert (sig[0] & 0xFF == sig[1] & 0xFF).all()  # the trap: identical low bytes
    k = sketch_of(sig)
    assert abs(sketch_estimate(k[:1], k[1:])[0] - 0.5) < 0.15
    # Over many pairs the sketch estimate tracks the full-signature estimate.
    text = _statutes()["s008"]
    variants = [text] + [edited(text, f, i) for i, f in enumerate(np.linspace(0.02, 0.6, 30))]
    h, c = sh.batch(variants)
    sig = signatures(h, c, opts.num_perm, opts.seed)
    full = (sig[0] == sig[1:]).mean(axis=1)
    k = sketch_of(sig)
    sketch = sketch_estimate(np.repeat(k[:1], len(variants) - 1, axis=0), k[1:])
    assert np.abs(sketch - full).max() < 0.12


def test_lsh_parameters_follow_the_s_curve():
    for t in (0.5, 0.6, 0.7, 0.8):
        b, r = lsh_params(t, 128)
        assert b * r <= 128
        assert candidate_probability(t, b, r) >= 0.99
        assert candidate_probability(0.2, b, r) < candidate_probability(t, b, r)
    with pytest.raises(ConfigError, match="unknown option"):
        parse_options({"treshold": 0.5})
    with pytest.raises(ConfigError, match="exceeds num_perm"):
        MinHashDedup({"bands": 40, "rows": 4})


def test_korean_and_english_near_duplicates_are_found(mixed_rows, tmp_path):
    dec, stage = run_stage(mixed_rows, priority={"base": 0, "copy": 1}, tmp=tmp_path)
    variants = [r for r in mixed_rows if r["source_id"] == "copy"]
    assert {r["id"] for r in variants} == set(dec)  # every variant dropped, no base dropped
    for r in variants:
        d = dec[r["id"]]
        base = r["id"].rsplit("-", 1)[0]
        assert d["reason"] == "near_duplicate"
        assert d["duplicate_of"] == base and d["cluster_id"] == base
        assert 0.6 <= float(d["detail"].removeprefix("jaccard ").lstrip("~")) <= 1.0  # the verified Jaccard, no text
    # Two different enactments under one name (J ≈ 0.1) stay apart, as do short unrelated texts.
    assert "ko-s015" not in dec and "ko-s015b" not in dec
    assert stage.stats["verified_pairs"] >= len(variants)


def test_sketches_from_the_signature_file_decide_as_the_keys_sketches(mixed_rows, tmp_path):
    """Keys that carry signatures (a run with a work directory) leave the one-byte sketches out:
    the decide derives them from its signature file for the candidates only. The decisions, the
    sketch estimates in the ledger's detail among them, must be those of keys that carry the
    sketches (no work directory), and a key table of an earlier version, with both columns (a
    resumed run), must decide the same."""
    prio = {"base": 0, "copy": 1}
    with_sketches, plain = run_stage(mixed_rows, priority=prio, split=7)
    assert not plain._keeps_signatures
    work = tmp_path / "work"
    from_signatures, stage = run_stage(mixed_rows, priority=prio, tmp=work, split=7)
    assert stage._keeps_signatures
    assert stage.stats["prefiltered_pairs"] + stage.stats["sketch_verified_pairs"] > 0  # the sketches settled pairs
    assert any(r["detail"].startswith("jaccard ~") for r in from_signatures.values())
    assert from_signatures == with_sketches

    b = batch(mixed_rows)
    parts = [b.slice(i, 7) for i in range(0, b.num_rows, 7)]
    keys = [stage.keys(p) for p in parts]
    assert all("sketch" not in k.column_names and "signature" in k.column_names for k in keys)
    assert all("sketch" in plain.keys(p).column_names for p in parts)
    old = MinHashDedup({}, StageContext(source_priority=prio, workdir=str(tmp_path / "old")))
    earlier = [k.append_column("sketch", plain.keys(p).column("sketch")) for k, p in zip(keys, parts)]
    assert {r["id"]: r for r in old.decide(iter(earlier)).to_pylist()} == with_sketches


def test_the_deciders_sketches_need_no_kernel():
    """``sketch_of(..., compiled_ok=False)`` (the decide's candidates) is the kernel's bytes
    without loading it."""
    from filters.minhash_dedup import kernels

    if not kernels.AVAILABLE:
        pytest.skip("numba not installed: only the numpy path runs")
    opts = parse_options({})
    sh = Shingler(opts)
    sig = signatures(*sh.batch([_statutes()["s008"], "짧은", "", "a few english words"]), opts.num_perm, opts.seed)
    assert np.array_equal(sketch_of(sig, compiled_ok=False), sketch_of(sig))
    assert list(kernels.sketches.signatures)  # the default path did load the kernel


def test_decisions_do_not_depend_on_batching_or_spill(mixed_rows, tmp_path):
    whole, _ = run_stage(mixed_rows, priority={"base": 0, "copy": 1})
    split, _ = run_stage(mixed_rows, priority={"base": 0, "copy": 1}, split=7)
    spilled, stage = run_stage(
        mixed_rows, {"memory_budget_mb": 0.01, "partitions": 4}, priority={"base": 0, "copy": 1}, tmp=tmp_path, split=5
    )
    assert stage.stats["spilled_band_rows"] == len(mixed_rows) * lsh_params(0.6, 128)[0]
    assert list((tmp_path).glob("minhash-bands-*")) == []  # spill files removed
    assert whole == split == spilled


def engine_shuffle(stage: MinHashDedup, keys: list[pa.Table], shuffled_by: int = 3) -> list[pa.Table]:
    """What a distributed engine does with the stage's shuffle: rows from every key table (and
    outside the run), grouped by partition in any order, reduced per partition."""
    rows = [stage.shuffle_rows(k) for k in keys]
    extra = stage.outside_shuffle_rows()
    rows = pa.concat_tables(rows + ([extra] if extra is not None else []))
    rng = np.random.default_rng(shuffled_by)  # arrival order inside a group does not matter
    rows = rows.take(pa.array(rng.permutation(rows.num_rows)))
    part = rows.column("partition").to_numpy()
    return [stage.reduce_partition(rows.filter(pa.array(part == p))) for p in np.unique(part)]


def test_engine_shuffle_gives_the_same_decisions_as_grouping_on_the_driver(mixed_rows):
    local, _ = run_stage(mixed_rows, priority={"base": 0, "copy": 1}, split=9)
    stage = MinHashDedup({"partitions": 5}, StageContext(source_priority={"base": 0, "copy": 1}))
    b = batch(mixed_rows)
    # Ordinals need not be dense (ingest ordinals are not): the engine passes pairs by ordinal.
    b = b.set_column(b.schema.get_field_index("order"), "order", pa.array([(i << 20) + 3 for i in range(b.num_rows)], pa.int64()))
    keys = [stage.keys(b.slice(i, 9)) for i in range(0, b.num_rows, 9)]
    grouped = engine_shuffle(stage, keys)
    assert all(t.schema.names == ["a", "b"] for t in grouped)
    decisions = stage.decide(iter(keys), grouped=grouped)
    assert {r["id"]: r for r in decisions.to_pylist()} == local
    assert stage.stats["spilled_band_rows"] == 0
    # Each group links its members to its first document, so both sides must agree on "first".
    with pytest.raises(ValueError, match="ascending"):
        stage.decide(iter(keys[::-1]), grouped=grouped)


def test_keeper_rule_priority_then_quality_then_length_then_id():
    base = _statutes()["s036"]
    en = _speeches()["1961-Kennedy"]
    rows = [
        # priority beats quality and length
        {"id": "p-long", "text": base + " 부칙 추가 문장", "source_id": "republisher", "quality_score": 0.99},
        {"id": "p-auth", "text": base, "source_id": "official", "quality_score": 0.1},
        # equal priority: quality beats length
        {"id": "q-long", "text": en + " Thank you.", "source_id": "official", "quality_score": 0.2},
        {"id": "q-best", "text": en, "source_id": "official", "quality_score": 0.9},
        # equal priority and quality: the longer text wins
        {"id": "l-short", "text": _speeches()["1801-Jefferson"], "source_id": "official"},
        {"id": "l-long", "text": _speeches()["1801-Jefferson"] + "\nGod bless.", "source_id": "official"},
        # everything equal: the smallest id wins
        {"id": "i-b", "text": _speeches()["1933-Roosevelt"], "source_id": "official"},
        {"id": "i-a", "text": _speeches()["1933-Roosevelt"], "source_id": "official"},
    ]
    dec, _ = run_stage(rows, priority={"official": 0, "republisher": 5})
    assert {k: v["duplicate_of"] for k, v in dec.items()} == {
        "p-long": "p-auth",
        "q-long": "q-best",
        "l-short": "l-long",
        "i-b": "i-a",
    }


def test_threshold_and_verification_options(mixed_rows):
    texts = _statutes()
    rows = [
        {"id": "a", "text": texts["s022"], "source_id": "s"},
        {"id": "b", "text": edited(texts["s022"], 0.15, 3), "source_id": "s"},
    ]
    loose, _ = run_stage(rows, {"threshold": 0.4})
    strict, _ = run_stage(rows, {"threshold": 0.9})
    assert set(loose) == {"b"} and strict == {}
    sig_only, _ = run_stage(mixed_rows, {"verify": "signature"}, priority={"base": 0, "copy": 1})
    exact, _ = run_stage(mixed_rows, priority={"base": 0, "copy": 1})
    assert set(sig_only) == set(exact)


def test_legal_domain_uses_its_stricter_threshold():
    from filters.minhash_dedup import ShingleSets

    text = _statutes()["s036"]
    variant = edited(text, 0.07, 11)
    sh = Shingler(parse_options({}))
    h, c = sh.batch([text, variant])
    j = ShingleSets(np.arange(2), h, c).jaccard(np.array([0]), np.array([1]))[0]
    assert 0.6 <= j < 0.85  # an amendment-sized change
    plain = [{"id": "a", "text": text, "source_id": "s"}, {"id": "b", "text": variant, "source_id": "s"}]
    legal = [dict(r, domain="legal") for r in plain]
    assert set(run_stage(plain)[0]) == {"b"}
    assert run_stage(legal)[0] == {}  # default domain_thresholds: legal 0.85
    assert set(run_stage(legal, {"domain_thresholds": {}})[0]) == {"b"}
    # a pair uses the stricter of its two documents' thresholds
    assert run_stage([plain[0], legal[1]])[0] == {}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_cli_dedup_writes_kept_documents_and_clusters(mixed_rows, tmp_path):
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, mixed_rows)
    out1, out2 = tmp_path / "kept.parquet", tmp_path / "kept2.parquet"
    cl1, cl2 = tmp_path / "clusters.jsonl", tmp_path / "clusters.parquet"
    cli("dedup", str(src), str(out1), "--clusters", str(cl1))
    cli("dedup", str(src), str(out2), "--clusters", str(cl2), "--workers", "2", "--memory-budget-mb", "0.01")
    kept = pq.read_table(out1)
    assert kept.equals(pq.read_table(out2))  # same result with 2 workers and a forced spill
    clusters = [json.loads(line) for line in cl1.read_text(encoding="utf-8").splitlines()]
    assert clusters == pq.read_table(cl2).to_pylist()
    assert [c["id"] for c in clusters] == [r["id"] for r in mixed_rows]
    kept_ids = kept.column("id").to_pylist()
    assert kept_ids == [c["id"] for c in clusters if c["kept"]]
    by_id = {c["id"]: c for c in clusters}
    for c in clusters:
        assert by_id[c["cluster_id"]]["kept"]  # every cluster is named after its kept document
    assert len(kept_ids) < len(mixed_rows)
    # a variant that is dropped shares its cluster with the kept copy
    assert by_id["en-1961-Kennedy-edit05"]["cluster_id"] == by_id["en-1961-Kennedy"]["cluster_id"]
    # JSON lines output too, with the input's columns
    out3 = tmp_path / "kept.jsonl"
    res = cli("dedup", str(src), str(out3), "--threshold", "0.6")
    assert json.loads(res.stdout)["kept"] == len(kept_ids)
    assert [json.loads(line)["id"] for line in out3.read_text(encoding="utf-8").splitlines()] == kept_ids


def _config(path: Path, data: Path, stage: dict, name: str) -> Path:
    cfg = {
        "name": name,
        "purpose": {"description": "test", "uses": ["research"]},
        "output": {"dir": str(path.parent / f"out-{name}"), "shard_target_mb": 1},
        "stages": ["normalize", "exact_dedup", stage],
        "sources": [
            {
                "id": "docs",
                "paths": [str(data)],
                "format": "jsonl",
                "text_field": "text",
                "id_field": "id",
                "provenance": {"owner": "test", "acquisition": "public-domain", "licence": "LicenseRef-public-domain"},
            }
        ],
    }
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def test_pipeline_stage_and_incremental_dedup_against_a_release(tmp_path, catalog_env):
    statutes, speeches = _statutes(), _speeches()
    first = [{"id": f"s-{k}", "text": v} for k, v in sorted(statutes.items())] + [
        {"id": f"e-{k}", "text": v} for k, v in sorted(speeches.items())
    ]
    first.append({"id": "s-s036-copy", "text": edited(statutes["s036"], 0.03, 2)})
    _write_jsonl(tmp_path / "v1.jsonl", first)
    cfg1 = _config(tmp_path / "v1.yaml", tmp_path / "v1.jsonl", {"name": "minhash_dedup", "threshold": 0.6}, "v1")
    res = cli("run", str(cfg1))
    id1 = res.stdout.strip().splitlines()[-1]
    out1 = tmp_path / "out-v1"
    m1 = json.loads((out1 / "manifest.json").read_text(encoding="utf-8"))
    ledger1 = pq.read_table(out1 / "ledger.parquet").to_pylist()
    near = [r for r in ledger1 if r["reason"] == "near_duplicate"]
    assert len(near) == 1 and near[0]["stage"] == "minhash_dedup@2"
    kept1 = {r["id"] for r in ledger1 if r["outcome"] == "kept"}
    assert near[0]["duplicate_of"] in kept1 and near[0]["cluster_id"] == near[0]["duplicate_of"]
    # The signature index of the kept documents is listed in the manifest and published.
    (entry,) = m1["indexes"]
    assert entry["path"] == "minhash/index.parquet" and entry["rows"] == len(kept1)
    index = pq.read_table(catalog_env / "data" / id1 / entry["path"])
    assert set(index.column("id").to_pylist()) == kept1
    cli("manifest", "verify", id1)

    # Second delivery: re-published variants of released documents plus genuinely new text.
    second = [
        {"id": "n-kennedy", "text": edited(speeches["1961-Kennedy"], 0.04, 9)},
        {"id": "n-s024", "text": "[재게시] " + statutes["s024"]},
        {"id": "n-new-ko", "text": edited(statutes["s015b"], 0.6, 4) + " 새로운 문서"},
        {"id": "n-new-en", "text": "An entirely different text about harbour fees, tonnage and pilots. " * 5},
    ]
    _write_jsonl(tmp_path / "v2.jsonl", second)
    stage = {"name": "minhash_dedup", "released": [id1]}
    cfg2 = _config(tmp_path / "v2.yaml", tmp_path / "v2.jsonl", stage, "v2")
    cli("run", str(cfg2))
    rows = pq.read_table(tmp_path / "out-v2" / "ledger.parquet").to_pylist()
    dropped = {r["duplicate_of"]: r for r in rows if r["outcome"] == "dropped"}
    released_ids = {r["id"]: r for r in ledger1}
    assert len(dropped) == 2
    for keeper, r in dropped.items():
        assert r["reason"] == "duplicate_of_released"
        assert keeper in kept1  # the released document's id
    # line 14 of v1 is the Kennedy speech, line 6 statute s024
    assert {released_ids[k]["source_locator"] for k in dropped} == {"line 14", "line 6"}
    assert sum(r["outcome"] == "kept" for r in rows) == 2
    # Incompatible settings are refused rather than compared.
    cfg3 = _config(tmp_path / "v3.yaml", tmp_path / "v2.jsonl", {"name": "minhash_dedup", "released": [id1], "char_n": 4}, "v3")
    bad = cli("run", str(cfg3), check=False)
    assert bad.returncode == 2 and "cannot be compared" in bad.stderr


@pytest.mark.shared
def test_neardup_ground_truth(shared_data):
    from bench.neardup_eval import load, score

    rows = load(shared_data / "eval/generated/neardup.jsonl")
    dec, _ = run_stage([{"id": r["id"], "text": r["text"], "source_id": "x"} for r in rows])
    predicted = {k: v["cluster_id"] for k, v in dec.items()}
    s = score(rows, predicted)
    assert s["f1"] >= 0.97
    for kind, k in s["kinds"].items():
        assert k["rate"] >= 0.95, (kind, k)
    far = {r["id"] for r in rows if r["kind"] == "far"}
    assert not far & set(predicted)  # no far rewrite is dropped …
    assert not far & set(predicted.values())  # … nor keeps a duplicate of its base
