"""`corpusmill report`: figures reconcile with the manifest, every section renders, no text leaks.

The demo run exercises what exists in every run (waterfall, reasons, lengths, languages as
hints, duplicate clusters from exact dedup, throughput); a synthetic run built here exercises the
sections that later stages feed (score columns with thresholds, detected languages, PII
counters, near-duplicate clusters, quarantine). Reports are rendered in headless Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from filters.schema import LEDGER_SCHEMA, make_order
from manifests.manifest import counts_from_ledger, stage_stats
from manifests.report import RunData, compute, load_run, write_report
from manifests.report.figures import ALL, LOG_EDGES, language_mix
from tests.conftest import cli

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--hide-scrollbars",
]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        msg = "headless Chromium not installed (apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return exe


def render_in_chromium(html: Path, tmp: Path) -> tuple[str, Path]:
    """The DOM Chromium built from the page, and a PNG screenshot of it."""
    exe = chromium()
    profile = tmp / "chromium-profile"
    png = tmp / "report.png"
    url = html.resolve().as_uri()
    dom = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}-dom", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}-png", "--window-size=1200,2400",
                           f"--screenshot={png}", url], capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0 and png.exists(), shot.stderr[-2000:]
    return dom.stdout, png


def assert_screenshot_has_charts(png: Path) -> None:
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape[0] >= 2000 and img.shape[1] >= 1000
    # Charts drew: many pixels of the "kept" blue (#2b7bba), and the page is not blank.
    blue = np.all(np.abs(img.astype(int) - np.array([0x2B, 0x7B, 0xBA])) < 12, axis=-1)
    assert blue.sum() > 5000
    assert (img.sum(axis=-1) < 600).mean() > 0.02


def check_against_manifest(fig: dict, manifest: dict, ledger: pa.Table) -> None:
    """Every count in the report equals the manifest's (which the foundation derives from the ledger)."""
    wf = fig["sections"]["waterfall"]
    assert fig["manifest_id"] == manifest["id"]
    allsrc = wf["sources"][ALL]
    t = manifest["totals"]
    assert (allsrc["records_in"], allsrc["kept"], allsrc["dropped"], allsrc["quarantined"]) == (
        t["records_in"], t["kept"], t["dropped"], t["quarantined"])
    for s in manifest["sources"]:
        if s["status"] != "admitted":
            continue
        c, r = s["counts"], wf["sources"][s["id"]]
        assert (r["records_in"], r["kept"], r["dropped"], r["quarantined"]) == (
            c["records_in"], c["kept"], c["dropped"], c["quarantined"]), s["id"]
        by_stage = {st["stage"]: st["dropped"] for st in r["steps"] if st["dropped"]}
        assert by_stage == c["dropped_by"], s["id"]
        assert r["steps"][-1]["output"] == c["kept"]
    steps = [{k: v for k, v in st.items() if k in ("stage", "input", "dropped", "output", "quarantined")}
             for st in allsrc["steps"]]
    assert steps == manifest["stage_stats"]
    reasons = fig["sections"]["drop_reasons"]
    assert sum(r["documents"] for r in reasons if r["outcome"] == "dropped") == t["dropped"]
    assert sum(r["documents"] for r in reasons if r["outcome"] == "quarantined") == t["quarantined"]
    ln = fig["sections"]["lengths"]
    if ln:
        assert sum(ln["chars"][ALL]["after"]) == t["kept"]
        assert ln["chars"][ALL]["after_summary"]["total"] == pc.sum(
            ledger.filter(pc.equal(ledger.column("outcome"), "kept")).column("n_chars")).as_py()
        assert sum(ln["chars"][ALL]["before"]) == t["kept"] + pc.sum(
            pc.is_valid(ledger.filter(pc.equal(ledger.column("outcome"), "dropped")).column("n_chars"))).as_py()


