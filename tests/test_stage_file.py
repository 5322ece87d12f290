"""The file commands' reader (`scrub`, `quality score`, `dedup`, `decontaminate`): one
unreadable JSON-lines record costs that record, not the file — it is quarantined with its line
number and pyarrow's reason (never its content), and the commands say so."""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa
import pytest

from corpusmill_base.errors import InputError
from pipelines import stage_file
from pipelines.stage_file import BadLine, read_batches
from tests.conftest import cli

SECRET = "Kim Minsu 010-9876-5432"


def _lines(n: int, bad: dict[int, str]) -> str:
    """n records (ids 0..n-1, distinct texts, an int column), with some 1-based lines replaced by ``bad``'s."""
    out = []
    for i in range(n):
        out.append(bad.get(i + 1, json.dumps({"id": i, "text": hashlib.sha256(str(i).encode()).hexdigest(), "n": i})))
    return "\n".join(out) + "\n"


def _read(path, quarantine):
    batches = list(read_batches(path, batch_rows=100, quarantine=quarantine))
    return pa.Table.from_batches(batches) if batches else None


@pytest.mark.parametrize("where", [3, 700])  # in pyarrow's first block, and after blocks were already given
def test_a_bad_line_is_quarantined_and_every_other_row_read_once_in_order(tmp_path, monkeypatch, where):
    monkeypatch.setattr(stage_file, "_JSON_BLOCK", 4096)  # many blocks in a small file
    path = tmp_path / "in.jsonl"
    surrogate = '{"id": 1, "text": "' + SECRET + ' \\ud800"}'
    path.write_text(_lines(1000, {where: surrogate, where + 2: '{"id": 5, "text": 7}', 999: "not json " + SECRET}), encoding="utf-8")
    bad: list[BadLine] = []
    t = _read(path, bad)
    assert [b.line for b in bad] == [where, where + 2, 999]
    assert "surrogate" in bad[0].reason and "Column(/text)" in bad[1].reason
    assert not any(SECRET in b.reason or "Kim" in b.reason for b in bad)
    expected = [str(i) for i in range(1000) if i + 1 not in (where, where + 2, 999)]
    assert t.column("id").to_pylist() == expected  # nothing given twice, nothing else lost
    assert t.column("order").to_pylist() == list(range(len(expected)))
    assert t.schema.field("n").type == pa.int64()  # the block reader's types, not a re-guess
    again: list[BadLine] = []
    assert _read(path, again).equals(t) and again == bad  # a second read skips the same lines


def test_without_a_quarantine_list_the_error_names_file_and_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(_lines(10, {4: '{"id": 3, "text": "' + SECRET + '\\ud800"}'}), encoding="utf-8")
    with pytest.raises(InputError) as e:
        list(read_batches(path))
    assert f"{path}: line 4:" in str(e.value) and SECRET not in str(e.value)


def test_gzip_input_and_blank_lines_keep_true_line_numbers(tmp_path):
    import gzip

    path = tmp_path / "in.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write('{"id": "a", "text": "x"}\n\n   \n{"id": "b", "text": \n{"id": "c", "text": "y"}')  # no final newline
    bad: list[BadLine] = []
    assert _read(path, bad).column("id").to_pylist() == ["a", "c"] and [b.line for b in bad] == [4]


def test_dedup_leaves_out_only_the_bad_record_and_says_so_even_when_quiet(tmp_path):
    """(`scrub` and `quality score` go through `map_file` as `decontaminate` does, whose test
    checks the same warning: test_decontaminate.py; a `scrub` process costs ~25 CPU-s of models.)"""
    path = tmp_path / "in.jsonl"
    path.write_text(_lines(6, {2: '{"id": 1, "text": "' + SECRET + '\\ud800"}'}), encoding="utf-8")
    for args, out in ((("dedup",), "d.jsonl"), (("--quiet", "dedup"), "q.jsonl")):
        r = cli(*args, str(path), str(tmp_path / out))
        assert r.returncode == 0 and "quarantined 1 unreadable line(s)" in r.stderr and "line 2:" in r.stderr, r.stderr
        assert SECRET not in r.stderr and "Traceback" not in r.stderr
        rows = [json.loads(x) for x in (tmp_path / out).read_text(encoding="utf-8").splitlines()]
        assert [x["id"] for x in rows] == ["0", "2", "3", "4", "5"]
    assert json.loads(r.stdout)["quarantined_lines"] == 1
