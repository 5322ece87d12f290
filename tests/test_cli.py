"""CLI polish: help text everywhere, --version, closed pipes, one overwrite rule, -q, --dry-run --out."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from tests.catalog_cli import CONFIG, cm
from tests.conftest import ROOT


def _walk(parser: argparse.ArgumentParser, path: str = "corpusmill"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{path} {name}")
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)) or action.help is None:
            yield path, action


def test_every_option_and_argument_has_help_text():
    from pipelines.cli import build_parser

    missing = [f"{path} {a.option_strings[0] if a.option_strings else a.dest}" for path, a in _walk(build_parser()) if not a.help]
    assert not missing, missing


def test_version_and_manifest_help_lists_every_subcommand():
    from pipelines import __version__

    assert cm("--version", check=False).stdout.strip() == f"corpusmill {__version__}"
    text = cm("manifest", "--help", check=False).stdout
    for name in ("list", "show", "verify", "lineage", "diff", "sign"):
        assert name in text.split("positional arguments")[0] or f"    {name}" in text, name


def test_dry_run_honours_out(tmp_path):
    out = cm("run", str(CONFIG), "--dry-run", "--out", str(tmp_path / "elsewhere")).stdout
    assert f"output: {tmp_path / 'elsewhere'}" in out and not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("args", [["run", str(CONFIG), "--dry-run"], ["--help"], ["manifest", "list", "--json"]])
def test_closed_stdout_ends_quietly(args, tmp_path):
    """`corpusmill … | head`: the reader is gone before we write; no BrokenPipeError traceback."""
    r, w = os.pipe()
    os.close(r)
    env = {**os.environ, "CORPUSMILL_CATALOG": str(tmp_path / "cat")}
    try:
        res = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], stdout=w, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT, env=env, timeout=120)
    finally:
        os.close(w)
    assert "Traceback" not in res.stderr and "BrokenPipeError" not in res.stderr, res.stderr
    assert res.returncode == 0


def test_dedup_and_scrub_share_one_output_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"d{i}", "text": f"document number {i} " * 20}) + "\n" for i in range(5)))
    for cmd in ("dedup", "scrub"):
        res = cm(cmd, str(src), "out.csv", check=False)
        assert res.returncode == 2 and ".jsonl" in res.stderr and not (tmp_path / "out.csv").exists()
    (tmp_path / "taken.jsonl").write_text("keep me\n")
    for cmd in ("dedup", "scrub"):
        res = cm(cmd, str(src), "taken.jsonl", check=False)
        assert res.returncode == 2 and "--overwrite" in res.stderr
    assert (tmp_path / "taken.jsonl").read_text() == "keep me\n"
    res = cm("-q", "dedup", str(src), "taken.jsonl", "--overwrite")
    assert res.stderr == "" and len((tmp_path / "taken.jsonl").read_text().splitlines()) == 5


# What `corpusmill` must not import before it needs it: pandas (pyarrow's pandas shim, ~0.4
# CPU-s per process), numba and the minhash kernels (~0.4 + 0.5-1 CPU-s; loaded once a process
# has enough MinHash work, filters/minhash_dedup/compiled.py). docs/testing.md "CLI start-up".
HEAVY = ("pandas", "numba", "filters.minhash_dedup.kernels")

_STARTUP = """
import sys
from pathlib import Path

def heavy(when):
    print("heavy", when, sorted(m for m in {heavy} if m in sys.modules))

import pipelines.runner
heavy("import")
from pipelines import cli
# argv from the command line, as `corpusmill` runs; _main: main() as the entry point would end the process
sys.argv = ["corpusmill", "run", {demo!r}, "--dry-run"]
assert cli._main(None) == 0
heavy("dry-run")
sys.argv = ["corpusmill", "run", "tiny.yaml", "--workers", "1", "--catalog", "catalog"]
assert cli._main(None) == 0
heavy("run")
"""


def test_cli_start_up_imports_neither_pandas_nor_numba(tmp_path):
    """Importing the runner, a --dry-run and a small run with MinHash (the demo's statutes) leave
    pandas and numba unimported; the output does not depend on it (tests/test_minhash_dedup.py
    compares the kernels with the numpy path bit for bit)."""
    (tmp_path / "tiny.yaml").write_text(
        "name: tiny\npurpose: {description: start-up test, uses: [pretraining]}\noutput: {dir: out}\n"
        "stages: [normalize, exact_dedup, minhash_dedup]\n"
        f"sources:\n  - {{id: statutes, paths: [{ROOT / 'examples/data/statutes.jsonl'}], format: jsonl, text_field: text,"
        " id_field: id, lang: ko, provenance: {owner: test, acquisition: owned, licence: CC0-1.0}}\n",
        encoding="utf-8",
    )
    script = _STARTUP.format(heavy=HEAVY, demo=str(ROOT / "examples" / "pipeline.yaml"))
    res = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert [ln for ln in res.stdout.splitlines() if ln.startswith("heavy ")] == [
        "heavy import []", "heavy dry-run []", "heavy run []"], res.stdout
    assert "records in 8 → kept 8" in res.stdout, res.stdout
