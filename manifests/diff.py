"""``corpusmill manifest diff A B``: what differs between two manifests (sources, counts, shards, config)."""

from __future__ import annotations

from typing import Any

COUNT_KEYS = ("records_in", "kept", "dropped", "quarantined")


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Config as ``dotted.path → leaf``; list items are keyed by their ``id``/``name`` when they have one."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for k in sorted(value):
            out.update(_flatten(value[k], f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and value and all(isinstance(v, dict) and ("id" in v or "name" in v) for v in value):
        for v in value:
            out.update(_flatten(v, f"{prefix}[{v.get('id', v.get('name'))}]"))
    else:
        out[prefix] = value
    return out


def diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    sa, sb = {s["id"]: s for s in a["sources"]}, {s["id"]: s for s in b["sources"]}
    sources = []
    for sid in sorted(set(sa) | set(sb)):
        x, y = sa.get(sid), sb.get(sid)
        if x is None or y is None:
            sources.append({"source": sid, "change": "added" if x is None else "removed"})
            continue
        entry: dict[str, Any] = {"source": sid}
        if x["status"] != y["status"]:
            entry["status"] = [x["status"], y["status"]]
        if x["provenance"] != y["provenance"]:
            fa, fb = _flatten(x["provenance"]), _flatten(y["provenance"])
            entry["provenance"] = {k: [fa.get(k), fb.get(k)] for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)}
        counts = {k: [x["counts"][k], y["counts"][k]] for k in COUNT_KEYS if x["counts"][k] != y["counts"][k]}
        if counts:
            entry["counts"] = counts
        if [f["sha256"] for f in x.get("files", [])] != [f["sha256"] for f in y.get("files", [])]:
            entry["input_files_changed"] = True
        if len(entry) > 1:
            sources.append(entry)
    pa_, pb_ = {s["path"]: s for s in a["shards"]}, {s["path"]: s for s in b["shards"]}
    shards = {
        "same": sorted(p for p in pa_ if p in pb_ and pa_[p]["sha256"] == pb_[p]["sha256"]),
        "changed": sorted(p for p in pa_ if p in pb_ and pa_[p]["sha256"] != pb_[p]["sha256"]),
        "only_in_a": sorted(p for p in pa_ if p not in pb_),
        "only_in_b": sorted(p for p in pb_ if p not in pa_),
    }
    ca, cb = _flatten(a.get("config", {})), _flatten(b.get("config", {}))
    config = {k: [ca.get(k), cb.get(k)] for k in sorted(set(ca) | set(cb)) if ca.get(k) != cb.get(k)}
    totals = {k: [a["totals"][k], b["totals"][k]] for k in COUNT_KEYS if a["totals"][k] != b["totals"][k]}
    stages_a = [s["key"] for s in a.get("stages", [])]
    stages_b = [s["key"] for s in b.get("stages", [])]
    models_a = {m["name"]: m.get("sha256") for m in a.get("models", [])}
    models_b = {m["name"]: m.get("sha256") for m in b.get("models", [])}
    return {
        "a": a["id"],
        "b": b["id"],
        "identical": a["id"] == b["id"],
        "totals": totals,
        "sources": sources,
        "shards": shards,
        "config": config,
        "stages": None if stages_a == stages_b else [stages_a, stages_b],
        "models": None if models_a == models_b else [models_a, models_b],
        "lineage": {"b_predecessor": b.get("predecessor"), "a_predecessor": a.get("predecessor")},
    }


def render(d: dict[str, Any]) -> str:
    if d["identical"]:
        return f"{d['a']} and {d['b']} are the same manifest"
    lines = [f"--- {d['a']}", f"+++ {d['b']}"]
    if d["lineage"]["b_predecessor"] == d["a"]:
        lines.append(f"{d['b']} is the successor of {d['a']}")
    if d["totals"]:
        lines.append("totals: " + ", ".join(f"{k} {x:,} → {y:,}" for k, (x, y) in d["totals"].items()))
    if d["sources"]:
        lines.append("sources:")
        for s in d["sources"]:
            if "change" in s:
                lines.append(f"  {s['source']}: {s['change']}")
                continue
            parts = []
            if "status" in s:
                parts.append(f"status {s['status'][0]} → {s['status'][1]}")
            for k, (x, y) in s.get("counts", {}).items():
                parts.append(f"{k} {x:,} → {y:,}")
            for k, (x, y) in s.get("provenance", {}).items():
                parts.append(f"provenance.{k} {x!r} → {y!r}")
            if s.get("input_files_changed"):
                parts.append("input files changed")
            lines.append(f"  {s['source']}: " + "; ".join(parts))
    sh = d["shards"]
    lines.append(
        f"shards: {len(sh['same'])} identical, {len(sh['changed'])} changed, {len(sh['only_in_a'])} only in A, {len(sh['only_in_b'])} only in B"
    )
    lines += [f"  ~ {p}" for p in sh["changed"]] + [f"  - {p}" for p in sh["only_in_a"]] + [f"  + {p}" for p in sh["only_in_b"]]
    if d["config"]:
        lines.append("config:")
        lines += [f"  {k}: {x!r} → {y!r}" for k, (x, y) in d["config"].items()]
    else:
        lines.append("config: identical")
    if d["stages"]:
        lines.append(f"stages: {' → '.join(d['stages'][0])}  vs  {' → '.join(d['stages'][1])}")
    if d["models"]:
        lines.append(f"models: {d['models'][0]} vs {d['models'][1]}")
    return "\n".join(lines)
