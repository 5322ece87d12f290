"""The whole pipeline against datatrove's chain, on the same corpus, same worker count, one run.

corpusmill runs what a user runs — ``corpusmill run`` with normalize, length, exact dedup,
MinHash near-dup, language ID, quality heuristics and PII scrubbing — and datatrove runs its
usual chain: JSON-lines reader → lid.176 language filter → Gopher repetition → Gopher quality →
C4 → FineWeb → regex PII → its 4-step MinHash (with ``language=kor``, its faster Korean word
tokenizer) → Parquet. Both read the same JSON-lines files, built from every delivery in
``../shared/data/deliveries`` (``bench/build_dedup_corpus.py``'s documents without the
re-published copies, shuffled with a fixed seed so any prefix has the same mix).

Runs alternate (datatrove, corpusmill, datatrove, …) so a change in the shared machine's load
hits both. Printed: wall time, CPU seconds of the whole process tree (what load distorts
least), peak RSS and PSS, the ratios, our seconds by stage, and the per-source keep table (the
domain text each tool keeps). Options add our scaling by corpus size (distinct data: prefixes)
and by worker count.

    .venv/bin/python bench/e2e.py --mb 20              # the 20 MB sample
    .venv/bin/python bench/e2e.py                      # the whole corpus (~84 MB; minutes)
    .venv/bin/python bench/e2e.py --mb 20 --scaling --worker-scaling --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import Measured, measure_command  # noqa: E402

# The stages of the measurement (quality_heuristics drops by default).
STAGES = [
    "normalize",
    {"name": "length", "min_chars": 1, "max_chars": 1000000},
    "exact_dedup",
    "minhash_dedup",
    "langid",
    "quality_heuristics",
    {"name": "pii", "lang": "auto"},
]


# --------------------------------------------------------------------------- corpus


def source_of(doc_id: str) -> str:
    """The delivery a corpus document came from, by its id (``build_dedup_corpus`` names them)."""
    if doc_id[:1].isdigit():
        return "ko_reviews_nsmc"
    head = doc_id.split("-", 2)
    if head[0] == "fin":
        return f"finance_{head[1]}"
    return {"nsmc": "ko_reviews_nsmc", "statute": "ko_statutes", "bill": "ko_bills", "korquad": "ko_korquad", "news": "ko_news", "medqa": "ko_medical_qa",
            "comment": "ko_comments", "wiki": "en_wikitext", "pubmed": "en_pubmed", "scotus": "en_scotus", "speech": "en_speeches",
            "web": "en_webtext", "sms": "en_sms", "html": "en_html"}.get(head[0], head[0])


def build_corpus(dest: Path, mb: float | None, files: int, seed: int = 7) -> tuple[list[Path], Counter]:
    """Every delivered document once (no synthetic copies), shuffled, cut to ``mb`` of text, in ``files`` parts."""
    from bench import build_dedup_corpus

    docs, seen = [], Counter()
    for i, t in build_dedup_corpus.documents():
        if t:
            seen[i] += 1
            docs.append((i if seen[i] == 1 else f"{i}#{seen[i]}", t))
    random.Random(seed).shuffle(docs)
    if mb:
        keep, size = [], 0
        for d in docs:
            size += len(d[1].encode())
            if size > mb * 1e6:
                break
            keep.append(d)
        docs = keep
    dest.mkdir(parents=True, exist_ok=True)
    per = (len(docs) + files - 1) // files
    paths = []
    for k in range(files):
        p = dest / f"part-{k:03d}.jsonl"
        with open(p, "w", encoding="utf-8") as f:
            for i, t in docs[k * per : (k + 1) * per]:
                f.write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")
        paths.append(p)
    return paths, Counter(source_of(i) for i, _ in docs)


# --------------------------------------------------------------------------- the two tools


def corpusmill_config(dest: Path, parts_dir: Path) -> Path:
    import yaml

    cfg = {
        "name": "bench-e2e",
        "purpose": {"description": "end-to-end benchmark (research only)", "uses": ["research"]},
        "accept_unknown_licence": {"deliveries": "benchmark only; the mix includes deliveries without a stated licence"},
        "output": {"dir": "out", "shard_target_mb": 64},
        "stages": STAGES,
        "sources": [
            {"id": "deliveries", "paths": [str(parts_dir / "*.jsonl")], "format": "jsonl", "id_field": "id",
             "expected_langs": ["ko", "en"],
             "provenance": {"owner": "see ../shared/data/README.md", "acquisition": "public-download",
                            "licence": None, "permitted_uses": ["research"]}},
        ],
    }
    path = dest / "bench-e2e.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def has_workers_flag() -> bool:
    res = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--help"], capture_output=True, text=True)
    return "--workers" in res.stdout


def run_ours(config: Path, work: Path, workers: int, timeline: Path | None = None) -> tuple[Measured, dict, Counter]:
    out = work / "out-corpusmill"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "pipelines.cli", "-q", "run", str(config), "--out", str(out), "--overwrite"]
    if has_workers_flag():
        cmd += ["--workers", str(workers)]
    env = {**os.environ, "CORPUSMILL_CATALOG": str(work / "catalog")}
    if timeline is not None:  # the engine's per-process record of units, set-ups, decides (engine_local.timeline)
        timeline.unlink(missing_ok=True)
        env["CORPUSMILL_TIMELINE"] = str(timeline)
    m = measure_command(cmd, cwd=str(work), env=env)
    if m.returncode:
        raise SystemExit(f"corpusmill failed ({m.returncode}):\n{m.stderr[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    import pyarrow.parquet as pq

    kept: Counter = Counter()
    for s in manifest["shards"]:
        for rid in pq.read_table(out / s["path"], columns=["source_record_id"]).column(0).to_pylist():
            kept[source_of(rid)] += 1
    return m, manifest, kept


def datatrove_child(in_dir: str, work: str, workers: int, files: int) -> None:
    """datatrove's chain; lid.176 is our pinned copy placed where datatrove caches its download."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets
    from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter, LanguageFilter
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter, ParquetWriter
    from datatrove.utils.lid import FT176LID
    from huggingface_hub import cached_assets_path

    from corpusmill_base.models import model_path

    cache = Path(cached_assets_path(library_name="datatrove", namespace="lid", subfolder=FT176LID.MODEL_SUBFOLDER))
    # datatrove names its cached download after the URL (``/`` → ``_``) and trusts a ``.completed`` marker.
    target = cache / FT176LID.MODEL_URL.replace("/", "_")
    if not target.exists():
        target.symlink_to(model_path("lid.176.ftz"))
    Path(f"{target}.completed").touch()
    # datatrove's Korean word tokenizer asks Kiwi for its "sbg" model, which kiwipiepy stopped
    # shipping in 0.22 ("use 'cong'"); give it the model kiwipiepy has.
    from datatrove.utils.word_tokenizers import KiwiTokenizer

    KiwiTokenizer.__init__.__defaults__ = ("cong",)
    w = Path(work)
    common = {"workers": workers, "logging_dir": None, "skip_completed": False}
    cfg = MinhashConfig()
    LocalPipelineExecutor(
        pipeline=[
            JsonlReader(in_dir, text_key="text", id_key="id"),
            LanguageFilter(languages=["ko", "en"]),
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            C4QualityFilter(),
            FineWebQualityFilter(),
            PIIFormatter(),
            JsonlWriter(str(w / "filtered")),
        ],
        tasks=files,
        **common,
    ).run()
    LocalPipelineExecutor(
        pipeline=[JsonlReader(str(w / "filtered")), MinhashDedupSignature(str(w / "sigs"), config=cfg, language="kor")], tasks=files, **common
    ).run()
    LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(str(w / "sigs"), str(w / "buckets"), config=cfg)], tasks=cfg.num_buckets, **common).run()
    LocalPipelineExecutor(pipeline=[MinhashDedupCluster(str(w / "buckets"), str(w / "remove"), config=cfg)], tasks=1, **common).run()
    LocalPipelineExecutor(
        pipeline=[JsonlReader(str(w / "filtered")), MinhashDedupFilter(str(w / "remove")), ParquetWriter(str(w / "kept"))], tasks=files, **common
    ).run()


