"""Catalog commands for legal reviewers and trainers.

``keys init|show|trust``, ``review approve|reject|revoke|history``, ``audit``, ``takedown``,
``export croissant``, and ``manifest lineage|diff|sign`` (added to the ``manifest`` command).
``pull`` and ``manifest verify`` live in :mod:`pipelines.cli` and use the same checks
(:func:`manifests.review.verify`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from pathlib import Path

from corpusmill_base.text import printable


def _catalog(args):
    from manifests.catalog import Catalog, resolve_catalog_url

    return Catalog(resolve_catalog_url(args.catalog))


def _write(text: str, out: str | None) -> None:
    if out in (None, "-"):
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# ---------------------------------------------------------------- keys


def cmd_keys_init(args: argparse.Namespace) -> int:
    from manifests import signing

    path, key = signing.init_key(args.name, force=args.force)
    print(f"signing key {key.key_id} ({args.name}) in {path}; public key trusted in {signing.trusted_keys_path()}")
    print(f"public key: {signing.public_b64(key.public)}")
    return 0


def cmd_keys_show(args: argparse.Namespace) -> int:
    from manifests import signing

    key = signing.load_signing_key(required=False)
    if key is None:
        print("no signing key configured (corpusmill keys init)")
    else:
        print(f"signing key {key.key_id} from {key.origin}: ed25519 {signing.public_b64(key.public)}")
    trusted = signing.load_trusted_keys()
    print(f"trusted keys ({signing.trusted_keys_path()}):" if trusted else f"no trusted keys in {signing.trusted_keys_path()}")
    for k in trusted.values():
        print(f"  {k.key_id}  {k.name}  ed25519 {signing.public_b64(k.public)}")
    return 0


def cmd_keys_trust(args: argparse.Namespace) -> int:
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from manifests import signing
    from corpusmill_base.errors import ConfigError

    try:
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(args.public_key, validate=True))
    except ValueError as e:
        raise ConfigError(f"not a base64 Ed25519 public key: {e}") from None
    added = signing.trust(args.name, pub)
    print(f"{'trusted' if added else 'already trusted'}: {args.name} ({signing.key_id_of(pub)})")
    return 0


# ---------------------------------------------------------------- review


def cmd_review(args: argparse.Namespace) -> int:
    from manifests import review

    cat = _catalog(args)
    if args.review_command == "approve":  # an approval of data whose source release was taken down or revoked
        from manifests import derived

        derived.require_current(cat, cat.get(args.id))
    rec = review.transition(cat, args.id, args.review_command, args.reviewer, args.comment)
    print(f"{args.id}: {rec['from_state']} → {rec['to_state']} by {printable(rec['reviewer'])} at {rec['time']} (record {rec['seq']:05d}, signed by key {rec['signature']['key_id']})")
    if rec["to_state"] == review.REVOKED:  # a revoked release's documents leave the catalog's data/
        from manifests import gc

        _print_removal(gc.remove(cat, args.id, reviewer=args.reviewer))
        from manifests.derived import descendants

        for d in descendants(cat, args.id):  # their token files are copies of the revoked documents
            print(f"  derived {d['kind']} manifest {d['id']} ({printable(d['name'])}) is now refused by pull and the loaders; "
                  f"`corpusmill review revoke {d['id']} --comment …` removes its files from data/")
    return 0


def _print_removal(r, dry_run: bool = False) -> None:
    if r is None:
        return
    verb = "would remove" if dry_run else "removed"
    print(f"{r.manifest_id} ({r.state}): {verb} {len(r.removed)} document file(s), {r.bytes:,} bytes, from the catalog's data/"
          + ("" if dry_run or not r.recorded else f" (signed record: removals/{r.manifest_id}.json)"))
    for k in r.kept:
        print(f"  kept {k['path']}: still named by {k['referenced_by']}")


def cmd_catalog_gc(args: argparse.Namespace) -> int:
    from manifests import gc

    cat = _catalog(args)
    done = gc.collect(cat, reviewer=args.reviewer, dry_run=args.dry_run)
    for r in done:
        _print_removal(r, args.dry_run)
    if not done:
        print("nothing to remove: no revoked manifest has document files left in the catalog")
    return 0


def cmd_review_history(args: argparse.Namespace) -> int:
    from manifests import review

    v = review.verify(_catalog(args), args.id, check_files=False)
    if args.json:
        print(json.dumps({"state": v.state, "problems": v.problems, "records": v.review.records}, indent=2, ensure_ascii=False))
        return 0
    print(f"{args.id}: {v.state}" + ("" if v.ok else " — HISTORY DOES NOT VERIFY"))
    for r in v.review.records:
        p = {k: printable(r.get(k)) for k in ("seq", "time", "action", "from_state", "to_state", "reviewer", "comment", "successor")}
        print(f"  {p['seq']:>5}  {p['time']}  {p['action']:<8} {p['from_state']} → {p['to_state']}  "
              f"{p['reviewer']}: {p['comment']}" + (f"  (successor {p['successor']})" if r.get("successor") else ""))
    for problem in v.problems:
        print(f"  problem: {printable(problem)}")
    return 0 if v.ok else 3


# ---------------------------------------------------------------- manifest lineage / diff / sign


def cmd_lineage(args: argparse.Namespace) -> int:
    from manifests.takedown import lineage

    from manifests.derived import derived_of

    cat = _catalog(args)
    chain = lineage(cat, args.id)
    for r in chain:  # tokenized datasets and blends built from each manifest of the chain
        r["derived"] = derived_of(cat, r["id"]) if r.get("created_at") else []
    if args.json:
        print(json.dumps(chain, indent=2, ensure_ascii=False))
        return 0
    for i, r in enumerate(chain):
        mark = "*" if r["id"] == args.id else " "
        td = r["takedown"]
        extra = f"  takedown of {td['documents_removed']:,} doc(s): {printable(td['reason'])}" if td else ""
        docs = f"{r['documents']:,} docs" if r["documents"] is not None else "?"
        print(f"{mark} {'└─ ' * (i > 0)}{r['id']}  {r['state']:<9} {r['created_at']}  {docs}{extra}")
        for d in r["derived"]:
            hit = d["affected_by"]
            note = ("" if not hit else f"  AFFECTED: built from taken-down {hit[0]['ancestor']}; rebuild from {hit[0]['successor']}"
                    if hit[0]["successor"] else f"  AFFECTED: built from revoked {hit[0]['ancestor']}; not to be used")
            print(f"    {'  ' * (d['depth'] - 1)}↳ {d['id']}  {d['kind']:<9} {d['state']:<9} {d['name']}{note}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from manifests.diff import diff, render

    cat = _catalog(args)
    d = diff(cat.get(args.a), cat.get(args.b))
    # per line: the diff's own line breaks stay, control characters inside catalog values are escaped
    print(json.dumps(d, indent=2, ensure_ascii=False) if args.json else "\n".join(map(printable, render(d).split("\n"))))
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    from manifests import review, signing

    cat = _catalog(args)
    rec = review.sign_manifest(cat, cat.get(args.id), signing.load_signing_key())
    print(f"{args.id}: signed by key {rec['signature']['key_id']} at {rec['signed_at']}")
    return 0


# ---------------------------------------------------------------- audit, takedown, export


AUDIT_FORMATS = {".html": "html", ".htm": "html", ".json": "json", ".csv": "csv"}


def audit_format(fmt: str | None, out: str | None) -> str:
    """The audit's format: ``--format``, else the extension of ``--out``; a mismatch is refused."""
    from corpusmill_base.errors import ConfigError

    if out in (None, "-"):
        return fmt or "html"
    ext = Path(out).suffix.lower()
    implied = AUDIT_FORMATS.get(ext)
    if fmt is None:
        if implied is None:
            raise ConfigError(f"--out {out}: cannot tell the format from {ext or 'a name without extension'!r}; "
                              "use .html, .json or .csv, or pass --format")
        return implied
    if implied is not None and implied != fmt:
        raise ConfigError(f"--out {out} names a {implied} file but --format is {fmt}; make them agree")
    return fmt


