"""Measure a command as the benches need it: wall time, CPU time and peak memory of its whole tree.

RSS is sampled every 50 ms and summed over the process tree; so is PSS (proportional set size: a
page shared by k processes counts 1/k in each), since the sum of RSS counts a forked worker's
pages shared with its parent twice. CPU is the larger of ``wait4``'s (the child plus the workers
it waited for) and the sum over every process seen in the tree of its last sampled user + sys
time — datatrove's workers are children of a forkserver, which ``wait4`` does not count. CPU
seconds are what a shared machine's load distorts least, so the benches quote them first. Each
process's own peak RSS/PSS and CPU are kept too (``worker_peaks``: the main process against
its largest child), to show where the memory is.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field


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
    #: the largest RSS / PSS each process of the tree reached (pid → bytes): where the memory is
    peak_rss_by_pid: dict[int, int] = field(default_factory=dict)
    peak_pss_by_pid: dict[int, int] = field(default_factory=dict)
    root_pid: int = 0
    cpu_by_pid: dict[int, float] = field(default_factory=dict)
    #: each process's RSS at the moment the summed RSS peaked (pid → bytes): who the peak is
    rss_at_peak: dict[int, int] = field(default_factory=dict)

    def at_peak(self) -> str:
        """Who the summed RSS peak is: the main process's RSS and the others', at that moment."""
        others = sorted((v for p, v in self.rss_at_peak.items() if p != self.root_pid), reverse=True)
        return f"main {self.rss_at_peak.get(self.root_pid, 0) / 1e6:.0f} + others {[round(v / 1e6) for v in others]} MB"

    def worker_peaks(self) -> tuple[int, int, int, int]:
        """(root RSS, root PSS, largest child RSS, largest child PSS) at their own peaks."""
        kids = [p for p in self.peak_rss_by_pid if p != self.root_pid]
        return (self.peak_rss_by_pid.get(self.root_pid, 0), self.peak_pss_by_pid.get(self.root_pid, 0),
                max((self.peak_rss_by_pid[p] for p in kids), default=0), max((self.peak_pss_by_pid[p] for p in kids), default=0))


def measure_command(cmd: list[str], cwd: str | None = None, env: dict[str, str] | None = None, interval: float = 0.05) -> Measured:
    import psutil

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        peak = [0, 0]
        cpu_seen: dict[int, float] = {}
        rss_by: dict[int, int] = {}
        pss_by: dict[int, int] = {}
        at_peak: dict[int, int] = {}
        done = threading.Event()

        def sample() -> None:
            p = psutil.Process(proc.pid)
            while not done.is_set():
                try:
                    rss = pss = 0
                    now: dict[int, int] = {}
                    for q in [p, *p.children(recursive=True)]:
                        try:
                            with q.oneshot():
                                mem = q.memory_full_info()
                                t = q.cpu_times()
                        except psutil.Error:
                            continue
                        rss, pss = rss + mem.rss, pss + mem.pss
                        now[q.pid] = mem.rss
                        cpu_seen[q.pid] = t.user + t.system
                        rss_by[q.pid] = max(rss_by.get(q.pid, 0), mem.rss)
                        pss_by[q.pid] = max(pss_by.get(q.pid, 0), mem.pss)
                    if rss > peak[0]:
                        at_peak.clear()
                        at_peak.update(now)
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
            peak_rss_by_pid=rss_by,
            peak_pss_by_pid=pss_by,
            root_pid=proc.pid,
            cpu_by_pid=dict(cpu_seen),
            rss_at_peak=dict(at_peak),
        )
