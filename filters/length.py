"""Length limits in characters (configurable)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.base import MapStage, StageResult


class LengthFilter(MapStage):
    name = "length"
    version = 1
    output_fields = [pa.field("n_chars", pa.int64())]

    def process(self, batch: pa.RecordBatch) -> StageResult:
        lengths = pc.utf8_length(batch.column("text")).to_numpy(zero_copy_only=False).astype(np.int64)
        lo = int(self.options.get("min_chars", 1))
        hi = int(self.options.get("max_chars", 1_000_000))
        reasons: list[str | None] = [None] * len(lengths)
        for i in np.flatnonzero(lengths < lo):
            reasons[i] = "too_short"
        for i in np.flatnonzero(lengths > hi):
            reasons[i] = "too_long"
        keep = np.array([r is None for r in reasons], dtype=bool)
        details = [None if r is None else f"{lengths[i]} chars" for i, r in enumerate(reasons)]
        return StageResult(keep=keep, reasons=reasons, columns={"n_chars": pa.array(lengths)}, details=details)
