"""Shared test fixtures.

Tests that need ``../shared/data`` use the ``shared_data`` fixture: it skips with a clear
message where the folder is absent, and fails under ``CI=true`` (CI always has it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CORPUSMILL_SHARED", ROOT.parent / "shared")) / "data"
EXAMPLES = ROOT / "examples"
TEST_DATA = Path(__file__).resolve().parent / "data"

# Per-test CPU seconds when CORPUSMILL_TEST_CPU names a file to append them to (tests/cpu_times.py).
pytest_plugins = ["tests.cpu_times"] if os.environ.get("CORPUSMILL_TEST_CPU") else []


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        msg = f"../shared/data not found at {SHARED}: tests on the real deliveries need it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: CI always has ../shared, so this is an error)")
        pytest.skip(msg)
    return SHARED


@pytest.fixture(scope="session")
def scrubber():
    """The PII stage with its default options, set up once for the session (spaCy, MeCab, Kiwi,
    Presidio: seconds of set-up each time); tests that patch it use ``monkeypatch``."""
    from filters.pii import PresidioScrubber

    st = PresidioScrubber({})
    st.ensure_setup()
    return st


@pytest.fixture()
def catalog_env(tmp_path, monkeypatch) -> Path:
    """An isolated catalog and working directory for a test."""
    cat = tmp_path / "catalog"
    monkeypatch.setenv("CORPUSMILL_CATALOG", str(cat))
    monkeypatch.chdir(tmp_path)
    return cat


def one_worker(args: tuple[str, ...], cwd: Path | None = None) -> tuple[str, ...]:
    """``corpusmill run`` with ``--workers 1`` added, unless the test chose the workers or the
    engine (``--workers``/``--engine`` or ``workers:``/``engine:`` in its config) or the config
    reads the shared deliveries (hundreds of thousands of records: a second worker halves the
    wall time for a few CPU-seconds of model loading).

    Each local worker loads its own models and most runs in the tests are too small to gain from
    a second process: the demo run cost 15.1 CPU-s with the default two workers and 13.7 with one
    (2026-12-07, CPU of the process tree, load ~20). Worker counts have their own tests, which say
    ``--workers`` (test_engines, test_execution, test_progress: same output for 1 and 2)."""
    positional = [a for a in args if not a.startswith("-")]
    if positional[:1] != ["run"] or any(a in ("--workers", "--engine") or a.startswith(("--workers=", "--engine=")) for a in args):
        return args
    config = Path(cwd or ".") / positional[1] if len(positional) > 1 else None
    try:
        text = config.read_text(encoding="utf-8") if config is not None else ""
    except (OSError, UnicodeDecodeError):  # a test of a missing or broken config: leave it as it is
        return args
    if re.search(r"^(workers|engine)\s*:", text, re.MULTILINE) or "shared/data/" in text or SHARED.as_posix() in text:
        return args
    return (*args, "--workers", "1")


def cli(*args: str, cwd: Path | None = None, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real ``corpusmill`` CLI in a subprocess (``run`` on one worker: :func:`one_worker`)."""
    full_env = {**os.environ, **(env or {})}
    args = one_worker(args, cwd)
    res = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], cwd=cwd, env=full_env, capture_output=True, text=True
    )
    if check and res.returncode != 0:
        raise AssertionError(f"corpusmill {' '.join(args)} exited {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}")
    return res


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> dict[str, Path | str]:
    """The demo pipeline run once per session through the real CLI, shared by every test that
    needs a demo run (read-only: tests that tamper copy first): ``dir``/``out`` (run directory),
    ``id`` (manifest ID), ``catalog`` (its catalog), ``cwd``/``root`` (working directory),
    ``env`` (the environment naming the catalog), ``stdout``/``stderr`` of the run."""
    tmp = tmp_path_factory.mktemp("demo-run")
    env = {"CORPUSMILL_CATALOG": str(tmp / "catalog")}
    res = cli("run", str(EXAMPLES / "pipeline.yaml"), "--out", str(tmp / "run"), cwd=tmp, env=env)
    return {"dir": tmp / "run", "out": tmp / "run", "id": res.stdout.strip().splitlines()[-1], "catalog": tmp / "catalog",
            "cwd": tmp, "root": tmp, "env": env, "stdout": res.stdout, "stderr": res.stderr}


@pytest.fixture(scope="session")
def shared_open_run(shared_data, tmp_path_factory) -> dict[str, Any]:
    """The open-release config over every shared delivery, on the cheap ingest stages, with
    ``--sample-per-source OPEN_SAMPLE``, run once per session through the real CLI and signed by a
    fresh key ``legal-team`` — shared by test_shared_deliveries (what was read and excluded) and
    test_catalog_shared (the reviewer's path), which each ran it before. Read-only: copy
    ``catalog`` before approving or taking down. Keys: ``manifest``, ``id``, ``out``, ``config``,
    ``catalog``, ``keys``.

    A sample, because every record is read by the research run (the same sources: its full counts
    per source) and only NSMC (712k reviews) and the comments (34k) hold more than OPEN_SAMPLE."""
    from tests.test_shared_deliveries import INGEST_STAGES, OPEN_RELEASE, OPEN_SAMPLE, config_for, with_stages

    tmp = tmp_path_factory.mktemp("shared-open")
    env = {"CORPUSMILL_KEY_DIR": str(tmp / "keys"), "CORPUSMILL_CATALOG": str(tmp / "catalog")}
    cli("keys", "init", "--name", "legal-team", env=env)
    config = with_stages(config_for(OPEN_RELEASE, shared_data, tmp), INGEST_STAGES, tmp)
    res = cli("run", str(config), "--out", str(tmp / "out"), "--sample-per-source", str(OPEN_SAMPLE), env=env)
    manifest = json.loads((tmp / "out" / "manifest.json").read_text(encoding="utf-8"))
    return {"manifest": manifest, "id": res.stdout.strip().splitlines()[-1], "out": tmp / "out", "config": config,
            "catalog": tmp / "catalog", "keys": tmp / "keys"}


def mount_tmpfs(where: Path, size: str):
    """A tiny tmpfs at ``where`` for disk-full tests (needs root; CI runs as root), unmounted after.

    A generator for fixtures: ``yield from mount_tmpfs(tmp_path / "small", "160k")``."""
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    where.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True)
    if res.returncode != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot mount a tmpfs for the disk-full test: {res.stderr}")
        pytest.skip(f"cannot mount a tmpfs: {res.stderr}")
    yield where
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the test session (reader tests: shards as Spark reads them).

    Java is not a Python package: without ``java`` on PATH the tests skip, and fail under CI=true
    (.ci/run installs a JRE). Small on purpose — ``local[1]``, 512 MB driver, no UI — because it
    only reads a few small Parquet files."""
    import shutil

    pyspark = pytest.importorskip("pyspark", reason="pyspark (the test extra) is not installed")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        msg = "java not found: Spark reader tests need a Java 17+ runtime (apt-get install openjdk-17-jre-headless)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: .ci/run installs it, so this is an error)")
        pytest.skip(msg)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        pyspark.sql.SparkSession.builder.master("local[1]").appName("corpusmill-tests")
        .config("spark.driver.memory", "512m").config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1").config("spark.driver.bindAddress", "127.0.0.1")
        # the same address for the block manager: bound to loopback but advertised under the host's
        # name, large task results ("TaskResultLost (result lost from block manager)") never arrived
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.extraJavaOptions", "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss4m")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
