"""Manifests, the catalog, and loaders for trainers.

>>> import manifests
>>> ds = manifests.open("cm-0123456789abcdef")          # doctest: +SKIP
>>> ds.to_table(columns=["id", "text"]).num_rows        # doctest: +SKIP
"""

from manifests.loaders import open, open_ledger  # noqa: A004 — the documented trainer API

__all__ = ["open", "open_ledger"]
