"""Near-duplicate removal with MinHash LSH, across sources and against earlier releases.

The package, one idea per module (each piece a small function a distributed engine can reuse):

* :mod:`.options` — the stage's options, drop reasons, LSH parameters from the threshold;
* :mod:`.hashes` — the integer mixers shared by signatures and sketches;
* :mod:`.signatures` — shingling, MinHash signatures, band keys (step a);
* :mod:`.bands` — band keys → candidate pairs, the engine shuffle rows, the spill (step b);
* :mod:`.sketches` — one-byte sketches that settle clear pairs before exact verification;
* :mod:`.verify` — exact Jaccard, connected components, the keep rule (step c);
* :mod:`.released` — earlier releases' signature index (read from the catalog) and texts;
* :mod:`.stage` — :class:`MinHashDedup`, the stage that puts them together.

The steps:

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

from filters.minhash_dedup.bands import BandSpill, candidate_pairs, pairs_of_partition, shuffle_table, unpack
from filters.minhash_dedup.options import REASON, REASON_RELEASED, MinHashOptions, candidate_probability, lsh_params
from filters.minhash_dedup.signatures import Shingler, band_keys, signature_keys, signatures
from filters.minhash_dedup.sketches import sketch_estimate, sketch_of
from filters.minhash_dedup.stage import MinHashDedup, parse_options
from filters.minhash_dedup.verify import ShingleSets, clusters_and_keepers, components, verify_pairs

__all__ = [
    "REASON", "REASON_RELEASED", "BandSpill", "MinHashDedup", "MinHashOptions", "ShingleSets", "Shingler",
    "band_keys", "candidate_pairs", "candidate_probability", "clusters_and_keepers", "components", "lsh_params",
    "pairs_of_partition", "parse_options", "shuffle_table", "signature_keys", "signatures", "sketch_estimate",
    "sketch_of", "unpack", "verify_pairs",
]
