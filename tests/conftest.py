"""Shared test fixtures.

Tests that need ``../shared/data`` use the ``shared_data`` fixture: it skips with a clear
message where the folder is absent, and fails under ``CI=true`` (CI always has it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CORPUSMILL_SHARED", ROOT.parent / "shared")) / "data"
EXAMPLES = ROOT / "examples"
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        msg = f"../shared/data not found at {SHARED}: tests on the real deliveries need it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: CI always has ../shared, so this is an error)")
        pytest.skip(msg)
    return SHARED


@pytest.fixture()
def catalog_env(tmp_path, monkeypatch) -> Path:
    """An isolated catalog and working directory for a test."""
    cat = tmp_path / "catalog"
    monkeypatch.setenv("CORPUSMILL_CATALOG", str(cat))
    monkeypatch.chdir(tmp_path)
    return cat


def cli(*args: str, cwd: Path | None = None, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real ``corpusmill`` CLI in a subprocess."""
    full_env = {**os.environ, **(env or {})}
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
