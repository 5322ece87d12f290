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
    broken = '{"id": 5, "text": "' + SECRET + '"'  # no closing brace
    path.write_text(_lines(1000, {where: surrogate, where + 2: broken, 998: "null", 999: "not json " + SECRET}), encoding="utf-8")
    bad: list[BadLine] = []
    t = _read(path, bad)
    assert [b.line for b in bad] == [where, where + 2, 998, 999]
    assert [b.reason for b in bad] == ["a string holds a lone surrogate (not valid Unicode)", "not valid JSON",
                                       "the line is not a JSON object", "the line is not a JSON object"]
    expected = [str(i) for i in range(1000) if i + 1 not in (where, where + 2, 998, 999)]
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


@pytest.mark.parametrize("late", [
    '{"id": 899, "text": "x", "n": 900, "date": "Kim Minsu 010-9876-5432"}',  # a field the first lines lack
    '{"id": 899, "text": "x", "n": "Kim Minsu 010-9876-5432"}',  # a field changing type
    '{"id": 899, "text": "x", "n": {"Kim Minsu": 3}}',
])
def test_valid_json_that_does_not_fit_the_files_types_is_one_clean_error_without_its_values(tmp_path, monkeypatch, late):
    monkeypatch.setattr(stage_file, "_JSON_BLOCK", 4096)
    path = tmp_path / "in.jsonl"
    path.write_text(_lines(1000, {900: late}), encoding="utf-8")
    with pytest.raises(InputError, match=r"line 900: its fields .* do not fit") as e:
        list(read_batches(path, quarantine=[]))
    assert "Kim" not in str(e.value) and "9876" not in str(e.value)
    # The command reads this small file as one pyarrow block, so its types come from every line:
    # a late field is then read (null before), a type that does not widen still ends the run.
    r = cli("dedup", str(path), str(tmp_path / "o.parquet"), check=False)  # Parquet output: no traceback
    assert "Traceback" not in r.stderr and "Kim" not in r.stderr and "9876" not in r.stderr
    if "date" in late:
        assert r.returncode == 0 and json.loads(r.stdout)["documents"] == 1000
    else:
        assert r.returncode == 2 and "line 900:" in r.stderr and not (tmp_path / "o.parquet").exists()


def test_when_the_first_block_fails_types_are_inferred_over_the_first_lines_and_widened(tmp_path, monkeypatch):
    monkeypatch.setattr(stage_file, "_JSON_BLOCK", 4096)
    path = tmp_path / "in.jsonl"
    rows = ["{broken"] + [json.dumps({"id": i, "text": "t", "x": i if i < 3 else i + 0.5, "s": None if i < 5 else "v"}) for i in range(60)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    bad: list[BadLine] = []
    t = _read(path, bad)
    assert [b.line for b in bad] == [1] and t.num_rows == 60
    assert t.schema.field("x").type == pa.float64() and t.schema.field("s").type == pa.string()


def test_an_empty_or_all_bad_file_gives_an_empty_output(tmp_path):
    for text, n_bad in (("", 0), ("null\n{bad\n", 2)):
        path = tmp_path / "in.jsonl"
        path.write_text(text, encoding="utf-8")
        r = cli("dedup", str(path), str(tmp_path / "o.parquet"), "--overwrite")
        assert json.loads(r.stdout)["documents"] == 0 and json.loads(r.stdout)["quarantined_lines"] == n_bad


def test_file_commands_refuse_a_bad_model_or_budget_in_one_line(tmp_path):
    # Found by trying odd arguments on every file command (session 10): a model that is no fastText
    # binary ended `quality score` in a ValueError traceback; a negative memory budget was taken
    # (every band spilled to disk).
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "1", "text": "hello world"}\n')
    res = cli("quality", "score", "--model", str(src), str(src), str(tmp_path / "o.jsonl"), check=False)
    assert res.returncode == 3 and "Traceback" not in res.stderr
    assert res.stderr.strip().endswith("train one with `corpusmill quality train`") and "is not a fastText model" in res.stderr
    for budget in ("-5", "nan", "0"):
        res = cli("dedup", str(src), str(tmp_path / "o.jsonl"), "--memory-budget-mb", budget, check=False)
        assert res.returncode == 2 and "must be a positive number of MB" in res.stderr


def test_field_names_in_the_file_commands_errors_are_masked(tmp_path):
    # Session 13: the names were printed raw, and a JSON key can be personal data.
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "1", "text": "a", "kim.lee@example.com": {"a": 1}}\n{"id": "2", "text": "b", "kim.lee@example.com": "s"}\n',
                    encoding="utf-8")
    r = cli("dedup", str(path), str(tmp_path / "o.parquet"), check=False)
    assert r.returncode == 2 and "line 2:" in r.stderr and "(id, text, <EMAIL_ADDRESS>)" in r.stderr and "kim.lee" not in r.stderr
    path.write_text('{"id": "1", "900101-1234568": "a"}\n', encoding="utf-8")
    r = cli("dedup", str(path), str(tmp_path / "o.parquet"), check=False)
    assert r.returncode == 2 and "needs column(s) 'text' (found id, <KR_RRN>)" in r.stderr and "1234568" not in r.stderr
