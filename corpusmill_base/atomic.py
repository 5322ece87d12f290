"""Atomic, durable writes: a temporary name in the same directory, fsync, then rename."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_OPTIONS: dict[str, Any] = dict(compression="zstd", compression_level=3, write_statistics=True, use_dictionary=True)


def file_in_the_way(folder: Path) -> str | None:
    """Why ``folder`` cannot be created or listed because a file stands at it or above it ("is a
    file" / "lies under X, which is a file": creating it would fail with "Not a directory"/"File
    exists"); None when nothing is in the way."""
    folder = folder.absolute()
    for p in (folder, *folder.parents):
        if p.exists():
            if p.is_dir():
                return None
            return "is a file" if p == folder else f"lies under {p}, which is a file"
    return None


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_table_atomic(table: pa.Table, path: Path, row_group_size: int = 65536) -> None:
    """Write Parquet to a temporary name in the same directory, fsync, then rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        pq.write_table(table, tmp, row_group_size=row_group_size, **PARQUET_OPTIONS)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class AtomicParquetWriter:
    """:func:`write_table_atomic`'s bytes, written a row group at a time: the rows given to
    :meth:`write` (in any batches) leave in groups of ``row_group_size`` rows, each one
    contiguous array per column — what ``write_table`` makes of one table after
    ``combine_chunks`` — so a caller never holds more than a group. :meth:`close` installs the
    file; :meth:`abort` removes the partial one."""

    def __init__(self, path: Path, schema: pa.Schema, row_group_size: int = 65536):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.schema, self.row_group_size = path, schema, row_group_size
        self.tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        self.rows = 0  # written so far (in groups and pending)
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._writer = pq.ParquetWriter(self.tmp, schema, **PARQUET_OPTIONS)

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        while self._pending_rows >= self.row_group_size:
            self._group(self.row_group_size)

    def _group(self, n: int) -> None:
        pending = pa.concat_tables(self._pending) if len(self._pending) > 1 else self._pending[0]
        group = pending.slice(0, n).combine_chunks()
        rest = pending.slice(n)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows
        self._writer.write_table(group, row_group_size=n)

    def close(self) -> None:
        try:
            if self._pending_rows:
                self._group(self._pending_rows)
            elif self.rows == 0:
                self._writer.write_table(self.schema.empty_table())  # what write_table writes for no rows
            self._writer.close()
            with open(self.tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(self.tmp, self.path)
        finally:
            if self.tmp.exists():
                self.tmp.unlink()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._writer.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)


class DirectoryLocked(Exception):
    """Another process holds the lock (its pid, when it could be read, is ``holder``)."""

    def __init__(self, lock: Path, holder: str):
        super().__init__(f"{lock} is held by {holder}")
        self.lock, self.holder = lock, holder


@contextlib.contextmanager
def exclusive_lock(target: Path) -> Iterator[Path]:
    """Hold ``.<name>.lock`` beside ``target`` for the duration (``flock``, released when the
    process dies, so a killed run never leaves a stale lock); raises :class:`DirectoryLocked`
    when another process holds it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.parent / f".{target.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "another process"
            raise DirectoryLocked(lock, f"pid {holder}" if holder.isdigit() else holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield lock
    finally:
        os.close(fd)  # closing the descriptor releases the lock
