"""``corpusmill.pipelines`` is the top-level ``pipelines`` package (same module object, not a copy)."""

import sys

import pipelines as _target

sys.modules[__name__] = _target
