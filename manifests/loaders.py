"""What trainers call: pull a manifest's shards, open them as a pyarrow dataset, load them with
Hugging Face ``datasets``, or iterate one rank's share of the documents.

Every entry point checks, before returning data: the manifest's ID against its content, its
signature and review chain (:func:`manifests.review.verify`), that it is approved (unless
``allow_unapproved``), and the sha256 of every shard it reads.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from manifests import derived, review
from manifests.catalog import Catalog, resolve_catalog_url, safe_relpath
from manifests.manifest import megatron_files
from corpusmill_base import arrowio
from corpusmill_base.atomic import file_in_the_way
from corpusmill_base.text import printable
from corpusmill_base.errors import IntegrityError, OutputError
from corpusmill_base.hashing import sha256_file
from filters.pii_fields import shown_name

if TYPE_CHECKING:
    import datasets
    from fsspec import AbstractFileSystem

CHUNK = 1 << 20


def _catalog(catalog: str | Catalog | None) -> Catalog:
    return catalog if isinstance(catalog, Catalog) else Catalog(resolve_catalog_url(catalog))


def checked(manifest_id: str, catalog: str | Catalog | None, allow_unapproved: bool) -> tuple[Catalog, dict[str, Any], review.Verification]:
    """Catalog, manifest and verification (signatures and review chain; files not yet hashed)."""
    cat = _catalog(catalog)
    v = review.verify(cat, manifest_id, check_files=False)
    review.require_pullable(v, allow_unapproved)
    manifest = cat.get(manifest_id)
    if not allow_unapproved:
        derived.require_current(cat, manifest)  # built from a taken-down manifest: rebuild first
    return cat, manifest, v


def _shard_problems(cat: Catalog, manifest_id: str, shards: list[dict[str, Any]], workers: int = 4) -> list[str]:
    def one(shard: dict[str, Any]) -> str | None:
        try:
            got = cat.sha256(manifest_id, shard["path"])
        except FileNotFoundError:
            return f"{shard['path']}: missing from the catalog"
        return None if got == shard["sha256"] else f"{shard['path']}: sha256 {got} does not match the manifest's {shard['sha256']}"

    with ThreadPoolExecutor(max_workers=max(1, workers)) as ex:
        return [p for p in ex.map(one, shards) if p]


def open(  # noqa: A001 — the documented trainer API: manifests.open(ID)
    manifest_id: str, catalog: str | Catalog | None = None, verify: bool = True, allow_unapproved: bool = False
) -> pads.Dataset:
    """The manifest's shards as a ``pyarrow.dataset.Dataset`` (shard order = document order).

    Refuses manifests that are not approved unless ``allow_unapproved``; with ``verify``
    (default) every shard's sha256 is checked first. Problems raise
    :class:`~corpusmill_base.errors.IntegrityError` or :class:`~manifests.review.NotApproved`.
    """
    cat, manifest, _ = checked(manifest_id, catalog, allow_unapproved)
    if verify:
        problems = _shard_problems(cat, manifest_id, [*manifest["shards"], manifest["ledger"]])
        if problems:
            raise IntegrityError(f"{manifest_id}: " + "; ".join(problems))
    paths = [cat.data_path(manifest_id, s["path"]) for s in manifest["shards"]]
    if not paths:  # every document taken down: no shard to read a schema from, so the manifest's
        return pads.dataset(empty_table(manifest))  # (a dataset of no columns failed `to_table(columns=["text"])`)
    return pads.dataset(paths, format="parquet", filesystem=cat.fs)


def _arrow_type(name: str) -> pa.DataType:
    try:
        return pa.type_for_alias(name)
    except ValueError:  # a nested type's string (list<…>, struct<…>) has no parser: no values to type anyway
        return pa.null()


def empty_table(manifest: dict[str, Any]) -> pa.Table:
    """No rows, the columns of the manifest's ``document_schema`` (a manifest without shards)."""
    return pa.schema([(c["name"], _arrow_type(c["type"])) for c in manifest["document_schema"]]).empty_table()


def open_ledger(manifest_id: str, catalog: str | Catalog | None = None) -> pads.Dataset:
    cat = _catalog(catalog)
    manifest = cat.get(manifest_id)
    return pads.dataset([cat.data_path(manifest_id, manifest["ledger"]["path"])], format="parquet", filesystem=cat.fs)


