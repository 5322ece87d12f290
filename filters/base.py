"""Stage interface: small, pure steps over Arrow batches, no I/O inside.

Two kinds of stage exist because two kinds of decision exist:

* :class:`MapStage` decides each document on its own (normalise, length, language,
  quality, PII). It gets a ``pyarrow.RecordBatch`` and returns new/replaced columns plus a
  keep mask with a reason per dropped row.
* :class:`GlobalStage` decides documents relative to each other (exact and near-duplicate
  removal). It has a map side (:meth:`GlobalStage.keys`, per batch, engine-agnostic) and a
  decide side (:meth:`GlobalStage.decide`) that sees the keys of every document. Engines only
  differ in how they move the keys to ``decide`` (in memory, Ray shuffle, Beam GroupByKey).

Stage names are versioned (``name@version``): a changed algorithm gets a new version, so a
manifest that names a stage version means one behaviour.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

DECISION_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("duplicate_of", pa.string()),
        pa.field("cluster_id", pa.string()),
        pa.field("detail", pa.string()),
    ]
)


@dataclass
class StageResult:
    """What a map stage returns for one batch.

    ``columns`` are added to (or replace) the batch's columns for every row; ``keep`` is the
    mask of rows that go on; ``reasons[i]`` names why row ``i`` was dropped (``None`` for kept
    rows); ``details[i]`` is an optional short, PII-free explanation (e.g. detected language).
    """

    keep: np.ndarray
    reasons: list[str | None]
    columns: dict[str, pa.Array] = field(default_factory=dict)
    details: list[str | None] | None = None
    #: Counters summed by the engine per source: ``{source_id: {name: n}}`` (e.g. PII entities
    #: found by type). They land in the manifest under each source's ``stage_counters``.
    counters: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def keep_all(cls, n: int, columns: dict[str, pa.Array] | None = None) -> StageResult:
        return cls(keep=np.ones(n, dtype=bool), reasons=[None] * n, columns=columns or {})


class Stage(ABC):
    """Common part of every stage: name, version, config and lazy set-up."""

    name: ClassVar[str]
    version: ClassVar[int]
    #: Columns this stage adds to documents (kept in the shards, so thresholds can change later).
    output_fields: ClassVar[list[pa.Field]] = []

    def __init__(self, options: dict[str, Any] | None = None, context: StageContext | None = None):
        self.options = options or {}
        self.context = context or StageContext()
        self._ready = False

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    def setup(self) -> None:
        """Load heavy resources (models, engines). Called once per worker, before first use."""

    def ensure_setup(self) -> None:
        if not self._ready:
            self.setup()
            self._ready = True

    def describe(self) -> dict[str, Any]:
        """What goes into the manifest about this stage (name, version, options, artifacts)."""
        return {"name": self.name, "version": self.version, "options": self.options}

    def artifacts(self) -> list[dict[str, Any]]:
        """Model files this stage uses, each ``{name, sha256, ...}`` for the manifest."""
        return []

    def wanted_releases(self) -> tuple[list[str], str | None]:
        """Manifest IDs of earlier releases this stage compares against, and the catalog holding
        them (None: the usual resolution). The runner resolves them into ``context.releases``
        before the run — a stage never reads the catalog itself. Default: none."""
        return [], None

    def release_files(self, out_dir: Path, kept_ids: pa.Array) -> list[dict[str, Any]]:
        """Files this stage adds to the run's output, for the documents finally kept.

        Called once after the run with the ids in the shards; writes under ``out_dir`` and returns
        ``[{path, sha256, bytes, rows}]`` (paths relative to ``out_dir``) for the manifest's
        ``indexes``. Default: none. (``minhash_dedup`` stores its signature index here.)
        """
        return []


class MapStage(Stage):
    @abstractmethod
    def process(self, batch: pa.RecordBatch) -> StageResult: ...


class GlobalStage(Stage):
    @abstractmethod
    def keys(self, batch: pa.RecordBatch) -> pa.Table:
        """Map side: per-document keys (must include ``id`` and ``order``)."""

    @abstractmethod
    def decide(self, keys: Iterable[pa.Table], grouped: Iterable[pa.Table] | None = None) -> pa.Table:
        """Decide side: the drops, as a table with :data:`DECISION_SCHEMA`.

        ``keys`` is streamed (the local engine replays them from a spill file), so a stage that
        needs bounded memory can consume it once, partition to disk and group per partition.
        ``grouped``, when an engine ran the stage's shuffle (:meth:`shuffle_rows` →
        group by ``partition`` → :meth:`reduce_partition`), is what the reduce side returned.
        """

    # An optional shuffle a distributed engine runs with its own primitive (Ray groupby, Beam
    # GroupByKey) instead of the stage grouping on the driver. Stages without one return None.

    #: Key columns only :meth:`shuffle_rows` reads: an engine that ran the shuffle drops them
    #: before shipping keys to the driver (``decide(..., grouped=...)`` ignores them).
    shuffle_only_columns: tuple[str, ...] = ()
    def shuffle_rows(self, keys: pa.Table) -> pa.Table | None:
        """Map side of the shuffle: rows with an integer ``partition`` column; all rows that must
        meet share a partition. Pure; called on workers with the output of :meth:`keys`."""
        return None

    def outside_shuffle_rows(self) -> pa.Table | None:
        """Shuffle rows that do not come from this run's documents (e.g. earlier releases);
        called once on the driver before the shuffle."""
        return None

    def reduce_partition(self, rows: pa.Table) -> pa.Table:
        """Reduce side: every row of one partition → a table for ``decide(..., grouped=...)``."""
        raise NotImplementedError(f"{self.key} has no shuffle")


@dataclass(frozen=True)
class Release:
    """An earlier release, resolved from the catalog by the runner (its files' sha256 checked)."""

    id: str
    indexes: dict[str, str]  # the manifest's ``indexes`` path → URL
    shards: list[str]  # shard URLs


@dataclass
class StageContext:
    """Run-level facts a stage may need; plain data so it pickles to Ray/Beam workers."""

    source_priority: dict[str, int] = field(default_factory=dict)
    source_langs: dict[str, list[str]] = field(default_factory=dict)
    model_dir: str | None = None
    workdir: str | None = None
    memory_budget_bytes: int = 2 << 30
    releases: dict[str, Release] = field(default_factory=dict)  # manifest ID → release (see Stage.wanted_releases)
