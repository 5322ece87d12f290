"""Extraction in a child process with a memory ceiling and a per-file time limit.

PDFium and the office parsers are native or recursive code fed with untrusted bytes: a hostile
file can loop, allocate without bound or crash the interpreter. Each worker process (local
pool worker, Ray actor, Beam worker) therefore starts one long-lived child on first use and
sends it one file at a time. The child runs under ``RLIMIT_AS`` (``limits.document_memory_mb``);
the parent waits at most ``limits.document_timeout_s`` for the answer, then kills the child,
quarantines the file as a ``document_bomb`` and starts a new child for the next file. A signal
alarm would not do: it fires only in a process's main thread, and Ray and Beam run work on
other threads.

The child is reused (starting one costs ≈ 0.3 s of imports), so the overhead per file is one
pickle round trip through a pipe.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import time
from typing import Any
from pathlib import Path

from filters.documents.model import BOMB, MALFORMED, DocumentError, DocumentOptions

_HEADER = struct.Struct("<Q")
_ROOT = str(Path(__file__).resolve().parents[2])


class Sandbox:
    """One extraction child; :meth:`extract` restarts it after a timeout or a crash."""

    def __init__(self, memory_mb: int):
        self.memory_mb = memory_mb
        self._proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))}
        return subprocess.Popen(
            [sys.executable, "-m", "filters.documents.sandbox", str(self.memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def extract(self, data: bytes, declared: str, path: str, opts: DocumentOptions) -> tuple[str, list[tuple[str, str]]]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None  # started with pipes
        payload = pickle.dumps((data, declared, path, opts), protocol=5)
        # The clock starts before the child can begin: a deadline taken after the write let a parent
        # descheduled between the two find the reply already there and take it, however long it took
        # (a fresh-clone CI run of 2026-12-08: a 1 ms limit not enforced on a 4-page PDF).
        deadline = time.monotonic() + opts.timeout_s
        try:
            proc.stdin.write(_HEADER.pack(len(payload)) + payload)
            proc.stdin.flush()
            reply = _read_reply(proc.stdout.fileno(), deadline)
        except TimeoutError:
            self.close()
            raise DocumentError(BOMB, f"extraction took longer than limits.document_timeout_s ({opts.timeout_s:g} s)") from None
        except (BrokenPipeError, EOFError):
            code = proc.wait()
            self._proc = None
            raise DocumentError(MALFORMED, f"the extractor crashed on this file (exit status {code})") from None
        kind, *rest = pickle.loads(reply)
        if kind == "ok":
            return rest[0], rest[1]
        raise DocumentError(rest[0], rest[1])


def _read_exact(fd: int, n: int, deadline: float) -> bytes:
    parts: list[bytes] = []
    while n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _read_reply(fd: int, deadline: float) -> bytes:
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    return _read_exact(fd, size, deadline)


# One child per worker process, started on first use (like a stage's setup()); a forked
# process must not share its parent's pipes, hence the pid check.
_sandbox: tuple[int, Sandbox] | None = None


def shared(memory_mb: int) -> Sandbox:
    global _sandbox
    if _sandbox is None or _sandbox[0] != os.getpid() or _sandbox[1].memory_mb != memory_mb:
        if _sandbox is not None and _sandbox[0] == os.getpid():
            _sandbox[1].close()
        _sandbox = (os.getpid(), Sandbox(memory_mb))
    return _sandbox[1]


def _serve(memory_mb: int) -> None:
    """The child: read requests from stdin, answer on a private copy of stdout."""
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a library printing to stdout must not corrupt the replies
    from filters.documents.extract import extract

    inp = sys.stdin.buffer
    while True:
        head = inp.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(head)
        data, declared, path, opts = pickle.loads(inp.read(size))
        reply: tuple[Any, ...]
        try:
            reply = ("ok", *extract(data, declared, path, opts))
        except DocumentError as e:
            reply = ("error", e.reason, e.message)
        except MemoryError:
            reply = ("error", BOMB, f"extraction needed more than limits.document_memory_mb ({memory_mb:,} MB)")
        except RecursionError:
            reply = ("error", BOMB, "structure nested too deeply")
        except Exception as e:  # noqa: BLE001 — a parser failing on a delivered file is a quarantine
            reply = ("error", MALFORMED, f"unreadable file: {type(e).__name__}: {e}"[:500])
        body = pickle.dumps(reply, protocol=5)
        out.write(_HEADER.pack(len(body)) + body)
        out.flush()


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
