"""Manifests, the catalog, review and signatures, and loaders for trainers.

>>> import manifests
>>> ds = manifests.open("cm-0123456789abcdef")          # doctest: +SKIP
>>> ds.to_table(columns=["id", "text"]).num_rows        # doctest: +SKIP
>>> for doc in manifests.iter_shard("cm-0123456789abcdef", rank=0, world_size=8):  # doctest: +SKIP
...     tokens = tokenize(doc["text"])
>>> hf = manifests.load_hf("cm-0123456789abcdef")      # doctest: +SKIP
"""

from manifests.loaders import iter_shard, iter_shard_batches, load_hf, open, open_ledger, pull  # noqa: A004 — the documented trainer API

__all__ = ["iter_shard", "iter_shard_batches", "load_hf", "open", "open_ledger", "pull"]