def check_audit_config(manifest: dict, config_path: str) -> None:
    """Refuse a ``--config`` that did not produce the manifest (its digest differs), naming both."""
    from corpusmill_base.errors import ConfigError
    from pipelines.config import load_config

    cfg, _ = load_config(config_path)
    if cfg.digest() != manifest.get("config_digest"):
        raise ConfigError(
            f"{config_path} did not produce {manifest['id']}: its config digest is {cfg.digest()}, the manifest's is "
            f"{manifest.get('config_digest')} (run {manifest.get('name')!r}); pass the config of that run, "
            "or leave out --config (the sample of dropped documents needs the exact config)"
        )


def cmd_audit(args: argparse.Namespace) -> int:
    from manifests import audit

    from pipelines.samples import sampler

    fmt = audit_format(args.format, args.out)
    cat = _catalog(args)
    if args.config:
        check_audit_config(cat.get(args.id), args.config)
    data = audit.collect(cat, args.id, sampler=sampler(args.config) if args.config else None)
    if fmt == "json":
        text = json.dumps(data, indent=2, ensure_ascii=False)
    elif fmt == "csv":
        text = audit.to_csv(data)
    else:
        from manifests.audit_html import render

        text = render(data)
    _write(text, args.out)
    if args.out not in (None, "-"):
        integ = data["integrity"]
        print(f"audit of {args.id} ({integ['state']}, {'verified' if integ['verified'] else 'VERIFICATION FAILED'}) → {args.out} ({fmt})")
    return 0 if data["integrity"]["verified"] else 3