def assert_no_text(report_dir: Path, texts: list[str]) -> None:
    body = (report_dir / "report.html").read_text(encoding="utf-8") + (report_dir / "figures.json").read_text(encoding="utf-8")
    leaked = [t for t in texts if t in body]
    assert not leaked, f"document text in the report: {leaked[:2]!r}"


# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_report(demo_run, tmp_path_factory) -> tuple[Path, dict, Path]:
    """``corpusmill report`` on the demo run, by manifest ID from its catalog."""
    tmp, mid = demo_run["cwd"], demo_run["id"]
    out = tmp_path_factory.mktemp("demo-report") / "report"
    rep = cli("report", mid, "--out", str(out), "--verify", cwd=tmp, env={"CORPUSMILL_CATALOG": str(demo_run["catalog"])})
    assert rep.stdout.strip().splitlines()[-2:] == [str(out / "report.html"), str(out / "figures.json")]
    manifest = json.loads((demo_run["catalog"] / "manifests" / f"{mid}.json").read_text(encoding="utf-8"))
    return tmp, manifest, out


def test_demo_report_matches_manifest(demo_report):
    tmp, manifest, rep = demo_report
    fig = json.loads((rep / "figures.json").read_text(encoding="utf-8"))
    ledger = pq.read_table(tmp / "run" / "ledger.parquet")
    check_against_manifest(fig, manifest, ledger)
    s = fig["sections"]
    # The demo's known shape: reviews lose 11 too-short and 12 exact duplicates.
    steps = {st["stage"]: st for st in s["waterfall"]["sources"]["ko_reviews"]["steps"]}
    assert {k: steps["length@1"][k] for k in ("input", "dropped", "output")} == {
        "input": 3000, "dropped": {"too_short": 11}, "output": 2989}
    assert steps["exact_dedup@1"]["dropped"] == {"exact_duplicate": 12}
    dup = s["duplicates"]["stages"]["exact_dedup@1"]
    assert dup["documents_dropped"] == 12
    assert sum((int(k) - 1) * v for k, v in dup["size_distribution"].items()) == 12
    assert dup["largest"][0]["size"] == max(int(k) for k in dup["size_distribution"])
    assert s["languages"]["kept"]["en_speeches"] == {"en": 6}
    lang_stages = [st["key"] for st in manifest["stages"] if st.get("label") == "lang"]  # declared, not named
    assert lang_stages == ["langid@2"] and s["languages"]["detected"]
    dropped = {}  # the languages of the langid drops, from the ledger's label
    for r in ledger.filter(pc.is_in(ledger.column("stage"), value_set=pa.array(lang_stages))).to_pylist():
        dropped.setdefault(r["source_id"], {}).setdefault(r["label"], 0)
        dropped[r["source_id"]][r["label"]] += 1
    assert s["languages"]["dropped"] == dropped and sum(map(sum, (d.values() for d in dropped.values()))) == 17
    seconds = manifest["run"].get("cpu_seconds_by_stage") or manifest["run"]["seconds_by_stage"]
    assert {r["clock"] for r in s["throughput"]} == {"cpu" if "cpu_seconds_by_stage" in manifest["run"] else "wall"}
    assert [r["seconds"] for r in s["throughput"]] == [seconds[r["stage"]] for r in s["throughput"]]
    assert [r["stage"] for r in s["throughput"]] == [k for k in ["ingest@1", *(st["key"] for st in manifest["stages"])] if k in seconds]
    # Sections follow the data: counters exactly when a stage counted something (PII by type).
    counters = {st: {src["id"]: n for src in manifest["sources"] for stt, n in src["stage_counters"].items() if stt == st}
                for src in manifest["sources"] for st in src["stage_counters"]}
    assert (s["counters"] or {}) == {st: {"pii": "pii" in st, "by_source": per} for st, per in counters.items()}
    # Score histograms: one per declared score; a shard column holds every kept document's value,
    # and the ledger's score column every drop a declared reason names.
    shards = pq.read_table(tmp / "run" / "shards")
    ledger = pq.read_table(tmp / "run" / "ledger.parquet")
    for sc in s["scores"] or []:
        if sc["column"] in shards.column_names:
            assert sum(sc["kept"]) == shards.num_rows - shards.column(sc["column"]).null_count, sc["column"]
        else:  # a score only the ledger holds (minhash_dedup's jaccard)
            scored = ledger.filter(pc.and_(pc.equal(ledger.column("stage"), sc["stage"]), pc.is_valid(ledger.column("score"))))
            assert sum(sc["kept"]) == 0 and 0 < sc["dropped_with_score"] <= scored.num_rows, sc["column"]
        if sc["column"] == "quality_score":
            stage = next(st for st in manifest["stages"] if st["key"] == sc["stage"])
            assert stage["name"] == "quality_classifier"
            assert sc["thresholds"] == [{"option": "threshold", "value": float(stage["options"]["threshold"]), "scope": None}]
    html = (rep / "report.html").read_text(encoding="utf-8")
    for anchor in ("waterfall", "reasons", "lengths", "languages", "duplicates", "throughput"):
        assert f'id="{anchor}"' in html
    assert ('id="scores"' in html) == bool(s["scores"])
    assert ('id="counters"' in html) == bool(counters)
    assert html.count("<svg") >= 8
    texts = [t for t in pq.read_table(tmp / "run" / "shards").column("text").to_pylist() if len(t) >= 12]
    assert_no_text(rep, texts)


