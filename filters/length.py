"""Length limits in characters (configurable)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from filters.base import MapStage, Score, StageOptions, StageResult, Threshold


class LengthOptions(StageOptions):
    min_chars: int = Field(default=1, ge=0, description="drop documents shorter than this (too_short)")
    max_chars: int = Field(default=1_000_000, gt=0, description="drop documents longer than this (too_long)")

    @model_validator(mode="after")
    def _a_range(self) -> LengthOptions:
        # min_chars above max_chars dropped every document of the run (session 13: a typo, 10 for 10000)
        if self.min_chars > self.max_chars:
            raise ValueError(f"min_chars ({self.min_chars}) is above max_chars ({self.max_chars}): every document would be dropped")
        return self


class LengthFilter(MapStage):
    name = "length"
    version = 1
    output_fields = [pa.field("n_chars", pa.int64())]
    Options = LengthOptions
    opts: LengthOptions
    scores = (
        Score("n_chars", (Threshold("min_chars", "below", "too_short"), Threshold("max_chars", "above", "too_long"))),
    )

    def process(self, batch: pa.RecordBatch) -> StageResult:
        lengths = pc.utf8_length(batch.column("text")).to_numpy(zero_copy_only=False).astype(np.int64)
        lo, hi = self.opts.min_chars, self.opts.max_chars
        reasons: list[str | None] = [None] * len(lengths)
        thresholds = np.full(len(lengths), np.nan)
        for i in np.flatnonzero(lengths < lo):
            reasons[i], thresholds[i] = "too_short", lo
        for i in np.flatnonzero(lengths > hi):
            reasons[i], thresholds[i] = "too_long", hi
        keep = np.array([r is None for r in reasons], dtype=bool)
        scores = np.where(keep, np.nan, lengths.astype(np.float64))
        return StageResult(
            keep=keep, reasons=reasons, columns={"n_chars": pa.array(lengths)}, scores=scores, thresholds=thresholds
        )
