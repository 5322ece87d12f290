"""Shingling and MinHash signatures (datasketch ``affine32``, vectorised) and LSH band keys: step (a), per batch."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.columns import map_distinct, to_arrow
from filters.minhash_dedup.compiled import kernels
from filters.minhash_dedup.hashes import U64, _K, fmix32, fmix64
from filters.minhash_dedup.options import MinHashOptions
from filters.minhash_dedup.sketches import sketch_of


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
        return _ngrams(*self._word_tokens(texts), self.opts.word_n)

    def _word_tokens(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """One hash per word (runs between dropped characters) and the number of words per document."""
        low, keep, lengths = self._normalised(texts)
        n = len(texts)
        doc = np.repeat(np.arange(n), lengths)
        prev_keep = np.concatenate([[False], keep[:-1]])
        prev_doc = np.concatenate([[-1], doc[:-1]])
        start = keep & (~prev_keep | (prev_doc != doc))
        kept_pos = np.flatnonzero(keep)
        word_starts = np.flatnonzero(start[kept_pos])  # positions within the kept array
        if word_starts.size == 0:
            return np.zeros(0, dtype=U64), np.zeros(n, dtype=np.int64)
        word_of = np.cumsum(start[kept_pos]) - 1
        pos_in_word = np.arange(kept_pos.size) - word_starts[word_of]
        v = fmix64(low[kept_pos].astype(U64) + pos_in_word.astype(U64) * _K[0])
        words = fmix64(np.add.reduceat(v, word_starts))
        per_doc = np.bincount(doc[kept_pos[word_starts]], minlength=n)
        return words, per_doc

    def signatures(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """MinHash signatures (n_docs × num_perm, uint32) of a string column: the compiled
        kernels when numba is installed and the work pays for loading them (:mod:`.compiled`;
        character shingles read from the column's UTF-8 bytes), else the numpy path. Both equal
        :func:`signatures` of :meth:`batch`."""
        opts = self.opts
        compiled = kernels(column.nbytes)
        if compiled is None:
            texts = _texts(column)
            return np.concatenate([signatures(*self.batch(texts[a:b]), opts.num_perm, opts.seed) for a, b in text_chunks(texts)])
        a, b = permutations(opts.num_perm, opts.seed)
        arr = _utf8(column)
        out = np.empty((len(arr), opts.num_perm), dtype=np.uint32)
        if opts.shingle == "char":
            char_mode = np.ones(len(arr), dtype=bool)
        elif opts.shingle == "word":
            char_mode = np.zeros(len(arr), dtype=bool)
        else:
            char_mode = self.modes(_texts(arr))
        chars = np.flatnonzero(char_mode)
        if chars.size:
            sub = arr if chars.size == len(arr) else arr.take(to_arrow(chars, pa.int64()))
            data, offsets = _utf8_buffers(sub)
            part = out if chars.size == len(arr) else np.empty((chars.size, opts.num_perm), dtype=np.uint32)
            compiled.utf8_char_signatures(data, offsets, self.lower, self.drop, opts.char_n, a, b, part)
            if part is not out:
                out[chars] = part
        words = np.flatnonzero(~char_mode)
        if words.size:
            part = np.empty((words.size, opts.num_perm), dtype=np.uint32)
            for lo, hi in text_chunks(texts := _texts(arr.take(to_arrow(words, pa.int64())))):
                tokens, per_doc = self._word_tokens(texts[lo:hi])
                compiled.token_signatures(tokens, per_doc.astype(np.int64), opts.word_n, a, b, part[lo:hi])
            out[words] = part
        return out


def _utf8(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One string (or large string) array without nulls (a null text shingles as an empty one)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.large_string())
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    return arr


def _utf8_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes and the int64 offsets of a string array (zero-copy bytes)."""
    width = 8 if pa.types.is_large_string(arr.type) else 4
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if width == 8 else np.int32, count=len(arr) + 1, offset=arr.offset * width)
    data = arr.buffers()[2]
    return (np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)), offsets.astype(np.int64)


