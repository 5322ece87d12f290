"""Office documents made from known text, for tests, the benchmark and the examples/ sample.

Every maker is deterministic (fixed creation dates, no random ids), so the same text gives the
same bytes: the committed examples/data/documents/ files can be regenerated and compared.

* :func:`statute_pdf` — reportlab with its Korean CID font (HYSMyeongJo-Medium, needs no font
  file), optional two columns, rotated pages, a running head and page numbers;
* :func:`statute_docx` — python-docx, a heading, paragraphs, a table, header and footer;
* :func:`statute_hwpx` — a minimal OWPML package (zip + XML) that hwp-hwpx-parser reads (not
  checked in Hancom Office, which is not available here);
* bad files: encrypted, scanned (image only), malformed, empty, lying extension, bombs.

Run ``python -m bench.document_fixtures`` to regenerate examples/data/documents/.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
STATUTES = ROOT / "examples" / "data" / "statutes.jsonl"
KOREAN_FONT = "HYSMyeongJo-Medium"
_FIXED_DATE = (2026, 1, 1, 0, 0, 0)


def statute_paragraphs(record: dict, max_chars: int | None = None) -> list[str]:
    """The statute's title and body lines without YAML front matter and Markdown marks."""
    body = record["text"].split("\n---\n", 1)[-1]
    out = [record["title"]]
    size = 0
    for line in body.splitlines():
        line = re.sub(r"^[#>*\-\s]+|[*`]+", "", line).replace("\\.", ".").strip()
        if not line or line.startswith("<"):
            continue
        out.append(line)
        size += len(line)
        if max_chars and size >= max_chars:
            break
    return out


def load_statutes(n: int | None = None) -> list[dict]:
    rows = [json.loads(line) for line in STATUTES.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:n] if n else rows


# --- PDF -------------------------------------------------------------------------------------


def statute_pdf(paragraphs: list[str], *, columns: int = 1, rotate: bool = False, furniture: bool = True,
                title: str = "statute") -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Paragraph

    pdfmetrics.registerFont(UnicodeCIDFont(KOREAN_FONT))
    buf = io.BytesIO()
    width, height = A4
    doc = BaseDocTemplate(buf, pagesize=A4, title=title, author="corpusmill", creator="corpusmill", invariant=1)
    gap, margin = 18, 56
    col_w = (width - 2 * margin - gap * (columns - 1)) / columns
    frames = [Frame(margin + i * (col_w + gap), margin, col_w, height - 2 * margin, id=f"c{i}") for i in range(columns)]

    def on_page(canvas, doc_):
        if rotate:
            canvas.setPageRotation(90)
        if furniture:
            canvas.setFont(KOREAN_FONT, 8)
            canvas.drawString(margin, height - 36, f"{title} · 국가법령정보센터")
            canvas.drawCentredString(width / 2, 30, str(doc_.page))

    doc.addPageTemplates([PageTemplate(id="p", frames=frames, onPage=on_page)])
    style = ParagraphStyle("ko", fontName=KOREAN_FONT, fontSize=10, leading=15)
    doc.build([Paragraph(escape(p), style) for p in paragraphs])
    return buf.getvalue()


def many_pages_pdf(pages: int) -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1)
    for i in range(pages):
        c.drawString(72, 720, f"page {i + 1}")
        c.showPage()
    c.save()
    return buf.getvalue()


def encrypted_pdf() -> bytes:
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1, encrypt=StandardEncryption("secret", ownerPassword="owner", strength=128))
    c.drawString(72, 720, "confidential")
    c.save()
    return buf.getvalue()


def scanned_pdf() -> bytes:
    """A page that is only a picture of text: no text layer (needs OCR)."""
    from PIL import Image, ImageDraw
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    img = Image.new("L", (400, 120), 255)
    ImageDraw.Draw(img).text((10, 50), "scanned page: pixels, not text", fill=0)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1)
    c.drawImage(ImageReader(img), 72, 600, 400, 120)
    c.save()
    return buf.getvalue()


