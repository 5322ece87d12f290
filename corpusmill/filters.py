"""``corpusmill.filters`` is the top-level ``filters`` package (same module object, not a copy)."""

import sys

import filters as _target

sys.modules[__name__] = _target
