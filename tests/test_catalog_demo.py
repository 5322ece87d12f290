"""End to end on the demo (examples/pipeline.yaml, with its PII stage): every catalog command
through the real ``corpusmill`` executable, as a reviewer and a trainer would use them."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from filters.pii import PresidioScrubber
from tests.conftest import EXAMPLES, cli


@pytest.mark.slow
def test_demo_review_audit_takedown_export_pull(demo_run, tmp_path):
    env = {"CORPUSMILL_KEY_DIR": str(tmp_path / "keys"), "CORPUSMILL_CATALOG": str(tmp_path / "catalog")}

    def cm(*args, check=True):
        return cli(*args, cwd=tmp_path, env=env, check=check)

    # The session's demo run (tests/conftest.py), its catalog copied and signed here: its own run
    # of the demo with PII made the test 34.5 CPU-s, 21.9 without (2026-12-07, load 6-10). Signing on publish (a key configured before
    # the run) is test_catalog_shared's and the catalog fixtures' path.
    shutil.copytree(demo_run["catalog"], tmp_path / "catalog")
    mid = demo_run["id"]
    cm("keys", "init", "--name", "legal-team")
    assert "signed" in cm("manifest", "sign", mid).stdout
    assert "is a draft" in cm("pull", mid, "--to", "pulled", check=False).stderr
    cm("review", "approve", mid, "--comment", "public-domain and CC0 sources; purpose permitted")

    audit = json.loads(cm("audit", mid, "--format", "json").stdout)
    manifest = json.loads(cm("manifest", "show", mid, "--json").stdout)
    assert audit["integrity"] == {"state": "approved", "signed": True, "verified": True, "problems": []}
    assert [s["key"] for s in audit["pii"]["stages"]] == [f"pii@{PresidioScrubber.version}"] and audit["pii"]["note"] is None
    found = {(r["source"], r["type"]): r["count"] for r in audit["pii"]["found"]}
    expected = {(s["id"], t): n for s in manifest["sources"] for t, n in s["stage_counters"].get(f"pii@{PresidioScrubber.version}", {}).items()}
    assert found == expected and sum(found.values()) > 0
    cm("audit", mid, "--out", "audit.html", "--config", str(EXAMPLES / "pipeline.yaml"))
    html = (tmp_path / "audit.html").read_text(encoding="utf-8")
    assert '<table id="pii">' in html and "PERSON" in html and '<table id="dropped-sample">' in html

    new = cm("takedown", mid, "--source", "ko_bills", "--reason", "licensor request 2026-03").stdout.strip().splitlines()[-1]
    lineage = cm("manifest", "lineage", new).stdout
    assert re.search(rf"{mid}\s+revoked", lineage) and re.search(rf"{new}\s+draft", lineage)
    assert "ko_bills: kept 3 → 0" in cm("manifest", "diff", mid, new).stdout
    assert "was revoked by legal-team" in cm("pull", mid, "--to", "pulled", check=False).stderr
    cm("review", "approve", new, "--comment", "takedown applied")
    out = cm("pull", new, "--to", "pulled").stdout
    assert "(approved)" in out and "verified" in out
    cm("export", "croissant", new, "--out", "pulled/croissant.json")
    doc = json.loads((tmp_path / "pulled" / "croissant.json").read_text(encoding="utf-8"))
    assert doc["prov:wasRevisionOf"] == {"@id": mid}
    assert "ko_bills" not in {p["name"] for p in doc["prov:wasDerivedFrom"]}
    assert "state: approved" in cm("manifest", "verify", new).stdout
