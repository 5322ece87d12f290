"""The catalog tests' config and in-process CLI helper (fixtures are in tests/catalog_fixtures.py)."""

from __future__ import annotations

import contextlib
import io
import subprocess

from tests.conftest import TEST_DATA, one_worker

CONFIG = TEST_DATA / "catalog" / "pipeline.yaml"


def cm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The real CLI entry point (``pipelines.cli.main``), run in this process: same parser,
    handlers and exit codes as ``corpusmill``, without paying the interpreter start per call."""
    from pipelines.cli import main

    args = one_worker(args)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(args))
        except SystemExit as e:  # argparse errors
            rc = e.code if isinstance(e.code, int) else 2
    res = subprocess.CompletedProcess(["corpusmill", *args], rc, out.getvalue(), err.getvalue())
    if check and rc != 0:
        raise AssertionError(f"corpusmill {' '.join(args)} exited {rc}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}")
    return res
