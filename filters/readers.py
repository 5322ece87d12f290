"""Readers for every delivery format: jsonl, json, csv/tsv, txt, parquet, pubtator, html, and
office documents (pdf, docx, hwp, hwpx, auto — see :mod:`filters.documents`).

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
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from filters import textio
from filters.documents import FORMATS as DOCUMENT_FORMATS
from filters.documents import DocumentError, DocumentOptions
from filters.pii_fields import field_names

INGEST_STAGE = "ingest@1"


class Record(NamedTuple):
    """A document read from the file. A named tuple, not a frozen dataclass: one is built per
    record, and a frozen dataclass's ``__init__`` cost ~1 µs of ingest's ~10 µs per record."""

    locator: str
    text: str
    record_id: str | None = None


class _Sound(Record):
    """A record whose text and id cannot hold a lone surrogate: orjson read its JSON line, and
    orjson refuses them both raw and as ``\\ud800`` escapes (``_checked`` skips its search, ~3 %
    of ingest: a regex scan of every non-ASCII text)."""

    __slots__ = ()


@dataclass(frozen=True)
class Quarantined:
    locator: str
    error: str
    reason: str | None = None  # ledger reason; None → unreadable_record


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
    error: str | None = None  # the file could not be read to its end (the digest is partial)
    format: str | None = None  # office documents: the format read (content-sniffed for `format: auto`)


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
    max_record_lines: int = 10_000  # a CSV record over this many lines is an unbalanced quote
    max_file_bytes: int = 4 * 1024 * 1024 * 1024
    max_decompressed_bytes: int = 64 * 1024 * 1024 * 1024
    documents: DocumentOptions = field(default_factory=DocumentOptions)

    @classmethod
    def from_source(
        cls, source: Any, max_record_bytes: int, max_decompressed_bytes: int | None = None, limits: Any = None
    ) -> ReadOptions:
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
            documents=_document_options(source, limits),
        )


def _document_options(source: Any, limits: Any) -> DocumentOptions:
    """The source's typed ``pdf:`` / ``docx:`` / ``hwp:`` options and the ``limits.document_*`` values, flattened."""
    values: dict[str, Any] = {"split": source.split, "heading_pattern": source.heading_pattern}
    for prefix in ("pdf", "docx", "hwp"):
        section = getattr(source, prefix, None)
        if section is not None:
            values.update({f"{prefix}_{k}": v for k, v in section.model_dump().items()})
    for key in ("max_bytes", "max_pages", "max_decompressed_bytes", "timeout_s", "memory_mb"):
        value = getattr(limits, f"document_{key}", None)
        if value is not None:
            values[key] = value
    return DocumentOptions(**values)


def _join(parts: list[str]) -> str:
    return "\n\n".join(p for p in parts if p)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None  # isascii: O(1), most ids and English texts


def _checked(event: Event) -> Event:
    """A record whose text or id is not valid Unicode (a JSON ``"\\ud800"`` escape decodes to a
    lone surrogate, which no UTF-8 writer accepts) is quarantined here, for every format."""
    if isinstance(event, Record) and type(event) is not _Sound and (_has_surrogate(event.text) or (event.record_id and _has_surrogate(event.record_id))):
        return Quarantined(event.locator, "text or id contains an unpaired surrogate code point (not valid Unicode)")
    return event


def read_file(fileobj, opts: ReadOptions, info: FileInfo) -> Generator[Event, None, None]:
    """Read one file (an open binary file object) and yield its events; fills ``info``.

    Never raises for anything in the file: a reader that fails in a way its per-record handling
    did not foresee ends with one quarantined event for the rest of the file (named after the
    last record read), so the run goes on and the counts still reconcile.
    """
    hashing = textio.HashingReader(fileobj)
    last = None
    try:
        for event in _events(hashing, opts, info):
            last = event.locator
            # orjson's records need no surrogate check (see _Sound): no call for them.
            yield event if type(event) is _Sound else _checked(event)
    except Exception as e:  # noqa: BLE001 — the safety net behind every reader's own handling
        where = f"rest of file after {last}" if last else "file"
        yield Quarantined(where, f"reader failed ({type(e).__name__}); the rest of the file was not read")
    finally:
        try:
            hashing.drain()
        except OSError as e:
            info.error = f"file could not be read to its end: {e.strerror or type(e).__name__}"
        info.sha256 = hashing.hexdigest()
        info.bytes = hashing.bytes_read


