"""Explicit map from config stage names to stage classes (no import-time registration).

Entries are ``"module:Class"`` strings, imported on first use: validating a config or running
a pipeline that does not use Presidio or datatrove does not pay for importing them.
"""

from __future__ import annotations

import importlib

from filters.base import Stage

STAGES: dict[str, str] = {
    "normalize": "filters.normalize:Normalize",
    "length": "filters.length:LengthFilter",
    "long_lines": "filters.long_lines:LongLines",
    "exact_dedup": "filters.exact_dedup:ExactDedup",
    "minhash_dedup": "filters.minhash_dedup:MinHashDedup",
    "langid": "filters.langid:LanguageID",
    "quality_heuristics": "filters.heuristics:QualityHeuristics",
    "quality_classifier": "filters.quality_classifier:QualityClassifier",
    "quality_top_fraction": "filters.quality_classifier:QualityTopFraction",
    "pii": "filters.pii:PresidioScrubber",
    "decontaminate": "filters.decontaminate:Decontaminate",
    "takedown_list": "filters.takedown_list:TakedownList",  # added by the runner from the catalog's takedown lists
}


def stage_class(name: str) -> type[Stage]:
    try:
        target = STAGES[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; known stages: {', '.join(sorted(STAGES))}") from None
    module, _, cls_name = target.partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    if cls.name != name:  # the map and the class must agree, or manifests would name the wrong stage
        raise RuntimeError(f"registry entry {name!r} points at {target} whose name is {cls.name!r}")
    return cls
