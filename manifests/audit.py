"""The audit: everything a legal reviewer needs about one manifest, as plain data.

:func:`collect` gathers it from the manifest, its ledger, its signature and review records and
its lineage; :mod:`manifests.audit_html` renders it as one self-contained HTML file, and
:func:`to_csv` flattens it. No document text appears except the optional sample of dropped
documents, which is masked (:func:`mask_personal_data`) and cut short.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from manifests import review
from manifests.catalog import Catalog

SAMPLE_CHARS = 240
PII_STAGE_HINTS = ("pii", "scrub", "presidio", "anonym")

# Structured identifiers are masked by pattern (order matters: longest, most specific first).
_MASKS: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("URL", re.compile(r"https?://\S+|www\.\S+")),
    ("ID_NUMBER", re.compile(r"\b\d{6}\s?-\s?[1-8]\d{6}\b")),  # KR resident/foreigner registration numbers
    ("CARD", re.compile(r"\b\d{4}[- ]\d{4}[- ]\d{4}[- ]\d{1,4}\b")),
    ("PHONE", re.compile(r"(?:\+\d{1,3}[ -]?)?\(?\d{2,4}\)?[ .-]\d{3,4}[ .-]\d{4}\b")),
    ("NUMBER", re.compile(r"\d[\d -]{5,}\d")),  # any other long digit run (accounts, licences, passports)
    # Korean full names followed by an honorific or role (홍길동 씨, 김철수 의사), and
    # capitalised English first + last name pairs after a title.
    ("NAME", re.compile(r"[가-힣]{2,4}(?=\s?(?:씨|님|의사|선생님|교수|변호사|기자|원장))")),
    ("NAME", re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Prof)\.?\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?")),
]


def mask_personal_data(text: str, limit: int = SAMPLE_CHARS) -> str:
    """Mask e-mails, URLs, ID/card/phone/long numbers and titled names; cut to ``limit`` characters.

    >>> mask_personal_data("call 010-1234-5678 or mail kim@example.com, Dr. Smith")
    'call [PHONE] or mail [EMAIL], [NAME]'
    """
    out = text
    for label, pattern in _MASKS:
        out = pattern.sub(f"[{label}]", out)
    out = " ".join(out.split())
    return out if len(out) <= limit else out[: limit - 1] + "…"


def scrub(texts: dict[str, str]) -> dict[str, str]:
    """Mask personal data in sample texts: the ``pii`` stage's detector, then the patterns above."""
    if not texts:
        return {}
    from filters.registry import stage_class

    scrubber = stage_class("pii")({"default_operator": "placeholder"})
    ids = sorted(texts)
    raw = [texts[i] for i in ids]
    from filters.pii import guess_language

    spans = scrubber.detect(raw, [guess_language(t) for t in raw])
    return {i: mask_personal_data(scrubber.anonymize(t, sp)) for i, t, sp in zip(ids, raw, spans)}


def _ledger(cat: Catalog, mid: str, manifest: dict[str, Any]) -> pa.Table:
    with cat.fs.open(cat.data_path(mid, manifest["ledger"]["path"]), "rb") as f:
        return pq.read_table(f)


def _pii_stages(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in manifest.get("stages", []) if any(h in s["name"].lower() for h in PII_STAGE_HINTS)]


