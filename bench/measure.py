"""Measure a command as the benches need it: wall time, CPU time and peak memory of its whole tree.

RSS is sampled every 50 ms and summed over the process tree; so is PSS (proportional set size: a
page shared by k processes counts 1/k in each), since the sum of RSS counts a forked worker's
pages shared with its parent twice. CPU is the larger of ``wait4``'s (the child plus the workers
it waited for) and the sum over every process seen in the tree of its last sampled user + sys
time — datatrove's workers are children of a forkserver, which ``wait4`` does not count. CPU
seconds are what a shared machine's load distorts least, so the benches quote them first.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass


@dataclass
class Measured:
    seconds: float
    cpu: float
    peak_rss: int
    peak_pss: int
    load: tuple[float, float]
    returncode: int
    stdout: str
    stderr: str


def measure_command(cmd: list[str], cwd: str | None = None, env: dict[str, str] | None = None, interval: float = 0.05) -> Measured:
    import psutil

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        peak = [0, 0]
        cpu_seen: dict[int, float] = {}
        done = threading.Event()

        def sample() -> None:
            p = psutil.Process(proc.pid)
            while not done.is_set():
                try:
                    rss = pss = 0
                    for q in [p, *p.children(recursive=True)]:
                        try:
                            with q.oneshot():
                                mem = q.memory_full_info()
                                t = q.cpu_times()
                        except psutil.Error:
                            continue
                        rss, pss = rss + mem.rss, pss + mem.pss
                        cpu_seen[q.pid] = t.user + t.system
                    peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
                except psutil.Error:
                    pass
                time.sleep(interval)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        done.set()
        th.join()
        out.seek(0)
        err.seek(0)
        return Measured(
            seconds=seconds,
            cpu=max(usage.ru_utime + usage.ru_stime, sum(cpu_seen.values())),
            peak_rss=peak[0],
            peak_pss=peak[1],
            load=(load0, os.getloadavg()[0]),
            returncode=os.waitstatus_to_exitcode(status),
            stdout=out.read(),
            stderr=err.read(),
        )
