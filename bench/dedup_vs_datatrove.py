"""Near-duplicate removal: corpusmill's ``minhash_dedup`` against datatrove's MinHash pipeline.

One process run prints, side by side:

1. accuracy on ``../shared/data/eval/generated/neardup.jsonl``: pairwise precision/recall/F1 and
   the share of each ``kind`` merged with its base (``far`` must stay apart);
2. which of the real statute version pairs (``ko_statute_versions.jsonl``) are merged at the
   default threshold, with their exact Jaccard and the nature of the change;
3. throughput on the deliveries corpus (``bench/build_dedup_corpus.py``, ≥ 100 MB): wall time,
   docs/s, MB/s and peak RSS (the whole process tree, sampled) of ``corpusmill dedup`` and of
   datatrove's 4-step pipeline (``MinhashDedupSignature`` → ``Buckets`` → ``Cluster`` →
   ``Filter`` on ``LocalPipelineExecutor``), both with the same worker count, and the ratios;
4. our cost at 1×, 2×, 4× of the corpus (prefixes).

Each tool runs in its own child process (so peak RSS is its own); times are wall clock.

    .venv/bin/python bench/dedup_vs_datatrove.py                # everything (datatrove: minutes)
    .venv/bin/python bench/dedup_vs_datatrove.py --skip-throughput
    .venv/bin/python bench/dedup_vs_datatrove.py --e2e --mb 20 --skip-scaling   # issue 21's 20 MB sample
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("CORPUSMILL_SHARED", ROOT.parent / "shared")) / "data"
# datatrove's word tokenizer for MinHash shingles: "kor" (Kiwi) is its fastest on this corpus,
# "eng" its default; `--datatrove-language` picks.
DT_LANGUAGE = "kor"


# --------------------------------------------------------------------------- the two tools (child side)


def run_datatrove(in_dir: str, work: str, workers: int, files: int, language: str = "kor") -> dict:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    if language == "kor":
        # datatrove's Korean word tokenizer asks Kiwi for its "sbg" model, which kiwipiepy stopped
        # shipping in 0.22 ("use 'cong'"); give it the model kiwipiepy has.
        from datatrove.utils.word_tokenizers import KiwiTokenizer

        KiwiTokenizer.__init__.__defaults__ = ("cong",)
    cfg = MinhashConfig()
    w = Path(work)
    common = {"workers": workers, "logging_dir": None, "skip_completed": False}

    def reader():
        return JsonlReader(in_dir, text_key="text", id_key="id")

    LocalPipelineExecutor(pipeline=[reader(), MinhashDedupSignature(str(w / "sigs"), config=cfg, language=language)], tasks=files, **common).run()
    LocalPipelineExecutor(
        pipeline=[MinhashDedupBuckets(str(w / "sigs"), str(w / "buckets"), config=cfg)], tasks=cfg.num_buckets, **common
    ).run()
    LocalPipelineExecutor(
        pipeline=[MinhashDedupCluster(str(w / "buckets"), str(w / "remove"), config=cfg, save_cluster_id=True)], tasks=1, **common
    ).run()
    LocalPipelineExecutor(
        pipeline=[
            reader(),
            MinhashDedupFilter(str(w / "remove"), exclusion_writer=JsonlWriter(str(w / "removed")), load_cluster_ids=True),
            JsonlWriter(str(w / "kept")),
        ],
        tasks=files,
        **common,
    ).run()
    return {}


def datatrove_clusters(work: str) -> dict[str, str]:
    """id → cluster for every document datatrove put in a cluster (kept and removed)."""
    import gzip

    out = {}
    for p in glob.glob(f"{work}/kept/*.jsonl.gz") + glob.glob(f"{work}/removed/*.jsonl.gz"):
        with gzip.open(p, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                cid = r.get("metadata", {}).get("minhash_cluster_id", -1)
                if cid != -1:
                    out[r["id"]] = f"dt-{cid}"
    return out


def child(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("tool", choices=["ours", "datatrove"])
    ap.add_argument("--input", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--files", type=int, default=2)
    ap.add_argument("--clusters")
    ap.add_argument("--dt-language", default="kor")
    a = ap.parse_args(argv)
    if a.tool == "ours":
        # What a user runs: the `corpusmill dedup` command (same process, so RSS and CPU are its).
        from pipelines.cli import main as corpusmill

        argv = ["--quiet", "dedup", a.input, str(Path(a.work) / "kept.parquet"), "--workers", str(a.workers)]
        if a.clusters:
            argv += ["--clusters", a.clusters]
        return corpusmill(argv)
    else:
        res = run_datatrove(a.input, a.work, a.workers, a.files, a.dt_language)
    print(json.dumps(res))
    return 0


# --------------------------------------------------------------------------- measuring (parent side)


def measure(args: list[str]) -> dict:
    """Run a child: wall time, CPU time and peak RSS of its whole process tree.

    RSS is sampled every 50 ms, summed over the tree; so is PSS (proportional set size: a page
    shared by k processes counts 1/k in each), since the sum of RSS counts a forked worker's
    pages shared with its parent twice. CPU is the larger of ``wait4``'s (the child plus the workers it
    waited for) and the sum over every process seen in the tree of its last sampled user + sys
    time — datatrove's workers are children of a forkserver, which ``wait4`` does not count."""
    import psutil

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, __file__, "--child", *args], stdout=out, stderr=err, text=True)
        peak = [0]
        peak_pss = [0]
        load = [os.getloadavg()[0]]
        cpu_seen: dict[int, float] = {}
        done = threading.Event()

        def sample():
            p = psutil.Process(proc.pid)
            while not done.is_set():
                try:
                    procs = [p, *p.children(recursive=True)]
                    rss = pss = 0
                    for q in procs:
                        with q.oneshot():
                            mem = q.memory_full_info()
                            rss += mem.rss
                            pss += mem.pss
                            t = q.cpu_times()
                            cpu_seen[q.pid] = t.user + t.system
                    peak[0] = max(peak[0], rss)
                    peak_pss[0] = max(peak_pss[0], pss)
                except psutil.Error:
                    pass
                time.sleep(0.05)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        th.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed ({proc.returncode}):\n{stderr[-3000:]}")
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    cpu = max(usage.ru_utime + usage.ru_stime, sum(cpu_seen.values()))
    load.append(os.getloadavg()[0])
    return {"seconds": seconds, "cpu": cpu, "peak_rss": peak[0], "peak_pss": peak_pss[0], "load": load, **(json.loads(lines[-1]) if lines else {})}


