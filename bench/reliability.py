"""Reliability report: crash points tried / recovered, documents lost / duplicated, hostile
inputs tried / handled, peak RSS under the bomb and huge-line inputs, and the hostile-case table
of issue #16 (truncated streams, unconvertible records, CSV runaways, blank-line floods, and the
catalog attacks of tests/test_hostile_catalog.py and tests/test_hostile_config.py).

    .venv/bin/python bench/reliability.py [--seed N] [--huge-mb 2048] [--blank-mb 200] [--skip-crash]

Every crash is a real SIGKILL of a real ``corpusmill run`` (at a named checkpoint chosen by
seed, spread over every stage), followed by ``--resume``; the result is compared byte for byte
with an uninterrupted run. Reuses the harness of tests/test_reliability.py.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import lzma
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow.parquet as pq  # noqa: E402

from tests.test_reliability import (  # noqa: E402
    _peak_rss_run,
    build_hostile_inputs,
    choose_crash_points,
    run,
    snapshot,
)


def crash_report(seed: int, tmp: Path) -> dict:
    base = tmp / "baseline"
    base.mkdir()
    trace = base / "trace.txt"
    run(base / "out", base / "cat", env={"CORPUSMILL_TRACE_CHECKPOINTS": str(trace)})
    ref = snapshot(base / "out")
    ref_ids = set(pq.read_table(base / "out" / "ledger.parquet", columns=["id"]).column("id").to_pylist())
    points = choose_crash_points(trace.read_text().split(), seed)
    recovered = lost = duplicated = 0
    for i, point in enumerate(points):
        d = tmp / f"crash{i}"
        d.mkdir()
        killed = run(d / "out", d / "cat", env={"CORPUSMILL_KILL_AT": point}, check=False)
        if killed.returncode != -signal.SIGKILL:
            print(f"  {point}: not killed (exit {killed.returncode})")
            continue
        run(d / "out", d / "cat", "--resume")
        snap = snapshot(d / "out")
        ids = pq.read_table(d / "out" / "ledger.parquet", columns=["id"]).column("id").to_pylist()
        lost += len(ref_ids - set(ids))
        duplicated += len(ids) - len(set(ids))
        ok = snap["id"] == ref["id"] and snap["files"] == ref["files"]
        recovered += ok
        print(f"  {point:<40} {'identical' if ok else 'DIFFERENT'}")
    return {"tried": len(points), "recovered": recovered, "lost": lost, "duplicated": duplicated}


def hostile_report(tmp: Path, huge_mb: int) -> dict:
    d = tmp / "hostile"
    cfg = build_hostile_inputs(d, huge_line_bytes=huge_mb << 20)
    res, peak_kb = _peak_rss_run(cfg, d)
    rows = pq.read_table(d / "out" / "ledger.parquet").to_pylist()
    expected = {
        "decompression bomb": "bomb.jsonl.gz",
        "huge line": "huge.jsonl",
        "deeply nested JSON": "nested.jsonl",
        "NUL bytes": "nul.jsonl",
        "mixed encodings": "mixed.jsonl",
        "symlink outside the root": "link.jsonl",
        "file name with a newline": "name\nwith newline.jsonl",
    }
    handled = {name: any(r["source_file"] == f and r["outcome"] == "quarantined" for r in rows) for name, f in expected.items()}
    return {"tried": len(expected), "handled": sum(handled.values()), "detail": handled, "peak_rss_mb": peak_kb / 1024, "exit": res.returncode}


def _events(data: bytes, path: str = "f", **opts):
    from filters.readers import FileInfo, Quarantined, ReadOptions, Record, read_file

    evs = list(read_file(io.BytesIO(data), ReadOptions(**{"format": "jsonl", **opts}), FileInfo(path)))
    return [e for e in evs if isinstance(e, Record)], [e for e in evs if isinstance(e, Quarantined)]


def _jsonl(n: int, start: int = 0) -> bytes:
    return b"".join(b'{"text": "record %d"}\n' % i for i in range(start, start + n))


def reader_cases() -> list[tuple[str, str, bool]]:
    """(case, what happened, handled?) for the reader-level cases of issue #16."""
    import zstandard

    rows = []
    comp = {
        "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
        "gzip": gzip.compress,
        "bzip2": bz2.compress,
        "xz": lzma.compress,
    }
    for name, c in comp.items():
        first = c(_jsonl(1000))
        data = first + c(_jsonl(1000, 1000))
        recs, quar = _events(data[: len(first) + (len(data) - len(first)) // 2], path="f.jsonl.cut")
        ok = len(recs) >= 1000 and len(quar) == 1 and "truncated" in quar[0].error
        rows.append((f"{name}: 2 frames, 2nd cut in half", f"{len(recs)} kept, {len(quar)} quarantined", ok))
        one = c(_jsonl(2000))
        recs, quar = _events(one[: len(one) // 2], path="f.jsonl.cut")
        rows.append((f"{name}: 1 frame cut in half", f"{len(recs)} kept, {len(quar)} quarantined", len(quar) == 1))
    recs, quar = _events(b'{"text": "ok"}\n{"text": "a \\ud800 b"}\n{"text": "after"}\n')
    rows.append(("lone surrogate in a JSON string", f"{len(recs)} kept, {len(quar)} quarantined", len(recs) == 2 and len(quar) == 1))
    recs, quar = _events(b'{"text": "x", "n": ' + b"9" * 5000 + b'}\n{"text": "after"}\n')
    rows.append(("integer with 5,000 digits", f"{len(recs)} kept, {len(quar)} quarantined", len(recs) == 1 and len(quar) == 1))
    long = "가" * 200_000
    recs, quar = _events(f"id,text\n1,{long}\n".encode(), format="csv")
    rows.append(("CSV field of 200,000 chars", f"{len(recs)} kept", len(recs) == 1))
    csvdata = "id,text\n0,\"row 0\n" + "".join(f"{i},row {i}\n" for i in range(1, 5000))
    recs, quar = _events(csvdata.encode(), format="csv")
    rows.append(("CSV unbalanced quote, 5,000 rows", f"{len(recs)} kept, {len(quar)} quarantined ({quar[0].locator if quar else '-'})",
                 len(recs) == 4999 and len(quar) == 1))
    return rows


def blank_lines(mb: int) -> dict:
    """Reading ``mb`` MB of blank lines (gzipped) vs. only decompressing them (the anchor)."""
    raw = b'{"text": "first"}\n' + b"\n" * (mb << 20) + b'{"text": "last"}\n'
    data = gzip.compress(raw, compresslevel=6)
    del raw
    t = time.perf_counter()
    with gzip.open(io.BytesIO(data)) as f:
        while f.read(1 << 20):
            pass
    anchor = time.perf_counter() - t
    t = time.perf_counter()
    recs, quar = _events(data, path="blank.jsonl.gz")
    ours = time.perf_counter() - t
    return {"gz_kb": len(data) / 1024, "ours_s": ours, "anchor_s": anchor, "kept": len(recs), "quarantined": len(quar)}


def catalog_cases() -> list[tuple[str, str, bool]]:
    """Run the catalog and config attack tests; one row per test."""
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
         "tests/test_hostile_catalog.py", "tests/test_hostile_config.py"],
        cwd=ROOT, capture_output=True, text=True,
    )
    rows = []
    for line in res.stdout.splitlines():
        m = re.match(r"^(PASSED|FAILED|ERROR|SKIPPED) tests/test_hostile_(\w+)\.py::test_(\S+)", line)
        if m:
            rows.append((m.group(3).replace("_", " ")[:78], m.group(1).lower(), m.group(1) == "PASSED"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--huge-mb", type=int, default=2048, help="size of the single huge line")
    ap.add_argument("--blank-mb", type=int, default=200, help="megabytes of blank lines (gzipped) to read")
    ap.add_argument("--skip-crash", action="store_true", help="only the hostile-case table (no SIGKILL runs, no huge line)")
    args = ap.parse_args()
    rows = reader_cases()
    b = blank_lines(args.blank_mb)
    rows.append((f"{args.blank_mb} MB of blank lines ({b['gz_kb']:.0f} KB gzipped)",
                 f"{b['ours_s']:.1f} s (gzip decompression alone {b['anchor_s']:.1f} s, ratio {b['ours_s'] / b['anchor_s']:.1f}x)",
                 b["kept"] == 2 and b["quarantined"] == 0))
    rows += catalog_cases()
    print("hostile cases (issue #16):")
    width = max(len(r[0]) for r in rows)
    for case, what, ok in rows:
        print(f"  {'ok ' if ok else 'BAD'}  {case:<{width}}  {what}")
    print(f"hostile cases handled: {sum(ok for *_, ok in rows)} / {len(rows)}")
    if args.skip_crash:
        return
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        print("crash points (SIGKILL, then --resume, compared with an uninterrupted run):")
        c = crash_report(args.seed, tmp)
        h = hostile_report(tmp, args.huge_mb)
    print()
    print(f"crash points tried / recovered : {c['tried']} / {c['recovered']}")
    print(f"documents lost                 : {c['lost']}")
    print(f"documents duplicated           : {c['duplicated']}")
    print(f"hostile inputs tried / handled : {h['tried']} / {h['handled']}  {h['detail']}")
    print(f"peak RSS, bomb + {args.huge_mb} MB line run : {h['peak_rss_mb']:.0f} MB (run exit {h['exit']})")


if __name__ == "__main__":
    main()
