"""Which document format a file's bytes are, whatever its name says."""

from __future__ import annotations

import io
import zipfile

PDF_MAGIC = b"%PDF-"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
HWP_SIGNATURE = b"HWP Document File"

EXTENSIONS = {".pdf": "pdf", ".docx": "docx", ".hwp": "hwp", ".hwpx": "hwpx"}


def sniff_format(data: bytes) -> str | None:
    """``pdf``, ``docx``, ``hwp``, ``hwpx``, ``ooxml-encrypted``, ``ole``, ``zip`` or None (not a document).

    PDF readers accept a header anywhere in the first KB (PDF 1.7 §7.5.2 implementation note), so do we.
    """
    if PDF_MAGIC in data[:1024]:
        return "pdf"
    if data.startswith(OLE_MAGIC):
        return _sniff_ole(data)
    if data.startswith(ZIP_MAGIC):
        return _sniff_zip(data)
    return None


def _sniff_ole(data: bytes) -> str:
    import olefile

    try:
        ole = olefile.OleFileIO(data)
    except Exception:  # noqa: BLE001 — a damaged container is judged by the extractor as malformed
        return "ole"
    try:
        if ole.exists("FileHeader") and ole.openstream("FileHeader").read(32).startswith(HWP_SIGNATURE):
            return "hwp"
        # A password-protected .docx/.xlsx is an OLE container holding the encrypted package.
        if ole.exists("EncryptionInfo") and ole.exists("EncryptedPackage"):
            return "ooxml-encrypted"
        return "ole"
    finally:
        ole.close()


def _sniff_zip(data: bytes) -> str:
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return "zip"
    if "word/document.xml" in names:
        return "docx"
    if any(n.startswith("Contents/section") for n in names) or "Contents/content.hpf" in names:
        return "hwpx"
    return "zip"


def expected_format(declared: str, path: str) -> str | None:
    """The format a file should be: the source's declared format, or (auto) its extension's."""
    if declared != "auto":
        return declared
    dot = path.rfind(".")
    return EXTENSIONS.get(path[dot:].lower()) if dot >= 0 else None
