"""Every delivery format, and every kind of bad input the foundation promises to quarantine."""

from __future__ import annotations

import gzip
import io
import json

import pytest
import zstandard

from filters.readers import Dropped, FileInfo, Quarantined, ReadOptions, Record, read_file


def read(data: bytes, **opts) -> tuple[list, FileInfo]:
    info = FileInfo(path="f")
    options = ReadOptions(**{"format": "jsonl", **opts})
    events = list(read_file(io.BytesIO(data), options, info))
    return events, info


def records(events):
    return [e for e in events if isinstance(e, Record)]


def quarantined(events):
    return [e for e in events if isinstance(e, Quarantined)]


def test_jsonl_records_keep_their_line_and_vendor_id():
    events, info = read(b'{"id": "a", "text": "one"}\n\n{"id": "b", "text": "two"}\n', id_field="id")
    assert [(r.locator, r.text, r.record_id) for r in events] == [("line 1", "one", "a"), ("line 3", "two", "b")]
    assert info.encoding == "utf-8" and info.compression == "none" and info.bytes == 55


def test_malformed_json_line_is_quarantined_and_the_rest_goes_on():
    events, _ = read(b'{"text": "ok"}\n{"text": "broken\n{"text": "after"}\n')
    assert [r.text for r in records(events)] == ["ok", "after"]
    (q,) = quarantined(events)
    assert q.locator == "line 2" and "malformed JSON" in q.error


def test_missing_text_field_and_wrong_types_are_quarantined():
    events, _ = read(b'{"body": "x"}\n{"text": 5}\n[1, 2]\n')
    errors = [q.error for q in quarantined(events)]
    assert "missing field 'text'" in errors[0]
    assert "expected a string" in errors[1]
    assert "expected a JSON object" in errors[2]


def test_empty_document_is_quarantined():
    events, _ = read(b'{"text": "   "}\n')
    assert quarantined(events)[0].error == "empty document"


def test_invalid_utf8_line_is_quarantined_with_its_byte_offset():
    events, _ = read(b'{"text": "ok"}\n{"text": "\xff\xfe"}\n', encoding="utf-8")
    (q,) = quarantined(events)
    assert q.locator == "line 2" and "undecodable bytes for utf-8 at byte 25" in q.error


def test_undecodable_bytes_in_declared_cp949():
    good = "가나다\n".encode("cp949")
    events, info = read(good + b"\x80\x80\x80\n", format="txt", split="line", encoding="cp949")
    assert [r.text for r in records(events)] == ["가나다"]
    assert "undecodable bytes for cp949" in quarantined(events)[0].error
    assert info.encoding == "cp949"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("법률 제1조 목적\n", "euc-kr"), ("똠방각하 햏\n", "cp949"), ("plain ascii\n", "utf-8"), ("한국어\n", "utf-8")],
)
def test_auto_encoding_detection(text, expected):
    codec = "utf-8" if expected == "utf-8" else "cp949"
    events, info = read(text.encode(codec), format="txt", split="file")
    assert records(events)[0].text == text and info.encoding == expected


