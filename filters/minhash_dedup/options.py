"""Options of the stage, its drop reasons and the LSH parameters they imply."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from filters.base import StageOptions
from corpusmill_base.errors import ConfigError


REASON = "near_duplicate"
REASON_RELEASED = "duplicate_of_released"
INDEX_PATH = "minhash/index.parquet"


class MinHashOptions(StageOptions):
    """Stage options (config ``- {name: minhash_dedup, threshold: 0.6, …}``)."""

    threshold: float = Field(default=0.6, gt=0, lt=1, description="exact Jaccard of shingle sets at or above which documents are near-duplicates")
    domain_thresholds: dict[str, float] = Field(
        default_factory=lambda: {"legal": 0.85},
        description="stricter (or looser) thresholds by document domain; a pair uses the higher of its two documents'",
    )
    num_perm: int = Field(default=128, ge=16, le=1024)
    seed: int = Field(default=1, ge=0)
    bands: int | None = Field(default=None, ge=1, description="LSH bands; default derived from threshold")
    rows: int | None = Field(default=None, ge=1, description="rows per band; default derived from threshold")
    shingle: Literal["auto", "char", "word"] = "char"
    char_n: int = Field(default=5, ge=1, le=16)
    word_n: int = Field(default=3, ge=1, le=16)
    cjk_ratio: float = Field(default=0.3, ge=0, le=1, description="auto: character shingles when this share of letters is Hangul/CJK/kana")
    verify: Literal["exact", "signature", "none"] = "exact"
    released: list[str] = Field(default_factory=list, description="manifest IDs of earlier releases to deduplicate against")
    catalog: str | None = Field(default=None, description="catalog holding the released manifests (default: the usual resolution)")
    memory_budget_mb: float | None = Field(default=None, gt=0, description="band keys above this spill to partitioned Parquet")
    partitions: int = Field(default=64, ge=1, le=4096, description="band-key partitions; grouping holds about 2 of them in memory at a time")
    write_index: bool = True

    def lsh_params(self) -> tuple[int, int]:
        if self.bands and self.rows:
            if self.bands * self.rows > self.num_perm:
                raise ConfigError(f"minhash_dedup: bands × rows = {self.bands * self.rows} exceeds num_perm {self.num_perm}")
            return self.bands, self.rows
        return lsh_params(min([self.threshold, *self.domain_thresholds.values()]), self.num_perm)

    def threshold_of(self, domains: list[str | None]) -> np.ndarray:
        if not self.domain_thresholds:
            return np.full(len(domains), self.threshold)
        t = self.domain_thresholds
        return np.fromiter((t.get(d, self.threshold) if d is not None else self.threshold for d in domains), np.float64, count=len(domains))

    def shingle_view(self) -> dict[str, Any]:
        """What determines signatures (must match between a run and the releases it is compared with)."""
        return {
            "scheme": "affine32",
            "num_perm": self.num_perm,
            "seed": self.seed,
            "shingle": self.shingle,
            "char_n": self.char_n,
            "word_n": self.word_n,
            "cjk_ratio": self.cjk_ratio,
            "normalisation": "lower+drop-space-punct@1",
        }


def candidate_probability(j: float, bands: int, rows: int) -> float:
    """The LSH S-curve: probability that a pair with Jaccard ``j`` shares at least one band."""
    return 1.0 - (1.0 - j**rows) ** bands


def lsh_params(threshold: float, num_perm: int, recall_at_threshold: float = 0.99) -> tuple[int, int]:
    """Largest ``rows`` (fewest false candidates) whose S-curve still finds pairs at ``threshold``.

    >>> lsh_params(0.6, 128)
    (42, 3)
    """
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if bands < 1:
            break
        if candidate_probability(threshold, bands, rows) >= recall_at_threshold:
            best = (bands, rows)
    return best
