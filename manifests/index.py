"""The catalog's embedded SQLite index: manifests, shards, review history and lineage by ID.

The files in the catalog are the truth; the index is what makes listing, state and lineage
queries cheap, and it remembers every review record it has seen (by sha256), so a record
later removed from or rewritten in the catalog is reported even when the remaining chain
would still look consistent.

Where it lives: ``<catalog>/index.sqlite`` for a local catalog; for object storage, a local
file under ``$CORPUSMILL_INDEX_DIR`` (default ``~/.cache/corpusmill/index``) named by the
catalog URL — SQLite needs a local file, and the index can always be rebuilt from the catalog.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from corpusmill_base.errors import CorpusmillError
from corpusmill_base.text import printable

# Under "corpusmill": the CLI shows only our loggers' records (pipelines/progress.py), so a warning
# under this module's own name (`manifests.index`) never reached stderr — the garbage index was
# set aside and rebuilt without the warning docs/reliability.md promised (session 13).
log = logging.getLogger("corpusmill.catalog")

SCHEMA = """
CREATE TABLE IF NOT EXISTS manifests (
    id TEXT PRIMARY KEY, name TEXT, created_at TEXT, documents INTEGER, shards INTEGER,
    predecessor TEXT, content_digest TEXT
);
CREATE TABLE IF NOT EXISTS shards (
    manifest_id TEXT, path TEXT, sha256 TEXT, rows INTEGER, bytes INTEGER,
    PRIMARY KEY (manifest_id, path)
);
CREATE TABLE IF NOT EXISTS unverified (manifest_id TEXT PRIMARY KEY, problem TEXT);
CREATE TABLE IF NOT EXISTS reviews (
    manifest_id TEXT, seq INTEGER, action TEXT, to_state TEXT, reviewer TEXT, time TEXT,
    comment TEXT, successor TEXT, record_sha256 TEXT,
    PRIMARY KEY (manifest_id, seq)
);
"""


def default_index_path(catalog_url: str, local_root: str | None) -> Path:
    if local_root is not None:
        return Path(local_root) / "index.sqlite"
    base = Path(os.environ.get("CORPUSMILL_INDEX_DIR") or Path.home() / ".cache" / "corpusmill" / "index")
    return base / (hashlib.sha256(catalog_url.encode()).hexdigest()[:16] + ".sqlite")


class CatalogIndex:
    def __init__(self, path: Path):
        self.path = Path(path)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._open()
        try:
            with con:
                yield con
        finally:
            con.close()

    def _open(self) -> sqlite3.Connection:
        """Connect, and set aside an index file that is not a usable SQLite database.

        The catalog files are the truth, so a garbage ``index.sqlite`` (it made list, verify,
        pull and review history end in ``sqlite3.DatabaseError``) is moved to
        ``index.sqlite.corrupt-<time>`` and rebuilt from them on the next sync. What the old
        index remembered (review records seen earlier) is lost with it; the signed chain head
        still detects removed records.
        """
        con = sqlite3.connect(self.path, timeout=30)
        try:
            con.executescript(SCHEMA)
            con.execute("SELECT count(*) FROM manifests").fetchone()
            return con
        except sqlite3.DatabaseError as e:
            con.close()
            if "locked" in str(e):
                raise
            aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
            os.replace(self.path, aside)
            log.warning(
                "catalog index %s was not a usable SQLite database (%s); moved to %s and rebuilt from the catalog files",
                self.path, e, aside.name,
            )
            con = sqlite3.connect(self.path, timeout=30)
            con.executescript(SCHEMA)
            return con

    def add_manifest(self, m: dict[str, Any]) -> None:
        with self._db() as con:
            self._insert_manifest(con, m)

    @staticmethod
    def _insert_manifest(con: sqlite3.Connection, m: dict[str, Any]) -> None:
        pred = m.get("predecessor")
        con.execute(
            "INSERT OR IGNORE INTO manifests VALUES (?,?,?,?,?,?,?)",
            (m["id"], m.get("name"), m.get("created_at"), m.get("totals", {}).get("kept"),
             len(m.get("shards", [])), pred, m.get("content_digest")),
        )
        con.executemany(
            "INSERT OR IGNORE INTO shards VALUES (?,?,?,?,?)",
            [(m["id"], s["path"], s["sha256"], s["rows"], s["bytes"]) for s in m.get("shards", [])],
        )

    def add_review(self, mid: str, seq: int, rec: dict[str, Any], sha: str) -> None:
        with self._db() as con:
            self._insert_review(con, mid, seq, rec, sha)

    @staticmethod
    def _insert_review(con: sqlite3.Connection, mid: str, seq: int, rec: dict[str, Any], sha: str) -> None:
        con.execute(
            "INSERT OR IGNORE INTO reviews VALUES (?,?,?,?,?,?,?,?,?)",
            (mid, seq, rec.get("action"), rec.get("to_state"), rec.get("reviewer"), rec.get("time"),
             rec.get("comment"), rec.get("successor"), sha),
        )

    def sync(
        self,
        manifest_ids: list[str],
        load_manifest: Callable[[str], dict[str, Any]],
        review_files: list[str],
        verified_records: Callable[[str], tuple[list[dict[str, Any]], list[str]]],
        record_sha: Callable[[dict[str, Any]], str],
    ) -> None:
        """Add manifests and review records the index has not seen yet (never changes known rows).

        New review records of a manifest are added only when its whole history verifies
        (``verified_records(mid)`` returns the records and the problems found); otherwise the
        manifest is marked unverified until it does.
        """
        with self._db() as con:
            known = {r[0] for r in con.execute("SELECT id FROM manifests")}
            for mid in manifest_ids:
                if mid not in known:
                    # One damaged manifest file must not stop listing, pulling or mixing the others (on
                    # a fresh index every command syncing it was a traceback); it stays out of the
                    # index, so it is tried again next time, and `manifest verify` says what is wrong.
                    try:
                        self._insert_manifest(con, load_manifest(mid))
                    except (CorpusmillError, KeyError, TypeError, AttributeError) as e:
                        log.warning("catalog index: manifest %s left out (%s: %s); `corpusmill manifest verify %s` checks it",
                                    mid, type(e).__name__, printable(str(e)), mid)
            seen = {(r[0], r[1]) for r in con.execute("SELECT manifest_id, seq FROM reviews")}
            changed = set()
            for rel in review_files:
                parts = rel.split("/")
                if len(parts) != 3 or not parts[2].endswith(".json") or not parts[2][:-5].isdigit():
                    continue
                if (parts[1], int(parts[2][:-5])) not in seen:
                    changed.add(parts[1])
            changed |= {r[0] for r in con.execute("SELECT manifest_id FROM unverified")}
            for mid in sorted(changed):
                records, problems = verified_records(mid)
                if problems:
                    con.execute("INSERT OR REPLACE INTO unverified VALUES (?, ?)", (mid, problems[0]))
                    continue
                con.execute("DELETE FROM unverified WHERE manifest_id = ?", (mid,))
                for rec in records:
                    if (mid, rec.get("seq")) not in seen:
                        self._insert_review(con, mid, rec["seq"], rec, record_sha(rec))

    def rows(self) -> list[dict[str, Any]]:
        with self._db() as con:
            con.row_factory = sqlite3.Row
            q = """
            SELECT m.id, m.name, m.created_at, m.documents, m.shards, m.predecessor,
                   CASE WHEN EXISTS (SELECT 1 FROM unverified u WHERE u.manifest_id = m.id) THEN 'unverified'
                   ELSE COALESCE((SELECT to_state FROM reviews r WHERE r.manifest_id = m.id ORDER BY seq DESC LIMIT 1), 'draft')
                   END AS state,
                   (SELECT successor FROM reviews r WHERE r.manifest_id = m.id AND successor IS NOT NULL ORDER BY seq DESC LIMIT 1) AS successor
            FROM manifests m ORDER BY m.created_at, m.id
            """
            return [dict(r) for r in con.execute(q)]

    def successors(self, mid: str) -> list[str]:
        with self._db() as con:
            a = [r[0] for r in con.execute("SELECT id FROM manifests WHERE predecessor = ? ORDER BY created_at, id", (mid,))]
            b = [r[0] for r in con.execute("SELECT successor FROM reviews WHERE manifest_id = ? AND successor IS NOT NULL", (mid,))]
        return sorted(set(a) | set(b))

    def predecessor(self, mid: str) -> str | None:
        with self._db() as con:
            row = con.execute("SELECT predecessor FROM manifests WHERE id = ?", (mid,)).fetchone()
        return row[0] if row else None

    def check_reviews(self, mid: str, shas: list[str]) -> list[str]:
        """Compare the review records now in the catalog with those the index saw before."""
        with self._db() as con:
            known = con.execute(
                "SELECT seq, record_sha256, action, reviewer FROM reviews WHERE manifest_id = ? ORDER BY seq", (mid,)
            ).fetchall()
        problems = []
        for seq, sha, action, reviewer in known:
            if seq >= len(shas):
                problems.append(
                    f"review record {seq:05d} ({action} by {reviewer}) was indexed earlier but is no longer in the catalog (history was removed)"
                )
            elif shas[seq] != sha:
                problems.append(f"review record {seq:05d} ({action} by {reviewer}) differs from the one indexed earlier (history was rewritten)")
        return problems

    def dump(self) -> str:
        return json.dumps(self.rows(), indent=2)
