"""The catalog: manifests by ID plus the files they describe, on any fsspec filesystem.

Layout under the catalog root::

    manifests/<ID>.json          the manifest (written last, atomically: its presence means complete)
    data/<ID>/shards/part-*.parquet
    data/<ID>/ledger.parquet
    signatures/<ID>.json         the producer's Ed25519 signature over the manifest (manifests.review)
    reviews/<ID>/00000.json …    signed, hash-chained review records, append-only (manifests.review)
    index.sqlite                 the SQLite index (local catalogs; see manifests.index)

Where the catalog is: ``--catalog URL`` > ``$CORPUSMILL_CATALOG`` > the config's ``catalog`` >
``.corpusmill/catalog`` in the working directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import fsspec

from manifests.index import CatalogIndex, default_index_path
from manifests.manifest import check_id, megatron_files
from corpusmill_base.errors import ConfigError, CorpusmillError, IntegrityError, OutputError
from corpusmill_base.hashing import canonical_json

#: Called with (catalog, manifest) after a publish; see :meth:`Catalog.publish`.
Signer = Callable[["Catalog", dict[str, Any]], object]


def record_sha256(record: dict[str, Any]) -> str:
    """Digest of a review record (the hash chain links records by it)."""
    return hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest()

ENV_VAR = "CORPUSMILL_CATALOG"
DEFAULT_CATALOG = ".corpusmill/catalog"


class NotInCatalog(CorpusmillError):
    pass


def _precondition_failed(e: BaseException) -> bool:
    """Is ``e`` (or what caused it) an HTTP 412 / ``PreconditionFailed`` from object storage?"""
    seen = 0
    cur: BaseException | None = e
    while cur is not None and seen < 5:
        response = getattr(cur, "response", None)
        if isinstance(response, dict):
            err, meta = response.get("Error") or {}, response.get("ResponseMetadata") or {}
            if err.get("Code") in ("PreconditionFailed", "412") or meta.get("HTTPStatusCode") == 412:
                return True
        cur, seen = cur.__cause__ or cur.__context__, seen + 1
    return False


def resolve_catalog_url(flag: str | None = None, config_value: str | None = None) -> str:
    """``--catalog`` > ``$CORPUSMILL_CATALOG`` > config > default; relative paths are relative to the cwd."""
    url = flag or os.environ.get(ENV_VAR) or config_value or DEFAULT_CATALOG
    if "://" not in url and not os.path.isabs(url):
        return str(Path(url).resolve())
    return url


def safe_relpath(rel: str) -> str:
    """Refuse paths that could leave the manifest's data directory."""
    if not rel or "://" in rel or rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        raise IntegrityError(f"unsafe path in manifest: {rel!r} (absolute or with a scheme)")
    norm = posixpath.normpath(rel)
    if norm.startswith("..") or "/../" in f"/{norm}/" or "\\" in rel:
        raise IntegrityError(f"unsafe path in manifest: {rel!r} (escapes the catalog)")
    return norm


