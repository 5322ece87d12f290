"""Per-test CPU seconds, opt-in: ``CORPUSMILL_TEST_CPU=cpu.tsv pytest -p tests.cpu_times …``
(or just set the variable: tests/conftest.py loads this plugin when it is set).

Each test's line is user + sys CPU of the pytest process and of the children it has waited for
(``corpusmill`` subprocesses, forked local workers), from ``resource.getrusage`` before and after
the test's whole protocol — set-up included, so a session fixture's cost lands on its first user.
Processes nobody waits for are not counted: a local Ray cluster's daemons (raylet, GCS), Spark's
JVM until the session ends. Wall time is printed beside it but means little on a shared machine;
CPU seconds are comparable between runs (docs/testing.md). Lines are appended to the file named by
the variable (tab-separated: CPU-s, wall-s, node id), and the slowest are listed at the end.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import pytest

ENV = "CORPUSMILL_TEST_CPU"
_times: list[tuple[float, float, str]] = []


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    cpu, wall = _cpu(), time.monotonic()
    yield
    row = (_cpu() - cpu, time.monotonic() - wall, item.nodeid)
    _times.append(row)
    target = os.environ.get(ENV)
    if target:
        with Path(target).open("a", encoding="utf-8") as fh:
            fh.write(f"{row[0]:.1f}\t{row[1]:.1f}\t{row[2]}\n")


def pytest_terminal_summary(terminalreporter):
    if not _times:
        return
    total = sum(t[0] for t in _times)
    terminalreporter.write_sep("-", f"CPU per test (user+sys, waited children): {total:.1f} s over {len(_times)} tests")
    for cpu, wall, node in sorted(_times, reverse=True)[:15]:
        terminalreporter.write_line(f"{cpu:8.1f} CPU-s {wall:8.1f} s  {node}")
