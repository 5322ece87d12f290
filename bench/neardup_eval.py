"""Pairwise precision/recall/F1 of a clustering against ``neardup.jsonl``'s ``cluster`` labels.

Shared by ``bench/dedup_vs_datatrove.py`` and the tests. ``predicted`` maps every document id to
a cluster id (a document dropped as a duplicate shares its keeper's cluster).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path


def load(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _pairs(groups: dict[str, list[str]]) -> set[tuple[str, str]]:
    out = set()
    for members in groups.values():
        out.update(combinations(sorted(members), 2))
    return out


def score(rows: list[dict], predicted: dict[str, str]) -> dict:
    truth = defaultdict(list)
    pred = defaultdict(list)
    for r in rows:
        truth[r["cluster"] if r["kind"] != "far" else r["id"]].append(r["id"])
        pred[predicted.get(r["id"], r["id"])].append(r["id"])
    t, p = _pairs(truth), _pairs(pred)
    tp = len(t & p)
    precision = tp / len(p) if p else 1.0
    recall = tp / len(t) if t else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    base = {r["cluster"]: r["id"] for r in rows if r["kind"] == "base"}
    per_kind: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        if r["kind"] == "base" or r["cluster"] not in base:
            continue
        same = predicted.get(r["id"], r["id"]) == predicted.get(base[r["cluster"]], base[r["cluster"]])
        per_kind[r["kind"]]["n"] += 1
        per_kind[r["kind"]]["merged"] += int(same)
    kinds = {k: {"n": c["n"], "merged_with_base": c["merged"], "rate": c["merged"] / c["n"]} for k, c in sorted(per_kind.items())}
    return {"precision": precision, "recall": recall, "f1": f1, "pairs_true": len(t), "pairs_predicted": len(p), "kinds": kinds}
