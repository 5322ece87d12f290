"""End to end through the real CLI: demo run, determinism, ledger/manifest reconciliation,
catalog, pull and tamper detection, dry run, output safety."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import manifests
from corpusmill_base.errors import InputError
from manifests.manifest import check_id
from tests.conftest import EXAMPLES, cli


# demo_run: the session-wide demo run of tests/conftest.py (shared with the report and notebook tests).


def load_manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def test_run_prints_summary_and_manifest_id_last(demo_run):
    assert demo_run["id"].startswith("cm-") and len(demo_run["id"]) == 19
    assert "records in" in demo_run["stdout"] and "ko_statutes" in demo_run["stdout"]
    m = load_manifest(demo_run["out"])
    assert m["id"] == demo_run["id"]
    check_id(m)


def test_counts_reconcile_with_the_ledger(demo_run):
    m = load_manifest(demo_run["out"])
    ledger = pq.read_table(demo_run["out"] / "ledger.parquet")
    assert ledger.num_rows == m["totals"]["records_in"]
    assert len(set(ledger.column("id").to_pylist())) == ledger.num_rows
    for s in m["sources"]:
        c = s["counts"]
        assert c["records_in"] == c["kept"] + c["dropped"] + c["quarantined"]
        assert c["dropped"] == sum(n for st in c["dropped_by"].values() for n in st.values())
    assert sum(sh["rows"] for sh in m["shards"]) == m["totals"]["kept"]
    outcomes = ledger.column("outcome").to_pylist()
    assert outcomes.count("kept") == m["totals"]["kept"]
    # the sample has 3,000 NSMC reviews, 8 statutes (2 more as PDF and HWPX), 3 bills and 6 speeches
    by_source = {s["id"]: s["counts"]["records_in"] for s in m["sources"]}
    assert by_source == {"ko_statutes": 8, "ko_statute_documents": 2, "ko_bills": 3, "en_speeches": 6, "ko_reviews": 3000}


def test_langid_drops_carry_the_detected_language_as_ledger_label(demo_run):
    """langid declares ``label = "lang"``: its drops keep the detected language in the ledger's
    ``label`` (the report's language mix reads it; the detail says the same in words)."""
    rows = [r for r in pq.read_table(demo_run["out"] / "ledger.parquet").to_pylist() if r["stage"] == "langid@2"]
    assert rows
    for r in rows:
        m = re.match(r"detected=(\S+)", r["detail"] or "")
        assert r["label"] == (m.group(1) if m else "und"), r
    other = [r for r in pq.read_table(demo_run["out"] / "ledger.parquet").to_pylist() if r["stage"] not in (None, "langid@2")]
    assert other and all(r["label"] is None for r in other)


def test_exact_duplicates_name_their_keeper(demo_run):
    ledger = pq.read_table(demo_run["out"] / "ledger.parquet").to_pylist()
    dups = [r for r in ledger if r["reason"] == "exact_duplicate"]
    assert dups, "the NSMC sample contains exact duplicates"
    rows = {r["id"]: r for r in ledger}
    for d in dups:
        keeper = rows[d["duplicate_of"]]
        assert keeper["order"] < d["order"]  # keep rule: earliest in (priority, ingest order)
        assert d["stage"] == "exact_dedup@1"
        # the keeper passed exact dedup; a later stage (e.g. near-duplicates) may still drop it
        assert keeper["outcome"] == "kept" or keeper["stage"] not in ("ingest@1", "normalize@2", "length@1", "exact_dedup@1")


def test_shards_hold_the_kept_documents_in_order(demo_run):
    m = load_manifest(demo_run["out"])
    ds = manifests.open(demo_run["id"], catalog=demo_run["env"]["CORPUSMILL_CATALOG"], allow_unapproved=True)
    table = ds.to_table()
    assert table.num_rows == m["totals"]["kept"]
    orders = table.column("order").to_pylist()
    assert orders == sorted(orders)
    texts = table.column("text").to_pylist()
    assert all(t and t == t.strip() for t in texts)
    # CP949 bills are decoded
    bills = [t for t, s in zip(texts, table.column("source_id").to_pylist()) if s == "ko_bills"]
    assert any("일부개정법률안" in t for t in bills) and not any("\ufffd" in t for t in bills)
    enc = {s["id"]: s["encodings"] for s in m["sources"]}
    assert enc["ko_bills"] and enc["ko_bills"][0] in ("cp949", "euc-kr")


def test_identical_rerun_is_not_an_error(demo_run):
    env = demo_run["env"]
    again = cli("run", str(EXAMPLES / "pipeline.yaml"), "--out", str(demo_run["out"]), cwd=demo_run["root"], env=env)
    assert again.stdout.strip().splitlines()[-1] == demo_run["id"]
    assert "unchanged" in again.stdout


# Opt-in (a second demo run with every stage, ~10 CPU-s): in the default suite the same property
# is test_engines' test_parity_on_the_sample (every registered stage, local with 1 and 2 workers,
# Ray and Beam: identical shards, ledger and manifest ID).
@pytest.mark.full
def test_rerun_elsewhere_gives_identical_bytes(demo_run, tmp_path):
    env = demo_run["env"]
    other = cli("run", str(EXAMPLES / "pipeline.yaml"), "--out", str(tmp_path / "b"), cwd=tmp_path, env=env)
    assert other.stdout.strip().splitlines()[-1] == demo_run["id"]
    m = load_manifest(demo_run["out"])
    for sh in m["shards"]:
        assert (demo_run["out"] / sh["path"]).read_bytes() == (tmp_path / "b" / sh["path"]).read_bytes()
    assert (demo_run["out"] / "ledger.parquet").read_bytes() == (tmp_path / "b" / "ledger.parquet").read_bytes()


def test_manifest_list_show_verify(demo_run):
    env = demo_run["env"]
    listed = cli("manifest", "list", cwd=demo_run["root"], env=env).stdout
    assert demo_run["id"] in listed
    shown = json.loads(cli("manifest", "show", demo_run["id"], "--json", cwd=demo_run["root"], env=env).stdout)
    assert shown["id"] == demo_run["id"]
    human = cli("manifest", "show", demo_run["id"], cwd=demo_run["root"], env=env).stdout
    assert "CC0-1.0" in human and "shards:" in human
    assert "verified" in cli("manifest", "verify", demo_run["id"], cwd=demo_run["root"], env=env).stdout


def test_pull_verifies_and_refuses_altered_shards(demo_run, tmp_path):
    env = demo_run["env"]
    dest = tmp_path / "pulled"
    cli("pull", demo_run["id"], "--to", str(dest), "--allow-unapproved", cwd=demo_run["root"], env=env)
    m = load_manifest(demo_run["out"])
    assert (dest / m["shards"][0]["path"]).read_bytes() == (demo_run["out"] / m["shards"][0]["path"]).read_bytes()
    # Alter one byte of the shard in a copy of the catalog.
    cat = tmp_path / "catalog"
    shutil.copytree(env["CORPUSMILL_CATALOG"], cat)
    shard = cat / "data" / demo_run["id"] / m["shards"][0]["path"]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.unlink()
    shard.write_bytes(bytes(data))
    res = cli("pull", demo_run["id"], "--to", str(tmp_path / "bad"), "--catalog", str(cat), "--allow-unapproved", cwd=tmp_path, check=False)
    assert res.returncode == 3
    assert "not the manifest's" in res.stderr and m["shards"][0]["path"] in res.stderr
    assert not (tmp_path / "bad" / m["shards"][0]["path"]).exists()
    res = cli("manifest", "verify", demo_run["id"], "--catalog", str(cat), cwd=tmp_path, check=False)
    assert res.returncode == 3 and "failed verification" in res.stderr


def test_tampered_manifest_is_detected(demo_run, tmp_path):
    cat = tmp_path / "catalog"
    shutil.copytree(demo_run["env"]["CORPUSMILL_CATALOG"], cat)
    path = cat / "manifests" / f"{demo_run['id']}.json"
    m = json.loads(path.read_text())
    m["sources"][0]["provenance"]["licence"] = "MIT"
    path.write_text(json.dumps(m))
    res = cli("manifest", "show", demo_run["id"], "--catalog", str(cat), cwd=tmp_path, check=False)
    assert res.returncode == 3 and "does not match its content" in res.stderr


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    res = cli("run", str(EXAMPLES / "pipeline.yaml"), "--dry-run", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert "admitted  ko_reviews" in res.stdout and "nsmc_sample.jsonl.gz" in res.stdout
    assert not (tmp_path / "o").exists() and not (tmp_path / ".corpusmill").exists()


def light_demo_config() -> str:
    """The demo's sources with only the foundation stages (fast; for output-handling tests)."""
    cfg = (EXAMPLES / "pipeline.yaml").read_text()
    head, rest = cfg.split("stages:\n", 1)
    return head + "stages:\n  - normalize\n  - {name: length, min_chars: 2}\n  - exact_dedup\n\n" + rest[rest.index("sources:"):]


def test_other_run_in_the_output_dir_needs_overwrite(tmp_path):
    cfg = light_demo_config()
    (tmp_path / "data").symlink_to(EXAMPLES / "data")
    (tmp_path / "a.yaml").write_text(cfg)
    (tmp_path / "b.yaml").write_text(cfg.replace("min_chars: 2", "min_chars: 3"))
    env = {"CORPUSMILL_CATALOG": str(tmp_path / "cat")}
    first = cli("run", "a.yaml", "--out", "out", cwd=tmp_path, env=env).stdout.strip().splitlines()[-1]
    res = cli("run", "b.yaml", "--out", "out", cwd=tmp_path, env=env, check=False)
    assert res.returncode == 2 and "--overwrite" in res.stderr and first in res.stderr
    second = cli("run", "b.yaml", "--out", "out", "--overwrite", cwd=tmp_path, env=env).stdout.strip().splitlines()[-1]
    assert second != first and json.loads((tmp_path / "out" / "manifest.json").read_text())["id"] == second


def write_source_config(tmp_path: Path, sources: str, extra: str = "") -> Path:
    cfg = tmp_path / "p.yaml"
    cfg.write_text(
        "name: t\npurpose: {description: test, uses: [pretraining]}\n"
        "output: {dir: out, shard_target_mb: 1}\n" + extra + "sources:\n" + sources
    )
    return cfg


PROV = "    provenance: {owner: me, acquisition: owned, licence: CC0-1.0}\n"


def test_bad_input_is_quarantined_with_file_and_line_and_the_run_goes_on(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.jsonl").write_text('{"text": "good one"}\n{"text": broken}\n{"text": ""}\n{"text": "good two"}\n')
    (d / "b.jsonl").write_bytes(b'{"text": "caf\xe9"}\n')
    blob = gzip.compress(b"".join(b'{"text": "doc %d %s"}\n' % (i, b"x" * 100) for i in range(2000)), mtime=0)
    (d / "c.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    (d / "d.jsonl").write_bytes(bytes(range(256)) * 50)
    (d / "e.jsonl").write_text('{"text": "' + "z" * 3000 + '"}\n{"text": "small"}\n')
    cfg = write_source_config(
        tmp_path,
        "  - id: v\n    paths: [in/*]\n    format: jsonl\n    encoding: utf-8\n" + PROV,
        extra="limits: {max_record_bytes: 1000}\n",
    )
    res = cli("run", str(cfg), cwd=tmp_path, env={"CORPUSMILL_CATALOG": str(tmp_path / "cat")})
    err = res.stderr
    assert "a.jsonl line 2: malformed JSON" in err
    assert "a.jsonl line 3: empty document" in err
    assert "b.jsonl line 1: undecodable bytes for utf-8" in err
    assert "c.jsonl.gz" in err and "truncated" in err
    assert "d.jsonl file: binary content" in err
    assert "e.jsonl line 1: record exceeds max_record_bytes" in err
    assert "caf" not in err  # errors never quote record text
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    (src,) = m["sources"]
    c = src["counts"]
    assert c["records_in"] == c["kept"] + c["dropped"] + c["quarantined"]
    assert c["quarantined"] == 6
    ledger = pq.read_table(tmp_path / "out" / "ledger.parquet").to_pylist()
    q = {(r["source_file"], r["source_locator"]) for r in ledger if r["outcome"] == "quarantined"}
    assert ("a.jsonl", "line 2") in q and ("d.jsonl", "file") in q
    kept_texts = pq.read_table(tmp_path / "out" / "shards" / "part-00000.parquet").column("text").to_pylist()
    assert "good one" in kept_texts and "good two" in kept_texts and "small" in kept_texts
    assert sum(t.startswith("doc ") for t in kept_texts) > 100  # the readable part of the truncated gzip


def test_config_pointing_at_nothing_is_an_error_before_processing(tmp_path):
    cfg = write_source_config(tmp_path, "  - id: v\n    paths: [nowhere/*.jsonl]\n    format: jsonl\n" + PROV)
    res = cli("run", str(cfg), cwd=tmp_path, check=False)
    assert res.returncode == 2 and "source 'v'" in res.stderr and "matches no files" in res.stderr
    assert not (tmp_path / "out").exists()


def test_missing_csv_column_is_an_error_before_processing(tmp_path):
    (tmp_path / "x.csv").write_text("question,answer\nq,a\n")
    cfg = write_source_config(tmp_path, "  - id: v\n    paths: [x.csv]\n    format: csv\n    text_field: [Q, A]\n" + PROV)
    res = cli("run", str(cfg), cwd=tmp_path, check=False)
    assert res.returncode == 2
    assert "x.csv: missing column(s) Q, A; the header has: question, answer" in res.stderr


def test_a_file_named_after_a_person_in_the_configs_paths_is_masked_in_the_manifest(tmp_path):
    # Session 13: the file list masked `kim.lee@example.com.jsonl`, but the manifest's copy of the
    # config kept the path as written (`paths: [in/kim.lee@example.com.jsonl]`, and
    # encoding_overrides' keys), so the address reached the catalog and the audit report anyway.
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "kim.lee@example.com.jsonl").write_text('{"text": "a record of text"}\n')
    (tmp_path / "in" / "900101-1234568.jsonl").write_text('{"text": "another record"}\n')
    cfg = write_source_config(tmp_path, "  - id: v\n    paths: [in/kim.lee@example.com.jsonl, in/900101-1234568.jsonl]\n"
                              "    format: jsonl\n    encoding_overrides: {kim.lee@example.com.jsonl: cp949}\n" + PROV)
    res = cli("run", str(cfg), "--catalog", "cat", cwd=tmp_path)
    mid = res.stdout.strip().splitlines()[-1]
    raw = (tmp_path / "out" / "manifest.json").read_text(encoding="utf-8")
    assert "kim.lee" not in raw and "1234568" not in raw
    manifest = json.loads(raw)
    assert manifest["config"]["sources"][0]["paths"] == ["in/<EMAIL_ADDRESS>.jsonl", "in/<KR_RRN>.jsonl"]
    assert manifest["config"]["sources"][0]["encoding_overrides"] == {"<EMAIL_ADDRESS>.jsonl": "cp949"}
    # the audit's config check compares the same masked view
    cli("audit", mid, "--catalog", "cat", "--out", "a.json", "--config", str(cfg), cwd=tmp_path)
    assert "kim.lee" not in (tmp_path / "a.json").read_text(encoding="utf-8")
    # and a path that matches nothing is named masked too
    (tmp_path / "in" / "kim.lee@example.com.jsonl").unlink()
    res = cli("run", str(cfg), "--dry-run", cwd=tmp_path, check=False)
    assert res.returncode == 2 and "<EMAIL_ADDRESS>.jsonl' matches no files" in res.stderr and "kim.lee" not in res.stderr


def test_a_csv_header_naming_the_text_column_twice_is_refused(tmp_path):
    # Session 13: `text,id,text` read the last `text` column; the first one's text was lost without a word.
    (tmp_path / "x.csv").write_text("text,id,text\nfirst text,1,second text\n")
    cfg = write_source_config(tmp_path, "  - id: v\n    paths: [x.csv]\n    format: csv\n    id_field: id\n" + PROV)
    res = cli("run", str(cfg), "--dry-run", cwd=tmp_path, check=False)
    assert res.returncode == 2 and "x.csv: column(s) text appear more than once in the header (columns 1, 3)" in res.stderr, res.stderr


def test_an_empty_csv_file_among_others_is_read_as_no_records(tmp_path):
    # Session 13: one empty export in a folder of CSVs ended the run before processing
    # ("empty.csv: missing column(s) text; the header has: "); an empty JSONL file was always 0 records.
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("text,id\nfirst row of text,1\n")
    (tmp_path / "in" / "empty.csv").write_bytes(b"")
    (tmp_path / "in" / "empty.csv.gz").write_bytes(gzip.compress(b""))
    cfg = write_source_config(tmp_path, "  - id: v\n    paths: [in/]\n    format: csv\n    id_field: id\n" + PROV)
    res = cli("run", str(cfg), cwd=tmp_path, check=False)
    assert res.returncode == 0, res.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["totals"]["records_in"] == manifest["totals"]["kept"] == 1
    assert sorted(f["path"] for f in manifest["sources"][0]["files"]) == ["a.csv", "empty.csv", "empty.csv.gz"]


def test_a_first_row_that_is_a_record_is_not_printed_raw_in_the_missing_column_error(tmp_path):
    # Session 13: with `header: true` on a headerless delivery (or a wrong delimiter) the "header"
    # is the first record, and the error printed it whole — resident number, e-mail and text.
    (tmp_path / "x.csv").write_text("900101-1234568,kim.lee@example.com,the patient was admitted on a rainy morning in May\nq,a,b\n")
    cfg = write_source_config(tmp_path, "  - id: v\n    paths: [x.csv]\n    format: csv\n" + PROV)
    res = cli("run", str(cfg), "--dry-run", cwd=tmp_path, check=False)
    assert res.returncode == 2 and "x.csv: missing column(s) text; the header has: <KR_RRN>, <EMAIL_ADDRESS>, " in res.stderr, res.stderr
    assert "1234568" not in res.stderr and "kim.lee" not in res.stderr and "rainy morning" not in res.stderr


def test_unknown_format_and_unknown_keys_name_file_key_and_expectation(tmp_path):
    cfg = write_source_config(tmp_path, "  - id: v\n    paths: [x]\n    format: xml\n    txt_split: line\n" + PROV)
    res = cli("run", str(cfg), cwd=tmp_path, check=False)
    assert res.returncode == 2
    assert f"{cfg}: sources[0](id=v).format: Input should be 'jsonl', 'json'" in res.stderr
    assert "(got 'xml')" in res.stderr
    assert f"{cfg}: sources[0](id=v).txt_split: unknown key" in res.stderr


def test_policy_refuses_every_offending_source_in_one_message(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"text": "a"}\n')
    src = (
        "  - id: nc\n    paths: [x.jsonl]\n    format: jsonl\n"
        "    provenance: {owner: o, acquisition: licensed, licence: CC-BY-NC-4.0}\n"
        "  - id: unknown\n    paths: [x.jsonl]\n    format: jsonl\n"
        "    provenance: {owner: o, acquisition: purchased}\n"
        "  - id: expired\n    paths: [x.jsonl]\n    format: jsonl\n"
        "    provenance: {owner: o, acquisition: purchased, licence: CC0-1.0, contract: PO-1, expires: 2001-01-01}\n"
        "  - id: fine\n    paths: [x.jsonl]\n    format: jsonl\n" + PROV
    )
    cfg = tmp_path / "p.yaml"
    cfg.write_text("name: t\npurpose: {description: open weights, uses: [pretraining, commercial]}\nsources:\n" + src)
    res = cli("run", str(cfg), cwd=tmp_path, check=False)
    assert res.returncode == 2
    assert "- nc: licence CC-BY-NC-4.0 does not permit: commercial" in res.stderr
    assert "- unknown: licence unknown" in res.stderr
    assert "- expired: contract expired on 2001-01-01" in res.stderr
    assert "fine" not in res.stderr
    # Excluding them (with reasons) lets the run go on, and the decision is recorded.
    cfg.write_text(
        cfg.read_text().replace(
            "sources:\n",
            "exclude: {nc: non-commercial licence, expired: contract ended}\n"
            "accept_unknown_licence: {unknown: vendor email 2026-10-01 grants all uses}\nsources:\n",
        ).replace("acquisition: purchased}\n", "acquisition: purchased, permitted_uses: [pretraining, commercial]}\n", 1)
    )
    res = cli("run", str(cfg), cwd=tmp_path, env={"CORPUSMILL_CATALOG": str(tmp_path / "cat")})
    m = json.loads((tmp_path / "runs" / "output" / "manifest.json").read_text())
    status = {d["source_id"]: (d["status"], d["reason"]) for d in m["policy"]}
    assert status["nc"] == ("excluded", "excluded by config: non-commercial licence")
    assert status["unknown"][0] == "admitted" and "vendor email" in status["unknown"][1]
    assert {s["id"]: s["counts"]["records_in"] for s in m["sources"]}["nc"] == 0


def test_manifest_follows_its_json_schema(demo_run):
    import jsonschema

    from manifests.schema import validate_manifest

    m = load_manifest(demo_run["out"])
    validate_manifest(m)
    broken = json.loads(json.dumps(m))
    broken["sources"][0]["counts"]["kept"] = -1
    with pytest.raises(jsonschema.ValidationError):
        validate_manifest(broken)


def test_identical_rerun_is_detected_from_the_plan_before_any_stage_runs(demo_run, monkeypatch):
    """Same config digest, code version, stages, models and input sha256: no engine is started."""
    from pipelines import runner

    monkeypatch.chdir(demo_run["root"])
    monkeypatch.setenv("CORPUSMILL_CATALOG", demo_run["env"]["CORPUSMILL_CATALOG"])
    monkeypatch.setattr(runner, "_engine", lambda name: pytest.fail("an identical re-run started the engine"))
    outcome = runner.run(EXAMPLES / "pipeline.yaml", out=demo_run["out"])
    assert outcome.reused and outcome.id == demo_run["id"]


def test_identical_rerun_with_a_changed_input_recomputes(tmp_path):
    from pipelines import runner

    from pipelines.progress import null_progress
    from tests.catalog_cli import CONFIG

    data = tmp_path / "examples"
    shutil.copytree(EXAMPLES / "data", data / "data")
    cfg = tmp_path / "pipeline.yaml"
    cfg.write_text(CONFIG.read_text(encoding="utf-8").replace("../../../examples", str(data)), encoding="utf-8")
    first = runner.run(cfg, out=tmp_path / "out", catalog=str(tmp_path / "cat"), progress=null_progress())
    assert runner.identical_run(runner.prepare(cfg), first.catalog, tmp_path / "out") is not None
    speech = next((data / "data" / "speeches").iterdir())
    speech.write_text(speech.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    assert runner.identical_run(runner.prepare(cfg), first.catalog, tmp_path / "out") is None


def test_killed_run_rerun_without_resume_says_how_to_resume(tmp_path):
    import signal

    from tests.catalog_cli import CONFIG

    cfg = tmp_path / "p.yaml"
    cfg.write_text(CONFIG.read_text(encoding="utf-8").replace("../../../examples", str(EXAMPLES)), encoding="utf-8")
    args = ("run", str(cfg), "--out", "out", "--catalog", "cat")
    killed = cli(*args, cwd=tmp_path, env={"CORPUSMILL_KILL_AT": "unit:seg0/000001"}, check=False)
    assert killed.returncode == -signal.SIGKILL
    again = cli(*args, cwd=tmp_path, check=False)
    assert again.returncode == 2 and "unfinished work" in again.stderr and "--resume" in again.stderr
    assert "Traceback" not in again.stderr
    assert cli(*args, "--resume", cwd=tmp_path).stdout.strip().splitlines()[-1].startswith("cm-")


def test_a_source_listing_the_output_directory_does_not_read_the_runs_own_files(tmp_path, monkeypatch):
    # Found in session 11: `paths: [in/]` with the output (and the catalog) under `in/` read the
    # last run's shards, ledger and manifest as input — the second run of the same config
    # quarantined 246 records and got another manifest ID.
    from pipelines import runner
    from pipelines.progress import null_progress

    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text("".join(json.dumps({"text": f"document {i} of the source"}) + "\n" for i in range(30)))
    cfg = write_source_config(
        tmp_path, "  - id: a\n    paths: [in/]\n    format: jsonl\n" + PROV, extra="catalog: in/cat\nstages: [normalize]\n"
    )
    cfg.write_text(cfg.read_text().replace("dir: out", "dir: in/out"))
    runs = [runner.run(cfg, overwrite=True, progress=null_progress()) for _ in range(2)]
    assert runs[0].id == runs[1].id and runs[1].reused  # the same plan: nothing to recompute
    ledger = pq.read_table(tmp_path / "in" / "out" / "ledger.parquet")
    assert ledger.num_rows == 30 and set(ledger.column("source_file").to_pylist()) == {"a.jsonl"}
    plan = runner.prepare(cfg)
    assert [f.rel for f in plan.sources[0].files] == ["a.jsonl"] and plan.left_out["a"] >= 4  # output, lock, catalog
    # --out elsewhere with a plan made for the config's output: listed again without the run's own
    # files (in/out is no longer this run's: it is read, the same way both times)
    other = [runner.run(cfg, out=tmp_path / "in" / "else", plan=runner.prepare(cfg), progress=null_progress()) for _ in range(2)]
    assert other[0].id == other[1].id and other[1].reused
    # a file:// catalog is as local as a path (the review found it read as input); an output named
    # with a trailing dash leaves its siblings `in/run-2/…` alone (it was taken as a name prefix)
    from pipelines.plan import _Own, own_paths

    cfg.write_text(cfg.read_text().replace("catalog: in/cat", f"catalog: file://{tmp_path}/in/fcat"))
    furl = [runner.run(cfg, overwrite=True, progress=null_progress()) for _ in range(2)]
    assert furl[0].id == furl[1].id and furl[1].reused
    own = _Own(own_paths(tmp_path / "in" / "run-"))
    assert own(str(tmp_path / "in" / "run-" / "ledger.parquet")) and own(str(tmp_path / "in" / ".run-.staging-77" / "x"))
    assert not own(str(tmp_path / "in" / "run-2" / "a.jsonl")) and not own(str(tmp_path / "in" / "run-old.jsonl"))
    # a pattern that lists nothing but the run's own files is an error, not an empty source
    only = write_source_config(tmp_path, "  - id: a\n    paths: [in/out/]\n    format: jsonl\n" + PROV, extra="catalog: in/cat\n")
    only.write_text(only.read_text().replace("dir: out", "dir: in/out"))
    with pytest.raises(InputError, match="matches only the run's own output"):
        runner.prepare(only)