def catalog_filesystem(url: str) -> tuple[Any, str]:
    """fsspec's file system and path for a catalog URL, or one :class:`ConfigError`: a scheme
    whose package is not installed (`gs://` without gcsfs) or that fsspec does not know ended every
    catalog command, and `run`, in fsspec's ImportError/ValueError traceback (session 13)."""
    try:
        return cast("tuple[Any, str]", fsspec.core.url_to_fs(url))
    except (ImportError, ValueError) as e:
        raise ConfigError(f"catalog {url}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


class Catalog:
    def __init__(self, url: str, index_path: str | os.PathLike[str] | None = None):
        self.url = url.rstrip("/")
        self.fs, self.root = catalog_filesystem(self.url)
        self.local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        self.index = CatalogIndex(Path(index_path) if index_path else default_index_path(self.url, self.root if self.local else None))

    def __repr__(self) -> str:
        return f"Catalog({self.url!r})"

    def _p(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def manifest_path(self, mid: str) -> str:
        return self._p("manifests", f"{mid}.json")

    def data_path(self, mid: str, rel: str = "") -> str:
        return self._p("data", mid, safe_relpath(rel)) if rel else self._p("data", mid)

    def url_of(self, mid: str, rel: str) -> str:
        path = self.data_path(mid, rel)
        return path if self.local else self.fs.unstrip_protocol(path)

    def has(self, mid: str) -> bool:
        return cast(bool, self.fs.exists(self.manifest_path(mid)))

    def get(self, mid: str, check: bool = True) -> dict[str, Any]:
        path = self.manifest_path(mid)
        if not _valid_id(mid):
            raise NotInCatalog(f"{mid!r} is not a manifest ID (expected cm- and 16 hex digits)")
        try:
            with self.fs.open(path, "rb") as f:
                manifest: dict[str, Any] = json.loads(f.read().decode("utf-8"))
        except FileNotFoundError:
            raise NotInCatalog(
                f"no manifest {mid} in catalog {self.url}; `corpusmill manifest list --catalog {self.url}` shows what is there"
            ) from None
        except ValueError as e:  # cut short, emptied, not UTF-8: every command on it (and `list` on a fresh index) was a traceback
            raise IntegrityError(f"catalog {self.url}: {mid}.json is not a readable manifest ({type(e).__name__}: "
                                 f"{str(e).splitlines()[0][:120]}) — it was damaged or cut short after it was written") from None
        if not isinstance(manifest, dict):
            raise IntegrityError(f"catalog {self.url}: {mid}.json holds a JSON {type(manifest).__name__}, not a manifest — "
                                 "it was changed after it was written")
        if check:
            try:
                check_id(manifest)
            except ValueError as e:
                raise IntegrityError(f"catalog {self.url}: {mid}: {e} — the manifest was changed after it was written") from None
            if manifest["id"] != mid:
                raise IntegrityError(f"catalog {self.url}: file {mid}.json holds manifest {manifest['id']}")
        return manifest

    def ids(self) -> list[str]:
        try:
            names = sorted(self.fs.ls(self._p("manifests"), detail=False))
        except FileNotFoundError:
            return []
        ids = [posixpath.basename(n)[:-5] for n in names if n.endswith(".json")]
        return [i for i in ids if _valid_id(i)]

    def refresh_index(self, history: Callable[[str], tuple[list[dict[str, Any]], list[str]]]) -> CatalogIndex:
        """Bring the SQLite index up to date with the manifests and review records in the catalog.

        ``history(mid)`` returns a manifest's *verified* review records and the problems found
        (the review workflow's replay: :func:`manifests.review.refresh_index`), so only verified
        states enter the index — an approval signed by an untrusted key is listed as
        ``unverified``, never as approved. The catalog stores; it does not judge signatures.
        """
        self.index.sync(self.ids(), lambda mid: self.get(mid, check=False), self.list_rel("reviews", recursive=True),
                        history, record_sha256)
        return self.index

    # Small JSON side files (signatures, review records), by path relative to the catalog root.
    def read_json(self, rel: str) -> dict[str, Any] | None:
        """The JSON object in ``rel``; None when there is no such file; :class:`IntegrityError`
        when it is not a JSON object (cut short, emptied, not UTF-8, a list): a damaged review
        record, chain head or signature ended verify, pull, audit, takedown, tokenize and mix in a
        traceback (session 13)."""
        try:
            with self.fs.open(self._p(safe_relpath(rel)), "rb") as f:
                data = json.loads(f.read().decode("utf-8"))
        except FileNotFoundError:
            return None
        except ValueError as e:
            raise IntegrityError(f"catalog {self.url}: {rel} is not readable JSON ({type(e).__name__}: "
                                 f"{str(e).splitlines()[0][:120]}) — it was damaged or cut short after it was written") from None
        if not isinstance(data, dict):
            raise IntegrityError(f"catalog {self.url}: {rel} holds a JSON {type(data).__name__}, not an object — "
                                 "it was changed after it was written")
        return cast("dict[str, Any]", data)

    def write_json_new(self, rel: str, data: dict[str, Any]) -> None:
        """Create ``rel``; refuse if it exists (append-only records are never rewritten)."""
        path = self._p(safe_relpath(rel))
        payload = json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8")
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        if self.local:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                raise OutputError(f"{rel} already exists in catalog {self.url}; records are never rewritten") from None
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
            return
        # ``mode="create"`` is a conditional PUT (If-None-Match: *) on S3, so two reviewers
        # writing the same record number cannot both succeed; other fsspec back ends check, then write.
        try:
            self.fs.pipe_file(path, payload, mode="create")
        except FileExistsError:
            raise OutputError(f"{rel} already exists in catalog {self.url}; records are never rewritten") from None
        except OSError as e:
            # s3fs maps a refused conditional PUT to FileExistsError only when the 412 names its
            # condition (AWS: Condition: If-None-Match); S3-compatible stores that leave it out gave
            # a generic "Invalid argument" error. This PUT's only condition is If-None-Match.
            if _precondition_failed(e):
                raise OutputError(f"{rel} already exists in catalog {self.url}; records are never rewritten") from None
            raise

    def write_json_replace(self, rel: str, data: dict[str, Any]) -> None:
        """Write ``rel`` whole (temporary name, then rename): for the one mutable file per
        review chain, its signed head."""
        path = self._p(safe_relpath(rel))
        payload = json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8")
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        if self.local:
            tmp = f"{path}.tmp-{os.getpid()}"
            with open(tmp, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            return
        with self.fs.open(path, "wb") as f:  # a single PUT on object storage is atomic
            f.write(payload)

    def list_rel(self, rel: str, recursive: bool = False) -> list[str]:
        """Files under ``rel``, as sorted paths relative to the catalog root."""
        base = self._p(safe_relpath(rel))
        try:
            found = self.fs.find(base) if recursive else self.fs.ls(base, detail=False)
        except FileNotFoundError:
            return []
        root = self.root.rstrip("/") + "/"
        return sorted(p[len(root):] if p.startswith(root) else p for p in found if not p.endswith("/"))

    def publish(self, run_dir: Path, manifest: dict[str, Any], sign: Signer | None = None) -> None:
        """Copy a finished run's files into the catalog; the manifest goes last.

        ``sign(catalog, manifest)`` runs after (also when the manifest was already published):
        the review workflow's :func:`manifests.review.sign_if_key` signs it when a key is
        configured. The catalog stores records; it does not know the review workflow.
        """
        mid = manifest["id"]
        if self.has(mid):
            if sign is not None:
                sign(self, manifest)
            return
        rels = [s["path"] for s in manifest["shards"]] + [manifest["ledger"]["path"]]
        rels += [e["path"] for e in manifest.get("indexes", [])]
        rels += [e["path"] for e in megatron_files(manifest)]
        for rel in rels:
            src = run_dir / safe_relpath(rel)
            dst = self.data_path(mid, rel)
            self._put(src, dst)
        tmp = self.manifest_path(mid) + ".tmp"
        self.fs.makedirs(self._p("manifests"), exist_ok=True)
        with self.fs.open(tmp, "wb") as f:
            f.write(json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))
        self.fs.mv(tmp, self.manifest_path(mid))
        self.index.add_manifest(manifest)
        if sign is not None:
            sign(self, manifest)

    def _put(self, src: Path, dst: str) -> None:
        self.fs.makedirs(posixpath.dirname(dst), exist_ok=True)
        if self.local:
            tmp = f"{dst}.tmp-{os.getpid()}"
            try:
                os.link(src, tmp)  # same filesystem: no copy needed, files are immutable
            except OSError:
                self.fs.put_file(str(src), tmp)
            os.replace(tmp, dst)
        else:
            self.fs.put_file(str(src), dst)

    def remove_data(self, mid: str, rel: str) -> bool:
        """Delete one file under ``data/<mid>/`` (False when it was already gone); empty
        directories left behind go too (local catalogs; object stores have none)."""
        path = self.data_path(mid, rel)
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            return False
        if self.local:
            d, top = os.path.dirname(path), self.data_path(mid)
            while d.startswith(top) and os.path.isdir(d) and not os.listdir(d):
                os.rmdir(d)
                d = os.path.dirname(d)
        return True

    def sha256(self, mid: str, rel: str) -> str:
        h = hashlib.sha256()
        with self.fs.open(self.data_path(mid, rel), "rb") as f:
            while data := f.read(1 << 20):
                h.update(data)
        return h.hexdigest()

    def verify(self, mid: str, removed: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Every problem with a manifest and its files (empty list = verified); ``removed``: files
        a signed review record says were removed on purpose (manifests.gc), not checked."""
        manifest = self.get(mid)
        problems = []
        for entry in [*manifest["shards"], manifest["ledger"], *manifest.get("indexes", []), *megatron_files(manifest)]:
            rel = entry["path"]
            if rel in removed:
                continue
            try:
                got = self.sha256(mid, rel)
            except FileNotFoundError:
                problems.append(f"{rel}: missing from the catalog")
                continue
            except IsADirectoryError:  # was `error: Is a directory (…)`, exit 2, and no other problem listed
                problems.append(f"{rel}: a directory in the catalog, not the file")
                continue
            if got != entry["sha256"]:
                problems.append(f"{rel}: sha256 {got} does not match the manifest's {entry['sha256']}")
        return problems


def _valid_id(mid: str) -> bool:
    return len(mid) == 19 and mid.startswith("cm-") and all(c in "0123456789abcdef" for c in mid[3:])
