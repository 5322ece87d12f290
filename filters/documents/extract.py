"""One file's bytes → its documents (locator, text), or a :class:`DocumentError` saying why not.

Runs inside the extraction child (:mod:`filters.documents.sandbox`); pure apart from a private
temporary copy for the HWP parser, which opens files by name.
"""

from __future__ import annotations

import os
import re
import tempfile

from filters.documents import sniff
from filters.documents.model import (
    EMPTY,
    FORMAT_MISMATCH,
    ENCRYPTED,
    UNSUPPORTED,
    Block,
    DocumentError,
    DocumentOptions,
    Extracted,
)

_DESCRIBED = {"ole": "an OLE container that is not HWP (e.g. a legacy .doc)", "zip": "a zip archive that is neither DOCX nor HWPX"}


def detect(data: bytes, declared: str, path: str) -> str:
    """The format to read ``data`` as; a file whose content contradicts its declared format or
    extension is refused (``format_mismatch``) rather than guessed at."""
    if not data:
        raise DocumentError(EMPTY, "empty file (0 bytes)")
    found = sniff.sniff_format(data)
    expected = sniff.expected_format(declared, path)
    if found == "ooxml-encrypted":
        raise DocumentError(ENCRYPTED, "password-protected Office document")
    if found in (None, "ole", "zip"):
        what = _DESCRIBED.get(found or "", "not a PDF, DOCX, HWP or HWPX file")
        if expected:
            raise DocumentError(FORMAT_MISMATCH, f"declared {expected} but the content is {what}")
        raise DocumentError(UNSUPPORTED, f"content is {what}")
    if expected and found != expected:
        raise DocumentError(FORMAT_MISMATCH, f"declared {expected} but the content is {found}")
    return found


def extract(data: bytes, declared: str, path: str, opts: DocumentOptions) -> tuple[str, list[tuple[str, str]]]:
    """Return ``(format, [(locator, text), …])`` in reading order."""
    fmt = detect(data, declared, path)
    if fmt == "pdf":
        from filters.documents import pdf

        doc = pdf.extract(data, opts)
    elif fmt == "docx":
        from filters.documents import office

        doc = office.extract_docx(data, opts)
    else:
        from filters.documents import office

        with tempfile.TemporaryDirectory(prefix="cm-doc-") as tmp:
            copy = os.path.join(tmp, "document." + fmt)
            with open(copy, "wb") as fh:
                fh.write(data)
            doc = office.extract_hwp(data, fmt, opts, copy)
    if not doc.blocks:
        raise DocumentError(EMPTY, f"no text in this {fmt.upper()} file")
    return fmt, split(doc, opts)


def _span(unit: str, first: int | None, last: int | None) -> str:
    if first is None:
        return "file"
    return f"{unit} {first}" if first == last else f"{unit}s {first}-{last}"


def _locator(blocks: list[Block]) -> str:
    pages = [b.page for b in blocks if b.page is not None]
    if pages:
        return _span("page", min(pages), max(pages))
    paras = [b.paragraph for b in blocks if b.paragraph is not None]
    return _span("paragraph", min(paras) if paras else None, max(paras) if paras else None)


def _text(blocks: list[Block]) -> str:
    # PDF lines of one page are joined by a line break; paragraphs and pages by a blank line.
    out: list[str] = []
    prev: Block | None = None
    for b in blocks:
        if prev is not None:
            out.append("\n" if b.page is not None and b.page == prev.page else "\n\n")
        out.append(b.text)
        prev = b
    return "".join(out)


def split(doc: Extracted, opts: DocumentOptions) -> list[tuple[str, str]]:
    blocks = list(doc.blocks)
    if opts.docx_tables == "separate" and doc.format == "docx":
        tables = [b for b in blocks if b.table is not None]
        blocks = [b for b in blocks if b.table is None]
    else:
        tables = []
    groups: list[list[Block]] = []
    if opts.split == "page" and doc.format == "pdf":
        for b in blocks:
            if not groups or groups[-1][0].page != b.page:
                groups.append([])
            groups[-1].append(b)
    elif opts.split == "heading":
        pattern = re.compile(opts.heading_pattern) if opts.heading_pattern else None
        for b in blocks:
            starts = b.heading or bool(pattern and pattern.match(b.text))
            if starts or not groups:
                groups.append([])
            groups[-1].append(b)
    elif blocks:
        groups = [blocks]
    out = [(_locator(g), _text(g)) for g in groups if any(b.text.strip() for b in g)]
    out += [(f"table {b.table}", b.text) for b in tables]
    # Two groups on one page (heading split) would share a locator: number them apart.
    seen: dict[str, int] = {}
    unique = []
    for loc, text in out:
        seen[loc] = seen.get(loc, 0) + 1
        unique.append((loc if seen[loc] == 1 else f"{loc} #{seen[loc]}", text))
    return unique
