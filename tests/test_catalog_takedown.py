"""Takedown exactness, lineage and diff."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from manifests import review, takedown
from manifests.catalog import Catalog
from manifests.manifest import check_id
from manifests.schema import validate_manifest
from corpusmill_base.errors import InputError
from manifests.loaders import open as manifests_open
from tests.catalog_cli import cm

# Session fixtures shared by every catalog test module (one signed run per session).
pytest_plugins = ["tests.catalog_fixtures"]


def _docs(e, mid):
    m = e.cat.get(mid)
    ids = []
    for s in m["shards"]:
        ids += pq.read_table(e.shard(s["path"], mid), columns=["id"]).column("id").to_pylist()
    return ids


def _ledger(e, mid):
    return pq.read_table(e.catalog / "data" / mid / "ledger.parquet")


def test_takedown_removes_exactly_the_named_documents(env):
    cm("review", "approve", env.mid, "--comment", "ok")
    old = env.cat.get(env.mid)
    old_docs = _docs(env, env.mid)
    ledger = _ledger(env, env.mid)
    kept = ledger.filter(pc.equal(ledger.column("outcome"), "kept"))
    reviews = kept.filter(pc.equal(kept.column("source_id"), "ko_reviews"))
    # Three kept reviews from one shard, one already dropped by the run, plus a whole source.
    target_shard = reviews.column("shard")[600].as_py()
    in_shard = reviews.filter(pc.equal(reviews.column("shard"), target_shard)).column("id").to_pylist()[:3]
    dropped_row = ledger.filter(pc.equal(ledger.column("outcome"), "dropped")).to_pylist()[0]
    dropped_before = dropped_row["id"]
    # a document the run dropped as a duplicate takes its kept copy with it (issue #16)
    copy = {dropped_row["duplicate_of"]} if dropped_row.get("duplicate_of") else set()
    (env.tmp / "ids.txt").write_text("# data subject request 2026-117\n" + "\n".join([*in_shard, dropped_before]) + "\n")
    res = cm("takedown", env.mid, "--source", "ko_bills", "--doc-ids", "ids.txt", "--reason", "data subject request 2026-117")
    new_id = res.stdout.strip().splitlines()[-1]
    assert "1 requested id(s) were not in the release" in res.stdout
    new = env.cat.get(new_id)
    check_id(new)
    validate_manifest(new)

    bills = set(kept.filter(pc.equal(kept.column("source_id"), "ko_bills")).column("id").to_pylist())
    assert len(bills) == 3
    gone = bills | set(in_shard) | copy
    assert _docs(env, new_id) == [d for d in old_docs if d not in gone]  # same order, exactly minus

    # Only the shards that held taken-down documents were rewritten; the rest are byte-identical.
    bills_shards = set(kept.filter(pc.equal(kept.column("source_id"), "ko_bills")).column("shard").to_pylist())
    affected = bills_shards | {target_shard} | set(kept.filter(pc.is_in(kept.column("id"), value_set=pa.array(sorted(copy), pa.string()))).column("shard").to_pylist())
    old_sha = {s["path"]: s["sha256"] for s in old["shards"]}
    for s in new["shards"]:
        assert (s["sha256"] == old_sha[s["path"]]) == (s["path"] not in affected), s["path"]
    assert sorted(new["takedowns"][0]["shards_rewritten"]) == sorted(affected)

    # The ledger: the same records, the taken-down ones now dropped by takedown@1 with the reason.
    nl = _ledger(env, new_id)
    assert nl.column("id").to_pylist() == ledger.column("id").to_pylist()
    td = nl.filter(pc.equal(nl.column("stage"), "takedown@1"))
    assert set(td.column("id").to_pylist()) == gone
    assert set(td.column("reason").to_pylist()) == {"data subject request 2026-117"}
    assert set(td.column("outcome").to_pylist()) == {"dropped"} and td.column("shard").null_count == len(gone)
    still = nl.filter(pc.equal(nl.column("outcome"), "kept"))
    assert still.num_rows == new["totals"]["kept"] == old["totals"]["kept"] - len(gone)
    for s in new["sources"]:
        c = s["counts"]
        assert c["records_in"] == c["kept"] + c["dropped"] + c["quarantined"]
    bills_src = next(s for s in new["sources"] if s["id"] == "ko_bills")
    assert bills_src["counts"]["kept"] == 0 and bills_src["takedown"] == "data subject request 2026-117"
    assert new["stage_stats"][-1]["stage"] == "takedown@1"
    assert new["stage_stats"][-1]["dropped"] == {"data subject request 2026-117": len(gone)}
    # Every kept document's ledger row names a shard that holds it.
    for s in new["shards"]:
        in_file = set(pq.read_table(env.shard(s["path"], new_id), columns=["id"]).column("id").to_pylist())
        assert in_file == set(still.filter(pc.equal(still.column("shard"), s["path"])).column("id").to_pylist())

    # Old manifest revoked, pointing at its successor; the successor is a draft that verifies.
    v = review.verify(env.cat, env.mid)
    assert v.state == "revoked" and v.review.successor == new_id and v.ok
    assert review.verify(env.cat, new_id).state == "draft"
    chain = json.loads(cm("manifest", "lineage", new_id, "--json").stdout)
    assert [(c["id"], c["state"]) for c in chain] == [(env.mid, "revoked"), (new_id, "draft")]
    assert chain[1]["takedown"]["documents_removed"] == len(gone)
    text = cm("manifest", "lineage", env.mid).stdout
    assert env.mid in text and new_id in text and f"takedown of {len(gone)} doc(s)" in text

    d = json.loads(cm("manifest", "diff", env.mid, new_id, "--json").stdout)
    assert d["totals"]["kept"] == [old["totals"]["kept"], old["totals"]["kept"] - len(gone)]
    assert {s["source"] for s in d["sources"]} == {"ko_bills", "ko_reviews"}
    assert sorted(d["shards"]["changed"]) == sorted(affected) and d["config"] == {}


def test_takedown_is_deterministic_and_rejects_a_draft(env, built_catalog):
    r = takedown.takedown(env.cat, env.mid, "licence withdrawn", sources=["en_speeches"])
    assert r.old_state == "draft"
    assert review.verify(env.cat, env.mid).state == "rejected"
    assert r.emptied == [] and len(r.rewritten) >= 1 and r.removed_by_source == {"en_speeches": 6}
    # The successor's ID depends only on content: the same takedown (of another copy of the
    # catalog — in this one the rejected manifest's shards are gone) gives the same ID.
    other = env.tmp / "other-catalog"
    shutil.copytree(built_catalog.catalog, other)
    r2 = takedown.takedown(Catalog(str(other)), env.mid, "licence withdrawn", sources=["en_speeches"])
    assert r2.id == r.id
    with pytest.raises(InputError, match=f"take down its successor {r.id} instead"):
        takedown.takedown(env.cat, env.mid, "licence withdrawn", sources=["en_speeches"])


def test_takedown_refuses_unknown_ids_and_sources(env):
    (env.tmp / "ids.txt").write_text("ko_reviews-0000000000000000\n")
    res = cm("takedown", env.mid, "--doc-ids", "ids.txt", "--reason", "x", check=False)
    assert res.returncode == 2 and "not in" in res.stderr and "nothing was changed" in res.stderr
    with pytest.raises(InputError, match="has no source"):
        takedown.takedown(env.cat, env.mid, "x", sources=["nope"])
    assert [r["id"] for r in review.listing(env.cat)] == [env.mid]


def test_diff_reports_config_and_count_changes(env, tmp_path):
    cfg = (tmp_path / "cfg.yaml")
    from tests.catalog_cli import CONFIG

    text = CONFIG.read_text(encoding="utf-8").replace("min_chars: 2,", "min_chars: 20,")
    text = text.replace("../../../examples", str(CONFIG.parents[3] / "examples"))
    cfg.write_text(text, encoding="utf-8")
    other = cm("-q", "run", str(cfg), "--out", str(tmp_path / "run2")).stdout.strip().splitlines()[-1]
    out = cm("manifest", "diff", env.mid, other).stdout
    assert "stages[length].options.min_chars: 2 → 20" in out
    assert "ko_reviews: kept 2,977 →" in out
    assert "same manifest" in cm("manifest", "diff", env.mid, env.mid).stdout


def test_a_takedown_sticks_to_later_runs_of_its_sources(env):
    from tests.catalog_cli import CONFIG

    ledger = _ledger(env, env.mid)
    kept = ledger.filter(pc.equal(ledger.column("outcome"), "kept"))
    reviews = kept.filter(pc.equal(kept.column("source_id"), "ko_reviews")).column("id").to_pylist()[:3]
    (env.tmp / "ids.txt").write_text("\n".join(reviews) + "\n")
    cm("review", "approve", env.mid, "--reviewer", "alice", "--comment", "ok")
    successor = cm("takedown", env.mid, "--doc-ids", "ids.txt", "--reason", "data subject request").stdout.split()[-1]
    lists = takedown.takedown_lists(env.cat, ["ko_reviews"])
    assert [(e["source"], e["manifest"], e["successor"], len(e["ids"]), len(e["sha256"])) for e in lists] == [
        ("ko_reviews", env.mid, successor, 3, 3)]

    # The same config again: the listed documents are dropped by the run, which records the list.
    rerun = cm("-q", "run", str(CONFIG), "--out", "rerun").stdout.split()[-1]
    assert rerun not in (env.mid, successor)
    m = env.cat.get(rerun)
    stage = next(s for s in m["stages"] if s["name"] == "takedown_list")
    assert stage["options"]["lists"][0]["manifest"] == env.mid and stage["options"]["lists"][0]["documents"] == 3
    new_ledger = _ledger(env, rerun)
    gone = new_ledger.filter(pc.is_in(new_ledger.column("id"), value_set=pa_array(reviews)))
    assert set(gone.column("reason").to_pylist()) == {"taken_down"} and not set(reviews) & set(_docs(env, rerun))
    assert m["totals"]["kept"] == env.cat.get(successor)["totals"]["kept"]

    # Without the lists (a catalog from before them), rebuilding the revoked ID is refused, not published.
    import shutil

    shutil.rmtree(env.catalog / takedown.LIST_DIR)
    res = cm("-q", "run", str(CONFIG), "--out", "rerun2", check=False)
    assert res.returncode == 2 and f"rebuilt {env.mid}, which is revoked" in res.stderr and successor in res.stderr
    assert not (env.tmp / "rerun2" / "manifest.json").exists()


def pa_array(values):
    import pyarrow as pa

    return pa.array(values, pa.string())


def test_takedown_list_stage_matches_ids_and_text_hashes_of_its_source_only():
    import pyarrow as pa

    from filters.takedown_list import TakedownList, text_sha256

    stage = TakedownList({"lists": [{"source": "a", "manifest": "cm-0", "reason": "r", "ids": ["a-1"], "sha256": [text_sha256("moved")]}]})
    batch = pa.record_batch({"id": ["a-1", "a-2", "a-3", "b-1"], "source_id": ["a", "a", "a", "b"],
                             "text": ["x", "moved", "other", "moved"]})
    r = stage.process(batch)
    assert r.keep.tolist() == [False, False, True, True] and r.reasons[:2] == ["taken_down", "taken_down"]
    assert stage.describe()["options"]["lists"][0]["documents"] == 1 and "ids" not in stage.describe()["options"]["lists"][0]


# --- revoked releases leave the catalog's data/ (manifests.gc) ----------------------------------------


def _files(e, mid):
    return sorted(p.relative_to(e.catalog / "data" / mid).as_posix() for p in (e.catalog / "data" / mid).rglob("*") if p.is_file())


def test_takedown_removes_the_revoked_shards_and_keeps_what_the_successor_carries(env):
    cm("review", "approve", env.mid, "--comment", "ok")
    old = env.cat.get(env.mid)
    res = cm("takedown", env.mid, "--source", "ko_bills", "--reason", "licensor withdrew consent")
    new_id = res.stdout.strip().splitlines()[-1]
    assert f"document file(s) removed from the catalog's data/ (signed record: removals/{env.mid}.json)" in res.stdout
    new = env.cat.get(new_id)
    # the revoked release: only its ledger (ids, stages, reasons — no text) is left, for the audit
    assert _files(env, env.mid) == ["ledger.parquet"]
    rec = json.loads((env.catalog / "removals" / f"{env.mid}.json").read_text())
    assert rec["state"] == "revoked" and rec["successor"] == new_id and rec["reviewer"] == "alice"
    assert rec["decided_by"]["comment"] == "takedown: licensor withdrew consent"
    assert [f["path"] for f in rec["removed"]] == [s["path"] for s in [*old["shards"], *old.get("indexes", [])]]
    assert {f["sha256"] for f in rec["removed"]} >= {s["sha256"] for s in old["shards"]} and rec["kept"] == []
    # the shards the successor carried over unchanged are its own files: they stay and verify
    carried = {s["path"] for s in new["shards"]} & {s["path"] for s in old["shards"] if s["sha256"] in {n["sha256"] for n in new["shards"]}}
    assert carried, "the fixture must carry over at least one shard"
    assert all(env.shard(p, new_id).exists() for p in carried)
    cm("review", "approve", new_id, "--comment", "takedown applied")
    assert "(approved)" in cm("pull", new_id, "--to", "pulled").stdout
    # the revoked one verifies (the removal is signed and on record) and its audit still reads the ledger
    assert "removed" in cm("manifest", "verify", env.mid).stdout
    assert json.loads(cm("audit", env.mid, "--format", "json").stdout)["integrity"]["verified"]
    # pulling it is refused with what happened and what to use, even with --allow-unapproved
    for extra in ((), ("--allow-unapproved",)):
        res = cm("pull", env.mid, "--to", "old", *extra, check=False)
        assert res.returncode == 2, res.stderr
        assert "was revoked by alice" in res.stderr and "were removed from the catalog" in res.stderr
        assert f"use its successor {new_id}" in res.stderr and "Traceback" not in res.stderr
    with pytest.raises(review.DataRemoved, match="nothing to pull"):
        manifests_open(env.mid, allow_unapproved=True)
    assert "nothing to remove" in cm("catalog", "gc").stdout  # idempotent


def test_reviewer_revoke_removes_the_shards_and_gc_finishes_an_interrupted_removal(env, monkeypatch):
    from manifests import gc

    cm("review", "approve", env.mid, "--comment", "ok")
    old = env.cat.get(env.mid)
    # the removal is recorded, then the process dies before deleting anything
    with monkeypatch.context() as m:
        m.setattr(Catalog, "remove_data", lambda self, mid, rel: (_ for _ in ()).throw(KeyboardInterrupt()))
        assert cm("review", "revoke", env.mid, "--comment", "licence expired", check=False).returncode == 130
    assert (env.catalog / "removals" / f"{env.mid}.json").exists()
    assert "would remove" in cm("catalog", "gc", "--dry-run").stdout and len(_files(env, env.mid)) > 1
    out = cm("catalog", "gc").stdout
    assert f"{env.mid} (revoked): removed {len(old['shards']) + len(old.get('indexes', []))} document file(s)" in out
    assert _files(env, env.mid) == ["ledger.parquet"]
    assert gc.collect(env.cat) == []


def test_gc_never_removes_a_file_a_live_manifest_names_nor_a_plain_rejection(env, monkeypatch):
    from manifests import gc

    # a plain rejection can be reopened (a new review cycle): its files stay
    cm("review", "reject", env.mid, "--comment", "licence unclear")
    assert gc.collect(env.cat) == [] and len(_files(env, env.mid)) > 1
    cm("review", "reopen", env.mid, "--comment", "licence clarified")
    cm("review", "approve", env.mid, "--comment", "ok")
    review.transition(env.cat, env.mid, "revoke", None, "withdrawn")  # the Python API: no removal of its own
    # a path that a live manifest names is kept and listed (in today's layout every manifest has its
    # own data/<ID>/, so no live manifest names another's file: this is the safeguard, forced here)
    shard = env.cat.get(env.mid)["shards"][0]["path"]
    monkeypatch.setattr(gc, "live_references", lambda cat, states: {f"data/{env.mid}/{shard}": "cm-0000000000000000"})
    r = gc.remove(env.cat, env.mid)
    assert r.kept == [{"path": shard, "referenced_by": "cm-0000000000000000"}]
    assert shard not in [f["path"] for f in r.removed] and env.shard(shard).exists()
    assert sorted(_files(env, env.mid)) == sorted(["ledger.parquet", shard])
    rec = json.loads((env.catalog / "removals" / f"{env.mid}.json").read_text())
    assert rec["kept"] == r.kept
    assert review.verify(env.cat, env.mid).ok  # the kept file still matches; the removed ones are on record


def _tree(root):
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_takedown_dry_run_changes_nothing_and_says_what_the_takedown_does(env):
    cm("review", "approve", env.mid, "--comment", "ok")
    ledger = _ledger(env, env.mid)
    reviews = ledger.filter(pc.and_(pc.equal(ledger.column("outcome"), "kept"), pc.equal(ledger.column("source_id"), "ko_reviews")))
    (env.tmp / "ids.txt").write_text("\n".join(reviews.column("id").to_pylist()[:2]) + "\n")
    args = ["takedown", env.mid, "--source", "ko_bills", "--doc-ids", "ids.txt", "--reason", "request 7"]
    before = _tree(env.catalog)
    dry = cm(*args, "--dry-run").stdout
    assert _tree(env.catalog) == before  # nothing written, signed or removed
    real = cm(*args).stdout
    new = env.cat.get(real.strip().splitlines()[-1])["takedowns"][-1]
    removed = ", ".join(f"{s} {n:,}" for s, n in new["removed_by_source"].items())
    assert f"remove {new['documents_removed']:,} document(s) ({removed})" in dry
    assert (f"rewrite {len(new['shards_rewritten'])} shard(s), remove (empty) {len(new['shards_removed'])}, carry over "
            f"{len(env.cat.get(env.mid)['shards']) - len(new['shards_rewritten']) - len(new['shards_removed'])} unchanged") in dry
    assert f"{env.mid}: approved → revoked" in dry and f"{env.mid}: approved → revoked" in real
