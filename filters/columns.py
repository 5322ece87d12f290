"""Numpy arrays as Arrow columns, for code that computes with numpy and hands tables on."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

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
