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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from manifests import derived, review
from manifests.catalog import Catalog
from corpusmill_base import arrowio
from corpusmill_base.errors import IntegrityError

if TYPE_CHECKING:
    from filters.pii import PresidioScrubber

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


def scrub(texts: dict[str, str], limit: int = SAMPLE_CHARS) -> dict[str, str]:
    """Mask personal data in sample texts: the ``pii`` stage's detector, then the patterns above."""
    if not texts:
        return {}
    from filters.registry import stage_class

    scrubber = cast("PresidioScrubber", stage_class("pii")({"default_operator": "placeholder"}))
    ids = sorted(texts)
    raw = [texts[i] for i in ids]
    from filters.pii import guess_language

    spans = scrubber.detect(raw, [guess_language(t) for t in raw])
    return {i: mask_personal_data(scrubber.anonymize(t, sp), limit) for i, t, sp in zip(ids, raw, spans)}


def _ledger(cat: Catalog, mid: str, manifest: dict[str, Any]) -> pa.Table:
    try:
        with arrowio.open_input(cat.fs, cat.data_path(mid, manifest["ledger"]["path"])) as f:
            return pq.read_table(f)
    except FileNotFoundError:
        raise IntegrityError(
            f"{mid}: {manifest['ledger']['path']} is missing from catalog {cat.url}; the audit is built from the ledger "
            f"(`corpusmill manifest verify {mid}` lists every problem)"
        ) from None
    except (OSError, pa.ArrowInvalid) as e:
        raise IntegrityError(f"{mid}: {manifest['ledger']['path']} in catalog {cat.url} is unreadable ({type(e).__name__})") from None


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


def pick_dropped(
    ledger: pa.Table, per_reason: int = 2, limit: int | None = None, stage: str | None = None, reason: str | None = None
) -> pa.Table:
    """The first ``per_reason`` dropped ledger rows (in ingest order) of each (stage, reason), at
    most ``limit`` in all."""
    mask = pc.equal(ledger.column("outcome"), "dropped")
    if stage:
        mask = pc.and_(mask, pc.equal(ledger.column("stage"), stage))
    if reason:
        mask = pc.and_(mask, pc.equal(ledger.column("reason"), reason))
    rows = ledger.filter(mask).sort_by([("order", "ascending")])
    per: dict[tuple[str, str], int] = defaultdict(int)
    take: list[int] = []
    for i, k in enumerate(zip(rows.column("stage").to_pylist(), rows.column("reason").to_pylist(), strict=True)):
        if per[k] < per_reason and (limit is None or len(take) < limit):
            per[k] += 1
            take.append(i)
    return rows.take(pa.array(take, pa.int64()))


#: ``(dropped ledger rows, manifest) -> documents with masked text`` — handed in by the caller
#: (``pipelines.samples.sampler``), since re-reading the inputs needs the run's plan.
Sampler = Callable[[pa.Table, dict[str, Any]], list[dict[str, Any]]]


def dropped_sample(ledger: pa.Table, manifest: dict[str, Any], sampler: Sampler | None, per_reason: int = 2, limit: int = 20) -> dict[str, Any]:
    """A few dropped documents per (stage, reason), re-read from the source files by ``sampler`` and masked."""
    picked = pick_dropped(ledger, per_reason, limit)
    fields = ["id", "source_id", "source_file", "source_locator", "stage", "reason"]
    if picked.num_rows == 0:
        return {"available": True, "note": "no dropped documents", "documents": []}
    if sampler is None:
        return {
            "available": False,
            "note": "the ledger stores no text; pass --config (the run's pipeline config) to include a masked sample of dropped documents",
            "documents": [dict(r, text=None) for r in picked.select(fields).to_pylist()],
        }
    docs = sampler(picked, manifest)
    missing = sum(d["text"] is None for d in docs)
    note = (
        "text re-read from the run's inputs (--config); personal data masked by the pii stage's Presidio "
        f"recognizers (Korean and English) and by pattern, cut to {SAMPLE_CHARS} characters"
    )
    if missing:
        note += f"; {missing} document(s) not shown (not found in the inputs, or the file changed since the run)"
    return {"available": True, "note": note, "documents": docs}