def blank_pdf() -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1)
    c.showPage()
    c.save()
    return buf.getvalue()


def malformed_pdf() -> bytes:
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\n" + bytes(range(256)) * 4


# --- DOCX ------------------------------------------------------------------------------------


def statute_docx(paragraphs: list[str], *, table: list[list[str]] | None = None, header: str | None = None,
                 footer: str | None = None) -> bytes:
    import docx

    d = docx.Document()
    d.core_properties.created = d.core_properties.modified = __import__("datetime").datetime(*_FIXED_DATE)
    d.core_properties.author = "corpusmill"
    d.add_heading(paragraphs[0], level=1)
    for p in paragraphs[1:]:
        d.add_paragraph(p)
    if table:
        t = d.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                t.cell(r, c).text = value
    section = d.sections[0]
    if header:
        section.header.paragraphs[0].text = header
    if footer:
        section.footer.paragraphs[0].text = footer
    buf = io.BytesIO()
    d.save(buf)
    return _fixed_zip(buf.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed member dates (python-docx stamps the current time)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(zipfile.ZipInfo(info.filename, _FIXED_DATE), src.read(info.filename), zipfile.ZIP_DEFLATED)
    return out.getvalue()


def zip_bomb_docx(expanded_bytes: int) -> bytes:
    """A real DOCX plus one part of ``expanded_bytes`` zeros (compresses ≈ 1000:1)."""
    data = statute_docx(["bomb", "text"])
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename))
        part = zipfile.ZipInfo("word/media/zeros.bin", _FIXED_DATE)
        part.compress_type = zipfile.ZIP_DEFLATED
        with dst.open(part, "w", force_zip64=True) as fh:
            chunk = bytes(1 << 20)
            for _ in range(expanded_bytes >> 20):
                fh.write(chunk)
    return out.getvalue()


def encrypted_ooxml() -> bytes:
    """The container of a password-protected .docx: OLE2 with EncryptionInfo + EncryptedPackage."""
    return _ole({"EncryptionInfo": b"\x04\x00\x04\x00" + bytes(60), "EncryptedPackage": bytes(64)})


