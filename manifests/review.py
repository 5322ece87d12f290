"""Review workflow: signed, append-only, hash-chained review records per manifest.

States: ``draft → approved | rejected`` and ``approved → revoked``; nothing else. The manifest
itself never changes (its ID is its content): a manifest's state is what its review records say,
replayed in order. Records live in the catalog next to the manifest::

    signatures/<ID>.json          the producer's signature over the manifest
    reviews/<ID>/00000.json …     review records, one file each, never rewritten

Each record names the manifest (ID and sha256 of its canonical JSON), the transition, reviewer,
time and comment, and the sha256 of the previous record (``prev``), and is signed. Verifying
the chain therefore detects a changed record, a forged one (unsigned or by an untrusted key), a
removed or reordered one, and a manifest changed after it was reviewed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from manifests import signing
from manifests.catalog import Catalog
from manifests.manifest import canonical_json
from corpusmill_base.errors import CorpusmillError, IntegrityError

DRAFT, APPROVED, REJECTED, REVOKED = "draft", "approved", "rejected", "revoked"
TRANSITIONS: dict[tuple[str, str], str] = {
    (DRAFT, "approve"): APPROVED,
    (DRAFT, "reject"): REJECTED,
    (APPROVED, "revoke"): REVOKED,
}
ACTIONS = ("approve", "reject", "revoke")


class IllegalTransition(CorpusmillError):
    pass


class NotApproved(CorpusmillError):
    """A manifest that is not approved was asked for. ``str()`` names the Python keyword
    (``allow_unapproved=True``); :meth:`for_cli` names the command-line flag instead."""

    def __init__(self, manifest_id: str, why: str):
        self.manifest_id, self.why = manifest_id, why
        super().__init__(self._text("pass allow_unapproved=True"))

    def _text(self, override: str) -> str:
        todo = ("have a reviewer approve it (corpusmill review approve ID --reviewer … --comment …) or "
                if "draft" in self.why else "use an approved manifest (its successor, if named) or ")
        return f"refusing {self.manifest_id}: {self.why}. To go on: {todo}{override} to take it anyway."

    def for_cli(self) -> NotApproved:
        e = NotApproved(self.manifest_id, self.why)
        e.args = (self._text("pass --allow-unapproved"),)
        return e


def record_sha256(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest()


def manifest_sha256(manifest: dict[str, Any]) -> str:
    """Digest of the whole manifest, volatile fields included (the ID covers only the content)."""
    return hashlib.sha256(canonical_json(manifest).encode("utf-8")).hexdigest()


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# ---------------------------------------------------------------- producer signature


def signature_rel(mid: str) -> str:
    return f"signatures/{mid}.json"


def sign_manifest(cat: Catalog, manifest: dict[str, Any], key: signing.SigningKey) -> dict[str, Any]:
    """Write the producer signature for a published manifest (once; an existing one is kept)."""
    mid = manifest["id"]
    existing = cat.read_json(signature_rel(mid))
    if existing is not None:
        return existing
    record = {
        "kind": "manifest-signature",
        "manifest_id": mid,
        "manifest_sha256": manifest_sha256(manifest),
        "manifest_fields": signing.field_digests(manifest),
        "signed_at": now_utc(),
    }
    signed = signing.sign(record, key)
    cat.write_json_new(signature_rel(mid), signed)
    return signed


def check_manifest_signature(
    cat: Catalog, manifest: dict[str, Any], trusted: dict[str, signing.TrustedKey]
) -> tuple[bool, list[str]]:
    """(signed?, problems) for the producer signature of ``manifest``."""
    mid = manifest["id"]
    record = cat.read_json(signature_rel(mid))
    if record is None:
        return False, []
    problems = signing.check(record, trusted, f"manifest signature {signature_rel(mid)}")
    if record.get("manifest_id") != mid:
        problems.append(f"manifest signature {signature_rel(mid)} is for {record.get('manifest_id')}, not {mid}")
    elif record.get("manifest_sha256") != manifest_sha256(manifest):
        changed = signing.changed_fields(manifest, record.get("manifest_fields") or {})
        problems.append(
            f"manifest {mid} was changed after it was signed: " + (", ".join(changed) or "content differs")
        )
    return True, problems


# ---------------------------------------------------------------- review records


def review_dir(mid: str) -> str:
    return f"reviews/{mid}"


def review_rel(mid: str, seq: int) -> str:
    return f"{review_dir(mid)}/{seq:05d}.json"


def load_records(cat: Catalog, mid: str) -> list[tuple[str, dict[str, Any]]]:
    """(relative path, record) for every review file of ``mid``, in file-name order."""
    out = []
    for rel in cat.list_rel(review_dir(mid)):
        if rel.endswith(".json"):
            rec = cat.read_json(rel)
            if rec is not None:
                out.append((rel, rec))
    return out


@dataclass
class ReviewState:
    manifest_id: str
    state: str
    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    successor: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def replay(
    cat: Catalog, manifest: dict[str, Any], trusted: dict[str, signing.TrustedKey] | None = None
) -> ReviewState:
    """The manifest's state from its review records, checking the whole chain on the way."""
    trusted = signing.load_trusted_keys() if trusted is None else trusted
    mid = manifest["id"]
    msha = manifest_sha256(manifest)
    st = ReviewState(mid, DRAFT)
    prev: str | None = None
    for i, (rel, rec) in enumerate(load_records(cat, mid)):
        what = f"review record {rel}"
        st.problems += signing.check(rec, trusted, what)
        expected_rel = review_rel(mid, i)
        if rel != expected_rel or rec.get("seq") != i:
            st.problems.append(f"{what}: out of sequence (expected {expected_rel}, seq {i}); a record was removed or renamed")
        if rec.get("manifest_id") != mid:
            st.problems.append(f"{what}: is about {rec.get('manifest_id')}, not {mid}")
        if rec.get("prev") != prev:
            st.problems.append(f"{what}: does not follow the previous record (chain broken: a record was changed, removed or inserted)")
        if rec.get("manifest_sha256") != msha:
            changed = signing.changed_fields(manifest, rec.get("manifest_fields") or {})
            st.problems.append(
                f"{what}: reviewed a different manifest than the catalog now holds"
                + (f" (changed: {', '.join(changed)})" if changed else "")
            )
        target = TRANSITIONS.get((st.state, str(rec.get("action"))))
        if rec.get("from_state") != st.state or target is None or rec.get("to_state") != target:
            st.problems.append(
                f"{what}: illegal transition {rec.get('from_state')} → {rec.get('to_state')} "
                f"by {rec.get('action')!r} (state was {st.state})"
            )
        else:
            st.state = target
        if rec.get("successor"):
            st.successor = rec["successor"]
        st.records.append(rec)
        prev = record_sha256(rec)
    return st


