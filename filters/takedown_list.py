"""``takedown_list``: drop documents an earlier takedown removed, in every later run of their source.

A takedown (``corpusmill takedown``) records, per source, the ids and the sha256 of the text of
every document it removed. The runner hands those lists to this stage (a stage never reads the
catalog) and puts it last, where the text is what the shards hold, so a content hash recorded
from a release matches the same document in a re-run — even when a new delivery moved it to
another file (new id, same text). The manifest names every list it honoured.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pyarrow as pa

from pydantic import Field

from filters.analysis import TEXTS, BatchAnalysis
from filters.base import MapStage, StageOptions, StageResult

REASON = "taken_down"


def text_sha256(text: str | None) -> str:
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


class TakedownListOptions(StageOptions):
    lists: list[dict[str, Any]] = Field(
        default_factory=list, description="the catalog's takedown lists: [{source, manifest, reason, ids, sha256}] (set by the runner)"
    )


class TakedownList(MapStage):
    """Options: ``lists``: ``[{source, manifest, reason, ids: [...], sha256: [...]}]``."""

    name = "takedown_list"
    version = 1
    Options = TakedownListOptions
    opts: TakedownListOptions

    def __init__(self, options: dict[str, Any] | None = None, context=None):
        super().__init__(options, context)
        self._ids: dict[str, set[str]] = {}
        self._hashes: dict[str, set[str]] = {}
        for entry in self.opts.lists:
            self._ids.setdefault(entry["source"], set()).update(entry.get("ids", []))
            self._hashes.setdefault(entry["source"], set()).update(entry.get("sha256", []))

    def describe(self) -> dict[str, Any]:
        # The lists can hold a whole source's ids: the manifest names each list and its size.
        lists = [
            {k: e.get(k) for k in ("source", "manifest", "reason", "recorded_at")}
            | {"documents": len(e.get("ids", [])), "list_sha256": e.get("list_sha256")}
            for e in self.opts.lists
        ]
        return {"name": self.name, "version": self.version, "options": {"lists": lists}}

    def process(self, batch: pa.RecordBatch) -> StageResult:
        return self.process_shared(batch, BatchAnalysis())

    def process_shared(self, batch: pa.RecordBatch, shared: BatchAnalysis) -> StageResult:
        ids = batch.column("id").to_pylist()
        sources = batch.column("source_id").to_pylist()
        texts = shared.get(TEXTS, batch)  # the runner puts this stage after pii, which publishes its output
        reasons: list[str | None] = [None] * len(ids)
        details: list[str | None] = [None] * len(ids)
        for i, (doc, src) in enumerate(zip(ids, sources)):
            if src not in self._ids:
                continue
            if doc in self._ids[src]:
                reasons[i], details[i] = REASON, "id on the source's takedown list"
            elif text_sha256(texts[i]) in self._hashes[src]:
                reasons[i], details[i] = REASON, "text sha256 on the source's takedown list"
        keep = np.array([r is None for r in reasons], dtype=bool)
        return StageResult(keep=keep, reasons=reasons, details=details)