def _texts(column: pa.Array | pa.ChunkedArray) -> list[str]:
    return [t if t is not None else "" for t in column.to_pylist()]


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
    compiled = kernels(sig.nbytes)
    if compiled is not None:
        out = np.empty((n, bands), dtype=U64)
        compiled.band_keys(np.ascontiguousarray(sig, dtype=np.uint32), bands, rows, out)
        return out
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


def warm_kernels(opts: MinHashOptions, shingler: Shingler, with_signature: bool = True) -> None:
    """Import the compiled kernels and load each one the keys step calls (numba loads a cached
    kernel on its first call with given argument types): the keys of a two-document batch, one of
    each shingle mode. Nothing is kept.

    On a run over more than :data:`compiled.WORTH_IT` bytes the stage's ``setup()`` does this in
    the process that built the stage — the local engine's main process, before it forks its
    workers: numba's import and the kernels' load (~1.2 CPU-s, 2026-12-07) are then paid once
    instead of once in each worker that computes keys. The band-key partitioning is not loaded:
    the deciding process (forked before this) loads it itself when it decides."""
    import filters.minhash_dedup.kernels as compiled_kernels

    if not compiled_kernels.AVAILABLE:
        return
    texts = pa.array(["가나다라마바사 아자차카", "a few english words to shingle"], pa.string())
    batch = pa.record_batch({"id": pa.array(["a", "b"]), "text": texts})
    signature_keys(batch, opts, shingler, {}, with_signature=with_signature)  # the run's keys: their kernels only


def signature_keys(
    batch: pa.RecordBatch, opts: MinHashOptions, shingler: Shingler, source_priority: dict[str, int], with_signature: bool = True
) -> pa.Table:
    """(a) Map side for one batch: signature, band keys, and what the keep rule needs."""
    n = batch.num_rows
    bands, rows = opts.lsh_params()
    sig = shingler.signatures(batch.column("text"))
    keys = band_keys(sig, bands, rows)
    names = batch.schema.names
    if "source_id" in names and source_priority:
        priority = map_distinct(batch.column("source_id"), lambda s: source_priority.get(s, 0), pa.int64())
    else:
        priority = to_arrow(np.zeros(n, dtype=np.int64), pa.int64())
    if "domain" in names:
        threshold = map_distinct(batch.column("domain"), lambda d: float(opts.threshold_of([d])[0]), pa.float64())
    else:
        threshold = to_arrow(np.full(n, opts.threshold), pa.float64())
    quality = batch.column("quality_score").cast(pa.float64()) if "quality_score" in names else pa.nulls(n, pa.float64())
    cols = {
        "id": batch.column("id"),
        "order": batch.column("order") if "order" in names else to_arrow(np.arange(n, dtype=np.int64), pa.int64()),
        "priority": priority,
        "quality": quality,
        "length": pc.utf8_length(batch.column("text")).cast(pa.int64()),
        "threshold": threshold,
        "bands": fixed_rows(keys),
    }
    if with_signature:  # for the release index and signature-only verification
        cols["signature"] = fixed_rows(sig)
    if opts.verify == "exact":
        # One byte of each permutation's minimum (b-bit MinHash): 1/4 of a signature, enough to
        # discard most candidate pairs before the exact Jaccard (see :func:`sketch_estimate`).
        # Keys that carry the signature leave it out: the decide derives it from the signature
        # (the same bytes) for the candidate pairs' documents only. Every key byte is written by a
        # unit, read back, copied by the engine's rechunk and written again to the decide's side
        # file: 128 of the ~1,150 bytes a document (2026-12-08).
        if not with_signature:
            cols["sketch"] = fixed_rows(sketch_of(sig))
        cols["text"] = batch.column("text")
    return pa.table(cols)
