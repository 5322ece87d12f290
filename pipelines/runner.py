"""Orchestration shared by every engine: plan, execute, ledger, manifest, publish.

Output directory layout (the same in the catalog under ``data/<ID>/``)::

    manifest.json
    ledger.parquet
    shards/part-00000.parquet …

A run is staged in a sibling directory and moved into place only when complete; an existing
output is never overwritten unless asked (``--overwrite``), and re-running an identical run is
not an error (same manifest ID → nothing to do).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from filters.base import Release, Stage, StageContext
from filters.registry import stage_class
from filters.schema import FILE_BITS, RECORD_BITS, SOURCE_BITS
from manifests import review
from manifests.catalog import Catalog, resolve_catalog_url
from manifests.manifest import SCHEMA_VERSION, seal, source_counts, stage_stats_from_counts
from manifests.schema import validate_manifest
from pipelines import __version__
from pipelines import benchmarks as benchmark_inputs
from pipelines.config import PipelineConfig, load_config
from pipelines.execution import LEDGER_NAME, Execution, output_schema
from corpusmill_base.errors import ConfigError, InputError, IntegrityError, OutputError, PolicyError
from pipelines.faults import checkpoint
from corpusmill_base.models import model_dir
from pipelines.plan import Plan, make_plan, own_paths
from pipelines.progress import Progress
from corpusmill_base.atomic import DirectoryLocked, exclusive_lock, file_in_the_way
from corpusmill_base.hashing import sha256_file

log = logging.getLogger("corpusmill")

MANIFEST_NAME = "manifest.json"


@dataclass
class RunOutcome:
    manifest: dict[str, Any]
    out_dir: Path
    catalog: Catalog
    reused: bool

    @property
    def id(self) -> str:
        return self.manifest["id"]


def build_stages(
    cfg: PipelineConfig, model_directory: str | None = None, workdir: str | None = None, base_dir: Path | None = None,
    input_bytes: int = 0,
) -> list[Stage]:
    context = StageContext(
        input_bytes=input_bytes,
        source_priority={s.id: (s.priority if s.priority is not None else 0) for s in cfg.sources},
        source_langs={s.id: (s.expected_langs or ([s.lang] if s.lang else [])) for s in cfg.sources},
        model_dir=str(model_dir(model_directory)),
        workdir=workdir,
        benchmarks=benchmark_inputs.specs(cfg, base_dir or Path.cwd()) if cfg.benchmarks else [],
    )
    return [stage_class(spec.name)(dict(spec.options), context) for spec in cfg.stages]


def resolve_releases(stages: list[Stage]) -> None:
    """Hand each stage the earlier releases it compares against (``Stage.wanted_releases``):
    file URLs from the catalog, every index file checked against its manifest's sha256 first."""
    for st in stages:
        ids, catalog_url = st.wanted_releases()
        if not ids:
            continue
        cat = Catalog(resolve_catalog_url(catalog_url))
        for mid in ids:
            manifest = cat.get(mid)
            if cat.read_json(review.removal_rel(mid)) is not None:  # revoked, its files removed (manifests.gc)
                raise InputError(f"released: {mid} was revoked and its document files were removed from the catalog "
                                 f"({review.removal_rel(mid)}); name its successor instead (corpusmill manifest lineage {mid})")
            indexes = {}
            for entry in manifest.get("indexes", []):
                if cat.sha256(mid, entry["path"]) != entry["sha256"]:
                    raise IntegrityError(f"{mid}: {entry['path']} does not match the manifest's sha256")
                indexes[entry["path"]] = cat.url_of(mid, entry["path"])
            shards = [cat.url_of(mid, s["path"]) for s in manifest["shards"]]
            st.context.releases[mid] = Release(mid, indexes, shards)


def prepare(
    config_path: str | os.PathLike[str], engine: str | None = None, workers: int | None = None, sample_per_source: int | None = None,
    out: str | os.PathLike[str] | None = None, catalog: str | None = None,
) -> Plan:
    """The plan of a run into ``out`` (default: the config's ``output.dir``): the run's own output
    and catalog are left out of the sources' listings."""
    cfg, base = load_config(config_path)
    if engine:
        cfg = cfg.model_copy(update={"engine": engine})
    if workers:
        cfg = cfg.model_copy(update={"workers": workers})
    if sample_per_source:  # --sample-per-source: recorded in the manifest's config like limits.sample_per_source
        cfg = cfg.model_copy(update={"limits": cfg.limits.model_copy(update={"sample_per_source": sample_per_source})})
    plan = make_plan(cfg, base, own_paths(Path(out or cfg.output.dir), resolve_catalog_url(catalog, cfg.catalog)))
    benchmark_inputs.check(cfg, base)  # before any document is read, --dry-run included
    if cfg.engine != "local":  # what the engine would refuse once started: before any work, --dry-run included
        _engine(cfg.engine).check_options(cfg)
    return plan