def _events(hashing: textio.HashingReader, opts: ReadOptions, info: FileInfo) -> Iterator[Event]:
    if opts.format in DOCUMENT_FORMATS or opts.format == "auto":
        yield from _read_document(hashing, opts, info)
        return
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


# --- line-oriented formats -------------------------------------------------------------------


def _decoded_lines(
    stream, codec: str, opts: ReadOptions, collapse_blank: bool = True
) -> Iterator[tuple[textio.Line, str, str | None]]:
    """Yield ``(line, text, error)`` (``text`` empty when there is an error); the first line
    loses a UTF-8 BOM. A run of blank lines comes as its first line only (``collapse_blank``;
    CSV keeps them: inside quotes they are text)."""
    for line in textio.iter_lines(stream, opts.max_record_bytes, collapse_blank):
        yield line, *_decoded(line, codec)


def _decoded(line: textio.Line, codec: str) -> tuple[str, str | None]:
    """One line of :func:`_decoded_lines`: ``(text, error)``."""
    if line.data is None:
        return "", line.error or "unreadable line"
    data = line.data
    if line.number == 1 and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return textio.decode(data, codec, line.offset), None
    except textio.Unreadable as e:
        return "", str(e)


def _field_text(obj: dict, fields: tuple[str, ...]) -> str:
    """The text fields joined, or :class:`_BadRecord` saying which field is missing or not a string."""
    if len(fields) == 1 and type(obj.get(fields[0])) is str:  # the usual case, as the loop below would do it
        return obj[fields[0]]
    parts = []
    for f in fields:
        if f not in obj:
            raise _BadRecord(f"missing field {f!r} ({field_names(obj)})")  # a key can be personal data
        v = obj[f]
        if v is None:
            continue
        if not isinstance(v, str):
            raise _BadRecord(f"field {f!r} is {type(v).__name__}, expected a string")
        parts.append(v)
    return _join(parts)


def _guarded(loc: str, make, *args) -> Event:
    """``make(loc, *args)``, or the record quarantined when building it raised: one record's
    content never ends its file (e.g. an id with 5,000 digits, which ``str()`` refuses)."""
    try:
        return make(loc, *args)
    except _BadRecord as e:
        return Quarantined(loc, str(e))
    except (RecursionError, MemoryError):
        return Quarantined(loc, "record too deeply nested or too large to convert")
    except Exception as e:  # noqa: BLE001 — per-record containment
        return Quarantined(loc, f"record could not be converted ({type(e).__name__})")


def _object_event(loc: str, obj: dict, opts: ReadOptions, record: type[Record] = Record) -> Event:
    """A record from a mapping (JSON object, CSV row, Parquet row): its text fields, or why not."""
    body = _field_text(obj, opts.text_fields)  # _BadRecord: quarantined by _guarded
    if not body.strip():
        return Quarantined(loc, "empty document")
    return record(loc, body, _record_id(obj, opts.id_field))


def _record_id(obj: dict, field: str | None) -> str | None:
    if field is None or obj.get(field) is None:
        return None
    value = obj[field]
    if type(value) is str:
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _BadRecord(f"id field {field!r} is {type(value).__name__}, expected a string or number")
    if isinstance(value, int) and value.bit_length() > 256:
        raise _BadRecord(f"id field {field!r} is an integer of more than 77 digits")
    return str(value)


class _BadRecord(ValueError):
    """A record-level problem found while converting a record (quarantined with this message)."""


_orjson_loads: Callable[[str | bytes], Any] | None
try:  # orjson is in the pipeline extra (beside datatrove); without it every line goes through json.loads
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - a light install
    _orjson_loads = None

