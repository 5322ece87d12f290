"""CPU seconds of the ``pii`` stage, by language, on the documents that reach it in ``bench/e2e.py``'s run.

    .venv/bin/python bench/pii_cost.py --mb 20                           # the 20 MB sample
    .venv/bin/python bench/pii_cost.py --mb 20 --baseline /tmp/main      # against another checkout, alternating

The corpus is ``bench/e2e.py``'s (same documents, seed and cut); ``corpusmill run`` with every stage
of that run but ``pii`` writes what survives to ``--work`` once (re-used while the corpus is the
same). Then, in a fresh process per code tree, the ``pii`` stage's ``process`` runs over those
documents in batches of what survives of one 2,048-record input batch, Korean and English apart,
timed by ``time.process_time`` (CPU of that process; set-up excluded and printed apart). With
``--baseline DIR`` (a checkout of another commit, e.g. ``git worktree add /tmp/main main``) the
two trees alternate for ``--rounds``, their spans and scrubbed texts are compared, and the ratio
of the best CPU seconds per language is printed. The machine is shared: read the ratios, with
the load printed beside each run. ``--interleave N`` (with ``--baseline``) instead keeps one
process per tree and sends each N batches at a time, the order swapped every chunk, so both sums
see nearly the same load (rounds of whole runs are minutes apart, and the load moves the CPU
seconds of one run by 30-50 % here):

    .venv/bin/python bench/pii_cost.py --mb 0 --langs ko --baseline /work/main --interleave 20
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INPUT_BATCH = 2048  # pipelines.config: limits.batch_size's default


def surviving_shard(work: Path, mb: float | None, files: int) -> tuple[Path, int]:
    """The shard of documents that reach ``pii`` in bench/e2e.py's run, and the number of input records."""
    from bench import e2e

    parts, inputs = e2e.build_corpus(work / "parts", mb, files)
    n_in = sum(inputs.values())
    out = work / "out-before-pii"
    stamp = work / "before-pii.json"
    if stamp.exists() and json.loads(stamp.read_text()) == {"mb": mb, "files": files, "inputs": n_in} and any(out.glob("shards/*.parquet")):
        return next(out.glob("shards/*.parquet")), n_in
    stages = [s for s in e2e.STAGES if not (isinstance(s, dict) and s.get("name") == "pii") and s != "pii"]
    saved, e2e.STAGES = e2e.STAGES, stages
    try:
        config = e2e.corpusmill_config(work, work / "parts")
    finally:
        e2e.STAGES = saved
    cmd = [sys.executable, "-m", "pipelines.cli", "-q", "run", str(config), "--out", str(out), "--overwrite"]
    env = {**os.environ, "CORPUSMILL_CATALOG": str(work / "catalog")}
    res = subprocess.run(cmd, cwd=str(work), env=env, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"corpusmill failed ({res.returncode}):\n{res.stderr[-3000:]}")
    shards = sorted(out.glob("shards/*.parquet"))
    if len(shards) != 1:
        raise SystemExit(f"expected one shard of survivors, found {len(shards)}")
    stamp.write_text(json.dumps({"mb": mb, "files": files, "inputs": n_in}))
    return shards[0], n_in


def child(root: str, shard: str, batch_rows: int, out: str, langs: list[str]) -> None:
    """Time the pii stage of the code tree ``root`` over ``shard``; pickle CPU seconds and outputs to ``out``."""
    sys.path.insert(0, root)
    import warnings

    warnings.filterwarnings("ignore")
    import filters.pii
    from filters.pii import PresidioScrubber

    if not filters.pii.__file__.startswith(root):
        raise SystemExit(f"imported {filters.pii.__file__}, not the tree {root}")
    wanted = langs
    batches = _batches(shard, batch_rows, wanted)
    stage = PresidioScrubber({"lang": "auto"})
    c0 = time.process_time()
    stage.ensure_setup()
    setup = time.process_time() - c0
    cpu = {lang: 0.0 for lang in wanted}
    docs = {lang: 0 for lang in wanted}
    chars = {lang: 0 for lang in wanted}
    outputs = []
    for lang, b in batches:
        c0 = time.process_time()
        r = stage.process(b)
        cpu[lang] += time.process_time() - c0
        docs[lang] += b.num_rows
        chars[lang] += sum(map(len, b.column("text").to_pylist()))
        outputs.append((r.columns["pii"].to_pylist(), r.columns["text"].to_pylist(), r.keep.tolist()))
    with open(out, "wb") as f:
        pickle.dump({"cpu": cpu, "docs": docs, "chars": chars, "setup": setup, "outputs": outputs}, f)