def test_demo_report_renders_in_chromium(demo_report, tmp_path):
    _, manifest, rep = demo_report
    dom, png = render_in_chromium(rep / "report.html", tmp_path)
    assert f"Run report: {manifest['name']}" in dom
    assert dom.count("<svg") >= 8
    assert "too_short" in dom and "exact_duplicate" in dom
    assert_screenshot_has_charts(png)


def test_throughput_falls_back_to_wall_seconds_and_says_so(demo_report, tmp_path):
    """A manifest without ``cpu_seconds_by_stage`` (runs before session 13 on Ray or Beam, older runs): the figure and the
    HTML read the wall seconds and label them wall, the chart's axis too."""
    from manifests.report import html

    tmp, manifest, _ = demo_report
    run = load_run(str(tmp / "run"))
    assert run.manifest["run"].get("cpu_seconds_by_stage"), "the local engine records CPU seconds"
    cpu_fig = compute(run)
    wall_manifest = {**run.manifest, "run": {k: v for k, v in run.manifest["run"].items() if k != "cpu_seconds_by_stage"}}
    wall_fig = compute(RunData(wall_manifest, run.ledger, run.documents))
    cpu_rows, wall_rows = cpu_fig["sections"]["throughput"], wall_fig["sections"]["throughput"]
    assert {r["clock"] for r in cpu_rows} == {"cpu"} and {r["clock"] for r in wall_rows} == {"wall"}
    wall = wall_manifest["run"]["seconds_by_stage"]
    assert [r["seconds"] for r in wall_rows] == [wall[r["stage"]] for r in wall_rows]
    page_cpu, page_wall = html.render(cpu_fig), html.render(wall_fig)
    assert "CPU seconds" in page_cpu and "wall time spent in the stage" not in page_cpu
    assert "wall seconds" in page_wall and "wall time spent in the stage" in page_wall


def test_report_is_deterministic_and_accepts_a_run_directory(demo_report, tmp_path):
    tmp, _, rep = demo_report
    again = write_report(load_run(tmp / "run"), tmp_path / "again")
    assert again["json"].read_bytes() == (rep / "figures.json").read_bytes()
    assert again["html"].read_bytes() == (rep / "report.html").read_bytes()


