"""Output folders that are files, or lie under one, are refused before any work, in one line,
by every command that writes a folder — ``run`` (``--dry-run`` included), ``report``, ``pull``
(``--dry-run`` included), ``tokenize`` and ``mix``. Before: ``report --out FILE`` said "File
exists (FILE)", ``pull --to FILE`` the same, and ``run --out FILE --dry-run`` passed and the run
then failed with "Not a directory"."""

from __future__ import annotations

import pytest

from tests.catalog_cli import cm
from tests.conftest import ROOT

CONFIG = ROOT / "tests" / "data" / "reliability" / "pipeline.yaml"
MID = "cm-0123456789abcdef"  # never looked up: the folder is checked first


@pytest.fixture()
def a_file(tmp_path):
    f = tmp_path / "report.html"
    f.write_text("not a folder")
    return f


def _one_line_error(res, *parts):
    assert res.returncode == 2 and res.stdout == "", (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for p in parts:
        assert p in lines[0], lines[0]


@pytest.mark.parametrize("under", [False, True])
def test_folder_outputs_that_are_files_are_refused_first(tmp_path, a_file, monkeypatch, under):
    monkeypatch.setenv("CORPUSMILL_CATALOG", str(tmp_path / "catalog"))
    out = a_file / "sub" if under else a_file
    says = f"lies under {a_file}, which is a file" if under else "is a file"
    for dry in ((), ("--dry-run",)):
        _one_line_error(cm("run", str(CONFIG), "--out", str(out), *dry, check=False), f"output directory {out}", says)
        _one_line_error(cm("pull", MID, "--to", str(out), *dry, check=False), f"--to {out} {says}", "shards and manifest.json")
    _one_line_error(cm("report", MID, "--out", str(out), check=False), f"--out {out} {says}", "report.html and figures.json")
    _one_line_error(cm("tokenize", MID, "--tokenizer", str(tmp_path), "--out", str(out), check=False), f"--out {out} {says}")
    _one_line_error(cm("mix", str(tmp_path / "mix.yaml"), "--out", str(out), check=False), f"--out {out} {says}")
    assert a_file.read_text() == "not a folder"


def test_run_dry_run_refuses_a_folder_holding_something_else(tmp_path, monkeypatch):
    monkeypatch.setenv("CORPUSMILL_CATALOG", str(tmp_path / "catalog"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("someone's file")
    _one_line_error(cm("run", str(CONFIG), "--out", str(out), "--dry-run", check=False), "exists, is not empty and holds no corpusmill run")
    (out / "notes.txt").unlink()
    (out / "shards").mkdir()  # what a run killed while installing leaves: the run replaces it
    assert cm("run", str(CONFIG), "--out", str(out), "--dry-run").returncode == 0


def test_the_loaders_refuse_a_file_as_the_pull_folder_too(tmp_path, a_file):
    """``manifests.pull`` called from Python (no CLI): the same refusal, after the manifest's checks."""
    from corpusmill_base.errors import OutputError
    from manifests import loaders

    with pytest.raises(OutputError, match="is a file, not a folder"):
        loaders._folder(MID, a_file / "sub")
    assert loaders._folder(MID, tmp_path / "new") == tmp_path / "new"
