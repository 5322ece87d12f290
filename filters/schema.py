"""The one Arrow schema for documents, and the ledger schema.

Document columns
----------------
``id``               stable id: ``<source_id>-<16 hex>`` where the hex is the sha256 of
                     ``source_id \\0 source_file \\0 source_locator``; a re-run gives the same ids.
``text``             the document text (normalised once the ``normalize`` stage ran).
``source_id``        the config id of the source the record came from.
``source_file``      the file, relative to the source's root (the non-glob prefix of its path).
``source_locator``   where in the file: ``line 12``, ``line 4-9``, ``row 7 (line 8)``,
                     ``data[3].paragraphs[1]``, ``pmid 9949209`` or ``file``.
``source_record_id`` the vendor's own id for the record when the source names an id field.
``lang``             language: the source's hint until a language-ID stage sets it.
``domain``           the source's domain hint (``legal``, ``finance``, …).
``order``            ingest ordinal ``(source index << 51) | (file index << 31) | record index``
                     packed into int64 — the deterministic order used by keep rules and shards.

Stages append their own columns (scores, hashes); each stage declares them in ``output_fields``.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

DOCUMENT_FIELDS: list[pa.Field] = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("source_id", pa.string(), nullable=False),
    pa.field("source_file", pa.string(), nullable=False),
    pa.field("source_locator", pa.string(), nullable=False),
    pa.field("source_record_id", pa.string()),
    pa.field("lang", pa.string()),
    pa.field("domain", pa.string()),
    pa.field("order", pa.int64(), nullable=False),
]
DOCUMENT_SCHEMA = pa.schema(DOCUMENT_FIELDS)

OUTCOMES = ("kept", "dropped", "quarantined")

#: What map stages did to a record they let through (a mask, a quotation kept, a scrub): one
#: ``{stage, action, detail}`` per note, in the ledger's ``notes`` column of the record's one row
#: (kept or dropped later), so a kept document that was changed is traceable too. Never raw text.
NOTE_TYPE = pa.struct([("stage", pa.string()), ("action", pa.string()), ("detail", pa.string())])
#: In flight (between a stage and the final ledger) a note is a ledger row of this outcome, with
#: ``stage``, ``reason`` = action and ``detail``; the assembler folds them into ``notes``.
NOTED = "noted"

LEDGER_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_locator", pa.string(), nullable=False),
        pa.field("order", pa.int64(), nullable=False),
        pa.field("outcome", pa.string(), nullable=False),
        pa.field("stage", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("duplicate_of", pa.string()),
        pa.field("cluster_id", pa.string()),
        # Free-form details (error message, detected language, entity counts). Never raw text.
        pa.field("detail", pa.string()),
        pa.field("shard", pa.string()),
        # Characters of the document text when it was decided (after normalisation); null for
        # records that never became documents. Lets reports show length before/after per stage.
        pa.field("n_chars", pa.int64()),
        # The score that decided a drop and the threshold it was compared with (see the stage's
        # ``scores`` declaration for which column and option); null when no threshold decided it.
        pa.field("score", pa.float64()),
        pa.field("threshold", pa.float64()),
        # For a drop by a stage that declares a ``label`` (a categorical column it writes, e.g.
        # langid's ``lang``): that column's value for the dropped document, which no shard holds.
        pa.field("label", pa.string()),
        # Notes of map stages on the way (NOTE_TYPE), ordered by stage key; null when none.
        pa.field("notes", pa.list_(NOTE_TYPE)),
    ]
)

# 4,096 sources per config, 1,048,576 files per source, 2,147,483,648 records per file: a
# legal archive of 100,000 court decisions as one source, or a vendor's 50-million-line JSON-lines
# file, fits (the first layout, 23/16/24, capped a source at 65,536 files and a file at 16.7 M
# records, the second ending the run). 12 + 20 + 31 = 63 bits: a non-negative int64.
SOURCE_BITS, FILE_BITS, RECORD_BITS = 12, 20, 31


def make_order(source_index: int, file_index: int, record_index: int) -> int:
    """Pack the ingest position into one sortable int64.

    >>> make_order(0, 0, 5) < make_order(0, 1, 0) < make_order(1, 0, 0)
    True
    """
    if source_index >= 1 << SOURCE_BITS or file_index >= 1 << FILE_BITS or record_index >= 1 << RECORD_BITS:
        raise ValueError(
            f"ingest position out of range (source {source_index}, file {file_index}, record {record_index}); "
            f"at most {1 << FILE_BITS} files per source and {1 << RECORD_BITS} records per file"
        )
    return (source_index << (FILE_BITS + RECORD_BITS)) | (file_index << RECORD_BITS) | record_index


def make_doc_id(source_id: str, source_file: str, locator: str) -> str:
    """Stable document id from where the record was found.

    >>> make_doc_id("news", "a.txt", "line 3") == make_doc_id("news", "a.txt", "line 3")
    True
    """
    digest = hashlib.sha256(f"{source_id}\0{source_file}\0{locator}".encode()).hexdigest()[:16]
    return f"{source_id}-{digest}"
