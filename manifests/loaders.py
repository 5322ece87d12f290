"""What trainers call: open a manifest's shards as a pyarrow dataset, or pull them locally."""

from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads

from manifests.catalog import Catalog, resolve_catalog_url, safe_relpath
from pipelines.errors import IntegrityError


def _catalog(catalog: str | Catalog | None) -> Catalog:
    return catalog if isinstance(catalog, Catalog) else Catalog(resolve_catalog_url(catalog))


def open(manifest_id: str, catalog: str | Catalog | None = None, verify: bool = True) -> pads.Dataset:  # noqa: A001
    """The manifest's shards as a ``pyarrow.dataset.Dataset`` (shard order = document order).

    With ``verify`` (default) every shard's sha256 is checked first; a mismatch raises
    :class:`~pipelines.errors.IntegrityError`.
    """
    cat = _catalog(catalog)
    manifest = cat.get(manifest_id)
    if verify:
        problems = [p for p in cat.verify(manifest_id) if not p.startswith(manifest["ledger"]["path"])]
        if problems:
            raise IntegrityError(f"{manifest_id}: " + "; ".join(problems))
    paths = [cat.data_path(manifest_id, s["path"]) for s in manifest["shards"]]
    return pads.dataset(paths, format="parquet", filesystem=cat.fs)


def open_ledger(manifest_id: str, catalog: str | Catalog | None = None) -> pads.Dataset:
    cat = _catalog(catalog)
    manifest = cat.get(manifest_id)
    return pads.dataset([cat.data_path(manifest_id, manifest["ledger"]["path"])], format="parquet", filesystem=cat.fs)


def pull(manifest_id: str, to: str | os.PathLike, catalog: str | Catalog | None = None) -> dict[str, Any]:
    """Copy a manifest's shards (and the manifest) to ``to``, verifying each shard's sha256.

    Refuses, and removes the bad copy, when a shard's bytes differ from the manifest.
    Files already present with the right digest are not copied again (resumable).
    """
    import hashlib
    import json

    cat = _catalog(catalog)
    manifest = cat.get(manifest_id)
    dest = Path(to)
    problems = []
    for shard in manifest["shards"]:
        rel = safe_relpath(shard["path"])
        target = dest / rel
        if target.exists() and _sha256(target) == shard["sha256"]:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")
        h = hashlib.sha256()
        with cat.fs.open(cat.data_path(manifest_id, rel), "rb") as src, builtins.open(tmp, "wb") as out:
            while data := src.read(1 << 20):
                h.update(data)
                out.write(data)
        if h.hexdigest() != shard["sha256"]:
            tmp.unlink()
            problems.append(f"{rel}: sha256 {h.hexdigest()} does not match the manifest's {shard['sha256']}")
            continue
        os.replace(tmp, target)
    if problems:
        raise IntegrityError(
            f"pull {manifest_id} refused: {len(problems)} shard(s) in catalog {cat.url} do not match the manifest:\n  "
            + "\n  ".join(problems)
        )
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest


def _sha256(path: Path) -> str:
    from pipelines.shards import sha256_file

    return sha256_file(path)