def check_models(stages: list[Stage]) -> list[dict[str, Any]]:
    """Every model and table the stages will load, present and matching its pin (sha256): the
    stages' ``artifacts()``, which raise :class:`IntegrityError` naming the file and the command
    that builds it. No model is loaded, only hashed (~1–2 CPU-s with the imports the PII stage's
    tables need); ``run`` and ``run --dry-run`` call it."""
    return [a for st in stages for a in st.artifacts()]


def run(
    config_path: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    catalog: str | None = None,
    engine: str | None = None,
    overwrite: bool | None = None,
    progress: Progress | None = None,
    plan: Plan | None = None,
    resume: bool = False,
    strict: bool = False,
) -> RunOutcome:
    """Run a config into ``out``; one run at a time per output directory (a lock beside it:
    two runs into the same ``--out`` ended in FileNotFoundError/FileExistsError tracebacks)."""
    plan = plan or prepare(config_path, engine, out=out, catalog=catalog)
    out_dir = Path(out or plan.config.output.dir).resolve()
    own = own_paths(out_dir, resolve_catalog_url(catalog, plan.config.catalog))
    if plan.own != own:  # made for another output or catalog: list again without this run's own files
        plan = make_plan(plan.config, plan.base_dir, own)
    for source_id, n in sorted(plan.left_out.items()):
        logging.getLogger("corpusmill").warning("source %s: %d file(s) this run writes itself (output, work files, catalog) left out of its listing", source_id, n)
    problem = output_dir_problem(out_dir)  # before the lock beside it is made (a file above it: "Not a directory")
    if problem:
        raise OutputError(problem)
    try:
        with exclusive_lock(out_dir):
            return _run_locked(plan, out_dir, catalog, overwrite, progress, resume, strict)
    except DirectoryLocked as e:
        raise OutputError(
            f"another corpusmill run ({e.holder}) is writing to {out_dir}; wait for it to finish or choose another --out"
        ) from None


