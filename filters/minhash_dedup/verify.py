"""Candidate pairs → verified pairs → clusters and keepers: exact Jaccard on shingle sets, connected components and the keep rule: step (c)."""

from __future__ import annotations


import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filters.columns import to_arrow
from filters.minhash_dedup.bands import sorted_unique, unpack
from filters.minhash_dedup.hashes import U64
from filters.minhash_dedup.signatures import Shingler, _ranks


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
    if sets is not None and exact.any():
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
