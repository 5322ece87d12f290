"""``corpusmill scrub IN OUT``: the ``pii`` stage on one JSONL or Parquet file (``id``, ``text``).

Writes the scrubbed ``text`` and a ``pii`` column (``[{start, end, type}]`` in the ORIGINAL
text's offsets) plus ``pii_counts``; other input columns pass through. It runs the very
:class:`filters.pii.PresidioScrubber` the pipeline runs, batch by batch.
"""

from __future__ import annotations

import argparse
import sys

BATCH_ROWS = 1024


def register(sub) -> None:
    s = sub.add_parser(
        "scrub",
        help="find and replace personal data in a JSONL or Parquet file (id, text)",
        description="Scrub personal data from IN (JSONL or Parquet with id and text) into OUT (same formats, by extension).",
    )
    s.add_argument("input", metavar="IN", help="JSONL or Parquet file with id and text")
    s.add_argument("output", metavar="OUT", help=".parquet or JSON lines (.jsonl, .ndjson); refused if it exists unless --overwrite")
    s.add_argument("--lang", choices=["ko", "en", "auto"], default="auto", help="auto: a lang column if present, else Hangul share")
    s.add_argument(
        "--operator",
        choices=["placeholder", "pseudonym"],
        default="placeholder",
        help="placeholder (<KR_RRN>) or keyed pseudonym (needs $CORPUSMILL_PSEUDONYM_KEY)",
    )
    s.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    s.set_defaults(func=cmd_scrub)


def cmd_scrub(args: argparse.Namespace) -> int:
    from filters.pii import PresidioScrubber
    from pipelines.stage_file import map_file, warn_quarantined

    stage = PresidioScrubber({"lang": args.lang, "default_operator": args.operator})
    # keeps every row: the CLI sets no density limit
    res = map_file(stage, args.input, args.output, batch_rows=BATCH_ROWS, overwrite=args.overwrite)
    warn_quarantined(args.input, res.quarantined)
    summary = ", ".join(f"{k} {n:,}" for k, n in sorted(res.counters.items())) or "none"
    if not args.quiet:
            print(f"scrubbed {res.rows_out:,} document(s) → {args.output}; entities: {summary}", file=sys.stderr)
    return 0
