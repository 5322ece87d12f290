"""The CLI's numeric options refuse out-of-range values at parse time, in one line (session 11:
several ended in tracebacks deep in fastText, HF tokenizers or Python's int conversions)."""

from __future__ import annotations

import pytest

from pipelines.cli import main

BAD = [
    (["run", "p.yaml", "--workers", "0"], "--workers: must be an integer from 1"),
    (["run", "p.yaml", "--sample-per-source", "99999999999999999999"], "--sample-per-source: must be an integer from 1"),
    (["pull", "cm-0123456789abcdef", "--to", "x", "--workers", "-1"], "--workers: must be an integer from 1"),
    (["dedup", "a.jsonl", "b.jsonl", "--threshold", "nan"], "--threshold: must be a finite number in (0, 1)"),
    (["dedup", "a.jsonl", "b.jsonl", "--num-perm", "0"], "--num-perm: must be an integer from 1"),
    (["dedup", "a.jsonl", "b.jsonl", "--workers", "x"], "--workers: must be an integer from 1"),
    (["decontaminate", "a.jsonl", "b.jsonl", "--benchmark", "c.jsonl", "--window", "0"], "--window: must be an integer from 1"),
    (["quality", "train", "--positive", "a", "--negative", "b", "--out", "m.bin", "--heldout", "150"], "--heldout: must be an integer from 1 to 99"),
    (["quality", "train", "--positive", "a", "--negative", "b", "--out", "m.bin", "--bucket", "99999999999999999999"],
     "--bucket: must be an integer from 0 to 2147483647"),
    (["quality", "train", "--positive", "a", "--negative", "b", "--out", "m.bin", "--lr", "nan"], "--lr: must be a finite number in (0, inf)"),
    (["quality", "train", "--positive", "a", "--negative", "b", "--out", "m.bin", "--dim", "0"], "--dim: must be an integer from 1"),
    (["tokenizer", "train", "cm-0123456789abcdef", "--out", "t.json", "--vocab-size", "99999999999999999999"],
     "--vocab-size: must be an integer from 1 to 2147483647"),
    (["tokenizer", "train", "cm-0123456789abcdef", "--out", "t.json", "--vocab-size", "300", "--sample-chars", "0"],
     "--sample-chars: must be an integer from 1"),
    (["tokenize", "cm-0123456789abcdef", "--tokenizer", "t.json", "--workers", "0"], "--workers: must be an integer from 1"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a[:2]) + " " + a[-2] for a, _ in BAD])
def test_a_bad_number_is_one_line_at_parse_time(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith(f"(got {argv[-1]!r})")


def test_a_learning_rate_fasttext_diverges_at_is_one_line(tmp_path, capsys):
    import json

    for name, text in (("pos", "제{}조 이 법은 국민의 권리와 의무를 정한다"), ("neg", "ㅋㅋㅋ 대박 {} 노잼")):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps({"id": f"{name}{i}", "text": text.format(i)}) + "\n" for i in range(40)))
    code = main(["quality", "train", "--positive", str(tmp_path / "pos.jsonl"), "--negative", str(tmp_path / "neg.jsonl"),
                 "--out", str(tmp_path / "q.bin"), "--lr", "1e30", "--epoch", "1", "--bucket", "1000"])
    assert code == 2 and "fastText diverged (NaN) at every learning rate down to" in capsys.readouterr().err
    assert not (tmp_path / "q.bin").exists()


def test_an_output_that_is_a_directory_is_refused_before_the_work(tmp_path, capsys, monkeypatch):
    # `quality train --out DIR` trained first, then failed renaming into DIR, naming its temporary file
    import pipelines.cli_quality as cq

    monkeypatch.setattr(cq, "load_labelled", lambda *a: pytest.fail("read the data before checking --out"))
    (tmp_path / "d").mkdir()
    assert main(["quality", "train", "--positive", "a", "--negative", "b", "--out", str(tmp_path / "d")]) == 2
    assert f"--out {tmp_path / 'd'} is a directory; name the file to write" in capsys.readouterr().err


def test_a_failed_rename_names_the_users_path_not_our_temporary_file(tmp_path, capsys, monkeypatch):
    import os

    import pipelines.cli as cli

    def fail(args):
        os.replace(tmp_path / ".out.tmp-1", tmp_path / "out")  # the temporary file does not exist either

    monkeypatch.setattr(cli, "cmd_run", fail)
    (tmp_path / "out").mkdir()
    assert main(["run", "p.yaml"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"({tmp_path / 'out'})") and ".tmp-1" not in err


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (OSError("Could not open Parquet input source 'x.parquet': Couldn't deserialize thrift"),
         "corpusmill: error: Could not open Parquet input source 'x.parquet': Couldn't deserialize thrift"),
        (PermissionError(13, "Permission denied", "in/kim.lee@example.com.jsonl"), "corpusmill: error: Permission denied (in/<EMAIL_ADDRESS>.jsonl)"),
        (FileNotFoundError(2, "No such file or directory", "in/900101-1234568.csv"),
         "corpusmill: error: No such file or directory (in/<KR_RRN>.csv)"),
        (OSError("cannot read in/010-1234-5678.txt\nsecond line"), "corpusmill: error: cannot read in/<PHONE_NUMBER>.txt"),
        (OSError(9, "Bad file descriptor", 7), "corpusmill: error: Bad file descriptor (file descriptor 7)"),  # os.fsdecode(7) raised
    ],
)
def test_the_last_line_of_defence_says_what_failed_and_masks_file_names(capsys, monkeypatch, error, shown):
    # Session 13: an OSError without strerror (pyarrow's, e.g. a shard cut short) printed only
    # "corpusmill: error: OSError"; a file name holding an e-mail address or resident number was printed raw.
    import pipelines.cli as cli

    def fail(args):
        raise error

    monkeypatch.setattr(cli, "cmd_run", fail)
    assert main(["run", "p.yaml"]) == 2
    assert capsys.readouterr().err.strip() == shown
