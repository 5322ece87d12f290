"""The README's quick start, run as written by a trainer: demo → (reviewer approves) → pull →
open with pyarrow, then the pulled shards with DuckDB, polars and Hugging Face ``datasets``.

`make demo` is the session's demo run (tests/conftest.py ``demo_run``); every other command and
every line of Python comes from the README, with ``cm-…`` and ``/data/corpus`` filled in.
"""

from __future__ import annotations

import re
import shlex
import shutil

import pyarrow as pa
import pytest
import pyarrow.parquet as pq

from tests.conftest import ROOT, cli


def quick_start() -> tuple[list[list[str]], list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Quick start"):text.index("### Installing only what you need")]
    commands, python = [], []
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, re.S):
        if lang == "bash":
            commands += [shlex.split(line, comments=True) for line in body.splitlines() if line.strip()]
        elif lang == "python":
            python.append(body)
    return [c for c in commands if c], python


def test_readme_quick_start_as_a_trainer(demo_run, tmp_path, monkeypatch):
    commands, python = quick_start()
    assert [c[:2] for c in commands[:3]] == [["make", "demo"], ["make", "test"], ["make", "shell"]]
    cat = tmp_path / "catalog"
    shutil.copytree(demo_run["catalog"], cat)  # the session's demo run stays read-only
    dest = tmp_path / "corpus"
    env = {"CORPUSMILL_CATALOG": str(cat), "CORPUSMILL_KEY_DIR": str(tmp_path / "keys")}
    mid = demo_run["id"]

    def fill(s: str) -> str:
        return s.replace("cm-…", mid).replace("/data/corpus", str(dest))

    ran = []
    for argv in commands[3:]:
        assert argv[0] == "corpusmill", argv
        res = cli(*[fill(a) for a in argv[1:]], cwd=tmp_path, env=env)
        ran.append(argv[1])
        if argv[1] == "manifest" and argv[2] == "list":
            assert mid in res.stdout and "draft" in res.stdout
    assert ran == ["manifest", "manifest", "keys", "review", "pull"]
    assert (dest / "manifest.json").exists()

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    kept = __import__("json").loads((dest / "manifest.json").read_text(encoding="utf-8"))["totals"]["kept"]
    scope: dict = {}
    exec(fill(python[0]), scope)  # from corpusmill import manifests; manifests.open(…); to_table(…)
    assert scope["ds"].count_rows() == kept

    readers = fill(python[1]).splitlines()
    exec(readers[0], scope)  # import duckdb, polars, datasets
    counts = eval(readers[1], scope)  # DuckDB
    assert sum(n for _, n in counts) == kept
    frame = eval(readers[2], scope)  # polars
    assert frame.height == kept and frame.columns == ["id", "text"]
    schema = pq.read_schema(next((dest / "shards").glob("*.parquet")))
    assert not any(pa.types.is_map(f.type) for f in schema)  # HF datasets has no dtype for Arrow maps
    hf = eval(readers[3], scope)  # Hugging Face datasets
    assert hf.num_rows == kept


@pytest.mark.slow  # a JVM starts (once per session, shared): ~20 s on the loaded 2-core machine
def test_pulled_demo_shards_read_with_spark(demo_run, spark, tmp_path, monkeypatch):
    """Spark reads the pulled shards as written (zstd; list<struct> pii_counts; float scores): the
    same rows, ids in order and PII counts as pyarrow."""
    from manifests.loaders import pull
    from tests.shard_readers import with_pyarrow, with_spark

    cat = tmp_path / "catalog"
    shutil.copytree(demo_run["catalog"], cat)  # the session's demo run stays read-only
    monkeypatch.setenv("CORPUSMILL_KEY_DIR", str(tmp_path / "keys"))
    pull(demo_run["id"], tmp_path / "corpus", catalog=str(cat), allow_unapproved=True)
    ref, got = with_pyarrow(tmp_path / "corpus" / "shards", tmp_path), with_spark(tmp_path / "corpus" / "shards", tmp_path, spark)
    assert ref.rows > 0 and got.rows == ref.rows and got.columns == ref.columns
    assert got.ids == ref.ids and got.pii_counts == ref.pii_counts and any(ref.pii_counts)
    assert got.values == ref.values and ref.values
