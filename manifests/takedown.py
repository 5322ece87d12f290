"""Takedown: a successor manifest without some documents, rewriting only the shards that held them.

The ledger says which shard holds each kept document, so the affected shards are known exactly;
every other shard is carried over byte for byte (same path, same sha256). In the successor's
ledger the taken-down documents become ``dropped`` by stage ``takedown@1`` with the given reason,
so its counts reconcile exactly like any run's. The old manifest gets a review record (revoked if
it was approved, rejected if it was a draft) naming its successor; the successor names its
predecessor, so ``corpusmill manifest lineage`` can walk the chain both ways.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, overload

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from manifests import gc, review, signing
from manifests.catalog import Catalog
from manifests.manifest import counts_from_ledger, seal, stage_stats
from manifests.schema import validate_manifest
from corpusmill_base import arrowio
from corpusmill_base.errors import InputError, IntegrityError
from corpusmill_base.atomic import write_table_atomic
from corpusmill_base.hashing import sha256_file
from filters.pii_fields import mask_identifiers

STAGE_KEY = "takedown@1"
#: Per-source takedown lists in the catalog: ``takedowns/<source>/<successor ID>.json``, one file
#: per takedown (append-only), each ``{source, manifest, successor, reason, recorded_at, ids,
#: sha256}`` — ids and text hashes of every removed document. Every later run honours them.
LIST_DIR = "takedowns"


@dataclass
class TakedownResult:
    manifest: dict[str, Any]
    predecessor: str
    removed_by_source: dict[str, int]
    rewritten: list[str]
    carried_over: list[str]
    emptied: list[str]
    already_absent: int  # requested ids that were not in the release (dropped or quarantined before)
    old_state: str = ""
    notes: list[str] = field(default_factory=list)
    data_removed: list[dict[str, Any]] = field(default_factory=list)  # the old manifest's files removed from data/ (manifests.gc)

    @property
    def id(self) -> str:
        return cast(str, self.manifest["id"])


@dataclass
class TakedownPreview:
    """What :func:`takedown` would do (``dry_run``): nothing is written, signed or removed."""

    predecessor: str
    removed_by_source: dict[str, int]
    rewritten: list[str]  # shards that keep some documents
    emptied: list[str]  # shards whose every document goes
    carried_over: list[str]
    already_absent: int
    old_state: str
    new_state: str  # what the review chain would record (revoked, rejected, or unchanged)
    notes: list[str] = field(default_factory=list)


class UnknownDocIds(InputError):
    """Requested document ids that are not in the manifest's ledger. The message does not quote
    them: an id that is not ours may be a vendor's record id holding personal data; the CLI names
    their lines in the id file instead (:func:`doc_id_lines`)."""

    def __init__(self, message: str, missing: list[str]):
        super().__init__(message)
        self.missing = missing


def _doc_id_lines(path: str | Path) -> list[tuple[int, str]]:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: document id file not found") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:  # was a UnicodeDecodeError traceback
        at = data.count(b"\n", 0, e.start) + 1
        raise InputError(f"{path}: line {at}: not UTF-8 text (byte {e.start}); the file holds document ids, one a line") from None
    out = []
    # A spreadsheet's "CSV UTF-8" export starts with a byte-order mark, which glued itself to the
    # first id: that id was "not in the ledger" and the whole takedown refused at line 1.
    for n, line in enumerate(text.removeprefix("\ufeff").splitlines(), 1):
        doc_id = line.split("#", 1)[0].strip()
        if doc_id:
            out.append((n, doc_id))
    return out


def read_doc_ids(path: str | Path) -> list[str]:
    """Document ids, one a line; blank lines and ``#`` comments are ignored. A file without any is
    an error naming it (an empty export was told "name what to take down: --source S and/or
    --doc-ids FILE", which it had)."""
    ids = sorted({doc_id for _, doc_id in _doc_id_lines(path)})
    if not ids:
        raise InputError(f"{path}: no document ids in it (one a line; blank lines and # comments are skipped); nothing was changed")
    return ids


def doc_id_lines(path: str | Path, ids: list[str]) -> list[int]:
    """The line numbers of ``ids`` in the id file (each id's first line), in file order."""
    wanted, lines = set(ids), []
    for n, doc_id in _doc_id_lines(path):
        if doc_id in wanted:
            lines.append(n)
            wanted.discard(doc_id)
    return lines


def _read_verified(cat: Catalog, mid: str, entry: dict[str, Any]) -> bytes:
    with cat.fs.open(cat.data_path(mid, entry["path"]), "rb") as f:
        data: bytes = f.read()
    got = hashlib.sha256(data).hexdigest()
    if got != entry["sha256"]:
        raise IntegrityError(f"{mid}: {entry['path']} has sha256 {got}, the manifest says {entry['sha256']}; fix the catalog first")
    return data


def _filter_index(cat: Catalog, mid: str, entry: dict[str, Any], staging: Path, taken_ids: pa.Array) -> dict[str, Any]:
    """A per-run index (e.g. minhash signatures of the released documents) without the taken-down
    documents; indexes without an ``id`` column are carried over unchanged."""
    data = _read_verified(cat, mid, entry)
    target = staging / entry["path"]
    target.parent.mkdir(parents=True, exist_ok=True)
    table = arrowio.read_parquet(data)
    hit = pc.is_in(table.column("id"), value_set=taken_ids) if "id" in table.column_names else None
    if hit is None or not pc.any(hit).as_py():
        target.write_bytes(data)
        return dict(entry)
    table = table.filter(pc.invert(hit))
    pq.write_table(table, target, compression="zstd")
    return entry | {"sha256": sha256_file(target), "bytes": target.stat().st_size, "rows": table.num_rows}


def _kept_copies(ledger: pa.Table, doc_ids: list[str], sources: list[str]) -> tuple[list[str], int]:
    """Kept documents standing in for named documents that the run dropped as duplicates.

    A data subject's request names the document they know of; if the run dropped it as a
    duplicate, the same (or nearly the same) text is in the release under the kept copy's id
    (``duplicate_of``), so that copy goes too — following chains of duplicates to the kept one.
    Returns (those ids, how many of the named sources' dropped duplicates were kept from other
    sources, which a source takedown leaves in place).
    """
    if "duplicate_of" not in ledger.column_names:
        return [], 0
    has_dup = ledger.filter(pc.is_valid(ledger.column("duplicate_of")))
    dup_of = dict(zip(has_dup.column("id").to_pylist(), has_dup.column("duplicate_of").to_pylist()))
    kept_rows = ledger.filter(pc.equal(ledger.column("outcome"), "kept"))
    kept = dict(zip(kept_rows.column("id").to_pylist(), kept_rows.column("source_id").to_pylist()))
    copies = set()
    for doc in doc_ids:
        seen = {doc}
        while doc not in kept and doc in dup_of and dup_of[doc] not in seen:
            doc = dup_of[doc]
            seen.add(doc)
        if doc in kept and doc not in doc_ids:
            copies.add(doc)
    elsewhere = 0
    if sources:
        src_rows = has_dup.filter(pc.is_in(has_dup.column("source_id"), value_set=pa.array(sources, pa.string())))
        elsewhere = sum(1 for d in src_rows.column("duplicate_of").to_pylist() if kept.get(d, sources[0]) not in sources)
    return sorted(copies), elsewhere


def _notes(copies: list[str], kept_elsewhere: int) -> list[str]:
    notes = []
    if copies:
        notes.append(
            f"{len(copies)} named document(s) had been dropped as duplicates; the copies kept in their place "
            "(ledger duplicate_of) were removed too"
        )
    if kept_elsewhere:
        notes.append(
            f"{kept_elsewhere} document(s) of the taken-down source(s) had been dropped as duplicates of documents kept "
            "from other sources; those copies stay (they came through their own source's licence) — name their ids "
            "with --doc-ids to remove them as well"
        )
    return notes


def _preview(mid: str, old: dict[str, Any], state: str, kept: pa.Table, taken: pa.Table, affected: set[str],
             already_absent: int, notes: list[str]) -> TakedownPreview:
    """The dry run's answer, from the ledger alone (its ``shard`` column says where each kept document is)."""
    removed: dict[str, int] = {}
    for s in sorted(taken.column("source_id").to_pylist()):
        removed[s] = removed.get(s, 0) + 1
    per_shard: dict[str, int] = {}
    for sh in kept.column("shard").to_pylist():
        per_shard[sh] = per_shard.get(sh, 0) + 1
    for sh in taken.column("shard").to_pylist():
        per_shard[sh] -= 1
    shards = [e["path"] for e in old["shards"]]
    new_state = {review.APPROVED: "revoked", review.DRAFT: "rejected"}.get(state, state)
    return TakedownPreview(
        predecessor=mid, removed_by_source=removed,
        rewritten=[p for p in shards if p in affected and per_shard.get(p, 0) > 0],
        emptied=[p for p in shards if p in affected and per_shard.get(p, 0) == 0],
        carried_over=[p for p in shards if p not in affected], already_absent=already_absent,
        old_state=state, new_state=new_state, notes=notes,
    )


@overload
def takedown(cat: Catalog, mid: str, reason: str, sources: list[str] | None = ..., doc_ids: list[str] | None = ...,
             reviewer: str | None = ..., key: signing.SigningKey | None = ..., dry_run: Literal[False] = ...) -> TakedownResult: ...
@overload
def takedown(cat: Catalog, mid: str, reason: str, sources: list[str] | None = ..., doc_ids: list[str] | None = ...,
             reviewer: str | None = ..., key: signing.SigningKey | None = ..., *, dry_run: Literal[True]) -> TakedownPreview: ...


def takedown(
    cat: Catalog,
    mid: str,
    reason: str,
    sources: list[str] | None = None,
    doc_ids: list[str] | None = None,
    reviewer: str | None = None,
    key: signing.SigningKey | None = None,
    dry_run: bool = False,
) -> TakedownResult | TakedownPreview:
    """A successor manifest without the named sources and documents; the old one revoked (or
    rejected, if it was a draft) and its document files removed. ``dry_run``: check everything and
    say what would happen (:class:`TakedownPreview`) without writing, signing or removing anything
    (no signing key needed)."""
    t0 = time.perf_counter()
    if not reason.strip():
        raise InputError("a takedown needs --reason")
    # The reason goes into the ledger (every removed row), the manifest's counts, the takedown
    # lists, the review record and the audit; an erasure request's reason names the requester
    # ("erasure request from kim.lee@example.com"): identifiers masked as in file names.
    # Masked by Presidio's recognizers, never by shape alone: these bytes decide the successor's ID,
    # which must not depend on the extras installed (without Presidio: a ConfigError naming the pii extra).
    reason = mask_identifiers(reason, what="the takedown --reason") or reason
    sources, doc_ids = sorted(set(sources or [])), sorted(set(doc_ids or []))
    if not sources and not doc_ids:
        raise InputError("name what to take down: --source S and/or --doc-ids FILE")
    if not dry_run:
        key = key or signing.load_signing_key()
        assert key is not None  # load_signing_key raises when there is none
        if key.key_id not in signing.load_trusted_keys():
            # checked before the successor is published: the revoke/reject record must be signable
            raise InputError(f"your signing key {key.key_id} is not in the trusted keys ({signing.trusted_keys_path()}); nothing was changed")
    old = cat.get(mid)
    before = review.replay(cat, old)
    if before.problems:
        # The revoke/reject record is refused on such a history (review.transition); checked here,
        # before anything is written: the successor manifest and the takedown lists were published,
        # then the revocation failed, leaving the old release unrevoked beside its successor (session 13).
        raise IntegrityError(f"{mid}: refusing to take down a manifest whose review history does not verify "
                             "(`corpusmill manifest verify` lists the problems); nothing was changed:\n  " + "\n  ".join(before.problems))
    if before.final and cat.read_json(review.removal_rel(mid)) is not None:
        raise InputError(f"{mid} was {before.state} and its document files were removed from the catalog; "
                         + (f"take down its successor {before.successor} instead" if before.successor else "there is nothing left to take down"))
    if old.get("kind") in ("tokenized", "blend"):  # its .bin/.idx hold the documents too: rebuild instead
        raise InputError(f"{mid} is a {old['kind']} manifest; take down the curated manifest it was built from "
                         f"({', '.join(old['parents'])}), then rebuild it from the successor")
    known_sources = {s["id"] for s in old["sources"]}
    unknown = [s for s in sources if s not in known_sources]
    if unknown:
        raise InputError(f"{mid} has no source(s) {', '.join(unknown)}; its sources: {', '.join(sorted(known_sources))}")

    ledger = arrowio.read_parquet(_read_verified(cat, mid, old["ledger"]))
    in_ledger = set(ledger.column("id").to_pylist())
    missing = [d for d in doc_ids if d not in in_ledger]
    if missing:
        raise UnknownDocIds(f"{len(missing)} document id(s) are not in {mid}'s ledger; check the file — nothing was changed", missing)
    kept = pc.equal(ledger.column("outcome"), "kept")
    copies, kept_elsewhere = _kept_copies(ledger, doc_ids, sources)
    hit = pc.or_(
        pc.is_in(ledger.column("source_id"), value_set=pa.array(sources, pa.string())),
        pc.is_in(ledger.column("id"), value_set=pa.array(sorted(set(doc_ids) | set(copies)), pa.string())),
    )
    take = pc.and_(kept, hit)
    taken = ledger.filter(take)
    already_absent = len(doc_ids) - len(set(doc_ids) & set(taken.column("id").to_pylist()))
    if taken.num_rows == 0:
        raise InputError(f"nothing to take down: none of the named documents is in {mid}'s release")
    taken_ids = pa.array(sorted(taken.column("id").to_pylist()), pa.string())
    affected = set(taken.column("shard").to_pylist())
    notes = _notes(copies, kept_elsewhere)
    if dry_run:
        return _preview(mid, old, before.state, ledger.filter(kept), taken, affected, already_absent, notes)

    hashes: dict[str, str] = {}  # taken id → sha256 of its text, for the per-source takedown lists
    with tempfile.TemporaryDirectory(prefix="corpusmill-takedown-") as tmp:
        staging = Path(tmp)
        new_shards, rewritten, carried, emptied = [], [], [], []
        for entry in old["shards"]:
            rel = entry["path"]
            data = _read_verified(cat, mid, entry)
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if rel not in affected:
                target.write_bytes(data)
                new_shards.append(dict(entry))
                carried.append(rel)
                continue
            table = arrowio.read_parquet(data)
            hashes.update(_text_hashes(table.filter(pc.is_in(table.column("id"), value_set=taken_ids))))
            table = table.filter(pc.invert(pc.is_in(table.column("id"), value_set=taken_ids)))
            if table.num_rows == 0:
                emptied.append(rel)
                continue
            write_table_atomic(table, target)
            new_shards.append(
                {"path": rel, "sha256": sha256_file(target), "bytes": target.stat().st_size, "rows": table.num_rows}
            )
            rewritten.append(rel)

        new_indexes = [_filter_index(cat, mid, entry, staging, taken_ids) for entry in old.get("indexes", [])]

        gone = pc.is_in(ledger.column("id"), value_set=taken_ids)
        n = ledger.num_rows
        new_ledger = ledger
        for name, value in (("outcome", "dropped"), ("stage", STAGE_KEY), ("reason", reason), ("detail", f"taken down from {mid}")):
            col = ledger.column(name)
            new_ledger = new_ledger.set_column(
                new_ledger.schema.get_field_index(name), ledger.schema.field(name),
                pc.if_else(gone, pa.scalar(value, col.type), col),
            )
        shard_col = ledger.column("shard")
        new_ledger = new_ledger.set_column(
            new_ledger.schema.get_field_index("shard"), ledger.schema.field("shard"),
            pc.if_else(gone, pa.nulls(n, shard_col.type), shard_col),
        )
        ledger_path = staging / old["ledger"]["path"]
        write_table_atomic(new_ledger, ledger_path)

        counts = counts_from_ledger(new_ledger)
        removed = {s: 0 for s in sorted(set(taken.column("source_id").to_pylist()))}
        for s in taken.column("source_id").to_pylist():
            removed[s] += 1
        record = {
            "predecessor": mid,
            "reason": reason,
            "sources": sources,
            "doc_ids": len(doc_ids),
            "doc_ids_sha256": hashlib.sha256("\n".join(doc_ids).encode()).hexdigest() if doc_ids else None,
            "documents_removed": taken.num_rows,
            "kept_copies_removed": len(copies),
            "removed_by_source": removed,
            "shards_rewritten": rewritten,
            "shards_removed": emptied,
        }
        new = {k: v for k, v in old.items() if k not in ("id", "content_digest")}
        sources_out = []
        for s in old["sources"]:
            s = dict(s)
            if s["status"] == "admitted":
                s["counts"] = counts.get(s["id"], s["counts"])
            if s["id"] in sources:
                s["takedown"] = reason
            sources_out.append(s)
        stage_keys = [s["key"] for s in old["stages"]] + [STAGE_KEY]
        new.update(
            {
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "run": {"engine": "takedown", "predecessor": mid, "seconds_total": round(time.perf_counter() - t0, 3)},
                "predecessor": mid,
                "takedowns": [*old.get("takedowns", []), record],
                "sources": sources_out,
                "totals": {k: sum(s["counts"][k] for s in sources_out) for k in ("records_in", "kept", "dropped", "quarantined")},
                "stage_stats": stage_stats(stage_keys, new_ledger),
                "shards": new_shards,
                **({"indexes": new_indexes} if "indexes" in old else {}),
                "ledger": {
                    "path": old["ledger"]["path"],
                    "sha256": sha256_file(ledger_path),
                    "bytes": ledger_path.stat().st_size,
                    "rows": new_ledger.num_rows,
                },
            }
        )
        successor = seal(new)
        validate_manifest(successor)
        cat.publish(staging, successor, sign=review.sign_if_key)

    _record_lists(cat, taken, hashes, mid, successor["id"], reason)
    st = review.replay(cat, old)
    comment = f"takedown: {reason}"
    if st.state == review.APPROVED:
        review.transition(cat, mid, "revoke", reviewer, comment, key=key, successor=successor["id"])
    elif st.state == review.DRAFT:
        review.transition(cat, mid, "reject", reviewer, comment, key=key, successor=successor["id"])
    else:
        notes.append(f"{mid} was already {st.state}; its successor is recorded in {successor['id']}'s predecessor field")
    # the revoked release's documents leave the catalog's data/ (a signed record, removals/<ID>.json, lists them)
    gone = gc.remove(cat, mid, key=key, reviewer=reviewer)
    result = TakedownResult(successor, mid, removed, rewritten, carried, emptied, already_absent, st.state, notes)
    result.data_removed = gone.removed if gone else []
    return result


def _text_hashes(table: pa.Table) -> dict[str, str]:
    from filters.takedown_list import text_sha256

    return {i: text_sha256(t) for i, t in zip(table.column("id").to_pylist(), table.column("text").to_pylist())}


def _record_lists(cat: Catalog, taken: pa.Table, hashes: dict[str, str], mid: str, successor: str, reason: str) -> None:
    by_source: dict[str, list[str]] = {}
    for doc, src in zip(taken.column("id").to_pylist(), taken.column("source_id").to_pylist()):
        by_source.setdefault(src, []).append(doc)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    for src, ids in sorted(by_source.items()):
        ids = sorted(ids)
        entry = {"source": src, "manifest": mid, "successor": successor, "reason": reason, "recorded_at": now,
                 "ids": ids, "sha256": sorted({hashes[i] for i in ids if i in hashes})}
        rel = f"{LIST_DIR}/{src}/{successor}.json"
        if cat.read_json(rel) is None:  # the same takedown again builds the same successor: recorded once
            cat.write_json_new(rel, entry)


def takedown_lists(cat: Catalog, source_ids: list[str]) -> list[dict[str, Any]]:
    """Every takedown list recorded for these sources, oldest file name first, each with the
    sha256 of its file (``list_sha256``) so a manifest can name exactly what it honoured."""
    out = []
    for src in sorted(set(source_ids)):
        for rel in cat.list_rel(f"{LIST_DIR}/{src}"):
            if not rel.endswith(".json"):
                continue
            entry = cat.read_json(rel)
            if entry is None:
                continue
            digest = hashlib.sha256(json.dumps(entry, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
            out.append(entry | {"list_sha256": digest})
    return out


def lineage(cat: Catalog, mid: str) -> list[dict[str, Any]]:
    """The chain through ``mid``: oldest predecessor first, then successors (with their state)."""
    rows = {r["id"]: r for r in review.listing(cat)}
    chain = [mid]
    seen = {mid}
    while (pred := (rows.get(chain[0]) or {}).get("predecessor")) and pred not in seen:
        chain.insert(0, pred)
        seen.add(pred)
    cur = mid
    while True:
        nxt = [s for s in cat.index.successors(cur) if s not in seen]
        if not nxt:
            break
        cur = nxt[0]
        chain.append(cur)
        seen.add(cur)
    out = []
    for i in chain:
        r = rows.get(i, {"id": i, "state": "unknown (not in this catalog)"})
        m = cat.get(i, check=False) if i in rows else {}
        td = (m.get("takedowns") or [None])[-1] if m.get("predecessor") else None
        out.append(
            {
                "id": i,
                "state": r.get("state"),
                "created_at": r.get("created_at"),
                "documents": r.get("documents"),
                "predecessor": r.get("predecessor"),
                "takedown": None if td is None else {k: td[k] for k in ("reason", "sources", "documents_removed")},
            }
        )
    return out
