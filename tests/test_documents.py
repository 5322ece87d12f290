"""Office documents (pdf, docx, hwp, hwpx, auto): text in reading order, one quarantine reason
per kind of bad file, splits and locators, typed options, and a mixed folder end to end.

Fixtures are made at test time from the bundled statutes (bench/document_fixtures.py), so the
reference text is known; ../shared/data/documents is used where noted.
"""

from __future__ import annotations

import difflib
import io
import json
import re
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from bench import document_fixtures as fx
from corpusmill_base.errors import ConfigError
from filters.documents.model import DocumentOptions
from filters.readers import FileInfo, ReadOptions, read_file
from pipelines.config import load_config
from tests.conftest import cli
from tests.test_engines import ray_local  # noqa: F401 — the module-scoped local Ray cluster fixture


def read(data: bytes, name: str, fmt: str = "auto", **opts) -> tuple[list, FileInfo]:
    info = FileInfo(path=name)
    events = list(read_file(io.BytesIO(data), ReadOptions(format=fmt, documents=DocumentOptions(**opts)), info))
    return events, info


def similarity(a: str, b: str) -> float:
    squash = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731 — line wrapping is layout, not text
    return difflib.SequenceMatcher(None, squash(a), squash(b), autojunk=False).ratio()


@pytest.fixture(scope="module")
def statute() -> list[str]:
    rows = fx.load_statutes()
    return fx.statute_paragraphs(max(rows, key=lambda r: len(r["text"])), 6000)


# --- text fidelity ---------------------------------------------------------------------------


@pytest.mark.parametrize("columns,rotate", [(1, False), (2, False), (1, True)])
def test_pdf_text_in_reading_order_without_furniture(statute, columns, rotate):
    data = fx.statute_pdf(statute, columns=columns, rotate=rotate, title="시험법")
    events, info = read(data, "s.pdf")
    assert info.format == "pdf" and len(events) == 1
    doc = events[0]
    assert re.fullmatch(r"pages 1-\d+", doc.locator)
    assert similarity(doc.text, "\n".join(statute)) >= 0.98
    assert "국가법령정보센터" not in doc.text  # the running head of every page
    assert not any(re.fullmatch(r"\d+", ln.strip()) for ln in doc.text.splitlines())  # page numbers


def test_docx_and_hwpx_text_and_tables(statute):
    table = [["구분", "내용"], ["시행", "공포한 날"]]
    docx_data = fx.statute_docx(statute[:40], table=table, header="머리말 문구", footer="꼬리말 문구")
    events, info = read(docx_data, "s.docx")
    assert info.format == "docx" and len(events) == 1
    assert similarity(events[0].text, "\n".join(statute[:40] + ["구분\t내용", "시행\t공포한 날"])) >= 0.98
    assert "머리말" not in events[0].text  # headers/footers are off by default
    with_hf, _ = read(docx_data, "s.docx", docx_headers_footers=True)
    assert "머리말 문구" in with_hf[0].text and "꼬리말 문구" in with_hf[0].text
    separate, _ = read(docx_data, "s.docx", docx_tables="separate")
    assert [e.locator for e in separate][-1] == "table 1" and separate[-1].text == "구분\t내용\n시행\t공포한 날"

    events, info = read(fx.statute_hwpx(statute[:40], table=table), "s.hwpx")
    assert info.format == "hwpx"
    assert similarity(events[0].text, "\n".join(statute[:40] + ["구분\t내용", "시행\t공포한 날"])) >= 0.98


def test_hwp_and_hwpx_copies_give_the_same_text(shared_data):
    folder = shared_data / "documents" / "hwp"
    a, ia = read((folder / "sample_notes.hwp").read_bytes(), "n.hwp")
    b, ib = read((folder / "sample_notes.hwpx").read_bytes(), "n.hwpx")
    assert (ia.format, ib.format) == ("hwp", "hwpx")
    assert similarity(a[0].text, b[0].text) >= 0.99
    no_notes, _ = read((folder / "sample_notes.hwp").read_bytes(), "n.hwp", hwp_footnotes=False)
    assert "[^1]" in a[0].text and "[^1]" not in no_notes[0].text


def test_same_bytes_same_text(statute):
    data = fx.statute_pdf(statute, columns=2)
    assert read(data, "a.pdf")[0] == read(data, "a.pdf")[0]


# --- splits and locators ---------------------------------------------------------------------


