"""Resolve a config into a plan: admitted sources, their files, the stages — before reading."""

from __future__ import annotations

import dataclasses
import glob as _glob
import os
from dataclasses import dataclass, field
from pathlib import Path

import fsspec

from filters.pii_fields import masked_file_names, shown_name
from manifests.catalog import catalog_filesystem
from filters.readers import ReadOptions, preflight_columns
from filters.schema import FILE_BITS, SOURCE_BITS
from pipelines.config import PipelineConfig, Source
from corpusmill_base.errors import InputError
from pipelines.policy import Decision, enforce


@dataclass(frozen=True)
class InputFile:
    url: str  # what fsspec opens
    rel: str  # path relative to the source root (recorded as source_file)
    size: int
    refused: str | None = None  # why the file is not read (quarantined as a whole), e.g. a symlink escaping the root
    #: How the file is named in every output (shards, ledger, manifest, logs, errors): ``rel`` with
    #: personal data masked, unique within the source (filters.pii_fields.masked_file_names).
    name: str = ""
    #: A sample run (``limits.sample_per_source``): read at most this many records of the file.
    max_records: int | None = None


@dataclass
class SourcePlan:
    index: int
    source: Source
    files: list[InputFile]
    options: ReadOptions


@dataclass
class Plan:
    config: PipelineConfig
    base_dir: Path
    decisions: list[Decision]
    sources: list[SourcePlan] = field(default_factory=list)
    #: The run's own files (see :func:`own_paths`) the listings left out, and how many per source.
    own: tuple[tuple[str, bool], ...] = ()
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for s in self.sources for f in s.files)


def _is_url(p: str) -> bool:
    return "://" in p


def _glob_root(pattern: str) -> str:
    parts = pattern.split("/")
    fixed: list[str] = []
    for part in parts:
        if _glob.has_magic(part):
            break
        fixed.append(part)
    else:
        fixed = fixed[:-1]  # a plain file: its directory is the root
    return "/".join(fixed) or "."


def _valid_text(name: str) -> str:
    """A file name with bytes that are not UTF-8 (``bad\\xff.jsonl``; Python hands them over as
    lone surrogates) is recorded with those bytes escaped: raw, it ended the run in a
    UnicodeEncodeError when hashed into a document id or written to the ledger."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# What a source's listing holds that is no readable file is quarantined by name with one of these
# (the ledger's row for the file), never skipped silently.
_UNREADABLE_LINK = "symlink to nothing readable (broken, a loop, or not a regular file); not read"
_NOT_A_FILE = "not a regular file (a FIFO, socket or device); not read"


def own_paths(out_dir: Path, catalog_url: str | None = None) -> tuple[tuple[str, bool], ...]:
    """What a run into ``out_dir`` writes itself, as ``(real path, is_prefix)``: the output, its work
    and staging directories and lock beside it, and a local catalog. A source listing a directory
    that holds them (``paths: [./]``, output under it) read the last run's shards, ledger and
    manifest as input: the second run of the same config quarantined 246 records and got another
    manifest ID (session 11). They are left out of every listing, so the first and the second run
    read the same files. ``is_prefix``: the staging directories are ``.<out>.staging-<pid>``."""
    out = os.path.realpath(out_dir)
    parent, name = os.path.dirname(out), os.path.basename(out)
    own = [(out, False), (os.path.join(parent, f".{name}.work"), False), (os.path.join(parent, f".{name}.staging-"), True),
           (os.path.join(parent, f".{name}.lock"), False)]
    if catalog_url:
        fs, root = catalog_filesystem(catalog_url)  # as the catalog itself resolves it (file:// too)
        if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
            own.append((os.path.realpath(root), False))
    return tuple(own)


class _Own:
    """Is a listed local path one of the run's own (:func:`own_paths`)? Directories resolved once each."""

    def __init__(self, own: tuple[tuple[str, bool], ...]):
        self.own = own
        self._dirs: dict[str, str] = {}

    def __call__(self, path: str) -> bool:
        d = os.path.dirname(path)
        if d not in self._dirs:
            self._dirs[d] = os.path.realpath(d)
        real = os.path.join(self._dirs[d], os.path.basename(path))
        return any(real.startswith(p) if prefix else real == p or real.startswith(p + os.sep) for p, prefix in self.own)


