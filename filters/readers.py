"""Readers for every delivery format: jsonl, json, csv/tsv, txt, parquet, pubtator, html.

A reader turns one file into a stream of events — :class:`Record` (a document),
:class:`Quarantined` (a record that could not be read, with where and why) or :class:`Dropped`
(read fine but carries no document, e.g. an HTML page with no main text). Every event is one
input record in the ledger, so ``records in = kept + dropped + quarantined`` always holds.
Readers never raise for bad content; they raise :class:`~corpusmill_base.errors.InputError` only for
problems that make a whole source unusable (a missing column), and the engine checks those in a
preflight before processing starts.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from filters import textio
from filters.pii_fields import field_names

INGEST_STAGE = "ingest@1"


@dataclass(frozen=True)
class Record:
    locator: str
    text: str
    record_id: str | None = None


@dataclass(frozen=True)
class Quarantined:
    locator: str
    error: str


@dataclass(frozen=True)
class Dropped:
    locator: str
    reason: str
    detail: str | None = None


Event = Record | Quarantined | Dropped


@dataclass
class FileInfo:
    """Facts about a file, filled in while it is read (for the manifest)."""

    path: str
    compression: str = "none"
    encoding: str | None = None
    sha256: str | None = None
    bytes: int = 0


@dataclass(frozen=True)
class ReadOptions:
    format: str
    compression: str = "auto"
    encoding: str = "auto"
    encoding_overrides: tuple[tuple[str, str], ...] = ()  # (source_file, encoding) pairs
    text_fields: tuple[str, ...] = ("text",)
    id_field: str | None = None
    record_path: str | None = None
    delimiter: str | None = None
    header: bool = True
    columns: tuple[str, ...] | None = None
    split: str = "file"
    heading_pattern: str | None = None
    html_field: str | None = None
    max_record_bytes: int = 16 * 1024 * 1024
    max_file_bytes: int = 4 * 1024 * 1024 * 1024
    max_decompressed_bytes: int = 64 * 1024 * 1024 * 1024

    @classmethod
    def from_source(cls, source: Any, max_record_bytes: int, max_decompressed_bytes: int | None = None) -> ReadOptions:
        return cls(
            format=source.format,
            compression=source.compression,
            encoding=source.encoding,
            encoding_overrides=tuple(sorted(getattr(source, "encoding_overrides", {}).items())),
            text_fields=tuple(source.text_fields),
            id_field=source.id_field,
            record_path=source.record_path,
            delimiter=source.delimiter,
            header=source.header,
            columns=tuple(source.columns) if source.columns else None,
            split=source.split,
            heading_pattern=source.heading_pattern,
            html_field=source.html_field,
            max_record_bytes=max_record_bytes,
            **({"max_decompressed_bytes": max_decompressed_bytes} if max_decompressed_bytes else {}),
        )


def _join(parts: list[str]) -> str:
    return "\n\n".join(p for p in parts if p)


def read_file(fileobj, opts: ReadOptions, info: FileInfo) -> Iterator[Event]:
    """Read one file (an open binary file object) and yield its events; fills ``info``."""
    hashing = textio.HashingReader(fileobj)
    try:
        if opts.format == "parquet":
            yield from _read_parquet(hashing, opts)
            return
        try:
            stream, info.compression = textio.open_decompressed(
                hashing, info.path, opts.compression, opts.max_decompressed_bytes
            )
            sniffed = textio.sniff(stream)
        except textio.STREAM_ERRORS as e:
            yield Quarantined("file", textio.describe_stream_error(e, 0))
            return
        if sniffed.binary_reason:
            yield Quarantined("file", sniffed.binary_reason)
            return
        declared = dict(opts.encoding_overrides).get(info.path, opts.encoding)
        codec, info.encoding = textio.detect_encoding(sniffed.sample, declared)
        reader = _LINE_READERS.get(opts.format)
        if reader is not None:
            yield from reader(sniffed.stream, codec, opts)
        else:
            yield from _WHOLE_READERS[opts.format](sniffed.stream, codec, opts)
    finally:
        hashing.drain()
        info.sha256 = hashing.hexdigest()
        info.bytes = hashing.bytes_read


# --- line-oriented formats -------------------------------------------------------------------


def _decoded_lines(stream, codec: str, opts: ReadOptions) -> Iterator[tuple[textio.Line, str | None, str | None]]:
    """Yield ``(line, text, error)``; the first line loses a UTF-8 BOM."""
    for line in textio.iter_lines(stream, opts.max_record_bytes):
        if line.data is None:
            yield line, None, line.error
            continue
        data = line.data
        if line.number == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        text, err = textio.decode(data, codec, line.offset)
        yield line, text, err


def _field_text(obj: dict, fields: tuple[str, ...]) -> tuple[str | None, str | None]:
    parts = []
    for f in fields:
        if f not in obj:
            return None, f"missing field {f!r} ({field_names(obj)})"  # a key can be personal data
        v = obj[f]
        if v is None:
            continue
        if not isinstance(v, str):
            return None, f"field {f!r} is {type(v).__name__}, expected a string"
        parts.append(v)
    return _join(parts), None


def _object_event(loc: str, obj: dict, opts: ReadOptions) -> Event:
    """A record from a mapping (JSON object, CSV row, Parquet row): its text fields, or why not."""
    body, err = _field_text(obj, opts.text_fields)
    if err:
        return Quarantined(loc, err)
    if not body.strip():
        return Quarantined(loc, "empty document")
    return Record(loc, body, _record_id(obj, opts.id_field))


def _record_id(obj: dict, field: str | None) -> str | None:
    if field is None or obj.get(field) is None:
        return None
    return str(obj[field])


def _read_jsonl(stream, codec: str, opts: ReadOptions) -> Iterator[Event]:
    html = opts.format == "html"
    for line, text, err in _decoded_lines(stream, codec, opts):
        loc = f"line {line.number}"
        if err:
            yield Quarantined(loc, err)
            if line.fatal:
                return
            continue
        if not text.strip():
            continue  # blank lines separate nothing in JSONL; they are not records
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            yield Quarantined(loc, f"malformed JSON: {e.msg} at column {e.colno}")
            continue
        except RecursionError:
            yield Quarantined(loc, "JSON nested too deeply")
            continue
        if not isinstance(obj, dict):
            yield Quarantined(loc, f"expected a JSON object, got {type(obj).__name__}")
            continue
        if html:
            yield _html_event(loc, obj.get(opts.html_field or "html"), _record_id(obj, opts.id_field))
            continue
        yield _object_event(loc, obj, opts)


def _read_txt_lines(stream, codec: str, opts: ReadOptions) -> Iterator[Event]:
    for line, text, err in _decoded_lines(stream, codec, opts):
        loc = f"line {line.number}"
        if err:
            yield Quarantined(loc, err)
            if line.fatal:
                return
        elif text.strip():
            yield Record(loc, text.rstrip("\r\n"))


def _read_txt_blocks(stream, codec: str, opts: ReadOptions) -> Iterator[Event]:
    """Blank-line-separated blocks, or heading-started documents (``split: heading``)."""
    heading = re.compile(opts.heading_pattern) if opts.split == "heading" else None
    buf: list[str] = []
    size = 0
    first = last = 0
    oversize = False

    def flush() -> Iterator[Event]:
        loc = f"lines {first}-{last}" if last > first else f"line {first}"
        if oversize:
            yield Quarantined(loc, f"record exceeds max_record_bytes ({opts.max_record_bytes:,} bytes)")
        elif buf and "".join(buf).strip():
            yield Record(loc, "".join(buf).strip("\n"))

    for line, text, err in _decoded_lines(stream, codec, opts):
        if err:
            yield Quarantined(f"line {line.number}", err)
            if line.fatal:
                break
            continue
        starts = bool(heading.match(text.rstrip("\r\n"))) if heading else not text.strip()
        if starts:
            yield from flush()
            buf, size, oversize = [], 0, False
            if heading is None:
                continue  # the blank line itself belongs to no block
        if not buf:
            if not text.strip():
                continue
            first = line.number
        last = line.number
        size += len(line.data)
        if size > opts.max_record_bytes:
            oversize, buf = True, [" "]
        elif not oversize:
            buf.append(text)
    yield from flush()


def _read_csv(stream, codec: str, opts: ReadOptions) -> Iterator[Event]:
    tsv = opts.format == "tsv"
    delimiter = opts.delimiter or ("\t" if tsv else ",")
    errors: list[Quarantined] = []
    line_numbers: list[int] = []
    fatal = False

    def lines() -> Iterator[str]:
        nonlocal fatal
        for line, text, err in _decoded_lines(stream, codec, opts):
            if err:
                errors.append(Quarantined(f"line {line.number}", err))
                fatal = fatal or line.fatal
                if fatal:
                    return
                continue
            line_numbers.append(line.number)
            yield text

    quoting = csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL
    rows = csv.reader(lines(), delimiter=delimiter, quoting=quoting, strict=False)
    header: list[str] | None = list(opts.columns) if opts.columns else None
    first = opts.header  # the file's first row is a header (replaced by `columns` when given)
    row_no = 0
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as e:
            yield from errors
            errors.clear()
            yield Quarantined(f"line {line_numbers[-1] if line_numbers else 0}", f"CSV error: {e}")
            continue
        yield from errors
        errors.clear()
        line_no = line_numbers[-1] if line_numbers else 0
        if first:
            first = False
            header = header or row
            continue
        row_no += 1
        if not any(cell.strip() for cell in row):
            continue
        loc = f"row {row_no} (line {line_no})"
        if len(row) != len(header):
            yield Quarantined(loc, f"row has {len(row)} columns, expected {len(header)}")
            continue
        obj = dict(zip(header, row))
        yield _object_event(loc, obj, opts)
    yield from errors


def _read_pubtator(stream, codec: str, opts: ReadOptions) -> Iterator[Event]:
    """PubTator: ``PMID|t|title``, ``PMID|a|abstract``, annotation lines, blank line between documents."""
    title = abstract = pmid = None
    start = 0

    def flush() -> Iterator[Event]:
        if pmid is None:
            return
        loc = f"line {start}"
        if title is None or abstract is None:
            yield Quarantined(loc, f"PubTator document {pmid} lacks its {'title' if title is None else 'abstract'} line")
        else:
            yield Record(loc, _join([title.strip(), abstract.strip()]), pmid)

    for line, text, err in _decoded_lines(stream, codec, opts):
        if err:
            yield Quarantined(f"line {line.number}", err)
            if line.fatal:
                return
            continue
        text = text.rstrip("\r\n")
        m = re.match(r"^(\d+)\|([ta])\|(.*)$", text)
        if m:
            if m.group(1) != pmid:
                yield from flush()
                pmid, title, abstract, start = m.group(1), None, None, line.number
            if m.group(2) == "t":
                title = m.group(3)
            else:
                abstract = m.group(3)
        elif text.strip() and not re.match(r"^\d+\t", text):
            yield Quarantined(f"line {line.number}", "not a PubTator title, abstract or annotation line")
    yield from flush()


# --- whole-file formats ----------------------------------------------------------------------


def _read_whole(stream, codec: str, opts: ReadOptions, limit: int) -> tuple[str | None, str | None]:
    data, err = textio.read_all(stream, limit)
    if err:
        return None, err
    data = data.removeprefix(b"\xef\xbb\xbf") if codec.startswith("utf") else data
    return textio.decode(data, codec)


def _read_txt_file(stream, codec: str, opts: ReadOptions) -> Iterator[Event]:
    text, err = _read_whole(stream, codec, opts, opts.max_record_bytes)
    if err:
        yield Quarantined("file", err)
    elif not text.strip():
        yield Quarantined("file", "empty document")
    else:
        yield Record("file", text)


def _read_html_file(stream, codec: str, opts: ReadOptions) -> Iterator[Event]:
    text, err = _read_whole(stream, codec, opts, opts.max_record_bytes)
    yield Quarantined("file", err) if err else _html_event("file", text, None)


def _html_event(loc: str, html: Any, record_id: str | None) -> Event:
    if not isinstance(html, str) or not html.strip():
        return Quarantined(loc, "empty document")
    from filters.html import extract_main_text

    text = extract_main_text(html)
    if not text:
        return Dropped(loc, "no_main_text", "HTML main-text extraction found no content")
    return Record(loc, text, record_id)


def _walk(node: Any, path: list[str], loc: str) -> Iterator[tuple[str, Any]]:
    if not path:
        yield loc, node
        return
    step, rest = path[0], path[1:]
    name, is_list = (step[:-2], True) if step.endswith("[]") else (step, False)
    if name:
        if not isinstance(node, dict) or name not in node:
            yield loc + ("." if loc else "") + name, _Missing(name)
            return
        node = node[name]
        loc = loc + ("." if loc else "") + name
    if is_list:
        if not isinstance(node, list):
            yield loc, _Missing(f"{name or 'top level'} is not a list")
            return
        for i, item in enumerate(node):
            yield from _walk(item, rest, f"{loc}[{i}]")
    else:
        yield from _walk(node, rest, loc)


@dataclass(frozen=True)
class _Missing:
    what: str


def _read_json(stream, codec: str, opts: ReadOptions) -> Iterator[Event]:
    text, err = _read_whole(stream, codec, opts, opts.max_file_bytes)
    if err:
        yield Quarantined("file", err)
        return
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        yield Quarantined(f"line {e.lineno}", f"malformed JSON: {e.msg} at column {e.colno}")
        return
    except RecursionError:
        yield Quarantined("file", "JSON nested too deeply")
        return
    steps = [s for s in re.split(r"\.(?![^\[]*\])", opts.record_path or "[]") if s]
    for loc, node in _walk(doc, steps, ""):
        loc = loc or "$"
        if isinstance(node, _Missing):
            yield Quarantined(loc, f"record path {opts.record_path!r}: missing {node.what}")
        elif isinstance(node, str):
            yield Record(loc, node) if node.strip() else Quarantined(loc, "empty document")
        elif isinstance(node, dict):
            yield _object_event(loc, node, opts)
        else:
            yield Quarantined(loc, f"expected a string or an object, got {type(node).__name__}")


def _read_parquet(hashing: textio.HashingReader, opts: ReadOptions) -> Iterator[Event]:
    import pyarrow.parquet as pq

    # Parquet needs random access: buffer the file (hashing it on the way), bounded by max_file_bytes.
    data, err = textio.read_all(io.BufferedReader(hashing), opts.max_file_bytes)
    if err:
        yield Quarantined("file", err)
        return
    try:
        pf = pq.ParquetFile(io.BytesIO(data))
        cols = list(opts.text_fields) + ([opts.id_field] if opts.id_field else [])
        missing = [c for c in cols if c not in pf.schema_arrow.names]
        if missing:
            yield Quarantined("file", f"missing column(s) {', '.join(missing)}")
            return
        row = 0
        for batch in pf.iter_batches(columns=cols, batch_size=4096):
            for obj in batch.to_pylist():
                row += 1
                yield _object_event(f"row {row}", obj, opts)
    except Exception as e:  # noqa: BLE001 — any parse failure of a delivered file is a quarantine
        yield Quarantined("file", f"unreadable Parquet: {type(e).__name__}: {e}")


def _read_txt(stream, codec: str, opts: ReadOptions) -> Iterator[Event]:
    if opts.split == "line":
        return _read_txt_lines(stream, codec, opts)
    if opts.split in ("blank_line", "heading"):
        return _read_txt_blocks(stream, codec, opts)
    return _read_txt_file(stream, codec, opts)


def _read_html(stream, codec: str, opts: ReadOptions) -> Iterator[Event]:
    if opts.html_field:
        return _read_jsonl(stream, codec, opts)
    return _read_html_file(stream, codec, opts)


_LINE_READERS = {"jsonl": _read_jsonl, "csv": _read_csv, "tsv": _read_csv, "pubtator": _read_pubtator}
_WHOLE_READERS = {"json": _read_json, "txt": _read_txt, "html": _read_html}


def preflight_columns(fileobj, opts: ReadOptions) -> list[str] | None:
    """For csv/tsv: the file's columns (header row or configured names), to check before processing."""
    if opts.format not in ("csv", "tsv") or opts.columns:
        return list(opts.columns) if opts.columns else None
    hashing = textio.HashingReader(fileobj)
    stream, _ = textio.open_decompressed(hashing, "", opts.compression)
    sniffed = textio.sniff(stream)
    codec, _ = textio.detect_encoding(sniffed.sample, opts.encoding)
    first = sniffed.stream.readline(1 << 20).removeprefix(b"\xef\xbb\xbf")
    text = first.decode(codec, errors="replace")
    delimiter = opts.delimiter or ("\t" if opts.format == "tsv" else ",")
    return next(csv.reader([text], delimiter=delimiter), [])
