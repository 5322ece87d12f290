"""Named checkpoints for crash testing.

The engine and runner call :func:`checkpoint` at the points where a crash matters (after a
unit of work, mid-unit after a batch, after a shard, before install, before publish). In
normal runs this is a dictionary lookup and nothing happens. Tests set:

* ``CORPUSMILL_TRACE_CHECKPOINTS=FILE`` — append every checkpoint name reached to FILE;
* ``CORPUSMILL_KILL_AT=NAME`` — the process sends itself SIGKILL at that checkpoint: a real,
  unclean death (no ``finally``, no flush), exactly what a preempted node does. A checkpoint
  reached in a worker process of the local engine kills the run's main process first (the workers
  die with it), so the whole run dies as it would on a preempted machine.
"""

from __future__ import annotations

import os
import signal

_TRACE = os.environ.get("CORPUSMILL_TRACE_CHECKPOINTS")
_KILL_AT = os.environ.get("CORPUSMILL_KILL_AT")
_RUN_PID = os.getpid()  # the run's main process (forked workers inherit it)


def checkpoint(name: str) -> None:
    if _TRACE:
        with open(_TRACE, "a", encoding="utf-8") as f:
            f.write(name + "\n")
    if _KILL_AT and name == _KILL_AT:
        if os.getpid() != _RUN_PID:
            os.kill(_RUN_PID, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
