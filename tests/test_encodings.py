"""Encoding detection and per-file encoding overrides, on excerpts of real delivered files.

The excerpts in tests/data/readers/mixed_encodings keep the bytes the delivered speeches really
have (see its README): nltk's 2005-Bush.txt has Big5 quotes, 1954-Eisenhower.txt a Latin-1 "½¢".
"""

from __future__ import annotations

import io
import json

import pytest
import yaml

from filters.readers import FileInfo, Quarantined, ReadOptions, Record, read_file
from filters.textio import detect_encoding
from tests.conftest import TEST_DATA, cli

MIXED = TEST_DATA / "readers" / "mixed_encodings"
BIG5 = "2005-Bush.big5.txt"
LATIN1 = "1954-Eisenhower.latin1.txt"
UTF8 = "2013-Obama.utf8.txt"


def read(name: str, **opts) -> tuple[list, FileInfo]:
    info = FileInfo(path=name)
    events = list(read_file(io.BytesIO((MIXED / name).read_bytes()), ReadOptions(format="txt", **opts), info))
    return events, info


@pytest.mark.parametrize("name", [BIG5, LATIN1])
def test_auto_never_reads_english_with_stray_bytes_as_korean(name):
    # EUC-KR/CP949 decode these bytes without error (Big5 ’ → "…", Latin-1 ½¢ → "숱"); taking them
    # would silently put Hangul into an English speech. Undetected, the file is quarantined instead.
    (event,), info = read(name)
    assert isinstance(event, Quarantined), event
    assert event.error.startswith("undecodable bytes for utf-8")
    assert info.encoding.startswith("utf-8 (undetected")


def test_auto_still_detects_korean_cp949():
    text = "제1조(목적) 이 법은 지방공무원에게 적용할 인사행정의 근본 기준을 확립한다.\n" * 3
    assert detect_encoding(text.encode("cp949"), "auto") == ("cp949", "euc-kr")
    assert detect_encoding(("똠방각하 " * 20).encode("cp949"), "auto") == ("cp949", "cp949")  # outside KS X 1001
    assert detect_encoding(text.encode("utf-8"), "auto") == ("utf-8", "utf-8")


def test_encoding_overrides_apply_to_the_named_file_only():
    overrides = ((BIG5, "big5"), (LATIN1, "latin-1"))
    (bush,), info = read(BIG5, encoding="utf-8", encoding_overrides=overrides)
    assert info.encoding == "big5"
    assert "America\u2019s vital interests" in bush.text and "\u201cThose who deny freedom" in bush.text
    (ike,), info = read(LATIN1, encoding="utf-8", encoding_overrides=overrides)
    assert info.encoding == "latin-1" and "the \u00bd\u00a2 decrease" in ike.text
    (obama,), info = read(UTF8, encoding="utf-8", encoding_overrides=overrides)
    assert info.encoding == "utf-8" and "today\u2019s victories" in obama.text
    assert all(isinstance(e, Record) for e in (bush, ike, obama))


def _config(tmp_path, overrides: dict) -> str:
    cfg = {
        "name": "mixed-encodings",
        "purpose": {"description": "test", "uses": ["research"]},
        "output": {"dir": str(tmp_path / "out")},
        "sources": [
            {
                "id": "speeches",
                "paths": [str(MIXED / "*.txt")],
                "format": "txt",
                "encoding": "utf-8",
                "encoding_overrides": overrides,
                "lang": "en",
                "provenance": {"owner": "US Government", "acquisition": "public-domain", "licence": "LicenseRef-public-domain"},
            }
        ],
    }
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return str(path)


def test_cli_run_with_overrides_keeps_every_speech(tmp_path):
    config = _config(tmp_path, {BIG5: "big5", LATIN1: "latin-1"})
    cli("run", config, env={"CORPUSMILL_CATALOG": str(tmp_path / "catalog")})
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    (source,) = manifest["sources"]
    assert source["counts"]["records_in"] == source["counts"]["kept"] == 3
    assert {f["path"]: f["encoding"] for f in source["files"]} == {BIG5: "big5", LATIN1: "latin-1", UTF8: "utf-8"}
    # without the overrides the two non-UTF-8 files are quarantined, not guessed
    (tmp_path / "bare").mkdir()
    cli("run", _config(tmp_path / "bare", {}), env={"CORPUSMILL_CATALOG": str(tmp_path / "catalog")})
    manifest = json.loads((tmp_path / "bare" / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sources"][0]["counts"]["quarantined"] == 2


def test_override_for_a_file_the_source_does_not_read_is_an_error(tmp_path):
    config = _config(tmp_path, {"2005-Bush.text": "big5"})
    res = cli("run", config, "--dry-run", check=False)
    assert res.returncode == 2
    assert "encoding_overrides name files it does not read: 2005-Bush.text" in res.stderr


def test_override_with_an_unknown_codec_is_a_config_error(tmp_path):
    config = _config(tmp_path, {BIG5: "big-five"})
    res = cli("run", config, "--dry-run", check=False)
    assert res.returncode == 2
    assert "unknown encoding 'big-five'" in res.stderr


def test_a_utf16_export_is_quarantined_with_its_reason_and_utf16_is_no_source_encoding(tmp_path):
    # Session 13: Excel's "Unicode Text" export (UTF-16 with a byte-order mark, tab-separated) among
    # a source's TSV files ended the run at the header check (`the header has: \x00t\x00e…`), and was
    # called "binary content (48% control bytes …)" in a JSONL source; `encoding: utf-16` was taken
    # and split lines inside characters (the readers split on the byte 0x0A).
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.tsv").write_text("text\tid\n첫 번째 문장입니다\t1\n", encoding="utf-8")
    (tmp_path / "in" / "excel.tsv").write_bytes("text\tid\n두 번째 문장\t2\n".encode("utf-16"))
    (tmp_path / "in" / "photo.tsv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    doc = {"name": "u", "purpose": {"description": "t", "uses": ["research"]}, "output": {"dir": str(tmp_path / "out")},
           "stages": ["normalize"],
           "sources": [{"id": "t", "paths": ["in/"], "format": "tsv", "id_field": "id",
                        "provenance": {"owner": "x", "acquisition": "owned", "licence": "CC0-1.0"}}]}
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    res = cli("run", str(config), env={"CORPUSMILL_CATALOG": str(tmp_path / "catalog")}, check=False)
    assert res.returncode == 0, res.stderr
    counts = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))["sources"][0]["counts"]
    assert (counts["records_in"], counts["kept"], counts["quarantined"]) == (3, 1, 2)
    assert "excel.tsv file: UTF-16 text (byte-order mark)" in res.stderr and "convert it to UTF-8" in res.stderr
    doc["sources"][0]["encoding"] = "utf-16"
    config.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    res = cli("run", str(config), "--dry-run", check=False)
    assert res.returncode == 2 and "sources[0](id=t).encoding: 'utf-16' is not ASCII-compatible" in res.stderr