#: Lines with at least this many ``{`` and ``[`` go to ``json.loads`` alone: orjson nests up to
#: 1,024 levels, json.loads only as deep as Python's recursion limit allows (~970 here), and a
#: record one reads and the other refuses must not change its outcome with the library.
_ORJSON_MAX_BRACKETS = 500


def _json_loads(text: str, fields: tuple[str, ...]) -> Any:
    """``json.loads(text)``, the same value and the same exception (:func:`_json_loads_sound`)."""
    return _json_loads_sound(text, fields)[0]


def _json_loads_sound(text: str, fields: tuple[str, ...]) -> tuple[Any, bool]:
    """``json.loads(text)``, the same value and the same exception, via orjson when it can tell:
    ~40 % less CPU per line of the e2e corpus (0.38 → 0.22 CPU-s for 190,205 lines, 2026-12-07).

    orjson refuses some JSON that json.loads reads (NaN, Infinity, lone surrogates, integers
    past a double's range) and turns big integers into floats; so whatever orjson refuses, a
    value that is not an object, and an object whose ``fields`` (the ones a record is built
    from) hold a float go to json.loads, which decides (its value, its error message). What
    orjson reads otherwise equals json.loads's value in every field a record uses (strings,
    integers, keys, the last of duplicate keys); tests/test_readers.py fuzzes both. The second
    value says orjson gave it, so that no string in it holds a lone surrogate.
    """
    if _orjson_loads is not None and (len(text) < _ORJSON_MAX_BRACKETS or text.count("{") + text.count("[") < _ORJSON_MAX_BRACKETS):
        try:
            obj = _orjson_loads(text)
        except Exception:  # noqa: BLE001 — json.loads below gives the error its message
            return json.loads(text), False
        if type(obj) is dict and not _holds_float(obj, fields):
            return obj, True  # True: orjson's value, so no lone surrogate anywhere in it
    return json.loads(text), False


def _orjson_object(data: bytes, fields: tuple[str, ...]) -> dict | None:
    """The JSON object of a UTF-8 line read by orjson from its bytes, when that is what
    :func:`_json_loads_sound` would give (a dict whose ``fields`` hold no float, fewer than
    :data:`_ORJSON_MAX_BRACKETS` brackets), else None: the line then takes the decoding path.

    orjson refuses every line that path would quarantine or skip before the JSON — invalid UTF-8
    (surrogates included), a NUL byte (raw in a string or outside one), a blank line, a BOM — so
    a line it reads is one that decodes, and the value is the same as from the decoded text.
    Skipped: the decode, its NUL search, and orjson's UTF-8 copy of a non-ASCII ``str`` (~15 % of
    ingest's per-record time, 2026-12-07)."""
    if len(data) >= _ORJSON_MAX_BRACKETS and data.count(b"{") + data.count(b"[") >= _ORJSON_MAX_BRACKETS:
        return None
    try:
        obj = _orjson_loads(data)  # type: ignore[misc]  # only called when orjson is installed
    except Exception:  # noqa: BLE001 — the decoding path gives the line its outcome and message
        return None
    if type(obj) is dict and not _holds_float(obj, fields):
        return obj
    return None


def _holds_float(obj: dict, fields: tuple[str, ...]) -> bool:
    """Whether one of ``fields`` of ``obj`` holds a float: ``float in`` a ``map`` is the
    ``any(type(obj.get(f)) is float …)`` it replaced (a type equals only itself) without a
    generator frame per field — 1.08 → 0.70 µs a record (timeit, load ~12, 2026-12-07)."""
    return float in map(type, map(obj.get, fields))


