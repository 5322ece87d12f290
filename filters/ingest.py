"""Ingest: turn one input file into Arrow document batches plus ledger rows for the records
that could not become documents (quarantined) or carried none (dropped).

This is the engine-agnostic unit of ingest work: the local engine loops over files, Ray and
Beam run it as a task per file.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import fsspec
import pyarrow as pa

from filters.pii_fields import mask_identifiers
from filters.readers import INGEST_STAGE, Dropped, FileInfo, Quarantined, ReadOptions, Record, read_file
from filters.schema import DOCUMENT_SCHEMA, LEDGER_SCHEMA, RECORD_BITS, make_doc_id, make_order
from corpusmill_base.errors import InputError


def _local_stat(url: str) -> os.stat_result | None:
    path = url.removeprefix("file://")
    if "://" in path:
        return None  # object storage: no cheap, reliable change stamp here
    try:
        return os.stat(path)
    except OSError:
        return None


def _stamp(st: os.stat_result | None) -> tuple[int, int, int] | None:
    return (st.st_size, st.st_mtime_ns, st.st_ino) if st else None


def check_unchanged(task: FileTask, before: os.stat_result | None, info: FileInfo) -> None:
    """Fail loudly when a file changed between planning and reading, or while it was read.

    A delivery truncated from 21 MB to 5 MB mid-run lost ~181,000 records with exit 0, and the
    manifest paired the planned size with the new file's sha256. Quarantining the rest would
    still publish a mix of two versions of the file, so the run stops instead.
    """
    after = _local_stat(task.url)
    what = None
    if task.expected_size is not None and before is not None and before.st_size != task.expected_size:
        what = f"its size changed from {task.expected_size:,} bytes (planned) to {before.st_size:,} before it was read"
    elif info.error:
        what = info.error
    elif before is not None and _stamp(before) != _stamp(after):
        sizes = f"{before.st_size:,} → {after.st_size:,} bytes" if after else "it disappeared"
        what = f"it changed while being read ({sizes}, modification time or inode changed)"
    elif before is not None and info.bytes != before.st_size:
        what = f"{info.bytes:,} bytes were read but it has {before.st_size:,}"
    if what:
        raise InputError(
            f"source {task.source_id}: input file {task.shown!r}: {what}; inputs must not change during a run "
            "(re-run when the delivery is complete and stable)"
        )


@dataclass(frozen=True)
class FileTask:
    source_id: str
    source_index: int
    file_index: int
    url: str
    rel: str
    lang: str | None
    domain: str | None
    options: ReadOptions
    refused: str | None = None  # the plan refused this file (e.g. symlink escaping the root)
    expected_size: int | None = None  # the size the plan saw (a file changed since then fails the run)
    name: str | None = None  # the plan's masked, unique name (pipelines.plan.InputFile.name)
    max_records: int | None = None  # a sample run: records of this file to read (None: all)

    @property
    def shown(self) -> str:
        """The file's name in every output: shards, ledger, manifest, logs and error messages
        (``01012345678.jsonl`` → ``<PHONE_NUMBER>.jsonl``); ``rel`` is only ever used to read."""
        return self.name or mask_identifiers(self.rel) or self.rel


@dataclass
class IngestBatch:
    documents: pa.RecordBatch
    ledger: pa.Table  # quarantined / dropped rows of this batch
    info: FileInfo | None = None  # set on the file's last batch
    counts: dict[str, int] = field(default_factory=dict)
    #: Bytes of the raw (possibly compressed) file read so far: progress *within* a file. A 33 MB
    #: ``.gz`` moved a bar counting whole files from 4 % to 79 % in one step.
    position: int = 0


@functools.cache
def _no_rows() -> pa.Table:
    """The empty ledger, built once (0.4 ms per small file) on first use: building an array makes
    pyarrow import pandas (~0.4 CPU-s), which importing this module must not (docs/testing.md)."""
    return LEDGER_SCHEMA.empty_table()  # immutable


def ledger_rows(rows: list[dict]) -> pa.Table:
    if not rows:
        return _no_rows()
    cols = {name: [r.get(name) for r in rows] for name in LEDGER_SCHEMA.names}
    return pa.table(cols, schema=LEDGER_SCHEMA)


#: The document columns that vary from record to record (the others are the file's constants).
_VARYING = ("id", "text", "source_locator", "source_record_id", "order")
_RECORDS_PER_FILE = 1 << RECORD_BITS


def ingest_file(task: FileTask, batch_size: int) -> Iterator[IngestBatch]:
    shown = task.shown  # 01012345678.jsonl → <PHONE_NUMBER>.jsonl
    info = FileInfo(path=task.rel)  # the readers look at the real name (extension, encoding_overrides)
    # Per record only the columns that vary; the file's constants are filled in per batch (four
    # appends fewer per record: ingest is a Python loop over every record, ~10 µs each).
    docs: dict[str, list] = {name: [] for name in _VARYING}
    issues: list[dict] = []

    fh = None

    def emit() -> IngestBatch:
        n = len(docs["id"])
        # The file's constants as repeated scalars, not lists of n strings to convert: 0.40 → 0.04
        # ms per 2,048-document batch (timeit, load ~13, 2026-12-07); the same arrays.
        columns = docs | {name: pa.repeat(pa.scalar(value, pa.string()), n) for name, value in
                          (("source_id", task.source_id), ("source_file", shown), ("lang", task.lang), ("domain", task.domain))}
        batch = pa.RecordBatch.from_pydict(columns, schema=DOCUMENT_SCHEMA)
        out = IngestBatch(batch, ledger_rows(issues), position=_position(fh))
        for values in docs.values():
            values.clear()
        issues.clear()
        return out

    record_index = 0
    if task.refused:
        issues.append(_issue(task, make_order(task.source_index, task.file_index, 0), "file", "quarantined", task.refused))
        b = emit()
        b.info = dataclasses.replace(info, path=shown)
        yield b
        return
    try:
        fh = fsspec.open(task.url, "rb").open()
    except OSError as e:
        # Unreadable file (permissions, vanished): one quarantined record for the file.
        why = e.strerror or mask_identifiers(str(e).replace(task.url, shown).replace(task.rel, shown))
        issues.append(_issue(task, make_order(task.source_index, task.file_index, 0), "file", "quarantined", f"cannot open: {why}"))
        b = emit()
        b.info = dataclasses.replace(info, path=shown)
        yield b
        return
    before = _local_stat(task.url)
    first = make_order(task.source_index, task.file_index, 0)
    ids, texts, locators, record_ids, orders = (docs[name] for name in _VARYING)
    doc_id = doc_id_maker(task.source_id, shown)
    with fh:
        events = read_file(fh, task.options, info)
        for event in events:
            # The last position left: this record if it is the file's last, else one row for the rest.
            if record_index == _RECORDS_PER_FILE - 1 and next(events, None) is not None:
                issues.append(_issue(task, first + record_index, f"record {record_index + 1:,} on", "quarantined",
                                     f"the file holds more than {_RECORDS_PER_FILE:,} records, the most one file may hold; "
                                     "this record and the rest are quarantined as one row (split the file)"))
                break
            order = first + record_index
            record_index += 1
            if isinstance(event, Record):
                ids.append(doc_id(event.locator))
                texts.append(event.text)
                locators.append(event.locator)
                record_ids.append(mask_identifiers(event.record_id, what=f"source {task.source_id!r}, {shown}, {event.locator}: the record id"))  # 900101-1234568 → <KR_RRN>
                orders.append(order)
            elif isinstance(event, Quarantined):
                issues.append(_issue(task, order, event.locator, "quarantined", event.error, event.reason))
            elif isinstance(event, Dropped):
                issues.append(_issue(task, order, event.locator, "dropped", event.detail, event.reason))
            if len(ids) + len(issues) >= batch_size:
                yield emit()
            if task.max_records is not None and record_index >= task.max_records:
                break
        events.close()  # a sample stops early: the reader still hashes the rest of the file (manifest sha256)
    check_unchanged(task, before, info)
    last = emit()
    last.info, last.position = dataclasses.replace(info, path=shown), info.bytes
    yield last


def doc_id_maker(source_id: str, source_file: str):
    """:func:`~filters.schema.make_doc_id` for one file's locators: the sha256 state after the
    file's constant prefix (source id, NUL, file name, NUL) is built once and copied per record,
    the same digest with a third less time per id (timeit, 100,000 ids, load ~11, 2026-12-07:
    1.04 → 0.68 s)."""
    prefix = hashlib.sha256(f"{source_id}\0{source_file}\0".encode())
    head = f"{source_id}-"

    def make(locator: str) -> str:
        h = prefix.copy()
        h.update(locator.encode())
        return head + h.hexdigest()[:16]

    return make


def _position(fh) -> int:
    """Where the reader is in the raw file (0 when the handle cannot say, or is closed)."""
    try:
        return int(fh.tell()) if fh is not None and not fh.closed else 0
    except (OSError, ValueError, AttributeError):
        return 0


def _issue(task: FileTask, order: int, locator: str, outcome: str, detail: str | None, reason: str | None = None) -> dict:
    return {
        "id": make_doc_id(task.source_id, task.shown, locator),
        "source_id": task.source_id,
        "source_file": task.shown,
        "source_locator": locator,
        "order": order,
        "outcome": outcome,
        "stage": INGEST_STAGE,
        "reason": reason or ("unreadable_record" if outcome == "quarantined" else None),
        "detail": detail,
    }
