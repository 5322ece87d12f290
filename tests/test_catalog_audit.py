"""The audit report: HTML rendered in headless Chromium, JSON and CSV, masked sample."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess

import pytest

from manifests.audit import mask_personal_data
from tests.catalog_cli import CONFIG, cm

pytest_plugins = ["tests.catalog_fixtures"]

KEY_TABLES = ("policy", "sources", "outcomes", "drops", "stage-stats", "pii-treatment", "models", "near-duplicates",
              "dropped-sample", "reviews", "lineage")


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        msg = "headless Chromium is needed (apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return exe


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True)


def test_audit_html_renders_in_headless_chromium(env, tmp_path):
    cm("review", "approve", env.mid, "--comment", "licences and contracts checked")
    out = cm("audit", env.mid, "--out", "report.html", "--config", str(CONFIG)).stdout
    assert "(approved, verified)" in out
    html = (env.tmp / "report.html").read_text(encoding="utf-8")
    # Self-contained: no external scripts, styles, images or fonts.
    assert not re.search(r"<script|<link|<img|@import|url\(", html)
    assert "<svg" in html

    png = tmp_path / "shot.png"
    _chromium(tmp_path, "--window-size=1280,2400", f"--screenshot={png}", f"file://{env.tmp / 'report.html'}")
    from PIL import Image

    img = Image.open(png).convert("L")
    hist = img.histogram()
    non_white = sum(hist[:240]) / (img.width * img.height)
    assert img.size == (1280, 2400) and non_white > 0.02, f"screenshot looks blank ({non_white:.3%} non-white pixels)"

    dom = _chromium(tmp_path, "--dump-dom", f"file://{env.tmp / 'report.html'}").stdout
    for tid in KEY_TABLES:
        assert re.search(rf'<(table|p) id="{tid}"', dom), tid
    sources = re.search(r'<table id="sources">(.*?)</table>', dom, re.S).group(1)
    for fact in ("Lucy Park (e9t/nsmc)", "PO-2026-0042", "2099-12-31", "open-licence", "CC0-1.0"):
        assert fact in sources
    assert 'id="state">approved<' in dom and "alice" in re.search(r'<table id="reviews">(.*?)</table>', dom, re.S).group(1)
    assert "no PII stage ran in this pipeline" in dom  # this run has no pii stage, and the report says so
    sample = re.search(r'<table id="dropped-sample">(.*?)</table>', dom, re.S).group(1)
    assert "too_short" in sample and "exact_duplicate" in sample


def test_audit_json_and_csv_agree_with_the_manifest(env):
    data = json.loads(cm("audit", env.mid, "--format", "json").stdout)
    m = env.cat.get(env.mid)
    assert data["manifest"]["totals"] == m["totals"]
    assert {s["id"]: s["licence"] for s in data["sources"]} == {s["id"]: s["provenance"]["licence"] for s in m["sources"]}
    reviews = next(o for o in data["outcomes"] if o["source"] == "ko_reviews")
    assert reviews == {"source": "ko_reviews", **{k: m["sources"][3]["counts"][k] for k in ("records_in", "kept", "dropped", "quarantined")}}
    drops = {(d["stage"], d["reason"]): d["documents"] for d in data["drops"]}
    assert drops == {("exact_dedup@1", "exact_duplicate"): 12, ("length@1", "too_short"): 11}
    assert data["near_duplicates"]["clusters"] > 0 and data["near_duplicates"]["pairs"][0]["dropped_from"] == "ko_reviews"
    assert data["dropped_sample"]["available"] is False and "--config" in data["dropped_sample"]["note"]
    assert all(d["text"] is None for d in data["dropped_sample"]["documents"])
    rows = list(csv.DictReader(io.StringIO(cm("audit", env.mid, "--format", "csv").stdout)))
    reviews = [r for r in rows if r["source"] == "ko_reviews"]
    assert {r["decision"] for r in reviews} == {"records_in", "kept", "dropped"}
    assert all(r["licence"] == "CC0-1.0" and r["acquisition"] == "open-licence" for r in reviews)
    assert {r["contract"] for r in rows if r["source"] == "ko_statutes"} == {"PO-2026-0042"}
    assert sum(int(r["documents"]) for r in rows if r["decision"] == "dropped") == m["totals"]["dropped"]
    for s in m["sources"]:  # records in = kept + dropped + quarantined, read back from the sheet
        mine = [r for r in rows if r["source"] == s["id"]]
        got = {d: sum(int(r["documents"]) for r in mine if r["decision"] == d) for d in ("records_in", "kept", "dropped", "quarantined")}
        assert got == {k: s["counts"][k] for k in got}


def test_audit_csv_cells_never_start_a_formula():
    from manifests.audit import CSV_COLUMNS, to_csv

    evil = ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx"]
    source = {"id": "s", "status": "admitted", "licence": evil[0], "acquisition": evil[1], "contract": evil[2],
              "permitted_uses": [evil[3]], "expires": None, "policy_reason": None}
    audit = {"manifest": {"id": "cm-0"}, "sources": [source],
             "outcomes": [{"source": "s", "records_in": 2, "kept": 1, "dropped": 1, "quarantined": 0}],
             "drops": [{"source": "s", "stage": evil[4], "reason": evil[5], "documents": 1}], "quarantine": [],
             "pii": {"found": []}}
    rows = list(csv.reader(io.StringIO(to_csv(audit))))
    assert tuple(rows[0]) == CSV_COLUMNS
    for cell in (c for r in rows[1:] for c in r):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert "'=HYPERLINK(\"http://x\")" in rows[1]


def test_audit_format_follows_the_extension_or_refuses(env):
    cm("audit", env.mid, "--out", "a.csv")
    assert (env.tmp / "a.csv").read_text(encoding="utf-8").startswith("manifest,source,status,licence")
    cm("audit", env.mid, "--out", "a.json")
    assert json.loads((env.tmp / "a.json").read_text(encoding="utf-8"))["manifest"]["id"] == env.mid
    for args, says in ((["--out", "b.csv", "--format", "html"], "names a csv file"), (["--out", "b.txt"], "cannot tell the format")):
        res = cm("audit", env.mid, *args, check=False)
        assert res.returncode == 2 and says in res.stderr
        assert not (env.tmp / args[1]).exists()


def test_audit_with_another_config_says_it_did_not_produce_the_manifest(env, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(CONFIG.read_text(encoding="utf-8").replace("name: ", "name: other-", 1), encoding="utf-8")
    for p in CONFIG.parent.iterdir():  # the sources' relative paths resolve as for the original
        if p.name != CONFIG.name and not (tmp_path / p.name).exists():
            (tmp_path / p.name).symlink_to(p)
    res = cm("audit", env.mid, "--config", str(other), check=False)
    assert res.returncode == 2 and f"did not produce {env.mid}" in res.stderr and "documents not found" not in res.stderr


def test_audit_page_has_one_verdict(env):
    from manifests.audit_html import render

    html = cm("audit", env.mid).stdout
    assert html.count('id="verdict"') == 1 and "absent" not in html
    data = json.loads(cm("audit", env.mid, "--format", "json").stdout)
    unsigned = render(data | {"integrity": data["integrity"] | {"signed": False}})
    assert 'class="ok"' not in unsigned.split('id="verdict"')[0][-40:] and "no producer signature" in unsigned


def test_mask_personal_data():
    text = "김철수 씨 연락처 010-1234-5678, 주민번호 900101-1234567, kim@example.co.kr; Dr. Jane Smith called +1 415 555 0100"
    masked = mask_personal_data(text)
    for secret in ("김철수", "010-1234-5678", "900101-1234567", "kim@example.co.kr", "Jane Smith", "555 0100"):
        assert secret not in masked
    assert "[PHONE]" in masked and "[EMAIL]" in masked and "[ID_NUMBER]" in masked and "[NAME]" in masked
    assert len(mask_personal_data("가" * 1000)) == 240
