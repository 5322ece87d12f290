"""Exact duplicate removal on normalised text, across all sources.

Key: xxh3-128 of the text with every whitespace run collapsed to one space (so documents that
differ only in line breaks or indentation are the same document).

Keep rule (deterministic, recorded in the manifest): among documents with the same key, keep
the one with the lowest ``(source priority, ingest order)``; source priority comes from the
config (``priority`` on a source, lower wins; default = position in the config). Every dropped
document names the kept document in ``duplicate_of``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import pyarrow as pa
import xxhash

from filters.analysis import TEXTS, BatchAnalysis
from filters.base import DECISION_SCHEMA, GlobalStage, decision_table
from filters.columns import map_distinct

KEY_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("order", pa.int64()),
        pa.field("priority", pa.int64()),
        pa.field("hash", pa.binary(16)),
    ]
)


def text_key(text: str) -> bytes:
    """xxh3-128 of the text with every whitespace run one space and none at either end.

    ``" ".join(text.split())`` is ``re.sub(r"\\s+", " ", text).strip()``: ``split()``, ``strip()`` and the
    regex's ``\\s`` take the same 29 characters for whitespace (``str.isspace``), at 2.4× less
    CPU than the regex (0.25 against 0.61 CPU-s for bench/e2e.py's 20 MB corpus).

    >>> text_key(" a\\t b\\n") == text_key("a b") == xxhash.xxh3_128_digest(b"a b")
    True
    """
    return xxhash.xxh3_128_digest(" ".join(text.split()).encode("utf-8"))


@lru_cache(maxsize=1)
def _other_space() -> np.ndarray:
    """True at the code points ``str.split()`` splits on, but for U+0020 (all 28 are below U+3001;
    every code point past U+3000 is looked up at U+3001)."""
    table = np.array([chr(c).isspace() for c in range(0x3002)], dtype=bool)
    table[0x20] = False
    return table


def collapsible(texts: list[str]) -> np.ndarray:
    """Where :func:`text_key`'s collapse can change the text: a whitespace character other than
    U+0020, two U+0020 in a row, or one at either end. Elsewhere ``" ".join(text.split())`` is the
    text itself, so its key is the hash of its bytes — found over the batch's code points with
    numpy instead of a split and a join per text (on bench/e2e.py's 20 MB corpus 11,175 of
    190,205 normalised texts need it; see :meth:`ExactDedup.keys_shared`).

    >>> collapsible(["a b", "a  b", " a", "a\\n", "", "가\\u3000나"]).tolist()
    [False, True, True, True, False, True]
    """
    n = len(texts)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    cps = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    space = cps == 0x20
    bad = _other_space()[np.minimum(cps, 0x3001)]
    bad[:-1] |= space[:-1] & space[1:]  # a pair crossing into the next text: this one ends with a space
    out = np.zeros(n, dtype=bool)
    full = np.flatnonzero(lengths)
    if full.size:
        starts = (np.cumsum(lengths) - lengths)[full]
        out[full] = np.logical_or.reduceat(bad, starts) | space[starts] | space[starts + lengths[full] - 1]
    return out


def text_keys(texts: list[str]) -> bytes:
    """:func:`text_key` of every text, concatenated (16 bytes each)."""
    digest = xxhash.xxh3_128_digest
    slow = collapsible(texts)
    if not slow.any():
        return b"".join([digest(t.encode("utf-8")) for t in texts])
    return b"".join([text_key(t) if s else digest(t.encode("utf-8")) for t, s in zip(texts, slow.tolist())])


class ExactDedup(GlobalStage):
    name = "exact_dedup"
    version = 1

    def keys(self, batch: pa.RecordBatch) -> pa.Table:
        return self.keys_shared(batch, BatchAnalysis())

    def keys_shared(self, batch: pa.RecordBatch, shared: BatchAnalysis) -> pa.Table:
        texts = shared.get(TEXTS, batch)  # after normalize in the same segment: the strings it built
        prio = self.context.source_priority
        hashes = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(texts), [None, pa.py_buffer(text_keys(texts))])
        return pa.table(
            {
                "id": batch.column("id"),
                "order": batch.column("order"),
                "priority": map_distinct(batch.column("source_id"), lambda s: prio.get(s, 0), pa.int64()),
                "hash": hashes,
            },
            schema=KEY_SCHEMA,
        )

    def decide(self, keys: Iterable[pa.Table], grouped: Iterable[pa.Table] | None = None) -> pa.Table:
        table = pa.concat_tables([k.select(KEY_SCHEMA.names) for k in keys] or [KEY_SCHEMA.empty_table()])
        n = table.num_rows
        if n == 0:
            return DECISION_SCHEMA.empty_table()
        # The fixed-size hashes' buffer read as it is: to_pylist made a bytes object per row (0.23
        # CPU-s per 190,000 keys, ~1 s of the decide on the full e2e corpus, 2026-12-07).
        hashes = table.column("hash").combine_chunks()
        halves = np.frombuffer(hashes.buffers()[1], dtype=">u8", count=2 * n, offset=hashes.offset * 16).reshape(n, 2)
        order = table.column("order").to_numpy()
        priority = table.column("priority").to_numpy()
        # Sort by hash, then by keep-rule key; the first row of each hash group is its keeper.
        idx = np.lexsort((order, priority, halves[:, 1], halves[:, 0]))
        h0, h1 = halves[idx, 0], halves[idx, 1]
        first = np.ones(n, dtype=bool)
        first[1:] = (h0[1:] != h0[:-1]) | (h1[1:] != h1[:-1])
        group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        dup_pos = np.flatnonzero(~first)
        if dup_pos.size == 0:
            return DECISION_SCHEMA.empty_table()
        ids = table.column("id")
        dropped = ids.take(pa.array(idx[dup_pos]))
        keepers = ids.take(pa.array(idx[group_start[dup_pos]]))
        return decision_table(
            {
                "id": dropped,
                "reason": pa.array(["exact_duplicate"] * dup_pos.size, pa.string()),
                "duplicate_of": keepers,
                "cluster_id": keepers,
            }
        )