METADATA = ("manifest.json", "signature.json", "reviews.json")
# What a pull of a curated manifest without shards (every document taken down) writes: a Parquet
# file of no rows with the manifest's columns. Without it the pulled folder had no `shards/`, and
# what trainers point at `shards/*.parquet` (DuckDB's read_parquet, polars' scan_parquet, as the
# README shows) failed on "no files found". Written by the pull, not kept in the successor: the
# manifest (and so its ID) stays as the takedown made it. (`datasets.load_dataset("parquet", …)`
# refuses any split of no rows — "Instruction 'train' corresponds to no data" — file or not:
# `manifests.load_hf` returns the empty dataset.)
EMPTY_SHARD = "shards/empty.parquet"


def _part_of(target: Path) -> Path:
    return target.with_name(f".{target.name}.part")


def _copy(cat: Catalog, manifest_id: str, rel: str, part: Path, have: int) -> str:
    """Append the catalog's bytes from ``have`` on to ``part``; the sha256 of the whole part."""
    h = hashlib.sha256()
    if have:
        with builtins.open(part, "rb") as f:
            while data := f.read(CHUNK):
                h.update(data)
    with cat.fs.open(cat.data_path(manifest_id, rel), "rb") as src, builtins.open(part, "ab") as out:
        if have:
            src.seek(have)
        while data := src.read(CHUNK):
            h.update(data)
            try:
                out.write(data)
            except OSError as e:
                if e.errno == errno.ENOSPC:
                    free = shutil.disk_usage(part.parent).free
                    raise OutputError(
                        f"no space left on device while writing {part} (shard {rel}, {_size(e, part, have)}; "
                        f"{free:,} bytes free there): free space and re-run the same pull — finished shards are kept"
                    ) from None
                raise
    return h.hexdigest()


def _size(_e: OSError, part: Path, have: int) -> str:
    try:
        return f"{part.stat().st_size:,} bytes written"
    except OSError:
        return f"{have:,} bytes written"


def _have(shard: dict[str, Any], dest: Path, digest: bool = True) -> int | None:
    """What ``dest`` already holds of a shard: None when the whole file is there with the right
    digest (with ``digest=False``: the right size), else the bytes of a partial copy a pull
    continues (0: copied from the start)."""
    target = dest / safe_relpath(shard["path"])
    if target.exists() and target.stat().st_size == shard["bytes"] and (not digest or sha256_file(target) == shard["sha256"]):
        return None
    part = _part_of(target)
    have = part.stat().st_size if part.exists() else 0
    return have if have <= shard["bytes"] else 0


def _download(cat: Catalog, manifest_id: str, shard: dict[str, Any], dest: Path) -> tuple[str, str]:
    """Copy one shard; resumes a partial ``.part`` file. Returns (outcome, problem or '').

    A resumed copy that does not match is blamed on the local partial file and copied again
    whole once; only a fresh copy that does not match blames the catalog.
    """
    rel = safe_relpath(shard["path"])
    target = dest / rel
    have = _have(shard, dest)
    if have is None:
        return "present", ""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = _part_of(target)
    if not have and part.exists():
        part.unlink()  # longer than the shard: not a prefix of it
    got = _copy(cat, manifest_id, rel, part, have)
    outcome = "resumed" if have else "copied"
    if got != shard["sha256"] and have:
        part.unlink()  # the local partial file was bad, not necessarily the catalog
        got = _copy(cat, manifest_id, rel, part, 0)
        outcome = "copied again (the local partial file was corrupt)"
    if got != shard["sha256"]:
        part.unlink()
        return "failed", f"{rel}: the catalog's copy has sha256 {got}, not the manifest's {shard['sha256']}"
    os.replace(part, target)
    return outcome, ""