def split_jsonl(src: str, dst_dir: Path, parts: int, limit_bytes: int | None = None, text_limit: bool = False) -> tuple[int, int]:
    """Copy (a prefix of) ``src`` into ``parts`` files for datatrove; returns (docs, text bytes).
    The prefix holds ``limit_bytes`` of lines, or of text with ``text_limit`` (as bench/e2e.py's ``--mb``)."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    outs = [open(dst_dir / f"part-{i:03d}.jsonl", "w", encoding="utf-8") for i in range(parts)]
    docs = text_bytes = size = 0
    with open(src, encoding="utf-8") as f:
        lines = f.readlines()
    if limit_bytes:
        keep = []
        for ln in lines:
            size += len(json.loads(ln)["text"].encode()) if text_limit else len(ln.encode())
            if size > limit_bytes:
                break
            keep.append(ln)
        lines = keep
    per = (len(lines) + parts - 1) // parts
    for i, ln in enumerate(lines):
        outs[min(i // per, parts - 1)].write(ln)
        docs += 1
        text_bytes += len(json.loads(ln)["text"].encode())
    for o in outs:
        o.close()
    return docs, text_bytes


def concat(dir_: Path, dst: Path) -> None:
    with open(dst, "w", encoding="utf-8") as out:
        for p in sorted(dir_.glob("*.jsonl")):
            out.write(p.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- sections


def accuracy(workers: int, tmp: Path) -> None:
    from bench.neardup_eval import load, score

    path = SHARED / "eval/generated/neardup.jsonl"
    rows = load(path)
    d = tmp / "neardup"
    split_jsonl(str(path), d / "in", workers)
    concat(d / "in", d / "all.jsonl")
    ours = measure(["ours", "--input", str(d / "all.jsonl"), "--work", str(d), "--workers", str(workers), "--clusters", str(d / "clusters.jsonl")])
    pred_ours = {}
    for line in (d / "clusters.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        pred_ours[r["id"]] = r["cluster_id"]
    dt = measure(["datatrove", "--input", str(d / "in"), "--work", str(d / "dt"), "--workers", str(workers), "--files", str(workers), "--dt-language", DT_LANGUAGE])
    pred_dt = datatrove_clusters(str(d / "dt"))
    print(f"\n== accuracy on {path.name} ({len(rows):,} documents) ==")
    print(f"{'':12} {'precision':>9} {'recall':>7} {'F1':>6}  merged with base, by kind")
    for name, pred, m in (("corpusmill", pred_ours, ours), ("datatrove", pred_dt, dt)):
        s = score(rows, pred)
        kinds = "  ".join(f"{k} {v['rate']:.3f}" for k, v in s["kinds"].items())
        far = [r for r in rows if r["kind"] == "far"]
        base = {r["cluster"]: r["id"] for r in rows if r["kind"] == "base"}
        far_merged = sum(1 for r in far if pred.get(r["id"], r["id"]) == pred.get(base.get(r["cluster"].removesuffix("-far"), ""), None))
        print(f"{name:12} {s['precision']:9.4f} {s['recall']:7.4f} {s['f1']:6.4f}  {kinds}  far merged with base: {far_merged}  ({m['seconds']:.1f} s)")


def statutes(tmp: Path) -> None:
    import numpy as np
    import pyarrow as pa

    from filters.base import StageContext
    from filters.minhash_dedup import MinHashDedup, MinHashOptions, ShingleSets, Shingler

    docs = {}
    for line in open(SHARED / "deliveries/ko_statutes/statutes.jsonl", encoding="utf-8"):
        r = json.loads(line)
        docs[r["id"]] = r["text"]
    ids = sorted(docs)
    opts = MinHashOptions()

    def clusters(domain: str | None) -> dict[str, str]:
        stage = MinHashDedup({}, StageContext())
        b = pa.record_batch({"id": ids, "text": [docs[i] for i in ids], "order": np.arange(len(ids)), "domain": [domain] * len(ids)})
        d = stage.decide([stage.keys(b)])
        return dict(zip(d.column("id").to_pylist(), d.column("cluster_id").to_pylist()))

    plain, legal = clusters(None), clusters("legal")
    pairs = list(csv.DictReader(open(SHARED / "eval/neardup/ko_statute_pairs.tsv", encoding="utf-8"), delimiter="\t"))
    h, c = Shingler(opts).batch([docs[i] for i in ids])
    sets = ShingleSets(np.arange(len(ids)), h, c)
    pos = {i: n for n, i in enumerate(ids)}
    print(f"\n== statute versions ({len(docs)} statutes): merged at threshold {opts.threshold} (no domain) and at the legal default {opts.domain_thresholds['legal']} ==")
    print(f"  {'pair':<14} {'J(ours)':>7} {'@' + str(opts.threshold):>7} {'legal':>7}  nature of the change")
    for p in sorted(pairs, key=lambda r: -float(r["jaccard_char5"])):
        a, b = p["id_a"], p["id_b"]
        j = float(sets.jaccard(np.array([pos[a]]), np.array([pos[b]]))[0])
        m1 = plain.get(a, a) == plain.get(b, b)
        m2 = legal.get(a, a) == legal.get(b, b)
        print(f"  {a + ' / ' + b:<14} {j:7.3f} {'MERGED' if m1 else 'kept':>7} {'MERGED' if m2 else 'kept':>7}  {p['nature'][:80]}")
    version = {frozenset((p["id_a"], p["id_b"])) for p in pairs}
    for name, cl in (("no domain", plain), ("legal", legal)):
        other = [(i, k) for i, k in cl.items() if frozenset((i, k)) not in version]
        print(f"  {name}: dropped {len(cl)}, of which not a version of the same statute: {len(other)}")
    sys.stdout.flush()


def throughput(corpus: str, workers: int, tmp: Path, with_datatrove: bool, scaling: bool, mb: float | None = None) -> None:
    d = tmp / "corpus"
    docs, text_bytes = split_jsonl(corpus, d / "in", max(workers, 2) * 4, int(mb * 1e6) if mb else None, text_limit=True)
    concat(d / "in", d / "all.jsonl")
    mb = text_bytes / 1e6
    print(f"\n== throughput: {docs:,} documents, {mb:.1f} MB of text, {workers} workers (shared 2-core machine) ==")
    rows = []
    if with_datatrove:  # datatrove first: it takes minutes; ours right after, under similar load
        dt = measure(["datatrove", "--input", str(d / "in"), "--work", str(d / "dt"), "--workers", str(workers), "--files", str(max(workers, 2) * 4), "--dt-language", DT_LANGUAGE])
        rows.append(("datatrove", dt))
    ours = measure(["ours", "--input", str(d / "all.jsonl"), "--work", str(d), "--workers", str(workers)])
    rows.insert(0, ("corpusmill", ours))
    print(f"{'':12} {'wall s':>8} {'docs/s':>9} {'MB/s':>7} {'CPU s':>8} {'docs/CPU-s':>10} {'MB/CPU-s':>8} {'peak RSS MB':>12} {'peak PSS MB':>12} {'load before/after':>18}")
    for name, m in rows:
        print(
            f"{name:12} {m['seconds']:8.1f} {docs / m['seconds']:9.0f} {mb / m['seconds']:7.2f} "
            f"{m['cpu']:8.1f} {docs / m['cpu']:10.0f} {mb / m['cpu']:8.2f} {m['peak_rss'] / 1e6:12.0f} {m['peak_pss'] / 1e6:12.0f}"
            f" {m['load'][0]:8.1f} / {m['load'][1]:.1f}"
        )
    print(f"corpusmill dropped {ours['documents'] - ours['kept']:,} near-duplicates ({ours.get('candidate_pairs', 0):,} candidate pairs, {ours.get('verified_pairs', 0):,} verified)")
    print(f"corpusmill seconds by phase of the decision: {ours.get('phase_seconds')}")
    if with_datatrove:
        dt = rows[1][1]
        print(
            f"ratio        ×{dt['seconds'] / ours['seconds']:.1f} faster by wall clock (docs/s and MB/s), "
            f"×{dt['cpu'] / ours['cpu']:.1f} by CPU time; peak RSS {ours['peak_rss'] / dt['peak_rss']:.2f}× datatrove's, "
            f"peak PSS {ours['peak_pss'] / dt['peak_pss']:.2f}×"
        )
    sys.stdout.flush()
    if scaling:
        print("\n== our cost by corpus size ==")
        print(f"{'size':>6} {'docs':>9} {'MB':>7} {'wall s':>8} {'ratio':>10} {'CPU s':>8} {'ratio':>10}")
        base = base_cpu = None
        full = (d / "all.jsonl").stat().st_size
        for k in (1, 2, 4):
            part = tmp / f"scale{k}.jsonl"
            n, tb = split_jsonl(str(d / "all.jsonl"), tmp / f"scale{k}", 1, full * k // 4)
            concat(tmp / f"scale{k}", part)
            m = measure(["ours", "--input", str(part), "--work", str(tmp / f"scale{k}"), "--workers", str(workers)])
            base = base or m["seconds"]
            base_cpu = base_cpu or m["cpu"]
            print(f"{k:5}× {n:9,} {tb / 1e6:7.1f} {m['seconds']:8.1f} {m['seconds'] / base:10.2f} {m['cpu']:8.1f} {m['cpu'] / base_cpu:10.2f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return child(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="/tmp/dedup_corpus.jsonl", help="built by bench/build_dedup_corpus.py if missing")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--skip-statutes", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-datatrove-throughput", action="store_true")
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument("--datatrove-language", default="kor", help="datatrove's MinHash word tokenizer (kor: Kiwi; eng: its default)")
    ap.add_argument("--e2e", action="store_true", help="throughput on bench/e2e.py's corpus (every delivery once, shuffled, ~84 MB) instead of --corpus")
    ap.add_argument("--mb", type=float, help="throughput on this much of the corpus (a prefix; e.g. 20 for the 20 MB sample)")
    a = ap.parse_args(argv)
    global DT_LANGUAGE
    DT_LANGUAGE = a.datatrove_language
    with tempfile.TemporaryDirectory(prefix="dedup-bench-") as t:
        tmp = Path(t)
        if not a.skip_accuracy:
            accuracy(a.workers, tmp)
        if not a.skip_statutes:
            statutes(tmp)
        if not a.skip_throughput:
            if a.e2e:  # the corpus of bench/e2e.py (issue 21's measurements): no synthetic copies
                sys.path.insert(0, str(ROOT / "bench"))
                from e2e import build_corpus

                (part,), _ = build_corpus(tmp / "e2e", None, 1)
                a.corpus = str(part)
            elif not Path(a.corpus).exists():
                subprocess.run([sys.executable, str(ROOT / "bench/build_dedup_corpus.py"), "--out", a.corpus], check=True)
            throughput(a.corpus, a.workers, tmp, not a.skip_datatrove_throughput, not a.skip_scaling, a.mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