def test_report_refuses_tampered_run_with_verify(demo_report, tmp_path):
    tmp, manifest, _ = demo_report
    run = tmp_path / "run"
    shutil.copytree(tmp / "run", run)
    led = run / "ledger.parquet"
    led.write_bytes(led.read_bytes() + b"\0")
    res = cli("report", str(run), "--out", str(tmp_path / "r"), "--verify", check=False)
    assert res.returncode == 3 and "ledger.parquet" in res.stderr
    res = cli("report", "cm-0000000000000000", "--out", str(tmp_path / "r"), "--catalog", str(tmp / "catalog"), check=False)
    assert res.returncode == 2 and "no manifest" in res.stderr


@pytest.mark.parametrize("damage", ["cut", "gone", "folder"])
def test_report_without_verify_names_a_damaged_shard_or_ledger(demo_report, tmp_path, damage):
    # Session 13: a shard or ledger cut short in the catalog ended `report` in pyarrow's ArrowInvalid
    # traceback (exit 1), a missing one in `error: FileNotFoundError` naming no file (exit 2).
    tmp, manifest, _ = demo_report
    cat, run = tmp_path / "catalog", tmp_path / "run"
    shutil.copytree(tmp / "catalog", cat)
    shutil.copytree(tmp / "run", run)
    mid, shard = manifest["id"], manifest["shards"][0]["path"]
    for f in (cat / "data" / mid / shard, run / "ledger.parquet"):
        if damage == "cut":
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
        else:
            f.unlink()
            if damage == "folder":  # `manifest verify` said `error: Is a directory` (exit 2) and listed nothing else
                f.mkdir()
    res = cli("report", mid, "--out", str(tmp_path / "r"), "--catalog", str(cat), check=False)
    assert res.returncode == 3 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1 and f"{mid}: cannot report" in res.stderr and shard in res.stderr
    res = cli("report", str(run), "--out", str(tmp_path / "r"), check=False)
    assert res.returncode == 3 and "ledger.parquet: " in res.stderr and "Traceback" not in res.stderr, res.stderr
    res = cli("manifest", "verify", mid, "--catalog", str(cat), check=False)
    assert res.returncode == 3 and f"  {shard}: " in res.stderr, res.stderr


# --- a synthetic run with the sections later stages feed ---------------------------------------


