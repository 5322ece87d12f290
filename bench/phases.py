"""The main process's memory and CPU, phase by phase, during one ``corpusmill run``.

Runs ``runner.run`` in this process with a thread sampling ``/proc/self/status`` every 20 ms and
marks phases by wrapping the engine's functions (segments, global stages' decisions, the
assembly, the manifest). Prints each phase's end RSS, its peak inside, and the main process's
CPU seconds (``time.process_time``) spent in it — where the main process's peak and its serial
work come from.

    .venv/bin/python bench/phases.py CONFIG --out DIR --workers 2
"""

from __future__ import annotations

import argparse
import functools
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Phases:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, float, float]] = []  # name, end RSS, peak, CPU s, wall s
        self.peak = 0.0
        self.name = "imports and plan"
        self.t_cpu = time.process_time()
        self.t_wall = time.perf_counter()
        self.done = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.02)

    def mark(self, next_name: str) -> None:
        now = rss_mb()
        cpu, wall = time.process_time(), time.perf_counter()
        self.rows.append((self.name, now, max(self.peak, now), cpu - self.t_cpu, wall - self.t_wall))
        self.name, self.peak, self.t_cpu, self.t_wall = next_name, now, cpu, wall

    def wrap(self, obj, attr: str, before: str, after: str) -> None:
        fn = getattr(obj, attr)

        @functools.wraps(fn)
        def wrapped(*a, **k):
            self.mark(before)
            try:
                return fn(*a, **k)
            finally:
                self.mark(after)

        setattr(obj, attr, wrapped)

    def print(self) -> None:
        print(f"{'phase (main process)':<44}{'RSS end MB':>11}{'peak MB':>9}{'CPU s':>8}{'wall s':>8}")
        for name, end, peak, cpu, wall in self.rows:
            print(f"{name:<44}{end:>11.0f}{peak:>9.0f}{cpu:>8.2f}{wall:>8.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    ph = Phases()
    from pipelines import engine_local, execution, runner
    from pipelines.progress import null_progress

    seg = [0]

    def pool_run(orig):
        @functools.wraps(orig)
        def run(self, jobs, meter, ahead=None):
            ph.mark(f"segment {jobs[0].segment if jobs else '?'}: units")
            orig(self, jobs, meter, ahead=ahead)
            seg[0] += 1
            ph.mark(f"after segment {seg[0] - 1} (decide, preload)")

        return run

    engine_local.Pool.run = pool_run(engine_local.Pool.run)
    ph.wrap(engine_local, "_assemble", "assembly (shards, ledger)", "manifest")
    ph.wrap(execution.Assembler, "finish", "assembly: finish", "assembly: after finish")
    ph.wrap(runner, "build_manifest", "manifest", "install and publish")
    plan = runner.prepare(Path(a.config), workers=a.workers)
    ph.mark("prepare done")
    outcome = runner.run(Path(a.config), out=a.out, catalog=str(Path(a.out).parent / "catalog-phases"), progress=null_progress(),
                         plan=plan, overwrite=True)
    ph.mark("end")
    ph.done.set()
    ph.print()
    print(f"manifest {outcome.id}; total CPU of the main process {time.process_time():.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
