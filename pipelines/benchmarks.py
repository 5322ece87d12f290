"""Benchmarks for the ``decontaminate`` stage: resolved, checked up front, guarded after the run.

* :func:`specs` turns the config's ``benchmarks:`` into plain data for the stage
  (``StageContext.benchmarks``): resolved file paths, read options and field names.
* :func:`check` reads every benchmark once before any document is read (``run`` and
  ``--dry-run`` alike): a file that does not parse, a field that does not exist or an empty
  benchmark is a :class:`ConfigError` naming the benchmark, the file and the record.
* :func:`guard` reads a finished manifest: a source that lost more than the stage's
  ``max_source_share`` of its documents is named (dolma's runbook: that usually means the
  delivery *is* an evaluation set, or the n-grams are too short).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corpusmill_base.errors import ConfigError, InputError
from filters.decontaminate import load_benchmark
from pipelines.config import PipelineConfig
from pipelines.plan import resolve_files

STAGE = "decontaminate"


def specs(cfg: PipelineConfig, base_dir: Path) -> list[dict[str, Any]]:
    out = []
    for b in cfg.benchmarks:
        try:
            files = resolve_files(b, base_dir)  # type: ignore[arg-type]  # a benchmark has the paths/id a source has
        except InputError as e:
            raise ConfigError(f"benchmark {b.id!r}: {str(e).split(': ', 1)[-1]}") from None
        for f in files:
            if f.refused:  # a benchmark must be read whole: a FIFO or dead link in it is an error, never opened
                raise ConfigError(f"benchmark {b.id!r}: {f.name}: {f.refused}")
        out.append(
            {
                "id": b.id,
                "files": [(f.url, f.rel) for f in files],
                "read": {
                    "format": b.format,
                    "compression": b.compression,
                    "encoding": b.encoding,
                    "record_path": b.record_path,
                    "delimiter": b.delimiter,
                    "header": b.header,
                    "columns": b.columns,
                },
                "question_field": b.question_field,
                "choice_fields": list(b.choice_fields),
                "answer_field": b.answer_field,
                "answer_format": b.answer_format,
                "text_fields": b.text_fields if b.text_field is not None else [],
                "id_field": b.id_field,
                "provenance": b.provenance.model_dump(mode="json"),
            }
        )
    return out


def check(cfg: PipelineConfig, base_dir: Path) -> list[tuple[str, int]]:
    """Read every benchmark; returns ``[(id, items)]`` or raises one ConfigError listing every problem."""
    if not cfg.benchmarks:
        return []
    problems: list[str] = []
    counts: list[tuple[str, int]] = []
    for spec in specs(cfg, base_dir):
        try:
            counts.append((spec["id"], len(load_benchmark(spec).items)))
        except ConfigError as e:
            problems.append(str(e))
    if problems:
        raise ConfigError("invalid benchmarks\n  " + "\n  ".join(problems))
    return counts


def file_digests(cfg: PipelineConfig, base_dir: Path) -> list[list[str]]:
    """``[benchmark id, file, sha256]`` of every benchmark file (as the readers hash it): what a
    resumed run must find unchanged, since the index decides which documents are dropped."""
    return [[b.id, f["path"], f["sha256"]] for b in (load_benchmark(s) for s in specs(cfg, base_dir)) for f in b.files]


def guard(manifest: dict[str, Any]) -> list[str]:
    """One line per source that lost more than ``max_source_share`` of its documents to the stage."""
    out: list[str] = []
    for st in manifest.get("stages", []):
        if st.get("name") != STAGE:
            continue
        share = float(st.get("options", {}).get("max_source_share", 0.001))
        for src in manifest.get("sources", []):
            c = src.get("counts") or {}
            n_in = c.get("records_in", 0)
            dropped = sum((c.get("dropped_by") or {}).get(st["key"], {}).values())
            if n_in and dropped / n_in > share:
                per = (src.get("stage_counters") or {}).get(st["key"], {})
                which = ", ".join(f"{k.split(':', 1)[1]} {n:,}" for k, n in sorted(per.items()) if k.startswith("drop:"))
                out.append(
                    f"source {src['id']!r} lost {dropped:,} of {n_in:,} documents ({100 * dropped / n_in:.2f} %) to "
                    f"{st['key']} (more than max_source_share {100 * share:g} %; by benchmark: {which or 'n/a'}) — "
                    "is this delivery itself an evaluation set, or is the window too short?"
                )
    return out