def _read_jsonl(stream, codec: str, opts: ReadOptions) -> Iterator[Event]:
    html = opts.format == "html"
    fields = tuple(f for f in (*opts.text_fields, opts.id_field, (opts.html_field or "html") if html else None) if f is not None)
    from_bytes = codec == "utf-8" and _orjson_loads is not None
    # One text field, a string, not blank, and an id that is a string or absent: the record
    # :func:`_object_event` would build, without its calls (~5 % of ingest, 2026-12-07).
    text_field, id_field = (opts.text_fields[0] if len(opts.text_fields) == 1 and not html else None), opts.id_field
    for line in textio.iter_lines(stream, opts.max_record_bytes, True):
        if from_bytes and line.data is not None and (obj := _orjson_object(line.data, fields)) is not None:
            loc = f"line {line.number}"
            if text_field is not None:
                body, rid = obj.get(text_field), (obj.get(id_field) if id_field is not None else None)
                if type(body) is str and (rid is None or type(rid) is str) and not body.isspace() and body:
                    yield _Sound(loc, body, rid)
                    continue
            yield _guarded(loc, _html_object_event, obj, opts) if html else _guarded(loc, _object_event, obj, opts, _Sound)
            continue
        text, err = _decoded(line, codec)
        loc = f"line {line.number}"
        if err:
            yield Quarantined(loc, err)
            if line.fatal:
                return
            continue
        if not text.strip():
            continue  # blank lines separate nothing in JSONL; they are not records
        try:
            obj, sound = _json_loads_sound(text, fields)
        except json.JSONDecodeError as e:
            yield Quarantined(loc, f"malformed JSON: {e.msg} at column {e.colno}")
            continue
        except RecursionError:
            yield Quarantined(loc, "JSON nested too deeply")
            continue
        except ValueError as e:
            # e.g. an integer of more than 4,300 digits (Python's int-conversion limit)
            yield Quarantined(loc, f"unreadable JSON value: {str(e)[:120]}")
            continue
        if not isinstance(obj, dict):
            yield Quarantined(loc, f"expected a JSON object, got {type(obj).__name__}")
            continue
        if html:
            yield _guarded(loc, _html_object_event, obj, opts)  # HTML entities could still make one
            continue
        yield _guarded(loc, _object_event, obj, opts, _Sound if sound else Record)


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
    # the config requires heading_pattern with split: heading
    heading = re.compile(opts.heading_pattern) if opts.split == "heading" and opts.heading_pattern else None
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
        size += len(line.data or b"")
        if size > opts.max_record_bytes:
            oversize, buf = True, [" "]
        elif not oversize:
            buf.append(text)
    yield from flush()


class _RunawayRecord(Exception):
    """The CSV record being read spans more lines or bytes than any plausible record."""


class _CsvFeed:
    """Feeds decoded lines to ``csv.reader`` and remembers the lines of the record being read,
    so that a record that runs away (an unbalanced quote) can be cut off and its lines read again.

    ``csv.reader`` pulls one line at a time and returns a row as soon as a line ends outside
    quotes, so after each row ``pending`` holds exactly that row's lines.
    """

    def __init__(self, source: Iterator[tuple[int, str]], max_lines: int, max_bytes: int):
        self.source = source
        self.replay: deque[tuple[int, str]] = deque()
        self.pending: list[tuple[int, str]] = []
        self.pending_bytes = 0
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.exhausted = False

    def __iter__(self) -> _CsvFeed:
        return self

    def __next__(self) -> str:
        if self.replay:
            item = self.replay.popleft()
        else:
            try:
                item = next(self.source)
            except StopIteration:
                self.exhausted = True
                raise
        self.pending.append(item)
        self.pending_bytes += len(item[1])
        if len(self.pending) > self.max_lines or self.pending_bytes > self.max_bytes:
            raise _RunawayRecord
        return item[1]

    def next_record(self) -> None:
        self.pending, self.pending_bytes = [], 0

    def cut_runaway(self) -> int:
        """Give up the record being read: its first line is returned (to be quarantined) and the
        lines after it are read again as new records."""
        first, rest = self.pending[0][0], self.pending[1:]
        self.replay.extendleft(reversed(rest))
        self.next_record()
        self.exhausted = False
        return first


