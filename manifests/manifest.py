"""The provenance manifest: plain data, content-addressed.

The manifest ID is ``cm-`` + the first 16 hex digits of the sha256 of the canonical JSON of the
manifest's *content*: everything except the fields that legitimately differ between identical
runs (``id``, ``created_at`` and the ``run`` block with engine, workers and timings). The same
inputs and config therefore always give the same ID, on any engine.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

import pyarrow as pa

from corpusmill_base.hashing import canonical_json as canonical_json  # re-exported: signing, review, tests

VOLATILE_FIELDS = ("id", "content_digest", "created_at", "run")
SCHEMA_VERSION = "1.0"


def megatron_files(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """A derived manifest's Megatron files (tokenizer files, then ``.bin``/``.idx`` per dataset; see
    manifests.derived); empty for a curated manifest."""
    meg = manifest.get("megatron", {})
    out = [*meg.get("tokenizer_files", [])]
    for d in meg.get("datasets", []):
        out += [d["bin"], d["idx"]]
    return out


def content_of(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in manifest.items() if k not in VOLATILE_FIELDS}


def content_digest(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content_of(manifest)).encode("utf-8")).hexdigest()


def manifest_id(manifest: dict[str, Any]) -> str:
    return "cm-" + content_digest(manifest)[:16]


def seal(manifest: dict[str, Any]) -> dict[str, Any]:
    """Set ``id`` and ``content_digest`` from the content (returns a new dict, id first)."""
    digest = content_digest(manifest)
    out = {"id": "cm-" + digest[:16], "content_digest": "sha256:" + digest}
    out.update({k: v for k, v in manifest.items() if k not in ("id", "content_digest")})
    return out


def check_id(manifest: dict[str, Any]) -> None:
    """Raise ValueError when the manifest's id does not match its content."""
    expected = manifest_id(manifest)
    if manifest.get("id") != expected:
        raise ValueError(f"manifest id {manifest.get('id')!r} does not match its content (expected {expected})")


#: What the manifest's counts are grouped by (:func:`ledger_counts`).
COUNT_KEYS = ["source_id", "outcome", "stage", "reason"]


def ledger_counts(ledger: pa.Table) -> pa.Table:
    """A ledger's rows counted by :data:`COUNT_KEYS` (column ``id_count``): every count of the
    manifest comes from this table, so an engine can count a ledger as it writes it, window by
    window (summing the windows' tables), without holding or reading the whole ledger."""
    return ledger.group_by(COUNT_KEYS, use_threads=False).aggregate([("id", "count")])


def counts_from_ledger(ledger: pa.Table) -> dict[str, dict[str, Any]]:
    """Per-source counts, derived only from the ledger (so they reconcile by construction)."""
    return source_counts(ledger_counts(ledger))


def source_counts(grouped: pa.Table) -> dict[str, dict[str, Any]]:
    """:func:`counts_from_ledger` from the ledger's :func:`ledger_counts`."""
    per: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"records_in": 0, "kept": 0, "dropped": 0, "quarantined": 0, "dropped_by": {}, "quarantined_by": {}}
    )
    if grouped.num_rows == 0:
        return {}
    for row in sorted(grouped.to_pylist(), key=lambda r: tuple(str(r[k]) for k in COUNT_KEYS)):
        c = per[row["source_id"]]
        n = row["id_count"]
        c["records_in"] += n
        c[row["outcome"]] += n
        if row["outcome"] == "dropped":
            c["dropped_by"].setdefault(row["stage"], {})[row["reason"]] = n
        elif row["outcome"] == "quarantined":
            c["quarantined_by"][row["reason"] or "unreadable_record"] = c["quarantined_by"].get(row["reason"] or "unreadable_record", 0) + n
    for c in per.values():
        assert c["records_in"] == c["kept"] + c["dropped"] + c["quarantined"]
    return dict(per)


def stage_stats(stage_keys: list[str], ledger: pa.Table) -> list[dict[str, Any]]:
    """Documents in / dropped by reason / out for each stage, in pipeline order (from the ledger)."""
    return stage_stats_from_counts(stage_keys, ledger_counts(ledger))


def stage_stats_from_counts(stage_keys: list[str], grouped: pa.Table) -> list[dict[str, Any]]:
    """:func:`stage_stats` from the ledger's :func:`ledger_counts`."""
    dropped: dict[str, dict[str, int]] = defaultdict(dict)
    quarantined = 0
    total = 0
    for r in grouped.to_pylist():
        total += r["id_count"]
        if r["outcome"] == "dropped":
            dropped[r["stage"]][r["reason"]] = dropped[r["stage"]].get(r["reason"], 0) + r["id_count"]
        elif r["outcome"] == "quarantined":
            quarantined += r["id_count"]
    out = []
    remaining = total - quarantined
    for key in ["ingest@1", *stage_keys]:
        d = dict(sorted(dropped.get(key, {}).items()))
        n_in = remaining
        remaining -= sum(d.values())
        entry = {"stage": key, "input": n_in, "dropped": d, "output": remaining}
        if key == "ingest@1":
            entry = {"stage": key, "input": total, "quarantined": quarantined, "dropped": d, "output": remaining}
        out.append(entry)
    return out