def near_duplicates(ledger: pa.Table, limit: int = 50) -> dict[str, Any]:
    """Duplicate clusters from the ledger, and which of them span more than one source."""
    dups = ledger.filter(pc.is_valid(ledger.column("duplicate_of")))
    if dups.num_rows == 0:
        return {"clusters": 0, "cross_source_clusters": 0, "pairs": [], "top": []}
    source_of = dict(zip(ledger.column("id").to_pylist(), ledger.column("source_id").to_pylist()))
    members: dict[str, set[str]] = defaultdict(set)
    stage_of: dict[str, str] = {}
    size: dict[str, int] = defaultdict(lambda: 1)
    pairs: dict[tuple[str, str, str], int] = defaultdict(int)
    for row in dups.select(["id", "source_id", "duplicate_of", "cluster_id", "stage", "reason"]).to_pylist():
        cluster = row["cluster_id"] or row["duplicate_of"]
        kept_source = source_of.get(row["duplicate_of"], "?")
        members[cluster] |= {row["source_id"], kept_source}
        size[cluster] += 1
        stage_of[cluster] = f"{row['stage']} ({row['reason']})"
        pairs[(row["source_id"], kept_source, row["stage"])] += 1
    cross = {c: m for c, m in members.items() if len(m) > 1}
    top = sorted(cross, key=lambda c: (-size[c], c))[:limit]
    return {
        "clusters": len(members),
        "cross_source_clusters": len(cross),
        "pairs": [
            {"dropped_from": a, "kept_in": b, "stage": s, "documents": n}
            for (a, b, s), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "top": [{"cluster": c, "documents": size[c], "sources": sorted(cross[c]), "stage": stage_of[c]} for c in top],
    }


def dropped_sample(ledger: pa.Table, config_path: str | None, per_reason: int = 2, limit: int = 20) -> dict[str, Any]:
    """A few dropped documents per (stage, reason), re-read from the source files and masked.

    The ledger holds no text, so the sample needs the run's config to find the inputs; each file
    is checked against the manifest's sha256 by the caller's ledger ids (same id = same record).
    """
    dropped = ledger.filter(pc.equal(ledger.column("outcome"), "dropped")).sort_by([("order", "ascending")])
    picked: list[dict[str, Any]] = []
    per: dict[tuple[str, str], int] = defaultdict(int)
    for row in dropped.select(["id", "source_id", "source_file", "source_locator", "stage", "reason"]).to_pylist():
        k = (row["stage"], row["reason"])
        if per[k] < per_reason and len(picked) < limit:
            per[k] += 1
            picked.append(row)
    if not picked:
        return {"available": True, "note": "no dropped documents", "documents": []}
    if not config_path:
        return {
            "available": False,
            "note": "the ledger stores no text; pass --config (the run's pipeline config) to include a masked sample of dropped documents",
            "documents": [dict(r, text=None) for r in picked],
        }
    from pipelines import runner
    from pipelines.engine_local import file_tasks
    from filters.ingest import ingest_file

    plan = runner.prepare(config_path)
    wanted = {r["id"] for r in picked}
    files = {(r["source_id"], r["source_file"]) for r in picked}
    texts: dict[str, str] = {}
    for task in file_tasks(plan):
        if (task.source_id, task.rel) not in files:
            continue
        for ib in ingest_file(task, 4096):
            ids = ib.documents.column("id").to_pylist()
            for i, doc_id in enumerate(ids):
                if doc_id in wanted:
                    texts[doc_id] = ib.documents.column("text")[i].as_py()
    masked = scrub(texts)
    docs = [dict(r, text=masked.get(r["id"])) for r in picked]
    missing = sum(d["text"] is None for d in docs)
    note = (
        f"text re-read from the inputs named by {config_path}; personal data masked by the pii stage's Presidio "
        f"recognizers (Korean and English) and by pattern, cut to {SAMPLE_CHARS} characters"
    )
    if missing:
        note += f"; {missing} document(s) not found in the inputs (changed since the run?)"
    return {"available": True, "note": note, "documents": docs}


def collect(cat: Catalog, mid: str, config_path: str | None = None) -> dict[str, Any]:
    manifest = cat.get(mid)
    ver = review.verify(cat, mid)
    ledger = _ledger(cat, mid, manifest)
    decisions = {d["source_id"]: d for d in manifest.get("policy", [])}
    sources = []
    for s in manifest["sources"]:
        p = s["provenance"]
        d = decisions.get(s["id"], {})
        sources.append(
            {
                "id": s["id"],
                "status": s["status"],
                "policy_reason": s.get("policy_reason"),
                "licensor": p.get("owner"),
                "acquisition": p.get("acquisition"),
                "licence": p.get("licence") or "unknown",
                "licence_url": p.get("licence_url"),
                "contract": p.get("contract"),
                "permitted_uses": p.get("permitted_uses") if p.get("permitted_uses") is not None else d.get("permitted_uses", []),
                "expires": p.get("expires"),
                "attribution": p.get("attribution"),
                "notes": p.get("notes"),
                "domain": s.get("domain"),
                "lang": s.get("lang"),
                "files": len(s.get("files", [])),
                "bytes": sum(f.get("bytes") or 0 for f in s.get("files", [])),
                "takedown": s.get("takedown"),
            }
        )
    outcomes = []
    for s in manifest["sources"]:
        c = s["counts"]
        outcomes.append({k: c[k] for k in ("records_in", "kept", "dropped", "quarantined")} | {"source": s["id"]})
    drops = [
        {"source": s["id"], "stage": stage, "reason": reason, "documents": n}
        for s in manifest["sources"]
        for stage, reasons in sorted(s["counts"]["dropped_by"].items())
        for reason, n in sorted(reasons.items())
    ]
    quarantine = [
        {"source": s["id"], "reason": reason, "documents": n}
        for s in manifest["sources"]
        for reason, n in sorted(s["counts"]["quarantined_by"].items())
    ]
    pii_stages = _pii_stages(manifest)
    pii_keys = {s["key"] for s in pii_stages}
    pii = [
        {"source": s["id"], "stage": stage, "type": name, "count": n}
        for s in manifest["sources"]
        for stage, names in sorted(s.get("stage_counters", {}).items())
        if stage in pii_keys
        for name, n in sorted(names.items())
    ]
    other_counters = [
        {"source": s["id"], "stage": stage, "counter": name, "count": n}
        for s in manifest["sources"]
        for stage, names in sorted(s.get("stage_counters", {}).items())
        if stage not in pii_keys
        for name, n in sorted(names.items())
    ]
    from manifests.takedown import lineage

    return {
        "manifest": {
            "id": manifest["id"],
            "name": manifest["name"],
            "created_at": manifest.get("created_at"),
            "code_version": manifest.get("code_version"),
            "config_digest": manifest.get("config_digest"),
            "content_digest": manifest.get("content_digest"),
            "schema_version": manifest.get("schema_version"),
            "totals": manifest["totals"],
            "shards": len(manifest["shards"]),
        },
        "integrity": {
            "state": ver.state,
            "signed": ver.signed,
            "verified": ver.ok,
            "problems": ver.problems,
        },
        "reviews": [
            {k: r.get(k) for k in ("seq", "action", "from_state", "to_state", "reviewer", "time", "comment", "successor")}
            | {"key_id": (r.get("signature") or {}).get("key_id")}
            for r in ver.review.records
        ],
        "lineage": lineage(cat, mid),
        "takedowns": manifest.get("takedowns", []),
        "purpose": manifest["purpose"],
        "policy": manifest.get("policy", []),
        "policy_config": {
            "exclude": manifest.get("config", {}).get("exclude", {}),
            "accept_unknown_licence": manifest.get("config", {}).get("accept_unknown_licence", {}),
        },
        "sources": sources,
        "outcomes": outcomes,
        "drops": drops,
        "quarantine": quarantine,
        "stage_stats": manifest.get("stage_stats", []),
        "stages": manifest.get("stages", []),
        "pii": {
            "stages": [
                {"key": s["key"], "options": s.get("options", {}), "engines": s.get("engines", {})} for s in pii_stages
            ],
            "found": pii,
            "note": None if pii_stages else "no PII stage ran in this pipeline: personal data was neither detected nor removed",
        },
        "other_counters": other_counters,
        "models": manifest.get("models", []),
        "near_duplicates": near_duplicates(ledger),
        "dropped_sample": dropped_sample(ledger, config_path),
        # Derived manifests (manifests.derived): exact token counts per source, plus the blend's epochs.
        "tokens": [
            {"source": s, "tokens": n, **({"epochs": manifest["blend"]["epochs"].get(s)} if "blend" in manifest else {})}
            for s, n in manifest.get("tokens", {}).get("by_source", {}).items()
        ],
    }


CSV_SECTIONS = ("sources", "outcomes", "drops", "quarantine", "pii.found", "near_duplicates.pairs", "reviews", "policy", "models", "tokens")


def to_csv(audit: dict[str, Any]) -> str:
    """One long table: ``section, key, value`` per cell, so every section fits one CSV."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "row", "field", "value"])
    for name in CSV_SECTIONS:
        data: Any = audit
        for part in name.split("."):
            data = data.get(part, []) if isinstance(data, dict) else []
        for i, row in enumerate(data):
            for k, v in row.items():
                w.writerow([name, i, k, ";".join(map(str, v)) if isinstance(v, list) else ("" if v is None else v)])
    for k, v in audit["manifest"].items():
        w.writerow(["manifest", 0, k, v if not isinstance(v, dict) else ";".join(f"{a}={b}" for a, b in v.items())])
    for k, v in audit["integrity"].items():
        w.writerow(["integrity", 0, k, ";".join(v) if isinstance(v, list) else v])
    return buf.getvalue()
