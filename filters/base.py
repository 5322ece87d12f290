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

Every stage declares its options as one pydantic model (:class:`StageOptions`, unknown keys
refused) in ``Options``: the config is validated against it when it is loaded, and the manifest
records the *effective* options (defaults filled in). A stage that scores declares its score
columns and the options holding their thresholds in ``scores`` (:class:`Score`); for each drop
it reports the score and the threshold that decided it, which the ledger stores as columns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from corpusmill_base.errors import ConfigError
from corpusmill_base.numbers import refuse_out_of_range
from filters.analysis import BatchAnalysis

DECISION_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("duplicate_of", pa.string()),
        pa.field("cluster_id", pa.string()),
        pa.field("detail", pa.string()),
        # The score that decided the drop and the threshold it was compared with (null when the
        # drop was not a threshold decision, e.g. an exact duplicate).
        pa.field("score", pa.float64()),
        pa.field("threshold", pa.float64()),
    ]
)


def decision_table(columns: Mapping[str, Any]) -> pa.Table:
    """A :data:`DECISION_SCHEMA` table from the columns given (``id`` and ``reason`` at least);
    the columns left out are nulls."""
    n = len(columns["id"])
    return pa.table(
        {f.name: columns[f.name] if f.name in columns else pa.nulls(n, f.type) for f in DECISION_SCHEMA},
        schema=DECISION_SCHEMA,
    )