def serve(root: str, shard: str, batch_rows: int, out: str, langs: list[str]) -> None:
    """``child``, in steps: set up, print ``ready``, then per line ``first last`` process those
    batches and print their CPU seconds per language as JSON; on ``done`` pickle the outputs to
    ``out``. Two of these (two code trees) alternate chunk by chunk under ``--interleave``."""
    sys.path.insert(0, root)
    import warnings

    warnings.filterwarnings("ignore")
    import filters.pii
    from filters.pii import PresidioScrubber

    if not filters.pii.__file__.startswith(root):
        raise SystemExit(f"imported {filters.pii.__file__}, not the tree {root}")
    batches = _batches(shard, batch_rows, langs)
    stage = PresidioScrubber({"lang": "auto"})
    c0 = time.process_time()
    stage.ensure_setup()
    print(json.dumps({"setup": time.process_time() - c0, "batches": len(batches)}), flush=True)
    outputs = []
    for line in sys.stdin:
        if line.strip() == "done":
            break
        a, b = map(int, line.split())
        cpu = {lang: 0.0 for lang in langs}
        for lang, batch in batches[a:b]:
            c0 = time.process_time()
            r = stage.process(batch)
            cpu[lang] += time.process_time() - c0
            outputs.append((r.columns["pii"].to_pylist(), r.columns["text"].to_pylist(), r.keep.tolist()))
        print(json.dumps(cpu), flush=True)
    with open(out, "wb") as f:
        pickle.dump(outputs, f)


