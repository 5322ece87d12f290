"""Near-duplicate removal with MinHash LSH, across sources and against earlier releases.

The pieces, each a small function a distributed engine can reuse:

(a) :func:`signature_keys` — per batch: normalise, shingle, MinHash signature, LSH band keys.
(b) :func:`candidate_pairs` — group band keys (an iterable of tables, so an engine can replace
    only the shuffle) into candidate pairs, partition by partition.
(c) :func:`verify_pairs` + :func:`clusters_and_keepers` — exact-Jaccard verification, connected
    components, and the keeper rule.

Signatures are datasketch's ``affine32`` scheme, vectorised: for a shingle hash ``h`` (the low
32 bits of :meth:`Shingler.hashes`) each permutation ``k`` is ``a_k * fmix32(h) + b_k mod 2^32``
with ``(a, b)`` drawn by ``datasketch.MinHash(num_perm, seed)``. So
``datasketch.LeanMinHash(seed=seed, hashvalues=sig, scheme="affine32")`` is a valid sketch that
``MinHashLSH`` can index and query, and ``MinHash(num_perm, seed, hashfunc=lambda h: int(h) &
0xFFFFFFFF).update_batch(Shingler(...).hashes(text))`` gives exactly our signature.

Shingles (see docs/minhash_dedup.md for the measurements behind the defaults): text is
lower-cased and every whitespace and punctuation character removed (so re-wrapping, ``1\\.``
vs ``1.`` and ``ㆍ`` vs ``·`` change nothing). The default, character 5-grams of that string
for every language, measured best on ``neardup.jsonl`` (Korean and English); ``shingle: word``
uses word n-grams (words = runs between whitespace/punctuation) and ``shingle: auto`` picks
characters for Hangul/CJK-heavy documents and words for the rest.

LSH: ``bands × rows = num_perm`` chosen from the threshold so that pairs at the threshold are
found with probability ≥ 0.99 (the S-curve ``P(J) = 1 - (1 - J^rows)^bands``); candidates are
then verified on the exact Jaccard of their shingle sets, so the S-curve's false positives cost
only verification time.

Keep rule among a cluster's documents: lowest source priority (config ``priority``), then
highest ``quality_score`` (if that column exists), then longest text, then smallest id. Every
dropped document names its cluster and the kept document in the ledger.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
import time
import unicodedata
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from filters.base import DECISION_SCHEMA, GlobalStage, Release
from filters.columns import to_arrow
from corpusmill_base.errors import ConfigError

U64 = np.uint64
_K = [U64(x) for x in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD)]
REASON = "near_duplicate"
REASON_RELEASED = "duplicate_of_released"
INDEX_PATH = "minhash/index.parquet"


class MinHashOptions(BaseModel):
    """Stage options (config ``- {name: minhash_dedup, threshold: 0.6, …}``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(default=0.6, gt=0, lt=1, description="exact Jaccard of shingle sets at or above which documents are near-duplicates")
    domain_thresholds: dict[str, float] = Field(
        default_factory=lambda: {"legal": 0.85},
        description="stricter (or looser) thresholds by document domain; a pair uses the higher of its two documents'",
    )
    num_perm: int = Field(default=128, ge=16, le=1024)
    seed: int = Field(default=1, ge=0)
    bands: int | None = Field(default=None, ge=1, description="LSH bands; default derived from threshold")
    rows: int | None = Field(default=None, ge=1, description="rows per band; default derived from threshold")
    shingle: Literal["auto", "char", "word"] = "char"
    char_n: int = Field(default=5, ge=1, le=16)
    word_n: int = Field(default=3, ge=1, le=16)
    cjk_ratio: float = Field(default=0.3, ge=0, le=1, description="auto: character shingles when this share of letters is Hangul/CJK/kana")
    verify: Literal["exact", "signature", "none"] = "exact"
    released: list[str] = Field(default_factory=list, description="manifest IDs of earlier releases to deduplicate against")
    catalog: str | None = Field(default=None, description="catalog holding the released manifests (default: the usual resolution)")
    memory_budget_mb: float | None = Field(default=None, gt=0, description="band keys above this spill to partitioned Parquet")
    partitions: int = Field(default=64, ge=1, le=4096, description="band-key partitions; grouping holds about 2 of them in memory at a time")
    write_index: bool = True

    def lsh_params(self) -> tuple[int, int]:
        if self.bands and self.rows:
            if self.bands * self.rows > self.num_perm:
                raise ConfigError(f"minhash_dedup: bands × rows = {self.bands * self.rows} exceeds num_perm {self.num_perm}")
            return self.bands, self.rows
        return lsh_params(min([self.threshold, *self.domain_thresholds.values()]), self.num_perm)

    def threshold_of(self, domains: list[str | None]) -> np.ndarray:
        if not self.domain_thresholds:
            return np.full(len(domains), self.threshold)
        return np.fromiter(map(self.domain_thresholds.get, domains, repeat(self.threshold)), np.float64, count=len(domains))

    def shingle_view(self) -> dict[str, Any]:
        """What determines signatures (must match between a run and the releases it is compared with)."""
        return {
            "scheme": "affine32",
            "num_perm": self.num_perm,
            "seed": self.seed,
            "shingle": self.shingle,
            "char_n": self.char_n,
            "word_n": self.word_n,
            "cjk_ratio": self.cjk_ratio,
            "normalisation": "lower+drop-space-punct@1",
        }


def parse_options(options: dict[str, Any] | None) -> MinHashOptions:
    try:
        return MinHashOptions.model_validate(options or {})
    except ValidationError as e:
        msgs = [f"{'.'.join(str(p) for p in err['loc']) or '(options)'}: {'unknown option' if err['type'] == 'extra_forbidden' else err['msg']}" for err in e.errors()]
        raise ConfigError("minhash_dedup: invalid options: " + "; ".join(msgs)) from None


def candidate_probability(j: float, bands: int, rows: int) -> float:
    """The LSH S-curve: probability that a pair with Jaccard ``j`` shares at least one band."""
    return 1.0 - (1.0 - j**rows) ** bands


def lsh_params(threshold: float, num_perm: int, recall_at_threshold: float = 0.99) -> tuple[int, int]:
    """Largest ``rows`` (fewest false candidates) whose S-curve still finds pairs at ``threshold``.

    >>> lsh_params(0.6, 128)
    (42, 3)
    """
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if bands < 1:
            break
        if candidate_probability(threshold, bands, rows) >= recall_at_threshold:
            best = (bands, rows)
    return best


# --------------------------------------------------------------------------- hashing helpers


def fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> U64(33))
    h = h * U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> U64(33))
    h = h * U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> U64(33))


def fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters (same generator, same order)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


