"""Numpy arrays as Arrow columns, for code that computes with numpy and hands tables on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_NUMPY_OF = {
    pa.int64(): np.int64, pa.uint64(): np.uint64, pa.uint32(): np.uint32, pa.uint16(): np.uint16, pa.uint8(): np.uint8, pa.float64(): np.float64,
}


def to_arrow(values: np.ndarray, type_: pa.DataType) -> pa.Array:
    """A numeric or boolean numpy array as Arrow; numbers without a copy (``pa.array`` inspects and
    copies the values)."""
    if type_ == pa.bool_():
        bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    values = np.ascontiguousarray(values, dtype=_NUMPY_OF[type_])
    return pa.Array.from_buffers(type_, len(values), [None, pa.py_buffer(values)])


def map_distinct(column: pa.Array | pa.ChunkedArray, fn: Callable[[Any], Any], type_: pa.DataType) -> pa.Array:
    """``fn`` of each row's value as an Arrow array of ``type_``, ``fn`` called once per distinct
    value (null included): a batch's source or domain column holds one or a few values, so no
    Python object per row (``to_pylist`` of 8,192 source ids and a dict look-up each: 1.0 → 0.25
    ms a batch, 2026-12-07)."""
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    distinct = pc.unique(values)
    return pa.array([fn(v) for v in distinct.to_pylist()], type_).take(pc.index_in(values, value_set=distinct))


def strictly_ascending(column: pa.Array | pa.ChunkedArray) -> bool:
    """Whether an integer column strictly ascends (sorting by it changes nothing; the ``order``
    of documents in ingest order)."""
    values = column.to_numpy() if isinstance(column, pa.Array) else column.combine_chunks().to_numpy()
    return bool(values.size < 2 or (values[1:] > values[:-1]).all())
