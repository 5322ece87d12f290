"""The figures of a run report, as plain data computed from the manifest, ledger and shards.

Every figure is derived from what a run already stores, so a report never re-runs a stage:

* the manifest: stage order, effective options (thresholds) and score declarations (which
  columns a stage scores, which options threshold them), per-source stage counters (PII counts
  by type), seconds per stage;
* the ledger: one row per input record with its outcome, the stage and reason that dropped it,
  the score and threshold that decided the drop, its duplicate cluster and its length in
  characters at decision time (``n_chars``);
* the shards' non-text columns: language and score columns of the kept documents.

A section is ``None`` when its data does not exist in this run (e.g. no score column, no
dedup stage), and the HTML report leaves it out. Nothing here reads document text, so no figure
can carry personal data.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INGEST = "ingest@1"
ALL = "(all sources)"

#: Rough characters per token by language, for token estimates (BPE tokenizers of current LLMs;
#: Hangul and CJK text packs fewer characters into a token than Latin-script text).
CHARS_PER_TOKEN: dict[str, float] = {"ko": 1.6, "ja": 1.4, "zh": 1.3}
DEFAULT_CHARS_PER_TOKEN = 4.0

#: Log-spaced bin edges for character and token counts: 4 bins per decade from 1 to 10^8.
LOG_EDGES: list[float] = [round(10 ** (i / 4), 6) for i in range(0, 33)]



#: The documents' language column (DOCUMENT_SCHEMA): the source's hint until a stage that
#: declares it as its ``label`` (a language-ID stage) sets it.
LANG = "lang"


@dataclass
class RunData:
    """What a report is computed from (text never loaded)."""

    manifest: dict[str, Any]
    ledger: pa.Table
    documents: pa.Table  # kept documents, every shard column except ``text``


def stage_order(manifest: dict[str, Any], ledger: pa.Table | None = None) -> list[str]:
    keys = [INGEST, *[s["key"] for s in manifest.get("stages", [])]]
    if ledger is not None and ledger.num_rows:
        extra = sorted({s for s in pc.unique(ledger.column("stage")).to_pylist() if s and s not in keys})
        keys += extra
    return keys


def source_ids(manifest: dict[str, Any]) -> list[str]:
    return [s["id"] for s in manifest.get("sources", []) if s.get("status", "admitted") == "admitted"]


def chars_per_token(lang: str | None) -> float:
    if not lang:
        return DEFAULT_CHARS_PER_TOKEN
    return CHARS_PER_TOKEN.get(lang.split("-")[0].split("_")[0].lower(), DEFAULT_CHARS_PER_TOKEN)


# --------------------------------------------------------------------------------------------
# Waterfall: documents and characters in / dropped / out per stage, per source


def waterfall(run: RunData) -> dict[str, Any]:
    """Per source and for all sources: for each stage, documents in, dropped by reason, out."""
    stages = stage_order(run.manifest, run.ledger)
    sources = source_ids(run.manifest)
    led = run.ledger
    grouped = (
        led.group_by(["source_id", "outcome", "stage", "reason"], use_threads=False)
        .aggregate([("id", "count"), ("n_chars", "sum")])
        .to_pylist()
        if led.num_rows
        else []
    )
    per: dict[str, dict[str, Any]] = {src: _tally() for src in [*sources, ALL]}
    for r in grouped:
        for src in (r["source_id"], ALL):
            if src not in per:  # a source the manifest does not list as admitted: still counted
                per[src] = _tally()
                sources.append(src)
            p = per[src]
            n, chars = r["id_count"], r["n_chars_sum"] or 0
            p["records_in"] += n
            p["chars_in"] += chars
            if r["outcome"] == "kept":
                p["kept"] += n
                p["kept_chars"] += chars
            elif r["outcome"] == "quarantined":
                p["quarantined"] += n
            else:
                p["dropped"][r["stage"] or INGEST][r["reason"] or "unspecified"] += n
                p["dropped_chars"][r["stage"] or INGEST] += chars
    out: dict[str, Any] = {"stages": stages, "sources": {}}
    for src in [*sources, ALL]:
        p = per[src]
        steps = []
        remaining, chars_left = p["records_in"] - p["quarantined"], p["chars_in"]
        for key in stages:
            d = {k: v for k, v in sorted(p["dropped"].get(key, {}).items())}
            n_in, c_in = remaining, chars_left
            remaining -= sum(d.values())
            chars_left -= p["dropped_chars"].get(key, 0)
            step = {"stage": key, "input": n_in, "dropped": d, "dropped_total": sum(d.values()), "output": remaining,
                    "chars_in": c_in, "chars_out": chars_left}
            if key == INGEST:
                step["input"] = p["records_in"]
                step["quarantined"] = p["quarantined"]
            steps.append(step)
        out["sources"][src] = {
            "records_in": p["records_in"],
            "quarantined": p["quarantined"],
            "kept": p["kept"],
            "dropped": p["records_in"] - p["kept"] - p["quarantined"],
            "kept_share": (p["kept"] / p["records_in"]) if p["records_in"] else None,
            "chars_in": p["chars_in"],
            "chars_kept": p["kept_chars"],
            "chars_kept_share": (p["kept_chars"] / p["chars_in"]) if p["chars_in"] else None,
            "steps": steps,
        }
    return out


def _tally() -> dict[str, Any]:
    return {"records_in": 0, "chars_in": 0, "quarantined": 0, "kept": 0, "kept_chars": 0,
            "dropped": defaultdict(lambda: defaultdict(int)), "dropped_chars": defaultdict(int)}


def drop_reasons(run: RunData) -> list[dict[str, Any]]:
    """Every (source, stage, outcome, reason) with its document count, largest first; a map
    stage's notes (the ledger's ``notes``: a mask, a quote kept) count as outcome ``noted`` with
    the note's action as reason."""
    led = run.ledger
    if not led.num_rows:
        return []
    rows = led.filter(pc.not_equal(led.column("outcome"), "kept")).select(["source_id", "stage", "outcome", "reason", "id"])
    if "notes" in led.column_names:  # a ledger written before notes existed has none
        notes = led.column("notes")
        flat = pc.list_flatten(notes)
        if len(flat):
            rows = pa.concat_tables([rows, pa.table({
                "source_id": pc.take(led.column("source_id"), pc.list_parent_indices(notes)),
                "stage": pc.struct_field(flat, "stage"),
                "outcome": pa.array(["noted"] * len(flat), pa.string()),
                "reason": pc.struct_field(flat, "action"),
                "id": pc.take(led.column("id"), pc.list_parent_indices(notes)),
            }, schema=rows.schema)])
    if not rows.num_rows:
        return []
    g = rows.group_by(["source_id", "stage", "outcome", "reason"], use_threads=False).aggregate([("id", "count")])
    out = [
        {"source_id": r["source_id"], "stage": r["stage"] or INGEST, "outcome": r["outcome"],
         "reason": r["reason"] or "unspecified", "documents": r["id_count"]}
        for r in g.to_pylist()
    ]
    return sorted(out, key=lambda r: (-r["documents"], r["source_id"], r["stage"], r["reason"]))