def _run_locked(
    plan: Plan, out: Path, catalog: str | None, overwrite: bool | None, progress: Progress | None, resume: bool, strict: bool
) -> RunOutcome:
    """:func:`run`'s body, with the output directory locked and the plan made."""
    cfg = plan.config
    progress = progress or Progress()
    out_dir = out
    overwrite = cfg.output.overwrite if overwrite is None else overwrite
    _check_output_dir(out_dir)
    cat = Catalog(resolve_catalog_url(catalog, cfg.catalog))

    work = out_dir.parent / f".{out_dir.name}.work"
    same = identical_run(plan, cat, out_dir)
    if same is not None:  # nothing to recompute: publish (if needed) what is there
        refuse_withdrawn(cat, same)
        cat.publish(out_dir, same)
        shutil.rmtree(work, ignore_errors=True)  # left by a run killed after installing this very output
        return RunOutcome(manifest=same, out_dir=out_dir, catalog=cat, reused=True)
    # The stages as described (versions, options, library versions, takedown lists; ~2 ms, no
    # model hashing): a run killed under pii@8 is not resumed by pii@9 code into one manifest.
    described = build_stages(cfg, base_dir=plan.base_dir) + takedown_stages(cat, cfg)
    if resume and cfg.engine != "local":  # accepted (a scripted retry loop), but not silently
        log.warning("--resume: the %s engine does not resume an interrupted run; this run starts over", cfg.engine)
    _prepare_workdir(work, fingerprint(plan, described), resume, discard=overwrite)
    for stale in out_dir.parent.glob(f".{out_dir.name}.staging-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a killed run
    staging = out_dir.parent / f".{out_dir.name}.staging-{os.getpid()}"
    staging.mkdir(parents=True)
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    try:
        stages = build_stages(cfg, workdir=str(work / "stage-tmp"), base_dir=plan.base_dir, input_bytes=plan.total_bytes) + takedown_stages(cat, cfg)
        resolve_releases(stages)
        # A missing or altered model fails here, not after hours of earlier stages. The local
        # engine runs the check itself beside segment 0's first units when it has several workers
        # (the check is mostly the PII stage's imports, ~1-2 CPU-s the process pays anyway before
        # it loads the models, which were serial before any unit started), else before any unit.
        if cfg.engine == "local":
            execution = _engine(cfg.engine).execute(plan, stages, staging, progress, workdir=work, check=lambda: check_models(stages))
        else:
            check_models(stages)
            execution = _engine(cfg.engine).execute(plan, stages, staging, progress, workdir=work)  # writes the ledger
        from pipelines.engine_local import timeline  # the manifest's part of the run's tail, with CORPUSMILL_TIMELINE

        m0, mc0 = time.time(), time.process_time()
        manifest = build_manifest(plan, stages, execution, staging, started, time.perf_counter() - t0)
        timeline("manifest", m0, mc0)
        _decontamination_guard(manifest, strict)
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        refuse_withdrawn(cat, manifest)
        checkpoint("install")
        reused = _install(staging, out_dir, manifest["id"], overwrite)
        checkpoint("publish")
        if reused:
            manifest = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        cat.publish(out_dir, manifest, sign=review.sign_if_key)
    except OSError as e:
        if e.errno == errno.ENOSPC or "No space left" in str(e):
            where = e.filename or out_dir
            again = ("re-run with --resume to continue from the last completed unit" if cfg.engine == "local"
                     else f"re-run (a {cfg.engine} run starts over: it has no --resume)")
            raise OutputError(
                f"no space left on device while writing {where}; nothing incomplete was published — free space and {again}"
            ) from None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return RunOutcome(manifest=manifest, out_dir=out_dir, catalog=cat, reused=reused)


def _decontamination_guard(manifest: dict, strict: bool) -> None:
    """Say loudly when a source lost more than the decontaminate stage's max_source_share;
    under ``strict`` fail before anything is published."""
    problems = benchmark_inputs.guard(manifest)
    for line in problems:
        log.warning("DECONTAMINATION GUARD: %s", line)
    if problems and strict:
        raise PolicyError("--strict: decontamination guard tripped (nothing published):\n  " + "\n  ".join(problems))


def takedown_stages(cat: Catalog, cfg: PipelineConfig) -> list[Stage]:
    """The catalog's takedown lists for this run's sources, as a last ``takedown_list`` stage
    (none when no source was ever taken down): a takedown sticks to every later run."""
    from filters.takedown_list import TakedownList
    from manifests.takedown import takedown_lists

    lists = takedown_lists(cat, [s.id for s in cfg.sources])
    return [TakedownList({"lists": lists})] if lists else []


def refuse_withdrawn(cat: Catalog, manifest: dict[str, Any]) -> None:
    """A run whose ID the catalog holds as revoked, or taken down (it has a successor), is refused."""
    from manifests import review

    if not cat.has(manifest["id"]):
        return
    st = review.replay(cat, cat.get(manifest["id"]))
    if st.state == review.REVOKED or st.successor:
        last = st.records[-1] if st.records else {}
        raise OutputError(
            f"this run rebuilt {manifest['id']}, which is {st.state}" + (" (taken down)" if st.successor else "") + f" in {cat.url}"
            + (f" ({last.get('reviewer')}: {last.get('comment')})" if last else "")
            + (f"; its successor is {st.successor}" if st.successor else "")
            + " — not published. Use the successor, or change the config or inputs (a takedown recorded in this "
            "catalog is applied to later runs of its sources automatically)"
        )


def identical_run(plan: Plan, cat: Catalog, out_dir: Path) -> dict[str, Any] | None:
    """The manifest already in ``out_dir`` when this plan would rebuild it exactly, decided before
    any document is read: same config digest and code version, same stages as described (versions,
    options, library versions, takedown lists) and models (sha256), and the same input files by
    sha256. Hashing the inputs reads them once (the demo's 1 MB in milliseconds) instead of
    recomputing every stage. Inputs that are not local files are not hashed ahead: None."""
    path = out_dir / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    cfg = plan.config
    if old.get("config_digest") != cfg.digest() or old.get("code_version") != f"corpusmill {__version__}":
        return None
    stages = build_stages(cfg, base_dir=plan.base_dir) + takedown_stages(cat, cfg)
    if old.get("stages") != [st.describe() | {"key": st.key} for st in stages]:
        return None
    models = {a["name"]: a for st in stages for a in st.artifacts()}
    if old.get("models") != [models[k] for k in sorted(models)]:
        return None
    recorded = {(s["id"], f["path"]): f.get("sha256") for s in old.get("sources", []) for f in s.get("files", [])}
    planned = [(sp.source.id, f) for sp in plan.sources for f in sp.files]
    if len(recorded) != len(planned):
        return None
    for source_id, f in planned:
        if f.refused:  # never read, never hashed (a FIFO would block here; a link may lead outside the root)
            if (source_id, f.name) not in recorded or recorded[(source_id, f.name)] is not None:
                return None
            continue
        if "://" in f.url or recorded.get((source_id, f.name)) != sha256_file(f.url):
            return None
    return old


def fingerprint(plan: Plan, stages: list[Stage] | None = None) -> dict[str, Any]:
    """What must not change between a killed run and its resumption (the benchmarks' bytes too:
    the config names their paths only; the stages' descriptions, since ``code_version`` does not
    move when a stage's algorithm does)."""
    fp: dict[str, Any] = {
        "code_version": __version__,
        # A run killed under the old ingest-order layout (23/16/24 bits) is not resumed under this one.
        "order_bits": [SOURCE_BITS, FILE_BITS, RECORD_BITS],
        "config_digest": plan.config.digest(),
        "engine": plan.config.engine,
        # the masked name too (ids derive from it) and whether the plan refused the file
        "files": [[sp.source.id, f.url, f.size, f.name, f.refused] for sp in plan.sources for f in sp.files],
    }
    if plan.config.benchmarks:
        fp["benchmarks"] = benchmark_inputs.file_digests(plan.config, plan.base_dir)
    if stages is not None:
        fp["stages"] = json.loads(json.dumps([st.describe() | {"key": st.key} for st in stages], sort_keys=True, default=str))
    return fp


def _prepare_workdir(work: Path, fp: dict[str, Any], resume: bool, discard: bool = False) -> None:
    marker = work / "plan.json"
    if resume and marker.exists():
        old = json.loads(marker.read_text(encoding="utf-8"))
        if old != fp:
            changed = [k for k in fp if old.get(k) != fp[k]]
            raise OutputError(
                f"cannot resume from {work}: {', '.join(changed)} changed since the interrupted run; "
                "run again without --resume to start over"
            )
        return
    if not resume and marker.exists() and json.loads(marker.read_text(encoding="utf-8")) == fp:
        done = sum(1 for _ in work.rglob("*.done"))
        if done and discard:
            log.warning("discarding unfinished work of an interrupted run in %s (%d unit(s) done; --overwrite)", work, done)
        elif done:
            raise OutputError(
                f"an interrupted run of this config left unfinished work in {work} ({done} unit(s) done); "
                "continue it with --resume (same output, byte for byte), or start over with --overwrite"
            )
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tmp = work / "plan.json.tmp"
    tmp.write_text(json.dumps(fp, sort_keys=True), encoding="utf-8")
    os.replace(tmp, marker)


def _engine(name: str):
    if name == "local":
        from pipelines import engine_local

        return engine_local
    if name == "ray":
        from pipelines import engine_ray

        return engine_ray
    if name == "beam":
        from pipelines import engine_beam

        return engine_beam
    raise ConfigError(f"engine {name!r} is not available in this version; use engine: local")


def output_dir_problem(out_dir: Path) -> str | None:
    """Why a run cannot write into ``out_dir`` (read-only; ``run --dry-run`` says it too): a file
    at or above it, or a folder that holds something other than a corpusmill run."""
    where = file_in_the_way(out_dir)
    if where is not None:
        return f"output directory {out_dir} {where}; choose another --out"
    if not out_dir.exists() or (out_dir / MANIFEST_NAME).exists() or _partial_install(out_dir):
        return None
    return f"output directory {out_dir} exists, is not empty and holds no corpusmill run; choose another --out"


def _partial_install(out_dir: Path) -> bool:
    """Only what a run killed while moving its files into place leaves (no manifest: not a complete run)."""
    return {p.name for p in out_dir.iterdir()} <= {"shards", LEDGER_NAME, "minhash"}


def _check_output_dir(out_dir: Path) -> None:
    problem = output_dir_problem(out_dir)
    if problem:
        raise OutputError(problem)
    if out_dir.exists() and not (out_dir / MANIFEST_NAME).exists():
        for name in ("shards", "minhash"):
            shutil.rmtree(out_dir / name, ignore_errors=True)
        (out_dir / LEDGER_NAME).unlink(missing_ok=True)


def _install(staging: Path, out_dir: Path, new_id: str, overwrite: bool) -> bool:
    """Move a finished staging directory into place. Returns True when an identical run was already there."""
    existing = out_dir / MANIFEST_NAME
    if existing.exists():
        old_id = json.loads(existing.read_text(encoding="utf-8")).get("id")
        if old_id == new_id:
            return True
        if not overwrite:
            raise OutputError(
                f"output directory {out_dir} holds another run ({old_id}; this run is {new_id}); "
                "use --overwrite to replace it or choose another --out"
            )
        existing.unlink()  # first: a directory without manifest is visibly incomplete
        shutil.rmtree(out_dir / "shards", ignore_errors=True)
        (out_dir / LEDGER_NAME).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    if (staging / "shards").exists():
        os.replace(staging / "shards", out_dir / "shards")
    for extra in ("minhash",):  # directories of manifest ``indexes``
        if (staging / extra).exists():
            shutil.rmtree(out_dir / extra, ignore_errors=True)
            os.replace(staging / extra, out_dir / extra)
    os.replace(staging / LEDGER_NAME, out_dir / LEDGER_NAME)
    os.replace(staging / MANIFEST_NAME, out_dir / MANIFEST_NAME)  # last: its presence means complete
    return False


def build_manifest(plan: Plan, stages: list[Stage], execution: Execution, staging: Path, started: dt.datetime, seconds: float) -> dict:
    cfg = plan.config
    summary = execution.summary  # counted as the ledger was written: the ledger is not read back
    counts = source_counts(summary.counts)
    decisions = {d.source_id: d for d in plan.decisions}
    sources: list[dict[str, Any]] = []
    for src in cfg.sources:
        d = decisions[src.id]
        files = [
            {"path": f.path, "sha256": f.sha256, "bytes": f.bytes, "compression": f.compression, "encoding": f.encoding}
            | ({"format": f.format} if f.format else {})  # office documents: the format read
            for f in execution.files.get(src.id, [])
        ]
        empty = {"records_in": 0, "kept": 0, "dropped": 0, "quarantined": 0, "dropped_by": {}, "quarantined_by": {}}
        sources.append(
            {
                "id": src.id,
                "status": d.status,
                "policy_reason": d.reason,
                "provenance": src.provenance.model_dump(mode="json"),
                "format": src.format,
                "lang": src.lang,
                "domain": src.domain,
                "encodings": sorted({f["encoding"] for f in files if f["encoding"]}),
                "files": files,
                "counts": counts.get(src.id, empty),
                "stage_counters": {
                    stage: dict(sorted(per_source[src.id].items()))
                    for stage, per_source in sorted(execution.counters.items())
                    if src.id in per_source
                },
            }
        )
    models = {}
    for st in stages:
        for art in st.artifacts():
            models[art["name"]] = art
    totals = {k: sum(s["counts"][k] for s in sources) for k in ("records_in", "kept", "dropped", "quarantined")}
    indexes = [e | {"stage": st.key} for st in stages for e in st.release_files(staging, summary.kept_ids)]
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "name": cfg.name,
        "created_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "run": {
            "engine": cfg.engine,
            **({"workers": execution.workers} if execution.workers else {}),
            "seconds_total": round(seconds, 3),
            # Wall seconds inside the processes, summed (they count waits for a core); the CPU
            # seconds beside them where the engine measures them (every engine since session 13;
            # Ray and Beam leave out their band shuffle's worker CPU: docs/cluster.md).
            "seconds_by_stage": {k: round(v, 3) for k, v in sorted(execution.seconds.items())},
            **({"cpu_seconds_by_stage": {k: round(v, 3) for k, v in sorted(execution.cpu_seconds.items())}} if execution.cpu_seconds else {}),
        },
        "code_version": f"corpusmill {__version__}",
        "purpose": cfg.purpose.model_dump(mode="json"),
        "config": cfg.digest_view(),
        "config_digest": cfg.digest(),
        "policy": [d.to_json() for d in plan.decisions],
        "models": [models[k] for k in sorted(models)],
        "stages": [st.describe() | {"key": st.key} for st in stages],
        "stage_stats": stage_stats_from_counts([st.key for st in stages], summary.counts),
        "sources": sources,
        "totals": totals,
        "document_schema": [{"name": f.name, "type": str(f.type)} for f in output_schema(stages)],
        "shards": [s.to_json() for s in execution.shards],
        "ledger": {
            "path": LEDGER_NAME,
            "sha256": sha256_file(staging / LEDGER_NAME),
            "bytes": (staging / LEDGER_NAME).stat().st_size,
            "rows": summary.rows,
        },
    }
    if indexes:  # per-run indexes for later runs (e.g. minhash/index.parquet), moved and published with the run
        manifest["indexes"] = indexes
    sealed = seal(manifest)
    validate_manifest(sealed)
    return sealed
