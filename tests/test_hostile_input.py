"""Hostile input at the reader level (issue #16): truncated compressed streams, records that
cannot be converted, CSV runaways, blank-line floods and a seeded fuzz of every format.

Each case failed (crash, silent loss or minutes of work) before the fix it names.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import random

import pytest
import zstandard

from filters import textio
from filters.readers import Dropped, FileInfo, Quarantined, ReadOptions, Record, read_file

SEED = int(os.environ.get("CORPUSMILL_FUZZ_SEED", "1616"))


def read(data: bytes, path: str = "f", **opts) -> tuple[list, FileInfo]:
    info = FileInfo(path=path)
    events = list(read_file(io.BytesIO(data), ReadOptions(**{"format": "jsonl", **opts}), info))
    return events, info


def kinds(events) -> tuple[list[Record], list[Quarantined]]:
    return [e for e in events if isinstance(e, Record)], [e for e in events if isinstance(e, Quarantined)]


def lines(n: int, start: int = 0) -> bytes:
    return b"".join(b'{"text": "record %d"}\n' % i for i in range(start, start + n))


# --- truncated compressed streams -------------------------------------------------------------


def _frames(compress, parts: list[bytes]) -> bytes:
    return b"".join(compress(p) for p in parts)


COMPRESSORS = {
    "zstd": (lambda b: zstandard.ZstdCompressor().compress(b), "f.jsonl.zst"),
    "gzip": (lambda b: gzip.compress(b), "f.jsonl.gz"),
    "bzip2": (bz2.compress, "f.jsonl.bz2"),
    "xz": (lzma.compress, "f.jsonl.xz"),
}


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_a_stream_cut_in_its_second_frame_keeps_the_first_and_quarantines_the_rest(name):
    compress, path = COMPRESSORS[name]
    data = _frames(compress, [lines(1000), lines(1000, 1000)])
    second = len(compress(lines(1000)))
    cut = data[: second + (len(data) - second) // 2]
    events, info = read(cut, path=path)
    recs, quar = kinds(events)
    assert info.compression == name
    assert 1000 <= len(recs) < 2000
    assert len(quar) == 1 and "truncated" in quar[0].error, quar
    assert "after byte" in quar[0].error  # how far it got


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_a_single_frame_cut_in_half_is_quarantined_not_read_as_empty(name):
    compress, path = COMPRESSORS[name]
    data = compress(lines(2000))
    events, _ = read(data[: len(data) // 2], path=path)
    recs, quar = kinds(events)
    assert len(quar) == 1 and "truncated" in quar[0].error
    assert len(recs) < 2000


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_whole_multi_frame_streams_read_completely(name):
    compress, path = COMPRESSORS[name]
    events, _ = read(_frames(compress, [lines(700), lines(700, 700), b""]), path=path)
    recs, quar = kinds(events)
    assert len(recs) == 1400 and not quar


def test_zstd_bomb_is_still_bounded():
    data = zstandard.ZstdCompressor(level=19).compress(b'{"text": "' + b"a" * (8 << 20) + b'"}\n')
    events, _ = read(data, path="b.zst", max_decompressed_bytes=1 << 20)
    (q,) = kinds(events)[1]
    assert "decompression bomb" in q.error


# --- one hostile record never ends the file -----------------------------------------------------


def test_lone_surrogate_is_quarantined_in_every_json_shape():
    bad = b'{"text": "a \\ud800 b"}\n'
    events, _ = read(b'{"text": "ok"}\n' + bad + b'{"text": "after"}\n')
    recs, quar = kinds(events)
    assert [r.text for r in recs] == ["ok", "after"] and quar[0].locator == "line 2" and "surrogate" in quar[0].error
    events, _ = read(b'[{"text": "ok"}, {"text": "\\udfff"}]', format="json")
    recs, quar = kinds(events)
    assert len(recs) == 1 and "surrogate" in quar[0].error
    events, _ = read(b'{"text": "ok", "id": "\\ud800"}\n', id_field="id")
    assert "surrogate" in kinds(events)[1][0].error
    events, _ = read(b'{"html": "<html><body><article><p>\\ud800 long enough text here</p></article></body></html>"}\n', format="html", html_field="html")
    assert not kinds(events)[0]


def test_integers_of_5000_digits_are_quarantined_not_fatal():
    big = b"9" * 5000
    events, _ = read(b'{"text": "ok"}\n{"text": "x", "n": ' + big + b'}\n{"text": "after"}\n')
    recs, quar = kinds(events)
    assert [r.text for r in recs] == ["ok", "after"] and "unreadable JSON value" in quar[0].error
    events, _ = read(b'[{"text": "x", "n": ' + big + b"}]", format="json")
    assert "unreadable JSON value" in kinds(events)[1][0].error
    # a huge (but parseable) integer id: str() would refuse it later
    events, _ = read(b'{"text": "x", "id": ' + b"9" * 4000 + b'}\n{"text": "y", "id": [1]}\n', id_field="id")
    recs, quar = kinds(events)
    assert not recs and len(quar) == 2 and "id field" in quar[0].error and "id field" in quar[1].error


def test_an_unexpected_reader_failure_ends_the_file_with_a_quarantine(monkeypatch):
    from filters import readers

    def broken(stream, codec, opts):
        yield Record("line 1", "fine")
        raise KeyError("boom")

    monkeypatch.setitem(readers._LINE_READERS, "jsonl", broken)
    events, info = read(b'{"text": "a"}\n' * 3)
    assert isinstance(events[0], Record) and isinstance(events[1], Quarantined)
    assert events[1].locator == "rest of file after line 1" and "KeyError" in events[1].error
    assert info.sha256 and info.bytes == 42  # the file is still hashed to its end


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_field_longer_than_131072_chars_is_kept_under_max_record_bytes():
    long = "가" * 200_000
    data = f"id,text\n1,{long}\n2,short\n".encode()
    events, _ = read(data, format="csv", id_field="id")
    recs, quar = kinds(events)
    assert [len(r.text) for r in recs] == [200_000, 5] and not quar
    events, _ = read(data, format="csv", max_record_bytes=100_000)
    recs, quar = kinds(events)
    assert [r.text for r in recs] == ["short"] and len(quar) == 1


def _csv_rows(n: int, broken_at: int | None = None) -> bytes:
    buf = io.StringIO()
    buf.write("id,text\n")
    for i in range(n):
        text = f"row {i}"
        buf.write(f'{i},"{text}\n' if i == broken_at else f"{i},{text}\n")
    return buf.getvalue().encode()


def test_unbalanced_quote_to_end_of_file_loses_one_line_not_the_rest():
    events, _ = read(_csv_rows(5000, broken_at=0), format="csv")
    recs, quar = kinds(events)
    assert len(recs) == 4999
    (q,) = quar
    assert q.locator == "line 2" and "unbalanced quote" in q.error and "5,000 lines" in q.error


def test_unbalanced_quote_closed_much_later_is_cut_at_the_line_limit():
    rows = _csv_rows(3000, broken_at=10).decode().splitlines(keepends=True)
    rows[2500] = rows[2500].rstrip("\n") + ' closes"\n'  # a stray quote far below closes it
    events, _ = read("".join(rows).encode(), format="csv", max_record_lines=100)
    recs, quar = kinds(events)
    assert quar[0].locator == "line 12" and "unbalanced quote" in quar[0].error
    assert len(recs) >= 2990


def test_multi_line_csv_records_name_their_line_range():
    events, _ = read(b'id,text\n1,"two\nlines"\n2,one\n', format="csv")
    recs, _ = kinds(events)
    assert [r.locator for r in recs] == ["row 1 (lines 2-3)", "row 2 (line 4)"]
    assert recs[0].text == "two\nlines"


# --- blank lines cost nothing -------------------------------------------------------------------


def test_a_flood_of_blank_lines_is_skipped_in_bulk_with_true_line_numbers():
    data = b'{"text": "first"}\n' + b"\n \r\n\t\n" * 300_000 + b'{"text": "last"}\n'
    stream = io.BufferedReader(io.BytesIO(data), 1 << 20)
    yielded = list(textio.iter_lines(stream, 1 << 20, collapse_blank=True))
    assert len(yielded) <= 2 + len(data) // (1 << 16) + 2  # one per read-ahead window, not one per line
    events, _ = read(gzip.compress(data), path="b.jsonl.gz")
    assert [(r.locator, r.text) for r in kinds(events)[0]] == [("line 1", "first"), ("line 900002", "last")]


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        ({"format": "txt", "split": "line"}, [("line 1", "a"), ("line 5", "b")]),
        ({"format": "txt", "split": "blank_line"}, [("line 1", "a"), ("line 5", "b")]),
        ({"format": "pubtator"}, []),
    ],
)
def test_blank_runs_in_other_line_formats(opts, expected):
    events, _ = read(b"a\n\n\n\nb\n", **opts)
    if opts["format"] == "pubtator":
        assert all(isinstance(e, Quarantined) for e in events) and len(events) == 2
    else:
        assert [(r.locator, r.text) for r in kinds(events)[0]] == expected


# --- seeded fuzz of every format ----------------------------------------------------------------

SAMPLES = {
    "jsonl": (ReadOptions(format="jsonl", id_field="id"), b'{"id": 1, "text": "one"}\n{"id": "b", "text": "\\ud55c two"}\n'),
    "json": (ReadOptions(format="json", id_field="id"), b'[{"id": 1, "text": "one"}, {"id": 2, "text": "two"}]'),
    "csv": (ReadOptions(format="csv", id_field="id"), b'id,text\n1,"one, quoted"\n2,two\n'),
    "tsv": (ReadOptions(format="tsv", header=False, columns=("id", "text")), b"1\tone\n2\ttwo\n"),
    "txt-line": (ReadOptions(format="txt", split="line"), b"one\ntwo\n"),
    "txt-blank": (ReadOptions(format="txt", split="blank_line"), b"one\n\ntwo\n"),
    "txt-file": (ReadOptions(format="txt"), b"one\ntwo\n"),
    "pubtator": (ReadOptions(format="pubtator"), b"1|t|Title\n1|a|Abstract\n1\t0\t5\tT\tDisease\tD1\n\n"),
    "html-jsonl": (ReadOptions(format="html", html_field="html"), b'{"html": "<p>one</p>"}\n'),
}
NASTY = [b"\\ud800", b"9" * 5000, b'"', b"\x00", b"\xff\xfe", b"\n" * 50, b"{" * 3000, b"\r", b"\\", b"[]", b"null", b"1e999999", b"-0"]


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        pos = rnd.randint(0, len(out))
        op = rnd.random()
        if op < 0.5:
            out[pos:pos] = rnd.choice(NASTY)
        elif op < 0.8:
            del out[pos : pos + rnd.randint(1, 8)]
        else:
            out[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 6)))
    return bytes(out)


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_fuzzed_inputs_never_raise_and_only_valid_records_come_out(fmt):
    opts, sample = SAMPLES[fmt]
    rnd = random.Random(f"{SEED}-{fmt}")
    for _ in range(150):
        data = _mutate(rnd, sample)
        for blob in (data, gzip.compress(data)[: rnd.randint(10, 200)]):
            info = FileInfo(path="f")
            events = list(read_file(io.BytesIO(blob), opts, info))
            locators = [e.locator for e in events]
            assert len(locators) == len(set(locators)), (fmt, data)
            for e in events:
                assert isinstance(e, Record | Quarantined | Dropped)
                if isinstance(e, Record):
                    e.text.encode("utf-8")
                    (e.record_id or "").encode("utf-8")
            assert info.sha256 and info.bytes == len(blob)


# --- a file that changes while it is read --------------------------------------------------------


def _task(path, **kw):
    from filters.ingest import FileTask

    return FileTask("s", 0, 0, str(path), path.name, None, None, ReadOptions(format="jsonl"), **kw)


def test_a_file_truncated_while_it_is_read_fails_the_run_loudly(tmp_path):
    from corpusmill_base.errors import InputError
    from filters.ingest import ingest_file

    path = tmp_path / "d.jsonl"
    path.write_bytes(lines(50_000))
    batches = ingest_file(_task(path, expected_size=path.stat().st_size), batch_size=1000)
    next(batches)
    with open(path, "r+b") as f:
        f.truncate(100_000)
    with pytest.raises(InputError, match="changed while being read"):
        list(batches)


def test_a_file_changed_between_planning_and_reading_fails(tmp_path):
    from corpusmill_base.errors import InputError
    from filters.ingest import ingest_file

    path = tmp_path / "d.jsonl"
    path.write_bytes(lines(10))
    with pytest.raises(InputError, match=r"size changed from 1,000 bytes \(planned\)"):
        list(ingest_file(_task(path, expected_size=1000), batch_size=1000))


def test_an_unchanged_file_passes_and_records_its_real_size(tmp_path):
    from filters.ingest import ingest_file

    path = tmp_path / "d.jsonl"
    path.write_bytes(lines(10))
    *_, last = ingest_file(_task(path, expected_size=path.stat().st_size), batch_size=4)
    assert last.info.bytes == path.stat().st_size


# --- end to end: hostile records and names never end a run ---------------------------------------


def test_a_run_over_hostile_records_and_file_names_finishes_and_reconciles(tmp_path):
    import pyarrow.parquet as pq

    from tests.conftest import cli

    d = tmp_path / "in"
    d.mkdir()
    (d / "s.jsonl").write_bytes(b'{"text": "ok one"}\n{"text": "a \\ud800 b"}\n{"text": "x", "n": ' + b"9" * 5000 + b"}\n")
    (d / "blank.jsonl.gz").write_bytes(gzip.compress(b'{"text": "first"}\n' + b"\n" * 500_000 + b'{"text": "last"}\n'))
    zst = zstandard.ZstdCompressor().compress(lines(100)) + zstandard.ZstdCompressor().compress(lines(100, 100))
    (d / "cut.jsonl.zst").write_bytes(zst[: len(zst) - 40])
    os.makedirs(os.fsencode(d / "sub"))
    with open(os.fsencode(d / "sub") + b"/bad\xff.jsonl", "wb") as f:
        f.write(b'{"text": "odd name"}\n')
    cfg = tmp_path / "p.yaml"
    cfg.write_text(
        "name: h\npurpose: {description: t, uses: [pretraining]}\noutput: {dir: out}\n"
        "stages: [normalize, exact_dedup]\n"
        "sources:\n  - id: h\n    paths: [in/]\n    format: jsonl\n"
        "    provenance: {owner: x, acquisition: owned, licence: CC0-1.0}\n"
    )
    res = cli("run", str(cfg), "--catalog", "cat", cwd=tmp_path, check=False)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    rows = pq.read_table(tmp_path / "out" / "ledger.parquet").to_pylist()
    by = {(r["source_file"], r["source_locator"]): r for r in rows}
    assert by[("s.jsonl", "line 2")]["outcome"] == "quarantined" and "surrogate" in by[("s.jsonl", "line 2")]["detail"]
    assert by[("s.jsonl", "line 3")]["outcome"] == "quarantined"
    assert by[("blank.jsonl.gz", "line 500002")]["outcome"] == "kept"
    assert any(f == "cut.jsonl.zst" and "truncated" in (r["detail"] or "") for (f, _), r in by.items())
    assert by[("sub/bad\\xff.jsonl", "line 1")]["outcome"] == "kept"


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_compression_is_recognised_by_content_whatever_the_file_name(name):
    compress, _ = COMPRESSORS[name]
    events, info = read(compress(lines(10)), path="delivery.dat")
    assert info.compression == name and len(kinds(events)[0]) == 10
    events, info = read(b"BZh is how this text file starts\n", path="t.txt", format="txt", split="line")
    assert info.compression == "none" and kinds(events)[0][0].text.startswith("BZh")


def test_a_file_with_more_records_than_an_order_holds_has_the_rest_quarantined(tmp_path, monkeypatch):
    """The ingest order gives a file 2^31 positions; the last one is the row saying the rest of a
    longer file was quarantined (the run goes on: it used to raise in the worker)."""
    from filters import ingest
    from filters.schema import make_order

    monkeypatch.setattr(ingest, "_RECORDS_PER_FILE", 5)
    path = tmp_path / "d.jsonl"
    path.write_bytes(lines(10))
    batches = list(ingest.ingest_file(_task(path), batch_size=3))
    docs = [r for b in batches for r in b.documents.to_pylist()]
    ledger = [r for b in batches for r in b.ledger.to_pylist()]
    assert [d["order"] for d in docs] == [make_order(0, 0, i) for i in range(4)]
    assert len(ledger) == 1 and ledger[0]["outcome"] == "quarantined" and ledger[0]["order"] == make_order(0, 0, 4)
    assert ledger[0]["source_locator"] == "record 5 on" and "more than 5 records" in ledger[0]["detail"]
    monkeypatch.setattr(ingest, "_RECORDS_PER_FILE", 10)  # exactly as many records as positions: nothing quarantined
    assert not [r for b in ingest.ingest_file(_task(path), batch_size=3) for r in b.ledger.to_pylist()]


def test_order_layout_leaves_room_for_large_archives():
    from filters.schema import FILE_BITS, RECORD_BITS, SOURCE_BITS, make_order

    assert SOURCE_BITS + FILE_BITS + RECORD_BITS == 63
    assert 1 << FILE_BITS >= 1_000_000 and 1 << RECORD_BITS >= 2_000_000_000 and 1 << SOURCE_BITS >= 4096
    top = make_order((1 << SOURCE_BITS) - 1, (1 << FILE_BITS) - 1, (1 << RECORD_BITS) - 1)
    assert top == (1 << 63) - 1 and make_order(0, 1, 0) > make_order(0, 0, (1 << RECORD_BITS) - 1)


@pytest.mark.parametrize("declared", ["auto", "xz", "bzip2"])
def test_a_run_over_xz_and_bzip2_files_publishes_its_manifest(tmp_path, declared):
    # The readers took bzip2 and xz (session 10) but the manifest schema knew only none, gzip and
    # zstd: every run over a .xz or .bz2 file ended after all its stages in a jsonschema traceback.
    import json

    from tests.conftest import cli

    d = tmp_path / "in"
    d.mkdir()
    for i, name in enumerate(["xz", "bzip2"] if declared == "auto" else [declared]):
        compress, fname = COMPRESSORS[name]
        (d / fname).write_bytes(compress(lines(3, start=3 * i)))
    cfg = tmp_path / "p.yaml"
    cfg.write_text(
        "name: c\npurpose: {description: t, uses: [pretraining]}\noutput: {dir: out}\nstages: [normalize]\n"
        f"sources:\n  - id: c\n    paths: [in/]\n    format: jsonl\n    compression: {declared}\n"
        "    provenance: {owner: x, acquisition: owned, licence: CC0-1.0}\n"
    )
    res = cli("run", str(cfg), "--catalog", "cat", cwd=tmp_path, check=False)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    files = json.loads((tmp_path / "out" / "manifest.json").read_text())["sources"][0]["files"]
    assert {f["compression"] for f in files} == ({"xz", "bzip2"} if declared == "auto" else {declared})