def collect(cat: Catalog, mid: str, sampler: Sampler | None = None) -> dict[str, Any]:
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
        # A derived manifest: what it was built from, and every ancestor taken down or revoked since
        # (pull refuses it then; the audit said only "approved, verified").
        "built_from": {"parents": manifest.get("parents", []), "affected_by": derived.affected(cat, manifest)}
        if derived.is_derived(manifest) else None,
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
        "dropped_sample": dropped_sample(ledger, manifest, sampler),
        # Derived manifests (manifests.derived): exact token counts per source, plus the blend's epochs.
        "tokens": [
            {"source": s, "tokens": n, **({"epochs": manifest["blend"]["epochs"].get(s)} if "blend" in manifest else {})}
            for s, n in manifest.get("tokens", {}).get("by_source", {}).items()
        ],
    }


CSV_COLUMNS = (
    "manifest", "source", "status", "licence", "acquisition", "contract", "permitted_uses", "expires",
    "decision", "stage", "reason", "documents",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP):
# source ids, contracts and reasons come from configs and vendors, so such cells get a leading '.
_FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: strings starting with = + - @ TAB CR get a leading '.

    >>> neutralise("=HYPERLINK(1)"), neutralise("ok"), neutralise(-3)
    ("'=HYPERLINK(1)", 'ok', -3)
    """
    if isinstance(value, str) and value.startswith(_FORMULA_LEAD):
        return "'" + value
    return value


def csv_rows(audit: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per source and decision type: records in, kept, each (stage, reason) dropped, each
    quarantine reason, each PII type found, or the policy exclusion — so a reviewer can filter by
    source, licence, decision or stage."""
    mid = audit["manifest"]["id"]
    by_source: dict[str, list[tuple[str, str | None, str | None, int]]] = defaultdict(list)
    for o in audit["outcomes"]:
        by_source[o["source"]] += [("records_in", None, None, o["records_in"]), ("kept", None, None, o["kept"])]
    for d in audit["drops"]:
        by_source[d["source"]].append(("dropped", d["stage"], d["reason"], d["documents"]))
    for q in audit["quarantine"]:
        by_source[q["source"]].append(("quarantined", None, q["reason"], q["documents"]))
    for f in audit["pii"]["found"]:
        by_source[f["source"]].append(("pii_found", f["stage"], f["type"], f["count"]))
    for t in audit.get("tokens", []):  # derived manifests: exact token counts (the last column counts tokens)
        by_source[t["source"]].append(("tokens", None, None, t["tokens"]))
    rows = []
    for s in audit["sources"]:
        base = {
            "manifest": mid, "source": s["id"], "status": s["status"], "licence": s["licence"],
            "acquisition": s["acquisition"], "contract": s["contract"] or "",
            "permitted_uses": ";".join(s["permitted_uses"] or []), "expires": s["expires"] or "",
        }
        if s["status"] != "admitted":
            rows.append(base | {"decision": s["status"], "stage": "policy", "reason": s["policy_reason"] or "", "documents": 0})
            continue
        for decision, stage, reason, n in by_source[s["id"]]:
            rows.append(base | {"decision": decision, "stage": stage or "", "reason": reason or "", "documents": n})
    return rows


def to_csv(audit: dict[str, Any]) -> str:
    """The sheet of :func:`csv_rows` with a header, formula-leading cells neutralised."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")  # RFC 4180; also makes Python 3.11 quote a bare CR in a cell
    w.writerow(CSV_COLUMNS)
    for row in csv_rows(audit):
        w.writerow([neutralise(row[c]) for c in CSV_COLUMNS])
    return buf.getvalue()
