"""Compiled signature kernels (numba): the same shingles and the same ``affine32`` signatures as
the numpy code in :mod:`.signatures`, bit for bit, in one pass over each document.

Why: the numpy path makes each shingle's 128 permuted values as a block in memory and reduces it
(``a·h + b`` and ``minimum.reduceat`` over cache-sized chunks); that was 16.8 of the 31.5 s of
``corpusmill dedup`` on the 84 MB corpus. Here each shingle's hash is mixed once and folded into
the document's 128 running minima in registers (the loop over permutations vectorises), and
character shingles are read straight from the Arrow column's UTF-8 bytes (no Python strings, no
UTF-32 copy). The kernels release the GIL, so the CLI runs them on threads without pickling.

numba is optional (``pipeline`` extra): without it :data:`AVAILABLE` is false and the numpy path
runs. The tests compare both paths and datasketch.
"""

from __future__ import annotations

import numpy as np

try:  # numba is in the `pipeline` extra; a light install falls back to numpy.
    from numba import njit

    AVAILABLE = True
except ImportError:  # pragma: no cover - exercised only without numba
    AVAILABLE = False

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        def wrap(f):
            return f

        return wrap


# The n-gram mixing constants of :func:`signatures._ngrams` (hashes._K) and fmix constants.
_K0 = np.uint64(0x9E3779B97F4A7C15)
_K1 = np.uint64(0xC2B2AE3D27D4EB4F)
_K2 = np.uint64(0x165667B19E3779F9)
_K3 = np.uint64(0xD6E8FEB86659FD93)
_K4 = np.uint64(0xFF51AFD7ED558CCD)
_M64A = np.uint64(0xFF51AFD7ED558CCD)
_M64B = np.uint64(0xC4CEB9FE1A85EC53)
_M32A = np.uint64(0x85EBCA6B)
_M32B = np.uint64(0xC2B2AE35)
_LOW32 = np.uint64(0xFFFFFFFF)
_S33 = np.uint64(33)
_S31 = np.uint64(31)
_S16 = np.uint64(16)
_S13 = np.uint64(13)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)


@njit(cache=True, nogil=True)
def _k(j):
    r = j % 5
    if r == 0:
        return _K0
    if r == 1:
        return _K1
    if r == 2:
        return _K2
    if r == 3:
        return _K3
    return _K4


@njit(cache=True, nogil=True)
def _finish(h):
    """fmix64 (the shingle hash), then fmix32 of its low 32 bits (the signature's input)."""
    h ^= h >> _S33
    h *= _M64A
    h ^= h >> _S33
    h *= _M64B
    h ^= h >> _S33
    v = h & _LOW32
    v ^= v >> _S16
    v = (v * _M32A) & _LOW32
    v ^= v >> _S13
    v = (v * _M32B) & _LOW32
    v ^= v >> _S16
    return v


@njit(cache=True, nogil=True)
def _shingle_value(tokens, start, m, s, n):
    """fmix32 of the low 32 bits of the n-gram hash at ``s`` (of a document's ``m`` tokens at
    ``start``): what :func:`signatures.signatures` permutes. Tokens past the end count as 0."""
    h = np.uint64(n)
    for j in range(n):
        if s + j < m:
            t = tokens[start + s + j] + _ONE
        else:
            t = _ZERO
        h = (h ^ t) * _k(j)
        h ^= h >> _S31
    return _finish(h)


@njit(cache=True, nogil=True)
def _empty_value(n):
    """The shingle of an empty document: one token 0 (hashed as 0 + 1), the rest past its end."""
    h = np.uint64(n)
    for j in range(n):
        t = _ONE if j == 0 else _ZERO
        h = (h ^ t) * _k(j)
        h ^= h >> _S31
    return _finish(h)


@njit(cache=True, nogil=True)
def _fold(tokens, start, m, n, a, b, row):
    """Minima of ``a·v + b mod 2³²`` over the document's shingles into ``row`` (uint32)."""
    p = a.size
    for k in range(p):
        row[k] = np.uint32(0xFFFFFFFF)
    if m == 0:  # an empty document is one sentinel token 0 (see signatures._ngrams)
        count = 1
    else:
        count = max(m - n + 1, 1)
    for s in range(count):
        if m == 0:
            v = _empty_value(n)
        else:
            v = _shingle_value(tokens, start, m, s, n)
        w = np.uint32(v)
        for k in range(p):
            # uint32 operands, truncated result: LLVM narrows this to 32-bit lanes (16 per AVX-512 op)
            x = np.uint32(a[k] * w + b[k])
            row[k] = min(x, row[k])  # unconditional store: vectorises


