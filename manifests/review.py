"""Review workflow: signed, append-only, hash-chained review records per manifest.

States: ``draft → approved | rejected`` and ``approved → revoked``; nothing else. The manifest
itself never changes (its ID is its content): a manifest's state is what its review records say,
replayed in order. Records live in the catalog next to the manifest::

    signatures/<ID>.json          the producer's signature over the manifest
    reviews/<ID>/00000.json …     review records, one file each, never rewritten

Each record names the manifest (ID and sha256 of its canonical JSON), the transition, reviewer,
time and comment, the sha256 of the previous record (``prev``) and of the producer signature
present when it was written, and is signed. The reviewer is the name of the trusted key that
signs the record, never free text.

After every record a signed **chain head** (``reviews/<ID>/head.json``: number of records and
sha256 of the last) is written. Verifying therefore detects a changed record, a forged one
(unsigned or by an untrusted key), a removed or reordered one, a removed *last* record (the
head counts more), a removed head (records without a head), a deleted producer signature (a
record committed to it) and a manifest changed after it was reviewed. What a catalog writer can
still do is roll back the records *and* the head together to an older signed state they kept a
copy of; the local index (which remembers every record it saw) catches that on machines that saw
the newer state — see docs/reliability.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from manifests import signing
from manifests.catalog import Catalog, record_sha256
from manifests.index import CatalogIndex
from manifests.manifest import canonical_json
from corpusmill_base.errors import CorpusmillError, IntegrityError
from corpusmill_base.text import printable
from filters.pii_fields import mask_identifiers

DRAFT, APPROVED, REJECTED, REVOKED = "draft", "approved", "rejected", "revoked"


def mask_note(text: str) -> str:
    """A reviewer's comment or a takedown reason with structured identifiers masked, as file names
    are (``erasure request from kim.lee@example.com`` → ``… from <EMAIL_ADDRESS>``): it goes into
    signed records, ledgers and every audit. Without Presidio (the trainer's install) e-mail
    addresses and runs of 9+ digits are masked by shape alone."""
    return mask_identifiers(text, by_shape_without_presidio=True) or text


TRANSITIONS: dict[tuple[str, str], str] = {
    (DRAFT, "approve"): APPROVED,
    (DRAFT, "reject"): REJECTED,
    (APPROVED, "revoke"): REVOKED,
    (REJECTED, "reopen"): DRAFT,  # a new review cycle (e.g. after a fixed re-run); recorded, never erased
}
ACTIONS = ("approve", "reject", "revoke", "reopen")


class IllegalTransition(CorpusmillError):
    pass


class NotApproved(CorpusmillError):
    """A manifest that is not approved was asked for. ``str()`` names the Python keyword
    (``allow_unapproved=True``); :meth:`for_cli` names the command-line flag instead."""

    def __init__(self, manifest_id: str, why: str):
        self.manifest_id, self.why = manifest_id, why
        super().__init__(self._text("pass allow_unapproved=True"))

    def _text(self, override: str) -> str:
        todo = ("have a reviewer approve it (corpusmill review approve ID --comment …, signed with a trusted key) or "
                if "draft" in self.why else "use an approved manifest (its successor, if named) or ")
        return f"refusing {self.manifest_id}: {self.why}. To go on: {todo}{override} to take it anyway."

    def for_cli(self) -> NotApproved:
        e = NotApproved(self.manifest_id, self.why)
        e.args = (self._text("pass --allow-unapproved"),)
        return e


class DataRemoved(CorpusmillError):
    """The manifest's document files were removed from the catalog (manifests.gc): nothing to pull."""

    def __init__(self, v: Verification):
        rec = v.removal or {}
        last = v.review.records[-1] if v.review.records else {}
        super().__init__(
            f"refusing {v.manifest_id}: it was {v.state} by {printable(last.get('reviewer'))} on {printable(last.get('time'))}: "
            f"{printable(last.get('comment'))}; its {len(rec.get('removed', []))} document file(s) were removed from the catalog "
            f"on {printable(rec.get('time'))} by {printable(rec.get('reviewer'))} ({removal_rel(v.manifest_id)}), so there is "
            "nothing to pull — " + (f"use its successor {v.review.successor}" if v.review.successor else "use another manifest")
        )


def removal_rel(mid: str) -> str:
    """The signed record of a revoked manifest's files removed from ``data/`` (manifests.gc)."""
    return f"removals/{mid}.json"


def check_removal(
    cat: Catalog, mid: str, st: ReviewState, trusted: dict[str, signing.TrustedKey]
) -> tuple[dict[str, Any] | None, list[str]]:
    """(the removal record, problems): honoured only when signed by a trusted key, about this
    manifest, and the review chain says the manifest is revoked (or rejected by a takedown)."""
    rec = cat.read_json(removal_rel(mid))
    if rec is None:
        return None, []
    what = f"removal record {removal_rel(mid)}"
    problems = signing.check(rec, trusted, what)
    if rec.get("manifest_id") != mid:
        problems.append(f"{what} is for {rec.get('manifest_id')}, not {mid}")
    if not st.final:
        problems.append(f"{what} removed the files of a manifest that is {st.state}, not revoked")
    return (None if problems else rec), problems


def manifest_sha256(manifest: dict[str, Any]) -> str:
    """Digest of the whole manifest, volatile fields included (the ID covers only the content)."""
    return hashlib.sha256(canonical_json(manifest).encode("utf-8")).hexdigest()


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# ---------------------------------------------------------------- producer signature


def signature_rel(mid: str) -> str:
    return f"signatures/{mid}.json"


def sign_if_key(cat: Catalog, manifest: dict[str, Any]) -> bool:
    """Sign a published manifest when a signing key is configured (see manifests.signing); the
    ``sign`` callback callers hand to :meth:`Catalog.publish`."""
    key = signing.load_signing_key(required=False)
    if key is None:
        return False
    sign_manifest(cat, manifest, key)
    return True


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


def head_rel(mid: str) -> str:
    return f"{review_dir(mid)}/head.json"


def load_records(cat: Catalog, mid: str) -> list[tuple[str, dict[str, Any]]]:
    """(relative path, record) for every review file of ``mid``, in file-name order."""
    out = []
    for rel in cat.list_rel(review_dir(mid)):
        if rel.endswith(".json") and rel.rsplit("/", 1)[-1][:-5].isdigit():
            try:
                rec = cat.read_json(rel)
            except IntegrityError as e:  # a damaged record: a problem of the chain (replay), not the end of the command
                rec = {_DAMAGED: str(e)}
            if rec is not None:
                out.append((rel, rec))
    return out


_DAMAGED = "\x00damaged"  # no JSON key of a real record can hold a NUL written by us


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

    @property
    def final(self) -> bool:
        """Revoked, or rejected by a takedown (a plain rejection can be reopened): the states whose
        document files leave the catalog (manifests.gc)."""
        return self.state == REVOKED or (self.state == REJECTED and self.successor is not None)


def verified_history(cat: Catalog, mid: str) -> tuple[list[dict[str, Any]], list[str]]:
    """A manifest's review records as replayed and verified, and the problems found."""
    try:
        st = replay(cat, cat.get(mid))
    except CorpusmillError as e:
        return [], [str(e)]
    return st.records, st.problems


def refresh_index(cat: Catalog) -> CatalogIndex:
    """The catalog's index brought up to date with verified review states only."""
    return cat.refresh_index(lambda mid: verified_history(cat, mid))


def listing(cat: Catalog) -> list[dict[str, Any]]:
    """One row per manifest (id, name, created_at, documents, shards, state, predecessor, successor)."""
    return refresh_index(cat).rows()


def replay(
    cat: Catalog, manifest: dict[str, Any], trusted: dict[str, signing.TrustedKey] | None = None
) -> ReviewState:
    """The manifest's state from its review records, checking the whole chain on the way."""
    trusted = signing.load_trusted_keys() if trusted is None else trusted
    mid = manifest["id"]
    msha = manifest_sha256(manifest)
    st = ReviewState(mid, DRAFT)
    prev: str | None = None
    present, last, after_damage = 0, None, False
    for i, (rel, rec) in enumerate(load_records(cat, mid)):
        what = f"review record {rel}"
        present += 1  # the head counts damaged records too: no second, wrong problem from it
        if _DAMAGED in rec:
            # One problem: the next record's link to it and its transition cannot be checked, so
            # they are not reported as a broken chain or an illegal transition. It stays in
            # `records` (positions match the index's; history shows it as damaged).
            st.problems.append(f"{what}: {rec[_DAMAGED]}")
            st.records.append(rec)
            last, after_damage = None, True
            continue
        st.problems += signing.check(rec, trusted, what)
        expected_rel = review_rel(mid, i)
        if rel != expected_rel or rec.get("seq") != i:
            st.problems.append(f"{what}: out of sequence (expected {expected_rel}, seq {i}); a record was removed or renamed")
        if rec.get("manifest_id") != mid:
            st.problems.append(f"{what}: is about {rec.get('manifest_id')}, not {mid}")
        if not after_damage and rec.get("prev") != prev:
            st.problems.append(f"{what}: does not follow the previous record (chain broken: a record was changed, removed or inserted)")
        if rec.get("manifest_sha256") != msha:
            changed = signing.changed_fields(manifest, rec.get("manifest_fields") or {})
            st.problems.append(
                f"{what}: reviewed a different manifest than the catalog now holds"
                + (f" (changed: {', '.join(changed)})" if changed else "")
            )
        if after_damage and rec.get("from_state") in (DRAFT, APPROVED, REJECTED, REVOKED):
            st.state = rec["from_state"]  # the damaged record's transition is unknown: not a second problem
        target = TRANSITIONS.get((st.state, str(rec.get("action"))))
        if rec.get("from_state") != st.state or target is None or rec.get("to_state") != target:
            st.problems.append(
                f"{what}: illegal transition {rec.get('from_state')} → {rec.get('to_state')} "
                f"by {rec.get('action')!r} (state was {st.state})"
            )
        else:
            st.state = target
        signer = signing.signer_name(rec, trusted)
        if signer is not None and rec.get("reviewer") != signer:
            st.problems.append(f"{what}: names reviewer {printable(rec.get('reviewer'))} but is signed by key {signer}")
        if rec.get("successor"):
            st.successor = rec["successor"]
        st.records.append(rec)
        prev, last, after_damage = record_sha256(rec), rec, False
    st.problems += _check_head(cat, mid, present, last, trusted)
    return st


def _check_head(cat: Catalog, mid: str, count_present: int, last_record: dict[str, Any] | None,
                trusted: dict[str, signing.TrustedKey]) -> list[str]:
    """The signed chain head must count exactly the records present and name the last one
    (``last_record`` None: none, or the last is damaged and already a problem)."""
    try:
        head = cat.read_json(head_rel(mid))
    except IntegrityError as e:
        return [f"chain head {head_rel(mid)}: {e}"]
    if head is None:
        return [f"{head_rel(mid)} is missing although {count_present} review record(s) exist (the chain head was deleted)"] if count_present else []
    problems = signing.check(head, trusted, f"chain head {head_rel(mid)}")
    count, last = head.get("records"), head.get("last_sha256")
    if head.get("manifest_id") != mid:
        problems.append(f"chain head {head_rel(mid)} is for {head.get('manifest_id')}, not {mid}")
    if count != count_present:
        problems.append(
            f"chain head {head_rel(mid)} counts {count} review record(s) but {count_present} are in the catalog "
            "(records after the last one present were deleted)"
        )
    elif last_record is not None and last != record_sha256(last_record):
        problems.append(f"chain head {head_rel(mid)} names a different last record (history was rewritten)")
    return problems


def _write_head(cat: Catalog, mid: str, records: list[dict[str, Any]], key: signing.SigningKey) -> None:
    head = {"kind": "review-head", "manifest_id": mid, "records": len(records),
            "last_sha256": record_sha256(records[-1]), "time": now_utc()}
    cat.write_json_replace(head_rel(mid), signing.sign(head, key))


def signature_sha256(cat: Catalog, mid: str) -> str | None:
    record = cat.read_json(signature_rel(mid))
    return record_sha256(record) if record is not None else None


def transition(
    cat: Catalog,
    mid: str,
    action: str,
    reviewer: str | None,
    comment: str,
    key: signing.SigningKey | None = None,
    successor: str | None = None,
    trusted: dict[str, signing.TrustedKey] | None = None,
) -> dict[str, Any]:
    """Append one signed review record; refuses illegal transitions and broken histories.

    The reviewer is the name under which the signing key is trusted; ``reviewer``, when given,
    must be that name (a free-text name would let anyone sign as "Jane Kim").
    """
    if action not in ACTIONS:
        raise IllegalTransition(f"unknown review action {action!r}; expected one of {', '.join(ACTIONS)}")
    if not comment.strip():
        raise IllegalTransition("a review needs --comment (why this decision)")
    comment = mask_note(comment)  # "revoked: erasure request from kim.lee@…" is shown in every audit
    trusted = signing.load_trusted_keys() if trusted is None else trusted
    key = key or signing.load_signing_key()
    own = trusted.get(key.key_id)
    if own is None:
        raise IllegalTransition(
            f"your signing key {key.key_id} ({key.origin}) is not in the trusted keys ({signing.trusted_keys_path()}); "
            "a review signed by it would not verify — `corpusmill keys trust NAME PUBLIC_KEY` first"
        )
    if reviewer is not None and reviewer.strip() and reviewer != own.name:
        raise IllegalTransition(
            f"--reviewer {printable(reviewer)} is not the name of your signing key ({own.name}): "
            "the reviewer recorded is always the key's name; omit --reviewer"
        )
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
    if action == "reopen" and st.successor:
        raise IllegalTransition(
            f"{mid} was rejected by a takedown (successor {st.successor}): it cannot be reopened; review the successor"
        )
    if action == "approve":
        bad = cat.verify(mid)
        if bad:
            raise IntegrityError(f"{mid}: refusing to approve: its files do not match the manifest:\n  " + "\n  ".join(bad))
        sig_ok, sig_problems = check_manifest_signature(cat, manifest, trusted)
        if sig_problems:
            raise IntegrityError(f"{mid}: refusing to approve: " + "; ".join(sig_problems))
    seq = len(st.records)
    record = {
        "kind": "review",
        "manifest_id": mid,
        "seq": seq,
        "action": action,
        "from_state": st.state,
        "to_state": target,
        "reviewer": own.name,
        "time": now_utc(),
        "comment": comment,
        "prev": record_sha256(st.records[-1]) if st.records else None,
        "manifest_sha256": manifest_sha256(manifest),
        "manifest_fields": signing.field_digests(manifest),
        # a later deletion of the producer signature is then detected (see verify)
        "producer_signature_sha256": signature_sha256(cat, mid),
    }
    if successor:
        record["successor"] = successor
    signed = signing.sign(record, key)
    cat.write_json_new(review_rel(mid, seq), signed)
    _write_head(cat, mid, [*st.records, signed], key)
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
    removal: dict[str, Any] | None = None  # signed record of the files removed from data/ (manifests.gc)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(cat: Catalog, mid: str, check_files: bool = True, trusted: dict[str, signing.TrustedKey] | None = None) -> Verification:
    """Manifest ID, producer signature, review chain, index history and (optionally) every file's sha256."""
    trusted = signing.load_trusted_keys() if trusted is None else trusted
    manifest = cat.get(mid)  # raises IntegrityError when the content no longer matches the ID
    signed, problems = check_manifest_signature(cat, manifest, trusted)
    st = replay(cat, manifest, trusted)
    problems += st.problems
    committed = [r["producer_signature_sha256"] for r in st.records if r.get("producer_signature_sha256")]
    if committed and signature_sha256(cat, mid) != committed[-1]:
        problems.append(
            f"producer signature {signature_rel(mid)} is "
            + ("missing" if not signed else "not the one")
            + " that the review records committed to (it was deleted or replaced after review)"
        )
    shas = [record_sha256(r) for r in st.records]
    problems += cat.index.check_reviews(mid, shas)
    if not problems:  # remember a verified history, so a later removal or rewrite is noticed
        for rec, sha in zip(st.records, shas):
            cat.index.add_review(mid, rec["seq"], rec, sha)
    removal, removal_problems = check_removal(cat, mid, st, trusted)
    problems += removal_problems
    if check_files:
        gone = {f["path"] for f in (removal or {}).get("removed", []) if isinstance(f, dict) and "path" in f}
        problems += cat.verify(mid, removed=gone)
    return Verification(mid, st.state, signed, problems, st, removal)


def require_pullable(v: Verification, allow_unapproved: bool) -> None:
    """Raise unless the manifest verifies and is approved (or the caller allows unapproved ones)."""
    if v.problems:
        raise IntegrityError(f"{v.manifest_id} failed verification:\n  " + "\n  ".join(v.problems))
    if v.removal is not None:  # nothing left to take, even with allow_unapproved
        raise DataRemoved(v)
    if v.state == APPROVED or allow_unapproved:
        return
    why = {
        DRAFT: "it is a draft: no reviewer has approved it",
        REJECTED: "it was rejected",
        REVOKED: "it was revoked",
    }[v.state]
    last = v.review.records[-1] if v.review.records else None
    if last is not None:
        why += f" by {printable(last['reviewer'])} on {printable(last['time'])}: {printable(last['comment'])}"
    if v.review.successor:
        why += f"; its successor is {v.review.successor}"
    raise NotApproved(v.manifest_id, why)