def synthetic_run() -> RunData:
    stages = [
        {"name": "normalize", "version": 1, "options": {}, "key": "normalize@1"},
        {"name": "langid", "version": 1, "options": {"min_score": 0.65}, "key": "langid@1"},
        # a stage the registry does not know: its manifest entry declares what it scores
        {"name": "quality", "version": 1, "options": {"threshold": 0.3}, "key": "quality@1",
         "scores": [{"column": "quality_score", "thresholds": [{"option": "threshold", "drop": "below", "reason": "low_quality"}],
                     "reasons": ["low_quality"], "in_documents": True}]},
        {"name": "quality_heuristics", "version": 1, "options": {"min_words": {"ko": 15, "default": 30}, "min_letter_ratio": 0.5},
         "key": "quality_heuristics@1"},
        {"name": "minhash_dedup", "version": 1, "options": {"threshold": 0.8}, "key": "minhash_dedup@1"},
        {"name": "pii", "version": 1, "options": {}, "key": "pii@1"},
    ]
    rows = []
    kept_docs = []

    def add(src, i, outcome, stage=None, reason=None, detail=None, cluster=None, n_chars=100, score=None, threshold=None,
            label=None, **doc):
        rid = f"{src}-{i:016x}"
        rows.append({"id": rid, "source_id": src, "source_file": "f.jsonl", "source_locator": f"line {i + 1}",
                     "order": make_order(0 if src == "a" else 1, 0, i), "outcome": outcome, "stage": stage, "reason": reason,
                     "duplicate_of": cluster, "cluster_id": cluster, "detail": detail,
                     "shard": "shards/part-00000.parquet" if outcome == "kept" else None,
                     "n_chars": None if outcome == "quarantined" else n_chars, "score": score, "threshold": threshold,
                     "label": label})
        if outcome == "kept":
            kept_docs.append({"id": rid, "source_id": src, "lang": doc["lang"], "quality_score": doc["q"],
                              "lang_score": doc["ls"], "hangul_ratio": 0.5, "qh_words": 40, "qh_letter_ratio": 0.9,
                              "n_chars": n_chars, "order": rows[-1]["order"]})

    i = 0
    for k in range(40):  # source a: 40 kept, scores spread over [0.3, 1)
        add("a", i, "kept", n_chars=50 + 10 * k, lang="ko" if k % 4 else "en", q=0.3 + k * 0.0175, ls=0.9)
        i += 1
    for k in range(5):  # dropped by quality with their score in the ledger's score column
        add("a", i, "dropped", "quality@1", "low_quality", None, n_chars=20, score=(k + 1) / 10, threshold=0.3)
        i += 1
    for k in range(3):  # dropped by langid: the detected language in the ledger's label
        add("a", i, "dropped", "langid@1", "lang_unexpected", "detected=ja expected=ko", n_chars=70, score=0.91, label="ja")
        i += 1
    add("a", i, "dropped", "quality_heuristics@1", "low_letter_ratio", "letters", n_chars=40, score=0.31, threshold=0.5)
    i += 1
    add("a", i, "quarantined", "ingest@1", "unreadable_record", "invalid JSON")
    i += 1
    for k in range(4):  # a near-duplicate cluster of 5 (4 dropped + representative a-0)
        add("a", i, "dropped", "minhash_dedup@1", "near_duplicate", "jaccard 0.91", cluster="a-0000000000000000", n_chars=55,
            score=0.91, threshold=0.8)
        i += 1
    for k in range(10):  # source b: 10 kept, 2 clusters of 2
        add("b", k, "kept", n_chars=1000 * (k + 1), lang="en", q=0.9, ls=0.99)
    for k in range(2):
        add("b", 10 + k, "dropped", "minhash_dedup@1", "near_duplicate", None, cluster=f"b-{k:016x}", n_chars=900)
    ledger = pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA).sort_by("order")
    counts = counts_from_ledger(ledger)
    manifest = {
        "id": "cm-5e5e5e5e5e5e5e5e", "name": "synthetic", "created_at": "2026-01-01T00:00:00Z",
        "run": {"seconds_by_stage": {"ingest@1": 0.5, "langid@1": 0.25, "quality@1": 1.0, "minhash_dedup@1": 2.0, "pii@1": 4.0}},
        "stages": stages,
        "stage_stats": stage_stats([s["key"] for s in stages], ledger),
        "sources": [
            {"id": "a", "status": "admitted", "lang": "ko", "counts": counts["a"],
             "stage_counters": {"pii@1": {"EMAIL": 3, "PHONE": 2}}},
            {"id": "b", "status": "admitted", "lang": "en", "counts": counts["b"],
             "stage_counters": {"pii@1": {"PERSON": 7, "EMAIL": 1}}},
            {"id": "c", "status": "excluded", "lang": "en", "counts": {}, "stage_counters": {}},
        ],
        "totals": {k: sum(counts[s][k] for s in counts) for k in ("records_in", "kept", "dropped", "quarantined")},
    }
    docs = pa.Table.from_pylist(kept_docs, schema=pa.schema([
        ("id", pa.string()), ("source_id", pa.string()), ("lang", pa.string()), ("quality_score", pa.float32()),
        ("lang_score", pa.float64()), ("hangul_ratio", pa.float32()), ("qh_words", pa.int32()),
        ("qh_letter_ratio", pa.float32()), ("n_chars", pa.int64()), ("order", pa.int64())]))
    return RunData(manifest=manifest, ledger=ledger, documents=docs)