def test_truncated_gzip_keeps_what_was_readable_and_quarantines_the_tail():
    lines = b"".join(json.dumps({"text": f"doc {i} " + "x" * 200}).encode() + b"\n" for i in range(400))
    blob = gzip.compress(lines, mtime=0)
    events, info = read(blob[: len(blob) // 2])
    assert info.compression == "gzip"
    good = records(events)
    assert 0 < len(good) < 400
    (q,) = quarantined(events)
    assert "truncated or corrupt compressed data" in q.error
    assert q.locator == f"line {len(good) + 1}" or q.locator == f"line {len(good)}"


def test_truncated_large_gzip_loses_nothing_before_the_damage():
    import random

    rnd = random.Random(7)
    lines = [json.dumps({"text": "".join(rnd.choice("abcdefgh ") for _ in range(300))}) for _ in range(6000)]
    blob = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
    cut = blob[: int(len(blob) * 0.8)]
    events, _ = read(cut)
    good = records(events)
    # Everything gzip can still decode before the cut is delivered.
    readable = gzip.GzipFile(fileobj=io.BytesIO(cut))
    complete_lines = 0
    try:
        while readable.readline().endswith(b"\n"):
            complete_lines += 1
    except EOFError:
        pass
    assert len(good) >= complete_lines - 1 and len(good) > 4000
    assert "truncated" in quarantined(events)[0].error


def test_zstd_is_detected():
    events, info = read(zstandard.ZstdCompressor().compress(b'{"text": "z"}\n'))
    assert info.compression == "zstd" and records(events)[0].text == "z"


def test_binary_file_is_quarantined_as_a_whole():
    events, _ = read(bytes(range(256)) * 64, format="txt", split="line")
    (q,) = events
    assert isinstance(q, Quarantined) and q.locator == "file" and "binary content" in q.error


def test_nul_byte_in_a_record_quarantines_that_record_only():
    events, _ = read(b"good line\nbad\x00line\nlast\n", format="txt", split="line")
    assert [r.text for r in records(events)] == ["good line", "last"]
    assert "NUL byte" in quarantined(events)[0].error


def test_record_over_the_size_limit_is_skipped_without_loading_it():
    data = b'{"text": "a"}\n{"text": "' + b"y" * 5000 + b'"}\n{"text": "b"}\n'
    events, _ = read(data, max_record_bytes=1000)
    assert [r.text for r in records(events)] == ["a", "b"]
    (q,) = quarantined(events)
    assert q.locator == "line 2" and "exceeds max_record_bytes" in q.error


def test_csv_wrong_column_count_and_multicolumn_text():
    data = b'Q,A,label\n"q1","a1",0\n"q2","a2",1,extra\n"q3","a3\nsecond line",0\n'
    events, _ = read(data, format="csv", text_fields=("Q", "A"))
    texts = [r.text for r in records(events)]
    assert texts == ["q1\n\na1", "q3\n\na3\nsecond line"]
    (q,) = quarantined(events)
    assert q.locator.startswith("row 2") and q.error == "row has 4 columns, expected 3"


def test_tsv_without_header_and_with_quotes_in_text():
    data = b'ham\tOk "lar"... Joking\nspam\tFree entry\n'
    events, _ = read(data, format="tsv", header=False, columns=("label", "text"), text_fields=("text",))
    assert [r.text for r in records(events)] == ['Ok "lar"... Joking', "Free entry"]


def test_json_record_path_with_field_and_locators():
    doc = {"data": [{"paragraphs": [{"context": "p0"}, {"context": "p1"}]}, {"paragraphs": [{"context": ""}]}]}
    events, _ = read(json.dumps(doc).encode(), format="json", record_path="data[].paragraphs[]", text_fields=("context",))
    assert [(r.locator, r.text) for r in records(events)] == [
        ("data[0].paragraphs[0]", "p0"),
        ("data[0].paragraphs[1]", "p1"),
    ]
    assert quarantined(events)[0].locator == "data[1].paragraphs[0]"


def test_json_top_level_array_and_broken_json():
    events, _ = read(b'[{"s": "a", "k": 1}, {"s": "b", "k": 2}]', format="json", text_fields=("s",), id_field="k")
    assert [(r.locator, r.record_id) for r in records(events)] == [("[0]", "1"), ("[1]", "2")]
    events, _ = read(b'[{"s": "a"},\n {"s": ', format="json", text_fields=("s",))
    (q,) = events
    assert q.locator == "line 2" and "malformed JSON" in q.error


def test_deeply_nested_json_is_quarantined():
    events, _ = read(b"[" * 100000 + b"]" * 100000, format="json")
    assert isinstance(events[0], Quarantined) and "nested too deeply" in events[0].error


def test_txt_split_modes():
    data = b"\xef\xbb\xbf \n = One = \n body 1\n\n = Two = \n body 2\n"
    events, _ = read(data, format="txt", split="heading", heading_pattern=r"^ = [^=].* = $")
    assert [(r.locator, r.text.split("\n")[0]) for r in records(events)] == [("lines 2-4", " = One = "), ("lines 5-6", " = Two = ")]
    events, _ = read(b"a\nb\n\n\nc\n", format="txt", split="blank_line")
    assert [(r.locator, r.text) for r in records(events)] == [("lines 1-2", "a\nb"), ("line 5", "c")]


def test_pubtator_joins_title_and_abstract():
    data = b"1|t|Title one.\n1|a|Abstract one.\n1\t0\t5\tTitle\tDisease\tD1\n\n2|t|Title two.\n\n"
    events, _ = read(data, format="pubtator")
    assert [(r.locator, r.record_id, r.text) for r in records(events)] == [("line 1", "1", "Title one.\n\nAbstract one.")]
    assert "lacks its abstract" in quarantined(events)[0].error


def test_html_extraction_and_pages_without_main_text():
    page = "<html><body><nav>Home | About</nav><article><p>" + "The court held that the statute applies. " * 20 + "</p></article></body></html>"
    data = (json.dumps({"id": "p1", "html": page}) + "\n" + json.dumps({"id": "p2", "html": "<html><body></body></html>"}) + "\n").encode()
    events, _ = read(data, format="html", html_field="html", id_field="id")
    (rec,) = records(events)
    assert "The court held" in rec.text and "Home | About" not in rec.text
    assert any(isinstance(e, Dropped) and e.reason == "no_main_text" for e in events)


def test_parquet_reader(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"body": ["a", "", "c"], "k": ["1", "2", "3"]}), path)
    events, _ = read(path.read_bytes(), format="parquet", text_fields=("body",), id_field="k")
    assert [(r.locator, r.text, r.record_id) for r in records(events)] == [("row 1", "a", "1"), ("row 3", "c", "3")]
    assert quarantined(events)[0].locator == "row 2"