def _print_takedown_preview(p: Any) -> int:
    removed = ", ".join(f"{s} {n:,}" for s, n in p.removed_by_source.items())
    print(f"dry run — nothing written, signed or removed. takedown of {p.predecessor} would:")
    print(f"  remove {sum(p.removed_by_source.values()):,} document(s) ({removed})")
    print(f"  rewrite {len(p.rewritten)} shard(s), remove (empty) {len(p.emptied)}, carry over {len(p.carried_over)} unchanged")
    if p.already_absent:
        print(f"  {p.already_absent:,} requested id(s) are not in the release (dropped or quarantined by the run)")
    print(f"  record {p.predecessor}: {p.old_state} → {p.new_state} with a successor manifest (a draft to review), and remove "
          f"{p.predecessor}'s document files from the catalog's data/")
    for n in p.notes:
        print(f"  note: {n}")
    return 0


def cmd_takedown(args: argparse.Namespace) -> int:
    from manifests.takedown import UnknownDocIds, doc_id_lines, read_doc_ids, takedown

    ids = read_doc_ids(args.doc_ids) if args.doc_ids else []
    try:
        if args.dry_run:
            return _print_takedown_preview(
                takedown(_catalog(args), args.id, args.reason, sources=args.source, doc_ids=ids, reviewer=args.reviewer, dry_run=True)
            )
        r = takedown(_catalog(args), args.id, args.reason, sources=args.source, doc_ids=ids, reviewer=args.reviewer)
    except UnknownDocIds as e:  # named by their lines in the file, never quoted (an id may hold personal data)
        lines = doc_id_lines(args.doc_ids, e.missing)
        more = f" and {len(lines) - 5} more" if len(lines) > 5 else ""
        raise UnknownDocIds(f"{args.doc_ids}: line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines[:5]))}{more}: {e}", e.missing) from None
    removed = ", ".join(f"{s} {n:,}" for s, n in r.removed_by_source.items())
    print(f"takedown of {args.id}: removed {sum(r.removed_by_source.values()):,} document(s) ({removed})")
    print(f"  shards rewritten {len(r.rewritten)}, removed (emptied) {len(r.emptied)}, carried over unchanged {len(r.carried_over)}")
    if r.already_absent:
        print(f"  {r.already_absent:,} requested id(s) were not in the release (dropped or quarantined by the run)")
    new_state = {"approved": "revoked", "draft": "rejected"}.get(r.old_state, r.old_state)
    print(f"  {args.id}: {r.old_state} → {new_state}, successor {r.id} (draft: review it with `corpusmill review approve {r.id} …`)")
    if r.data_removed:
        print(f"  {args.id}: {len(r.data_removed)} document file(s) removed from the catalog's data/ (signed record: removals/{args.id}.json)")
    for n in r.notes:
        print(f"  note: {n}")
    from manifests.derived import descendants

    for d in descendants(_catalog(args), args.id):
        # Its token files still hold the taken-down documents; revoking it is a reviewer's
        # decision (the rebuild may be on its way), and that revoke removes them from data/.
        print(f"  derived {d['kind']} manifest {d['id']} ({d['name']}) is now affected: pull refuses it until it is rebuilt "
              f"from {r.id}; its files still hold the taken-down documents — `corpusmill review revoke {d['id']} --comment …` removes them from data/")
    print(r.id)
    return 0