def test_language_mix_reads_declared_labels_not_stage_names():
    """Language stages are the ones declaring ``lang`` as their label (manifest entry, else the
    registered class); the dropped documents' language is the ledger's ``label``, never the detail."""
    run = synthetic_run()
    led = run.ledger
    extra = pa.Table.from_pylist(
        [{"id": f"a-x{k}", "source_id": "a", "source_file": "f.jsonl", "source_locator": "line 1", "order": (1 << 41) + k,
          "outcome": "dropped", "stage": stage, "reason": "r", "detail": "detected=fr", "label": label, "n_chars": 10}
         for k, (stage, label) in enumerate([("script@1", "zh"), ("script@1", "zh"), ("language_notes@1", "de")])],
        schema=LEDGER_SCHEMA)
    manifest = dict(run.manifest, stages=[*run.manifest["stages"],
                                          {"name": "script", "version": 1, "key": "script@1", "options": {}, "label": "lang"},
                                          {"name": "language_notes", "version": 1, "key": "language_notes@1", "options": {}}])
    lg = language_mix(RunData(manifest, pa.concat_tables([led, extra]), run.documents))
    assert lg["dropped"] == {"a": {"ja": 3, "zh": 2}}  # langid@1 (registered label) and script@1 (declared)
    # a ledger written before the label column: drops counted, their language unknown
    lg = language_mix(RunData(run.manifest, led.drop_columns(["label"]), run.documents))
    assert lg["dropped"] == {"a": {"unknown": 3}}


def test_synthetic_sections():
    run = synthetic_run()
    fig = compute(run)
    check_against_manifest(fig, run.manifest, run.ledger)
    s = fig["sections"]
    assert s["waterfall"]["sources"]["a"]["quarantined"] == 1
    assert s["waterfall"]["sources"]["a"]["steps"][0]["quarantined"] == 1
    assert "c" not in s["waterfall"]["sources"]  # excluded by policy: no records, no bars

    scores = {sc["column"]: sc for sc in s["scores"]}
    q = scores["quality_score"]
    assert q["stage"] == "quality@1" and q["thresholds"] == [{"option": "threshold", "value": 0.3, "scope": None}]
    assert sum(q["kept"]) == 50 and q["dropped_with_score"] == 5 and sum(q["dropped"]) == 5
    # dropped scores 0.1…0.5 land in their 0.025-wide bins; the 0.5 one sits above the threshold
    assert [round(q["edges"][i], 3) for i, c in enumerate(q["dropped"]) if c] == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert all(c == 0 for e, c in zip(q["edges"], q["kept"], strict=False) if e < 0.3 - 1e-9)
    ls = scores["lang_score"]
    assert ls["stage"] == "langid@1" and ls["thresholds"][0]["value"] == 0.65
    assert ls["dropped_with_score"] == 3  # lang_unexpected drops carry their lang_score
    # signal columns of a multi-signal stage: thresholds from its effective options, per language
    words = scores["qh_words"]
    assert words["stage"] == "quality_heuristics@1"
    assert words["thresholds"] == [{"option": "min_words", "value": 30.0, "scope": "default"},
                                   {"option": "min_words", "value": 15.0, "scope": "ko"}]
    assert words["dropped_with_score"] == 0  # its only drop names another rule
    letters = scores["qh_letter_ratio"]
    assert letters["thresholds"] == [{"option": "min_letter_ratio", "value": 0.5, "scope": None}]
    assert letters["dropped_with_score"] == 1 and sum(letters["kept"]) == 50
    assert "hangul_ratio" not in scores and "n_chars" not in scores  # not declared as scores here
    jac = scores["jaccard"]  # a score only the ledger holds (no document column)
    assert jac["stage"] == "minhash_dedup@1" and sum(jac["kept"]) == 0 and jac["dropped_with_score"] == 4
    assert jac["thresholds"] == [{"option": "threshold", "value": 0.8, "scope": None}]

    lg = s["languages"]
    assert lg["detected"] and lg["kept"] == {"a": {"ko": 30, "en": 10}, "b": {"en": 10}}
    assert lg["dropped"] == {"a": {"ja": 3}}

    dup = s["duplicates"]["stages"]["minhash_dedup@1"]
    assert dup["clusters"] == 3 and dup["documents_dropped"] == 6
    assert dup["size_distribution"] == {"2": 2, "5": 1}
    assert dup["largest"][0] == {"cluster_id": "a-0000000000000000", "size": 5, "dropped_by_source": {"a": 4}, "mean_chars": 55.0}

    pii = s["counters"]["pii@1"]
    assert pii["pii"] and pii["by_source"] == {"a": {"EMAIL": 3, "PHONE": 2}, "b": {"PERSON": 7, "EMAIL": 1}}

    tp = {r["stage"]: r for r in s["throughput"]}
    assert tp["quality@1"]["documents_in"] == 66 - 1 - 3  # all records, minus quarantined, minus langid drops
    assert tp["quality@1"]["documents_per_second"] == 62.0
    assert tp["pii@1"]["documents_in"] == 50

    ln = s["lengths"]
    b = ln["tokens"]["b"]["after_summary"]
    assert b["total"] == round(sum(1000 * (k + 1) for k in range(10)) / 4.0)  # en: 4 chars per token
    a_chars = np.array([50 + 10 * k for k in range(40)], dtype=float)
    ratio = np.array([1.6 if k % 4 else 4.0 for k in range(40)])  # kept docs use their detected language
    assert ln["tokens"]["a"]["after_summary"]["total"] == round((a_chars / ratio).sum())
    assert sum(ln["chars"]["a"]["before"]) == 40 + 5 + 3 + 1 + 4 and len(ln["chars"]["a"]["before"]) == len(LOG_EDGES) - 1


