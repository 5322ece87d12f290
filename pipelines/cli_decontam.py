"""``corpusmill decontaminate IN OUT --benchmark FILE…``: the ``decontaminate`` stage on one file.

IN and OUT are JSON lines with ``id`` and ``text`` (other fields pass through); each benchmark
FILE is JSON lines with ``id`` and ``text``, one item per line (its id is the file's stem; other
formats and question/choice fields go through a pipeline config's ``benchmarks:``). OUT holds
the documents not dropped, masked ones with their new text and a ``decontam`` list naming the
benchmark items; ``--decisions`` writes every decision (id, action, benchmark, item).

:func:`decontaminate_file` is self-contained (read, run the stage in batches, write) so it can
move under a shared "run a map stage over a file" helper.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

BATCH_ROWS = 1024


def register(sub) -> None:
    p = sub.add_parser(
        "decontaminate",
        help="drop documents holding benchmark items, mask fragments (JSON lines with id and text)",
        description="Write the documents of IN (JSON lines: id, text) that hold no benchmark item to OUT; "
        "fragments are masked. Same stage as `decontaminate` in a pipeline.",
    )
    p.add_argument("input", metavar="IN", help="JSON lines with id and text")
    p.add_argument("output", metavar="OUT", help="JSON lines: the documents not dropped (masked ones with their new text)")
    p.add_argument("--benchmark", nargs="+", required=True, metavar="FILE", help="JSON lines with id and text, one item per line")
    p.add_argument("--window", type=int, help="window length from a Latin letter (default 40; from a Hangul syllable 14)")
    p.add_argument("--decisions", metavar="FILE", help="also write id, action, benchmark, item per decision (JSON lines)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=cmd_decontaminate)


def _read_jsonl(path: str) -> list[dict[str, Any]]:
    from corpusmill_base.errors import InputError

    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(f"{path}: line {n}: malformed JSON ({e.msg})") from None
                if not isinstance(row, dict) or not isinstance(row.get("text"), str) or "id" not in row:
                    raise InputError(f"{path}: line {n}: expected an object with id and a string text")
                rows.append(row)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8") from None
    return rows


def decontaminate_file(
    input_path: str, output_path: str, benchmark_files: list[str], options: dict[str, Any] | None = None,
    decisions_path: str | None = None,
) -> dict[str, Any]:
    """Run the stage over one JSON-lines file; returns counts (documents, kept, dropped, masked, by benchmark)."""

    from filters.decontaminate import Decontaminate, load_benchmark

    specs = [
        {"id": Path(f).name.split(".")[0], "files": [(str(Path(f).resolve()), Path(f).name)],
         "read": {"format": "jsonl"}, "text_fields": ["text"], "id_field": "id"}
        for f in benchmark_files
    ]
    from corpusmill_base.errors import ConfigError

    ids = [s["id"] for s in specs]
    if len(set(ids)) != len(ids):
        raise ConfigError("--benchmark files must have distinct names (their stem is the benchmark id)")
    stage = Decontaminate(options or {}, benchmarks=[load_benchmark(s) for s in specs])
    rows = _read_jsonl(input_path)
    counts: dict[str, int] = {"documents": len(rows), "kept": 0, "dropped": 0, "masked": 0, "quotes_kept": 0}
    by_benchmark: dict[str, dict[str, int]] = {}
    tmp = output_path + ".tmp"
    dec_out = open(decisions_path, "w", encoding="utf-8") if decisions_path else None
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            for start in range(0, len(rows), BATCH_ROWS):
                chunk = rows[start : start + BATCH_ROWS]
                for row, d in zip(chunk, stage.decide([r["text"] for r in chunk])):
                    for m in d.matches:
                        b = by_benchmark.setdefault(m.benchmark, {})
                        b[m.action] = b.get(m.action, 0) + 1
                        if dec_out:
                            dec_out.write(json.dumps({"id": row["id"], "action": m.action, "benchmark": m.benchmark, "item": m.item, "score": m.score}, ensure_ascii=False) + "\n")
                    if d.action == "drop":
                        counts["dropped"] += 1
                        continue
                    counts["kept"] += 1
                    if d.action is not None:
                        counts["masked" if d.action == "mask" else "quotes_kept"] += 1
                        row = {**row, "decontam": [{"action": m.action, "benchmark": m.benchmark, "item": m.item} for m in d.matches]}
                        if d.text is not None:
                            row["text"] = d.text
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if dec_out:
            dec_out.close()
    os.replace(tmp, output_path)
    return counts | {"by_benchmark": by_benchmark}


def cmd_decontaminate(args: argparse.Namespace) -> int:
    from corpusmill_base.errors import OutputError

    if os.path.exists(args.output) and not args.overwrite:
        raise OutputError(f"{args.output} exists; pass --overwrite to replace it")
    options = {"window": args.window} if args.window else {}
    summary = decontaminate_file(args.input, args.output, args.benchmark, options, args.decisions)
    print(
        f"{summary['documents']:,} documents → kept {summary['kept']:,} (masked {summary['masked']:,}, "
        f"quotes kept {summary['quotes_kept']:,}), dropped {summary['dropped']:,} → {args.output}",
        file=sys.stderr,
    )
    print(json.dumps(summary, ensure_ascii=False, sort_keys=True))
    return 0
