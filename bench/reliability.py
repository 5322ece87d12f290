"""Reliability report: crash points tried / recovered, documents lost / duplicated, hostile
inputs tried / handled, peak RSS under the bomb and huge-line inputs.

    .venv/bin/python bench/reliability.py [--seed N] [--huge-mb 2048]

Every crash is a real SIGKILL of a real ``corpusmill run`` (at a named checkpoint chosen by
seed, spread over every stage), followed by ``--resume``; the result is compared byte for byte
with an uninterrupted run. Reuses the harness of tests/test_reliability.py.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--huge-mb", type=int, default=2048, help="size of the single huge line")
    args = ap.parse_args()
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
