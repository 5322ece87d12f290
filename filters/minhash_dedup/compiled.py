"""Whether a step uses the compiled kernels (:mod:`.kernels`) or the numpy path — decided without
importing numba until the work is worth it.

Both paths give the same values bit for bit (tests/test_minhash_dedup.py compares them), so the
choice changes speed only. Importing numba costs ~0.4 CPU-s and loading the cached kernels
~0.5-1 CPU-s more, in every process (2026-12-07): more than the numpy path takes for a few MB of
text, which is all most runs in the tests and many small deliveries have. So the numpy path runs
until a process has handed the kernels' steps :data:`WORTH_IT` bytes; from then on (and at once
when the kernels are already imported, e.g. by a benchmark or a test) the kernels run.
"""

from __future__ import annotations

import sys
from types import ModuleType

KERNELS = "filters.minhash_dedup.kernels"

# Bytes of input (text, signatures, keys) a process handles on the numpy path before it loads
# the kernels. The numpy signatures took 16.8 s of the 84 MB corpus (~5 MB/s, see .kernels), so
# 4 MB on that path cost under a second once on a large run, and every small run (tests,
# samples, small deliveries) is spared the ~1 CPU-s load.
WORTH_IT = 4_000_000

_handled = 0  # bytes this process has handled on the numpy path (only ever grows)


def worth_loading(input_bytes: int) -> bool:
    """Whether a run reading ``input_bytes`` will load the kernels anyway (so a stage may load
    them in ``setup()``, before the engine forks its workers: one load shared by every worker
    instead of ~1.2 CPU-s in each)."""
    return input_bytes >= WORTH_IT


def kernels(nbytes: int) -> ModuleType | None:
    """The kernels module for a step over ``nbytes`` of input, or None for the numpy path."""
    global _handled
    if KERNELS not in sys.modules:
        _handled += nbytes
        if _handled < WORTH_IT:
            return None
    import filters.minhash_dedup.kernels as loaded  # without numba: AVAILABLE is false

    return loaded if loaded.AVAILABLE else None