def transition(
    cat: Catalog,
    mid: str,
    action: str,
    reviewer: str,
    comment: str,
    key: signing.SigningKey | None = None,
    successor: str | None = None,
    trusted: dict[str, signing.TrustedKey] | None = None,
) -> dict[str, Any]:
    """Append one signed review record; refuses illegal transitions and broken histories."""
    if action not in ACTIONS:
        raise IllegalTransition(f"unknown review action {action!r}; expected one of {', '.join(ACTIONS)}")
    if not reviewer.strip():
        raise IllegalTransition("a review needs --reviewer")
    if not comment.strip():
        raise IllegalTransition("a review needs --comment (why this decision)")
    key = key or signing.load_signing_key()
    manifest = cat.get(mid)
    st = replay(cat, manifest, trusted)
    if st.problems:
        raise IntegrityError(
            f"{mid}: refusing to add to a review history that does not verify:\n  " + "\n  ".join(st.problems)
        )
    target = TRANSITIONS.get((st.state, action))
    if target is None:
        allowed = sorted(a for (s, a) in TRANSITIONS if s == st.state)
        raise IllegalTransition(
            f"{mid} is {st.state}: cannot {action} it"
            + (f" (allowed: {', '.join(allowed)})" if allowed else f" ({st.state} is final)")
        )
    seq = len(st.records)
    record = {
        "kind": "review",
        "manifest_id": mid,
        "seq": seq,
        "action": action,
        "from_state": st.state,
        "to_state": target,
        "reviewer": reviewer,
        "time": now_utc(),
        "comment": comment,
        "prev": record_sha256(st.records[-1]) if st.records else None,
        "manifest_sha256": manifest_sha256(manifest),
        "manifest_fields": signing.field_digests(manifest),
    }
    if successor:
        record["successor"] = successor
    signed = signing.sign(record, key)
    cat.write_json_new(review_rel(mid, seq), signed)
    cat.index.add_review(mid, seq, signed, record_sha256(signed))
    return signed


# ---------------------------------------------------------------- full verification


@dataclass
class Verification:
    manifest_id: str
    state: str
    signed: bool
    problems: list[str]
    review: ReviewState

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(cat: Catalog, mid: str, check_files: bool = True, trusted=None) -> Verification:
    """Manifest ID, producer signature, review chain, index history and (optionally) every file's sha256."""
    trusted = signing.load_trusted_keys() if trusted is None else trusted
    manifest = cat.get(mid)  # raises IntegrityError when the content no longer matches the ID
    signed, problems = check_manifest_signature(cat, manifest, trusted)
    st = replay(cat, manifest, trusted)
    problems += st.problems
    shas = [record_sha256(r) for r in st.records]
    problems += cat.index.check_reviews(mid, shas)
    if not problems:  # remember a verified history, so a later removal or rewrite is noticed
        for rec, sha in zip(st.records, shas):
            cat.index.add_review(mid, rec["seq"], rec, sha)
    if check_files:
        problems += cat.verify(mid)
    return Verification(mid, st.state, signed, problems, st)


def require_pullable(v: Verification, allow_unapproved: bool) -> None:
    """Raise unless the manifest verifies and is approved (or the caller allows unapproved ones)."""
    if v.problems:
        raise IntegrityError(f"{v.manifest_id} failed verification:\n  " + "\n  ".join(v.problems))
    if v.state == APPROVED or allow_unapproved:
        return
    why = {
        DRAFT: "it is a draft: no reviewer has approved it",
        REJECTED: "it was rejected",
        REVOKED: "it was revoked",
    }[v.state]
    last = v.review.records[-1] if v.review.records else None
    if last is not None:
        why += f" by {last['reviewer']} on {last['time']}: {last['comment']}"
    if v.review.successor:
        why += f"; its successor is {v.review.successor}"
    raise NotApproved(v.manifest_id, why)