def test_split_page_and_heading(statute):
    data = fx.statute_pdf(statute, title="시험법")
    pages, _ = read(data, "s.pdf", split="page")
    assert [e.locator for e in pages] == [f"page {i}" for i in range(1, len(pages) + 1)] and len(pages) > 1
    articles, _ = read(data, "s.pdf", split="heading", heading_pattern=r"^제\d+조")
    assert len(articles) > 3 and all(re.fullmatch(r"pages? \d+(-\d+)?( #\d+)?", e.locator) for e in articles)
    docx_data = fx.statute_docx(statute[:30])
    by_style, _ = read(docx_data, "s.docx", split="heading")  # Word heading styles
    assert by_style[0].locator.startswith("paragraph") and by_style[0].text.startswith(statute[0])


# --- bad files: one quarantine reason each ------------------------------------------------------


def _only_quarantine(events) -> tuple[str, str]:
    assert len(events) == 1 and events[0].locator == "file", events
    return events[0].reason, events[0].error


@pytest.mark.parametrize(
    "make,name,fmt,reason",
    [
        (fx.encrypted_pdf, "locked.pdf", "auto", "encrypted"),
        (fx.encrypted_ooxml, "locked.docx", "auto", "encrypted"),
        (fx.malformed_pdf, "broken.pdf", "pdf", "malformed"),
        (lambda: b"", "zero.pdf", "pdf", "empty"),
        (fx.blank_pdf, "blank.pdf", "pdf", "empty"),
        (fx.scanned_pdf, "scan.pdf", "auto", "no_text_layer"),
        (lambda: fx.statute_docx(["x", "y"]), "lying.pdf", "auto", "format_mismatch"),
        (lambda: fx.statute_docx(["x", "y"]), "lying.hwp", "pdf", "format_mismatch"),
        (lambda: b"just some text\n" * 10, "notes.txt", "auto", "unsupported_format"),
    ],
)
def test_bad_file_is_quarantined_with_its_reason(make, name, fmt, reason):
    events, _ = read(make(), name, fmt)
    got, error = _only_quarantine(events)
    assert got == reason, error
    assert name not in error  # messages say what, the ledger says which file


def test_document_bombs_are_refused_within_limits():
    events, _ = read(fx.many_pages_pdf(30), "many.pdf", max_pages=10)
    assert _only_quarantine(events)[0] == "document_bomb"
    events, _ = read(fx.zip_bomb_docx(64 << 20), "bomb.docx", max_decompressed_bytes=16 << 20)
    reason, error = _only_quarantine(events)
    assert reason == "document_bomb" and "expand" in error
    events, _ = read(fx.statute_pdf(["a"] * 5), "big.pdf", max_bytes=1000)
    assert _only_quarantine(events)[0] == "too_large"


class _SlowFlush:
    """The parent's pipe to the extractor, descheduled for ``pause`` seconds after sending a request."""

    def __init__(self, f, pause: float):
        self.f, self.pause = f, pause

    def write(self, b):
        return self.f.write(b)

    def flush(self):
        self.f.flush()
        time.sleep(self.pause)

    def close(self):
        self.f.close()


def test_the_time_limit_counts_from_the_request_not_from_the_wait(statute):
    """A parent descheduled between sending a request and waiting for the reply found the reply
    there and took it, whatever the time it took (the deadline was taken after the send; a 1 ms
    limit went unenforced in a fresh-clone CI run of 2026-12-08). The clock now starts before the
    child can begin."""
    from filters.documents.model import DocumentError
    from filters.documents.sandbox import Sandbox

    data = fx.statute_pdf(statute)
    box = Sandbox(DocumentOptions().memory_mb)
    try:
        assert box.extract(data, "pdf", "s.pdf", DocumentOptions())[0]  # a warm child, as in a run
        assert box._proc is not None
        box._proc.stdin = _SlowFlush(box._proc.stdin, 1.5)  # the reply arrives while the parent sleeps
        with pytest.raises(DocumentError, match="took longer than"):
            box.extract(data, "pdf", "s.pdf", DocumentOptions(timeout_s=0.5))
    finally:
        box.close()


def test_time_limit_kills_the_extractor_and_the_next_file_is_read(statute):
    data = fx.statute_pdf(statute)
    events, _ = read(data, "slow.pdf", timeout_s=0.001)
    reason, error = _only_quarantine(events)
    assert reason == "document_bomb" and "document_timeout_s" in error
    assert read(data, "next.pdf")[0][0].locator.startswith("pages")


# --- typed options ---------------------------------------------------------------------------


