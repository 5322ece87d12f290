"""``langid@2`` against ``langid@1`` on every delivered document: same decisions, what changed.

``langid@2`` does not ask fastText about a text whose sample's letters are all Hangul (when its
source's expected languages are none or include Korean): it is ``ko`` with ``lang_score`` 1.0.
``langid@1`` called fastText and gave it ``max(p_ko, 1.0)`` — 1.0 to 1.00007, as fastText adds
1e-5 to every probability before its logarithm. This runs both on every document of the shared
deliveries (``bench/build_dedup_corpus.py``'s documents, normalised, batches of 2,048) for each
set of expected languages given, and compares every output: keep mask, reasons, details,
``lang``, ``hangul_ratio`` — which must be equal — and ``lang_score``, whose changes it counts.
``langid@1`` is read from another tree (``git archive <commit> | tar -x -C DIR``).

    nice -n 5 .venv/bin/python bench/langid_v2.py --old /tmp/main-tree
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 2048


def load_old(tree: str):
    spec = importlib.util.spec_from_file_location("langid_old", Path(tree) / "filters" / "langid.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # its imports (filters.analysis, filters.base) are this tree's
    return module


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="a tree with langid@1 (e.g. main's)")
    ap.add_argument("--expected", nargs="+", default=["ko,en", "ko", ""], help="expected-language sets to try (comma-separated)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N documents (0: all)")
    a = ap.parse_args(argv)
    from bench import build_dedup_corpus
    from filters.base import StageContext
    from filters.langid import LanguageID
    from filters.normalize import normalize_text

    old_mod = load_old(a.old)
    sources = {f"s{k}": [x for x in e.split(",") if x] for k, e in enumerate(a.expected)}
    ctx = StageContext(source_langs=sources)
    old, new = old_mod.LanguageID({}, ctx), LanguageID({}, ctx)
    print(f"old {old.key}, new {new.key}", flush=True)
    texts = [t for t in (normalize_text(t) for _, t in build_dedup_corpus.documents() if t) if t]
    if a.limit:
        texts = texts[: a.limit]
    print(f"{len(texts):,} documents", flush=True)
    ok = True
    for sid, exp in sources.items():
        cpu = Counter()
        diff: Counter = Counter()
        for start in range(0, len(texts), BATCH):
            part = texts[start : start + BATCH]
            b = pa.record_batch({"text": pa.array(part), "source_id": pa.array([sid] * len(part))})
            res = {}
            for name, stage in (("old", old), ("new", new)):
                t0 = time.process_time()
                res[name] = stage.process(b)
                cpu[name] += time.process_time() - t0
            o, n = res["old"], res["new"]
            for col in ("lang", "hangul_ratio"):
                diff[col] += sum(x != y for x, y in zip(o.columns[col].to_pylist(), n.columns[col].to_pylist()))
            diff["keep"] += int((o.keep != n.keep).sum())
            diff["reasons"] += sum(x != y for x, y in zip(o.reasons, n.reasons))
            diff["details"] += sum(x != y for x, y in zip(o.details or [], n.details or []))
            for arr in ("scores", "thresholds"):
                x, y = getattr(o, arr), getattr(n, arr)
                diff[arr] += int((~((x == y) | (np.isnan(x) & np.isnan(y)))).sum())
            os_, ns = np.asarray(o.columns["lang_score"]), np.asarray(n.columns["lang_score"])
            changed = os_ != ns
            diff["lang_score"] += int(changed.sum())
            hr = np.asarray(n.columns["hangul_ratio"])
            diff["lang_score outside all-Hangul"] += int((changed & (hr != 1.0)).sum())
            diff["new lang_score != 1.0 where changed"] += int((ns[changed] != 1.0).sum())
            diff["dropped"] += int((~n.keep).sum())
            if changed.any():
                diff["max |change|"] = max(diff["max |change|"], float(np.abs(os_[changed] - ns[changed]).max()) * 1e6)
        same = all(diff[k] == 0 for k in ("lang", "hangul_ratio", "keep", "reasons", "details", "scores", "thresholds",
                                           "lang_score outside all-Hangul", "new lang_score != 1.0 where changed"))
        ok &= same
        print(f"expected {exp or '(none)'}: {'decisions identical' if same else 'DIFFERENT'}; dropped {diff['dropped']:,}; "
              f"lang_score changed on {diff['lang_score']:,} (all-Hangul samples, now 1.0; largest change {diff['max |change|']:.1f}e-6); "
              f"CPU-s old {cpu['old']:.1f}, new {cpu['new']:.1f} ({cpu['old'] / cpu['new']:.2f}×)", flush=True)
        if not same:
            print("   ", dict(diff))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