def _outcome(f, text: str, fields: tuple[str, ...]):
    """What a JSON-lines record is built from: the used fields' values and types, or the error."""
    try:
        obj = f(text, fields) if f is not json.loads else json.loads(text)
    except RecursionError:
        return ("recursion",)
    except json.JSONDecodeError as e:
        return ("malformed", e.msg, e.colno)
    except ValueError as e:
        return ("value", str(e)[:120])
    if not isinstance(obj, dict):
        return ("not an object", type(obj).__name__)
    return ("ok", sorted(obj), [(repr(obj.get(k)), type(obj.get(k)).__name__) for k in fields])


def test_json_lines_parse_as_json_loads_would():
    """The orjson fast path gives json.loads's value in every used field, or json.loads's error."""
    import random

    from filters.readers import _json_loads

    fields = ("text", "id")
    base = [
        '{"id": 1, "text": "a"}', '{"id": "x", "text": "b\\u00e9\\ud83d\\ude00"}', '{"text": "c", "id": 1.5}',
        '{"text": "d", "id": 123456789012345678901234567890}', '{"text": "e", "id": -0}', '{"text": NaN}',
        '{"text": "f", "x": Infinity}', '{"text": "\\ud800"}', '{"text": "g", "x": 1e400}', '{"text": "h", "text": "i"}',
        '[1, 2]', '"str"', '12345678901234567890123', '{"text": "j", "id": true}', '{"text": ["k"]}',
        '{"text": "l", "x": 1' + "0" * 4400 + '}', '{"text": "m", "x": 1' + "0" * 400 + '}', '{"text": "n\x01"}',
        '{"text": "o"} x', '{"text": "p",}', '{"a": ' + "[" * 600 + "]" * 600 + ', "text": "q"}',
        '{"a": ' + "[" * 1000 + "]" * 1000 + ', "text": "r"}', '\x0c{"text": "s"}', '{"text": "t"}\u00a0',
    ]
    rng = random.Random(5)
    alphabet = list('{}[]":,0123456789.eE+-\\u tnrfalsNIy') + ["\\ud800", "\\udc00", "\x00", "é", "😀"]
    cases = list(base)
    for _ in range(3000):
        t = list(rng.choice(base))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(t) + 1)
            op = rng.random()
            if op < 0.4 and t:
                del t[min(i, len(t) - 1)]
            elif op < 0.8:
                t.insert(i, rng.choice(alphabet))
            elif t:
                t[min(i, len(t) - 1)] = rng.choice(alphabet)
        cases.append("".join(t))
    for text in cases:
        assert _outcome(_json_loads, text, fields) == _outcome(json.loads, text, fields), text


