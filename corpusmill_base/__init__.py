"""The bottom layer: what ``filters``, ``manifests`` and ``pipelines`` all need, importing none.

* :mod:`corpusmill_base.errors` — the error taxonomy (a kind of failure is a type);
* :mod:`corpusmill_base.models` — offline model artifacts pinned by sha256;
* :mod:`corpusmill_base.hashing` — the one sha256-of-a-file helper and canonical JSON;
* :mod:`corpusmill_base.atomic` — atomic, durable writes (temporary name, fsync, rename);
* :mod:`corpusmill_base.text` — safe display of untrusted text (control characters escaped).

Arrows point down only: ``pipelines → manifests → filters → corpusmill_base``.
"""
