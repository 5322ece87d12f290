"""Manifests, the catalog, review and signatures, and loaders for trainers.

>>> import manifests
>>> ds = manifests.open("cm-0123456789abcdef")          # doctest: +SKIP
>>> ds.to_table(columns=["id", "text"]).num_rows        # doctest: +SKIP
>>> for doc in manifests.iter_shard("cm-0123456789abcdef", rank=0, world_size=8):  # doctest: +SKIP
...     tokens = tokenize(doc["text"])
>>> hf = manifests.load_hf("cm-0123456789abcdef")      # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__all__ = ["iter_shard", "iter_shard_batches", "load_hf", "open", "open_ledger", "pull"]


def __getattr__(name: str) -> Any:
    # The trainer API lives in manifests.loaders, imported on first use: it pulls in
    # pyarrow.dataset (and with it pandas), which CLI commands like `review` do not need.
    if name in __all__:
        from manifests import loaders

        return getattr(loaders, name)
    raise AttributeError(f"module 'manifests' has no attribute {name!r}")
