"""Numbers a config may hold: every integer fits a signed 64-bit column, every float is finite.

A config value reaches Arrow columns (``priority`` in the keep rule), integer conversions (the
shard size in bytes) and canonical JSON (the config digest, the manifest's options). There an
integer past 64 bits raises ``OverflowError`` deep in pyarrow, ``inf`` fails ``int()``, and
``NaN``/``Infinity`` are not JSON. So both option bases (:class:`pipelines.config._Strict`,
:class:`filters.base.StageOptions`) refuse them at load, with the key's path.

>>> out_of_range({"sources": [{"priority": 2**63}]})
'sources[0].priority'
>>> out_of_range({"threshold": {"ko": float("inf")}})
'threshold.ko'
>>> out_of_range({"min_chars": 2, "x": [1.5, True]}) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def out_of_range(value: Any, path: str = "") -> str | None:
    """The path of the first integer outside int64 or non-finite float in ``value``, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return path or "value" if not INT64_MIN <= value <= INT64_MAX else None
    if isinstance(value, float):
        return path or "value" if not math.isfinite(value) else None
    if isinstance(value, Mapping):
        for k, v in value.items():
            bad = out_of_range(v, f"{path}.{k}" if path else str(k))
            if bad:
                return bad
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            bad = out_of_range(v, f"{path}[{i}]")
            if bad:
                return bad
    return None


def refuse_out_of_range(data: Any) -> Any:
    """A pydantic ``mode="before"`` check: ``data`` unchanged, or ``ValueError`` naming the key."""
    bad = out_of_range(data)
    if bad:
        raise ValueError(f"{bad}: numbers must be finite and integers within ±2**63 (signed 64-bit)")
    return data