def cmd_export_croissant(args: argparse.Namespace) -> int:
    from manifests.croissant import to_croissant

    doc = to_croissant(_catalog(args).get(args.id), base_url=args.base_url)
    _write(json.dumps(doc, indent=2, ensure_ascii=False), args.out)
    if args.out not in (None, "-"):
        print(f"Croissant 1.0 JSON-LD for {args.id} → {args.out}")
    return 0


CATALOG_HELP = "catalog URL or directory (default: $CORPUSMILL_CATALOG, the config's catalog:, then .corpusmill/catalog)"
JSON_HELP = "machine-readable JSON on stdout"


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def register(sub: argparse._SubParsersAction) -> None:
    k = sub.add_parser("keys", help="Ed25519 signing keys and the trusted keys")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    ki = ksub.add_parser("init", help="create a signing key (0600) and trust it")
    ki.add_argument("--name", required=True, help="who signs with it (one word, shown in reviews)")
    ki.add_argument("--force", action="store_true", help="replace an existing key file")
    ki.set_defaults(func=cmd_keys_init)
    ksub.add_parser("show", help="the signing key in use and the trusted keys").set_defaults(func=cmd_keys_show)
    kt = ksub.add_parser("trust", help="trust another signer's public key")
    kt.add_argument("name", help="the signer's name (as in their `keys init --name`)")
    kt.add_argument("public_key", help="base64 raw Ed25519 public key (from `keys show`)")
    kt.set_defaults(func=cmd_keys_trust)

    r = sub.add_parser("review", help="approve, reject or revoke a manifest (signed, append-only)")
    rsub = r.add_subparsers(dest="review_command", required=True)
    for action, helptext in (
        ("approve", "draft → approved"),
        ("reject", "draft → rejected"),
        ("revoke", "approved → revoked"),
        ("reopen", "rejected → draft: a new review cycle (recorded; not after a takedown)"),
    ):
        sp = rsub.add_parser(action, help=helptext)
        sp.add_argument("id", help="manifest ID (cm-…)")
        sp.add_argument("--reviewer", help="optional check: must be your signing key's name (the name recorded)")
        sp.add_argument("--comment", required=True, help="why: recorded in the append-only review history")
        sp.add_argument("--catalog", help=CATALOG_HELP)
        sp.set_defaults(func=cmd_review)
    h = rsub.add_parser("history", help="the review records, verified")
    h.add_argument("id", help="manifest ID (cm-…)")
    h.add_argument("--json", action="store_true", help=JSON_HELP)
    h.add_argument("--catalog", help=CATALOG_HELP)
    h.set_defaults(func=cmd_review_history)

    msub = _subparsers(sub.choices["manifest"])
    ln = msub.add_parser("lineage", help="predecessors and successors (takedowns)")
    ln.add_argument("id", help="manifest ID (cm-…)")
    ln.add_argument("--json", action="store_true", help=JSON_HELP)
    ln.add_argument("--catalog", help=CATALOG_HELP)
    ln.set_defaults(func=cmd_lineage)
    df = msub.add_parser("diff", help="sources, counts, shards and config differences")
    df.add_argument("a", help="manifest ID (cm-…), the older")
    df.add_argument("b", help="manifest ID (cm-…), the newer")
    df.add_argument("--json", action="store_true", help=JSON_HELP)
    df.add_argument("--catalog", help=CATALOG_HELP)
    df.set_defaults(func=cmd_diff)
    sg = msub.add_parser("sign", help="sign a published manifest (runs sign automatically when a key is configured)")
    sg.add_argument("id", help="manifest ID (cm-…)")
    sg.add_argument("--catalog", help=CATALOG_HELP)
    sg.set_defaults(func=cmd_sign)

    a = sub.add_parser("audit", help="audit report for legal review (HTML, JSON or CSV)")
    a.add_argument("id", help="manifest ID (cm-…)")
    a.add_argument("--out", help="output file (default: stdout); its extension (.html, .json, .csv) sets the format")
    a.add_argument("--format", choices=["html", "json", "csv"],
                   help="html (default on stdout): the report; json: everything; csv: one row per source and decision type")
    a.add_argument("--config", help="the run's pipeline config (must be the one that produced ID): adds a masked sample of dropped documents")
    a.add_argument("--catalog", help=CATALOG_HELP)
    a.set_defaults(func=cmd_audit)

    t = sub.add_parser("takedown", help="successor manifest without a source's or listed documents")
    t.add_argument("id", help="manifest ID (cm-…) to take documents out of")
    t.add_argument("--source", action="append", default=[], help="source id to remove (repeatable)")
    t.add_argument("--doc-ids", help="file with document ids, one a line")
    t.add_argument("--reason", required=True, help="why (recorded in the successor manifest and the review history)")
    t.add_argument("--reviewer", help="optional check: must be your signing key's name (recorded on the revoke/reject record)")
    t.add_argument("--dry-run", action="store_true", help="check everything and say what would be removed; write, sign and remove nothing")
    t.add_argument("--catalog", help=CATALOG_HELP)
    t.set_defaults(func=cmd_takedown)

    cg = sub.add_parser("catalog", help="catalog maintenance: gc (revoked releases' document files)")
    cgsub = cg.add_subparsers(dest="catalog_command", required=True)
    gcp = cgsub.add_parser(
        "gc", help="remove revoked manifests' document files from data/ (signed record; the ledger stays)",
        description="Remove the shards, indexes and Megatron files of every revoked manifest (and every one rejected by a "
                    "takedown) from the catalog's data/, unless a live manifest still names them. Each removal is a signed "
                    "record removals/<ID>.json naming the revoking review record. takedown and review revoke do this at once; "
                    "gc is for catalogs from before, or a removal that was interrupted.")
    gcp.add_argument("--dry-run", action="store_true", help="list what would be removed; change nothing")
    gcp.add_argument("--reviewer", help="optional check: must be your signing key's name (recorded)")
    gcp.add_argument("--catalog", help=CATALOG_HELP)
    gcp.set_defaults(func=cmd_catalog_gc)

    e = sub.add_parser("export", help="export a manifest's metadata")
    esub = e.add_subparsers(dest="export_command", required=True)
    c = esub.add_parser("croissant", help="Croissant 1.0 JSON-LD (with sha256 per shard and PROV-O provenance)")
    c.add_argument("id", help="manifest ID (cm-…)")
    c.add_argument("--out", help="output file (default: stdout)")
    c.add_argument("--base-url", help="prefix for contentUrl (default: paths relative to the JSON file, as laid out by `pull`)")
    c.add_argument("--catalog", help=CATALOG_HELP)
    c.set_defaults(func=cmd_export_croissant)
