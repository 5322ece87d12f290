"""Derived manifests: tokenized datasets and blends built from other manifests in the same catalog.

A derived manifest is a manifest like any other (content-addressed ``cm-`` ID, sources with
provenance, policy, ledger, shards, review records), plus:

* ``kind``: ``tokenized`` (``corpusmill tokenize``) or ``blend`` (``corpusmill mix``);
* ``parents``: the manifest ID(s) it was built from;
* ``megatron.datasets``: Megatron-Core ``IndexedDataset`` pairs (``PREFIX.bin`` + ``PREFIX.idx``)
  with their sha256, dtype, sequence and token counts; the ``shards`` are Parquet side tables
  with one row per sequence in order (``id``, ``tokens``), so every sequence is traceable to its
  ledger row and contract;
* ``tokens``: exact token counts (total, per source, per input shard; per split for blends).

A takedown never rewrites a derived manifest (its ID is its content). Instead a derived
manifest is *affected* while any ancestor has been taken down (revoked or rejected with a
successor) or revoked: lineage shows it and :func:`require_current` refuses to hand it to a
trainer until it is rebuilt from the successor (a revoked ancestor without one: never).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from manifests import review
from manifests.catalog import Catalog, safe_relpath
from manifests.manifest import megatron_files as megatron_files  # re-exported: the derived manifest's data files
from corpusmill_base.errors import CorpusmillError

KINDS = ("tokenized", "blend")
BLEND_FILE = "blend.json"


class TakenDown(CorpusmillError):
    """A derived manifest built from a manifest that has since been taken down."""


def kind(manifest: dict[str, Any]) -> str:
    return cast(str, manifest.get("kind", "curated"))


def is_derived(manifest: dict[str, Any]) -> bool:
    return kind(manifest) in KINDS


def affected(cat: Catalog, manifest: dict[str, Any]) -> list[dict[str, str]]:
    """Ancestors that were taken down or revoked: ``[{ancestor, state, successor}]`` (empty =
    current; ``successor`` None for a plain revocation — the tokenized copy of a revoked release
    was still pulled and mixed after its text had left the catalog)."""
    out, seen = [], set()
    todo = list(manifest.get("parents", []))
    while todo:
        pid = todo.pop(0)
        if pid in seen:
            continue
        seen.add(pid)
        if not cat.has(pid):
            continue
        parent = cat.get(pid, check=False)
        st = review.replay(cat, parent)
        if st.final:  # taken down (a successor), or revoked by a reviewer (none): its files left data/
            out.append({"ancestor": pid, "state": st.state, "successor": st.successor})
        todo += parent.get("parents", [])
    return out


def rebuild_hint(manifest: dict[str, Any]) -> str:
    return ("corpusmill tokenize SUCCESSOR --tokenizer …" if kind(manifest) == "tokenized"
            else "re-tokenize the successor, then corpusmill mix with the new input ID")


def require_current(cat: Catalog, manifest: dict[str, Any]) -> None:
    """Refuse a derived manifest whose ancestry was taken down (until rebuilt from the successor)
    or revoked."""
    hits = affected(cat, manifest)
    if hits:
        what = "; ".join(f"{h['ancestor']}, which was taken down ({h['state']}, successor {h['successor']})" if h["successor"]
                         else f"{h['ancestor']}, which was revoked (no successor)" for h in hits)
        todo = (f"rebuild it from the successor ({rebuild_hint(manifest)})" if any(h["successor"] for h in hits)
                else f"nothing built from it may be used (corpusmill review history {hits[0]['ancestor']} says who decided and why)")
        raise TakenDown(f"refusing {manifest['id']}: it was built from {what}; {todo}")


def descendants(cat: Catalog, mid: str) -> list[dict[str, Any]]:
    """Every derived manifest built (directly or not) from ``mid``: ``[{id, kind, name, parents, depth}]``."""
    children: dict[str, list[dict[str, Any]]] = {}
    for other in cat.ids():
        m = cat.get(other, check=False)
        for p in m.get("parents", []):
            children.setdefault(p, []).append(m)
    out, frontier, seen = [], [(mid, 0)], {mid}
    while frontier:
        cur, depth = frontier.pop(0)
        for m in sorted(children.get(cur, []), key=lambda x: x["id"]):
            if m["id"] in seen:
                continue
            seen.add(m["id"])
            out.append({"id": m["id"], "kind": kind(m), "name": m.get("name"), "parents": m.get("parents", []), "depth": depth + 1})
            frontier.append((m["id"], depth + 1))
    return out


def derived_of(cat: Catalog, mid: str) -> list[dict[str, Any]]:
    """:func:`descendants` of ``mid`` with whether each is affected by a takedown (for lineage)."""
    out = []
    for d in descendants(cat, mid):
        hits = affected(cat, cat.get(d["id"], check=False))
        st = review.replay(cat, cat.get(d["id"], check=False))
        out.append(d | {"state": st.state, "affected_by": hits})
    return out


def token_lines(manifest: dict[str, Any]) -> list[str]:
    """What ``manifest show`` adds for a derived manifest (exact token counts, datasets, blend)."""
    if not is_derived(manifest):
        return []
    t = manifest["tokens"]
    lines = [f"{kind(manifest)} manifest built from {', '.join(manifest['parents'])}"]
    tk = manifest.get("tokenizer")
    if tk:
        lines.append(f"tokenizer: {tk['file']} sha256 {tk['sha256'][:16]}… vocab {tk['vocab_size']:,} "
                     f"EOS {tk['eos_token']}={tk['eos_id']}, BOS {tk['special_token_policy']['bos']}"
                     + (f" ({tk['bos_token']}={tk['bos_id']})" if tk["bos_id"] is not None else ""))
    lines.append(f"tokens: {t['total']:,} exact")
    for s, n in t["by_source"].items():
        lines.append(f"  {s}: {n:,}")
    for split, n in t.get("by_split", {}).items():
        lines.append(f"  split {split}: {n:,} tokens")
    blend = manifest.get("blend")
    if blend:
        lines.append(f"train budget {blend['train_tokens']:,} tokens; effective epochs per source:")
        for s, e in blend["epochs"].items():
            lines.append(f"  {s}: {e:g}")
    lines.append("megatron datasets:")
    for d in manifest["megatron"]["datasets"]:
        lines.append(f"  {d['prefix']}  {d['dtype']}  {d['sequences']:,} sequences  {d['tokens']:,} tokens")
    return lines


def _weight(x: float) -> str:
    return f"{x:.12g}"


def blend_for(manifest: dict[str, Any], root: str | Path) -> dict[str, list[str] | None]:
    """The ``--per-split-data-args-path`` file content with prefixes under ``root``.

    Tokenized manifests: every source in ``train`` weighted by its tokens (natural proportions);
    blends: the recorded weights per split. An empty split is ``null`` (Megatron reads no data).
    """
    root = Path(root).resolve()
    rel = manifest.get("blend", {}).get("splits")
    if rel is None:
        rel = {"train": [x for d in manifest["megatron"]["datasets"] for x in (_weight(d["tokens"] / manifest["tokens"]["total"]), d["prefix"])],
               "valid": None, "test": None}
    out: dict[str, list[str] | None] = {}
    for split in ("train", "valid", "test"):
        items = rel.get(split)
        out[split] = None if not items else [x if i % 2 == 0 else str(root / safe_relpath(x)) for i, x in enumerate(items)]
    return out


def write_blend_file(manifest: dict[str, Any], dest: str | Path) -> tuple[Path, str]:
    """Write ``DEST/blend.json`` and return it with the Megatron arguments to use."""
    dest = Path(dest)
    blend = blend_for(manifest, dest)
    path = dest / BLEND_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(blend, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    args = f"--per-split-data-args-path {path.resolve()}"
    files = manifest.get("megatron", {}).get("tokenizer_files", [])
    if files:
        tdir = (dest / safe_relpath(files[0]["path"])).parent.resolve()
        args += f" --tokenizer-type HuggingFaceTokenizer --tokenizer-model {tdir}"
    return path, args