def run_datatrove(parts_dir: Path, work: Path, workers: int, files: int) -> tuple[Measured, Counter]:
    dt = work / "dt"
    shutil.rmtree(dt, ignore_errors=True)
    m = measure_command([sys.executable, __file__, "--child", str(parts_dir), str(dt), str(workers), str(files)])
    if m.returncode:
        raise SystemExit(f"datatrove failed ({m.returncode}):\n{m.stderr[-3000:]}")
    import pyarrow.parquet as pq

    kept: Counter = Counter()
    for p in sorted((dt / "kept").glob("*.parquet")):
        for rid in pq.read_table(p, columns=["id"]).column(0).to_pylist():
            kept[source_of(rid)] += 1
    return m, kept


# --------------------------------------------------------------------------- report


def read_timeline(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def critical_path(recs: list[dict], m: Measured) -> tuple[float, list[str]]:
    """The run's CPU seconds on its longest path, if every process had a core of its own, and a
    line per phase. Load stretches wall time; CPU seconds it distorts much less, so the ratio of
    two runs' critical paths is the speed-up two free cores would give.

    The path: the main process's CPU outside its segments (imports, plan, set-up at a barrier,
    waiting for a decide, the assembly, the manifest), plus for every segment the busiest
    process's CPU in it (units, and set-up the main process did inside the segment's span),
    plus each decide's CPU (the main process waits for it)."""
    root = m.root_pid
    main_total = m.cpu_by_pid.get(root, 0.0)
    segs: dict[int, dict[int, float]] = {}
    spans: dict[int, list[float]] = {}
    for r in recs:
        if r["what"] == "unit":
            k = r["segment"]
            segs.setdefault(k, {})
            segs[k][r["pid"]] = segs[k].get(r["pid"], 0.0) + r["cpu"]
            sp = spans.setdefault(k, [r["t0"], r["t1"]])
            sp[0], sp[1] = min(sp[0], r["t0"]), max(sp[1], r["t1"])
    for r in recs:  # the main process's set-up (and models' pin check) inside a segment's span runs beside the workers' units
        if r["what"] in ("setup", "check models") and r["pid"] == root:
            for k, (a, b) in sorted(spans.items()):
                if r["t0"] < b and r["t1"] > a:  # it starts just before the first unit does
                    segs[k][root] = segs[k].get(root, 0.0) + r["cpu"]
                    break
    decides = [r for r in recs if r["what"] == "decide"]
    main_in_segs = sum(per.get(root, 0.0) for per in segs.values())
    lines, path = [], main_total - main_in_segs
    t_start = min((r["t0"] for r in recs), default=0.0)
    for k in sorted(segs):
        per = segs[k]
        a, b = spans[k]
        # (a process with only set-up in the segment's span, no unit, has no end of its own)
        ends = sorted((max((r["t1"] for r in recs if r["what"] == "unit" and r["segment"] == k and r["pid"] == p), default=a) for p in per), reverse=True)
        tail = ends[0] - ends[1] if len(ends) > 1 else 0.0
        lines.append(f"    segment {k}: {a - t_start:6.1f} → {b - t_start:6.1f} s, CPU-s by process "
                     f"{{main: {per.get(root, 0.0):.1f}, others: {[round(v, 1) for p, v in per.items() if p != root]}}}, "
                     f"last process alone for {tail:.1f} s")
        path += max(per.values())
    for r in decides:
        # A decide that followed its segment's units (read each unit's keys once it was done) is on
        # the path only with what it did after the last unit; the rest ran beside the units.
        serial = r["cpu_after_units"] if r.get("follow") else r["cpu"]
        phases = ", ".join(f"{k} {v:.1f}" for k, v in (r.get("phases") or {}).items())
        lines.append(f"    decide after segment {r['segment']}: {r['t0'] - t_start:6.1f} → {r['t1'] - t_start:6.1f} s, {r['cpu']:.1f} CPU-s"
                     + (f", {serial:.1f} of them after the last unit (followed the units)" if r.get("follow") else "")
                     + (f" [wall s by phase: {phases}]" if phases else ""))
        path += serial
    commits = [r for r in recs if r["what"] == "commit"]
    if commits:
        lines.append(f"    unit commits (fsync, rename, marker) on each process's commit thread: {len(commits)}, "
                     f"{sum(r['t1'] - r['t0'] for r in commits):.1f} s wall in all (off the units' path)")
    lines.append(f"    main process outside the segments (imports, plan, set-up at a barrier, assembly, manifest): "
                 f"{main_total - main_in_segs:.1f} CPU-s, of which imports and plan {next((r['cpu'] for r in recs if r['what'] == 'start'), 0.0):.1f}, "
                 f"assembly {next((r['cpu'] for r in recs if r['what'] == 'assembly'), 0.0):.1f}")
    return path, lines


def peaks_by_role(recs: list[dict], m: Measured) -> str:
    """Each process's own RSS/PSS peak, named by what the timeline says it did: the main
    process, the decider (global stages' decides), a segment's worker."""
    roles = {m.root_pid: "main"}
    for r in recs:
        if r["pid"] == m.root_pid:
            continue
        if r["what"] in ("decide", "decider setup"):
            roles[r["pid"]] = "decider"
        elif r["what"] == "unit":
            roles.setdefault(r["pid"], f"segment-{r['segment']} worker")
    return ", ".join(f"{roles.get(p, 'other')} {m.peak_rss_by_pid[p] / 1e6:.0f}/{m.peak_pss_by_pid.get(p, 0) / 1e6:.0f}"
                     for p in sorted(m.peak_rss_by_pid, key=lambda p: -m.peak_rss_by_pid[p]))


def row(name: str, m: Measured, docs: int, mb: float) -> str:
    return (f"{name:12} {m.seconds:8.1f} {m.cpu:8.1f} {docs / m.cpu:10.0f} {mb / m.cpu:8.2f} {m.peak_rss / 1e6:9.0f} {m.peak_pss / 1e6:9.0f}"
            f"   {m.load[0]:.1f} → {m.load[1]:.1f}")


def memory_line(m: Measured) -> str:
    """Where the memory is: the main process's and the largest worker's own peaks."""
    root_rss, root_pss, kid_rss, kid_pss = m.worker_peaks()
    return (f"(main {root_rss / 1e6:.0f}/{root_pss / 1e6:.0f}, largest worker {kid_rss / 1e6:.0f}/{kid_pss / 1e6:.0f} MB RSS/PSS; "
            f"at the summed RSS peak: {m.at_peak()})")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        datatrove_child(argv[1], argv[2], int(argv[3]), int(argv[4]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=None, help="cut the corpus to this much text (default: all, ~84 MB)")
    ap.add_argument("--files", type=int, default=8, help="JSON-lines files the corpus is cut into (the unit of parallelism)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds; the table shows medians (0: only --worker-scaling)")
    ap.add_argument("--scaling", action="store_true", help="also: ours on ¼, ½ and all of the corpus (distinct data)")
    ap.add_argument("--worker-scaling", action="store_true", help="also: ours with 1 worker and with --workers")
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument("--work", help="work directory (default: a temporary one)")
    a = ap.parse_args(argv)
    if a.scaling and a.rounds < 1:
        ap.error("--scaling needs at least one round (the whole corpus is that round's measurement)")
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    work.mkdir(parents=True, exist_ok=True)
    parts, inputs = build_corpus(work / "parts", a.mb, a.files)
    docs = sum(inputs.values())
    text_mb = sum(len(json.loads(ln)["text"].encode()) for p in parts for ln in open(p, encoding="utf-8")) / 1e6
    config = corpusmill_config(work, work / "parts")
    print(f"corpus: {docs:,} documents, {text_mb:.1f} MB of text in {len(parts)} files; {a.workers} workers each; "
          f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
    ours_runs, dt_runs = [], []
    manifest: dict = {}
    kept_ours: Counter = Counter()
    kept_dt: Counter = Counter()
    for r in range(a.rounds):
        if not a.skip_datatrove:
            m, kept_dt = run_datatrove(work / "parts", work, a.workers, len(parts))
            dt_runs.append(m)
            print(f"  round {r + 1} datatrove:  {m.seconds:.1f} s wall, {m.cpu:.1f} CPU-s, peak RSS {m.peak_rss / 1e6:.0f} MB, load {m.load[0]:.1f} → {m.load[1]:.1f}", flush=True)
        m, manifest, kept_ours = run_ours(config, work, a.workers)
        ours_runs.append(m)
        print(f"  round {r + 1} corpusmill: {m.seconds:.1f} s wall, {m.cpu:.1f} CPU-s, peak RSS {m.peak_rss / 1e6:.0f} MB, load {m.load[0]:.1f} → {m.load[1]:.1f}, {manifest['id']}", flush=True)

    def med(runs: list[Measured]) -> Measured:
        return Measured(seconds=statistics.median(x.seconds for x in runs), cpu=statistics.median(x.cpu for x in runs),
                        peak_rss=int(statistics.median(x.peak_rss for x in runs)), peak_pss=int(statistics.median(x.peak_pss for x in runs)),
                        load=(runs[0].load[0], runs[-1].load[1]), returncode=0, stdout="", stderr="")

    if ours_runs:  # --rounds 0: only the worker scaling below
        ours = med(ours_runs)
        print(f"\n{'':12} {'wall s':>8} {'CPU s':>8} {'docs/CPU-s':>10} {'MB/CPU-s':>8} {'RSS MB':>9} {'PSS MB':>9}   load")
        print(row("corpusmill", ours, docs, text_mb))
        if dt_runs:
            dt = med(dt_runs)
            print(row("datatrove", dt, docs, text_mb))
            print(f"ratio: datatrove needs ×{dt.cpu / ours.cpu:.2f} our CPU seconds (target ≥ 5) and ×{dt.seconds / ours.seconds:.2f} our wall time "
                  f"(target ≥ 5); our peak RSS is {ours.peak_rss / dt.peak_rss:.2f}× datatrove's, PSS {ours.peak_pss / dt.peak_pss:.2f}× (target ≤ 1.5)")
        print(f"memory, corpusmill: {memory_line(ours_runs[-1])}")
        if dt_runs:
            print(f"memory, datatrove:  {memory_line(dt_runs[-1])}")
        # Wall seconds summed over processes count each one's waits for a core (on this 2-core
        # machine MinHash read 19.6 s and 25.2 s in two runs of the same code, ~10 CPU-s): CPU
        # seconds beside them (a manifest of an older tree has none: "-").
        block = manifest.get("run", {})
        wall, cpu = block.get("seconds_by_stage", {}), block.get("cpu_seconds_by_stage", {})
        print(f"\ncorpusmill seconds by stage (summed over processes):\n  {'':<26}{'CPU s':>8}{'wall s':>8}")
        for k in sorted(wall, key=lambda k: -cpu.get(k, wall[k])):
            shown = f"{cpu[k]:8.1f}" if k in cpu else f"{'-':>8}"
            print(f"  {k:<26}{shown}{wall[k]:8.1f}")
        if cpu:
            print(f"  {'total':<26}{sum(cpu.values()):8.1f}{sum(wall.values()):8.1f}")
        print(f"\n{'source':<18}{'documents':>10}{'corpusmill kept':>17}{'datatrove kept':>16}")
        for s in sorted(inputs):
            dt_col = f"{kept_dt[s]:>9,} {kept_dt[s] / inputs[s]:5.0%}" if dt_runs else ""
            print(f"{s:<18}{inputs[s]:>10,}{kept_ours[s]:>10,} {kept_ours[s] / inputs[s]:5.0%}{dt_col:>16}")
    if a.scaling:
        # Nested samples of distinct documents (the corpus is shuffled once; ¼ is a prefix of ½,
        # ½ of the whole): concatenating the corpus would only measure the exact-dedup path. The
        # whole corpus is this run's own measurement.
        print("\n== our cost by corpus size (distinct documents: ¼, ½, all) ==")
        sizes: list[tuple[float, int, Measured]] = []
        for frac in (0.25, 0.5, 1.0):
            if frac == 1.0:  # one round: that run itself, with its per-process peaks (a median has none)
                m, n = (ours_runs[0] if len(ours_runs) == 1 else ours), docs
            else:
                sub = work / f"scale-{frac}"
                p, inp = build_corpus(sub / "parts", text_mb * frac, a.files)
                m, _, _ = run_ours(corpusmill_config(sub, sub / "parts"), sub, a.workers)
                n = sum(inp.values())
            sizes.append((frac, n, m))
            base = sizes[0]
            print(f"  {frac / 0.25:.0f}×  {n:>9,} docs  {m.seconds:7.1f} s wall ({m.seconds / base[2].seconds * base[0] / frac:4.2f}× linear)  "
                  f"{m.cpu:7.1f} CPU-s ({m.cpu / base[2].cpu * base[0] / frac:4.2f}× linear)  "
                  f"RSS {m.peak_rss / 1e6:.0f} MB  PSS {m.peak_pss / 1e6:.0f} MB  {memory_line(m)}  load {m.load[0]:.1f} → {m.load[1]:.1f}", flush=True)
        one, two, four = (x[2] for x in sizes)
        # A run has a fixed cost (imports, models, plan, manifest): below 1.0× linear is that cost
        # spread thinner. Linear means each further quarter of the corpus costs the same.
        q12, q24 = two.cpu - one.cpu, (four.cpu - two.cpu) / 2
        print(f"  CPU-s per further quarter: {q12:.1f} (¼ → ½), {q24:.1f} (½ → all; {q24 / q12:.2f}×); "
              f"fixed cost ≈ {one.cpu - q12:.1f} CPU-s; wall per further quarter {two.seconds - one.seconds:.1f} s, "
              f"{(four.seconds - two.seconds) / 2:.1f} s")
        print(f"  memory 4× / 1×: RSS ×{four.peak_rss / one.peak_rss:.2f}, PSS ×{four.peak_pss / one.peak_pss:.2f} (flat = 1.0)")
    if a.worker_scaling:
        print("\n== our wall time by worker count (back to back) ==")
        one, m1, _ = run_ours(config, work, 1, work / "timeline-1.jsonl")
        many, m2, _ = run_ours(config, work, a.workers, work / f"timeline-{a.workers}.jsonl")
        print(f"  manifests: {m1['id']} (1 worker), {m2['id']} ({a.workers})")
        paths = {}
        for w, m in ((1, one), (a.workers, many)):
            others = sorted((round(c, 1) for p, c in m.cpu_by_pid.items() if p != m.root_pid), reverse=True)
            print(f"  {w} worker(s): {m.seconds:7.1f} s wall  {m.cpu:7.1f} CPU-s (main process {m.cpu_by_pid.get(m.root_pid, 0):.1f}, "
                  f"others {others})  RSS {m.peak_rss / 1e6:.0f} MB  PSS {m.peak_pss / 1e6:.0f} MB  {memory_line(m)}  "
                  f"load {m.load[0]:.1f} → {m.load[1]:.1f}")
            recs = read_timeline(work / f"timeline-{w}.jsonl")
            print(f"  {w} worker(s): peak RSS/PSS MB by process: {peaks_by_role(recs, m)}")
            path, lines = critical_path(recs, m)
            # With w cores the run also cannot take less than its CPU seconds over w (the decider
            # following a segment's units is a third process on two cores).
            paths[w] = max(path, m.cpu / w)
            print(f"  {w} worker(s): critical path {path:.1f} CPU-s; on {w} core(s) at least {paths[w]:.1f} s (CPU-s / {w} if larger); "
                  f"idle core-s on that path {w * paths[w] - m.cpu:.1f} ({w} × path − CPU-s)")
            print("\n".join(lines))
        print(f"  1 → {a.workers} workers: ×{one.seconds / many.seconds:.2f} faster by wall time (target ≥ 1.7 on 2 cores); "
              f"×{paths[1] / paths[a.workers]:.2f} by critical path (CPU-s on the longest path, or CPU-s / cores if larger: what free cores would give)")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (shared machine: CPU seconds are the steadier figure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
