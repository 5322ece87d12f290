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


def _format(path: str) -> str:
    p = path.lower()
    if p.endswith(".parquet"):
        return "parquet"
    if p.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")):
        return "jsonl"
    from corpusmill_base.errors import InputError

    raise InputError(f"{path}: expected a .jsonl or .parquet file")


def _read(path: str):
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    from corpusmill_base.errors import InputError

    try:
        table = pq.read_table(path) if _format(path) == "parquet" else pj.read_json(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except pa.ArrowInvalid as e:
        raise InputError(f"{path}: unreadable ({type(e).__name__})") from None
    missing = [c for c in ("id", "text") if c not in table.column_names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    return table.set_column(table.column_names.index("id"), "id", table.column("id").cast(pa.string()))


def cmd_scrub(args: argparse.Namespace) -> int:
    import json
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    from filters.pii import PresidioScrubber

    from pipelines.cli_dedup import check_output

    check_output(args.output, args.overwrite)
    out_format = _format(args.output)
    table = _read(args.input)
    stage = PresidioScrubber({"lang": args.lang, "default_operator": args.operator})
    parts = []
    totals: dict[str, int] = {}
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        result = stage.process(batch)  # keeps every row: the CLI sets no density limit
        t = pa.Table.from_batches([batch])
        for name, col in result.columns.items():
            i = t.schema.get_field_index(name)
            t = t.set_column(i, name, col) if i >= 0 else t.append_column(name, col)
        for names in result.counters.values():
            for k, n in names.items():
                totals[k] = totals.get(k, 0) + n
        parts.append(t)
    out = pa.concat_tables(parts) if parts else table
    tmp = args.output + ".tmp"
    if out_format == "parquet":
        pq.write_table(out, tmp, compression="zstd")
    else:
        with open(tmp, "w", encoding="utf-8") as f:
            for row in out.to_pylist():
                if row.get("pii_counts") is not None:
                    row["pii_counts"] = dict(row["pii_counts"])
                f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, args.output)
    summary = ", ".join(f"{k} {n:,}" for k, n in sorted(totals.items())) or "none"
    if not args.quiet:
        print(f"scrubbed {out.num_rows:,} document(s) → {args.output}; entities: {summary}", file=sys.stderr)
    return 0
