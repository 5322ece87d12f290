"""Explicit map from config stage names to stage classes (no import-time registration)."""

from __future__ import annotations

from filters.base import Stage
from filters.exact_dedup import ExactDedup
from filters.heuristics import QualityHeuristics
from filters.langid import LanguageID
from filters.length import LengthFilter
from filters.minhash_dedup import MinHashDedup
from filters.normalize import Normalize
from filters.quality_classifier import QualityClassifier, QualityTopFraction
from filters.pii import PresidioScrubber

STAGES: dict[str, type[Stage]] = {
    Normalize.name: Normalize,
    LengthFilter.name: LengthFilter,
    ExactDedup.name: ExactDedup,
    MinHashDedup.name: MinHashDedup,
    LanguageID.name: LanguageID,
    QualityHeuristics.name: QualityHeuristics,
    QualityClassifier.name: QualityClassifier,
    QualityTopFraction.name: QualityTopFraction,
    PresidioScrubber.name: PresidioScrubber,
}


def stage_class(name: str) -> type[Stage]:
    try:
        return STAGES[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; known stages: {', '.join(sorted(STAGES))}") from None