def test_throughput_reads_cpu_seconds_when_the_manifest_has_them():
    """A manifest with ``run.cpu_seconds_by_stage`` (local engine) gives per-CPU-second rates;
    one without (older, Ray, Beam) per wall second, as before."""
    run = synthetic_run()
    wall = {r["stage"]: r for r in compute(run)["sections"]["throughput"]}
    assert {r["clock"] for r in wall.values()} == {"wall"} and wall["quality@1"]["seconds"] == 1.0
    cpu = {"ingest@1": 0.25, "langid@1": 0.125, "quality@1": 0.5, "minhash_dedup@1": 1.0, "pii@1": 2.0}
    with_cpu = RunData(run.manifest | {"run": run.manifest["run"] | {"cpu_seconds_by_stage": cpu}}, run.ledger, run.documents)
    rows = {r["stage"]: r for r in compute(with_cpu)["sections"]["throughput"]}
    assert {r["clock"] for r in rows.values()} == {"cpu"}
    assert {k: r["seconds"] for k, r in rows.items()} == cpu
    assert rows["quality@1"]["documents_per_second"] == 2 * wall["quality@1"]["documents_per_second"] == 124.0


def test_ledger_without_n_chars_still_reports():
    """Runs made before the ledger had ``n_chars``: counts as before, no length section."""
    run = synthetic_run()
    old = RunData(run.manifest, run.ledger.drop_columns(["n_chars"]), run.documents)
    fig = compute(old)
    check_against_manifest(fig, run.manifest, run.ledger)
    assert fig["sections"]["lengths"] is None
    assert fig["sections"]["waterfall"]["sources"][ALL]["chars_in"] == 0


def test_synthetic_report_renders_every_section(tmp_path):
    paths = write_report(synthetic_run(), tmp_path / "rep")
    html = paths["html"].read_text(encoding="utf-8")
    for anchor in ("waterfall", "reasons", "lengths", "languages", "scores", "duplicates", "counters", "throughput"):
        assert f'id="{anchor}"' in html, anchor
    assert "PII found by type — pii@1" in html and "threshold threshold = 0.3" in html
    assert "min_words (ko) = 15" in html
    dom, png = render_in_chromium(paths["html"], tmp_path)
    assert "PII counts by type" in dom and "quality_score" in dom
    assert_screenshot_has_charts(png)


# --- a run over the shared deliveries ----------------------------------------------------------

