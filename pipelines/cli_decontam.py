"""``corpusmill decontaminate IN OUT --benchmark FILE…``: the ``decontaminate`` stage on one file.

IN and OUT are JSON lines (or Parquet, by extension) with ``id`` and ``text``; other fields pass
through. Each benchmark FILE is JSON lines with ``id`` and ``text``, one item per line (its id is
the file's stem; other formats and question/choice fields go through a pipeline config's
``benchmarks:``). OUT holds the documents not dropped, masked ones with their new text, and a
``decontam`` list naming the benchmark items (null for untouched documents); ``--decisions``
writes every decision (id, action, benchmark, item, score). Reading and writing go through
:func:`pipelines.stage_file.map_file`, like ``scrub``, ``quality score`` and ``dedup``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from pipelines.cli_args import integer

BATCH_ROWS = 1024


def register(sub) -> None:
    p = sub.add_parser(
        "decontaminate",
        help="drop documents holding benchmark items, mask fragments (JSON lines or Parquet with id and text)",
        description="Write the documents of IN (JSON lines or Parquet: id, text) that hold no benchmark item to OUT; "
        "fragments are masked. Same stage as `decontaminate` in a pipeline.",
    )
    p.add_argument("input", metavar="IN", help="JSON lines or Parquet with id and text")
    p.add_argument("output", metavar="OUT", help="the documents not dropped (masked ones with their new text); format by extension")
    p.add_argument("--benchmark", nargs="+", required=True, metavar="FILE", help="JSON lines with id and text, one item per line")
    p.add_argument("--window", type=integer(1), help="window length from a Latin letter (default 40; from a Hangul syllable 14)")
    p.add_argument("--decisions", metavar="FILE", help="also write id, action, benchmark, item, score per decision (JSON lines)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=cmd_decontaminate)


def decontaminate_file(
    input_path: str, output_path: str, benchmark_files: list[str], options: dict[str, Any] | None = None,
    decisions_path: str | None = None, overwrite: bool = True,
) -> dict[str, Any]:
    """Run the stage over one file; returns counts (documents, kept, dropped, masked, quotes
    kept; matches by benchmark and action)."""
    import pyarrow as pa

    from corpusmill_base.errors import ConfigError
    from filters.decontaminate import Decision, Decontaminate, load_benchmark
    from pipelines.stage_file import FileWriter, map_file, warn_quarantined

    specs = [
        {"id": Path(f).name.split(".")[0], "files": [(str(Path(f).resolve()), Path(f).name)],
         "read": {"format": "jsonl"}, "text_fields": ["text"], "id_field": "id"}
        for f in benchmark_files
    ]
    ids = [s["id"] for s in specs]
    if len(set(ids)) != len(ids):
        raise ConfigError("--benchmark files must have distinct names (their stem is the benchmark id)")
    benchmarks = [load_benchmark(s) for s in specs]
    counts = {"documents": 0, "kept": 0, "dropped": 0, "masked": 0, "quotes_kept": 0, "quarantined_lines": 0}
    by_benchmark: dict[str, dict[str, int]] = {}
    with ExitStack() as stack:
        sink = stack.enter_context(FileWriter(decisions_path)) if decisions_path else None

        def tally(batch: pa.RecordBatch, decisions: list[Decision]) -> None:
            rows = []
            for doc_id, d in zip(batch.column("id").to_pylist(), decisions):
                counts["documents"] += 1
                counts["dropped" if d.action == "drop" else "kept"] += 1
                if d.action in ("mask", "quote"):
                    counts["masked" if d.action == "mask" else "quotes_kept"] += 1
                for m in d.matches:
                    per = by_benchmark.setdefault(m.benchmark, {})
                    per[m.action] = per.get(m.action, 0) + 1
                    rows.append({"id": doc_id, "action": m.action, "benchmark": m.benchmark, "item": m.item, "score": m.score})
            if sink is not None and rows:
                sink.write(pa.Table.from_pylist(rows))

        stage = Decontaminate(options or {}, benchmarks=benchmarks, on_decisions=tally)
        res = map_file(stage, input_path, output_path, batch_rows=BATCH_ROWS, overwrite=overwrite)
        warn_quarantined(input_path, res.quarantined)
        counts["quarantined_lines"] = len(res.quarantined)
    return counts | {"by_benchmark": by_benchmark}


def cmd_decontaminate(args: argparse.Namespace) -> int:
    from corpusmill_base.errors import OutputError

    if os.path.exists(args.output) and not args.overwrite:  # before the benchmarks are read
        raise OutputError(f"{args.output} exists; pass --overwrite to replace it")
    options = {"window": args.window} if args.window else {}
    summary = decontaminate_file(args.input, args.output, args.benchmark, options, args.decisions, args.overwrite)
    print(
        f"{summary['documents']:,} documents → kept {summary['kept']:,} (masked {summary['masked']:,}, "
        f"quotes kept {summary['quotes_kept']:,}), dropped {summary['dropped']:,} → {args.output}",
        file=sys.stderr,
    )
    print(json.dumps(summary, ensure_ascii=False, sort_keys=True))
    return 0
