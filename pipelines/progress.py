"""Progress and log output: bars on a terminal, quiet log lines otherwise.

Quarantine messages name the file, the place and the error, never record text.
"""

from __future__ import annotations

import logging
import os
import sys
import time

log = logging.getLogger("corpusmill")

#: Libraries that log at INFO on every command (Presidio's "Using device of type: cpu", Ray's
#: start-up and per-operator lines, Beam's pipeline options): shown only with ``-v``.
NOISY_LOGGERS = ("presidio-analyzer", "presidio-anonymizer", "ray", "ray.data", "ray.train", "apache_beam",
                 "spacy", "trafilatura", "htmldate", "courlan", "datatrove", "datasets", "fsspec", "urllib3",
                 "filelock", "matplotlib", "numexpr", "mlcroissant", "absl",
                 "py.warnings")  # library warnings (spaCy, Presidio, pandas deprecations), routed through logging


class BarAwareHandler(logging.StreamHandler):
    """Log lines printed *above* any live tqdm bar (``tqdm.write`` clears and redraws it) instead of over it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = self.format(record)
            tqdm = getattr(sys.modules.get("tqdm"), "tqdm", None)  # not imported: no bar is live (light install)
            if tqdm is not None and getattr(tqdm, "_instances", None):
                tqdm.write(msg, file=self.stream)
            else:
                self.stream.write(msg + self.terminator)
            self.flush()
        except Exception:  # noqa: BLE001 — a log line must never end a run (logging's own rule)
            self.handleError(record)


def configure_logging(verbose: bool = False, quiet: bool = False, stream=None) -> None:
    """Our messages at INFO (ERROR with ``-q``, DEBUG with ``-v``); third-party libraries at
    ERROR unless ``-v``. Environment switches for Ray are set here, before Ray is imported."""
    stream = stream or sys.stderr
    handler = BarAwareHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    if not verbose:
        # Libraries reset their own levels on import (filters/html.py keeps trafilatura at ERROR,
        # which still printed "ERROR empty HTML tree" per page): only our logger reaches stderr.
        handler.addFilter(lambda r: r.name == "corpusmill" or r.name.startswith("corpusmill.") or r.levelno >= logging.CRITICAL)
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, BarAwareHandler):
            root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.captureWarnings(True)
    log.setLevel(logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO)
    third = logging.DEBUG if verbose else logging.ERROR
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(third)
    if not verbose:
        os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")
        os.environ.setdefault("RAY_LOGGER_LEVEL", "error")
        os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")  # ours is the one bar
        # Ray's C++ core worker writes to the driver's stderr itself, past Python logging: a demo run
        # on --engine ray printed "[… E …] core_worker.cc:2465: Actor with class name: 'MapWorker(…)'
        # … has constructor arguments in the object store and max_restarts > 0 …" (2026-12-07). A
        # failure still reaches us as a Python exception; -v shows everything.
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")


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


def _eta(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Meter:
    """Progress of one pass over the data: documents, MB of text, rates and ETA.

    ``advance(n)`` moves towards ``total`` (input bytes while ingesting, documents afterwards);
    ``count(docs, nbytes)`` records documents and text bytes seen (and advances when the unit is
    documents). On a terminal this drives a tqdm bar; otherwise it writes one log line at most
    every ``every`` seconds, and a closing line only if it wrote any (short runs stay silent).
    """

    #: No ETA before this many seconds and this share of the work: the first small file's rate
    #: said "ETA 3h41m" for a demo that took a minute.
    ETA_AFTER_SECONDS = 10.0
    ETA_AFTER_SHARE = 0.05

    def __init__(self, name: str, total: int, unit: str, stream, tty: bool, every: float):
        self.name, self.total, self.unit, self.every = name, max(int(total), 0), unit, every
        self.done = self.docs = self.nbytes = 0
        self.t0 = self.last = time.monotonic()
        self.lines = 0
        self._eta_done, self._eta_at, self._eta_value = -1, 0.0, 0.0
        self._bar = None
        if tty:
            from tqdm import tqdm

            # tqdm's own {remaining} grows while a big file is read (the position moves per file):
            # the bar shows ours (see eta()) in the postfix instead.
            self._bar = tqdm(
                total=self.total or None, desc=name, unit="B" if unit == "B" else " docs", unit_scale=True,
                unit_divisor=1024 if unit == "B" else 1000, file=stream, leave=False, dynamic_ncols=True, mininterval=0.5,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]" if self.total else None,
            )

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left, or None when there is no honest estimate yet.

        Re-estimated (remaining × elapsed / done) only when the position moved; between moves it
        counts down and never grows, and it is withheld at the start (see ETA_AFTER_*).
        """
        now = time.monotonic() if now is None else now
        if not self.total or self.done <= 0 or self.done >= self.total:
            return None
        if now - self.t0 < self.ETA_AFTER_SECONDS or self.done < self.ETA_AFTER_SHARE * self.total:
            return None
        if self.done != self._eta_done:
            self._eta_done, self._eta_at = self.done, now
            self._eta_value = (self.total - self.done) * (now - self.t0) / self.done
        left = self._eta_value - (now - self._eta_at)
        return left if left >= 1 else None

    def _postfix(self) -> str:
        eta = self.eta()
        return f"{self.docs:,} docs, {self.nbytes / 1e6:,.1f} MB" + (f", ETA {_eta(eta)}" if eta is not None else "")

    def advance(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(), refresh=False)
            self._bar.update(n)
        self._tick()

    def count(self, docs: int, nbytes: int = 0) -> None:
        self.docs += docs
        self.nbytes += nbytes
        if self.unit == "doc":
            self.done += docs
            if self._bar is not None:
                self._bar.update(docs)
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(), refresh=False)
        self._tick()

    def counting(self, batches):
        """Pass ``batches`` (tables, or ``(table, drops)`` pairs) through, counting documents and text MB."""
        for item in batches:
            table, drops = item if isinstance(item, tuple) else (item, None)
            text = table.column("text") if "text" in table.column_names else None
            self.count(table.num_rows + (drops.num_rows if drops is not None else 0), text.nbytes if text is not None else 0)
            yield item

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        parts = []
        if self.total:
            parts.append(f"{100 * min(self.done / self.total, 1):.0f}%")
        parts += [f"{self.docs:,} docs", f"{self.nbytes / 1e6:,.1f} MB",
                  f"{self.docs / elapsed:,.0f} docs/s", f"{self.nbytes / 1e6 / elapsed:,.1f} MB/s"]
        eta = self.eta()
        if eta is not None:
            parts.append(f"ETA {_eta(eta)}")
        return f"{self.name}: " + " · ".join(parts)

    def _tick(self) -> None:
        if self._bar is not None:
            return
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.lines += 1
            log.info("%s", self.line())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.lines:
            elapsed = max(time.monotonic() - self.t0, 1e-9)
            log.info("%s: done · %s docs · %.1f MB in %s", self.name, f"{self.docs:,}", self.nbytes / 1e6, _eta(elapsed))


class Progress:
    #: Seconds between progress log lines when not on a terminal ($CORPUSMILL_PROGRESS_SECONDS).
    log_every: float = float(os.environ.get("CORPUSMILL_PROGRESS_SECONDS", "30"))

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

    def meter(self, name: str, total: int, unit: str = "doc") -> Meter:
        """A :class:`Meter` for a pass whose size is ``total`` input bytes (``unit="B"``) or documents."""
        return Meter(name, total, unit, self.stream, self.tty, self.log_every)

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
                log.warning("quarantined %s %s %s: %s", source_id, printable(rel), r["source_locator"], r["detail"])
            elif n == 21:
                log.warning("quarantined %s %s: further records in this file are listed only in the ledger", source_id, printable(rel))


def printable(name: str) -> str:
    """A file name safe for one log line (newlines and other controls escaped)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


def null_progress() -> Progress:
    return Progress(enabled=False)
