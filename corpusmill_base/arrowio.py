"""Reading Arrow formats from bytes and files without Python objects behind Arrow's buffers.

Why this exists (docs/reliability.md, "Exit at the end of a command"): a reader over Python
memory — ``io.BytesIO``, a Python file object, ``pa.py_buffer(bytes)`` — gives Arrow
``PyBuffer``s that keep the Python object alive, and ``~PyBuffer`` takes the GIL. Arrow's I/O
and CPU pools (``pre_buffer``'s read-ahead, threaded column decoding, the JSON reader's blocks)
can drop the last reference *after* the call returned; if that happens once the interpreter has
begun finalising, CPython ends the pool thread with ``pthread_exit`` and the forced unwinding
through Arrow's ``noexcept`` destructor aborts the process (SIGABRT, apache/arrow#34314,
apache/arrow#39862). The ``corpusmill`` entry point never finalises (``pipelines.cli._leave``),
but a trainer's or a notebook's process that calls our loaders does. The functions here copy the
bytes once into memory Arrow allocated itself (a ``memcpy``; the readers decompress into new
buffers anyway), or open local files natively, so no Python object is left for a pool thread
to release. ``tests/test_arrowio.py`` checks that no module reads Arrow formats from Python
memory any other way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import pyarrow.parquet as pq
    from fsspec import AbstractFileSystem


def owned(data: bytes | bytearray | memoryview) -> pa.Buffer:
    """``data`` copied into a buffer that Arrow's memory pool owns (no Python object behind it)."""
    out = pa.BufferOutputStream()
    out.write(data)
    return out.getvalue()


def reader(data: bytes | bytearray | memoryview) -> pa.BufferReader:
    """A random-access Arrow file over a copy of ``data`` (see :func:`owned`)."""
    return pa.BufferReader(owned(data))


def read_parquet(data: bytes | bytearray | memoryview, **kwargs: Any) -> pa.Table:
    """``pq.read_table`` of Parquet file bytes, safe at interpreter exit."""
    import pyarrow.parquet as pq

    return pq.read_table(reader(data), **kwargs)


def parquet_file(data: bytes | bytearray | memoryview, **kwargs: Any) -> pq.ParquetFile:
    """``pq.ParquetFile`` over Parquet file bytes, safe at interpreter exit."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(reader(data), **kwargs)


def read_json(data: bytes | bytearray | memoryview, **kwargs: Any) -> pa.Table:
    """``pyarrow.json.read_json`` of JSON-lines bytes, safe at interpreter exit (its block reader is threaded)."""
    import pyarrow.json as pj

    return pj.read_json(reader(data), **kwargs)


def open_input(fs: AbstractFileSystem, path: str) -> pa.NativeFile:
    """A random-access Arrow file for ``path`` on an fsspec filesystem.

    Local files are opened natively (memory-mapped: nothing read into Python); on any other
    filesystem the file is read whole and copied into Arrow memory — Parquet needs random
    access, and an fsspec file handed to Arrow would be read through Python on Arrow's threads.
    """
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    if "file" in protocol or "local" in protocol:
        return pa.memory_map(path, "r")
    with fs.open(path, "rb") as f:
        data = f.read()
    return reader(data)

