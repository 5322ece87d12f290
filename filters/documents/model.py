"""Plain data shared by the document extractors: options, blocks of text, and the typed failure.

Nothing here imports a document library, so the parent process (readers, config) stays light;
the libraries are loaded only in the extraction child (see :mod:`filters.documents.sandbox`).
"""

from __future__ import annotations

from dataclasses import dataclass

FORMATS = ("pdf", "docx", "hwp", "hwpx")

# Quarantine reasons (ledger `reason`, manifest `quarantined_by`): one per kind of bad file, so a
# team sees at a glance what needs a password, OCR or a new delivery.
ENCRYPTED = "encrypted"
MALFORMED = "malformed"
EMPTY = "empty"
NO_TEXT_LAYER = "no_text_layer"
FORMAT_MISMATCH = "format_mismatch"
UNSUPPORTED = "unsupported_format"
BOMB = "document_bomb"


class DocumentError(Exception):
    """A file that cannot become documents; ``reason`` is one of the constants above."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class DocumentOptions:
    """What to extract and the per-file limits (built from the source's typed config)."""

    split: str = "file"  # file | page (pdf) | heading
    heading_pattern: str | None = None
    # pdf
    pdf_remove_repeated_lines: bool = True
    pdf_join_hyphenated: bool = True
    pdf_remove_line_numbers: bool = True
    # docx
    docx_headers_footers: bool = False
    docx_footnotes: bool = False
    docx_comments: bool = False
    docx_tables: str = "inline"  # inline | separate | omit
    # hwp / hwpx
    hwp_footnotes: bool = True
    hwp_tables: str = "inline"  # inline | omit
    # limits (a document bomb is quarantined, never loaded past them)
    max_bytes: int = 256 * 1024 * 1024
    max_pages: int = 5000
    max_decompressed_bytes: int = 512 * 1024 * 1024
    timeout_s: float = 60.0
    memory_mb: int = 2048


@dataclass(frozen=True)
class Block:
    """A piece of a document in reading order: a line of a PDF page, a paragraph, a table."""

    text: str
    page: int | None = None  # 1-based (pdf)
    paragraph: int | None = None  # 1-based paragraph number (docx, hwp)
    table: int | None = None  # 1-based table number
    heading: bool = False  # a heading by style (docx)


@dataclass(frozen=True)
class Extracted:
    format: str
    blocks: tuple[Block, ...]
    pages: int = 0
