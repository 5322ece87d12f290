"""One way to run a stage over a file: ``corpusmill scrub``, ``quality score``, ``dedup`` (and
the next such command) read and write through here, so they share format detection, streaming,
error messages and atomic output.

Formats, by extension: Parquet (``.parquet``, ``.pq``) and JSON lines (``.jsonl``, ``.ndjson``,
optionally ``.gz``/``.zst`` compressed). Input is streamed in batches; every batch gets an
``order`` column (its row number in the file), which is never written out.

>>> import tempfile, pathlib, pyarrow.parquet as pq
>>> from filters.length import LengthFilter
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "in.jsonl").write_text('{"id": 1, "text": "a"}\\n{"id": 2, "text": "long enough"}\\n')
>>> r = map_file(LengthFilter({"min_chars": 3}), d / "in.jsonl", d / "out.parquet")
>>> (r.rows_in, r.rows_out, r.dropped), pq.read_table(d / "out.parquet").column("id").to_pylist()
((2, 1, {'too_short': 1}), ['2'])
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpusmill_base import arrowio
from corpusmill_base.errors import InputError, OutputError
from filters.base import MapStage
from filters.columns import to_arrow
from filters.pii_fields import shown_name

BATCH_ROWS = 4096
PARQUET = (".parquet", ".pq")
JSONL = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".jsonl.zst", ".ndjson.zst")


def file_format(path: str | os.PathLike[str]) -> str:
    """``parquet`` or ``jsonl`` from the file name; anything else is an :class:`InputError`."""
    name = str(path).lower()
    if name.endswith(PARQUET):
        return "parquet"
    if name.endswith(JSONL):
        return "jsonl"
    raise InputError(f"{shown_name(path)}: expected a .parquet or .jsonl[.gz|.zst] file")


@dataclass(frozen=True)
class BadLine:
    """A JSON-lines input line no row came from: its 1-based line number in the (decompressed)
    file and a fixed reason (never a value or key of the line: pyarrow's own message can quote one)."""

    line: int
    reason: str


def read_batches(
    path: str | os.PathLike[str],
    batch_rows: int = BATCH_ROWS,
    require: tuple[str, ...] = ("id", "text"),
    quarantine: list[BadLine] | None = None,
) -> Iterator[pa.RecordBatch]:
    """The file's rows in batches, streamed: every input column, ``id`` as string, ``text``
    as string (a missing text is an empty document, not a lost one), plus ``order``.

    A JSON-lines line that pyarrow cannot read (broken JSON, invalid UTF-8, a lone surrogate, a
    column whose type changes) is appended to ``quarantine`` and skipped, the rest of the file
    read; without a ``quarantine`` list it is an :class:`InputError` naming the file and line.
    Valid JSON whose fields do not fit the types of the lines before it is still an
    :class:`InputError` (a file of one schema is what the commands read). Reading the same file
    again skips the same lines, so ``order`` is the same every time."""
    path = Path(path)
    fmt = file_format(path)
    if not path.exists():
        raise InputError(f"{shown_name(path)}: no such file")
    offset = 0
    for batch in _raw_batches(path, fmt, batch_rows, quarantine):
        names = batch.schema.names
        missing = [c for c in require if c not in names]
        if missing:
            raise InputError(f"{shown_name(path)}: needs column(s) {', '.join(repr(c) for c in missing)} (found {_field_names(batch.schema)})")
        table = pa.Table.from_batches([batch])
        cols = {name: table.column(name) for name in names}
        if "id" in cols:
            cols["id"] = cols["id"].cast(pa.string())
        if "text" in cols:
            text = cols["text"].cast(pa.string())
            cols["text"] = pa.array([t or "" for t in text.to_pylist()], pa.string()) if text.null_count else text
        cols["order"] = to_arrow(np.arange(offset, offset + table.num_rows, dtype=np.int64), pa.int64())
        offset += table.num_rows
        # Compact copies: a slice of a reader block pickles with the whole block (~12× the bytes
        # sent to each worker, and again in what comes back).
        yield pa.RecordBatch.from_arrays([_compact(c) for c in cols.values()], names=list(cols))


def _compact(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    return pa.concat_arrays(chunks) if chunks else pa.array([], column.type)


def _raw_batches(path: Path, fmt: str, batch_rows: int, quarantine: list[BadLine] | None = None) -> Iterator[pa.RecordBatch]:
    if fmt == "parquet":
        try:
            yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows)
        except pa.ArrowInvalid as e:
            raise InputError(f"{shown_name(path)}: not readable as Parquet ({type(e).__name__})") from None
        return
    import pyarrow.json as pj

    # pyarrow's block reader first: it is what makes reading fast (dedup's stand-alone figures).
    # It stops at the first block holding one unreadable line; then the file is read again line
    # by line (below), skipping the rows already given, so one bad record costs one record.
    given = 0
    schema: pa.Schema | None = None
    try:
        if _first_byte(path) not in (b"{", b""):
            raise pa.ArrowInvalid("the first line is no JSON object")  # pyarrow 25 would crash on `null`
        stream = pa.input_stream(str(path), compression="detect")
        reader = pj.open_json(stream, read_options=pj.ReadOptions(block_size=_JSON_BLOCK))
        for batch in reader:
            schema = schema or batch.schema
            for i in range(0, batch.num_rows, batch_rows):
                piece = batch.slice(i, batch_rows)
                given += piece.num_rows
                yield piece
        return
    except pa.ArrowInvalid:
        pass
    yield from _checked_lines(path, batch_rows, given, schema, quarantine)


_JSON_BLOCK = 2 << 20
_CHUNK_LINES = 4096
# pyarrow's messages can quote a value ("couldn't parse: <the value>") or a nested key, so a
# quarantined line's reason is one of these fixed phrases, never pyarrow's text.
_REASONS = (
    ("surrogate", "a string holds a lone surrogate (not valid Unicode)"),
    ("Invalid encoding", "a string is not valid UTF-8"),
    ("specified twice", "a field is given twice"),
    ("Column() changed from object to", "the line is not a JSON object"),
)


def _first_byte(path: Path) -> bytes:
    """The (decompressed) file's first byte that is not white space, b"" if none in its first MB."""
    with pa.input_stream(str(path), compression="detect") as f:
        for _ in range(16):
            block = f.read(1 << 16)
            if not block:
                return b""
            head = block.lstrip()[:1]
            if head:
                return head
    return b""


def _reason(error: Exception) -> str:
    text = str(error)
    return next((why for needle, why in _REASONS if needle in text), "not valid JSON")


def _field_names(schema: pa.Schema) -> str:
    """Top-level field names for an error message, masked as a CSV header is: a JSON key can be
    personal data (`{"kim.lee@example.com": …}` was printed raw, session 13)."""
    from pipelines.plan import shown_columns

    return shown_columns(schema.names)


def _checked_lines(
    path: Path, batch_rows: int, skip: int, schema: pa.Schema | None, quarantine: list[BadLine] | None
) -> Iterator[pa.RecordBatch]:
    """The JSON-lines file parsed by pyarrow in chunks of lines. A line that pyarrow cannot read
    on its own (broken JSON, invalid UTF-8, a lone surrogate, not an object) is quarantined: a
    failing chunk is halved until such lines are found. The fields' types are the block reader's
    (``schema``), or, when its first block already failed, those pyarrow infers over the first
    chunk's good lines, widened as pyarrow widens (int → double, null → string); a later line
    that is valid JSON but does not fit them (a field changing type, a field the first lines did
    not have) is an :class:`InputError` naming the line and the top-level field names, as the
    block reader refused such a file before. Blank lines hold no row, as in pyarrow's reader."""
    import pyarrow.json as pj

    def parse(lines: list[bytes], explicit: pa.Schema | None) -> pa.Table:
        opts = pj.ParseOptions(explicit_schema=explicit, unexpected_field_behavior="error") if explicit is not None else pj.ParseOptions()
        return arrowio.read_json(b"".join(lines), parse_options=opts)

    def good(numbered: list[tuple[int, bytes]], explicit: pa.Schema | None) -> Iterator[tuple[pa.Table, list[tuple[int, bytes]]]]:
        try:
            yield parse([line for _, line in numbered], explicit), numbered
            return
        except pa.ArrowInvalid as e:
            if len(numbered) == 1:
                number, line = numbered[0]
                if explicit is not None:
                    try:
                        alone = parse([line], None)
                    except pa.ArrowInvalid:
                        alone = None
                    if alone is not None:  # readable JSON whose fields do not fit the file's
                        raise InputError(
                            f"{shown_name(path)}: line {number}: its fields ({_field_names(alone.schema)}) do not fit the types of the "
                            f"lines before it ({_field_names(explicit)}): a field changes type or appears late; give every "
                            "line the same fields and types (or convert the file to Parquet)"
                        ) from None
                if quarantine is None:
                    raise InputError(f"{shown_name(path)}: line {number}: not readable as a JSON-lines record ({_reason(e)})") from None
                quarantine.append(BadLine(number, _reason(e)))
                return
        half = len(numbered) // 2
        yield from good(numbered[:half], explicit)
        yield from good(numbered[half:], explicit)

    def pieces() -> Iterator[list[tuple[int, bytes]] | int]:
        """Runs of up to _CHUNK_LINES lines, and the number of each line that is no JSON object
        (pyarrow 25 crashes the process on a first row of ``null``: such lines never reach it)."""
        chunk: list[tuple[int, bytes]] = []
        with io.BufferedReader(pa.input_stream(str(path), compression="detect")) as f:
            for number, line in enumerate(f, 1):
                head = line.lstrip()[:1]
                if not head:
                    continue
                if head != b"{":
                    if chunk:
                        yield chunk
                        chunk = []
                    yield number
                    continue
                chunk.append((number, line if line.endswith(b"\n") else line + b"\n"))
                if len(chunk) >= _CHUNK_LINES:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    for piece in pieces():
        if isinstance(piece, int):
            if quarantine is None:
                raise InputError(f"{shown_name(path)}: line {piece}: not readable as a JSON-lines record (the line is not a JSON object)")
            quarantine.append(BadLine(piece, "the line is not a JSON object"))
            continue
        if schema is None:  # the first lines that parse, each part inferred, widened to one schema
            parts = list(good(piece, None))
            if not parts:
                continue
            schema = parts[0][0].schema
            for table, lines in parts[1:]:
                widened = _widen(schema, table.schema)
                if widened is None:  # name the first line that does not widen
                    for number, line in lines:
                        alone = parse([line], None).schema
                        widened = _widen(schema, alone)
                        if widened is None:
                            raise InputError(
                                f"{shown_name(path)}: line {number}: a field's type ({_field_names(alone)}) does not widen to the type "
                                f"the lines before it give it ({_field_names(schema)}); give every line the same types"
                            )
                        schema = widened
                else:
                    schema = widened
            tables = [_conform(t, schema) for t, _ in parts]
        else:
            tables = [t for t, _ in good(piece, schema)]
        for table in tables:
            if skip:
                n = min(skip, table.num_rows)
                table = table.slice(n)
                skip -= n
            for batch in table.to_batches(max_chunksize=batch_rows):
                if batch.num_rows:
                    yield batch


def _widen(a: pa.Schema, b: pa.Schema) -> pa.Schema | None:
    """One schema for both, widened as pyarrow widens (int → double, null → anything), or None."""
    try:
        return pa.unify_schemas([a, b], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s fields in its order: missing ones null, others cast (widened)."""
    cols = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(cols, schema=schema)


class FileWriter:
    """Rows to ``path`` (format by extension) under a temporary name, renamed on success; on an
    error the temporary file is removed and ``path`` is untouched. JSON lines: map columns
    become objects, float32 values keep 6 decimals (what a float32 holds)."""

    def __init__(self, path: str | os.PathLike[str], overwrite: bool = True):
        self.path = Path(path)
        self.format = file_format(self.path)
        if self.path.exists() and not overwrite:
            raise OutputError(f"{self.path} exists; pass --overwrite to replace it")
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        self._pq: pq.ParquetWriter | None = None
        self._fh: IO[str] | None = None

    def __enter__(self) -> FileWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "jsonl":
            import gzip

            self._fh = gzip.open(self.tmp, "wt", encoding="utf-8") if self.path.name.endswith(".gz") else open(self.tmp, "w", encoding="utf-8")  # noqa: SIM115
        return self

    def write(self, table: pa.Table) -> None:
        table = table.drop_columns([c for c in ("order",) if c in table.column_names])
        if self._fh is not None:
            # Maps, and lists of (string key, value) structs — how shards store a map so that every
            # Parquet reader reads it (pii_counts) — are JSON objects in JSON lines.
            maps = [f.name for f in table.schema if pa.types.is_map(f.type) or _is_pairs(f.type)]
            floats = [f.name for f in table.schema if pa.types.is_float32(f.type)]
            for row in table.to_pylist():
                for name in maps:
                    if row[name] is not None:  # a map gives (key, value) tuples, a struct list dicts
                        row[name] = dict(tuple(x.values()) if isinstance(x, dict) else x for x in row[name])
                for name in floats:
                    if row[name] is not None:
                        row[name] = round(row[name], 6)
                self._fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            return
        if self._pq is None:
            self._pq = pq.ParquetWriter(self.tmp, table.schema, compression="zstd")
        self._pq.write_table(table)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._pq is not None:
            self._pq.close()
        elif self._fh is None:  # nothing written to a Parquet file: an empty one with id and text
            pq.write_table(pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}), self.tmp)
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def write_tables(tables: Iterable[pa.Table], path: str | os.PathLike[str], overwrite: bool = True) -> None:
    with FileWriter(path, overwrite=overwrite) as w:
        for t in tables:
            w.write(t)


@dataclass
class MapFileResult:
    rows_in: int = 0
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason → documents
    counters: dict[str, int] = field(default_factory=dict)  # the stage's counters, summed over sources
    quarantined: list[BadLine] = field(default_factory=list)  # input lines no row came from


def map_file(
    stage: MapStage,
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    require: tuple[str, ...] = ("id", "text"),
    batch_rows: int = BATCH_ROWS,
    overwrite: bool = True,
) -> MapFileResult:
    """Run a map stage over ``src`` into ``dst``: each batch through ``stage.process``, its
    columns added (or replaced), the rows it drops left out, input order kept."""
    result = MapFileResult()
    with FileWriter(dst, overwrite=overwrite) as out:
        stage.ensure_setup()
        for batch in read_batches(src, batch_rows, require, result.quarantined):
            res = stage.process(batch)
            table = pa.Table.from_batches([batch])
            for name, col in res.columns.items():
                i = table.schema.get_field_index(name)
                table = table.set_column(i, name, col) if i >= 0 else table.append_column(name, col)
            keep = np.asarray(res.keep, dtype=bool)
            for reason in (res.reasons[i] or "unspecified" for i in np.flatnonzero(~keep)):
                result.dropped[reason] = result.dropped.get(reason, 0) + 1
            for names in res.counters.values():
                for k, n in names.items():
                    result.counters[k] = result.counters.get(k, 0) + int(n)
            kept = table.filter(pa.array(keep)) if not keep.all() else table
            out.write(kept)
            result.rows_in += table.num_rows
            result.rows_out += kept.num_rows
    return result


def _is_pairs(t: pa.DataType) -> bool:
    """A list of two-field structs whose first field is a string: a map written portably."""
    if not pa.types.is_list(t) or not pa.types.is_struct(t.value_type) or t.value_type.num_fields != 2:
        return False
    return pa.types.is_string(t.value_type.field(0).type)


def describe_quarantine(path: str | os.PathLike[str], bad: list[BadLine], shown: int = 5) -> str:
    """One line for the user: how many input lines were skipped, and which (numbers and
    pyarrow's reasons, never the lines' contents)."""
    first = "; ".join(f"line {b.line}: {b.reason}" for b in bad[:shown])
    more = f"; and {len(bad) - shown:,} more" if len(bad) > shown else ""
    return f"quarantined {len(bad):,} unreadable line(s) of {shown_name(path)} (no output row): {first}{more}"


def warn_quarantined(path: str | os.PathLike[str], bad: list[BadLine]) -> None:
    """The warning a command prints when input lines were left out (even under ``--quiet``)."""
    if bad:
        import sys

        print(f"corpusmill: warning: {describe_quarantine(path, bad)}", file=sys.stderr)