def _runs_to_eof_in_quotes(feed: _CsvFeed) -> bool:
    """The last record ended only because the file did, inside an open quote: csv.reader
    (non-strict) returns it as one row silently — 4,999 rows swallowed into one field."""
    return feed.exhausted and len(feed.pending) > 1 and sum(t.count('"') for _, t in feed.pending) % 2 == 1


def _read_csv(stream, codec: str, opts: ReadOptions) -> Iterator[Event]:
    tsv = opts.format == "tsv"
    delimiter = opts.delimiter or ("\t" if tsv else ",")
    errors: list[Quarantined] = []
    # csv's default field limit (131,072 characters) would quarantine long legal documents that
    # max_record_bytes admits. The limit is process-wide in the csv module; it only ever grows.
    if csv.field_size_limit() < opts.max_record_bytes:
        csv.field_size_limit(opts.max_record_bytes)

    def lines() -> Iterator[tuple[int, str]]:
        for line, text, err in _decoded_lines(stream, codec, opts, collapse_blank=False):
            if err:
                errors.append(Quarantined(f"line {line.number}", err))
                if line.fatal:
                    return
                continue
            yield line.number, text

    quoting = csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL
    feed = _CsvFeed(lines(), opts.max_record_lines, opts.max_record_bytes)

    def reader():
        return csv.reader(feed, delimiter=delimiter, quoting=quoting, strict=False)

    rows = reader()
    header: list[str] | None = list(opts.columns) if opts.columns else None
    first = opts.header  # the file's first row is a header (replaced by `columns` when given)
    row_no = 0
    while True:
        feed.next_record()
        try:
            row = next(rows)
            runaway = not tsv and _runs_to_eof_in_quotes(feed)
        except StopIteration:
            break
        except _RunawayRecord:
            runaway = True
        except csv.Error as e:
            yield from errors
            errors.clear()
            yield Quarantined(f"line {feed.pending[-1][0] if feed.pending else 0}", f"CSV error: {e}")
            continue
        yield from errors
        errors.clear()
        if runaway:
            ran = f"{len(feed.pending):,} lines" if len(feed.pending) > 1 else "its line"
            start = feed.cut_runaway()
            yield Quarantined(
                f"line {start}",
                f"unbalanced quote: the CSV record starting on line {start} ran over {ran} without closing "
                f"(limits: {opts.max_record_lines:,} lines, max_record_bytes); line {start} quarantined, "
                f"the lines after it are read again",
            )
            rows = reader()
            continue
        span = (feed.pending[0][0], feed.pending[-1][0]) if feed.pending else (0, 0)
        if first:
            first = False
            header = header or row
            continue
        row_no += 1
        if not any(cell.strip() for cell in row):
            continue
        loc = f"row {row_no} (line {span[0]})" if span[0] == span[1] else f"row {row_no} (lines {span[0]}-{span[1]})"
        if header is None:  # header: false without columns (the config refuses it)
            yield Quarantined(loc, "no column names: a CSV without a header row needs columns")
            continue
        if len(row) != len(header):
            yield Quarantined(loc, f"row has {len(row)} columns, expected {len(header)}")
            continue
        obj = dict(zip(header, row))
        yield _guarded(loc, _object_event, obj, opts)
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


def _read_whole(stream, codec: str, limit: int) -> str:
    """The whole file as text, or :class:`textio.Unreadable`."""
    data = textio.read_all(stream, limit)
    data = data.removeprefix(b"\xef\xbb\xbf") if codec.startswith("utf") else data
    return textio.decode(data, codec)


def _read_txt_file(stream, codec: str, opts: ReadOptions) -> Iterator[Event]:
    try:
        text = _read_whole(stream, codec, opts.max_record_bytes)
    except textio.Unreadable as e:
        yield Quarantined("file", str(e))
        return
    yield Record("file", text) if text.strip() else Quarantined("file", "empty document")


def _read_html_file(stream, codec: str, opts: ReadOptions) -> Iterator[Event]:
    try:
        text = _read_whole(stream, codec, opts.max_record_bytes)
    except textio.Unreadable as e:
        yield Quarantined("file", str(e))
        return
    yield _guarded("file", _html_event, text, None)


