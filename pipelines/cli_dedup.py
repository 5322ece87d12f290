"""``corpusmill dedup IN OUT``: MinHash near-duplicate removal on one JSONL/Parquet file."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pipelines.cli_args import integer, number


OUTPUT_SUFFIXES = (".parquet", ".jsonl", ".ndjson")


def check_output(path: str, overwrite: bool, flag: str = "OUT") -> None:
    """The one rule for file outputs of ``dedup`` and ``scrub``: a known extension, and an existing
    file is replaced only with ``--overwrite`` (checked before any work is done)."""
    from corpusmill_base.errors import OutputError

    if not path.lower().endswith(OUTPUT_SUFFIXES):
        raise OutputError(f"{flag} {path}: writes .parquet or JSON lines (.jsonl, .ndjson); name it by one of those extensions")
    if os.path.exists(path) and not overwrite:
        raise OutputError(f"{flag} {path} exists; pass --overwrite to replace it")


def cmd_dedup(args: argparse.Namespace) -> int:
    from pipelines.dedup import find_duplicates, write_outputs
    from pipelines.stage_file import warn_quarantined

    check_output(args.output, args.overwrite)
    if args.clusters:
        check_output(args.clusters, args.overwrite, "--clusters")

    options = {"threshold": args.threshold, "verify": args.verify}
    if args.shingle:
        options["shingle"] = args.shingle
    if args.num_perm:
        options["num_perm"] = args.num_perm
    budget = int(args.memory_budget_mb * 1024 * 1024) if args.memory_budget_mb else 2 << 30
    with tempfile.TemporaryDirectory(prefix="corpusmill-dedup-") as tmp:
        run = find_duplicates(args.input, options, workers=args.workers, memory_budget_bytes=budget, copy_input=os.path.join(tmp, "input.parquet"))
        kept = write_outputs(args.input, args.output, run, clusters=args.clusters)
    by_reason: dict[str, int] = {}
    for r in run.decisions.column("reason").to_pylist():
        by_reason[r] = by_reason.get(r, 0) + 1
    warn_quarantined(args.input, run.quarantined)  # said even with --quiet: records were left out
    if not args.quiet:
        print(
            f"{run.documents:,} documents → kept {kept:,}, dropped {run.documents - kept:,} "
            f"({', '.join(f'{k} {v:,}' for k, v in sorted(by_reason.items())) or 'none'})",
            file=sys.stderr,
        )
    print(json.dumps({"documents": run.documents, "kept": kept, "quarantined_lines": len(run.quarantined), **run.stats, "phase_seconds": run.timings}))
    return 0


def _positive_mb(text: str) -> float:
    """``--memory-budget-mb``: a positive finite number (a negative budget was taken as "spill every band")."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of MB, got {text!r}") from None
    if not 0 < value < float("inf"):  # a tiny budget is allowed: it spills every band (tests use 0.01)
        raise argparse.ArgumentTypeError(f"must be a positive number of MB (got {text})")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dedup",
        help="remove near-duplicates (MinHash LSH) from a JSONL/Parquet file with id and text",
        description="Write the documents of IN that are not near-duplicates of an earlier-kept one to OUT "
        "(.parquet or JSON lines, by extension). Same stage as `minhash_dedup` in a pipeline.",
    )
    p.add_argument("input", metavar="IN", help="JSONL or Parquet file with id and text")
    p.add_argument("output", metavar="OUT", help="kept documents: .parquet or JSON lines (.jsonl, .ndjson); refused if it exists unless --overwrite")
    p.add_argument("--overwrite", action="store_true", help="replace OUT (and --clusters FILE) if they exist")
    p.add_argument("--threshold", type=number(0, 1, open_high=True), default=0.6, help="Jaccard of shingle sets at or above which documents are near-duplicates (default 0.6)")
    p.add_argument("--clusters", metavar="FILE", help="also write id, cluster_id, kept for every input document (.parquet or JSON lines)")
    p.add_argument("--shingle", choices=["auto", "char", "word"], help="shingles: char (default; character 5-grams, measured best for Korean and English), word, or auto (characters for Hangul/CJK, words otherwise)")
    p.add_argument("--verify", choices=["exact", "signature", "none"], default="exact", help="how candidate pairs are confirmed (default exact Jaccard)")
    p.add_argument("--num-perm", type=integer(1), help="permutations per signature (default 128)")
    p.add_argument("--workers", type=integer(1), default=1, help="threads computing signatures (processes without numba); output does not depend on it")
    p.add_argument("--memory-budget-mb", type=_positive_mb, help="band keys above this spill to partitioned Parquet on disk")
    p.set_defaults(func=cmd_dedup)