def resolve_files(source: Source, base_dir: Path, own: tuple[tuple[str, bool], ...] = (), left_out: dict[str, int] | None = None) -> list[InputFile]:
    """The source's files, sorted; local paths in ``own`` are left out (counted in ``left_out``)."""
    # One listing with details per pattern (type, size, link flag), not a stat per file: 100,000
    # small files took ~5 s to plan with isfile + size + realpath each, ~1 s now.
    found: dict[str, InputFile] = {}
    for pattern in source.paths:
        if not _is_url(pattern) and not os.path.isabs(pattern):
            pattern = str(base_dir / pattern)
        try:
            fs, path = fsspec.core.url_to_fs(pattern)
        except (ImportError, ValueError) as e:  # `gs://` without gcsfs, an unknown scheme: was a traceback
            raise InputError(f"source {source.id!r}: {_shown(pattern)!r}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        if _glob.has_magic(path):
            infos = fs.glob(path, detail=True)
            root = _glob_root(path)
        elif fs.isdir(path):
            infos = fs.find(path, detail=True)
            root = path
        else:
            infos = {path: fs.info(path)} if fs.exists(path) else {}
            root = _glob_root(path)
        matches = {}
        for m, info in infos.items():
            if info.get("islink"):  # listed as the link itself: follow it (size and type of the target)
                if fs.isdir(m):
                    continue
                if not fs.isfile(m):  # a link to nothing (broken, a loop) or to a FIFO/socket/device
                    info = {**info, "size": 0, "refused": _UNREADABLE_LINK}
                else:
                    info = {**info, "size": fs.size(m)}
            elif info.get("type") == "directory":
                continue
            elif info.get("type") != "file":  # reading a FIFO would block the run forever
                info = {**info, "size": 0, "refused": _NOT_A_FILE}
            matches[m] = info
        if not matches:
            raise InputError(f"source {source.id!r}: {_shown(pattern)!r} matches no files")
        local = protocol in ("file", "local")
        escapes = _RootCheck(root) if local else None
        if local and own:
            is_own = _Own(own)
            mine = [m for m in matches if is_own(m)]
            for m in mine:
                del matches[m]
            if left_out is not None and mine:
                left_out[source.id] = left_out.get(source.id, 0) + len(mine)
            if not matches:
                raise InputError(f"source {source.id!r}: {_shown(pattern)!r} matches only the run's own output")
        for m in sorted(matches):
            url = m if local else f"{protocol}://{m}"
            rel = _valid_text(os.path.relpath(m, root) if local else m[len(root):].lstrip("/"))
            refused = matches[m].get("refused") or (escapes(m, bool(matches[m].get("islink"))) if escapes else None)
            if url not in found:
                found[url] = InputFile(url=url, rel=rel, size=0 if refused else int(matches[m].get("size") or 0), refused=refused)
    files = sorted(found.values(), key=lambda f: (f.rel, f.url))
    names = masked_file_names([f.rel for f in files])
    return [dataclasses.replace(f, name=n) for f, n in zip(files, names, strict=True)]


def _shown(pattern: str) -> str:
    """A source's path pattern as errors print it: masked like file names (a path naming a file
    after a person, `in/kim.lee@example.com.jsonl`, that matched nothing was printed raw)."""
    return shown_name(pattern)


class _RootCheck:
    """A symlink (or a link in its path) that leads outside the source root is not followed.

    Directories are resolved once each (cached), files only when they are links themselves."""

    def __init__(self, root: str):
        self.root = os.path.realpath(root)
        self._dirs: dict[str, str] = {}

    def __call__(self, path: str, islink: bool) -> str | None:
        if islink:
            real = os.path.realpath(path)
        else:
            d = os.path.dirname(path)
            if d not in self._dirs:
                self._dirs[d] = os.path.realpath(d)
            real = os.path.join(self._dirs[d], os.path.basename(path))
        if real != self.root and not real.startswith(self.root.rstrip(os.sep) + os.sep):
            return "symlink points outside the source root; not read"
        return None


def make_plan(cfg: PipelineConfig, base_dir: Path, own: tuple[tuple[str, bool], ...] = ()) -> Plan:
    """``own``: the paths the run writes (:func:`own_paths`), left out of the sources' listings."""
    decisions = enforce(cfg)
    plan = Plan(config=cfg, base_dir=base_dir, decisions=decisions, own=own)
    admitted = {d.source_id for d in decisions if d.admitted}
    problems: list[str] = []
    if len(cfg.sources) > 1 << SOURCE_BITS:
        problems.append(f"{len(cfg.sources):,} sources; a config holds at most {1 << SOURCE_BITS:,} (the ingest order packs the source index in {SOURCE_BITS} bits) — run several configs")
    for index, src in enumerate(cfg.sources):
        if src.id not in admitted:
            continue
        try:
            files = resolve_files(src, base_dir, own, plan.left_out)
        except InputError as e:
            problems.append(str(e))
            continue
        if len(files) > 1 << FILE_BITS:
            problems.append(
                f"source {src.id!r}: {len(files):,} files; a source holds at most {1 << FILE_BITS:,} "
                f"(the ingest order packs the file index in {FILE_BITS} bits) — split it into several sources"
            )
            continue
        unmatched = sorted(set(src.encoding_overrides) - {f.rel for f in files})
        if unmatched:
            problems.append(f"source {src.id!r}: encoding_overrides name files it does not read: {', '.join(map(shown_name, unmatched))}")
        if cfg.limits.sample_per_source:
            files = sample_files(files, cfg.limits.sample_per_source)
        opts = ReadOptions.from_source(src, cfg.limits.max_record_bytes, cfg.limits.max_decompressed_bytes, cfg.limits)
        problems += _check_columns(src, files, opts)
        plan.sources.append(SourcePlan(index=index, source=src, files=files, options=opts))
    if problems:
        raise InputError("the config cannot be processed:\n  " + "\n  ".join(problems))
    return plan


def sample_files(files: list[InputFile], n: int) -> list[InputFile]:
    """A source's first ``n`` files, sharing ``n`` records between them: ``n // files`` each, the
    first ``n % files`` one more (so about ``n`` records whether the source is one big file or many
    one-record files; a file holding fewer gives fewer)."""
    files = files[:n]
    share, extra = divmod(n, len(files)) if files else (0, 0)
    return [dataclasses.replace(f, max_records=share + (1 if i < extra else 0)) for i, f in enumerate(files)]


def _check_columns(src: Source, files: list[InputFile], opts: ReadOptions) -> list[str]:
    if src.format not in ("csv", "tsv"):
        return []
    needed = list(src.text_fields) + ([src.id_field] if src.id_field else [])
    out = []
    for f in files:
        if f.refused:  # never opened: quarantined by name at ingest (a FIFO would block here)
            continue
        with fsspec.open(f.url, "rb") as fh:
            try:
                cols = preflight_columns(fh, opts)
            except Exception as e:  # noqa: BLE001 — reported as a clear error below
                out.append(f"source {src.id!r}: {f.name}: cannot read the header: {e}")
                continue
        if cols is None:  # an empty file: it ended the run ("missing column(s) …; the header has: "), now 0 records
            continue
        twice = [c for c in dict.fromkeys(needed) if cols.count(c) > 1]
        if twice:  # the reader took the last one: the other column's text was lost without a word (session 13)
            out.append(f"source {src.id!r}: {f.name}: column(s) {', '.join(twice)} appear more than once in the header "
                       f"(columns {'; '.join(', '.join(str(i + 1) for i, x in enumerate(cols) if x == c) for c in twice)}); "
                       "rename one, so the column to read is unambiguous")
            continue
        missing = [c for c in needed if c not in cols]
        if missing:
            out.append(
                f"source {src.id!r}: {f.name}: missing column(s) {', '.join(missing)}; "
                f"the header has: {shown_columns(cols)}"
            )
    return out


def shown_columns(cols: list[str], most: int = 20, width: int = 40) -> str:
    """A header's column names for an error message: identifiers masked, each cut to ``width``.

    The "header" is the file's first row, and that is a record when `header: true` is set on a
    headerless delivery or the delimiter is wrong: the whole first line (a JSON record, a resident
    number, an e-mail address, a sentence of text) was printed raw (session 13).

    >>> shown_columns(["id", "kim@example.com", "x" * 50])
    'id, <EMAIL_ADDRESS>, xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…'
    """
    shown = []
    for c in cols[:most]:
        c = shown_name(c)
        shown.append(c if len(c) <= width else c[:width] + "…")
    return ", ".join(shown) + (f", … ({len(cols)} columns)" if len(cols) > most else "")
