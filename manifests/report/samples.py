"""Samples of dropped documents, per stage and reason, for looking (notebooks) — PII masked.

Shards hold only kept documents and the ledger holds no text, so a dropped document's text is
read again from its source file (the ledger names file and place). The file's sha256 is checked
against the manifest, so a sample is never shown from a file that changed since the run. Before
anything is returned, the text goes through the project's own PII scrubber (the ``pii`` stage)
and is cut to ``max_chars``.
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from manifests.report.figures import RunData


def pick_dropped(run: RunData, per_reason: int = 3, stage: str | None = None, reason: str | None = None) -> pa.Table:
    """The first ``per_reason`` dropped ledger rows (in ingest order) of each (stage, reason)."""
    led = run.ledger
    mask = pc.equal(led.column("outcome"), "dropped")
    if stage:
        mask = pc.and_(mask, pc.equal(led.column("stage"), stage))
    if reason:
        mask = pc.and_(mask, pc.equal(led.column("reason"), reason))
    rows = led.filter(mask).sort_by([("order", "ascending")])
    seen: dict[tuple[str, str], int] = {}
    take = []
    for i, (st, rs) in enumerate(zip(rows.column("stage").to_pylist(), rows.column("reason").to_pylist(), strict=True)):
        k = (st, rs)
        if seen.get(k, 0) < per_reason:
            seen[k] = seen.get(k, 0) + 1
            take.append(i)
    return rows.take(pa.array(take, pa.int64()))


def dropped_samples(
    run: RunData,
    config_path: str | os.PathLike,
    per_reason: int = 3,
    stage: str | None = None,
    reason: str | None = None,
    max_chars: int = 300,
    mask_pii: bool = True,
) -> list[dict[str, Any]]:
    """Dropped documents re-read from their source files, PII masked, one dict per sample.

    ``config_path`` is the run's pipeline config (source paths are relative to it). Samples whose
    file changed since the run (sha256 differs from the manifest) come back with ``text=None``
    and ``note="source file changed since the run"``.
    """
    from filters.ingest import ingest_file
    from pipelines.execution import file_tasks
    from pipelines.runner import prepare

    wanted = pick_dropped(run, per_reason, stage, reason)
    if wanted.num_rows == 0:
        return []
    rows = wanted.to_pylist()
    by_file: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        by_file.setdefault((r["source_id"], r["source_file"]), set()).add(r["id"])
    expected_sha = {(s["id"], f["path"]): f.get("sha256") for s in run.manifest.get("sources", []) for f in s.get("files", [])}
    plan = prepare(config_path)
    texts: dict[str, str | None] = {}
    notes: dict[str, str] = {}
    for task in file_tasks(plan):
        ids = by_file.get((task.source_id, task.rel))
        if not ids:
            continue
        found: dict[str, str] = {}
        info = None
        for ib in ingest_file(task, 4096):
            for rid, text in zip(ib.documents.column("id").to_pylist(), ib.documents.column("text").to_pylist(), strict=True):
                if rid in ids:
                    found[rid] = text
            info = ib.info or info
        changed = info is not None and expected_sha.get((task.source_id, task.rel)) not in (None, info.sha256)
        for rid in ids:
            if changed:
                texts[rid], notes[rid] = None, "source file changed since the run"
            elif rid in found:
                texts[rid] = found[rid]
            else:
                texts[rid], notes[rid] = None, "record not found in the source file"
    for r in rows:
        if r["id"] not in texts:
            texts[r["id"]], notes[r["id"]] = None, "source file not in this config"
    present = [r for r in rows if texts.get(r["id"]) is not None]
    if mask_pii and present:
        masked = _mask([texts[r["id"]] for r in present], [r["source_id"] for r in present],
                       [_lang(run, r["source_id"]) for r in present])
        for r, t in zip(present, masked, strict=True):
            texts[r["id"]] = t
    out = []
    for r in rows:
        t = texts.get(r["id"])
        out.append({
            "stage": r["stage"], "reason": r["reason"], "id": r["id"], "source_id": r["source_id"],
            "source_file": r["source_file"], "source_locator": r["source_locator"], "detail": r["detail"],
            "duplicate_of": r["duplicate_of"], "n_chars": r.get("n_chars"),
            "text": None if t is None else (t if len(t) <= max_chars else t[:max_chars] + "…"),
            "pii_masked": bool(mask_pii), "note": notes.get(r["id"]),
        })
    return out


def _lang(run: RunData, source_id: str) -> str | None:
    for s in run.manifest.get("sources", []):
        if s["id"] == source_id:
            return s.get("lang")
    return None


def _mask(texts: list[str], sources: list[str], langs: list[str | None]) -> list[str]:
    """The project's PII stage, run on the samples only (placeholders such as ``<PHONE_NUMBER>``)."""
    from filters.registry import stage_class

    scrubber = stage_class("pii")({"lang": "auto"})
    scrubber.ensure_setup()
    batch = pa.RecordBatch.from_pydict({"text": texts, "source_id": sources, "lang": langs},
                                       schema=pa.schema([("text", pa.string()), ("source_id", pa.string()), ("lang", pa.string())]))
    return scrubber.process(batch).columns["text"].to_pylist()