def _html_object_event(loc: str, obj: dict, opts: ReadOptions) -> Event:
    return _html_event(loc, obj.get(opts.html_field or "html"), _record_id(obj, opts.id_field))


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
    try:
        text = _read_whole(stream, codec, opts.max_file_bytes)
    except textio.Unreadable as e:
        yield Quarantined("file", str(e))
        return
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        yield Quarantined(f"line {e.lineno}", f"malformed JSON: {e.msg} at column {e.colno}")
        return
    except RecursionError:
        yield Quarantined("file", "JSON nested too deeply")
        return
    except ValueError as e:
        yield Quarantined("file", f"unreadable JSON value: {str(e)[:120]}")
        return
    steps = [s for s in re.split(r"\.(?![^\[]*\])", opts.record_path or "[]") if s]
    for loc, node in _walk(doc, steps, ""):
        loc = loc or "$"
        if isinstance(node, _Missing):
            yield Quarantined(loc, f"record path {opts.record_path!r}: missing {node.what}")
        elif isinstance(node, str):
            yield Record(loc, node) if node.strip() else Quarantined(loc, "empty document")
        elif isinstance(node, dict):
            yield _guarded(loc, _object_event, node, opts)
        else:
            yield Quarantined(loc, f"expected a string or an object, got {type(node).__name__}")


def _read_document(hashing: textio.HashingReader, opts: ReadOptions, info: FileInfo) -> Iterator[Event]:
    from filters.documents import sandbox

    try:
        data = textio.read_all(io.BufferedReader(hashing), opts.documents.max_bytes)
    except textio.Unreadable as e:
        yield Quarantined("file", f"{e} (limits.document_max_bytes)", "too_large")
        return
    try:
        info.format, parts = sandbox.shared(opts.documents.memory_mb).extract(data, opts.format, info.path, opts.documents)
    except DocumentError as e:
        yield Quarantined("file", e.message, e.reason)
        return
    for locator, text in parts:
        yield Record(locator, text)


def _read_parquet(hashing: textio.HashingReader, opts: ReadOptions) -> Iterator[Event]:
    from corpusmill_base import arrowio

    # Parquet needs random access: buffer the file (hashing it on the way), bounded by max_file_bytes.
    try:
        data = textio.read_all(io.BufferedReader(hashing), opts.max_file_bytes)
    except textio.Unreadable as e:
        yield Quarantined("file", str(e))
        return
    try:
        pf = arrowio.parquet_file(data)
        cols = list(opts.text_fields) + ([opts.id_field] if opts.id_field else [])
        missing = [c for c in cols if c not in pf.schema_arrow.names]
        if missing:
            yield Quarantined("file", f"missing column(s) {', '.join(missing)}")
            return
        row = 0
        for batch in pf.iter_batches(columns=cols, batch_size=4096):
            for obj in batch.to_pylist():
                row += 1
                yield _guarded(f"row {row}", _object_event, obj, opts)
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
    """For csv/tsv: the file's columns (header row or configured names), to check before processing;
    None when there is nothing to check (another format, an empty file, or one ingest quarantines as binary)."""
    if opts.format not in ("csv", "tsv") or opts.columns:
        return list(opts.columns) if opts.columns else None
    hashing = textio.HashingReader(fileobj)
    stream, _ = textio.open_decompressed(hashing, "", opts.compression)
    sniffed = textio.sniff(stream)
    if sniffed.binary_reason:  # quarantined whole at ingest, with its reason (a UTF-16 export ended the run here)
        return None
    codec, _ = textio.detect_encoding(sniffed.sample, opts.encoding)
    first = sniffed.stream.readline(1 << 20).removeprefix(b"\xef\xbb\xbf")
    if not first:  # an empty file (an export without rows): no records to read, no header to check
        return None
    text = first.decode(codec, errors="replace")
    delimiter = opts.delimiter or ("\t" if opts.format == "tsv" else ",")
    return next(csv.reader([text], delimiter=delimiter), [])
