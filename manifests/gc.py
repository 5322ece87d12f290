"""Revoked releases leave the catalog's ``data/``: their document files are removed, on record.

A revoked manifest (or one rejected by a takedown) can never be pulled again, yet its shards —
with the taken-down documents in them — stayed under ``data/<ID>/``. A legal reviewer who
revokes a release, or whose takedown does, expects those documents gone from the catalog, and a
written trace of what went. So, right after the revoke (``takedown``, ``review revoke``) and on
``corpusmill catalog gc`` (catalogs from before, or a removal that was interrupted):

* what goes: every file that holds documents — shards, per-run indexes (e.g. MinHash signatures
  of the released documents) and Megatron ``.bin``/``.idx`` of a derived manifest;
* what stays: the manifest, its signatures and review records, and the ledger (ids, stages and
  reasons, no text) — the audit trail (``audit ID`` still reports the revoked release);
* never removed: a file another manifest that is not revoked still names (each manifest's files
  live under its own ``data/<ID>/``, so today that is a safeguard, checked before every delete);
* the record: ``removals/<ID>.json`` in the catalog, written once and signed by the reviewer's
  key, naming the review record that revoked the manifest and listing each file removed (path,
  sha256, bytes) and any kept with the manifest that still names it. It is written *before* the
  files are deleted; ``catalog gc`` finishes a removal that stopped half way. (A separate record,
  not a review record: the review chain holds decisions; this is their consequence.)

``manifest verify`` then skips exactly the files the record lists, and ``pull`` / the loaders
refuse the manifest naming the record and the successor, even with ``--allow-unapproved``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from manifests import review, signing
from manifests.catalog import Catalog, record_sha256
from manifests.manifest import megatron_files
from corpusmill_base.errors import InputError, IntegrityError
from corpusmill_base.text import printable


@dataclass
class Removal:
    manifest_id: str
    state: str
    removed: list[dict[str, Any]] = field(default_factory=list)  # {path, sha256, bytes}
    kept: list[dict[str, Any]] = field(default_factory=list)  # {path, referenced_by}
    recorded: bool = False  # a new removal record was written (False: finishing an earlier one)

    @property
    def bytes(self) -> int:
        return sum(int(f.get("bytes") or 0) for f in self.removed)


def document_files(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The files of a manifest that hold documents (the ledger holds none: it stays)."""
    return [*manifest["shards"], *manifest.get("indexes", []), *megatron_files(manifest)]


def _catalog_paths(manifest: dict[str, Any]) -> set[str]:
    mid = manifest["id"]
    return {f"data/{mid}/{e['path']}" for e in [*document_files(manifest), manifest["ledger"]]}


def live_references(cat: Catalog, states: dict[str, review.ReviewState]) -> dict[str, str]:
    """Catalog path → a manifest that still names it and is not revoked (nor rejected by a takedown)."""
    refs: dict[str, str] = {}
    for mid in cat.ids():
        st = states.get(mid)
        if st is not None and st.final:
            continue
        for path in _catalog_paths(cat.get(mid, check=False)):
            refs.setdefault(path, mid)
    return refs


def _entry(e: dict[str, Any]) -> dict[str, Any]:
    return {k: e[k] for k in ("path", "sha256", "bytes") if k in e}


def remove(
    cat: Catalog,
    mid: str,
    key: signing.SigningKey | None = None,
    reviewer: str | None = None,
    dry_run: bool = False,
    _states: dict[str, review.ReviewState] | None = None,
) -> Removal | None:
    """Remove a revoked manifest's document files from ``data/`` (None: not revoked, or nothing left)."""
    manifest = cat.get(mid)
    trusted = signing.load_trusted_keys()
    st = review.replay(cat, manifest, trusted)
    if not st.final or st.problems:
        return None
    present = [e for e in document_files(manifest) if cat.fs.exists(cat.data_path(mid, e["path"]))]
    if not present:
        return None
    earlier, problems = review.check_removal(cat, mid, st, trusted)
    if problems:
        raise IntegrityError(f"{mid}: " + "; ".join(problems))
    if earlier is not None:  # recorded before, then interrupted: finish exactly what the record lists
        listed = {f["path"] for f in earlier.get("removed", [])}
        out = Removal(mid, st.state, [_entry(e) for e in present if e["path"] in listed])
        if not dry_run:
            for e in out.removed:
                cat.remove_data(mid, e["path"])
        return out if out.removed else None
    states = _states if _states is not None else {m: review.replay(cat, cat.get(m, check=False), trusted) for m in cat.ids()}
    refs = live_references(cat, {**states, mid: st})
    out = Removal(mid, st.state, recorded=not dry_run)
    for e in present:
        by = refs.get(f"data/{mid}/{e['path']}")
        if by is not None:
            out.kept.append({"path": e["path"], "referenced_by": by})
        else:
            out.removed.append(_entry(e))
    if not out.removed or dry_run:
        return out
    key = key or signing.load_signing_key()
    own = trusted.get(key.key_id)
    if own is None:
        raise InputError(f"your signing key {key.key_id} is not in the trusted keys ({signing.trusted_keys_path()}); nothing was removed")
    if reviewer is not None and reviewer.strip() and reviewer != own.name:
        raise InputError(f"--reviewer {printable(reviewer)} is not the name of your signing key ({own.name}); omit --reviewer")
    last = st.records[-1]
    record = {
        "kind": "data-removal",
        "manifest_id": mid,
        "state": st.state,
        "decided_by": {"seq": last["seq"], "reviewer": last["reviewer"], "comment": last["comment"],
                       "record_sha256": record_sha256(last)},
        "successor": st.successor,
        "reviewer": own.name,
        "time": review.now_utc(),
        "removed": out.removed,
        "kept": out.kept,
        "note": "document files (shards, indexes, Megatron files) removed from data/; the ledger (no text) stays for the audit",
    }
    cat.write_json_new(review.removal_rel(mid), signing.sign(record, key))  # the record first: a crash leaves it to finish
    for e in out.removed:
        cat.remove_data(mid, e["path"])
    return out


def collect(cat: Catalog, key: signing.SigningKey | None = None, reviewer: str | None = None,
            dry_run: bool = False) -> list[Removal]:
    """:func:`remove` for every revoked manifest in the catalog that still has document files."""
    trusted = signing.load_trusted_keys()
    states = {m: review.replay(cat, cat.get(m, check=False), trusted) for m in cat.ids()}
    out = []
    for mid, st in sorted(states.items()):
        if st.final:
            r = remove(cat, mid, key=key, reviewer=reviewer, dry_run=dry_run, _states=states)
            if r is not None:
                out.append(r)
    return out