# --------------------------------------------------------------------------------------------
# Length and token-estimate distributions, before (every document) and after (kept)


def _hist(values: np.ndarray, edges: list[float]) -> list[int]:
    clipped = np.clip(values, edges[0], edges[-1] - 1e-9)
    counts, _ = np.histogram(clipped, bins=np.asarray(edges))
    return [int(c) for c in counts]


def _summary(values: np.ndarray) -> dict[str, Any]:
    if values.size == 0:
        return {"documents": 0, "total": 0, "p10": None, "median": None, "p90": None, "max": None}
    q = np.percentile(values, [10, 50, 90])
    return {"documents": int(values.size), "total": int(round(float(values.sum()))), "p10": round(float(q[0]), 1),
            "median": round(float(q[1]), 1), "p90": round(float(q[2]), 1), "max": round(float(values.max()), 1)}


def lengths(run: RunData) -> dict[str, Any] | None:
    """Character and token-estimate histograms per source, before and after the pipeline.

    *Before* is every document that came out of ingest (kept or dropped by a stage), with its
    length when it was decided; *after* is the kept documents. Token estimates divide characters
    by :data:`CHARS_PER_TOKEN` of the document's language (the source's hint for dropped ones).
    """
    led = run.ledger
    if not led.num_rows or "n_chars" not in led.column_names:
        return None
    docs = led.filter(pc.is_valid(led.column("n_chars")))
    if not docs.num_rows:
        return None
    src_lang = {s["id"]: s.get("lang") for s in run.manifest.get("sources", [])}
    # language per document: the kept document's (detected) lang, else its source's hint
    lang = pa.nulls(docs.num_rows, pa.string())
    if "lang" in run.documents.column_names and run.documents.num_rows:
        pos = pc.index_in(docs.column("id"), value_set=run.documents.column("id"))
        lang = run.documents.column("lang").combine_chunks().take(pos)
    hint_keys = pa.array(list(src_lang), pa.string())
    hints = pa.array(list(src_lang.values()), pa.string()).take(pc.index_in(docs.column("source_id"), value_set=hint_keys))
    lang = pc.coalesce(lang, hints, pa.scalar("", pa.string()))
    uniq, inverse = np.unique(np.asarray(lang.to_numpy(zero_copy_only=False), dtype=object).astype(str), return_inverse=True)
    ratio = np.array([chars_per_token(u or None) for u in uniq])[inverse]
    srcs = docs.column("source_id")
    src_arr = np.asarray(srcs.to_numpy(zero_copy_only=False), dtype=object)
    outcome = np.asarray(docs.column("outcome").to_numpy(zero_copy_only=False), dtype=object)
    chars = docs.column("n_chars").to_numpy().astype(np.float64)
    tokens = chars / ratio
    out: dict[str, Any] = {"edges": LOG_EDGES, "chars_per_token": {**CHARS_PER_TOKEN, "other": DEFAULT_CHARS_PER_TOKEN},
                           "chars": {}, "tokens": {}}
    for src in [*sorted(pc.unique(srcs).to_pylist(), key=_source_key(run.manifest)), ALL]:
        sel = np.ones(len(chars), dtype=bool) if src == ALL else (src_arr == src)
        kept = sel & (outcome == "kept")
        for name, values in (("chars", chars), ("tokens", tokens)):
            out[name][src] = {
                "before": _hist(values[sel], LOG_EDGES),
                "after": _hist(values[kept], LOG_EDGES),
                "before_summary": _summary(values[sel]),
                "after_summary": _summary(values[kept]),
            }
    return out


