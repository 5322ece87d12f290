"""decontaminate@1: each decision kind on tiny fixtures, the guard, --strict, config errors, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filters.decontaminate import Decontaminate, load_benchmark, normalise
from tests.conftest import TEST_DATA, cli

D = TEST_DATA / "decontam"


def _spec_exam(path: Path = D / "kmmlu_mini.json") -> dict:
    return {"id": "exam_mini", "files": [(str(path), path.name)], "read": {"format": "json", "record_path": "[]"},
            "question_field": "question", "choice_fields": ["A", "B", "C", "D"], "answer_field": "answer", "id_field": "qid"}


def _spec_text(path: Path = D / "legal_mini.jsonl") -> dict:
    return {"id": "legal_mini", "files": [(str(path), path.name)], "read": {"format": "jsonl"}, "text_fields": ["text"], "id_field": "id"}


@pytest.fixture(scope="module")
def stage() -> Decontaminate:
    st = Decontaminate({}, benchmarks=[load_benchmark(_spec_exam()), load_benchmark(_spec_text())])
    st.ensure_setup()
    return st


def _docs() -> list[dict]:
    return [json.loads(line) for line in (D / "docs.jsonl").read_text(encoding="utf-8").splitlines()]


def test_each_decision_kind(stage):
    docs = _docs()
    batch = pa.RecordBatch.from_pydict(
        {"id": [d["id"] for d in docs], "text": [d["text"] for d in docs], "source_id": ["notes"] * len(docs)}
    )
    r = stage.process(batch)
    by_id = {d["id"]: i for i, d in enumerate(docs)}
    # drop: a whole item (question, its options and the answer) with spacing and punctuation changed
    assert not r.keep[by_id["drop-ko"]] and r.reasons[by_id["drop-ko"]] == "benchmark_item"
    assert "exam_mini item=ko-1" in r.details[by_id["drop-ko"]]
    # drop: a text item embedded in a longer document, its commas turned into line breaks
    assert not r.keep[by_id["drop-en"]] and "legal_mini item=hs-1" in r.details[by_id["drop-en"]]
    # mask: the question alone; the span goes, the rest of the document stays
    i = by_id["mask-q"]
    text = r.columns["text"][i].as_py()
    assert r.keep[i] and "절취한 뒤" not in text and text.startswith("오늘 스터디에서는") and text.endswith("하였다.")
    assert r.columns["decontam"][i].as_py() == [{"action": "mask", "benchmark": "exam_mini", "item": "ko-2"}]
    # quote: a statute holding one option (the correct one!) verbatim is kept untouched
    i = by_id["statute"]
    assert r.keep[i] and r.columns["text"][i].as_py() == docs[i]["text"]
    assert r.columns["decontam"][i].as_py() == [{"action": "quote", "benchmark": "exam_mini", "item": "ko-1"}]
    assert r.keep[by_id["clean"]] and r.columns["decontam"][by_id["clean"]].as_py() is None
    assert r.counters == {"notes": {"drop:exam_mini": 1, "drop:legal_mini": 1, "mask:exam_mini": 1, "quote_kept:exam_mini": 1}}


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.replace(" ", "\n"),
        lambda t: t.replace(",", " ,").replace(".", "。"),
        lambda t: t.upper(),
        lambda t: t.translate({ord(c): ord(c) + 0xFEE0 for c in "abcdefghijklmnopqrstuvwxyz"}),  # full-width letters
    ],
    ids=["line-breaks", "punctuation", "case", "fullwidth"],
)
def test_edited_copies_still_match(stage, edit):
    item = json.loads((D / "legal_mini.jsonl").read_text().splitlines()[1])["text"]
    [d] = stage.decide(["Some preface text. " + edit(item) + " And an unrelated ending."])
    assert d.action == "drop" and d.matches[0].item == "hs-2"


def test_options_only_copy_drops_and_short_windows_per_script(stage):
    q = json.loads((D / "kmmlu_mini.json").read_text(encoding="utf-8"))[1]
    [d] = stage.decide(["\n".join(q[k] for k in "ABCD")])
    assert d.action == "drop"  # four options are most of the item
    assert normalise("１０ Ｋｇ, Ⅻ ①") == "10kgx1"  # one character each: Ⅻ keeps its first letter


def _copy_fixture(tmp_path: Path) -> Path:
    dst = tmp_path / "fx"
    shutil.copytree(D, dst)
    return dst


def test_pipeline_run_ledger_manifest_guard_and_strict(tmp_path):
    fx = _copy_fixture(tmp_path)
    env = {"CORPUSMILL_CATALOG": str(tmp_path / "catalog")}
    strict = cli("run", str(fx / "pipeline.yaml"), "--out", str(tmp_path / "strict"), "--strict", cwd=tmp_path, env=env, check=False)
    assert strict.returncode == 2 and "decontamination guard" in strict.stderr and not (tmp_path / "strict").exists()
    res = cli("run", str(fx / "pipeline.yaml"), "--out", str(tmp_path / "run"), cwd=tmp_path, env=env)
    assert "DECONTAMINATION GUARD" in res.stderr and "'notes' lost 2 of 5" in res.stderr
    m = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    st = next(s for s in m["stages"] if s["name"] == "decontaminate")
    assert [(b["id"], b["items"]) for b in st["benchmarks"]] == [("exam_mini", 2), ("legal_mini", 2)]
    assert st["benchmarks"][0]["files"][0]["sha256"] and st["benchmarks"][0]["provenance"]["licence"] == "CC-BY-4.0"
    assert "사람을 살해한" not in json.dumps(m, ensure_ascii=False)  # benchmark text never reaches the manifest
    shards = pq.read_table(tmp_path / "run" / "shards").to_pylist()
    assert {r["source_record_id"]: r["decontam"] for r in shards}["statute"][0]["action"] == "quote"
    counters = m["sources"][0]["stage_counters"]["decontaminate@1"]
    assert counters == {"drop:exam_mini": 1, "drop:legal_mini": 1, "mask:exam_mini": 1, "quote_kept:exam_mini": 1}
    ledger = pq.read_table(tmp_path / "run" / "ledger.parquet").to_pylist()
    drops = sorted(r["detail"] for r in ledger if r["stage"] == "decontaminate@1")
    assert len(drops) == 2 and drops[0].startswith("exam_mini item=ko-1") and drops[1].startswith("legal_mini item=hs-1")
    # Every decision is in the ledger, one row per record: drops as the row's stage/reason/detail,
    # masks and quotes as a note on the kept row (benchmark and item ids, no text).
    rows = {r["source_locator"]: r for r in ledger}
    assert len(ledger) == 5 and m["totals"]["kept"] + m["totals"]["dropped"] == 5
    by_record = {r["id"]: r for r in shards}
    notes = {loc: r["notes"] for loc, r in rows.items()}
    assert sum(1 for n in notes.values() if n) == 2  # the mask and the quote; drops and the clean document have none
    mask_row = next(r for r in ledger if r["notes"] and r["notes"][0]["action"] == "mask")
    quote_row = next(r for r in ledger if r["notes"] and r["notes"][0]["action"] == "quote")
    assert mask_row["outcome"] == quote_row["outcome"] == "kept" and mask_row["stage"] is None
    assert mask_row["notes"] == [{"stage": "decontaminate@1", "action": "mask", "detail": mask_row["notes"][0]["detail"]}]
    assert mask_row["notes"][0]["detail"].startswith("exam_mini item=ko-2 item=")
    assert quote_row["notes"][0]["detail"].startswith("exam_mini item=ko-1 item=")
    assert by_record[mask_row["id"]]["source_record_id"] == "mask-q" and by_record[quote_row["id"]]["source_record_id"] == "statute"
    assert by_record[mask_row["id"]]["text"].startswith("오늘 스터디에서는")  # n_chars is the masked length
    assert mask_row["n_chars"] == len(by_record[mask_row["id"]]["text"])
    assert "사람을 살해한" not in json.dumps(ledger, ensure_ascii=False, default=str)
    # readers nobody here wrote see the notes (a list of structs)
    import duckdb
    import polars as pl

    path = tmp_path / "run" / "ledger.parquet"
    got = duckdb.sql(f"SELECT n.action, count(*) FROM '{path}', UNNEST(notes) AS t(n) GROUP BY 1 ORDER BY 1").fetchall()
    assert got == [("mask", 1), ("quote", 1)]
    notes = pl.read_parquet(path).explode("notes").drop_nulls("notes").select(pl.col("notes").struct.field("stage", "action"))
    assert sorted(notes["action"].to_list()) == ["mask", "quote"] and set(notes["stage"]) == {"decontaminate@1"}
    # the run report lists the notes beside the drops
    cli("report", m["id"], "--out", str(tmp_path / "report"), cwd=tmp_path, env=env)
    reasons = json.loads((tmp_path / "report" / "figures.json").read_text(encoding="utf-8"))["sections"]["drop_reasons"]
    assert {(r["stage"], r["outcome"], r["reason"], r["documents"]) for r in reasons if r["stage"] == "decontaminate@1"} == {
        ("decontaminate@1", "dropped", "benchmark_item", 2), ("decontaminate@1", "noted", "mask", 1),
        ("decontaminate@1", "noted", "quote", 1)}


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"paths": ["bad_missing_field.json"]}, "answer field 'answer' is missing"),
        ({"paths": ["bad_malformed.jsonl"], "format": "jsonl", "record_path": None}, "malformed JSON"),
        ({"paths": ["empty.jsonl"], "format": "jsonl", "record_path": None}, "no items"),
        ({"question_field": "stem"}, "missing field 'stem'"),
        ({"paths": ["nowhere.json"]}, "matches no files"),
    ],
    ids=["missing-answer", "malformed", "empty", "no-such-field", "no-file"],
)
def test_bad_benchmark_is_a_config_error_before_reading(tmp_path, patch, message):
    import yaml

    fx = _copy_fixture(tmp_path)
    cfg = yaml.safe_load((fx / "pipeline.yaml").read_text(encoding="utf-8"))
    cfg["benchmarks"][0].update(patch)
    cfg["benchmarks"][0] = {k: v for k, v in cfg["benchmarks"][0].items() if v is not None}
    (fx / "pipeline.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    res = cli("run", str(fx / "pipeline.yaml"), "--dry-run", cwd=tmp_path, check=False)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr
    assert "exam_mini" in res.stderr


def test_stage_without_benchmarks_is_a_config_error(tmp_path):
    fx = _copy_fixture(tmp_path)
    text = (fx / "pipeline.yaml").read_text(encoding="utf-8")
    (fx / "pipeline.yaml").write_text(text[: text.index("benchmarks:")], encoding="utf-8")
    res = cli("run", str(fx / "pipeline.yaml"), "--dry-run", cwd=tmp_path, check=False)
    assert res.returncode == 2 and "needs a `benchmarks:` section" in res.stderr


def test_cli_decontaminate(tmp_path):
    out, dec = tmp_path / "out.jsonl", tmp_path / "decisions.jsonl"
    res = cli("decontaminate", str(D / "docs.jsonl"), str(out), "--benchmark", str(D / "legal_mini.jsonl"), "--decisions", str(dec))
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["drop-ko", "mask-q", "statute", "clean"]  # drop-en is gone
    assert json.loads(res.stdout)["dropped"] == 1
    assert [json.loads(line)["item"] for line in dec.read_text().splitlines()] == ["hs-1"]
    again = cli("decontaminate", str(D / "docs.jsonl"), str(out), "--benchmark", str(D / "legal_mini.jsonl"), check=False)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    bad = cli("decontaminate", str(D / "docs.jsonl"), str(tmp_path / "o2.jsonl"), "--benchmark", str(D / "empty.jsonl"), check=False)
    assert bad.returncode == 2 and "no items" in bad.stderr


def test_cli_decontaminate_goes_through_map_file(tmp_path):
    """Parquet in and out like `scrub`; --window reaches the stage; bad input is one line naming the file."""
    src = tmp_path / "docs.parquet"
    pq.write_table(pa.Table.from_pylist(_docs()), src)
    res = cli("decontaminate", str(src), str(tmp_path / "out.parquet"), "--benchmark", str(D / "legal_mini.jsonl"), "--window", "32")
    out = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [r["id"] for r in out] == ["drop-ko", "mask-q", "statute", "clean"] and "order" not in out[0]
    assert all(r["decontam"] is None for r in out)  # nothing of legal_mini in the kept ones
    assert json.loads(res.stdout)["dropped"] == 1 and json.loads(res.stdout)["kept"] == 4
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": \n', encoding="utf-8")
    r = cli("decontaminate", str(tmp_path / "bad.jsonl"), str(tmp_path / "q.jsonl"), "--benchmark", str(D / "legal_mini.jsonl"))
    assert "quarantined 1 unreadable line(s)" in r.stderr and "line 2:" in r.stderr and json.loads(r.stdout)["quarantined_lines"] == 1
    assert [json.loads(x)["id"] for x in (tmp_path / "q.jsonl").read_text(encoding="utf-8").splitlines()] == ["a"]
    for bad_in, message in ((tmp_path / "none.jsonl", "no such file"), (D / "legal_mini.jsonl", None)):
        r = cli("decontaminate", str(bad_in), str(tmp_path / "o.jsonl"), "--benchmark", str(D / "legal_mini.jsonl"),
                "--overwrite", check=False)
        if message is None:  # a benchmark run against itself: every document is an item
            assert r.returncode == 0 and json.loads(r.stdout)["dropped"] == 2
            continue
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
        assert not (tmp_path / "o.jsonl").exists() or message is None


def test_shared_statutes_are_never_dropped(shared_data):
    bench = shared_data / "eval" / "benchmarks"
    spec = _spec_exam(bench / "kmmlu_criminal_law_test.json") | {"id": "kmmlu", "id_field": None}
    st = Decontaminate({}, benchmarks=[load_benchmark(spec)])
    docs = [json.loads(line) for line in (shared_data / "deliveries" / "ko_statutes" / "statutes.jsonl").open(encoding="utf-8")]
    decisions = st.decide([d["text"] for d in docs])
    assert len(st.index.item_ids) == 200
    assert [d.action for d in decisions if d.action not in (None, "quote")] == []
    assert any(d.action == "quote" for d in decisions)  # the Criminal Act is quoted by KMMLU options


def test_resume_refuses_changed_benchmark_files(tmp_path):
    """The config names benchmark paths only; a resumed run must also find their bytes unchanged."""
    import signal

    fx = _copy_fixture(tmp_path)
    env = {"CORPUSMILL_CATALOG": str(tmp_path / "catalog"), "CORPUSMILL_KILL_AT": "unit:seg0/000000"}
    args = ("run", str(fx / "pipeline.yaml"), "--out", str(tmp_path / "run"))
    killed = cli(*args, cwd=tmp_path, env=env, check=False)
    assert killed.returncode == -signal.SIGKILL
    plan = json.loads((tmp_path / ".run.work" / "plan.json").read_text(encoding="utf-8"))
    assert [b[:2] for b in plan["benchmarks"]] == [["exam_mini", "kmmlu_mini.json"], ["legal_mini", "legal_mini.jsonl"]]
    with (fx / "legal_mini.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "hs-3", "text": "An item added after the run was interrupted, long enough to index."}) + "\n")
    env.pop("CORPUSMILL_KILL_AT")
    res = cli(*args, "--resume", cwd=tmp_path, env=env, check=False)
    # the decontaminate stage's description holds the benchmarks' digests too: both are named
    assert res.returncode == 2 and "cannot resume" in res.stderr and "benchmarks, stages changed" in res.stderr


def test_word_windows_for_latin_text():
    """``words: N``: Latin windows of N words (measured against characters in docs/decontamination.md);
    Hangul keeps its character windows. Word boundaries move with broken spacing, characters do not."""
    st = Decontaminate({"words": 8, "stride": 1}, benchmarks=[load_benchmark(_spec_exam()), load_benchmark(_spec_text())])
    item = json.loads((D / "legal_mini.jsonl").read_text().splitlines()[1])["text"]
    [d] = st.decide(["Some preface text. " + item.replace(" ", "\n") + " And an unrelated ending."])
    assert d.action == "drop" and d.matches[0].item == "hs-2"
    words = item.split()
    glued = " ".join(w + words[i + 1] if i % 2 == 0 and i + 1 < len(words) else w for i, w in enumerate(words) if i % 2 == 0)
    [chars] = Decontaminate({}, benchmarks=st._loaded).decide([glued])
    [by_words] = st.decide([glued])
    assert chars.action == "drop" and by_words.action is None  # every other space removed: no 8-word window survives
    q = json.loads((D / "kmmlu_mini.json").read_text(encoding="utf-8"))[0]
    [ko] = st.decide([q["question"]])
    assert ko.action == "mask"  # the Korean question alone, matched by its 14-syllable windows
