"""Local vs Ray vs Beam on the ~100 MB corpus built from the deliveries: wall time and peak memory.

The corpus is ``bench/build_dedup_corpus.py``'s (every delivery, NSMC reviews, plus re-published
near-copies up to ``--mb``), cut into ``--files`` JSON-lines files — deliveries come as many
files, and a file is the unit the distributed engines spread over workers. Each engine runs the
same config through the real CLI in a subprocess (Ray starts its own local cluster: 2 CPUs, 500 MB
object store); peak memory is the largest RSS sum of the run's process tree (driver, Ray raylet,
GCS and workers), sampled every 0.2 s, and the largest PSS sum (shared pages — Ray's object store,
mapped by every worker — counted once, split between the processes mapping them). The script prints one table with ratios to local and
checks that the three manifests have the same ID.

    .venv/bin/python bench/engines.py                 # 100 MB, 16 files
    .venv/bin/python bench/engines.py --mb 10         # quick look
    .venv/bin/python bench/engines.py --rounds 2      # a shared machine: medians over rounds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

STAGES = [
    "normalize",
    {"name": "length", "min_chars": 2, "max_chars": 1000000},
    "langid",
    "exact_dedup",
    {"name": "minhash_dedup", "threshold": 0.6},
]


def build_corpus(dest: Path, mb: float, files: int) -> list[Path]:
    import build_dedup_corpus
    from dedup_vs_datatrove import split_jsonl

    whole = dest / f"corpus-min{max(int(mb), 1)}mb.jsonl"
    if not whole.exists():
        build_dedup_corpus.main(["--out", str(whole), "--min-mb", str(max(int(mb), 1))])
    parts_dir = dest / "parts"
    if parts_dir.exists():
        for p in parts_dir.glob("*.jsonl"):
            p.unlink()
    split_jsonl(str(whole), parts_dir, files, int(mb * 1e6))
    return sorted(parts_dir.glob("*.jsonl"))


def write_config(dest: Path, parts_dir: Path, engine_cpus: int) -> Path:
    cfg = {
        "name": "bench-engines",
        "purpose": {"description": "engine benchmark (research only)", "uses": ["research"]},
        "accept_unknown_licence": {"deliveries": "benchmark only; the mix includes deliveries without a stated licence"},
        "output": {"dir": "out", "shard_target_mb": 32},
        "ray": {"num_cpus": engine_cpus, "object_store_mb": 500, "actors": engine_cpus},
        "stages": STAGES,
        "sources": [
            {"id": "deliveries", "paths": [str(parts_dir / "*.jsonl")], "format": "jsonl", "id_field": "id",
             "provenance": {"owner": "see ../shared/data/README.md", "acquisition": "public-download",
                            "licence": None, "permitted_uses": ["research"]}},
        ],
    }
    path = dest / "bench-engines.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def run_engine(config: Path, engine: str, work: Path) -> dict:
    out = work / f"out-{engine}"
    # A fresh directory: a run identical to one already there keeps that run's manifest (and its
    # timings), so the stage seconds would be those of an earlier run.
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "pipelines.cli", "-q", "run", str(config), "--engine", engine, "--out", str(out), "--overwrite"]
    env = {**os.environ, "CORPUSMILL_CATALOG": str(work / "catalog"), "RAY_USAGE_STATS_ENABLED": "0",
           # a shared, busy machine starts raylets, agents and workers slowly
           "RAY_raylet_start_wait_time_s": "600", "RAY_agent_register_timeout_ms": "600000",
           "RAY_worker_register_timeout_seconds": "600"}
    env.pop("RAY_ADDRESS", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0, 0]  # RSS sum, PSS sum

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                procs = [root, *root.children(recursive=True)]
                rss = pss = 0
                for p in procs:
                    try:
                        mem = p.memory_full_info()
                        rss, pss = rss + mem.rss, pss + mem.pss
                    except psutil.Error:
                        pass
                peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            except psutil.Error:
                pass
            time.sleep(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    t.join()
    if proc.returncode != 0:
        raise SystemExit(f"{engine} failed ({proc.returncode}):\n{stderr[-3000:]}")
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {"engine": engine, "wall": wall, "peak_mb": peak[0] / 2**20, "peak_pss_mb": peak[1] / 2**20, "id": m["id"], "kept": m["totals"]["kept"],
            "stages": m["run"]["seconds_by_stage"]}


def median_result(runs: list[dict], ratios: list[float]) -> dict:
    """One engine's runs as one row: median wall time, peak memory and ratio to the base engine."""
    med = statistics.median
    out = dict(runs[0], wall=med(r["wall"] for r in runs), ratio=med(ratios))
    out["peak_mb"], out["peak_pss_mb"] = med(r["peak_mb"] for r in runs), med(r["peak_pss_mb"] for r in runs)
    out["stages"] = {k: med(r["stages"].get(k, 0.0) for r in runs) for k in runs[0]["stages"]}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs for Ray's local cluster and its actor pools")
    ap.add_argument("--engines", default="local,ray,beam")
    ap.add_argument("--work", help="work directory (default: a temporary one; the corpus is cached there)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run the engines this many times, one after the other; on a shared machine the load "
                         "changes between runs, so the table shows medians and the median of each round's ratio")
    args = ap.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench-engines-"))
    work.mkdir(parents=True, exist_ok=True)
    parts = build_corpus(work, args.mb, args.files)
    size = sum(p.stat().st_size for p in parts)
    config = write_config(work, parts[0].parent, args.cpus)
    print(f"corpus: {size / 1e6:.1f} MB in {len(parts)} files; stages: "
          + ", ".join(s if isinstance(s, str) else s["name"] for s in STAGES)
          + f"; machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    rounds = []
    for i in range(args.rounds):
        results = []
        for engine in args.engines.split(","):
            load = os.getloadavg()[0]
            r = run_engine(config, engine, work)
            r["load"] = (load, os.getloadavg()[0])
            results.append(r)
            print(f"  round {i + 1} {engine}: {r['wall']:.1f} s, peak RSS {r['peak_mb']:.0f} MB, PSS {r['peak_pss_mb']:.0f} MB, "
                  f"load {load:.1f} → {r['load'][1]:.1f}, {r['id']}", flush=True)
        rounds.append(results)
    results = [median_result([rnd[k] for rnd in rounds], [rnd[k]["wall"] / rnd[0]["wall"] for rnd in rounds])
               for k in range(len(rounds[0]))]
    base = results[0]
    x = "× " + base["engine"]
    print(f"\n{'engine':<8}{'wall s':>10}{x:>10}{'RSS MB':>10}{x:>10}{'PSS MB':>10}{x:>10}  manifest"
          + ("   (medians; × = median of the rounds' ratios)" if args.rounds > 1 else ""))
    for r in results:
        print(f"{r['engine']:<8}{r['wall']:>10.1f}{r['ratio']:>10.2f}{r['peak_mb']:>10.0f}"
              f"{r['peak_mb'] / base['peak_mb']:>10.2f}{r['peak_pss_mb']:>10.0f}{r['peak_pss_mb'] / base['peak_pss_mb']:>10.2f}  {r['id']}")
    print("\nseconds by stage (summed over workers for ray/beam):")
    keys = sorted({k for r in results for k in r["stages"]})
    print(f"{'':<22}" + "".join(f"{r['engine']:>10}" for r in results))
    for k in keys:
        print(f"{k:<22}" + "".join(f"{r['stages'].get(k, 0):>10.1f}" for r in results))
    same = len({r["id"] for rnd in rounds for r in rnd}) == 1
    print(f"\nidentical output: {'yes' if same else 'NO'} (manifest IDs)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (the machine is shared: timings are noisy)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
