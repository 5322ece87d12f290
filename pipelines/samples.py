"""The one sampler of dropped documents (audit, report, notebooks): re-read, PII masked, cut short.

Shards hold only kept documents and the ledger holds no text, so a dropped document's text is
read again from its source file through the run's config (the ledger names source, file and
place). A file whose sha256 differs from the manifest's is not shown (it changed since the run).
Every text goes through :func:`manifests.audit.scrub` — the ``pii`` stage's detector, then the
audit's patterns — and is cut to ``max_chars`` before it is returned.

It lives in ``pipelines`` because re-reading needs the plan (config, readers); ``manifests``
gets it handed in (``audit.collect(..., sampler=...)``) and never imports ``pipelines``.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

import pyarrow as pa

from filters.ingest import ingest_file
from manifests.audit import SAMPLE_CHARS, pick_dropped, scrub
from pipelines.execution import file_tasks
from pipelines.runner import prepare


def read_dropped(
    rows: pa.Table, manifest: dict[str, Any], config_path: str | os.PathLike, max_chars: int = SAMPLE_CHARS, mask_pii: bool = True
) -> list[dict[str, Any]]:
    """Ledger rows of dropped documents → one dict per row with its ``text`` (masked, cut; None
    when it cannot be shown) and a ``note`` saying why not."""
    records = rows.to_pylist()
    by_file: dict[tuple[str, str], set[str]] = {}
    for r in records:
        by_file.setdefault((r["source_id"], r["source_file"]), set()).add(r["id"])
    expected_sha = {(s["id"], f["path"]): f.get("sha256") for s in manifest.get("sources", []) for f in s.get("files", [])}
    texts: dict[str, str | None] = {}
    notes: dict[str, str] = {}
    for task in file_tasks(prepare(config_path)) if records else []:
        ids = by_file.get((task.source_id, task.shown))
        if not ids:
            continue
        found: dict[str, str] = {}
        info = None
        for ib in ingest_file(task, 4096):
            for rid, text in zip(ib.documents.column("id").to_pylist(), ib.documents.column("text").to_pylist(), strict=True):
                if rid in ids:
                    found[rid] = text
            info = ib.info or info
        changed = info is not None and expected_sha.get((task.source_id, task.shown)) not in (None, info.sha256)
        for rid in ids:
            if changed:
                texts[rid], notes[rid] = None, "source file changed since the run"
            elif rid in found:
                texts[rid] = found[rid]
            else:
                texts[rid], notes[rid] = None, "record not found in the source file"
    for r in records:
        if r["id"] not in texts:
            texts[r["id"]], notes[r["id"]] = None, "source file not in this config"
    present = {rid: t for rid, t in texts.items() if t is not None}
    if mask_pii:
        shown: dict[str, str] = scrub(present, limit=max_chars)
    else:
        shown = {rid: t if len(t) <= max_chars else t[: max_chars - 1] + "…" for rid, t in present.items()}
    return [
        {
            "stage": r["stage"], "reason": r["reason"], "id": r["id"], "source_id": r["source_id"],
            "source_file": r["source_file"], "source_locator": r["source_locator"], "detail": r.get("detail"),
            "duplicate_of": r.get("duplicate_of"), "n_chars": r.get("n_chars"),
            "score": r.get("score"), "threshold": r.get("threshold"),
            "text": shown.get(r["id"]), "pii_masked": bool(mask_pii), "note": notes.get(r["id"]),
        }
        for r in records
    ]


def sampler(config_path: str | os.PathLike, max_chars: int = SAMPLE_CHARS):
    """What ``manifests.audit.collect(sampler=...)`` takes: ``(rows, manifest) -> documents``."""
    return partial(read_dropped, config_path=config_path, max_chars=max_chars)


def dropped_samples(
    run,
    config_path: str | os.PathLike,
    per_reason: int = 3,
    stage: str | None = None,
    reason: str | None = None,
    max_chars: int = 300,
    mask_pii: bool = True,
) -> list[dict[str, Any]]:
    """The first ``per_reason`` dropped documents of each (stage, reason) of a run (a
    :class:`manifests.report.figures.RunData`), for looking at in a notebook."""
    rows = pick_dropped(run.ledger, per_reason, stage=stage, reason=reason)
    return read_dropped(rows, run.manifest, config_path, max_chars, mask_pii) if rows.num_rows else []
