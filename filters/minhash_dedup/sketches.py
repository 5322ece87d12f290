"""One-byte sketches of signatures: a cheap Jaccard estimate that settles clear candidate pairs before exact verification."""

from __future__ import annotations


import numpy as np

from filters.minhash_dedup.compiled import kernels
from filters.minhash_dedup.hashes import fmix32


#: Candidates whose sketch estimate is this many standard errors below their threshold skip the
#: exact Jaccard: a pair really at the threshold falls that low with probability ~1e-7.
PREFILTER_SIGMAS = 5.0


def sketch_of(sig: np.ndarray, compiled_ok: bool = True) -> np.ndarray:
    """One byte per MinHash value, from a mix of all 32 bits: the low bits of an affine
    permutation depend only on the low bits of the shingle hash, and the high bits of a minimum
    are mostly zero, so neither byte of the value itself is a fair b-bit hash.

    ``compiled_ok=False``: the numpy path (the same bytes) without loading the kernel — for the
    decide, which sketches only the candidate pairs' documents (a few MB): loading one more
    cached kernel in the deciding process costs ~0.3 CPU-s (docs/performance.md)."""
    compiled = kernels(sig.nbytes) if sig.ndim == 2 and compiled_ok else None
    if compiled is not None:
        out = np.empty(sig.shape, dtype=np.uint8)
        compiled.sketches(np.ascontiguousarray(sig, dtype=np.uint32), out)
        return out
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