@lru_cache(maxsize=1)
def _char_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BMP lookup tables: lower-case map, drop mask (whitespace/punctuation), CJK mask."""
    lower = np.arange(0x10000, dtype=np.uint32)
    drop = np.zeros(0x10000, dtype=bool)
    cjk = np.zeros(0x10000, dtype=bool)
    for cp in range(0x10000):
        ch = chr(cp)
        low = ch.lower()
        if len(low) == 1:
            lower[cp] = ord(low)
        cat = unicodedata.category(ch)
        if cat[0] in "ZP" or cat == "Cc" or cat == "Cf":
            drop[cp] = True
    drop[0] = False  # the sentinel of empty documents
    for lo, hi in ((0x1100, 0x11FF), (0x3040, 0x30FF), (0x3130, 0x318F), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF)):
        cjk[lo : hi + 1] = True
    return lower, drop, cjk


# --------------------------------------------------------------------------- (a) shingles, signatures, band keys


class Shingler:
    """Vectorised shingle hashes (uint64) for a batch of texts; documents stay contiguous."""

    def __init__(self, opts: MinHashOptions):
        self.opts = opts
        self.lower, self.drop, self.cjk = _char_tables()

    def _codepoints(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        joined = "".join(texts)
        cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        return cps, lengths

    def modes(self, texts: list[str]) -> np.ndarray:
        """True where a document uses character shingles."""
        if self.opts.shingle != "auto":
            return np.full(len(texts), self.opts.shingle == "char")
        cps, lengths = self._codepoints(texts)
        doc = np.repeat(np.arange(len(texts)), lengths)
        bmp = cps < 0x10000
        idx = np.where(bmp, cps, 0)
        letters = bmp & ~self.drop[idx] & ((cps >= 0x80) | ((cps | 0x20) - 0x61 < 26))
        cjk = bmp & self.cjk[idx]
        n_let = np.bincount(doc, weights=letters, minlength=len(texts))
        n_cjk = np.bincount(doc, weights=cjk, minlength=len(texts))
        return n_cjk >= self.opts.cjk_ratio * np.maximum(n_let, 1)

    def batch(self, texts: list[str], char_mode: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Shingle hashes of every document and the number per document (always ≥ 1)."""
        if char_mode is None:
            char_mode = self.modes(texts)
        n = len(texts)
        counts = np.zeros(n, dtype=np.int64)
        parts: dict[bool, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for mode in (True, False):
            idx = np.flatnonzero(char_mode == mode)
            if idx.size == 0:
                continue
            sub = [texts[i] for i in idx]
            h, c = self._char(sub) if mode else self._word(sub)
            parts[mode] = (idx, h, c)
            counts[idx] = c
        if len(parts) == 1:
            (_, h, _), = parts.values()
            return h, counts
        # Interleave the two modes back into document order.
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        out = np.empty(int(counts.sum()), dtype=U64)
        for idx, h, c in parts.values():
            pos = np.repeat(starts[idx], c) + _ranks(c)
            out[pos] = h
        return out, counts

    def hashes(self, text: str) -> np.ndarray:
        """Distinct shingle hashes of one text (what exact verification compares)."""
        h, _ = self.batch([text])
        return np.unique(h)

    def _normalised(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cps, lengths = self._codepoints(texts)
        bmp = cps < 0x10000
        idx = np.where(bmp, cps, 0)
        low = np.where(bmp, self.lower[idx], cps)
        keep = ~(bmp & self.drop[idx])
        return low, keep, lengths

    def _char(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        low, keep, lengths = self._normalised(texts)
        doc = np.repeat(np.arange(len(texts)), lengths)
        tokens = low[keep].astype(U64)
        per_doc = np.bincount(doc[keep], minlength=len(texts))
        return _ngrams(tokens, per_doc, self.opts.char_n)

    def _word(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        low, keep, lengths = self._normalised(texts)
        n = len(texts)
        doc = np.repeat(np.arange(n), lengths)
        prev_keep = np.concatenate([[False], keep[:-1]])
        prev_doc = np.concatenate([[-1], doc[:-1]])
        start = keep & (~prev_keep | (prev_doc != doc))
        kept_pos = np.flatnonzero(keep)
        word_starts = np.flatnonzero(start[kept_pos])  # positions within the kept array
        if word_starts.size == 0:
            return _ngrams(np.zeros(0, dtype=U64), np.zeros(n, dtype=np.int64), self.opts.word_n)
        word_of = np.cumsum(start[kept_pos]) - 1
        pos_in_word = np.arange(kept_pos.size) - word_starts[word_of]
        v = fmix64(low[kept_pos].astype(U64) + pos_in_word.astype(U64) * _K[0])
        words = fmix64(np.add.reduceat(v, word_starts))
        per_doc = np.bincount(doc[kept_pos[word_starts]], minlength=n)
        return _ngrams(words, per_doc, self.opts.word_n)


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for every count c, concatenated."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total) - np.repeat(starts, counts)


def _ngrams(tokens: np.ndarray, per_doc: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the n-grams of each document's tokens; a document shorter than n is one shingle
    (its missing tokens hash as 0)."""
    empty = per_doc == 0
    if empty.any():  # an empty document is one sentinel token, so it still has a signature
        at = (np.cumsum(per_doc) - per_doc)[empty]
        tokens = np.insert(tokens, at, U64(0))
        per_doc = np.where(empty, 1, per_doc)
    doc_start = np.cumsum(per_doc) - per_doc
    count = np.maximum(per_doc - n + 1, 1)
    pos = np.repeat(doc_start, count) + _ranks(count)
    short = np.repeat(per_doc < n, count)
    h = np.empty(pos.size, dtype=U64)
    # Every window of n consecutive tokens of the whole batch, on shifted views (in place, no
    # gathers); the windows that start a document's n-gram are then picked out.
    m = tokens.size - n + 1
    if m > 0 and not short.all():
        tok = tokens + U64(1)
        win = np.full(m, U64(n), dtype=U64)
        tmp = np.empty(m, dtype=U64)
        for j in range(n):
            win ^= tok[j : j + m]
            win *= _K[j % len(_K)]
            np.right_shift(win, U64(31), out=tmp)
            win ^= tmp
        h[~short] = win[pos[~short]]
    if short.any():
        h[short] = _short_ngrams(tokens, pos[short], np.repeat(doc_start + per_doc, count)[short], n)
    return fmix64(h), count


def _short_ngrams(tokens: np.ndarray, pos: np.ndarray, end: np.ndarray, n: int) -> np.ndarray:
    """The one shingle of each document shorter than n (same mixing, tokens past its end = 0)."""
    h = np.full(pos.size, U64(n), dtype=U64)
    for j in range(n):
        at = pos + j
        tok = np.where(at < end, tokens[np.minimum(at, tokens.size - 1)] + U64(1), U64(0))
        h = (h ^ tok) * _K[j % len(_K)]
        h ^= h >> U64(31)
    return h


def signatures(hashes: np.ndarray, counts: np.ndarray, num_perm: int, seed: int, chunk: int = 4096) -> np.ndarray:
    """MinHash signatures (n_docs × num_perm, uint32), identical to datasketch's affine32 scheme.

    Shingles are processed in cache-sized chunks laid out permutation-major, so every
    multiply-add and the per-document minimum run over contiguous memory.
    """
    a, b = permutations(num_perm, seed)
    hv = fmix32((hashes & U64(0xFFFFFFFF)).astype(np.uint32))
    n = counts.size
    doc_start = np.cumsum(counts) - counts
    total = hv.size
    # Segments = pieces of documents inside fixed-size chunks of shingles.
    cuts = np.union1d(doc_start, np.arange(0, total, chunk))
    seg_doc = np.searchsorted(doc_start, cuts, side="right") - 1
    seg_min = np.empty((num_perm, cuts.size), dtype=np.uint32)
    bounds = np.searchsorted(cuts, np.arange(0, total + chunk, chunk))
    a_col, b_col = a[:, None], b[:, None]
    for c in range(bounds.size - 1):
        s0, s1 = bounds[c], bounds[c + 1]
        if s0 == s1:
            continue
        lo = cuts[s0]
        hi = cuts[s1] if s1 < cuts.size else total
        block = a_col * hv[None, lo:hi]
        block += b_col
        seg_min[:, s0:s1] = np.minimum.reduceat(block, cuts[s0:s1] - lo, axis=1)
    if cuts.size == n:  # no document crosses a chunk boundary
        return np.ascontiguousarray(seg_min.T)
    first_seg = np.searchsorted(seg_doc, np.arange(n), side="left")
    return np.ascontiguousarray(np.minimum.reduceat(seg_min, first_seg, axis=1).T)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per (document, band); the band number is mixed in."""
    n = sig.shape[0]
    x = sig[:, : bands * rows].reshape(n, bands, rows).astype(U64)
    h = np.broadcast_to(fmix64(np.arange(bands, dtype=U64) + U64(1)), (n, bands)).copy()
    for t in range(rows):
        h = fmix64(h ^ (x[:, :, t] + (U64(t) << U64(32))))
    return h


KEY_FIELDS = [
    pa.field("id", pa.string()),
    pa.field("order", pa.int64()),
    pa.field("priority", pa.int64()),
    pa.field("quality", pa.float64()),
    pa.field("length", pa.int64()),
    pa.field("threshold", pa.float64()),
]


def fixed_rows(matrix: np.ndarray) -> pa.Array:
    """A 2-d numpy array as one fixed-size binary value per row. Keys and side files carry
    signatures, sketches and band keys this way: Parquet writes a fixed-size *list* value by
    value with repetition levels (~30× slower to write and read than the flat bytes)."""
    matrix = np.ascontiguousarray(matrix)
    width = matrix.shape[1] * matrix.itemsize
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), matrix.shape[0], [None, pa.py_buffer(matrix)])


def _matrix(column: pa.ChunkedArray | pa.Array, width: int, dtype=np.uint32) -> np.ndarray:
    """Rows of ``width`` values from a fixed-size binary (see :func:`fixed_rows`) or list column."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_fixed_size_binary(arr.type):
        size = np.dtype(dtype).itemsize * width
        flat = np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr) * width, offset=arr.offset * size)
        return flat.reshape(len(arr), width)
    return arr.values.to_numpy().astype(dtype, copy=False).reshape(len(arr), width)


def text_chunks(texts: list[str], max_chars: int = 1 << 20) -> list[tuple[int, int]]:
    """Consecutive ranges of ``texts`` of about ``max_chars`` characters: shingling makes a few
    int64 temporaries per character, so this bounds a worker's memory whatever the batch."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    ends = np.cumsum(lengths)
    out, start = [], 0
    while start < len(texts):
        stop = max(int(np.searchsorted(ends, (ends[start - 1] if start else 0) + max_chars, side="right")), start + 1)
        out.append((start, stop))
        start = stop
    return out or [(0, 0)]


def signature_keys(
    batch: pa.RecordBatch, opts: MinHashOptions, shingler: Shingler, source_priority: dict[str, int], with_signature: bool = True
) -> pa.Table:
    """(a) Map side for one batch: signature, band keys, and what the keep rule needs."""
    texts = batch.column("text").to_pylist()
    n = len(texts)
    bands, rows = opts.lsh_params()
    sig = np.concatenate([signatures(*shingler.batch(texts[a:b]), opts.num_perm, opts.seed) for a, b in text_chunks(texts)])
    keys = band_keys(sig, bands, rows)
    names = batch.schema.names
    sources = batch.column("source_id").to_pylist() if "source_id" in names else [None] * n
    quality = batch.column("quality_score").cast(pa.float64()) if "quality_score" in names else pa.nulls(n, pa.float64())
    cols = {
        "id": batch.column("id"),
        "order": batch.column("order") if "order" in names else to_arrow(np.arange(n, dtype=np.int64), pa.int64()),
        "priority": to_arrow(np.fromiter(map(source_priority.get, sources, repeat(0)), np.int64, count=n), pa.int64()),
        "quality": quality,
        "length": pc.utf8_length(batch.column("text")).cast(pa.int64()),
        "threshold": to_arrow(opts.threshold_of(batch.column("domain").to_pylist() if "domain" in names else [None] * n), pa.float64()),
        "bands": fixed_rows(keys),
    }
    if with_signature:  # for the release index and signature-only verification
        cols["signature"] = fixed_rows(sig)
    if opts.verify == "exact":
        # One byte of each permutation's minimum (b-bit MinHash): 1/4 of a signature, enough to
        # discard most candidate pairs before the exact Jaccard (see :func:`sketch_estimate`).
        cols["sketch"] = fixed_rows(sketch_of(sig))
        cols["text"] = batch.column("text")
    return pa.table(cols)


# --------------------------------------------------------------------------- (b) band keys → candidate pairs

BAND_SCHEMA = pa.schema([pa.field("key", pa.uint64()), pa.field("doc", pa.uint32())])


def sorted_unique(x: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting (numpy 2's hash-based unique is several times slower on uint64)."""
    x = np.sort(x)
    if x.size < 2:
        return x
    keep = np.empty(x.size, dtype=bool)
    keep[0] = True
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


def pairs_from_band_table(table: pa.Table) -> np.ndarray:
    """Candidate pairs (packed ``lo << 32 | hi``) among documents sharing a band key.

    Each group links its members to its smallest document (a star, not all k² pairs). Key and
    document are packed into one uint64 (the key's low bits give way to the document number)
    and sorted once; a truncated-key collision only adds a candidate that verification rejects.
    """
    if table.num_rows < 2:
        return np.zeros(0, dtype=U64)
    key = table.column("key").to_numpy()
    doc = table.column("doc").to_numpy().astype(U64)
    bits = U64(max(int(doc.max()).bit_length(), 1))
    packed = np.sort(((key >> bits) << bits) | doc)
    group = packed >> bits
    first = np.empty(packed.size, dtype=bool)
    first[0] = True
    np.not_equal(group[1:], group[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    sizes = np.diff(np.append(starts, packed.size))
    multi = sizes > 1  # only keys held by two or more documents matter
    if not multi.any():
        return np.zeros(0, dtype=U64)
    mask = (U64(1) << bits) - U64(1)
    docs = packed & mask
    heads = np.repeat(docs[starts[multi]], sizes[multi])
    members = docs[np.repeat(multi, sizes)]
    link = members != heads
    return sorted_unique((heads[link] << U64(32)) | members[link])


def partition_of(keys: np.ndarray, partitions: int) -> np.ndarray:
    """The partition of each band key (bits well away from those the grouping sort relies on)."""
    return ((keys >> U64(40)) % U64(partitions)).astype(np.uint16)


SHUFFLE_SCHEMA = pa.schema([pa.field("partition", pa.uint16()), pa.field("key", pa.uint64()), pa.field("order", pa.int64())])
PAIR_SCHEMA = pa.schema([pa.field("a", pa.int64()), pa.field("b", pa.int64())])


def shuffle_table(keys: np.ndarray, orders: np.ndarray, partitions: int) -> pa.Table:
    """Band keys as engine shuffle rows: ``partition, key, order`` (``order`` = document ordinal)."""
    return pa.table(
        [to_arrow(partition_of(keys, partitions), pa.uint16()), to_arrow(keys, pa.uint64()), to_arrow(orders, pa.int64())],
        schema=SHUFFLE_SCHEMA,
    )


def pairs_of_partition(rows: pa.Table) -> pa.Table:
    """Candidate pairs (``a``, ``b`` document ordinals) among one partition's shuffle rows: the
    same star grouping as :func:`pairs_from_band_table`, on dense local numbers."""
    orders = rows.column("order").to_numpy()
    if orders.size < 2:
        return PAIR_SCHEMA.empty_table()
    uniq, local = np.unique(orders, return_inverse=True)
    packed = pairs_from_band_table(pa.table({"key": rows.column("key"), "doc": to_arrow(local.astype(np.uint32), pa.uint32())}))
    lo, hi = unpack(packed)
    return pa.table([to_arrow(uniq[lo], pa.int64()), to_arrow(uniq[hi], pa.int64())], schema=PAIR_SCHEMA)


def pairs_by_doc_number(grouped: Iterable[pa.Table], orders: np.ndarray, n: int) -> np.ndarray:
    """Engine-grouped pairs of ordinals (:func:`pairs_of_partition`) as packed pairs of document
    numbers: ``orders[i]`` is document ``i``'s ordinal; released row ``r`` (ordinal ``-1 - r``)
    is document ``n + r``."""
    # A group links its members to its smallest ordinal; the driver's grouping links them to the
    # first document. They agree (same pairs, same clusters) because keys arrive in ingest order.
    if orders.size > 1 and not (orders[1:] > orders[:-1]).all():
        raise ValueError("minhash_dedup: an engine shuffle needs the keys in ascending ordinal order")

    def number(o: np.ndarray) -> np.ndarray:
        out = np.empty(o.size, dtype=U64)
        rel = o < 0
        out[rel] = (n - 1 - o[rel]).astype(U64)
        out[~rel] = np.searchsorted(orders, o[~rel]).astype(U64)
        return out

    parts = []
    for t in grouped:
        if t.num_rows:
            a, b = number(t.column("a").to_numpy()), number(t.column("b").to_numpy())
            parts.append((np.minimum(a, b) << U64(32)) | np.maximum(a, b))
    return sorted_unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=U64)


def candidate_pairs(band_tables: Iterable[pa.Table], threads: int = 1) -> np.ndarray:
    """(b) Group band keys per table (each table = one partition holding all rows of its keys).

    With ``threads`` > 1, that many partitions are grouped at once (numpy's sort releases the
    GIL); partitions are read one at a time, so at most ``threads`` are in memory."""
    if threads <= 1:
        parts = [pairs_from_band_table(t) for t in band_tables]
    else:
        parts, pending = [], deque()
        with ThreadPoolExecutor(threads) as pool:
            for t in band_tables:
                pending.append(pool.submit(pairs_from_band_table, t))
                if len(pending) >= threads:
                    parts.append(pending.popleft().result())
            parts += [f.result() for f in pending]
    parts = [p for p in parts if p.size]
    return sorted_unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=U64)


class BandSpill:
    """Band keys, partitioned by key as they arrive: in memory up to a budget, then on disk.

    Rows are 12 bytes (uint64 key, uint32 document). Grouping happens one partition at a time,
    so its working memory is a partition's, whether or not anything was spilled.
    """

    def __init__(self, budget_bytes: int, partitions: int, workdir: str | None):
        self.budget = budget_bytes
        self.partitions = partitions
        self.workdir = workdir
        self.buffer: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(partitions)]
        self.buffered = 0
        self.dir: Path | None = None
        self.writers: list[pq.ParquetWriter] = []
        self.spilled_rows = 0

    def add(self, keys: np.ndarray, doc: np.ndarray) -> None:
        doc = doc.astype(np.uint32)
        part = partition_of(keys, self.partitions)
        order = np.argsort(part, kind="stable")  # radix sort on uint16
        bounds = np.searchsorted(part[order], np.arange(self.partitions + 1))
        keys, doc = keys[order], doc[order]
        for p in range(self.partitions):
            lo, hi = bounds[p], bounds[p + 1]
            if hi > lo:
                self.buffer[p].append((keys[lo:hi].copy(), doc[lo:hi].copy()))
        self.buffered += keys.nbytes + doc.nbytes
        if self.buffered > self.budget:
            self._flush()

    def _flush(self) -> None:
        if self.dir is None:
            base = self.workdir or tempfile.gettempdir()
            os.makedirs(base, exist_ok=True)
            self.dir = Path(tempfile.mkdtemp(prefix="minhash-bands-", dir=base))
            self.writers = [
                # Random keys: dictionaries, statistics and compression cost time and save nothing.
                pq.ParquetWriter(self.dir / f"part-{p:04d}.parquet", BAND_SCHEMA, compression="none", use_dictionary=False, write_statistics=False)
                for p in range(self.partitions)
            ]
        for p in range(self.partitions):
            if self.buffer[p]:
                t = self._table(self.buffer[p])
                self.writers[p].write_table(t)
                self.spilled_rows += t.num_rows
                self.buffer[p] = []
        self.buffered = 0

    @staticmethod
    def _table(parts: list[tuple[np.ndarray, np.ndarray]]) -> pa.Table:
        keys, docs = np.concatenate([k for k, _ in parts]), np.concatenate([d for _, d in parts])
        return pa.table([to_arrow(keys, pa.uint64()), to_arrow(docs, pa.uint32())], schema=BAND_SCHEMA)

    @property
    def spilled(self) -> bool:
        return self.dir is not None

    def tables(self) -> Iterator[pa.Table]:
        """One table per partition (all rows with the same key land in the same partition)."""
        if self.spilled:
            self._flush()
            for w in self.writers:
                w.close()
        for p in range(self.partitions):
            if self.spilled:
                yield pq.read_table(self.dir / f"part-{p:04d}.parquet")
            elif self.buffer[p]:
                parts, self.buffer[p] = self.buffer[p], []
                yield self._table(parts)

    def cleanup(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- (c) verify, cluster, keep


class ShingleSets:
    """Distinct 32-bit shingle hashes of some documents, flat and sorted per document."""

    def __init__(self, docs: np.ndarray, hashes: np.ndarray, counts: np.ndarray):
        order = np.argsort(docs, kind="stable")
        self.docs = docs[order]
        local = np.empty(docs.size, dtype=U64)
        local[order] = np.arange(docs.size, dtype=U64)
        key = sorted_unique((np.repeat(local, counts) << U64(32)) | (hashes & U64(0xFFFFFFFF)))
        self.values = (key & U64(0xFFFFFFFF)).astype(np.uint32)
        self.offsets = np.searchsorted((key >> U64(32)).astype(np.int64), np.arange(docs.size + 1))

    @classmethod
    def of_texts(cls, docs: np.ndarray, texts: list[str], shingler: Shingler, chunk_chars: int = 1 << 20) -> ShingleSets:
        """Shingle sets of many documents, shingled a few MB of text at a time (bounded memory)."""
        order = np.argsort(docs, kind="stable")
        parts: list[ShingleSets] = []
        start = 0
        while start < order.size:
            stop, size = start, 0
            while stop < order.size and (stop == start or size < chunk_chars):
                size += len(texts[order[stop]])
                stop += 1
            idx = order[start:stop]
            h, counts = shingler.batch([texts[i] for i in idx])
            parts.append(cls(docs[idx], h, counts))
            start = stop
        out = cls.__new__(cls)
        out.docs = np.concatenate([p.docs for p in parts]) if parts else np.zeros(0, dtype=np.int64)
        out.values = np.concatenate([p.values for p in parts]) if parts else np.zeros(0, dtype=np.uint32)
        base = np.cumsum([0] + [p.values.size for p in parts])
        out.offsets = np.concatenate([[0]] + [p.offsets[1:] + b for p, b in zip(parts, base[:-1])]) if parts else np.zeros(1, dtype=np.int64)
        return out

    def has(self, docs: np.ndarray) -> np.ndarray:
        i = np.minimum(np.searchsorted(self.docs, docs), max(self.docs.size - 1, 0))
        return (self.docs.size > 0) & (self.docs[i] == docs)

    def jaccard(self, x: np.ndarray, y: np.ndarray, max_items: int = 1 << 19) -> np.ndarray:
        """Exact Jaccard of the sets of documents ``x[i]`` and ``y[i]`` (vectorised, in chunks)."""
        xi, yi = np.searchsorted(self.docs, x), np.searchsorted(self.docs, y)
        sx = self.offsets[xi + 1] - self.offsets[xi]
        sy = self.offsets[yi + 1] - self.offsets[yi]
        inter = np.zeros(x.size, dtype=np.int64)
        total = np.cumsum(sx + sy)
        start = 0
        while start < x.size:
            stop = max(int(np.searchsorted(total, (total[start - 1] if start else 0) + max_items, side="right")), start + 1)
            sl = slice(start, stop)
            starts = np.stack([self.offsets[xi[sl]], self.offsets[yi[sl]]], axis=1).ravel()
            cnts = np.stack([sx[sl], sy[sl]], axis=1).ravel()
            vals = self.values[np.repeat(starts, cnts) + _ranks(cnts)].astype(U64)
            pair = np.repeat(np.arange(stop - start, dtype=U64), (sx[sl] + sy[sl]))
            key = np.sort((pair << U64(32)) | vals)
            dup = key[1:] == key[:-1]
            inter[sl] = np.bincount((key[1:][dup] >> U64(32)).astype(np.int64), minlength=stop - start)
            start = stop
        union = sx + sy - inter
        return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def unpack(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (pairs >> U64(32)).astype(np.int64), (pairs & U64(0xFFFFFFFF)).astype(np.int64)


def verify_pairs(
    pairs: np.ndarray,
    threshold: float | np.ndarray,
    sets: ShingleSets | None = None,
    signatures_of: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The candidate pairs whose Jaccard reaches ``threshold`` (a number, or one per pair), and
    their Jaccard: exact where both documents have shingle sets, else estimated from signatures
    (``(doc numbers sorted, signature rows)``)."""
    if pairs.size == 0:
        return pairs, np.zeros(0)
    lo, hi = unpack(pairs)
    threshold = np.broadcast_to(np.asarray(threshold, dtype=np.float64), pairs.shape)
    jac = np.zeros(pairs.size)
    exact = np.zeros(pairs.size, dtype=bool) if sets is None else sets.has(lo) & sets.has(hi)
    if exact.any():
        jac[exact] = sets.jaccard(lo[exact], hi[exact])
    rest = ~exact
    if rest.any():
        if signatures_of is None:
            raise ValueError("pairs without shingle sets need signatures to verify")
        docs, sig = signatures_of
        a = sig[np.searchsorted(docs, lo[rest])]
        b = sig[np.searchsorted(docs, hi[rest])]
        jac[rest] = (a == b).mean(axis=1)
    ok = jac >= threshold
    return pairs[ok], jac[ok]


#: Candidates whose sketch estimate is this many standard errors below their threshold skip the
#: exact Jaccard: a pair really at the threshold falls that low with probability ~1e-7.
PREFILTER_SIGMAS = 5.0


def sketch_of(sig: np.ndarray) -> np.ndarray:
    """One byte per MinHash value, from a mix of all 32 bits: the low bits of an affine
    permutation depend only on the low bits of the shingle hash, and the high bits of a minimum
    are mostly zero, so neither byte of the value itself is a fair b-bit hash."""
    return fmix32(sig).astype(np.uint8)


def sketch_estimate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Jaccard estimated from two rows of one-byte MinHash values (b-bit MinHash, b = 8): a
    byte matches with probability ``J + (1 - J) / 256``."""
    match = (a == b).mean(axis=1)
    return (match - 1 / 256) / (1 - 1 / 256)


def _margin(threshold: np.ndarray, num_perm: int) -> np.ndarray:
    t = np.asarray(threshold, dtype=np.float64)
    return PREFILTER_SIGMAS * np.sqrt(t * (1 - t) / num_perm) + 0.01


def prefilter_floor(threshold: np.ndarray, num_perm: int) -> np.ndarray:
    """The sketch estimate below which a pair cannot plausibly reach ``threshold``."""
    return np.asarray(threshold, dtype=np.float64) - _margin(threshold, num_perm)


def prefilter_ceiling(threshold: np.ndarray, num_perm: int) -> np.ndarray:
    """The sketch estimate above which a pair cannot plausibly be below ``threshold``."""
    return np.asarray(threshold, dtype=np.float64) + _margin(threshold, num_perm)


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected component label of each of ``n`` documents (labels are the smallest member)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if pairs.size == 0:
        return np.arange(n)
    lo, hi = unpack(pairs)
    graph = coo_matrix((np.ones(lo.size, dtype=np.int8), (lo, hi)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # Relabel by smallest member so labels do not depend on scipy's traversal order.
    smallest = np.full(labels.max() + 1, n, dtype=np.int64)
    np.minimum.at(smallest, labels, np.arange(n))
    return smallest[labels]


def clusters_and_keepers(docs: pa.Table, labels: np.ndarray) -> pa.Table:
    """Keeper per cluster: released first, then priority ↑, quality ↓, length ↓, id ↑.

    ``docs`` has ``id, priority, quality, length, released``; returns, for every document in a
    cluster of two or more, ``doc`` (row), ``keeper`` (row) and whether the keeper is released.
    """
    sizes = np.bincount(labels, minlength=len(labels))
    multi = np.flatnonzero(sizes[labels] > 1)
    if multi.size == 0:
        return pa.table({"doc": pa.array([], pa.int64()), "keeper": pa.array([], pa.int64())})
    quality = docs.column("quality").to_numpy(zero_copy_only=False)
    quality = np.where(np.isnan(quality.astype(np.float64)), -np.inf, quality)
    rows = to_arrow(multi, pa.int64())
    t = pa.table(
        {
            "label": to_arrow(labels[multi], pa.int64()),
            "released": pc.invert(docs.column("released").take(rows)),
            "priority": docs.column("priority").take(rows),
            "neg_quality": to_arrow(-quality[multi], pa.float64()),
            "neg_length": pc.negate(docs.column("length").take(rows)),
            "id": docs.column("id").take(rows),
            "doc": rows,
        }
    )
    t = t.sort_by([("label", "ascending"), ("released", "ascending"), ("priority", "ascending"), ("neg_quality", "ascending"), ("neg_length", "ascending"), ("id", "ascending")])
    lab = t.column("label").to_numpy()
    doc = t.column("doc").to_numpy()
    first = np.ones(lab.size, dtype=bool)
    first[1:] = lab[1:] != lab[:-1]
    keeper = doc[np.maximum.accumulate(np.where(first, np.arange(lab.size), 0))]
    return pa.table({"doc": to_arrow(doc, pa.int64()), "keeper": to_arrow(keeper, pa.int64())})


# --------------------------------------------------------------------------- released index


INDEX_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("order", pa.int64())])


def load_released(opts: MinHashOptions, releases: dict[str, Release]) -> tuple[pa.Table, dict[str, list[str]]]:
    """Signature index rows (``id``, ``signature``, ``manifest``) of the released manifests, read
    from the files the runner resolved (``StageContext.releases``)."""
    if not opts.released:
        return pa.schema([pa.field("id", pa.string())]).empty_table(), {}
    import fsspec

    tables, shard_urls = [], {}
    for mid in opts.released:
        release = releases.get(mid)
        if release is None:
            raise ConfigError(f"minhash_dedup: released manifest {mid} was not resolved for this run")
        url = release.indexes.get(INDEX_PATH)
        if url is None:
            raise ConfigError(f"minhash_dedup: released manifest {mid} has no MinHash index (was it built with minhash_dedup?)")
        with fsspec.open(url, "rb") as f:
            table = pq.read_table(f)
        meta = json_meta(table.schema)
        if meta != opts.shingle_view():
            raise ConfigError(f"minhash_dedup: released manifest {mid} was indexed with {meta}, this run uses {opts.shingle_view()}; they cannot be compared")
        tables.append(table.select(["id", "signature"]).append_column("manifest", pa.array([mid] * table.num_rows, pa.string())))
        shard_urls[mid] = list(release.shards)
    return pa.concat_tables(tables), shard_urls


def json_meta(schema: pa.Schema) -> dict[str, Any]:
    import json

    raw = (schema.metadata or {}).get(b"corpusmill.minhash")
    return json.loads(raw) if raw else {}


def released_texts(shard_urls: dict[str, list[str]], ids: list[str]) -> dict[str, str]:
    import pyarrow.dataset as pads

    out: dict[str, str] = {}
    want = pa.array(sorted(set(ids)), pa.string())
    for urls in shard_urls.values():
        if not urls:
            continue
        t = pads.dataset(urls, format="parquet").to_table(columns=["id", "text"], filter=pc.field("id").isin(want))
        out.update(zip(t.column("id").to_pylist(), t.column("text").to_pylist()))
    return out


# --------------------------------------------------------------------------- the stage


def _cpus() -> int:
    """CPUs this process may run on (the affinity mask on Linux, the machine's count elsewhere)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def release_free_memory() -> None:
    """Hand freed heap memory back to the OS. The grouping threads sort in their own malloc
    arenas, which glibc keeps after the arrays are freed (hundreds of MB of RSS for nothing)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def side_rows(path: Path, columns: list[str], docs: np.ndarray, batch_rows: int = 65536) -> Iterator[tuple[np.ndarray, pa.RecordBatch]]:
    """``columns`` of the side file's rows for ``docs`` (sorted document numbers), a batch at a
    time. ``decide`` writes document ``i`` as row ``i``, so rows are taken by position."""
    start = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=columns or ["doc"], use_threads=False):
        end = start + batch.num_rows
        lo, hi = np.searchsorted(docs, [start, end])
        if hi > lo:
            yield docs[lo:hi], batch.take(to_arrow(docs[lo:hi] - start, pa.int64()))
        start = end


class _Clock:
    def __init__(self, into: dict[str, float]):
        self.into, self.t = into, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.into[name] = round(now - self.t, 3)
        self.t = now


class MinHashDedup(GlobalStage):
    name = "minhash_dedup"
    version = 2  # 2: candidate pairs settled on one-byte sketches where clear (detail "jaccard ~x")
    shuffle_only_columns = ("bands",)  # 42 uint64 per document

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.opts = parse_options(self.options)
        self.opts.lsh_params()
        self.shingler: Shingler | None = None
        self.stats: dict[str, int] = {}
        self.timings: dict[str, float] = {}  # seconds per part of decide (not in the manifest)
        self._index_path: Path | None = None
        self._released_cache: tuple[pa.Table, dict[str, list[str]]] | None = None

    def setup(self) -> None:
        self.shingler = Shingler(self.opts)

    def wanted_releases(self) -> tuple[list[str], str | None]:
        return list(self.opts.released), self.opts.catalog

    def describe(self) -> dict[str, Any]:
        bands, rows = self.opts.lsh_params()
        return {"name": self.name, "version": self.version, "options": self.options, "lsh": {"bands": bands, "rows": rows}}

    @property
    def _keeps_signatures(self) -> bool:
        return self.opts.verify == "signature" or bool(self.opts.released) or (self.opts.write_index and bool(self.context.workdir))

    def keys(self, batch: pa.RecordBatch) -> pa.Table:
        self.ensure_setup()
        return signature_keys(batch, self.opts, self.shingler, self.context.source_priority, self._keeps_signatures)

    # Engine shuffle (Ray groupby, Beam GroupByKey): band keys → partitions → candidate pairs.
    def shuffle_rows(self, keys: pa.Table) -> pa.Table:
        bands = _matrix(keys.column("bands"), self.opts.lsh_params()[0], U64)
        orders = np.repeat(keys.column("order").to_numpy(), bands.shape[1])
        return shuffle_table(bands.ravel(), orders, self.opts.partitions)

    def outside_shuffle_rows(self) -> pa.Table | None:
        """The released documents' band keys; their ordinals are ``-1 - row`` of the index."""
        released, _ = self._released()
        m = released.num_rows
        if m == 0:
            return None
        rk = self._released_band_keys(released)
        return shuffle_table(rk.ravel(), np.repeat(-1 - np.arange(m, dtype=np.int64), rk.shape[1]), self.opts.partitions)

    def _released_band_keys(self, released: pa.Table) -> np.ndarray:
        return band_keys(_matrix(released.column("signature"), self.opts.num_perm), *self.opts.lsh_params())

    def reduce_partition(self, rows: pa.Table) -> pa.Table:
        return pairs_of_partition(rows)

    def _released(self) -> tuple[pa.Table, dict[str, list[str]]]:
        if self._released_cache is None:
            self._released_cache = load_released(self.opts, self.context.releases)
        return self._released_cache

    def _budget(self) -> int:
        if self.opts.memory_budget_mb is not None:
            return int(self.opts.memory_budget_mb * 1024 * 1024)
        return int(self.context.memory_budget_bytes) // 128  # 16 MiB of band keys (≈ 1.4 M rows) by default

    def decide(self, keys: Iterable[pa.Table], grouped: Iterable[pa.Table] | None = None) -> pa.Table:
        """``grouped``: the engine's :meth:`reduce_partition` outputs (candidate pairs by ordinal);
        without it the band keys are grouped here, spilling past the memory budget."""
        self.ensure_setup()
        opts = self.opts
        workdir = self.context.workdir or tempfile.gettempdir()
        os.makedirs(workdir, exist_ok=True)
        spill = BandSpill(self._budget(), opts.partitions, workdir)
        small: list[pa.Table] = []
        side_path = self._side_path()
        side_writer = None
        n = 0
        keep_index = False
        clock = _Clock(self.timings)
        try:
            for k in keys:
                if k.num_rows == 0:
                    continue
                docs = np.arange(n, n + k.num_rows, dtype=np.int64)
                if grouped is None:
                    bands = _matrix(k.column("bands"), opts.lsh_params()[0], U64)
                    spill.add(bands.ravel(), np.repeat(docs, bands.shape[1]))
                # take() copies: a key table unpickled from a worker is one buffer, text included,
                # and a zero-copy select would keep all of it alive.
                small.append(k.select([f.name for f in KEY_FIELDS]).take(to_arrow(np.arange(k.num_rows, dtype=np.int64), pa.int64())))
                side_cols = [c for c in ("id", "order", "signature", "sketch", "text") if c in k.column_names]
                side = k.select(side_cols).append_column("doc", to_arrow(docs, pa.int64()))
                if side_writer is None:
                    side_writer = pq.ParquetWriter(side_path, side.schema, compression="lz4", use_dictionary=False, write_statistics=False)
                side_writer.write_table(side)
                n += k.num_rows
            if side_writer is not None:
                side_writer.close()
            clock.lap("keys")
            released, shard_urls = self._released()
            m = released.num_rows
            table = pa.concat_tables(small) if small else pa.schema(KEY_FIELDS).empty_table()
            if grouped is not None:
                pairs = pairs_by_doc_number(grouped, table.column("order").to_numpy(), n)
            else:
                if m:
                    rk = self._released_band_keys(released)
                    spill.add(rk.ravel(), np.repeat(np.arange(n, n + m, dtype=np.int64), rk.shape[1]))
                pairs = candidate_pairs(spill.tables(), threads=min(4, _cpus()))
                release_free_memory()
            clock.lap("group")
            self.stats = {"documents": n, "released": m, "candidate_pairs": int(pairs.size), "spilled_band_rows": spill.spilled_rows}
            if m:  # pairs among released documents are not this run's business
                pairs = pairs[unpack(pairs)[0] < n]
            self.stats["distinct_ids"] = int(pc.count_distinct(table.column("id")).as_py()) if n else 0
            thresholds = np.concatenate([table.column("threshold").to_numpy(), np.zeros(m)])
            if opts.verify == "none":
                verified, jac, estimated = pairs, np.full(pairs.size, np.nan), np.zeros(pairs.size, dtype=bool)
            else:
                verified, jac, estimated = self._verify(pairs, side_path, n, released, shard_urls, thresholds)
            self.stats["verified_pairs"] = int(verified.size)
            release_free_memory()
            clock.lap("verify")
            decisions = self._decisions(table, released, verified, jac, estimated, n, m)
            clock.lap("keep")
            keep_index = opts.write_index and bool(self.context.workdir) and side_writer is not None
            self._index_path = side_path if keep_index else None
            return decisions
        finally:
            spill.cleanup()
            if not keep_index:
                side_path.unlink(missing_ok=True)

    def _verify(self, pairs, side_path: Path, n: int, released: pa.Table, shard_urls, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The candidate pairs at or above their threshold, their Jaccard, and whether it is an
        estimate. With exact verification, the one-byte sketches first settle the clear cases
        (see :data:`PREFILTER_SIGMAS`) and only the rest are compared shingle set to shingle set.

        ``thresholds`` has one entry per document (released ones 0: the new document's counts)."""
        opts = self.opts
        sure, sure_jac = np.zeros(0, dtype=U64), np.zeros(0)
        if pairs.size and opts.verify == "exact":
            pairs, est = self._prefilter(pairs, side_path, n, released, thresholds)
            lo, hi = unpack(pairs)
            certain = est >= prefilter_ceiling(np.maximum(thresholds[lo], thresholds[hi]), opts.num_perm)
            sure, sure_jac = pairs[certain], np.minimum(est[certain], 1.0)
            pairs = pairs[~certain]
            self.stats["sketch_verified_pairs"] = int(sure.size)
        verified, jac = self._verify_exact(pairs, side_path, n, released, shard_urls, thresholds)
        estimated = np.concatenate([np.ones(sure.size, dtype=bool), np.full(verified.size, opts.verify != "exact")])
        verified, jac = np.concatenate([sure, verified]), np.concatenate([sure_jac, jac])
        order = np.argsort(verified, kind="stable")
        return verified[order], jac[order], estimated[order]

    def _verify_exact(self, pairs: np.ndarray, side_path: Path, n: int, released: pa.Table, shard_urls, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact Jaccard of shingle sets (signature estimate when ``verify: signature``)."""
        opts = self.opts
        if pairs.size == 0:
            return pairs, np.zeros(0)
        involved = sorted_unique(np.concatenate(unpack(pairs)))
        rel = involved[involved >= n]
        sig_docs: list[np.ndarray] = []
        sig_rows: list[np.ndarray] = []
        text_docs: list[np.ndarray] = []
        texts: list[str] = []
        cols = (["signature"] if self._keeps_signatures else []) + (["text"] if opts.verify == "exact" else [])
        for docs, t in side_rows(side_path, cols, involved[involved < n]):
            if "signature" in cols:
                sig_docs.append(docs)
                sig_rows.append(_matrix(t.column("signature"), opts.num_perm))
            if "text" in cols:
                text_docs.append(docs)
                texts += t.column("text").to_pylist()
        if rel.size:
            rows = rel - n
            sig_docs.append(rel)
            sig_rows.append(_matrix(released.column("signature"), opts.num_perm)[rows])
            if opts.verify == "exact":
                ids = released.column("id").take(to_arrow(rows, pa.int64())).to_pylist()
                found = released_texts(shard_urls, ids)
                have = [(d, found[i]) for d, i in zip(rel.tolist(), ids) if i in found]
                text_docs.append(np.array([d for d, _ in have], dtype=np.int64))
                texts += [t for _, t in have]
        sets = None
        if texts:
            sets = ShingleSets.of_texts(np.concatenate(text_docs), texts, self.shingler)
        signatures_of = None
        if sig_docs:
            docs = np.concatenate(sig_docs)
            order = np.argsort(docs)
            signatures_of = (docs[order], np.concatenate(sig_rows)[order])
        lo, hi = unpack(pairs)
        return verify_pairs(pairs, np.maximum(thresholds[lo], thresholds[hi]), sets, signatures_of)

    def _prefilter(self, pairs: np.ndarray, side_path: Path, n: int, released: pa.Table, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The candidate pairs that can reach their threshold, judged on one-byte sketches, and
        their sketch estimates."""
        involved = sorted_unique(np.concatenate(unpack(pairs)))
        own = int(np.searchsorted(involved, n))
        # Rows arrive in the order of ``involved``: filled in place, one copy of the sketches.
        sketch = np.empty((involved.size, self.opts.num_perm), dtype=np.uint8)
        filled = 0
        for docs, t in side_rows(side_path, ["sketch"], involved[:own]):
            sketch[filled : filled + t.num_rows] = _matrix(t.column("sketch"), self.opts.num_perm, np.uint8)
            filled += t.num_rows
        if filled != own:
            raise RuntimeError(f"minhash_dedup: side file {side_path} lacks {own - filled} documents")
        if own < involved.size:
            sketch[own:] = sketch_of(_matrix(released.column("signature"), self.opts.num_perm)[involved[own:] - n])
        docs_all = involved
        lo, hi = unpack(pairs)
        floor = prefilter_floor(np.maximum(thresholds[lo], thresholds[hi]), self.opts.num_perm)
        est = np.empty(pairs.size)
        step = 1 << 16
        for i in range(0, pairs.size, step):
            a = sketch[np.searchsorted(docs_all, lo[i : i + step])]
            b = sketch[np.searchsorted(docs_all, hi[i : i + step])]
            est[i : i + step] = sketch_estimate(a, b)
        keep = est >= floor
        self.stats["prefiltered_pairs"] = int((~keep).sum())
        del sketch
        release_free_memory()
        return pairs[keep], est[keep]

    def _decisions(self, table: pa.Table, released: pa.Table, verified: np.ndarray, jac: np.ndarray, estimated: np.ndarray, n: int, m: int) -> pa.Table:
        docs = table.select(["id", "priority", "quality", "length"]).append_column("released", to_arrow(np.zeros(n, dtype=bool), pa.bool_()))
        if m:
            rel = pa.table(
                {
                    "id": released.column("id"),
                    "priority": pa.nulls(m, pa.int64()).fill_null(-(1 << 62)),
                    "quality": pa.nulls(m, pa.float64()),
                    "length": to_arrow(np.zeros(m, dtype=np.int64), pa.int64()),
                    "released": to_arrow(np.ones(m, dtype=bool), pa.bool_()),
                }
            )
            docs = pa.concat_tables([docs, rel.cast(docs.schema)])
        labels = components(n + m, verified)
        # Each document's highest verified Jaccard (and whether it is an estimate), for the ledger.
        best = np.full(n + m, -1.0)
        best_estimated = np.zeros(n + m, dtype=bool)
        if verified.size and not np.isnan(jac).all():
            ends = np.concatenate(unpack(verified))
            js, est = np.concatenate([jac, jac]), np.concatenate([estimated, estimated])
            order = np.lexsort((est, -js, ends))  # per document: highest, exact before estimated
            first = np.ones(order.size, dtype=bool)
            first[1:] = ends[order][1:] != ends[order][:-1]
            top = order[first]
            best[ends[top]], best_estimated[ends[top]] = js[top], est[top]
        kk = clusters_and_keepers(docs, labels)
        doc = kk.column("doc").to_numpy()
        keeper = kk.column("keeper").to_numpy()
        drop = (doc != keeper) & (doc < n)
        doc, keeper = doc[drop], keeper[drop]
        order = np.argsort(doc)
        doc, keeper = doc[order], keeper[order]
        ids = docs.column("id")
        keeper_ids = ids.take(to_arrow(keeper, pa.int64()))
        reasons = np.where(keeper >= n, REASON_RELEASED, REASON)
        self.stats["dropped"] = int(doc.size)
        self.stats["dropped_released"] = int((keeper >= n).sum())
        return pa.table(
            {
                "id": ids.take(to_arrow(doc, pa.int64())),
                "reason": pa.array(reasons.tolist(), pa.string()),
                "duplicate_of": keeper_ids,
                "cluster_id": keeper_ids,
                "detail": pa.array(
                    [(f"jaccard ~{j:.2f}" if e else f"jaccard {j:.2f}") if j >= 0 else None for j, e in zip(best[doc].tolist(), best_estimated[doc].tolist())],
                    pa.string(),
                ),
            },
            schema=DECISION_SCHEMA,
        )

    def _side_path(self) -> Path:
        """Per-document side file of ``decide``. With a run work directory its name is fixed, so a
        resumed run (whose decision unit was already done) still finds it for ``release_files``."""
        if self.context.workdir:
            return Path(self.context.workdir) / f"{self.name}-{self.version}-docs.parquet"
        fd, name = tempfile.mkstemp(prefix="minhash-docs-", suffix=".parquet")
        os.close(fd)
        return Path(name)

    def release_files(self, out_dir: Path, kept_ids: pa.Array) -> list[dict[str, Any]]:
        """Write the signature index of the released (kept) documents for later incremental runs."""
        if self._index_path is None and self.opts.write_index and self.context.workdir:
            self._index_path = self._side_path()  # decided in an earlier (interrupted) process
        if self._index_path is None or not self._index_path.exists():
            return []
        import json

        t = pq.read_table(self._index_path, columns=["id", "order", "signature"])
        t = t.filter(pc.is_in(t.column("id"), value_set=kept_ids)).sort_by([("order", "ascending")])
        # The published index keeps a list<uint32> per document: what a datasketch user reads.
        sig = _matrix(t.column("signature"), self.opts.num_perm)
        t = t.set_column(2, "signature", pa.FixedSizeListArray.from_arrays(to_arrow(sig.ravel(), pa.uint32()), self.opts.num_perm))
        meta = {b"corpusmill.minhash": json.dumps(self.opts.shingle_view(), sort_keys=True).encode()}
        t = t.replace_schema_metadata(meta)
        path = out_dir / INDEX_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(t, path, compression="zstd")
        # The side file stays in the run's work directory (removed with it after success), so a
        # run killed after this point still finds it when resumed.
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return [{"path": INDEX_PATH, "sha256": digest, "bytes": path.stat().st_size, "rows": t.num_rows}]


def estimate_memory_per_document(opts: MinHashOptions) -> int:
    """Bytes of RAM per document that do not spill: id/order/priority/quality/length (~64 B)."""
    bands, _ = opts.lsh_params()
    return 64 + math.ceil(bands * 16 / max(opts.partitions, 1))
