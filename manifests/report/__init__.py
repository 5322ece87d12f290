"""Run reports: what a run kept and dropped, per source and stage, as HTML + JSON.

>>> from manifests.report import load_run, write_report          # doctest: +SKIP
>>> run = load_run("cm-0123456789abcdef")                        # doctest: +SKIP
>>> write_report(run, "reports/demo")                            # doctest: +SKIP

``load_run`` reads a manifest from the catalog (or a run directory holding ``manifest.json``),
its ledger and the shards' non-text columns; :mod:`manifests.report.figures` turns that into
plain data; :mod:`manifests.report.charts` draws it with matplotlib; :mod:`manifests.report.html`
puts it on one page.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from manifests.catalog import Catalog, resolve_catalog_url, safe_relpath
from manifests.report.figures import RunData, compute
from corpusmill_base.errors import InputError, IntegrityError
from corpusmill_base.text import printable

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

REPORT_HTML = "report.html"
FIGURES_JSON = "figures.json"


def load_run(ref: str | os.PathLike[str], catalog: str | Catalog | None = None, verify: bool = False) -> RunData:
    """A run by manifest ID (from the catalog) or by run directory; reads no document text.

    With ``verify`` every shard and the ledger are checked against the manifest's sha256 first.
    """
    path = Path(ref)
    if (path / "manifest.json").is_file():
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        if verify:
            from corpusmill_base.hashing import sha256_file

            bad = [e["path"] for e in [*manifest["shards"], manifest["ledger"]]
                   if sha256_file(path / safe_relpath(e["path"])) != e["sha256"]]
            if bad:
                raise IntegrityError(f"{path}: files do not match the manifest's sha256: {', '.join(bad)}")
        missing = [e["path"] for e in [*manifest["shards"], manifest["ledger"]] if not (path / safe_relpath(e["path"])).is_file()]
        if missing:  # a folder in a file's place reads as an empty table
            raise _unreadable(str(path), [f"{rel}: missing" for rel in missing], FileNotFoundError())
        try:
            ledger = pq.read_table(path / safe_relpath(manifest["ledger"]["path"]))
            shard_paths = [str(path / safe_relpath(s["path"])) for s in manifest["shards"]]
            return RunData(manifest=manifest, ledger=ledger, documents=_documents(shard_paths, None))
        except (OSError, pa.ArrowException) as e:
            raise _unreadable(str(path), _run_dir_problems(path, manifest), e) from None
    else:
        cat = catalog if isinstance(catalog, Catalog) else Catalog(resolve_catalog_url(catalog))
        mid = str(ref)
        manifest = cat.get(mid)
        if verify:
            problems = cat.verify(mid)
            if problems:
                raise IntegrityError(f"{mid}: " + "; ".join(problems))
        from manifests.loaders import open_ledger

        try:
            ledger = open_ledger(mid, cat).to_table()
            shard_paths = [cat.data_path(mid, s["path"]) for s in manifest["shards"]]
            return RunData(manifest=manifest, ledger=ledger, documents=_documents(shard_paths, cat.fs))
        except (OSError, pa.ArrowException) as e:
            raise _unreadable(mid, cat.verify(mid), e) from None


def _unreadable(where: str, problems: list[str], error: BaseException) -> Exception:
    """The error for a run whose ledger or shards cannot be read: the files that are missing or do
    not match the manifest's sha256 (exit 3), else the reader's first line (exit 2). Before, a
    shard cut short or flipped in the catalog ended `report` in pyarrow's traceback, and a missing
    one in ``error: FileNotFoundError``, naming no file."""
    if problems:
        return IntegrityError(f"{where}: cannot report on a run whose files do not match its manifest: {'; '.join(problems)}")
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return InputError(f"{where}: the run's ledger or shards cannot be read: {printable(first)}")


def _run_dir_problems(path: Path, manifest: dict[str, Any]) -> list[str]:
    from corpusmill_base.hashing import sha256_file

    problems = []
    for e in [*manifest["shards"], manifest["ledger"]]:
        f = path / safe_relpath(e["path"])
        if not f.is_file():
            problems.append(f"{e['path']}: missing")
        elif sha256_file(f) != e["sha256"]:
            problems.append(f"{e['path']}: sha256 does not match the manifest's")
    return problems


def _documents(paths: list[str], fs: AbstractFileSystem | None) -> pa.Table:
    if not paths:
        return pa.table({"id": pa.array([], pa.string()), "source_id": pa.array([], pa.string())})
    ds = pads.dataset(paths, format="parquet", filesystem=fs)
    return ds.to_table(columns=[n for n in ds.schema.names if n != "text"])


def write_report(run: RunData, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``report.html`` and ``figures.json`` into ``out_dir``; returns their paths."""
    from manifests.report.html import render

    figures = compute(run)
    if run.manifest.get("tokens"):  # tokenized/blend manifests: exact counts, not the chars-per-token estimate
        figures["sections"]["tokens_exact"] = run.manifest["tokens"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / REPORT_HTML, "json": out / FIGURES_JSON}
    _write_atomic(paths["json"], json.dumps(figures, indent=1, ensure_ascii=False, sort_keys=False) + "\n")
    _write_atomic(paths["html"], render(figures))
    return paths


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


__all__ = ["RunData", "compute", "load_run", "write_report"]