def _batches(shard: str, batch_rows: int, wanted: list[str]) -> list:
    """The shard in batches of ``batch_rows`` rows, each cut into its Korean and its other documents."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(shard, columns=["text", "source_id", "lang"])
    batches = []
    for s in range(0, table.num_rows, batch_rows):
        b = table.slice(s, batch_rows)
        langs = b.column("lang").to_pylist()
        for lang in wanted:
            idx = [i for i, x in enumerate(langs) if (x == "ko") == (lang == "ko")]
            if idx:
                batches.append((lang, b.take(pa.array(idx)).combine_chunks().to_batches()[0]))
    return batches


def interleaved(trees: list[str], shard: Path, batch_rows: int, work: Path, langs: str, chunk: int) -> None:
    """Both trees set up in their own process, then ``chunk`` batches at a time through each, the
    order swapped every chunk: the machine's load drifts over seconds, so each tree's sum sees
    nearly the same load (the per-tree rounds of ``--rounds`` are minutes apart)."""
    procs = {}
    for t in trees:
        procs[t] = subprocess.Popen(
            [sys.executable, __file__, "--serve", t, str(shard), str(batch_rows), str(work / f"serve-{len(procs)}.pkl"), langs],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
    ready = {t: json.loads(p.stdout.readline()) for t, p in procs.items()}
    n = ready[trees[0]]["batches"]
    cpu = {t: {lang: 0.0 for lang in langs.split(",")} for t in trees}
    ratios = []
    load0 = open("/proc/loadavg").read().split()[0] if Path("/proc/loadavg").exists() else "?"
    for k, a in enumerate(range(0, n, chunk)):
        step = {}
        for t in trees if k % 2 == 0 else trees[::-1]:
            procs[t].stdin.write(f"{a} {min(a + chunk, n)}\n")
            procs[t].stdin.flush()
            step[t] = json.loads(procs[t].stdout.readline())
            for lang, c in step[t].items():
                cpu[t][lang] += c
        base, this = (sum(step[t].values()) for t in (trees[1], trees[0]))
        if this > 0:
            ratios.append(base / this)
    for p in procs.values():
        p.stdin.write("done\n")
        p.stdin.close()
        p.wait()
    load1 = open("/proc/loadavg").read().split()[0] if Path("/proc/loadavg").exists() else "?"
    outs = []
    for i in range(len(trees)):
        with open(work / f"serve-{i}.pkl", "rb") as f:
            outs.append(pickle.load(f))
    this, base = trees
    print(f"   interleaved, {chunk} batches a chunk ({len(ratios)} chunks), load {load0} -> {load1}; set-up {ready[this]['setup']:.1f} / {ready[base]['setup']:.1f} CPU-s")
    print(f"   spans, scrubbed texts and keep masks identical: {outs[0] == outs[1]}")
    for lang in langs.split(","):
        b, t = cpu[base][lang], cpu[this][lang]
        print(f"   {lang}: baseline {b:.2f} CPU-s, this tree {t:.2f} CPU-s, ratio {b / max(t, 1e-9):.2f}x")
    ratios.sort()
    if ratios:
        print(f"   chunk ratios: median {ratios[len(ratios) // 2]:.2f}x, middle half {ratios[len(ratios) // 4]:.2f}-{ratios[3 * len(ratios) // 4]:.2f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=20, help="the corpus cut, as bench/e2e.py --mb (0: every document)")
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "corpusmill-pii-cost"))
    ap.add_argument("--baseline", help="another checkout's root, timed alternately with this one")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--langs", default="ko,en", help="ko (Korean documents), en (every other), or both")
    ap.add_argument(
        "--interleave", type=int, metavar="N", default=0,
        help="with --baseline: one process per tree, N batches at a time through each, alternating (instead of --rounds)",
    )
    args = ap.parse_args(argv)
    work = Path(args.work) / f"mb{args.mb:g}"
    work.mkdir(parents=True, exist_ok=True)
    shard, n_in = surviving_shard(work, args.mb or None, args.files)
    import pyarrow.parquet as pq

    n_kept = pq.ParquetFile(shard).metadata.num_rows
    batch_rows = max(1, round(INPUT_BATCH * n_kept / n_in))
    trees = [str(ROOT)] + ([str(Path(args.baseline).resolve())] if args.baseline else [])
    print(f"== pii stage CPU by language: {n_kept:,} of {n_in:,} documents reach it; batches of {batch_rows} (one input batch's survivors)")
    if args.interleave and args.baseline:
        interleaved(trees, shard, batch_rows, work, args.langs, args.interleave)
        return 0
    best: dict[str, dict[str, float]] = {t: {} for t in trees}
    last: dict[str, list] = {}
    for k in range(args.rounds):
        for tree in (trees if k % 2 == 0 else trees[::-1]):
            out = work / "child.pkl"
            load = open("/proc/loadavg").read().split()[0] if Path("/proc/loadavg").exists() else "?"
            subprocess.run([sys.executable, __file__, "--child", tree, str(shard), str(batch_rows), str(out), args.langs], check=True)
            with open(out, "rb") as f:
                d = pickle.load(f)
            last[tree] = d["outputs"]
            for lang, c in d["cpu"].items():
                best[tree][lang] = min(best[tree].get(lang, float("inf")), c)
            shown = ", ".join(f"{lang} {d['docs'][lang]:,} docs / {d['chars'][lang] / 1e6:.2f} M chars {d['cpu'][lang]:.2f} CPU-s" for lang in d["cpu"])
            print(f"   round {k + 1} {tree}: load {load}; set-up {d['setup']:.1f} CPU-s; {shown}", flush=True)
    if args.baseline:
        this, base = trees
        print(f"   spans, scrubbed texts and keep masks identical: {last[this] == last[base]}")
        for lang in args.langs.split(","):
            b, t = best[base][lang], best[this][lang]
            print(f"   {lang}: baseline {b:.2f} CPU-s, this tree {t:.2f} CPU-s (best of {args.rounds}), ratio {b / max(t, 1e-9):.2f}x")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6].split(","))
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6].split(","))
        sys.exit(0)
    sys.exit(main())
