"""Megatron-Core's own ``IndexedDataset`` reader, loaded from the installed ``megatron-core`` package.

Megatron imports torch at module level; torch is too large to install for tests, and the
indexed-dataset read path needs only numpy. So the real module files
(``megatron/core/datasets/indexed_dataset.py``, ``object_storage_utils.py``, ``utils.py`` and
``megatron/core/msc_utils.py``) are executed as they ship, with a stand-in module for ``torch``
(``Dataset`` base class, "distributed not initialised") and for ``megatron.core.utils`` (its
``log_single_rank``) — nothing of the format is re-implemented here.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import sys
import types
from pathlib import Path

_MODULES = ("megatron.core.msc_utils", "megatron.core.datasets.object_storage_utils",
            "megatron.core.datasets.indexed_dataset", "megatron.core.datasets.utils")


def _root() -> Path:
    return Path(str(importlib.metadata.distribution("megatron-core").locate_file("megatron")))


def _stub_torch() -> types.ModuleType:
    torch = types.ModuleType("torch")
    torch.Tensor = type("Tensor", (), {})
    torch.utils = types.SimpleNamespace(data=types.SimpleNamespace(Dataset=object))
    torch.distributed = types.SimpleNamespace(is_initialized=lambda: False, get_rank=lambda: 0, barrier=lambda: None)
    return torch


def load() -> types.SimpleNamespace:
    """``indexed_dataset`` and ``datasets.utils`` modules of the installed megatron-core."""
    root = _root()
    saved = {k: sys.modules.get(k) for k in ("torch", "megatron", "megatron.core", "megatron.core.datasets",
                                             "megatron.core.utils", *_MODULES)}
    try:
        sys.modules["torch"] = _stub_torch()
        for name, path in (("megatron", root), ("megatron.core", root / "core"),
                           ("megatron.core.datasets", root / "core" / "datasets")):
            pkg = types.ModuleType(name)
            pkg.__path__ = [str(path)]
            sys.modules[name] = pkg
        utils = types.ModuleType("megatron.core.utils")
        utils.log_single_rank = lambda logger, *args, rank=0, **kw: logger.log(*args, **kw)
        sys.modules["megatron.core.utils"] = utils
        loaded = {}
        for name in _MODULES:
            path = root.parent / (name.replace(".", "/") + ".py")
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
            loaded[name.rsplit(".", 1)[1]] = mod
        return types.SimpleNamespace(**loaded)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


logging.getLogger("megatron").setLevel(logging.WARNING)