@njit(cache=True, nogil=True)
def token_signatures(tokens, per_doc, n, a, b, out):
    """Signatures of documents given as runs of tokens (``per_doc`` tokens each, in order): the
    word shingles' path (and the char path's, given code points)."""
    row = np.empty(a.size, dtype=np.uint32)
    start = 0
    for d in range(per_doc.size):
        m = per_doc[d]
        _fold(tokens, start, m, n, a, b, row)
        for k in range(a.size):
            out[d, k] = row[k]
        start += m


@njit(cache=True, nogil=True)
def utf8_char_signatures(data, offsets, lower, drop, n, a, b, out):
    """Signatures of character n-gram shingles straight from UTF-8 (an Arrow string column's
    data and offsets): decode, drop whitespace/punctuation/controls, lower-case (BMP tables of
    :func:`signatures._char_tables`), then n-grams as :func:`signatures._ngrams`."""
    longest = 1
    for d in range(offsets.size - 1):
        longest = max(longest, offsets[d + 1] - offsets[d])
    buf = np.empty(longest, dtype=np.uint64)
    row = np.empty(a.size, dtype=np.uint32)
    for d in range(offsets.size - 1):
        i = offsets[d]
        end = offsets[d + 1]
        m = 0
        while i < end:
            c = np.int64(data[i])
            if c < 0x80:
                cp = c
                i += 1
            elif c < 0xE0 and i + 1 < end:
                cp = ((c & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F)
                i += 2
            elif c < 0xF0 and i + 2 < end:
                cp = ((c & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (np.int64(data[i + 2]) & 0x3F)
                i += 3
            elif i + 3 < end:
                cp = ((c & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12) | ((np.int64(data[i + 2]) & 0x3F) << 6) | (np.int64(data[i + 3]) & 0x3F)
                i += 4
            else:  # truncated sequence (not valid UTF-8): the byte as a code point
                cp = c
                i += 1
            if cp < 0x10000:
                if drop[cp]:
                    continue
                cp = lower[cp]
            buf[m] = np.uint64(cp)
            m += 1
        _fold(buf, 0, m, n, a, b, row)
        for k in range(a.size):
            out[d, k] = row[k]


@njit(cache=True, nogil=True)
def _fmix64(h):
    h ^= h >> _S33
    h *= _M64A
    h ^= h >> _S33
    h *= _M64B
    h ^= h >> _S33
    return h


@njit(cache=True, nogil=True)
def band_keys(sig, bands, rows, out):
    """:func:`signatures.band_keys` (one uint64 per document and band, the band number mixed in)."""
    for d in range(sig.shape[0]):
        for band in range(bands):
            h = _fmix64(np.uint64(band) + _ONE)
            for t in range(rows):
                h = _fmix64(h ^ (np.uint64(sig[d, band * rows + t]) + (np.uint64(t) << np.uint64(32))))
            out[d, band] = h


@njit(cache=True, nogil=True)
def sketches(sig, out):
    """:func:`sketches.sketch_of`: the low byte of fmix32 of each MinHash value."""
    for d in range(sig.shape[0]):
        for k in range(sig.shape[1]):
            v = np.uint64(sig[d, k])
            v ^= v >> _S16
            v = (v * _M32A) & _LOW32
            v ^= v >> _S13
            v = (v * _M32B) & _LOW32
            v ^= v >> _S16
            out[d, k] = np.uint8(v & np.uint64(0xFF))


@njit(cache=True, nogil=True)
def partition_rows(keys, docs, partitions, out_keys, out_docs, bounds):
    """Stable counting sort of (key, doc) rows by :func:`bands.partition_of`; ``bounds[p]`` is
    where partition ``p`` starts in the outputs (``bounds[partitions]`` = the row count)."""
    counts = np.zeros(partitions + 1, dtype=np.int64)
    shift = np.uint64(40)
    parts = np.uint64(partitions)
    for i in range(keys.size):
        counts[np.int64((keys[i] >> shift) % parts) + 1] += 1
    for p in range(partitions):
        counts[p + 1] += counts[p]
    for p in range(partitions + 1):
        bounds[p] = counts[p]
    for i in range(keys.size):
        p = np.int64((keys[i] >> shift) % parts)
        at = counts[p]
        out_keys[at] = keys[i]
        out_docs[at] = docs[i]
        counts[p] = at + 1