class StageOptions(BaseModel):
    """Base of every stage's options model: typed, frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _numbers_in_range(cls, data: Any) -> Any:
        return refuse_out_of_range(data)

    def named_sources(self) -> dict[str, list[str]]:
        """Option → the source ids it names, for options declared with
        ``Field(json_schema_extra=NAMES_SOURCES)`` (a mapping keyed by source id). The config
        checks them against its sources, so a misspelt id is an error, not a silent no-op."""
        out: dict[str, list[str]] = {}
        for name, spec in type(self).model_fields.items():
            extra = spec.json_schema_extra
            if isinstance(extra, dict) and extra.get("names_sources"):
                value = getattr(self, name)
                out[name] = sorted(value) if isinstance(value, Mapping) else []
        return out


NAMES_SOURCES: dict[str, Any] = {"names_sources": True}

@dataclass(frozen=True)
class Threshold:
    """An option whose value decides drops on a score: a number, or ``{scope: number}`` (scope =
    language or source id, ``default`` for the rest); a drop gets ``reason``."""

    option: str
    drop: Literal["below", "above"]
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"option": self.option, "drop": self.drop, "reason": self.reason}


@dataclass(frozen=True)
class Score:
    """A score a stage computes: a document column (``in_documents``) the stage writes, the
    thresholds that decide drops on it, and further ``reasons`` whose ledger rows carry it."""

    column: str
    thresholds: tuple[Threshold, ...] = ()
    reasons: tuple[str, ...] = ()
    in_documents: bool = True

    @property
    def all_reasons(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*(t.reason for t in self.thresholds), *self.reasons]))

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "thresholds": [t.to_json() for t in self.thresholds],
            "reasons": list(self.all_reasons),
            "in_documents": self.in_documents,
        }


def options_error(stage: str, model: type[StageOptions], err: ValidationError) -> ConfigError:
    """One line naming the stage and each bad key (the config loader adds the file)."""
    parts = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(options)"
        if e["type"] == "extra_forbidden":
            known = ", ".join(sorted(model.model_fields)) or "none"
            parts.append(f"unknown option {key!r} (known: {known})")
        elif not e["loc"]:  # a check across options (the model's own validator)
            parts.append(e["msg"].removeprefix("Value error, "))
        else:
            got = e.get("input")
            shown = f" (got {got!r})" if got is not None and not isinstance(got, dict | list) else ""
            parts.append(f"option {key!r}: {e['msg']}{shown}")
    return ConfigError(f"stage {stage}: " + "; ".join(parts))


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
    #: Per row, the score that decided a drop and the threshold it was compared with (float64,
    #: NaN where none); the ledger's ``score`` and ``threshold`` columns of dropped rows.
    scores: np.ndarray | None = None
    thresholds: np.ndarray | None = None
    #: Per row, what the stage did to a row it keeps — ``(action, detail)``, e.g. decontaminate's
    #: ``("mask", "kmmlu item=[45] item=0.31 q=1.00 a=0.00")`` — or ``None``. The core writes each
    #: into the ``notes`` of the record's ledger row; detail is short and PII-free like ``details``.
    notes: list[tuple[str, str | None] | None] | None = None

    @classmethod
    def keep_all(cls, n: int, columns: dict[str, pa.Array] | None = None) -> StageResult:
        return cls(keep=np.ones(n, dtype=bool), reasons=[None] * n, columns=columns or {})


class Stage(ABC):
    """Common part of every stage: name, version, config and lazy set-up."""

    name: ClassVar[str]
    version: ClassVar[int]
    #: Columns this stage adds to documents (kept in the shards, so thresholds can change later).
    output_fields: ClassVar[list[pa.Field]] = []
    #: The stage's options model; the base accepts none.
    Options: ClassVar[type[StageOptions]] = StageOptions
    #: The scores this stage writes and the options holding their thresholds.
    scores: ClassVar[tuple[Score, ...]] = ()
    #: A categorical column of :attr:`output_fields` (e.g. langid's ``lang``) whose value the
    #: ledger keeps, in its ``label`` column, for each document this stage drops.
    label: ClassVar[str | None] = None

    def __init__(self, options: Mapping[str, Any] | StageOptions | None = None, context: StageContext | None = None):
        self.opts = self.parse_options(options)
        self.context = context or StageContext()
        self._ready = False

    @classmethod
    def parse_options(cls, options: Mapping[str, Any] | StageOptions | None) -> StageOptions:
        """Validate options against :attr:`Options`; a :class:`ConfigError` names the stage and key."""
        if isinstance(options, cls.Options):
            return options
        try:
            return cls.Options.model_validate(dict(options or {}))
        except ValidationError as e:
            raise options_error(cls.name, cls.Options, e) from None

    @property
    def options(self) -> dict[str, Any]:
        """The effective options (defaults filled in), as the manifest records them."""
        return self.opts.model_dump(mode="json")

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
        d: dict[str, Any] = {"name": self.name, "version": self.version, "options": self.options}
        if self.scores:
            d["scores"] = [sc.to_json() for sc in self.scores]
        if self.label:
            d["label"] = self.label
        return d

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

    def process_shared(self, batch: pa.RecordBatch, shared: BatchAnalysis) -> StageResult:
        """:meth:`process` with the analyses of the batch that the segment's stages share
        (:mod:`filters.analysis`); the execution core calls this. A stage that reads a shared
        analysis overrides it, and its ``process`` calls it with a fresh :class:`BatchAnalysis`
        (computing alone); the default ignores ``shared``."""
        return self.process(batch)


class GlobalStage(Stage):
    @abstractmethod
    def keys(self, batch: pa.RecordBatch) -> pa.Table:
        """Map side: per-document keys (must include ``id`` and ``order``)."""

    def keys_shared(self, batch: pa.RecordBatch, shared: BatchAnalysis) -> pa.Table:
        """:meth:`keys` with the analyses the segment's map stages shared on this batch (an engine
        that runs the keys right after the chain hands them on); the default ignores them."""
        return self.keys(batch)

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
    #: Evaluation sets for ``decontaminate`` (plain dicts: id, resolved files, read options, fields).
    benchmarks: list[dict[str, Any]] = field(default_factory=list)
    releases: dict[str, Release] = field(default_factory=dict)  # manifest ID → release (see Stage.wanted_releases)
    #: Bytes of input the run's plan reads (0: not known). Lets a stage load, in ``setup()``, a
    #: speed-up that costs more than it saves on small inputs (minhash_dedup's compiled kernels).
    input_bytes: int = 0
