"""CPU seconds of each stage of a whole run without PII, two code trees alternating, one run.

``bench/e2e.py`` prints each stage's seconds summed over workers, but they are wall seconds
inside the workers: on a shared machine a stage that waited for a core looks slow. This runs
``corpusmill run`` on ``bench/e2e.py``'s corpus with its config minus ``pii`` (normalize, length,
exact dedup, MinHash, langid, quality heuristics), one worker (``--workers N``: N), in a child process whose
``time.perf_counter`` is ``time.process_time`` — so the manifest's ``seconds_by_stage`` are the
CPU seconds of each stage (the child runs the units itself; nothing else runs in it meanwhile).

Given ``--old DIR`` (a copy of another commit's tree, e.g. ``git archive main | tar -x -C DIR``)
the child imports that tree's packages instead; rounds alternate old/new. Each round prints the
manifest ID, so identical output shows too.

    nice -n 5 .venv/bin/python bench/stage_cpu.py --mb 20 --old /tmp/main-tree --rounds 2
    nice -n 5 .venv/bin/python bench/stage_cpu.py --mb 20 --old /tmp/main-tree --workers 2   # CPU of the process tree
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(tree: str, config: str, out: str, workers: str = "1") -> None:
    """Run the pipeline in this process with ``tree``'s packages; print its CPU figures as JSON.

    With several workers the forked workers inherit the CPU timer, so each stage's figure is
    its CPU summed over processes, and ``process_cpu`` counts the reaped children too."""
    sys.path.insert(0, tree)
    time.perf_counter = time.process_time  # the engine's per-stage timer measures CPU
    import pipelines.cli as cli_module

    t0 = time.process_time()
    # As the process's entry point (no argv given), like ``corpusmill run``: the CLI then keeps
    # pandas out of the process (``cli._arrow_without_pandas``); called with a list it does not,
    # and the forked decider imported pandas (~0.6 CPU-s of exact dedup's decide at 20 MB).
    sys.argv = ["corpusmill", "-q", "run", config, "--out", out, "--overwrite", "--workers", workers]
    # ``_main(None)``: the entry point's body without its exit (``main()`` ends the process with
    # ``os._exit`` since session 11); an older tree has only ``main``, which returned.
    entry = getattr(cli_module, "_main", None)
    code = entry(None) if entry is not None else cli_module.main()
    if code:
        raise SystemExit(code)
    manifest = json.loads((Path(out) / "manifest.json").read_text(encoding="utf-8"))
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    print(json.dumps({
        "id": manifest["id"],
        "run_cpu": time.process_time() - t0,
        "process_cpu": sum(u.ru_utime + u.ru_stime for u in usage),
        "by_stage": manifest["run"]["seconds_by_stage"],
    }))


def prepare(work: Path, mb: float | None, files: int) -> Path:
    """``bench/e2e.py``'s corpus and config, without the PII stage (built once per work dir)."""
    sys.path.insert(0, str(ROOT))
    from bench import e2e

    config = work / "bench-e2e.yaml"
    if not config.exists():
        e2e.build_corpus(work / "parts", mb, files)
        e2e.STAGES = [s for s in e2e.STAGES if not (isinstance(s, dict) and s.get("name") == "pii")]
        e2e.corpusmill_config(work, work / "parts")
    return config


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        child(*argv[1:5])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=20, help="corpus size in MB of text (bench/e2e.py's --mb; 0: all)")
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--old", help="another tree to compare with (its filters/pipelines/... are imported instead)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="the run's --workers (stage figures summed over processes)")
    ap.add_argument("--work", help="work directory (default: a temporary one; the corpus is reused when present)")
    a = ap.parse_args(argv)
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="bench-stage-cpu-"))
    work.mkdir(parents=True, exist_ok=True)
    config = prepare(work, a.mb or None, a.files)
    trees = ([("old", a.old)] if a.old else []) + [("new", str(ROOT))]
    results: dict[str, list[dict]] = {name: [] for name, _ in trees}
    env = {**os.environ, "CORPUSMILL_CATALOG": str(work / "catalog")}
    for r in range(a.rounds):
        for name, tree in trees:
            # A fresh output and catalog: a run the catalog already holds is not run again.
            for old in (work / "catalog", work / f"out-{name}"):
                shutil.rmtree(old, ignore_errors=True)
            load = os.getloadavg()[0]
            res = subprocess.run([sys.executable, __file__, "--child", tree, str(config), str(work / f"out-{name}"), str(a.workers)],
                                 capture_output=True, text=True, cwd=str(work), env=env)
            if res.returncode:
                raise SystemExit(f"{name} failed:\n{res.stderr[-3000:]}")
            out = json.loads(res.stdout.strip().splitlines()[-1])
            out["load"] = (load, os.getloadavg()[0])
            results[name].append(out)
            stages = "  ".join(f"{k.split('@')[0]} {v:.2f}" for k, v in sorted(out["by_stage"].items()))
            print(f"round {r + 1} {name}: {out['id']}  process {out['process_cpu']:.1f} CPU-s  "
                  f"load {out['load'][0]:.1f} → {out['load'][1]:.1f}\n    {stages}", flush=True)
    if a.old:
        print("\nper stage, best of rounds (CPU-s): old → new (ratio)")
        def by_name(x: dict) -> dict[str, float]:  # a stage whose version changed is still the same stage
            return {k.split("@")[0]: v for k, v in x["by_stage"].items()} | {"process": x["process_cpu"]}

        names = sorted({k for rs in results.values() for x in rs for k in by_name(x)}, key=lambda k: k == "process")
        for k in names:
            o, n = (min(by_name(x).get(k, 0.0) for x in results[name]) for name in ("old", "new"))
            print(f"  {k:24} {o:8.2f} → {n:8.2f}  ({o / n if n else float('nan'):.2f}×)")
        same = {x["id"] for rs in results.values() for x in rs}
        print(f"manifest IDs: {', '.join(sorted(same))} ({'identical' if len(same) == 1 else 'DIFFERENT'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
