"""Progress and log output: bars on a terminal, quiet log lines otherwise.

Quarantine messages name the file, the place and the error, never record text.
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("corpusmill")


class _NullBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class _LogBar:
    """Non-terminal progress: one log line at most every ``every`` seconds."""

    def __init__(self, name: str, total: int, unit: str, every: float = 30.0):
        self.name, self.total, self.unit, self.every = name, total, unit, every
        self.done = 0
        self.t0 = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            rate = self.done / max(now - self.t0, 1e-9)
            eta = (self.total - self.done) / rate if rate and self.total else 0
            log.info("%s: %s/%s %s (%.1f %s/s, ETA %.0fs)", self.name, self.done, self.total, self.unit, rate, self.unit, eta)

    def close(self) -> None:
        pass


class Progress:
    def __init__(self, enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if enabled is None else enabled
        self.quarantined = 0
        self._per_file: dict[tuple[str, str], int] = {}

    def bar(self, name: str, total: int, unit: str = "it"):
        if self.tty:
            from tqdm import tqdm

            return tqdm(
                total=total, desc=name, unit=unit, unit_scale=True, unit_divisor=1024 if unit == "B" else 1000,
                file=self.stream, leave=False, dynamic_ncols=True,
            )
        return _LogBar(name, total, unit)

    def note_issues(self, source_id: str, rel: str, ledger) -> None:
        """Log quarantined records (file, place, error); at most 20 lines per file, then a count."""
        key = (source_id, rel)
        for r in ledger.to_pylist():
            if r["outcome"] != "quarantined":
                continue
            self.quarantined += 1
            n = self._per_file.get(key, 0) + 1
            self._per_file[key] = n
            if n <= 20:
                log.warning("quarantined %s %s %s: %s", source_id, rel, r["source_locator"], r["detail"])
            elif n == 21:
                log.warning("quarantined %s %s: further records in this file are listed only in the ledger", source_id, rel)


def null_progress() -> Progress:
    return Progress(enabled=False)
