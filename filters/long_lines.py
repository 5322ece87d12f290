"""Drop documents with a line longer than a limit: minified code, base64 blobs, tables flattened
into one line. The longest line's length is kept as ``max_line_chars``, so the limit can change
later without re-running the stage."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import Field

from filters.base import MapStage, Score, StageOptions, StageResult, Threshold


class LongLinesOptions(StageOptions):
    max_line_chars: int = Field(default=20_000, gt=0, description="drop documents with a longer line (line_too_long)")


class LongLines(MapStage):
    name = "long_lines"
    version = 1
    output_fields = [pa.field("max_line_chars", pa.int64())]
    Options = LongLinesOptions
    opts: LongLinesOptions
    scores = (Score("max_line_chars", (Threshold("max_line_chars", "above", "line_too_long"),)),)

    def process(self, batch: pa.RecordBatch) -> StageResult:
        longest = np.array([max(map(len, t.split("\n"))) for t in batch.column("text").to_pylist()], dtype=np.int64)
        keep = longest <= self.opts.max_line_chars
        return StageResult(
            keep=keep,
            reasons=[None if k else "line_too_long" for k in keep],
            columns={"max_line_chars": pa.array(longest)},
            scores=np.where(keep, np.nan, longest.astype(np.float64)),
            thresholds=np.where(keep, np.nan, float(self.opts.max_line_chars)),
        )
