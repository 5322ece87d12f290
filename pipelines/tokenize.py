"""``corpusmill tokenize ID --tokenizer PATH``: a curated manifest → a tokenized (derived) manifest.

Per admitted source with documents: one Megatron-Core ``IndexedDataset`` (``megatron/<source>``,
one sequence per document, EOS appended, documents in the manifest's order: shard order, row
order) and a Parquet side table (``megatron/<source>.parquet``: ``id``, ``tokens``, same order).
The curated manifest's ledger is carried over byte for byte (same documents, same contracts),
and the tokenizer files travel with the datasets (``tokenizer/``), pinned by sha256.

Streaming: one batch of documents in memory at a time (``batch_rows``); sequence lengths are
spooled to disk (:mod:`filters.indexed_dataset`). All cores: HF ``tokenizers`` encodes a batch on
its Rayon thread pool (``--workers`` caps it). Resumable: after every input shard the writers
are flushed and ``work/state.json`` records how far each got; a rerun with the same inputs
continues from the next shard. Deterministic: output depends only on the parent manifest, the
tokenizer file and the options — never on batch size, threads or engine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpusmill_base import arrowio
from corpusmill_base.atomic import write_bytes_atomic, write_text_atomic
from corpusmill_base.dates import contract_date
from corpusmill_base.errors import InputError, IntegrityError, PolicyError
from corpusmill_base.hashing import canonical_json, sha256_file
from filters import tokenizer as tokenizer_mod
from filters.indexed_dataset import IndexedDatasetWriter, dtype_for_vocab
from manifests import derived, review
from manifests.catalog import Catalog, resolve_catalog_url
from manifests.manifest import seal
from manifests.schema import validate_manifest
from pipelines import __version__

STAGE = {"name": "tokenize", "version": 1, "key": "tokenize@1"}
SIDE_SCHEMA = pa.schema([("id", pa.string()), ("tokens", pa.int64())])
DATA_DIR = "megatron"


@dataclass
class TokenizeResult:
    manifest: dict[str, Any]
    out_dir: Path
    seconds: float
    resumed_from_shard: int
    documents: int

    @property
    def id(self) -> str:
        return self.manifest["id"]


def file_entry(root: Path, rel: str, rows: int) -> dict[str, Any]:
    p = root / rel
    return {"path": rel, "sha256": sha256_file(p), "bytes": p.stat().st_size, "rows": rows}


def read_verified(cat: Catalog, mid: str, entry: dict[str, Any]) -> bytes:
    with cat.fs.open(cat.data_path(mid, entry["path"]), "rb") as f:
        data = f.read()
    got = hashlib.sha256(data).hexdigest()
    if got != entry["sha256"]:
        raise IntegrityError(f"{mid}: {entry['path']} has sha256 {got}, the manifest says {entry['sha256']}")
    return data


def iter_encoded(data: bytes, tok: tokenizer_mod.LoadedTokenizer, batch_rows: int):
    """(source, ids, lengths, doc ids) per batch and source of one shard, in row order."""
    pf = arrowio.parquet_file(data)
    for batch in pf.iter_batches(batch_size=batch_rows, columns=["id", "source_id", "text"]):
        ids, lengths = tok.encode_batch(batch.column("text").to_pylist())
        src = batch.column("source_id").to_numpy(zero_copy_only=False)
        doc_ids = batch.column("id").to_pylist()
        offsets = np.concatenate(([0], np.cumsum(lengths)))
        for s in dict.fromkeys(src.tolist()):  # sources in first-seen order; rows keep their order
            rows = np.flatnonzero(src == s)
            if len(rows) == len(src):
                yield s, ids, lengths, doc_ids
                continue
            yield s, np.concatenate([ids[offsets[r]:offsets[r + 1]] for r in rows]), lengths[rows], [doc_ids[r] for r in rows]


def _tokenizer_files(tok: tokenizer_mod.LoadedTokenizer, out_dir: Path) -> list[dict[str, Any]]:
    tdir = out_dir / "tokenizer"
    tdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tok.path, tdir / "tokenizer.json")
    cfg = tok.path.parent / "tokenizer_config.json"
    if cfg.is_file():
        shutil.copyfile(cfg, tdir / "tokenizer_config.json")
    else:  # what transformers' AutoTokenizer (Megatron's HuggingFaceTokenizer) needs beside tokenizer.json
        write_text_atomic(tdir / "tokenizer_config.json", json.dumps(
            {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": tok.eos_token, "bos_token": tok.bos_token,
             "model_max_length": 1_000_000_000}, indent=2, sort_keys=True) + "\n")
    return [file_entry(out_dir, f"tokenizer/{n}", 0) for n in ("tokenizer.json", "tokenizer_config.json")]


def tokenize(
    mid: str,
    tokenizer: str | Path,
    catalog: str | Catalog | None = None,
    out: str | Path | None = None,
    dtype: str = "auto",
    allow_unapproved: bool = False,
    eos: str | None = None,
    bos: str | None = None,
    add_bos: bool = False,
    engine: str = "local",
    batch_rows: int = 1024,
    log=lambda s: None,
    dry_run: bool = False,
) -> Any:
    """Tokenize curated manifest ``mid`` into Megatron datasets (a derived manifest):
    :class:`TokenizeResult`. ``dry_run``: the same checks (approval, tokenizer, dtype, output
    directory), then a dict saying what would be written — nothing is."""
    t0 = time.perf_counter()
    cat = catalog if isinstance(catalog, Catalog) else Catalog(resolve_catalog_url(catalog))
    parent = cat.get(mid)
    if derived.is_derived(parent):
        raise InputError(f"{mid} is a {derived.kind(parent)} manifest; tokenize the curated manifest it was built from ({', '.join(parent['parents'])})")
    v = review.verify(cat, mid, check_files=False)
    review.require_pullable(v, allow_unapproved)
    tok = tokenizer_mod.load(tokenizer, eos=eos, bos=bos, add_bos=add_bos)
    dt_name = dtype_for_vocab(tok.vocab_size, dtype)
    sources = [s for s in parent["sources"] if s["status"] == "admitted"]
    kept = {s["id"]: s["counts"]["kept"] for s in sources}
    if not sum(kept.values()):
        raise InputError(f"{mid} has no documents to tokenize (every source is empty)")
    today = contract_date()
    for src in sources:  # the run refuses an expired contract; a token copy made after the expiry did not
        expires = str((src.get("provenance") or {}).get("expires") or "")[:10]
        if kept[src["id"]] and expires and dt.date.fromisoformat(expires) < today:
            raise PolicyError(f"{mid}: the contract of source {src['id']} expired on {expires}; it cannot be tokenized "
                              f"(take the source down first: corpusmill takedown {mid} --source {src['id']} --reason …)")
    options = {"dtype": dt_name, "eos_token": tok.eos_token, "bos_token": tok.bos_token if add_bos else None,
               "special_token_policy": tok.policy(), "allow_unapproved": bool(allow_unapproved) and v.state != review.APPROVED}
    key = hashlib.sha256(canonical_json({"parent": mid, "tokenizer": tok.sha256, "options": options, "stage": STAGE}).encode()).hexdigest()
    out_dir = Path(out or Path("runs") / "tokenize" / f"{mid}-{key[:12]}")
    work = out_dir / "work"
    state_path = work / "state.json"
    state = _read_state(state_path, log)
    if state is None or state.get("key") != key:
        if out_dir.exists() and any(out_dir.iterdir()) and not state_path.exists() and not (out_dir / ".corpusmill-tokenize").exists():
            raise InputError(f"{out_dir} exists and is not a tokenize output directory; give another --out")
    if dry_run:
        resume_at = state["next_shard"] if state is not None and state.get("key") == key else 0
        return {"parent": mid, "state": v.state, "tokenizer_sha256": tok.sha256, "vocab_size": tok.vocab_size, "options": options,
                "out_dir": str(out_dir), "documents": dict(sorted(kept.items())), "shards": len(parent["shards"]),
                "resume_at_shard": resume_at, "engine": engine}
    if state is None or state.get("key") != key:
        shutil.rmtree(out_dir, ignore_errors=True)
        work.mkdir(parents=True)
        (out_dir / ".corpusmill-tokenize").touch()
        state = {"key": key, "next_shard": 0, "writers": {}, "by_shard": {}}
    resumed = state["next_shard"]
    if resumed:
        log(f"resuming at shard {resumed + 1} of {len(parent['shards'])}")

    live = [s for s in kept if kept[s]]
    writers = {s: IndexedDatasetWriter(out_dir / DATA_DIR / s, dt_name, resume=state["writers"].get(s) if resumed else None) for s in live}
    try:
        shards = parent["shards"]
        todo = list(range(resumed, len(shards)))
        for i, encoded in _encoded_shards(engine, cat, mid, shards, todo, tok, batch_rows):
            side: dict[str, tuple[list[str], list[np.ndarray]]] = {}
            counts: dict[str, int] = {}
            for s, ids, lengths, doc_ids in encoded:
                if s not in writers:
                    raise IntegrityError(f"{mid}: {shards[i]['path']} holds documents of {s}, which the manifest does not count as kept")
                writers[s].add(ids, lengths)
                ids_acc, lens_acc = side.setdefault(s, ([], []))
                ids_acc += doc_ids
                lens_acc.append(lengths)
                counts[s] = counts.get(s, 0) + int(lengths.sum())
            for s, (doc_ids, lens) in side.items():
                t = pa.table({"id": pa.array(doc_ids, pa.string()), "tokens": pa.array(np.concatenate(lens), pa.int64())}, schema=SIDE_SCHEMA)
                path = work / "side" / s / f"{i:06d}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(t, path)
            state["writers"] = {s: w.checkpoint() for s, w in writers.items()}
            state["by_shard"][shards[i]["path"]] = dict(sorted(counts.items()))
            state["next_shard"] = i + 1
            write_text_atomic(state_path, json.dumps(state))
            log(f"shard {i + 1}/{len(shards)}: {sum(counts.values()):,} tokens")
    except BaseException:
        for w in writers.values():
            w.close()
        raise
    datasets, side_entries = [], []
    for s in live:
        w = writers[s]
        if w.sequences != kept[s]:
            raise IntegrityError(f"{mid}: source {s} has {kept[s]:,} kept documents in its manifest but {w.sequences:,} in its shards")
        w.finish()
        rel = f"{DATA_DIR}/{s}.parquet"
        pieces = sorted((work / "side" / s).glob("*.parquet"))
        with pq.ParquetWriter(out_dir / rel, SIDE_SCHEMA, compression="zstd") as pw:
            for piece in pieces:
                pw.write_table(pq.read_table(piece))
        side_entries.append(file_entry(out_dir, rel, w.sequences))
        datasets.append({"source": s, "prefix": f"{DATA_DIR}/{s}", "dtype": dt_name, "sequences": w.sequences, "tokens": w.tokens,
                         "bin": file_entry(out_dir, f"{DATA_DIR}/{s}.bin", w.sequences),
                         "idx": file_entry(out_dir, f"{DATA_DIR}/{s}.idx", w.sequences), "side_table": rel})
    write_bytes_atomic(out_dir / parent["ledger"]["path"], read_verified(cat, mid, parent["ledger"]))
    tok_files = _tokenizer_files(tok, out_dir)
    by_source = {d["source"]: d["tokens"] for d in datasets}
    config = {"tokenize": {"parent": mid, "tokenizer": tok.record(), **{k: v for k, v in options.items() if k != "special_token_policy"}}}
    manifest = {
        "schema_version": "1.0",
        "kind": "tokenized",
        "parents": [mid],
        "name": f"{parent['name']}-tokenized-{tok.sha256[:8]}",
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "run": {"engine": engine, "seconds_total": round(time.perf_counter() - t0, 3), "resumed_from_shard": resumed},
        "code_version": f"corpusmill {__version__}",
        "purpose": parent["purpose"],
        "config": config,
        "config_digest": "sha256:" + hashlib.sha256(canonical_json(config).encode()).hexdigest(),
        "policy": parent["policy"],
        "models": [{"name": f"tokenizer {tok.path.name}", "sha256": tok.sha256}],
        "stages": [{**STAGE, "options": options}],
        "stage_stats": parent["stage_stats"],
        "sources": [s | ({"tokens": by_source.get(s["id"], 0)} if s["status"] == "admitted" else {}) for s in parent["sources"]],
        "totals": parent["totals"] | {"tokens": sum(by_source.values())},
        "document_schema": [{"name": "id", "type": "string"}, {"name": "tokens", "type": "int64"}],
        "shards": side_entries,
        "ledger": file_entry(out_dir, parent["ledger"]["path"], parent["ledger"]["rows"]),
        "tokenizer": tok.record(),
        "megatron": {"datasets": datasets, "tokenizer_files": tok_files},
        "tokens": {"total": sum(by_source.values()), "by_source": by_source,
                   "by_shard": {p: c for p, c in state["by_shard"].items()}, "empty_sources": sorted(s for s in kept if not kept[s])},
    }
    manifest = seal(manifest)
    validate_manifest(manifest)
    shutil.rmtree(work)
    write_text_atomic(out_dir / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    cat.publish(out_dir, manifest, sign=review.sign_if_key)  # as a run and a takedown: the producer signs what it made
    return TokenizeResult(manifest, out_dir, time.perf_counter() - t0, resumed, sum(d["sequences"] for d in datasets))


def _read_state(path: Path, log) -> dict[str, Any] | None:
    """The resume state, or None (start over) when it is missing or not one this code wrote — a
    state.json cut short or edited ended every rerun in a JSONDecodeError traceback."""
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        state = None
    if not (isinstance(state, dict) and isinstance(state.get("key"), str) and isinstance(state.get("next_shard"), int)
            and isinstance(state.get("writers"), dict) and isinstance(state.get("by_shard"), dict)):
        log(f"{path} is unreadable; starting over")
        return {"key": None}
    return state


def _encoded_shards(engine: str, cat: Catalog, mid: str, shards: list[dict[str, Any]], todo: list[int],
                    tok: tokenizer_mod.LoadedTokenizer, batch_rows: int):
    """(shard index, iterator of encoded batches) in shard order, whatever the engine."""
    if engine == "local":
        for i in todo:
            yield i, iter_encoded(read_verified(cat, mid, shards[i]), tok, batch_rows)
        return
    if engine != "ray":
        raise InputError(f"engine {engine!r}: tokenize runs on local or ray")
    from pipelines import tokenize_ray

    yield from tokenize_ray.encoded_shards(cat, mid, shards, todo, tok, batch_rows)