def _config(tmp_path: Path, source: dict) -> Path:
    cfg = {
        "name": "docs", "purpose": {"description": "t", "uses": ["research"]},
        "sources": [{"id": "d", "paths": ["docs/"], "lang": "ko",
                     "provenance": {"owner": "us", "acquisition": "owned", "licence": "LicenseRef-public-domain"}} | source],
        "output": {"dir": str(tmp_path / "out")},
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "source,message",
    [
        ({"format": "pdf", "pdf": {"join_hyphens": True}}, "sources[0](id=d).pdf.join_hyphens: unknown key"),
        ({"format": "docx", "split": "page"}, "split: page is for pdf"),
        ({"format": "hwp", "split": "line"}, "split: line is for txt"),
        ({"format": "docx", "docx": {"tables": "below"}}, "sources[0](id=d).docx.tables"),
    ],
)
def test_bad_document_options_fail_before_reading(tmp_path, source, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(_config(tmp_path, source))


# --- end to end: a mixed folder ----------------------------------------------------------------


def test_mixed_folder_end_to_end_ledger_manifest_and_report(tmp_path, statute):
    docs = tmp_path / "docs"
    docs.mkdir()
    files = {
        "statute.pdf": fx.statute_pdf(statute, columns=2),
        "statute.docx": fx.statute_docx(statute[:20]),
        "statute.hwpx": fx.statute_hwpx(statute[20:40]),
        "locked.pdf": fx.encrypted_pdf(),
        "scan.pdf": fx.scanned_pdf(),
        "lying.hwpx": fx.statute_docx(["x", "y"]),
        "empty.docx": b"",
    }
    for name, data in files.items():
        (docs / name).write_bytes(data)
    config = _config(tmp_path, {"format": "auto"})
    env = {"CORPUSMILL_CATALOG": str(tmp_path / "catalog")}
    res = cli("run", str(config), cwd=tmp_path, env=env)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    src = manifest["sources"][0]
    assert {f["path"]: f.get("format") for f in src["files"]} == {
        "statute.pdf": "pdf", "statute.docx": "docx", "statute.hwpx": "hwpx",
        "locked.pdf": None, "scan.pdf": None, "lying.hwpx": None, "empty.docx": None,
    }
    assert src["counts"]["records_in"] == 7 and src["counts"]["kept"] == 3
    assert src["counts"]["quarantined_by"] == {"encrypted": 1, "no_text_layer": 1, "format_mismatch": 1, "empty": 1}
    ledger = pq.read_table(tmp_path / "out" / "ledger.parquet").to_pylist()
    outcomes = {r["source_file"]: (r["outcome"], r["reason"], r["source_locator"]) for r in ledger}
    assert outcomes["scan.pdf"] == ("quarantined", "no_text_layer", "file")
    assert outcomes["statute.pdf"][0] == "kept" and outcomes["statute.pdf"][2].startswith("pages 1-")
    assert outcomes["statute.docx"][2].startswith("paragraphs 1-")
    mid = res.stdout.strip().splitlines()[-1]
    cli("report", mid, "--out", str(tmp_path / "report"), cwd=tmp_path, env=env)
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "quarantined" in html
    audit = tmp_path / "audit.json"
    cli("audit", mid, "--format", "json", "--out", str(audit), cwd=tmp_path, env=env)
    quarantine = {q["reason"]: q["documents"] for q in json.loads(audit.read_text(encoding="utf-8"))["quarantine"]}
    assert quarantine == {"empty": 1, "encrypted": 1, "format_mismatch": 1, "no_text_layer": 1}


@pytest.mark.slow
def test_every_engine_gives_the_same_output_on_documents(tmp_path, ray_local, statute):  # noqa: F811 — the fixture
    """Extraction runs in ingest on the workers of every engine: same shards, ledger and manifest ID."""
    from tests.test_engines import assert_identical, run_all

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.pdf").write_bytes(fx.statute_pdf(statute, columns=2))
    (docs / "b.hwpx").write_bytes(fx.statute_hwpx(statute[:30]))
    (docs / "c.docx").write_bytes(fx.statute_docx(statute[30:60]))
    (docs / "d.pdf").write_bytes(fx.scanned_pdf())
    # enough bytes for two units (the planner groups files up to 64 KB), so two local workers both run
    (docs / "e.pdf").write_bytes(fx.statute_pdf(statute, columns=1))
    (docs / "f.pdf").write_bytes(fx.statute_pdf(statute[::-1], columns=2))
    config = _config(tmp_path, {"format": "auto", "split": "page"})
    ref = assert_identical(run_all(config, tmp_path))
    assert ref["sources"][0]["counts"]["quarantined_by"] == {"no_text_layer": 1}