def _ole(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE2 compound file with small streams in the mini stream (MS-CFB, v3, 512-byte sectors)."""
    import struct

    names = list(streams)
    mini = b"".join(s.ljust((len(s) + 63) // 64 * 64, b"\0") for s in streams.values())
    mini = mini.ljust((len(mini) + 511) // 512 * 512, b"\0")
    n_mini_sectors = len(mini) // 512
    # sectors: 0 = FAT, 1 = directory (4 entries), 2 = mini FAT, 3.. = mini stream
    fat = [0xFFFFFFFD, 0xFFFFFFFE, 0xFFFFFFFE] + [4 + i for i in range(n_mini_sectors - 1)] + [0xFFFFFFFE]
    fat += [0xFFFFFFFF] * (128 - len(fat))
    minifat, start = [], 0
    for s in streams.values():
        k = max(1, (len(s) + 63) // 64)
        minifat += [start + i + 1 for i in range(k - 1)] + [0xFFFFFFFE]
        start += k
    minifat += [0xFFFFFFFF] * (128 - len(minifat))

    def entry(name: str, kind: int, start_sector: int, size: int, child=0xFFFFFFFF, right=0xFFFFFFFF) -> bytes:
        raw = name.encode("utf-16-le") + b"\0\0"
        return (raw.ljust(64, b"\0") + struct.pack("<HBB", len(raw), kind, 1) + struct.pack("<III", 0xFFFFFFFF, right, child)
                + bytes(16) + bytes(4) + bytes(16) + struct.pack("<III", start_sector, size, 0))

    entries = [entry("Root Entry", 5, 3, len(mini), child=1)]
    start = 0
    for i, name in enumerate(names):
        right = i + 2 if i + 1 < len(names) else 0xFFFFFFFF
        entries.append(entry(name, 2, start, len(streams[name]), right=right))
        start += max(1, (len(streams[name]) + 63) // 64)
    directory = b"".join(entries).ljust(512, b"\0")
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + bytes(6)
              + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, 2, 1, 0xFFFFFFFE, 0) + struct.pack("<I", 0) + b"\xff" * (436 - 4))
    header = header[:76] + struct.pack("<I", 0) + b"\xff\xff\xff\xff" * 108
    return header + struct.pack("<128I", *fat) + directory + struct.pack("<128I", *minifat) + mini


# --- HWPX ------------------------------------------------------------------------------------

_HP = "http://www.hancom.co.kr/hwpml/2011/paragraph"
_HS = "http://www.hancom.co.kr/hwpml/2011/section"


def statute_hwpx(paragraphs: list[str], *, table: list[list[str]] | None = None) -> bytes:
    def para(text: str) -> str:
        return f'<hp:p><hp:run><hp:t>{escape(text)}</hp:t></hp:run></hp:p>'

    body = [para(p) for p in paragraphs]
    if table:
        rows = "".join("<hp:tr>" + "".join(f"<hp:tc><hp:subList>{para(c)}</hp:subList></hp:tc>" for c in row) + "</hp:tr>" for row in table)
        body.append(f"<hp:p><hp:run><hp:tbl>{rows}</hp:tbl></hp:run></hp:p>")
    section = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><hs:sec xmlns:hs="{_HS}" xmlns:hp="{_HP}">{"".join(body)}</hs:sec>'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype", _FIXED_DATE), "application/hwp+zip", zipfile.ZIP_STORED)
        files = {
            "version.xml": '<?xml version="1.0" encoding="UTF-8"?><hv:HCFVersion xmlns:hv="http://www.hancom.co.kr/hwpml/2011/version" major="5" minor="1" micro="0" buildNumber="0"/>',
            "META-INF/container.xml": '<?xml version="1.0" encoding="UTF-8"?><ocf:container xmlns:ocf="urn:oasis:names:tc:opendocument:xmlns:container"><ocf:rootfiles><ocf:rootfile full-path="Contents/content.hpf" media-type="application/hwpml-package+xml"/></ocf:rootfiles></ocf:container>',
            "Contents/content.hpf": '<?xml version="1.0" encoding="UTF-8"?><opf:package xmlns:opf="http://www.idpf.org/2007/opf/"><opf:manifest><opf:item id="section0" href="Contents/section0.xml" media-type="application/xml"/></opf:manifest><opf:spine><opf:itemref idref="section0"/></opf:spine></opf:package>',
            "Contents/section0.xml": section,
        }
        for name, text in files.items():
            z.writestr(zipfile.ZipInfo(name, _FIXED_DATE), text.encode("utf-8"), zipfile.ZIP_DEFLATED)
    return out.getvalue()


def write_examples(out: Path = ROOT / "examples" / "data" / "documents") -> list[Path]:
    """The demo's documents: one statute as a two-column PDF with a running head, one as HWPX."""
    out.mkdir(parents=True, exist_ok=True)
    rows = load_statutes()
    by_id = {r["id"]: r for r in rows}
    pdf = statute_pdf(statute_paragraphs(by_id["s008"], 2500), columns=2, title=by_id["s008"]["title"])
    hwpx = statute_hwpx(statute_paragraphs(rows[1], 2500), table=[["구분", "내용"], ["시행", "공포한 날부터 시행"]])
    paths = [out / "statute-s008.pdf", out / f"statute-{rows[1]['id']}.hwpx"]
    paths[0].write_bytes(pdf)
    paths[1].write_bytes(hwpx)
    return paths


if __name__ == "__main__":
    for p in write_examples():
        print(p.relative_to(ROOT), p.stat().st_size, "bytes")
