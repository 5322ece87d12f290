"""What sharing the batch's analyses between map stages saves (filters/analysis.py), one process.

The map chains of ``bench/e2e.py``'s config — ``normalize, length`` before exact dedup, then
``langid, quality_heuristics, pii`` after MinHash — run on the e2e corpus's documents (built by
``bench/e2e.py``'s ``build_corpus``: every delivered document once, shuffled, cut to ``--mb``),
in batches of 2,048, with :attr:`MapChain.share_analyses` on and off, alternating; the dedup
stages are left out (they drop ~3 % of the documents and are not map stages). Printed per mode:
CPU seconds of the chains (best of the rounds), how many times an analysis was computed, and
the CPU seconds spent computing and re-indexing analyses (timed inside ``BatchAnalysis.get``).

``pii`` loads Presidio, spaCy, MeCab and Kiwi and costs ~100 CPU-s per 20 MB; by default a
stand-in takes its place that only reads the batch's texts as the real stage's first line does
(``--pii`` runs the real one). The outputs of both modes are compared (same documents, same
columns) — the equality on a real run is ``tests/test_analysis.py``.

    nice -n 5 .venv/bin/python bench/shared_analysis.py --mb 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.e2e import build_corpus, corpusmill_config  # noqa: E402
from filters.analysis import TEXTS, BatchAnalysis  # noqa: E402
from filters.base import MapStage, StageResult  # noqa: E402
from pipelines.execution import MapChain, split_segments  # noqa: E402

BATCH = 2048


class _ReadsTexts(MapStage):
    """Stand-in for ``pii``: reads the batch's texts as the stage's first line does, keeps all."""

    name = "pii"
    version = 0

    def process(self, batch: pa.RecordBatch) -> StageResult:
        return self.process_shared(batch, BatchAnalysis())

    def process_shared(self, batch: pa.RecordBatch, shared: BatchAnalysis) -> StageResult:
        texts = shared.get(TEXTS, batch)
        return StageResult.keep_all(len(texts))


class Timed:
    """Counts and times the analyses computed and re-indexed in ``BatchAnalysis.get``."""

    def __init__(self) -> None:
        self.computed = 0
        self.seconds = 0.0
        self._get = BatchAnalysis.get

    def __enter__(self) -> Timed:
        timed = self

        def get(shared, analysis, batch):
            t0 = time.process_time()
            before = sum(shared.computed.values())
            value = timed._get(shared, analysis, batch)
            timed.computed += sum(shared.computed.values()) - before
            timed.seconds += time.process_time() - t0
            return value

        BatchAnalysis.get = get  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc) -> None:
        BatchAnalysis.get = self._get  # type: ignore[method-assign]


def chains(config: Path, real_pii: bool) -> list[MapChain]:
    from pipelines import runner

    plan = runner.prepare(config)
    stages = runner.build_stages(plan.config)
    if not real_pii:
        stages = [_ReadsTexts() if st.name == "pii" else st for st in stages]
    segments, _ = split_segments(stages)
    out = [seg.chain for seg in segments if seg.chain.stages]
    for chain in out:
        chain.setup()
    return out


def tables(parts: list[Path]) -> list[pa.Table]:
    docs = [json.loads(line) for p in parts for line in p.read_text(encoding="utf-8").splitlines()]
    out = []
    for start in range(0, len(docs), BATCH):
        chunk = docs[start : start + BATCH]
        out.append(pa.table({
            "id": [d["id"] for d in chunk],
            "text": [d["text"] for d in chunk],
            "order": list(range(start, start + len(chunk))),
            "source_id": ["deliveries"] * len(chunk),
        }))
    return out


def run(chain_list: list[MapChain], batches: list[pa.Table], share: bool) -> tuple[float, int, float, list[pa.Table]]:
    MapChain.share_analyses = share
    outs = []
    with Timed() as timed:
        t0 = time.process_time()
        for table in batches:
            for chain in chain_list:
                table = chain(0, table).docs
            outs.append(table)
        cpu = time.process_time() - t0
    return cpu, timed.computed, timed.seconds, outs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--pii", action="store_true", help="run the real pii stage (slow) instead of its stand-in")
    ap.add_argument("--work", help="directory for the corpus (default: a temporary one)")
    a = ap.parse_args(argv)
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="bench-shared-"))
    parts, _ = build_corpus(work / "parts", a.mb, 4)

    config = corpusmill_config(work, work / "parts")
    chain_list = chains(config, a.pii)
    batches = tables(parts)
    print(f"{sum(t.num_rows for t in batches):,} documents, {sum(t.column('text').nbytes for t in batches) / 1e6:.1f} MB, "
          f"batches of {BATCH}; stages {[st.key for c in chain_list for st in c.stages]}; load {os.getloadavg()}")
    best: dict[bool, tuple[float, int, float]] = {}
    results: dict[bool, list[pa.Table]] = {}
    for r in range(a.rounds):
        for share in (False, True):
            cpu, computed, seconds, outs = run(chain_list, batches, share)
            print(f"  round {r + 1} sharing {'on ' if share else 'off'}: chains {cpu:7.2f} CPU-s, "
                  f"{computed:5d} analyses computed in {seconds:5.2f} CPU-s")
            if share not in best or cpu < best[share][0]:
                best[share] = (cpu, computed, seconds)
            results[share] = outs
    same = all(x.equals(y) for x, y in zip(results[True], results[False]))
    off, on = best[False], best[True]
    print(f"best: off {off[0]:.2f} CPU-s ({off[1]} analyses, {off[2]:.2f} s in them), "
          f"on {on[0]:.2f} CPU-s ({on[1]} analyses, {on[2]:.2f} s in them); "
          f"analysis CPU saved {off[2] - on[2]:.2f} s = {100 * (off[2] - on[2]) / off[0]:.2f} % of the chains; "
          f"outputs equal: {same}; load {os.getloadavg()}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
