"""The catalog commands on a run over the real shared deliveries (open-release config)."""

from __future__ import annotations

import json
import shutil

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest


@pytest.mark.slow
@pytest.mark.shared
def test_shared_open_release_review_audit_takedown_pull(shared_open_run, tmp_path, monkeypatch):
    import manifests
    from tests.catalog_cli import cm

    # The reviewer's path over every open-release source, on the cheap stages: the session's run
    # (tests/conftest.py, signed by legal-team), its catalog copied. The full pipeline over the
    # same config (PII on ~750k records) is the opt-in `full` test of test_shared_deliveries.
    shutil.copytree(shared_open_run["catalog"], tmp_path / "catalog")  # the session's run stays read-only
    monkeypatch.setenv("CORPUSMILL_KEY_DIR", str(shared_open_run["keys"]))
    monkeypatch.setenv("CORPUSMILL_CATALOG", str(tmp_path / "catalog"))
    monkeypatch.chdir(tmp_path)
    mid = shared_open_run["id"]
    cm("review", "approve", mid, "--comment", "open-release sources only")

    audit = json.loads(cm("audit", mid, "--format", "json").stdout)
    m = shared_open_run["manifest"]
    assert audit["integrity"]["verified"] and audit["integrity"]["state"] == "approved"
    assert {s["id"]: s["status"] for s in audit["sources"]} == {s["id"]: s["status"] for s in m["sources"]}
    excluded = {p["source_id"] for p in audit["policy"] if p["status"] == "excluded"}
    assert excluded and excluded == set(audit["policy_config"]["exclude"])
    assert audit["near_duplicates"]["cross_source_clusters"] > 0  # comments reposted from movie reviews

    ledger = pq.read_table(tmp_path / "catalog" / "data" / mid / "ledger.parquet", columns=["id", "outcome", "source_id"])
    kept = ledger.filter(pc.equal(ledger.column("outcome"), "kept"))
    sms = kept.filter(pc.equal(kept.column("source_id"), "en_sms_spam")).column("id").to_pylist()[:25]
    comments = kept.filter(pc.equal(kept.column("source_id"), "ko_comments")).num_rows
    (tmp_path / "ids.txt").write_text("\n".join(sms) + "\n")
    new = cm("takedown", mid, "--source", "ko_comments", "--doc-ids", "ids.txt", "--reason", "abusive content").stdout.strip().splitlines()[-1]
    successor = json.loads(cm("manifest", "show", new, "--json").stdout)
    assert successor["totals"]["kept"] == m["totals"]["kept"] - comments - 25
    assert "ko_comments: kept" in cm("manifest", "diff", mid, new).stdout
    cm("review", "approve", new, "--comment", "takedown applied")
    assert "verified" in cm("pull", new, "--to", "pulled").stdout
    gone = set(sms)
    seen = 0
    for r in range(3):
        for d in manifests.iter_shard(new, r, 3, columns=["id", "source_id"]):
            assert d["source_id"] != "ko_comments" and d["id"] not in gone
            seen += 1
    assert seen == successor["totals"]["kept"]
    cm("export", "croissant", new, "--out", "pulled/croissant.json")
    import mlcroissant as mlc

    mlc.Dataset(jsonld=str(tmp_path / "pulled" / "croissant.json"))  # raises on validation errors
    from tests.test_catalog_loaders import _every_licence_survives

    cm("export", "croissant", mid, "--out", "before.json")  # ko_comments (CC-BY-SA-4.0) still admitted
    doc = json.loads((tmp_path / "before.json").read_text(encoding="utf-8"))
    _every_licence_survives(m, doc, mlc.Dataset(jsonld=str(tmp_path / "before.json")))
    assert any(w["name"] == "CC-BY-SA-4.0" for w in doc["license"])