def _source_key(manifest: dict[str, Any]) -> Callable[[str], tuple[int, str]]:
    order = {s: i for i, s in enumerate(source_ids(manifest))}
    return lambda s: (order.get(s, len(order)), s)


# --------------------------------------------------------------------------------------------
# Language mix


@functools.lru_cache(maxsize=64)
def _registered_label(stage_name: str) -> str | None:
    """The ``label`` a registered stage declares (for a manifest written before stages recorded
    it); None for an unknown stage."""
    from filters.registry import stage_class

    try:
        return stage_class(stage_name).label
    except (KeyError, ImportError):
        return None


def declared_label(stage: dict[str, Any]) -> str | None:
    """The categorical column a stage declares as its ``label`` (the ledger's ``label`` of its
    drops): from its manifest entry, else from its registered class."""
    return stage["label"] if "label" in stage else _registered_label(stage["name"])


def language_mix(run: RunData) -> dict[str, Any] | None:
    """Kept documents per source and language (the ``lang`` column: detected when a stage that
    declares ``lang`` as its label ran, else the source's hint), plus what those stages dropped,
    by the language the ledger's ``label`` records."""
    docs = run.documents
    if LANG not in docs.column_names or not docs.num_rows:
        return None
    g = docs.group_by(["source_id", LANG], use_threads=False).aggregate([("id", "count")]).to_pylist()
    kept: dict[str, dict[str, int]] = defaultdict(dict)
    for r in g:
        kept[r["source_id"]][r[LANG] or "unknown"] = r["id_count"]
    lang_stages = [s["key"] for s in run.manifest.get("stages", []) if declared_label(s) == LANG]
    dropped: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    led = run.ledger
    if lang_stages and led.num_rows:
        rows = led.filter(pc.is_in(led.column("stage"), value_set=pa.array(lang_stages)))
        # a ledger written before it had the label column: the languages of drops are unknown
        labels = rows.column("label").to_pylist() if "label" in rows.column_names else [None] * rows.num_rows
        for src, label in zip(rows.column("source_id").to_pylist(), labels, strict=True):
            dropped[src][label or "unknown"] += 1
    key = _source_key(run.manifest)
    return {
        "column": LANG,
        "detected": bool(lang_stages),
        "kept": {s: dict(sorted(kept[s].items(), key=lambda kv: (-kv[1], kv[0]))) for s in sorted(kept, key=key)},
        "dropped": {s: dict(sorted(dropped[s].items(), key=lambda kv: (-kv[1], kv[0]))) for s in sorted(dropped, key=key)},
    }


