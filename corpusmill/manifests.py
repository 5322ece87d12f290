"""``corpusmill.manifests`` is the top-level ``manifests`` package (same module object, not a copy)."""

import sys

import manifests as _target

sys.modules[__name__] = _target
