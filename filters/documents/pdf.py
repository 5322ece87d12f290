"""PDF text layer with PDFium (pypdfium2): reading order, repeated page furniture removed.

PDFium returns a page's text in content-stream order, which for the shared PDFs (a
two/three-column Federal Register issue, a rotated table, Senate tables) is the reading order
column by column; measured against pdfplumber/pdfminer in docs/documents.md (quality and
pages/s). Clean-up after extraction, each switchable in the source's ``pdf:`` options:

* lines repeated at the top or bottom of most pages (running heads, footers) and bare page
  numbers there are removed;
* a gutter of line numbers (court transcripts number lines 1–25 down the margin) is removed;
* a word hyphenated across a line break is joined (``regu-`` + ``lation`` → ``regulation``).
"""

from __future__ import annotations

import re
from collections import Counter

from filters.documents.model import (
    BOMB,
    EMPTY,
    ENCRYPTED,
    MALFORMED,
    NO_TEXT_LAYER,
    Block,
    DocumentError,
    DocumentOptions,
    Extracted,
)

_PAGE_NUMBER = re.compile(r"^\s*(?:[-–—]\s*)?(?:page\s+)?\d{1,5}(?:\s*(?:of|/)\s*\d{1,5})?(?:\s*[-–—])?\s*$", re.I)
_DIGITS = re.compile(r"\d+")
_PDFIUM_HYPHEN = re.compile("[\ufffe\x02](?:\r\n)?(?=(.?))")
_HYPHENATED = re.compile(r"[A-Za-z]{2,}-$")
EDGE_LINES = 3  # lines at the top and at the bottom of a page that may be running heads/footers


def extract(data: bytes, opts: DocumentOptions) -> Extracted:
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        if "password" in str(e).lower():
            raise DocumentError(ENCRYPTED, "password-protected PDF") from None
        raise DocumentError(MALFORMED, f"unreadable PDF: {e}") from None
    try:
        n = len(pdf)
        if n > opts.max_pages:
            raise DocumentError(BOMB, f"{n:,} pages exceed limits.document_max_pages ({opts.max_pages:,})")
        if n == 0:
            raise DocumentError(EMPTY, "PDF has no pages")
        pages: list[list[str]] = []
        images = 0
        for i in range(n):
            page = pdf[i]
            textpage = page.get_textpage()
            # PDFium marks a hyphen it judged a line-break hyphenation as U+FFFE (and a soft
            # hyphen as U+0002): the word is joined, as for visible hyphens below.
            text = textpage.get_text_range()
            # Before a capital or a digit it was a real hyphen at a line end (next line: furniture).
            text = _PDFIUM_HYPHEN.sub(lambda m: "" if opts.pdf_join_hyphenated and m.group(1)[:1].islower() else "-\n", text)
            textpage.close()
            if not text.strip():
                images += sum(1 for _ in page.get_objects(filter=[raw.FPDF_PAGEOBJ_IMAGE], max_depth=2))
            page.close()
            pages.append([ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")])
    finally:
        pdf.close()
    if not any(ln.strip() for lines in pages for ln in lines):
        if images:
            raise DocumentError(NO_TEXT_LAYER, f"no text layer on any of {n} page(s) ({images} image(s)): scanned, needs OCR")
        raise DocumentError(EMPTY, f"no text on any of {n} page(s)")
    if opts.pdf_remove_line_numbers:
        pages = [_drop_line_number_gutter(lines) for lines in pages]
    if opts.pdf_remove_repeated_lines:
        pages = _drop_page_furniture(pages)
    blocks: list[Block] = []
    for number, lines in enumerate(pages, 1):
        if opts.pdf_join_hyphenated:
            lines = _join_hyphenated(lines)
        blocks.extend(Block(ln, page=number) for ln in lines if ln.strip())
    return Extracted("pdf", tuple(blocks), n)


def _edge_indices(lines: list[str]) -> list[int]:
    filled = [i for i, ln in enumerate(lines) if ln.strip()]
    return sorted(set(filled[:EDGE_LINES] + filled[-EDGE_LINES:]))


def _drop_page_furniture(pages: list[list[str]]) -> list[list[str]]:
    """Drop running heads/footers (same line, digits aside, on ≥ half of ≥ 3 pages, or on both of 2) and page numbers at the edges."""
    def key(line: str) -> str:
        # "47700 Federal Register / …" and "Federal Register / … 47701" are one running head.
        return _DIGITS.sub("#", line.strip().lower()).strip("# ")

    seen: Counter[str] = Counter()
    body: set[str] = set()  # a line that also occurs inside a page is content, not furniture
    for lines in pages:
        edges = _edge_indices(lines)
        seen.update({key(lines[i]) for i in edges})
        body.update(key(ln) for i, ln in enumerate(lines) if i not in edges and ln.strip())
    n = len(pages)
    repeated = {k for k, c in seen.items() if (n >= 3 and c * 2 >= n or n == 2 and c == 2) and k not in body}
    out = []
    for lines in pages:
        drop = {i for i in _edge_indices(lines) if key(lines[i]) in repeated or _PAGE_NUMBER.match(lines[i])}
        if len(pages) == 1:
            drop = {i for i in drop if _PAGE_NUMBER.match(lines[i]) and len(lines) > 3}
        out.append([ln for i, ln in enumerate(lines) if i not in drop])
    return out


def _drop_line_number_gutter(lines: list[str]) -> list[str]:
    """Remove a run of ≥ 5 lines that are exactly 1, 2, 3, … (a transcript's numbered margin)."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and lines[j].strip() == str(j - i + 1):
            j += 1
        if j - i >= 5:
            i = j
            continue
        out.append(lines[i])
        i += 1
    return out


def _join_hyphenated(lines: list[str]) -> list[str]:
    out: list[str] = []
    for ln in lines:
        nxt = ln.lstrip()
        if out and _HYPHENATED.search(out[-1]) and nxt[:1].islower():
            word, _, rest = nxt.partition(" ")
            out[-1] = out[-1][:-1] + word
            if rest.strip():
                out.append(rest)
            continue
        out.append(ln)
    return out
