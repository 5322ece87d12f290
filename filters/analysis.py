"""Analyses of a batch's texts shared by the map stages of one segment (never written to shards).

Several stages look at the same text of the same batch: the language ID, the quality heuristics,
the quality classifier and the PII scrubber each turned the Arrow ``text`` column into Python
strings, decontaminate did it twice, and exact dedup's keys converted back what normalize had just
built. A :class:`BatchAnalysis` holds such analyses for one batch while it goes through a
segment's map stages (:class:`pipelines.execution.MapChain`) and, on the local engine, the
segment's keys step: a stage asks for a named :class:`Analysis` with :meth:`BatchAnalysis.get`;
the first request computes it from the batch's texts, later stages of the same segment on the
same batch get the same value. It lives as long as one batch's trip through one segment — never
across batches, segments or processes (it pickles empty) — so its memory is bounded by the batch,
and nothing in it reaches a shard, the ledger or the manifest. Which analyses a run computes and
what sharing them saves (little: the costly ones are each used by one stage):
docs/performance.md, "Analysis shared between stages".

Rows and text change on the way, and the core (:func:`pipelines.execution.apply_map_stage`) keeps
the values true to the batch the next stage sees:

* a stage that **drops rows** — every value is re-indexed to the surviving rows, lazily, on the
  next request (a value nobody asks for again is never re-indexed);
* a stage that **replaces the text** (``text`` among its result's columns: normalize,
  decontaminate, pii) — every value is forgotten, except those the stage :meth:`publishes
  <BatchAnalysis.publish>` for its new text (normalize, decontaminate and pii hand on the strings
  they built).

A stage without a shared analysis (run on its own, in ``corpusmill quality``, a test, an engine
that does not share) computes what it needs itself, through the same :class:`Analysis`, so the
result is the same value either way: :func:`analysis_of` gives such a stage a private one.

>>> import pyarrow as pa
>>> batch = pa.record_batch({"text": ["a b", "c", "d e f"]})
>>> shared = BatchAnalysis()
>>> shared.get(TEXTS, batch)
['a b', 'c', 'd e f']
>>> shared.stage_done(3, text_replaced=False, keep=np.array([True, False, True]))  # a stage dropped "c"
>>> shared.get(TEXTS, batch.filter(pa.array([True, False, True])))
['a b', 'd e f']
>>> shared.computed  # computed once, re-indexed after the drop
{'texts': 1}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import pyarrow as pa

T = TypeVar("T")


@dataclass(frozen=True)
class Analysis(Generic[T]):
    """A named analysis of a batch: how to compute it from the batch, how to keep some of its rows.

    ``compute(batch, shared)`` gets the batch and the :class:`BatchAnalysis` it is cached in (an
    analysis may be built from another, e.g. from :data:`TEXTS`); ``take(value, rows)`` returns
    the value for the rows at the positions ``rows`` (sorted int64 indices). Values are shared,
    so a stage must not modify one it was given.
    """

    name: str
    compute: Callable[[pa.RecordBatch, BatchAnalysis], T]
    take: Callable[[T, np.ndarray], T]


def _take_list(values: list[Any], rows: np.ndarray) -> list[Any]:
    return [values[i] for i in rows.tolist()]


def _texts(batch: pa.RecordBatch, shared: BatchAnalysis) -> list[str]:
    return batch.column("text").to_pylist()


#: The ``text`` column as Python strings (read-only: stages share the list). ``to_pylist`` costs
#: ~0.1 µs per character plus ~0.1 µs per document, once per stage that reads the text.
TEXTS: Analysis[list[str]] = Analysis("texts", _texts, _take_list)


@dataclass
class _Entry:
    value: Any
    rows: np.ndarray  # positions of the rows it holds, in the batch as it was when the text was last replaced


class BatchAnalysis:
    """The analyses of one batch, shared by the map stages that see it in turn (see the module)."""

    def __init__(self) -> None:
        #: How many times each analysis was computed (tests and benchmarks read it; in no output).
        self.computed: dict[str, int] = {}
        self._entries: dict[str, _Entry] = {}
        self._published: dict[str, Any] = {}
        # Positions of the current rows in the batch as it was when the text was last replaced;
        # None until first needed (then every row). Replaced, never modified, when rows drop.
        self._rows: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"fresh": True}  # never carried to another process: it arrives empty and recomputes

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    def get(self, analysis: Analysis[T], batch: pa.RecordBatch) -> T:
        """``analysis`` of ``batch`` — the batch the current stage was given — computed on first request."""
        now = self._current(batch.num_rows)
        if len(now) != batch.num_rows:
            raise RuntimeError(f"shared analysis: the batch has {batch.num_rows} rows, {len(now)} expected (a drop the core did not report)")
        entry = self._entries.get(analysis.name)
        if entry is None:
            value = analysis.compute(batch, self)
            self.computed[analysis.name] = self.computed.get(analysis.name, 0) + 1
            self._entries[analysis.name] = _Entry(value, now)
            return value
        if entry.rows is not now:
            # Rows were dropped since it was computed: keep the survivors' values.
            entry.value = analysis.take(entry.value, np.searchsorted(entry.rows, now))
            entry.rows = now
        return entry.value

    def publish(self, analysis: Analysis[T], value: T) -> None:
        """Called by a stage that replaces the text: ``value`` is ``analysis`` of the text it returns
        (one entry per row it was given, dropped rows included). It survives the replacement;
        published by a stage that does not replace the text, it is ignored."""
        self._published[analysis.name] = value

    # -- called by the execution core after each stage --

    def stage_done(self, rows: int, text_replaced: bool, keep: np.ndarray | None = None) -> None:
        """The stage just run was given ``rows`` rows; it replaced the text or not, and kept the
        rows where ``keep`` is true (None: all). A replaced text makes every analysis stale but
        what the stage published."""
        if text_replaced:
            base = np.arange(rows, dtype=np.int64)
            self._entries = {name: _Entry(value, base) for name, value in self._published.items()}
            self._rows = base
        self._published = {}
        if keep is None:
            return
        keep = np.asarray(keep, dtype=bool)
        if len(keep) != rows:
            raise RuntimeError(f"keep mask of {len(keep)} rows for a batch of {rows}")
        if not keep.all():
            self._rows = self._current(rows)[keep]

    def _current(self, n: int) -> np.ndarray:
        if self._rows is None:
            self._rows = np.arange(n, dtype=np.int64)
        return self._rows


def analysis_of(shared: BatchAnalysis | None) -> BatchAnalysis:
    """The shared analysis a stage was given, or a private one (a stage run on its own)."""
    return shared if shared is not None else BatchAnalysis()
