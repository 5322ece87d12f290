"""Tokenize, tokenizer train, mix and pull, read back by Megatron-Core's own IndexedDataset reader.

The catalog is the catalog tests' signed run of the bundled sample (tests/catalog_fixtures.py);
the tokenizer is a tiny byte-level BPE trained on it once per session.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from manifests import derived
from manifests.catalog import Catalog
from manifests.schema import validate_manifest
from tests import megatron_reader
from tests.catalog_cli import cm

pytest_plugins = ["tests.catalog_fixtures"]


@pytest.fixture(scope="session")
def megatron():
    return megatron_reader.load()


def hf(path: Path):
    from tokenizers import Tokenizer

    t = Tokenizer.from_file(str(path))
    t.encode_special_tokens = True
    return t


def texts_of(cat: Catalog, mid: str) -> dict[str, str]:
    m = cat.get(mid)
    out = {}
    for s in m["shards"]:
        t = pq.read_table(cat.data_path(mid, s["path"]), columns=["id", "text"])
        out.update(zip(t.column("id").to_pylist(), t.column("text").to_pylist()))
    return out


def approve(mid: str) -> None:
    cm("review", "approve", mid, "--reviewer", "alice", "--comment", "licences checked")


def last_line(res) -> str:
    return res.stdout.strip().splitlines()[-1]


def write_mix(path: Path, tokenized: str, **extra) -> Path:
    doc = {"name": "legal-mix", "purpose": {"description": "open legal model", "uses": ["pretraining", "commercial"]},
           "inputs": [{"manifest": tokenized, "source": "ko_reviews", "weight": 1.0},
                      {"manifest": tokenized, "source": "en_speeches", "weight": 0.5},
                      {"manifest": tokenized, "source": "ko_statutes", "epochs": 4}],
           "validation": {"fraction": 0.2}, "test": {"tokens": 500}} | extra
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_tokenizer_train_is_deterministic_and_reports_fertility(env, built_catalog, tiny_tokenizer, tmp_path):
    res = cm("tokenizer", "train", built_catalog.mid, "--vocab-size", "600", "--out", str(tmp_path / "t.json"),
             "--catalog", str(built_catalog.catalog), "--allow-unapproved", "--compare", str(tiny_tokenizer), "--json")
    report = json.loads(res.stdout)
    assert (tmp_path / "t.json").read_bytes() == tiny_tokenizer.read_bytes()
    f = report["fertility"][str(tmp_path / "t.json")]
    assert f["ko"]["tokens_per_char"] > 0 and f["en"]["tokens_per_word"] > 0
    assert report["fertility"][str(tiny_tokenizer)] == f


def test_done_when_sequence_read_by_megatron(env, tiny_tokenizer, megatron, tmp_path):
    """approve → tokenize → mix with a validation split → pull; Megatron reads it token for token."""
    approve(env.mid)
    res = cm("tokenize", env.mid, "--tokenizer", str(tiny_tokenizer.parent), "--out", str(tmp_path / "tok"))
    tid = last_line(res)
    assert "tokens" in res.stdout
    cat = env.cat
    tm = cat.get(tid)
    validate_manifest(tm)
    assert tm["kind"] == "tokenized" and tm["parents"] == [env.mid]
    assert tm["tokenizer"]["sha256"] and tm["tokenizer"]["vocab_size"] == 600
    assert tm["tokens"]["total"] == sum(tm["tokens"]["by_source"].values()) == sum(
        sum(c.values()) for c in tm["tokens"]["by_shard"].values())
    assert "tokens:" in cm("manifest", "show", tid).stdout
    cm("manifest", "verify", tid)

    # Same inputs → same bytes and ID (a second output directory, a fresh run).
    again = last_line(cm("tokenize", env.mid, "--tokenizer", str(tiny_tokenizer), "--out", str(tmp_path / "tok2")))
    assert again == tid

    mix_id = last_line(cm("mix", str(write_mix(tmp_path / "mix.yaml", tid)), "--out", str(tmp_path / "mix")))
    bm = cat.get(mix_id)
    validate_manifest(bm)
    assert bm["kind"] == "blend" and bm["parents"] == [tid]
    assert bm["blend"]["epochs"]["ko_statutes"] == 4
    assert cm("pull", mix_id, "--to", str(tmp_path / "p0"), check=False).returncode != 0  # a draft blend
    approve(mix_id)
    out = cm("pull", mix_id, "--to", str(tmp_path / "pulled")).stdout
    assert "--per-split-data-args-path" in out

    pulled = tmp_path / "pulled"
    blend = json.loads((pulled / "blend.json").read_text())
    tok, eos = hf(tiny_tokenizer), tm["tokenizer"]["eos_id"]
    texts = texts_of(cat, env.mid)
    split_ids: dict[str, set[str]] = {}
    for split in ("train", "valid", "test"):
        prefixes, weights = megatron.utils.get_blend_from_list(blend[split])
        assert abs(sum(weights) - 1) < 1e-6
        for prefix in prefixes:
            ds = megatron.indexed_dataset.IndexedDataset(prefix)
            side = pq.read_table(prefix + ".parquet")
            ids = side.column("id").to_pylist()
            assert len(ds) == len(ids) == side.num_rows
            for k, doc_id in enumerate(ids):
                want = tok.encode(texts[doc_id], add_special_tokens=False).ids + [eos]
                assert ds[k].tolist() == want
            entry = next(d for d in bm["megatron"]["datasets"] if d["prefix"] == str(Path(prefix).relative_to(pulled)))
            assert entry["tokens"] == int(ds.sequence_lengths.sum()) == sum(side.column("tokens").to_pylist())
            assert entry["sequences"] == len(ds)
            split_ids.setdefault(split, set()).update(ids)
    assert not (split_ids["train"] & split_ids["valid"]) and not (split_ids["train"] & split_ids["test"])
    assert not (split_ids["valid"] & split_ids["test"])
    assert sum(bm["tokens"]["by_split"].values()) == bm["tokens"]["total"]

    # The catalog's other tools take derived manifests as they are.
    audit = json.loads(cm("audit", mix_id, "--format", "json").stdout)
    assert {r["source"]: r["tokens"] for r in audit["tokens"]} == bm["tokens"]["by_source"]
    assert json.loads(cm("export", "croissant", mix_id).stdout)["distribution"]
    assert "only in" in cm("manifest", "diff", tid, mix_id).stdout
    cm("report", tid, "--out", str(tmp_path / "report"))
    figures = json.loads((tmp_path / "report" / "figures.json").read_text())
    assert figures["sections"]["tokens_exact"]["total"] == tm["tokens"]["total"]
    lineage = cm("manifest", "lineage", env.mid).stdout
    assert tid in lineage and mix_id in lineage

    # The tokenized manifest's own datasets, through the catalog copy, in manifest order.
    order = [i for s in cat.get(env.mid)["shards"] for i in pq.read_table(cat.data_path(env.mid, s["path"]), columns=["id"]).column("id").to_pylist()]
    for d in tm["megatron"]["datasets"]:
        ds = megatron.indexed_dataset.IndexedDataset(cat.data_path(tid, d["prefix"]))
        side = pq.read_table(cat.data_path(tid, d["side_table"])).column("id").to_pylist()
        assert side == [i for i in order if i in set(side)]
        assert ds.index.dtype == np.uint16 and int(ds.sequence_lengths.sum()) == d["tokens"]


def test_takedown_marks_derived_manifests_until_rebuilt(env, tiny_tokenizer, tmp_path):
    approve(env.mid)
    tid = last_line(cm("tokenize", env.mid, "--tokenizer", str(tiny_tokenizer), "--out", str(tmp_path / "tok")))
    approve(tid)
    cm("pull", tid, "--to", str(tmp_path / "ok"))
    res = cm("takedown", env.mid, "--source", "en_speeches", "--reason", "licence withdrawn")
    successor = last_line(res)
    assert f"derived tokenized manifest {tid}" in res.stdout
    assert "AFFECTED" in cm("manifest", "lineage", env.mid).stdout
    assert "take down the curated manifest" in cm("takedown", tid, "--source", "ko_bills", "--reason", "x", check=False).stderr
    refused = cm("pull", tid, "--to", str(tmp_path / "no"), check=False)
    assert refused.returncode == 2 and "taken down" in refused.stderr and successor in refused.stderr
    assert not (tmp_path / "no" / "manifest.json").exists()
    approve(successor)
    new = last_line(cm("tokenize", successor, "--tokenizer", str(tiny_tokenizer), "--out", str(tmp_path / "tok3")))
    assert "en_speeches" not in env.cat.get(new)["tokens"]["by_source"]
    assert derived.affected(env.cat, env.cat.get(new)) == []


def test_mix_refuses_a_purpose_the_licences_do_not_cover(tmp_path, catalog_keys, monkeypatch):
    from tests.catalog_cli import CONFIG

    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["sources"] = [s for s in cfg["sources"] if s["id"] == "ko_statutes"]
    cfg["sources"][0]["paths"] = [str((CONFIG.parent / p).resolve()) for p in cfg["sources"][0]["paths"]]
    cfg["sources"][0]["provenance"]["permitted_uses"] = ["research", "pretraining"]
    cfg["purpose"]["uses"] = ["research", "pretraining"]
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    monkeypatch.setenv("CORPUSMILL_KEY_DIR", str(catalog_keys))
    monkeypatch.setenv("CORPUSMILL_CATALOG", str(tmp_path / "catalog"))
    mid = last_line(cm("-q", "run", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "run")))
    tok = tmp_path / "tok.json"
    cm("tokenizer", "train", mid, "--vocab-size", "300", "--out", str(tok), "--allow-unapproved")
    tid = last_line(cm("tokenize", mid, "--tokenizer", str(tok), "--out", str(tmp_path / "t"), "--allow-unapproved"))
    doc = {"name": "m", "purpose": {"description": "open model", "uses": ["pretraining", "commercial"]},
           "inputs": [{"manifest": tid, "weight": 1}]}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(doc))
    res = cm("mix", str(tmp_path / "m.yaml"), "--allow-unapproved", check=False)
    assert res.returncode == 2 and "not licensed for commercial" in res.stderr


def test_resume_after_a_kill_gives_the_same_manifest(env, tiny_tokenizer, tmp_path):
    from pipelines.tokenize import tokenize

    def boom(msg: str) -> None:
        if msg.startswith("shard 3/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tokenize(env.mid, tiny_tokenizer, out=tmp_path / "t", allow_unapproved=True, log=boom)
    assert not [i for i in env.cat.ids() if derived.is_derived(env.cat.get(i))]  # nothing half-published
    resumed = tokenize(env.mid, tiny_tokenizer, out=tmp_path / "t", allow_unapproved=True)
    assert resumed.resumed_from_shard == 3
    fresh = tokenize(env.mid, tiny_tokenizer, out=tmp_path / "f", allow_unapproved=True)
    assert resumed.id == fresh.id


def test_bad_inputs_are_one_line_errors_and_write_nothing(env, tiny_tokenizer, tmp_path):
    from tokenizers import Tokenizer, models

    before = sorted(env.cat.ids())

    def err(*args: str) -> str:
        res = cm(*args, check=False)
        assert res.returncode == 2, res
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
        return lines[0]

    assert "no tokenizer.json" in err("tokenize", env.mid, "--tokenizer", str(tmp_path / "missing.json"), "--allow-unapproved")
    bad = tmp_path / "bad" / "tokenizer.json"
    bad.parent.mkdir()
    bad.write_text("{not json")
    assert "not a readable Hugging Face tokenizer.json" in err("tokenize", env.mid, "--tokenizer", str(bad), "--allow-unapproved")
    big = Tokenizer(models.WordLevel({f"w{i}": i for i in range(70_000)} | {"</s>": 70_000}, unk_token="w0"))
    big.save(str(tmp_path / "big.json"))
    assert "does not fit the declared dtype uint16" in err("tokenize", env.mid, "--tokenizer", str(tmp_path / "big.json"),
                                                           "--dtype", "uint16", "--allow-unapproved")
    assert "draft" in err("tokenize", env.mid, "--tokenizer", str(tiny_tokenizer))
    assert "pass --allow-unapproved" in err("tokenize", env.mid, "--tokenizer", str(tiny_tokenizer))  # the flag, not the keyword
    assert "pass --allow-unapproved" in err("tokenizer", "train", env.mid, "--vocab-size", "300", "--out", str(tmp_path / "t.json"))
    # --dry-run: the same checks, what would be written, and nothing written
    dry = cm("tokenize", env.mid, "--tokenizer", str(tiny_tokenizer), "--out", str(tmp_path / "t"), "--allow-unapproved", "--dry-run").stdout
    kept = {s["id"]: s["counts"]["kept"] for s in env.cat.get(env.mid)["sources"] if s["status"] == "admitted"}
    assert f"would write {tmp_path / 't'}" in dry and f"{sum(kept.values()):,} documents in" in dry and "→ uint16" in dry
    assert not (tmp_path / "t").exists() and sorted(env.cat.ids()) == before
    tid = last_line(cm("tokenize", env.mid, "--tokenizer", str(tiny_tokenizer), "--out", str(tmp_path / "t"), "--allow-unapproved"))
    made = {tid}
    mix = write_mix(tmp_path / "m.yaml", tid)
    assert "not approved" in err("mix", str(mix))
    doc = yaml.safe_load(mix.read_text())
    doc["inputs"][0]["weight"] = "lots"
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(doc))
    assert "inputs[0].weight" in err("mix", str(tmp_path / "w.yaml"), "--allow-unapproved")
    doc["inputs"][0]["weight"] = 1.0
    doc["inputs"][0]["colour"] = "red"
    (tmp_path / "x.yaml").write_text(yaml.safe_dump(doc))
    assert "unknown key" in err("mix", str(tmp_path / "x.yaml"), "--allow-unapproved")
    doc["inputs"][0].pop("colour")
    doc["purpose"]["uses"] = ["pretraining", "redistribution-of-derivatives"]
    doc["inputs"] = [{"manifest": tid, "weight": 1.0}]
    (tmp_path / "u.yaml").write_text(yaml.safe_dump(doc))
    assert sorted(env.cat.ids()) == sorted([*before, *made])
    res = cm("mix", str(tmp_path / "u.yaml"), "--allow-unapproved", "--dry-run")
    assert "legal gate" in res.stdout


def test_writer_int32_read_by_megatron(tmp_path, megatron):
    from filters.indexed_dataset import IndexedDatasetWriter, dtype_for_vocab

    assert dtype_for_vocab(65_536) == "uint16" and dtype_for_vocab(65_537) == "int32"
    w = IndexedDatasetWriter(tmp_path / "d", "int32")
    seqs = [[70_000, 1, 2], [5], [], [9] * 1000]
    w.add(np.array([i for s in seqs for i in s]), np.array([len(s) for s in seqs]))
    w.finish()
    ds = megatron.indexed_dataset.IndexedDataset(str(tmp_path / "d"))
    assert [ds[k].tolist() for k in range(len(ds))] == seqs
    assert ds.index.dtype == np.int32 and ds.document_indices.tolist() == [0, 1, 2, 3, 4]


def test_parse_index_reads_what_megatron_reads_and_refuses_what_it_refuses(tmp_path, megatron):
    """``parse_index`` (the dry runs read an .idx from memory) against Megatron-Core's reader, and the
    headers that reader asserts on or cannot read: another version, an unknown dtype, cut short."""
    from corpusmill_base.errors import InputError
    from filters.indexed_dataset import IndexedDatasetWriter, idx_path, parse_index

    w = IndexedDatasetWriter(tmp_path / "d", "uint16")
    seqs = [[7, 1, 2], [5], [], [9] * 300]
    w.add(np.array([i for s in seqs for i in s]), np.array([len(s) for s in seqs]))
    w.finish()
    data = idx_path(tmp_path / "d").read_bytes()
    ds = megatron.indexed_dataset.IndexedDataset(str(tmp_path / "d"))
    dtype, lengths, pointers = parse_index(data, "d.idx")
    assert np.dtype(dtype) == ds.index.dtype and lengths.tolist() == ds.index.sequence_lengths.tolist()
    assert pointers.tolist() == ds.index.sequence_pointers.tolist()
    for bad, says in ((data[:9] + (2).to_bytes(8, "little") + data[17:], "version 2"),
                      (data[:17] + bytes([99]) + data[18:], "unknown token dtype code 99"),
                      (data[:-8], "cut short")):
        with pytest.raises(InputError, match=says):
            parse_index(bad, "d.idx")


@pytest.mark.slow
def test_ray_engine_gives_the_local_manifest(env, tiny_tokenizer, tmp_path):
    local = last_line(cm("tokenize", env.mid, "--tokenizer", str(tiny_tokenizer), "--out", str(tmp_path / "l"), "--allow-unapproved"))
    ray = last_line(cm("tokenize", env.mid, "--tokenizer", str(tiny_tokenizer), "--out", str(tmp_path / "r"),
                       "--allow-unapproved", "--engine", "ray"))
    assert ray == local
