"""DOCX (python-docx) and HWP 5 / HWPX (hwp-hwpx-parser, Apache-2.0) to blocks of text.

Tables become text rows (cells separated by a tab, one row per line), in body order. Both
container formats are zip or OLE archives whose parts are inflated by the libraries: the
declared sizes are checked against ``limits.document_max_decompressed_bytes`` first, so a
zip bomb is refused before anything is inflated.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib

from filters.documents.model import (
    BOMB,
    ENCRYPTED,
    MALFORMED,
    Block,
    DocumentError,
    DocumentOptions,
    Extracted,
)

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_HEADING_STYLE = re.compile(r"^(heading \d|title)$", re.I)
_NOTE_MARK = re.compile(r"\[\^e?\d+\]")
_HWP_LINE = re.compile(r"(?<!\r)\n")  # the parser ends paragraphs with \n and table rows with \r\n


def check_zip(data: bytes, opts: DocumentOptions) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise DocumentError(MALFORMED, f"damaged zip container: {e}") from None
    total = sum(i.file_size for i in infos)
    if total > opts.max_decompressed_bytes:
        raise DocumentError(
            BOMB, f"parts expand to {total:,} bytes, over limits.document_max_decompressed_bytes ({opts.max_decompressed_bytes:,})"
        )
    if any(i.flag_bits & 0x1 for i in infos):
        raise DocumentError(ENCRYPTED, "zip parts are encrypted")
    return zf


# --- DOCX ------------------------------------------------------------------------------------


def extract_docx(data: bytes, opts: DocumentOptions) -> Extracted:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    check_zip(data, opts)
    try:
        doc = docx.Document(io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 — any parse failure of a delivered file is a quarantine
        raise DocumentError(MALFORMED, f"unreadable DOCX: {type(e).__name__}: {e}") from None
    blocks: list[Block] = []
    para = table = 0

    def table_text(t: Table) -> str:
        rows = []
        for row in t.rows:
            cells, last = [], None
            for cell in row.cells:
                if cell._tc is last:  # a merged cell is returned once per grid column it spans
                    continue
                last = cell._tc
                inner = [p.text for p in cell.paragraphs if p.text.strip()]
                inner += [table_text(n) for n in cell.tables]
                cells.append(" ".join(x.replace("\n", " ") for x in inner))
            rows.append("\t".join(cells).rstrip())
        return "\n".join(r for r in rows if r.strip())

    if opts.docx_headers_footers:
        blocks += _docx_furniture(doc, "header")
    for child in doc.element.body.iterchildren():
        if child.tag == _W + "p":
            para += 1
            p = Paragraph(child, doc)
            if p.text.strip():
                style = p.style.name if p.style is not None else ""
                blocks.append(Block(p.text, paragraph=para, heading=bool(_HEADING_STYLE.match(style or ""))))
        elif child.tag == _W + "tbl":
            table += 1
            if opts.docx_tables != "omit":
                text = table_text(Table(child, doc))
                if text:
                    blocks.append(Block(text, paragraph=para or 1, table=table))
    if opts.docx_footnotes:
        blocks += [Block(t, paragraph=para) for t in _docx_notes(doc)]
    if opts.docx_comments:
        blocks += [Block(c.text, paragraph=para) for c in doc.comments if c.text.strip()]
    if opts.docx_headers_footers:
        blocks += _docx_furniture(doc, "footer")
    return Extracted("docx", tuple(blocks))


def _docx_furniture(doc, which: str) -> list[Block]:
    seen: list[str] = []
    for section in doc.sections:
        part = getattr(section, which)
        if part.is_linked_to_previous:
            continue
        text = "\n".join(p.text for p in part.paragraphs if p.text.strip())
        if text and text not in seen:
            seen.append(text)
    return [Block(t, paragraph=None) for t in seen]


def _docx_notes(doc) -> list[str]:
    from lxml import etree

    for rel in doc.part.rels.values():
        if rel.reltype.endswith("/footnotes") and not rel.is_external:
            root = etree.fromstring(rel.target_part.blob)
            notes = []
            for note in root.iter(_W + "footnote"):
                if note.get(_W + "type") in ("separator", "continuationSeparator", "continuationNotice"):
                    continue
                text = "".join(t.text or "" for t in note.iter(_W + "t")).strip()
                if text:
                    notes.append(text)
            return notes
    return []


# --- HWP 5 / HWPX ----------------------------------------------------------------------------


def _check_hwp5(data: bytes, opts: DocumentOptions) -> None:
    """Encrypted flag and a bounded trial inflation of every body section before the parser inflates them whole."""
    import olefile

    try:
        ole = olefile.OleFileIO(data)
    except Exception as e:  # noqa: BLE001
        raise DocumentError(MALFORMED, f"damaged HWP container: {type(e).__name__}: {e}") from None
    try:
        if not ole.exists("FileHeader"):
            raise DocumentError(MALFORMED, "HWP container without a FileHeader stream")
        header = ole.openstream("FileHeader").read(40)
        flags = int.from_bytes(header[36:40], "little") if len(header) >= 40 else 0
        if flags & 0x02:
            raise DocumentError(ENCRYPTED, "password-protected HWP")
        if flags & 0x04:
            raise DocumentError(ENCRYPTED, "HWP with distribution (DRM) protection")
        total = 0
        for entry in ole.listdir():
            if entry[0] not in ("BodyText", "ViewText") or len(entry) < 2:
                continue
            raw = ole.openstream(entry).read()
            if not flags & 0x01:
                total += len(raw)
                continue
            inflater = zlib.decompressobj(-15)
            try:
                chunk = inflater.decompress(raw, opts.max_decompressed_bytes - total + 1)
            except zlib.error:
                continue  # not raw deflate: the parser's own fallbacks decide
            total += len(chunk)
            if total > opts.max_decompressed_bytes or inflater.unconsumed_tail:
                raise DocumentError(
                    BOMB, f"body text expands past limits.document_max_decompressed_bytes ({opts.max_decompressed_bytes:,})"
                )
    finally:
        ole.close()


def extract_hwp(data: bytes, fmt: str, opts: DocumentOptions, path: str) -> Extracted:
    """``path``: a private temporary copy of ``data`` (the parser opens files by name)."""
    from hwp_hwpx_parser.hwp5 import HWP5Reader
    from hwp_hwpx_parser.hwpx import HWPXReader
    from hwp_hwpx_parser.models import ExtractOptions, ImageMarkerStyle, TableStyle

    if fmt == "hwp":
        _check_hwp5(data, opts)
        reader = HWP5Reader(path)
    else:
        zf = check_zip(data, opts)
        if "META-INF/manifest.xml" in zf.namelist() and b"encryption-data" in zf.read("META-INF/manifest.xml").lower():
            raise DocumentError(ENCRYPTED, "password-protected HWPX")
        reader = HWPXReader(path)
    options = ExtractOptions(table_style=TableStyle.CSV, table_delimiter="\t", image_marker=ImageMarkerStyle.NONE)
    try:
        with reader:
            result = reader.extract_text_with_notes(options)
    except DocumentError:
        raise
    except Exception as e:  # noqa: BLE001
        raise DocumentError(MALFORMED, f"unreadable {fmt.upper()}: {type(e).__name__}: {e}") from None
    text = result.text
    if not opts.hwp_footnotes:
        text = _NOTE_MARK.sub("", text)
    blocks: list[Block] = []
    table = 0
    for number, piece in enumerate(_HWP_LINE.split(text), 1):
        if not piece.strip():
            continue
        is_table = "\r\n" in piece or "\t" in piece
        table += is_table
        blocks.append(Block(piece.replace("\r\n", "\n").strip("\n"), paragraph=number, table=table if is_table else None))
    if opts.hwp_footnotes:
        last = blocks[-1].paragraph if blocks else 1
        blocks += [Block(f"[^{n.number}] {n.text.strip()}", paragraph=last) for n in result.footnotes if n.text.strip()]
    return Extracted(fmt, tuple(blocks))