def _stale_files(dest: Path, manifest: dict[str, Any]) -> list[str]:
    """The files in ``dest`` a pull of ``manifest`` removes (see :func:`_prepare_dest`); raises
    :class:`OutputError` when ``dest`` holds files of no manifest pulled there. Writes nothing.

    Files of a manifest pulled there before (its ``manifest.json`` lists them) and our own
    partial files are removed: a successor pulled over its predecessor after a takedown must not
    leave the taken-down shards beside it. Any other file is refused, not deleted — the folder
    may hold someone's data.
    """
    files = [*manifest["shards"], *megatron_files(manifest)]
    wanted = {safe_relpath(s["path"]) for s in files} | set(METADATA) | ({derived.BLEND_FILE} if derived.is_derived(manifest) else set())
    wanted |= {EMPTY_SHARD} if _needs_empty_shard(manifest) else set()
    previous = _previous(dest)
    ours = set(METADATA) | {".manifest.json.tmp"}
    if previous:
        try:
            before = [*previous.get("shards", []), *megatron_files(previous)]
        except (AttributeError, KeyError, TypeError):  # a damaged manifest.json in the folder
            before = []
        ours |= {posixpath_norm(s.get("path", "")) for s in before if isinstance(s, dict)} | {derived.BLEND_FILE, EMPTY_SHARD}
    present = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file() or p.is_symlink())
    stale, foreign = [], []
    for rel in present:
        head, _, name = rel.rpartition("/")
        if rel in wanted and rel not in METADATA:
            continue
        if name.startswith(".") and name.endswith(".part") and f"{head}/{name[1:-5]}".lstrip("/") in wanted:
            continue  # a partial copy of a wanted shard: the pull continues it
        if rel in ours or (name.startswith(".") and name.endswith(".part")):
            if rel not in wanted:
                stale.append(rel)
        else:
            foreign.append(rel)
    if foreign:
        shown = ", ".join(printable(f) for f in foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise OutputError(
            f"pull {manifest['id']} refused: {dest} holds {len(foreign)} file(s) that are not part of any manifest "
            f"pulled there ({shown}); pull into an empty folder or remove them"
        )
    return stale


def _previous(dest: Path) -> dict[str, Any]:
    """``dest/manifest.json``, a manifest pulled there before; {} when missing or unreadable (a
    pull interrupted while writing it, a damaged file, JSON that is no object)."""
    try:
        previous = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return previous if isinstance(previous, dict) else {}


def _prepare_dest(dest: Path, manifest: dict[str, Any]) -> list[str]:
    """Make ``dest`` hold nothing but this manifest's files; returns what was removed."""
    stale = _stale_files(dest, manifest)
    if _previous(dest).get("id") != manifest["id"] and (dest / "manifest.json").exists():
        # first, so an interrupted pull never leaves a folder that claims to be the old manifest
        (dest / "manifest.json").unlink()
    for rel in stale:
        if rel != "manifest.json":
            (dest / rel).unlink()
            _remove_empty_parents(dest, dest / rel)
    return [r for r in stale if r not in METADATA]


def _remove_empty_parents(dest: Path, path: Path) -> None:
    """Remove the folders above a removed file that it left empty, up to ``dest``: a pull of a
    curated manifest over a blend left `megatron/train/`, `megatron/valid/`, … behind, empty.
    Only folders that held a removed file; a folder with anything else in it stays."""
    parent = path.parent
    while parent != dest and dest in parent.parents:
        try:
            parent.rmdir()
        except OSError:  # not empty (or not ours to remove): stop here
            return
        parent = parent.parent


def _needs_empty_shard(manifest: dict[str, Any]) -> bool:
    return not manifest["shards"] and not derived.is_derived(manifest)


def _write_empty_shard(manifest: dict[str, Any], dest: Path) -> None:
    """:data:`EMPTY_SHARD`, atomically (a ``.part`` file the next pull removes if interrupted)."""
    target = dest / EMPTY_SHARD
    target.parent.mkdir(parents=True, exist_ok=True)
    part = _part_of(target)
    pq.write_table(empty_table(manifest), part)
    os.replace(part, target)


def posixpath_norm(rel: str) -> str:
    try:
        return safe_relpath(rel)
    except IntegrityError:
        return ""


def _files(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The files a pull copies: the shards, and a derived manifest's Megatron files."""
    return [*manifest["shards"], *derived.megatron_files(manifest)]


def _checked_for_pull(manifest_id: str, catalog: str | Catalog | None, allow_unapproved: bool) -> tuple[Catalog, dict[str, Any], review.Verification]:
    cat, manifest, v = checked(manifest_id, catalog, allow_unapproved)
    for entry in [*_files(manifest), manifest["ledger"], *manifest.get("indexes", [])]:
        safe_relpath(entry["path"])  # refuse paths that escape, before reading or writing anything
    side = _shard_problems(cat, manifest_id, [manifest["ledger"], *manifest.get("indexes", [])])
    if side:
        raise IntegrityError(f"pull {manifest_id} refused: " + "; ".join(side))
    return cat, manifest, v


def _checked_into(manifest_id: str, to: str | os.PathLike[str], catalog: str | Catalog | None,
                  allow_unapproved: bool) -> tuple[Catalog, dict[str, Any], review.Verification]:
    """:func:`_checked_for_pull`; a refusal of a manifest that ``to`` already holds from an earlier
    pull says so — a trainer re-running the pull after a revocation was told only that the pull
    was refused, while the revoked documents stayed in the folder the job reads."""
    try:
        return _checked_for_pull(manifest_id, catalog, allow_unapproved)
    except (review.NotApproved, review.DataRemoved, derived.TakenDown) as e:
        if _previous(Path(to)).get("id") != manifest_id:
            raise
        note = f"the folder {printable(str(to))} still holds its files from an earlier pull: they may no longer be used, delete them"
        if isinstance(e, review.NotApproved):
            raise review.NotApproved(e.manifest_id, f"{e.why}; {note}") from None
        e.args = (f"{e.args[0]}. {note[0].upper()}{note[1:]}",)
        raise


def _folder(manifest_id: str, to: str | os.PathLike[str]) -> Path:
    dest = Path(to)
    where = file_in_the_way(dest)
    if where is not None:
        raise OutputError(f"pull {manifest_id} refused: {dest} {where}, not a folder; pull into a folder")
    return dest


def _to_copy(manifest: dict[str, Any], dest: Path, digest: bool) -> list[tuple[dict[str, Any], int | None]]:
    """Each file with what ``dest`` holds of it (:func:`_have`); all 0 when ``dest`` does not exist.
    ``pull`` estimates by size (its copies hash every present file anyway: not twice), the dry run
    by digest."""
    return [(f, _have(f, dest, digest) if dest.is_dir() else 0) for f in _files(manifest)]


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (where a new folder's files would land)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _free_space_check(manifest_id: str, dest: Path, files: list[tuple[dict[str, Any], int | None]], stale: list[str]) -> tuple[int, int | None]:
    """(bytes to copy, bytes free for them: free now plus the ``stale`` files the pull removes
    first); refuses before copying anything when they do not fit — a pull that fills the disk
    halfway leaves the trainer's node without space for anything else. Free space that cannot be
    read (None) is not checked."""
    need = sum(f["bytes"] - have for f, have in files if have is not None)
    try:
        free: int | None = shutil.disk_usage(_existing(dest)).free + sum((dest / r).lstat().st_size for r in stale)
    except OSError:
        free = None
    if free is not None and need > free:
        raise OutputError(
            f"pull {manifest_id} refused: {need:,} bytes to copy into {dest}, {free:,} bytes free there; "
            "free space or pull elsewhere (nothing was copied)"
        )
    return need, free


@dataclass(frozen=True)
class PullPreview:
    """What ``pull`` would do, from :func:`preview_pull` (``corpusmill pull --dry-run``)."""

    manifest_id: str
    state: str
    dest: Path
    files: int
    present: int
    resumed: int  # partial copies the pull continues
    bytes_to_copy: int
    free: int | None  # bytes free where they go; None when unknown
    removed: list[str]  # files of an earlier pull there that the pull removes


def preview_pull(
    manifest_id: str, to: str | os.PathLike[str], catalog: str | Catalog | None = None, allow_unapproved: bool = False
) -> PullPreview:
    """Every check :func:`pull` makes before copying — approval, paths, the ledger's and indexes'
    digests, the destination's files, free space — and what it would copy; writes nothing.
    Raises what ``pull`` would raise."""
    _, manifest, v = _checked_into(manifest_id, to, catalog, allow_unapproved)
    dest = _folder(manifest_id, to)
    files = _to_copy(manifest, dest, digest=True)
    stale = _stale_files(dest, manifest) if dest.is_dir() else []
    need, free = _free_space_check(manifest_id, dest, files, stale)
    return PullPreview(
        manifest_id=manifest_id, state=v.state, dest=dest, files=len(files), present=sum(h is None for _, h in files),
        resumed=sum(bool(h) for _, h in files), bytes_to_copy=need, free=free, removed=[r for r in stale if r not in METADATA],
    )


def pull(
    manifest_id: str,
    to: str | os.PathLike[str],
    catalog: str | Catalog | None = None,
    allow_unapproved: bool = False,
    workers: int = 4,
) -> dict[str, Any]:
    """Copy a manifest's shards (and the manifest, its signature and review records) to ``to``.

    Parallel (``workers`` threads), resumable (complete files with the right digest are kept,
    partial ``.part`` files are continued) and verified (a shard whose bytes differ from the
    manifest is removed and the pull fails, naming it). Refuses unapproved manifests unless
    ``allow_unapproved``. ``manifest.json`` is written last: its presence means complete.
    Returns the manifest plus a ``pull`` block counting what was copied.
    """
    cat, manifest, v = _checked_into(manifest_id, to, catalog, allow_unapproved)
    dest = _folder(manifest_id, to)
    with _pull_lock(dest):
        return _pull_locked(cat, manifest, v, dest, workers)


@contextlib.contextmanager
def _pull_lock(dest: Path) -> Iterator[None]:
    """One pull at a time into ``dest``; a second one waits, then finds the files present and
    verifies them. Every node of a training job running the same pull into a shared folder
    appended to the same ``.part`` files, and a pull removed the files another was writing.
    An ``flock`` on ``.<name>.pull.lock`` beside ``dest`` (released when the process dies); a
    folder whose parent cannot hold that file, or a file system without ``flock`` (NFS without
    lockd, Lustre without ``-o flock``, FUSE), is pulled without it, as before, with a warning."""
    where = dest.resolve()  # `--to .` and a symlinked spelling: one lock, beside the folder, never in it
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        fd = builtins.open(where.parent / f".{where.name}.pull.lock", "a+b")  # noqa: SIM115 — closed below
    except OSError:
        yield
        return
    try:
        log = logging.getLogger("corpusmill")
        try:
            fcntl.flock(fd.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another corpusmill pull is writing to %s; waiting for it to finish", shown_name(str(dest)))
            fcntl.flock(fd.fileno(), fcntl.LOCK_EX)
        except OSError as e:  # ENOLCK, ENOSYS, EOPNOTSUPP: this file system takes no locks
            log.warning("no lock on this file system (%s): concurrent pulls into %s are not serialised",
                        e.strerror or type(e).__name__, shown_name(str(dest)))
        yield
    finally:
        fd.close()  # closing the file releases the lock


def _pull_locked(cat: Catalog, manifest: dict[str, Any], v: review.Verification, dest: Path, workers: int) -> dict[str, Any]:
    manifest_id = manifest["id"]
    _free_space_check(manifest_id, dest, _to_copy(manifest, dest, digest=False), _stale_files(dest, manifest) if dest.is_dir() else [])
    dest.mkdir(parents=True, exist_ok=True)
    removed = _prepare_dest(dest, manifest)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as ex:
        results = list(ex.map(lambda s: _download(cat, manifest_id, s, dest), _files(manifest)))
    problems = [p for _, p in results if p]
    if problems:
        raise IntegrityError(
            f"pull {manifest_id} refused: {len(problems)} shard(s) in catalog {cat.url} do not match the manifest:\n  "
            + "\n  ".join(problems)
        )
    if _needs_empty_shard(manifest):
        _write_empty_shard(manifest, dest)
    (dest / "reviews.json").write_text(json.dumps(v.review.records, indent=2, ensure_ascii=False), encoding="utf-8")
    sig = cat.read_json(review.signature_rel(manifest_id))
    if sig is not None:
        (dest / "signature.json").write_text(json.dumps(sig, indent=2, ensure_ascii=False), encoding="utf-8")
    else:
        (dest / "signature.json").unlink(missing_ok=True)  # never another manifest's signature
    tmp = dest / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, dest / "manifest.json")
    counts: dict[str, int] = {}
    for outcome, _ in results:
        counts[outcome] = counts.get(outcome, 0) + 1
    info: dict[str, Any] = {"state": v.state, "shards": counts, "removed": removed}
    if derived.is_derived(manifest):  # Megatron datasets: the blend file with prefixes under `to`
        blend, args = derived.write_blend_file(manifest, dest)
        info |= {"blend_file": str(blend), "megatron_args": args}
    return manifest | {"pull": info}


def iter_shard(
    manifest_id: str,
    rank: int,
    world_size: int,
    catalog: str | Catalog | None = None,
    columns: list[str] | None = None,
    allow_unapproved: bool = False,
    batch_size: int = 1024,
) -> Iterator[dict[str, Any]]:
    """Rank ``rank``'s share of the documents, as dicts, in document order.

    Rank r of W gets documents ``[r·N//W, (r+1)·N//W)`` of the manifest's N documents (in shard
    order): deterministic, disjoint and complete over the ranks, balanced to within one document,
    and each rank reads (and sha256-checks) only the shards its range touches.
    """
    for batch in iter_shard_batches(manifest_id, rank, world_size, catalog, columns, allow_unapproved, batch_size):
        yield from batch.to_pylist()


def iter_shard_batches(
    manifest_id: str,
    rank: int,
    world_size: int,
    catalog: str | Catalog | None = None,
    columns: list[str] | None = None,
    allow_unapproved: bool = False,
    batch_size: int = 1024,
) -> Iterator[pa.RecordBatch]:
    """Like :func:`iter_shard`, as Arrow record batches."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size); got rank {rank}, world_size {world_size}")
    cat, manifest, _ = checked(manifest_id, catalog, allow_unapproved)
    total = sum(s["rows"] for s in manifest["shards"])
    start, end = rank * total // world_size, (rank + 1) * total // world_size
    offset = 0
    for shard in manifest["shards"]:
        lo, hi = max(start, offset), min(end, offset + shard["rows"])
        if lo < hi:
            problems = _shard_problems(cat, manifest_id, [shard], 1)
            if problems:
                raise IntegrityError(f"{manifest_id}: " + "; ".join(problems))
            yield from _rows(cat.fs, cat.data_path(manifest_id, shard["path"]), lo - offset, hi - offset, columns, batch_size)
        offset += shard["rows"]


def _rows(fs: AbstractFileSystem, path: str, lo: int, hi: int, columns: list[str] | None, batch_size: int) -> Iterator[pa.RecordBatch]:
    with arrowio.open_input(fs, path) as f:
        pf = pq.ParquetFile(f)
        pos = 0
        for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
            b_lo, b_hi = max(lo, pos), min(hi, pos + batch.num_rows)
            if b_lo < b_hi:
                yield batch.slice(b_lo - pos, b_hi - b_lo)
            pos += batch.num_rows
            if pos >= hi:
                break


def load_hf(
    manifest_id: str,
    catalog: str | Catalog | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    allow_unapproved: bool = False,
    **kwargs: Any,
) -> datasets.Dataset:
    """The manifest as a Hugging Face ``datasets.Dataset`` (split ``train``).

    Local catalogs are read in place after verification; remote ones are pulled (verified) to
    ``cache_dir`` (default ``~/.cache/corpusmill/pulled/<ID>``) first. Extra keyword arguments
    go to ``datasets.load_dataset``.
    """
    import datasets

    cat = _catalog(catalog)
    if not cat.get(manifest_id)["shards"]:  # every document taken down; `load_dataset` raises on no data files
        manifest = checked(manifest_id, cat, allow_unapproved)[1]
        return datasets.Dataset(datasets.table.InMemoryTable(empty_table(manifest)))
    if cat.local:
        manifest = cat.get(manifest_id)
        open(manifest_id, cat, verify=True, allow_unapproved=allow_unapproved)
        files = [cat.data_path(manifest_id, s["path"]) for s in manifest["shards"]]
    else:
        dest = Path(cache_dir or Path.home() / ".cache" / "corpusmill" / "pulled" / manifest_id)
        manifest = pull(manifest_id, dest, cat, allow_unapproved=allow_unapproved)
        files = [str(dest / safe_relpath(s["path"])) for s in manifest["shards"]]
    return datasets.load_dataset("parquet", data_files={"train": files}, split="train", **kwargs)

