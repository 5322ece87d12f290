"""Trainer entry points: rank split, pyarrow dataset, Hugging Face loader, resumable pull, Croissant."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

import manifests
from corpusmill_base.hashing import sha256_file
from manifests import review
from corpusmill_base.errors import IntegrityError
from tests.catalog_cli import cm

# Session fixtures shared by every catalog test module (one signed run per session).
pytest_plugins = ["tests.catalog_fixtures"]


def _approve(e):
    review.transition(e.cat, e.mid, "approve", "alice", "ok")


def _all_ids(e):
    m = e.cat.get(e.mid)
    return [i for s in m["shards"] for i in pq.read_table(e.shard(s["path"]), columns=["id"]).column("id").to_pylist()]


def test_rank_split_is_disjoint_complete_balanced_and_deterministic(env):
    _approve(env)
    every = _all_ids(env)
    assert len(every) == len(set(every)) == env.cat.get(env.mid)["totals"]["kept"]
    for world in (1, 2, 3, 4, 7, 16):
        parts = [[d["id"] for d in manifests.iter_shard(env.mid, r, world, columns=["id"])] for r in range(world)]
        assert [i for p in parts for i in p] == every  # union in order = all documents, no overlap
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
    again = [d["id"] for d in manifests.iter_shard(env.mid, 2, 7, columns=["id"])]
    assert again == [d["id"] for d in manifests.iter_shard(env.mid, 2, 7, columns=["id"])]
    doc = next(manifests.iter_shard(env.mid, 0, 4))
    assert set(doc) >= {"id", "text", "source_id", "source_file", "source_locator"}
    with pytest.raises(ValueError):
        next(manifests.iter_shard(env.mid, 4, 4))


def test_rank_reads_and_checks_only_its_shards(env):
    _approve(env)
    last = env.cat.get(env.mid)["shards"][-1]["path"]
    data = bytearray(env.shard(last).read_bytes())
    data[100] ^= 0xFF
    env.shard(last).write_bytes(bytes(data))
    assert len(list(manifests.iter_shard(env.mid, 0, 4, columns=["id"]))) > 0  # rank 0 never touches the last shard
    with pytest.raises(IntegrityError, match=last):
        list(manifests.iter_shard(env.mid, 3, 4, columns=["id"]))


def test_open_and_hugging_face_loader(env):
    from manifests.review import NotApproved

    with pytest.raises(NotApproved, match="draft") as e:
        manifests.open(env.mid)
    assert "allow_unapproved=True" in str(e.value) and "--allow" not in str(e.value)  # the Python keyword, not a flag
    assert "corpusmill review approve" in str(e.value)  # and what to do
    _approve(env)
    ds = manifests.open(env.mid)
    assert ds.to_table(columns=["id"]).column("id").to_pylist() == _all_ids(env)
    hf = manifests.load_hf(env.mid, cache_dir=str(env.tmp / "hf-cache"))
    assert hf.num_rows == env.cat.get(env.mid)["totals"]["kept"]
    assert hf["id"] == _all_ids(env)


def test_pull_is_parallel_resumable_and_verified(env):
    _approve(env)
    m = env.cat.get(env.mid)
    out = cm("pull", env.mid, "--to", "pulled", "--workers", "4").stdout
    assert f"({len(m['shards'])} copied)" in out
    dest = env.tmp / "pulled"
    for s in m["shards"]:
        assert sha256_file(dest / s["path"]) == s["sha256"]
    assert json.loads((dest / "manifest.json").read_text())["id"] == env.mid
    assert [r["action"] for r in json.loads((dest / "reviews.json").read_text())] == ["approve"]
    # Interrupted pull: one shard half-written, one missing, one corrupted locally.
    s0, s1, s2 = (dest / s["path"] for s in m["shards"][:3])
    full = s0.read_bytes()
    s0.unlink()
    (s0.parent / f".{s0.name}.part").write_bytes(full[: len(full) // 2])
    s1.unlink()
    s2.write_bytes(b"garbage")
    out = cm("pull", env.mid, "--to", "pulled").stdout
    assert "1 resumed" in out and "2 copied" in out and f"{len(m['shards']) - 3} present" in out
    assert s0.read_bytes() == full and not (s0.parent / f".{s0.name}.part").exists()


def _every_licence_survives(m, doc, ds):
    """Each admitted source's SPDX id reaches mlcroissant's metadata and its own provenance entry."""
    read = {(w.name, w.url) for w in ds.metadata.license}
    for s in m["sources"]:
        if s["status"] != "admitted" or not s["counts"]["kept"]:
            continue
        spdx = s["provenance"]["licence"]
        assert any(name == spdx for name, _ in read), (spdx, read)
        entry = next(p for p in doc["prov:wasDerivedFrom"] if p["name"] == s["id"])
        assert entry["license"]["name"] == spdx
        if not spdx.startswith("LicenseRef-"):
            assert entry["license"]["url"] == f"https://spdx.org/licenses/{spdx}.html"
        if s["provenance"].get("licence_url"):
            assert s["provenance"]["licence_url"] in (entry["license"]["url"], entry["license"].get("sameAs"))


def test_croissant_licences_are_spdx_ids_per_source():
    from manifests.croissant import to_croissant

    def src(i, lic, url=None):
        prov = {"owner": "o", "acquisition": "open-licence", "licence": lic, "licence_url": url, "attribution": "a"}
        return {"id": i, "status": "admitted", "provenance": prov, "counts": {"kept": 1}, "files": []}

    m = {
        "id": "cm-0", "name": "n", "purpose": {"description": "d", "uses": ["research"]}, "totals": {"kept": 3},
        "shards": [], "document_schema": [{"name": "id", "type": "string"}],
        "sources": [src("ko_comments", "CC-BY-SA-4.0", "https://example.org/terms"), src("b", "CC0-1.0"),
                    src("c", "CC-BY-SA-4.0", "https://example.org/terms")],
    }
    doc = to_croissant(m)
    assert [(w["name"], w["url"], w.get("sameAs")) for w in doc["license"]] == [
        ("CC-BY-SA-4.0", "https://spdx.org/licenses/CC-BY-SA-4.0.html", "https://example.org/terms"),
        ("CC0-1.0", "https://spdx.org/licenses/CC0-1.0.html", None),
    ]
    assert "ko_comments, c" in doc["license"][0]["description"]
    # --base-url: an absolute storage URL, nothing a reader cannot fetch (session 11)
    from corpusmill_base.errors import ConfigError

    for bad in ("javascript:alert(1)", "relative/path", "https://x.org/data\n", "https://x.org/a b", "http://"):
        with pytest.raises(ConfigError, match="expected an absolute URL"):
            to_croissant(m, base_url=bad)
    for good in ("https://data.example.org/legal/", "s3://bucket/releases", "file:///data/x"):
        assert to_croissant(m, base_url=good)["url"] == good


def test_croissant_export_validates_with_mlcroissant(env):
    import mlcroissant as mlc
    _approve(env)
    cm("pull", env.mid, "--to", "pulled")
    cm("export", "croissant", env.mid, "--out", "pulled/croissant.json")
    doc = json.loads((env.tmp / "pulled" / "croissant.json").read_text())
    m = env.cat.get(env.mid)
    assert doc["conformsTo"] == "http://mlcommons.org/croissant/1.0" and doc["identifier"] == env.mid
    objs = [d for d in doc["distribution"] if d["@type"] == "cr:FileObject"]
    assert [(o["contentUrl"], o["sha256"]) for o in objs] == [(s["path"], s["sha256"]) for s in m["shards"]]
    assert {p["name"] for p in doc["prov:wasDerivedFrom"]} == {"ko_statutes", "ko_bills", "en_speeches", "ko_reviews"}
    ds = mlc.Dataset(jsonld=str(env.tmp / "pulled" / "croissant.json"))  # raises on validation errors
    _every_licence_survives(m, doc, ds)
    ids = [r["documents/id"].decode() for r in ds.records("documents")]
    assert ids == _all_ids(env)


def test_pull_dry_run_checks_everything_and_writes_nothing(env):
    m = env.cat.get(env.mid)
    dest = env.tmp / "dry"
    refused = cm("pull", env.mid, "--to", str(dest), "--dry-run", check=False)
    assert refused.returncode == 2 and "no reviewer has approved it" in refused.stderr  # what pull says
    _approve(env)
    total = sum(s["bytes"] for s in m["shards"])
    out = cm("pull", env.mid, "--to", str(dest), "--dry-run").stdout
    assert f"{len(m['shards'])} file(s), 0 already present, {len(m['shards'])} to copy; {total:,} bytes to copy" in out
    assert out.rstrip().endswith("dry run: nothing written") and not dest.exists()
    cm("pull", env.mid, "--to", str(dest))
    s0 = dest / m["shards"][0]["path"]
    full = s0.read_bytes()
    s0.unlink()
    (s0.parent / f".{s0.name}.part").write_bytes(full[:100])
    (dest / "notes.txt").write_text("someone's file")
    foreign = cm("pull", env.mid, "--to", str(dest), "--dry-run", check=False)
    assert foreign.returncode == 2 and "holds 1 file(s) that are not part of any manifest pulled there (notes.txt)" in foreign.stderr
    (dest / "notes.txt").unlink()
    before = sorted((p.relative_to(dest), p.stat().st_mtime_ns) for p in dest.rglob("*"))
    out = cm("pull", env.mid, "--to", str(dest), "--dry-run").stdout
    assert f"{len(m['shards']) - 1} already present, 1 to copy (1 continuing a partial copy); {len(full) - 100:,} bytes to copy" in out
    assert sorted((p.relative_to(dest), p.stat().st_mtime_ns) for p in dest.rglob("*")) == before


def test_pull_refuses_before_copying_what_does_not_fit(env, monkeypatch):
    import shutil as sh

    from manifests import loaders

    _approve(env)
    m = env.cat.get(env.mid)
    total = sum(s["bytes"] for s in m["shards"])
    monkeypatch.setattr(loaders.shutil, "disk_usage", lambda p: sh._ntuple_diskusage(10**9, 10**9 - total + 1, total - 1))
    dest = env.tmp / "full"
    for extra in ((), ("--dry-run",)):
        res = cm("pull", env.mid, "--to", str(dest), *extra, check=False)
        assert res.returncode == 2 and f"{total:,} bytes to copy into {dest}, {total - 1:,} bytes free there" in res.stderr
        assert not dest.exists()
    monkeypatch.setattr(loaders.shutil, "disk_usage", lambda p: sh._ntuple_diskusage(10**9, 10**9 - total, total))
    assert "verified" in cm("pull", env.mid, "--to", str(dest)).stdout


def test_pull_over_a_damaged_manifest_json(env):
    """A folder whose manifest.json is valid JSON but no object (a list) was an AttributeError."""
    _approve(env)
    dest = env.tmp / "damaged"
    dest.mkdir()
    (dest / "manifest.json").write_text("[]")
    assert "verified" in cm("pull", env.mid, "--to", str(dest)).stdout
    assert json.loads((dest / "manifest.json").read_text())["id"] == env.mid