def test_orjson_read_records_skip_the_surrogate_search_and_lone_surrogates_are_still_quarantined():
    """A JSON line orjson read cannot hold a lone surrogate (orjson refuses them raw and escaped),
    so its record skips ``_checked``'s search; every line json.loads had to read is still searched."""
    import orjson
    import pytest

    from filters.readers import Record, _checked, _json_loads_sound, _Sound

    for line in ('{"text": "\\ud800"}', '{"text": "a\\udc00b"}', '{"\\ud800": 1, "text": "x"}', '{"text": "x\ud800"}'):
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(line)
        assert _json_loads_sound(line, ("text",))[1] is False
    assert _json_loads_sound('{"text": "\\ud83d\\ude00 ok"}', ("text",)) == ({"text": "😀 ok"}, True)
    assert _json_loads_sound('{"text": "x", "n": NaN}', ("text",))[1] is False  # json.loads decided
    sound = _Sound("line 1", "가나다", "id")
    assert _checked(sound) is sound and sound == Record("line 1", "가나다", "id") and isinstance(sound, Record)
    assert "surrogate" in _checked(Record("line 1", "가\ud800", "id")).error


def test_json_lines_read_from_bytes_give_the_decoding_paths_events(monkeypatch):
    """UTF-8 JSON lines go to orjson as bytes (no decode, no NUL search); every line orjson cannot
    settle takes the decoding path. Whole files of seeded hostile lines — invalid UTF-8, encoded
    surrogates, NUL bytes, BOMs, blank and whitespace lines, CRLF, floats, deep brackets, HTML
    format — give the same events (type, locator, text, id, error) with the bytes path as without."""
    import random

    from filters import readers

    pieces = [b'{"id": 1, "text": "a"}', b'{"id": "x", "text": "\xea\xb0\x80 b"}', b'{"text": "c", "id": 1.5}', b'{"text": "\xed\xa0\x80"}',
              b'{"text": "d\x00"}', b'{"text": "\xc0\xaf"}', b"", b"   ", b"\xef\xbb\xbf", b'{"text": "e"}\r', b'{"text": "\\ud800"}',
              b'{"text": 1}', b"[1]", b'{"text": "f", "id": 12345678901234567890123}', b'{"a": ' + b"[" * 600 + b"]" * 600 + b', "text": "g"}',
              b'{"text": "h", "x": NaN}', b'{"html": "<p>i</p>", "id": "p"}', b'\x0c{"text": "j"}', b"\xff\xfe", b'{"text": "  "}',
              b'{"text": "k", "id": null}', b'{"text": "\\u3000"}', b'{"text": "l", "id": true}', b'{"text": null}', b'{"text": "m", "id": 7}']
    rng = random.Random(3)
    files = [b"\xef\xbb\xbf" + pieces[0] + b"\n" + pieces[3]]
    for _ in range(150):
        files.append(b"\n".join(b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 2))) for _ in range(rng.randint(1, 8))))

    def events(data: bytes, fmt: str, id_field: str | None) -> list:
        evs, _ = read(data, format=fmt, id_field=id_field, **({"html_field": "html"} if fmt == "html" else {}))
        return [(type(e).__name__, *(e if isinstance(e, tuple) else vars(e).values())) for e in evs]

    for fmt, id_field in (("jsonl", None), ("jsonl", "id"), ("html", "id")):
        fast = [events(f, fmt, id_field) for f in files]
        with monkeypatch.context() as m:
            m.setattr(readers, "_orjson_object", lambda data, fields: None)
            slow = [events(f, fmt, id_field) for f in files]
        assert fast == slow, (fmt, id_field)
    assert sum(len(e) for e in fast) > 300
