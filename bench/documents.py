"""Office documents: text fidelity, pages per second per core next to the alternatives, every
bad file quarantined with its reason, peak RSS.

    nice -n 5 .venv/bin/python -u bench/documents.py [--statutes 8] [--rounds 3]

Fidelity: statutes (../shared/data/deliveries/ko_statutes, else the bundled sample) rendered as
PDF with reportlab's Korean CID font (one column, two columns, rotated pages; running head and
page numbers on every page), as DOCX with python-docx and as HWPX; character-level similarity
(difflib ratio, whitespace runs squashed: line wrapping is layout) of the extracted text to the
source paragraphs in reading order. The HWP and HWPX copies of the shared lecture notes are
compared with each other. PDF alternatives (pdfplumber, pdfminer.six) are scored the same way.

Throughput: CPU seconds of extraction alone, in this process (one core), on the shared PDFs and
the generated files; for DOCX/HWP/HWPX, which have no pages, a page is 2,000 characters of
extracted text. The end-to-end figure adds the sandbox round trip (pickle through a pipe).
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import re
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import document_fixtures as fx  # noqa: E402
from filters.documents.extract import extract  # noqa: E402
from filters.documents.model import DocumentOptions  # noqa: E402
from filters.readers import FileInfo, ReadOptions, read_file  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
PAGE_CHARS = 2000


def squash(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, squash(a), squash(b), autojunk=False).ratio()


def our_text(data: bytes, name: str, **opts) -> str:
    _, parts = extract(data, "auto", name, DocumentOptions(**opts))
    return "\n\n".join(t for _, t in parts)


def pdfplumber_text(data: bytes) -> tuple[str, int]:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return "\n".join(p.extract_text() or "" for p in pdf.pages), len(pdf.pages)


def pdfminer_text(data: bytes) -> str:
    from pdfminer.high_level import extract_text

    return extract_text(io.BytesIO(data))


def statutes(n: int) -> list[list[str]]:
    path = SHARED / "deliveries" / "ko_statutes" / "statutes.jsonl"
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()] if path.exists() else fx.load_statutes()
    rows = sorted(rows, key=lambda r: r["id"])[:n]
    return [fx.statute_paragraphs(r, 4000) for r in rows]


def fidelity(paras_list: list[list[str]]) -> dict:
    scores: dict[str, list[float]] = {}
    files: dict[str, list[tuple[str, bytes]]] = {"pdf": [], "docx": [], "hwpx": []}
    for i, paras in enumerate(paras_list):
        ref = "\n".join(paras)
        variants = {
            "pdf 1 column": fx.statute_pdf(paras, title=paras[0]),
            "pdf 2 columns": fx.statute_pdf(paras, columns=2, title=paras[0]),
            "pdf rotated": fx.statute_pdf(paras, rotate=True, title=paras[0]),
        }
        for label, data in variants.items():
            scores.setdefault(f"corpusmill {label}", []).append(similarity(our_text(data, "x.pdf"), ref))
            if label != "pdf rotated":
                scores.setdefault(f"pdfplumber {label}", []).append(similarity(pdfplumber_text(data)[0], ref))
                scores.setdefault(f"pdfminer.six {label}", []).append(similarity(pdfminer_text(data), ref))
        files["pdf"].append((f"s{i}.pdf", variants["pdf 2 columns"]))
        d = fx.statute_docx(paras)
        h = fx.statute_hwpx(paras)
        files["docx"].append((f"s{i}.docx", d))
        files["hwpx"].append((f"s{i}.hwpx", h))
        scores.setdefault("corpusmill docx", []).append(similarity(our_text(d, "x.docx"), ref))
        scores.setdefault("corpusmill hwpx", []).append(similarity(our_text(h, "x.hwpx"), ref))
    return {"scores": scores, "files": files}


def cpu(fn, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def throughput(files: dict[str, list[tuple[str, bytes]]], rounds: int) -> list[dict]:
    rows = []
    shared_pdfs = sorted((SHARED / "documents" / "pdf").glob("*.pdf")) if SHARED.exists() else []
    pdfs = [(p.name, p.read_bytes()) for p in shared_pdfs if "password" not in p.name] + files["pdf"]
    import pypdfium2

    pages = sum(len(pypdfium2.PdfDocument(d)) for _, d in pdfs)
    ours = cpu(lambda: [our_text(d, n) for n, d in pdfs], rounds)
    plumber = cpu(lambda: [pdfplumber_text(d) for _, d in pdfs], max(1, rounds - 2))
    miner = cpu(lambda: [pdfminer_text(d) for _, d in pdfs], max(1, rounds - 2))
    rows.append({"format": "pdf", "files": len(pdfs), "pages": pages, "corpusmill (pypdfium2)": pages / ours,
                 "pdfplumber": pages / plumber, "pdfminer.six": pages / miner})

    shared_hwp = SHARED / "documents" / "hwp"
    groups = {
        "docx": [(p.name, p.read_bytes()) for p in sorted((SHARED / "documents" / "docx").glob("*.docx"))] + files["docx"],
        "hwpx": [(p.name, p.read_bytes()) for p in sorted(shared_hwp.glob("*.hwpx"))] + files["hwpx"],
        "hwp": [(p.name, p.read_bytes()) for p in sorted(shared_hwp.glob("*.hwp")) if "password" not in p.name],
    }
    for fmt, items in groups.items():
        chars = 0
        for n, d in items:
            try:
                chars += len(our_text(d, n))
            except Exception:  # noqa: BLE001 — empty fixtures count no pages
                pass

        def ours_all(items=items):
            for n, d in items:
                try:
                    our_text(d, n)
                except Exception:  # noqa: BLE001
                    pass

        t = cpu(ours_all, rounds)
        row = {"format": fmt, "files": len(items), "pages": round(chars / PAGE_CHARS, 1), "corpusmill": chars / PAGE_CHARS / t}
        if fmt in ("docx", "hwpx"):
            row["raw XML text (lxml, lower bound)"] = chars / PAGE_CHARS / cpu(lambda items=items: [_raw_xml_text(d) for _, d in items], rounds)
        rows.append(row)
    # End to end through the sandbox (wall time, includes the pipe round trip).
    t = time.perf_counter()
    for n, d in pdfs:
        list(read_file(io.BytesIO(d), ReadOptions(format="pdf"), FileInfo(path=n)))
    rows.append({"format": "pdf via sandbox (wall)", "files": len(pdfs), "pages": pages, "corpusmill": pages / (time.perf_counter() - t)})
    return rows


def _raw_xml_text(data: bytes) -> str:
    import zipfile

    from lxml import etree

    z = zipfile.ZipFile(io.BytesIO(data))
    names = [n for n in z.namelist() if n == "word/document.xml" or n.startswith("Contents/section")]
    return "\n".join("".join(etree.fromstring(z.read(n)).itertext()) for n in names)


def bad_files() -> list[tuple[str, str, str, float]]:
    cases: list[tuple[str, bytes, str, dict]] = [
        ("encrypted.pdf", fx.encrypted_pdf(), "auto", {}),
        ("encrypted.docx", fx.encrypted_ooxml(), "auto", {}),
        ("malformed.pdf", fx.malformed_pdf(), "pdf", {}),
        ("zero-bytes.pdf", b"", "pdf", {}),
        ("blank.pdf", fx.blank_pdf(), "pdf", {}),
        ("scanned.pdf", fx.scanned_pdf(), "auto", {}),
        ("docx-named.pdf", fx.statute_docx(["x", "y"]), "auto", {}),
        ("text.hwp", b"plain text, not a document\n" * 20, "auto", {}),
        ("20000-pages.pdf", fx.many_pages_pdf(20000), "pdf", {}),
        ("zip-bomb-2GB.docx", fx.zip_bomb_docx(2 << 30), "docx", {}),
        ("slow (time limit 0.05 s).pdf", fx.statute_pdf([f"제{i}조 가나다라 마바사 " * 8 for i in range(3000)]), "pdf", {"timeout_s": 0.05}),
    ]
    if SHARED.exists():
        for rel in ("documents/hwp/password-12345.hwp", "documents/pdf/password-example.pdf", "documents/hwp/blank.hwp",
                    "documents/docx/doc-default.docx"):
            cases.append((rel, (SHARED / rel).read_bytes(), "auto", {}))
    out = []
    for name, data, fmt, opts in cases:
        t = time.perf_counter()
        events = list(read_file(io.BytesIO(data), ReadOptions(format=fmt, documents=DocumentOptions(**opts)), FileInfo(path=name)))
        e = events[0]
        out.append((name, getattr(e, "reason", None) or "KEPT", getattr(e, "error", ""), time.perf_counter() - t))
    return out


def _vm_hwm_mb(pid: int) -> float:
    """Peak RSS of a live process (VmHWM), e.g. the extraction child."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--statutes", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")

    print("\n== text fidelity (similarity to the source text, reading order) ==")
    if SHARED.exists():
        hwp = our_text((SHARED / "documents/hwp/sample_notes.hwp").read_bytes(), "n.hwp")
        hwpx = our_text((SHARED / "documents/hwp/sample_notes.hwpx").read_bytes(), "n.hwpx")
        print(f"  lecture notes: HWP vs HWPX copy  {similarity(hwp, hwpx):.4f}  ({len(hwp):,} / {len(hwpx):,} chars)")
    fid = fidelity(statutes(args.statutes))
    for label, values in fid["scores"].items():
        print(f"  {label:<28} min {min(values):.4f}  median {statistics.median(values):.4f}  (n={len(values)})")

    print("\n== throughput: pages per CPU-second (one core) ==")
    for row in throughput(fid["files"], args.rounds):
        rest = "  ".join(f"{k} {v:,.1f}" for k, v in row.items() if k not in ("format", "files", "pages"))
        print(f"  {row['format']:<24} files {row['files']:>3}  pages {row['pages']:>6}  {rest}")

    print("\n== bad files ==")
    results = bad_files()
    for name, reason, error, secs in results:
        print(f"  {name:<40} {reason:<18} {secs:6.2f} s  {error[:90]}")
    kept = [r for r in results if r[1] == "KEPT"]
    print(f"  quarantined {len(results) - len(kept)} / {len(results)}, no crash, no hang")

    from filters.documents import sandbox

    box = sandbox.shared(DocumentOptions().memory_mb)
    child = _vm_hwm_mb(box._proc.pid) if box._proc is not None else 0.0
    box.close()
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS: this process {me:,.0f} MB (includes making the fixtures), extraction child {child:,.0f} MB"
          " (ceiling limits.document_memory_mb = 2,048)")
    print(f"load at the end {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")


if __name__ == "__main__":
    main()