# --------------------------------------------------------------------------------------------
# Score histograms with the threshold marked


@functools.lru_cache(maxsize=64)
def _registered_scores(stage_name: str) -> tuple[dict[str, Any], ...]:
    """Score declarations of a registered stage (for a manifest written before stages recorded
    them); empty for an unknown stage."""
    from filters.registry import stage_class

    try:
        cls = stage_class(stage_name)
    except (KeyError, ImportError):
        return ()
    return tuple(sc.to_json() for sc in cls.scores)


def declared_scores(stage: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What a stage declares it scores (``{column, thresholds: [{option, drop, reason}], reasons,
    in_documents}``): from its manifest entry, else from its registered class."""
    if not stage:
        return []
    if "scores" in stage:
        return list(stage["scores"])
    return list(_registered_scores(stage["name"]))


def _declaration(stage: dict[str, Any] | None, column: str) -> dict[str, Any] | None:
    return next((sc for sc in declared_scores(stage) if sc["column"] == column), None)


def _dropped_scores(run: RunData, stage: dict[str, Any], column: str) -> np.ndarray:
    """The ledger ``score`` of the stage's drops whose reason its declaration of ``column`` names."""
    decl = _declaration(stage, column)
    led = run.ledger
    if decl is None or not led.num_rows or "score" not in led.column_names:
        return np.array([], dtype=np.float64)
    rows = led.filter(pc.and_(pc.equal(led.column("stage"), stage["key"]), pc.is_valid(led.column("score"))))
    rows = rows.filter(pc.is_in(rows.column("reason"), value_set=pa.array(decl["reasons"], pa.string())))
    values = rows.column("score").to_numpy().astype(np.float64)
    return cast(np.ndarray, values[np.isfinite(values)])


def score_columns(run: RunData) -> list[tuple[str, dict[str, Any] | None]]:
    """Every score a stage of the run declares, with that stage: those held in a numeric document
    column of the shards, and those only the ledger holds (the score of each drop)."""
    out: list[tuple[str, dict[str, Any] | None]] = []
    schema = run.documents.schema
    for stage in run.manifest.get("stages", []):
        for sc in declared_scores(stage):
            col = sc["column"]
            in_docs = sc.get("in_documents", True) and col in schema.names and (
                pa.types.is_floating(schema.field(col).type) or pa.types.is_integer(schema.field(col).type))
            if in_docs or _dropped_scores(run, stage, col).size:
                out.append((col, stage))
    return out


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def thresholds_of(stage: dict[str, Any] | None, column: str) -> list[dict[str, Any]]:
    """Thresholds on ``column``: the options the stage declares for it, with their values from the
    stage's (effective) options; a per-language or per-source option (``{ko: 15, default: 30}``)
    gives one line per key."""
    decl = _declaration(stage, column)
    if stage is None or decl is None:
        return []
    opts = stage.get("options") or {}
    out: list[dict[str, Any]] = []
    for t in decl.get("thresholds", []):
        out += _threshold_values(t["option"], opts.get(t["option"]))
    return out


def _threshold_values(option: str, v: Any) -> list[dict[str, Any]]:
    """One number, or one per scope (language or source: ``{ko: 15, default: 30}``)."""
    if _number(v):
        return [{"option": option, "value": float(v), "scope": None}]
    if isinstance(v, dict):
        return [{"option": option, "value": float(x), "scope": str(k)} for k, x in sorted(v.items()) if _number(x)]
    return []


def scores(run: RunData) -> list[dict[str, Any]]:
    """A histogram per declared score: kept documents (from the shards' column), plus dropped ones
    (the ledger's ``score`` of drops whose reason the declaration names), and the thresholds from
    the stage's options."""
    # scores first, then signals with a threshold, then the rest (each group in stage order)
    cols = sorted(score_columns(run), key=lambda cs: (not cs[0].endswith(("score", "_prob", "_probability")),
                                                     not thresholds_of(cs[1], cs[0])))
    out = []
    for col, stage in cols:
        kept = np.array([], dtype=np.float64)
        if col in run.documents.column_names and (_declaration(stage, col) or {}).get("in_documents", True):
            kept = run.documents.column(col).drop_null().to_numpy().astype(np.float64)
            kept = kept[np.isfinite(kept)]
        dropped = _dropped_scores(run, stage, col) if stage is not None else np.array([], dtype=np.float64)
        both = np.concatenate([kept, dropped])
        if both.size == 0:
            continue
        thresholds = thresholds_of(stage, col)
        lo, hi = float(both.min()), float(both.max())
        if lo >= 0.0 and hi <= 1.0:
            edges = np.round(np.linspace(0.0, 1.0, 41), 9)  # rounded: 0.3 belongs to the bin starting at 0.3
        else:  # open-ended signals (word counts): up to the 99th percentile; the rest piles into the last bin
            hi = float(np.percentile(both, 99))
            # a threshold near the data widens the range to show its line; a far one (max_chars
            # 1,000,000 against documents of a few thousand) would squash every bin into one
            near = [t["value"] for t in thresholds if t["value"] <= 2 * max(hi, 1.0)]
            hi = max([hi, *near])
            edges = np.round(np.linspace(lo, hi if hi > lo else lo + 1.0, 41), 9).astype(np.float64)
        out.append({
            "column": col,
            "stage": stage["key"] if stage else None,
            "thresholds": thresholds,
            "edges": [float(e) for e in edges],
            "kept": [int(c) for c in np.histogram(np.clip(kept, edges[0], edges[-1]), bins=edges)[0]],
            "dropped": [int(c) for c in np.histogram(np.clip(dropped, edges[0], edges[-1]), bins=edges)[0]],
            "kept_summary": _summary(kept),
            "dropped_with_score": int(dropped.size),
        })
    return out


# --------------------------------------------------------------------------------------------
# Duplicate clusters


def duplicate_clusters(run: RunData, largest: int = 15) -> dict[str, Any] | None:
    """Cluster sizes per dedup stage: a cluster is its kept representative plus every document a
    stage dropped naming it (``cluster_id``, else ``duplicate_of``)."""
    led = run.ledger
    if not led.num_rows:
        return None
    rows = led.filter(pc.and_(pc.equal(led.column("outcome"), "dropped"),
                              pc.or_(pc.is_valid(led.column("cluster_id")), pc.is_valid(led.column("duplicate_of")))))
    if not rows.num_rows:
        return None
    cluster = pc.coalesce(rows.column("cluster_id"), rows.column("duplicate_of"))
    t = pa.table({"stage": rows.column("stage"), "cluster": cluster, "source_id": rows.column("source_id"),
                  "n_chars": rows.column("n_chars") if "n_chars" in rows.column_names else pa.nulls(rows.num_rows, pa.int64())})
    out: dict[str, Any] = {"stages": {}}
    for stage in [s for s in stage_order(run.manifest, led) if s in set(t.column("stage").to_pylist())]:
        st = t.filter(pc.equal(t.column("stage"), stage))
        g = st.group_by(["cluster"], use_threads=False).aggregate([("source_id", "count"), ("n_chars", "mean")])
        sizes = np.asarray(g.column("source_id_count").to_pylist()) + 1  # + the kept representative
        dist: defaultdict[int, int] = defaultdict(int)
        for s in sizes.tolist():
            dist[int(s)] += 1
        by_source: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        for c, s in zip(st.column("cluster").to_pylist(), st.column("source_id").to_pylist(), strict=True):
            by_source[c][s] += 1
        order = sorted(range(g.num_rows), key=lambda i: (-int(sizes[i]), g.column("cluster")[i].as_py()))
        top = []
        for i in order[:largest]:
            cid = g.column("cluster")[i].as_py()
            mean = g.column("n_chars_mean")[i].as_py()
            top.append({"cluster_id": cid, "size": int(sizes[i]), "dropped_by_source": dict(sorted(by_source[cid].items())),
                        "mean_chars": round(mean, 1) if mean is not None else None})
        out["stages"][stage] = {
            "clusters": int(g.num_rows),
            "documents_dropped": int(st.num_rows),
            "size_distribution": {str(k): v for k, v in sorted(dist.items())},
            "largest": top,
        }
    return out


# --------------------------------------------------------------------------------------------
# Stage counters (PII entities by type, …) and throughput


def stage_counters(run: RunData) -> dict[str, Any] | None:
    """``{stage: {source: {name: n}}}`` from the manifest; stages whose name mentions PII are
    flagged so the report titles them "PII found by type"."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for s in run.manifest.get("sources", []):
        for stage, names in (s.get("stage_counters") or {}).items():
            out.setdefault(stage, {})[s["id"]] = dict(names)
    if not out:
        return None
    return {stage: {"pii": "pii" in stage.lower(), "by_source": per} for stage, per in sorted(out.items())}


def throughput(run: RunData, wf: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Documents and characters per second of each stage: per CPU second where the manifest has
    them (``run.cpu_seconds_by_stage``; Ray and Beam since session 13), else per wall second (older
    manifests) — wall seconds summed over processes count their waits for a core, so the same code's
    MinHash read 19.6 s in one run and 25.2 in the next for ~10 CPU-s. ``clock`` says which."""
    block = run.manifest.get("run") or {}
    clock = "cpu" if block.get("cpu_seconds_by_stage") else "wall"
    seconds = block.get("cpu_seconds_by_stage") or block.get("seconds_by_stage") or {}
    if not seconds:
        return None
    steps = {s["stage"]: s for s in wf["sources"][ALL]["steps"]}
    out = []
    for key in wf["stages"]:
        if key not in seconds:
            continue
        sec = float(seconds[key])
        st = steps.get(key, {"input": 0, "chars_in": 0})
        n, chars = st["input"], st["chars_in"]
        out.append({
            "stage": key, "seconds": round(sec, 3), "clock": clock, "documents_in": n, "chars_in": chars,
            "documents_per_second": round(n / sec, 1) if sec > 0 else None,
            "mchars_per_second": round(chars / sec / 1e6, 3) if sec > 0 else None,
        })
    return out or None


# --------------------------------------------------------------------------------------------


def compute(run: RunData) -> dict[str, Any]:
    """All figures of the report (JSON-serialisable, deterministic for a given run)."""
    if "n_chars" not in run.ledger.column_names:  # a ledger written before it had n_chars
        run = RunData(run.manifest, run.ledger.append_column("n_chars", pa.nulls(run.ledger.num_rows, pa.int64())), run.documents)
    m = run.manifest
    wf = waterfall(run)
    return {
        "manifest_id": m.get("id"),
        "name": m.get("name"),
        "created_at": m.get("created_at"),
        "totals": m.get("totals"),
        "stages": wf["stages"],
        "sections": {
            "waterfall": wf,
            "drop_reasons": drop_reasons(run),
            "lengths": lengths(run),
            "languages": language_mix(run),
            "scores": scores(run) or None,
            "duplicates": duplicate_clusters(run),
            "counters": stage_counters(run),
            "throughput": throughput(run, wf),
        },
    }