SHARED_CONFIG = """
name: shared-report
purpose: {{description: internal research on report figures, uses: [research]}}
output: {{dir: run, shard_target_mb: 8}}
stages:
  - normalize
  - {{name: length, min_chars: 20, max_chars: 200000}}
  - exact_dedup
sources:
  - {{id: ko_statutes, paths: ["{d}/ko_statutes/statutes.jsonl"], format: jsonl, text_field: text, id_field: id,
     lang: ko, domain: legal, provenance: {{owner: Government of Korea, acquisition: public-domain, licence: LicenseRef-KR-Copyright-Act-Art7}}}}
  - {{id: ko_bills, paths: ["{d}/ko_bills_cp949/*.txt"], format: txt, split: file, encoding: auto, lang: ko, domain: legal,
     provenance: {{owner: National Assembly, acquisition: public-domain, licence: LicenseRef-KR-Copyright-Act-Art7}}}}
  - {{id: ko_news, paths: ["{d}/ko_news/*.ko"], format: txt, split: line, lang: ko, domain: news,
     provenance: {{owner: jungyeul, acquisition: open-licence, licence: CC-BY-SA-3.0}}}}
  - {{id: ko_comments, paths: ["{d}/ko_comments/unlabeled_comments_5.txt"], format: txt, split: line, lang: ko, domain: web,
     provenance: {{owner: kocohub, acquisition: open-licence, licence: CC-BY-SA-4.0}}}}
  - {{id: en_speeches, paths: ["{d}/en_gov_speeches/"], format: txt, split: file, lang: en, domain: government,
     provenance: {{owner: United States Government, acquisition: public-domain, licence: LicenseRef-public-domain}}}}
  - {{id: en_sms, paths: ["{d}/en_web_lowq/sms_spam_collection.tsv"], format: tsv, header: false, columns: [label, text],
     text_field: text, lang: en, domain: web, provenance: {{owner: UCI, acquisition: open-licence, licence: CC-BY-4.0}}}}
"""


@pytest.mark.slow
def test_shared_deliveries_report(shared_data, tmp_path):
    cfg = tmp_path / "shared.yaml"
    cfg.write_text(SHARED_CONFIG.format(d=(shared_data / "deliveries").as_posix()), encoding="utf-8")
    env = {"CORPUSMILL_CATALOG": str(tmp_path / "catalog")}
    mid = cli("run", str(cfg), "--out", str(tmp_path / "run"), cwd=tmp_path, env=env).stdout.strip().splitlines()[-1]
    cli("report", mid, "--out", str(tmp_path / "report"), cwd=tmp_path, env=env)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    fig = json.loads((tmp_path / "report" / "figures.json").read_text(encoding="utf-8"))
    check_against_manifest(fig, manifest, pq.read_table(tmp_path / "run" / "ledger.parquet"))
    wf = fig["sections"]["waterfall"]["sources"]
    assert set(wf) == {"ko_statutes", "ko_bills", "ko_news", "ko_comments", "en_speeches", "en_sms", ALL}
    assert wf["ko_comments"]["records_in"] > 30_000 and wf["en_sms"]["records_in"] > 5_000
    # Real deliveries carry real duplicates and short lines: both reasons show up.
    reasons = {(r["stage"], r["reason"]) for r in fig["sections"]["drop_reasons"]}
    assert {("length@1", "too_short"), ("exact_dedup@1", "exact_duplicate")} <= reasons
    assert fig["sections"]["duplicates"]["stages"]["exact_dedup@1"]["clusters"] > 10
    dom, png = render_in_chromium(tmp_path / "report" / "report.html", tmp_path)
    assert "ko_comments" in dom and dom.count("<svg") >= 8
    assert_screenshot_has_charts(png)
    texts = [t for t in pq.read_table(tmp_path / "run" / "shards").column("text").to_pylist()[::97] if len(t) >= 15]
    assert_no_text(tmp_path / "report", texts)
