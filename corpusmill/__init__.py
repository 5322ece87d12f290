"""A namespaced import path for corpusmill's packages.

The distribution installs four generic top-level packages — ``pipelines``, ``filters``,
``manifests`` and ``corpusmill_base`` — whose names may clash with other code in a trainer's
environment. ``corpusmill.<name>`` is the same module under a name that cannot clash::

    from corpusmill import manifests        # is the top-level ``manifests`` package
    ds = manifests.open("cm-…")
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["filters", "manifests", "pipelines"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"corpusmill.{name}")
    raise AttributeError(f"module 'corpusmill' has no attribute {name!r}")
