"""``corpusmill mix MIX.yaml``: tokenized manifests → a blend manifest (Megatron datasets per split
plus the ``--per-split-data-args-path`` blend, epochs per source recorded).

Example::

    name: legal-ko-v1
    purpose: {description: open-weights legal model, uses: [pretraining, commercial]}
    budget_tokens: 2000000          # optional: train tokens of the blend
    inputs:
      - {manifest: cm-…, weight: 1.0}                    # every source of a tokenized manifest
      - {manifest: cm-…, source: ko_statutes, epochs: 4} # one source, upsampled
    validation: {fraction: 0.01}    # or {tokens: N}; per source, held out by document
    test: {tokens: 5000}

Train tokens per source: an ``epochs: e`` input gets e × its train tokens; the ``weight`` inputs
share the rest of the budget (default budget: the epoch inputs' tokens + one pass over the weight
inputs) in proportion to their weights, each input's share split over its sources by their
tokens. Megatron's sampling weight of a dataset is its share of the train tokens; the effective
epochs per source (tokens drawn ÷ tokens held) are recorded.

Held-out documents are chosen by document id alone (the first 16 hex digits of sha256(id) as a
fraction of 2⁶⁴): ``fraction`` takes the documents below it, ``tokens`` the lowest ones until the
count is reached — so a document is in exactly one split, the same one on every run.

Legal gate: every input must trace to a curated manifest that is approved (unless
``--allow-unapproved``, recorded in the manifest), not be rejected/revoked itself, not be built
from a taken-down manifest, and the permitted uses of every source must cover the blend's
purpose (no override).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, ValidationError, model_validator

from corpusmill_base import arrowio
from corpusmill_base.atomic import write_table_atomic, write_text_atomic
from corpusmill_base.numbers import INT64_MAX
from corpusmill_base.dates import contract_date
from corpusmill_base.errors import ConfigError, InputError, IntegrityError, OutputError, PolicyError
from corpusmill_base.hashing import canonical_json
from filters.indexed_dataset import IndexedDatasetWriter
from manifests import derived, review
from manifests.catalog import Catalog, resolve_catalog_url
from manifests.manifest import seal
from manifests.schema import validate_manifest
from pipelines import __version__
from pipelines.config import Use, _explain, _format_loc, _Strict, read_yaml_mapping
from pipelines.tokenize import SIDE_SCHEMA, file_entry, read_verified

STAGE = {"name": "mix", "version": 1, "key": "mix@1"}
SPLITS = ("train", "valid", "test")
COPY_BATCH = 4096  # sequences copied per step
MARKER = ".corpusmill-mix"  # in every mix output folder: what a later mix may replace


class Purpose(_Strict):
    description: str = Field(min_length=1)
    uses: list[Use] = Field(min_length=1)


class HeldOut(_Strict):
    fraction: float | None = Field(default=None, gt=0, lt=1, strict=True)
    tokens: int | None = Field(default=None, gt=0, strict=True)

    @model_validator(mode="after")
    def _one(self) -> HeldOut:
        if (self.fraction is None) == (self.tokens is None):
            raise ValueError("give exactly one of fraction or tokens")
        return self


class Input(_Strict):
    manifest: str = Field(pattern=r"^cm-[0-9a-f]{16}$")
    source: str | None = None
    weight: float | None = Field(default=None, gt=0, strict=True)  # strict: `weight: yes` was 1.0, "2" was 2.0
    epochs: float | None = Field(default=None, gt=0, strict=True)

    @model_validator(mode="after")
    def _one(self) -> Input:
        if (self.weight is None) == (self.epochs is None):
            raise ValueError("give exactly one of weight or epochs")
        return self


class MixConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    purpose: Purpose
    inputs: list[Input] = Field(min_length=1)
    budget_tokens: int | None = Field(default=None, gt=0, strict=True)
    validation: HeldOut | None = None
    test: HeldOut | None = None


def load_mix(path: str | Path) -> MixConfig:
    path = Path(path)
    raw = read_yaml_mapping(path, "mix")
    try:
        return MixConfig.model_validate(raw)
    except ValidationError as e:
        lines = [f"{path}: {_format_loc(err['loc'], raw)}: {_explain(err)}" for err in e.errors()]
        raise ConfigError(lines[0] if len(lines) == 1 else "invalid mix file\n  " + "\n  ".join(lines)) from None


@dataclass
class Part:
    """One source of one input: its tokenized manifest and dataset."""
    index: int
    inp: Input
    manifest: dict[str, Any]
    dataset: dict[str, Any]

    @property
    def source(self) -> str:
        return self.dataset["source"]


def _u(doc_id: str) -> float:
    return int(hashlib.sha256(doc_id.encode("utf-8")).hexdigest()[:16], 16) / 2**64


def assign_splits(ids: list[str], tokens: np.ndarray, valid: HeldOut | None, test: HeldOut | None) -> np.ndarray:
    """Split code per document (0 train, 1 valid, 2 test), by document id only."""
    u = np.array([_u(i) for i in ids])
    out = np.zeros(len(ids), dtype=np.int8)
    if valid is None and test is None:
        return out
    order = np.argsort(u, kind="stable")
    start = 0.0  # valid first, then test; a fraction is the next band of u, tokens the next free documents by u
    for code, rule in ((1, valid), (2, test)):
        if rule is None:
            continue
        if rule.fraction is not None:
            take = np.flatnonzero((u >= start) & (u < start + rule.fraction) & (out == 0))
            start += rule.fraction
        elif rule.tokens is not None:  # (exactly one of the two: the rule's validator)
            free = order[out[order] == 0]
            n = int(np.searchsorted(np.cumsum(tokens[free]), rule.tokens) + 1)
            take = free[:n]
        out[take] = code
    return out


def _gate(cat: Catalog, cfg: MixConfig, allow_unapproved: bool) -> tuple[list[Part], dict[str, Any]]:
    parts: list[Part] = []
    unapproved: list[dict[str, str]] = []
    seen_sources: dict[str, str] = {}
    tokenizers = set()
    policies: dict[tuple[int, int | None], str] = {}
    for n, inp in enumerate(cfg.inputs):
        where = f"inputs[{n}]"
        m = cat.get(inp.manifest)
        if derived.kind(m) != "tokenized":
            raise InputError(f"{where}: {inp.manifest} is a {derived.kind(m)} manifest; mix takes tokenized manifests (corpusmill tokenize)")
        own = review.verify(cat, inp.manifest, check_files=False)
        if own.problems:
            raise IntegrityError(f"{inp.manifest} failed verification:\n  " + "\n  ".join(own.problems))
        if own.state in (review.REJECTED, review.REVOKED):
            raise PolicyError(f"{where}: {inp.manifest} was {own.state}; it cannot be mixed (use its successor, if named)")
        derived.require_current(cat, m)
        for pid in m["parents"]:
            st = review.replay(cat, cat.get(pid))
            if st.state != review.APPROVED:
                if not allow_unapproved:
                    raise review.NotApproved(pid, f"{where}: {inp.manifest} was built from {pid}, which is {st.state}, not approved").for_cli()
                unapproved.append({"manifest": pid, "state": st.state})
        tk = m["tokenizer"]
        # One tokenizer file is not enough: the same file with and without --add-bos (or another
        # --eos) was mixed silently, and the blend's manifest recorded the first input's policy.
        policies.setdefault((tk["eos_id"], tk["bos_id"] if tk["special_token_policy"]["bos"] == "prepended" else None), inp.manifest)
        tokenizers.add(tk["sha256"])
        datasets = {d["source"]: d for d in m["megatron"]["datasets"]}
        if inp.source is not None:
            if inp.source not in {s["id"] for s in m["sources"]}:
                raise InputError(f"{where}: {inp.manifest} has no source {inp.source!r}; its sources: {', '.join(sorted(datasets))}")
            if inp.source not in datasets:
                raise InputError(f"{where}: source {inp.source} of {inp.manifest} is empty (no documents to mix)")
            chosen = [datasets[inp.source]]
        else:
            chosen = list(datasets.values())
        policy = {p["source_id"]: p for p in m["policy"]}
        provenance = {x["id"]: x.get("provenance") or {} for x in m["sources"]}
        for d in chosen:
            s = d["source"]
            expires = provenance.get(s, {}).get("expires")
            if expires and dt.date.fromisoformat(str(expires)[:10]) < contract_date():  # the run refuses an expired contract; a blend made later did not
                raise PolicyError(f"{where}: the contract of source {s} of {inp.manifest} expired on {str(expires)[:10]}; "
                                  "it cannot be mixed into a new blend")
            if s in seen_sources:
                raise InputError(f"{where}: source {s} is already in the blend from {seen_sources[s]}; name each source once")
            seen_sources[s] = inp.manifest
            missing = sorted(set(cfg.purpose.uses) - set(policy.get(s, {}).get("permitted_uses", [])))
            if missing:
                raise PolicyError(f"{where}: source {s} of {inp.manifest} is not licensed for {', '.join(missing)} "
                                  f"(permitted: {', '.join(policy.get(s, {}).get('permitted_uses', [])) or 'none'}); the blend's purpose needs it")
            parts.append(Part(n, inp, m, d))
    if len(tokenizers) > 1:
        raise InputError(f"the inputs were tokenized with {len(tokenizers)} different tokenizers; a blend needs one")
    if len(policies) > 1:
        said = "; ".join(f"{mid}: EOS id {eos}, " + (f"BOS id {bos} prepended" if bos is not None else "no BOS")
                         for (eos, bos), mid in policies.items())
        raise InputError(f"the inputs were tokenized with different special tokens ({said}); a blend needs one policy — "
                         "tokenize them with the same --eos/--bos/--add-bos")
    gate = {"allow_unapproved": bool(allow_unapproved and unapproved), "unapproved": unapproved,
            "purpose_uses": list(cfg.purpose.uses), "checked": sorted({p.inp.manifest for p in parts})}
    return parts, gate


def _plan_tokens(cfg: MixConfig, parts: list[Part], train_tokens: dict[str, int]) -> tuple[int, dict[str, float]]:
    """(train budget, tokens drawn per source)."""
    epoch_tokens = {p.source: p.inp.epochs * train_tokens[p.source] for p in parts if p.inp.epochs is not None}
    weighted = [p for p in parts if p.inp.weight is not None]
    if cfg.budget_tokens is not None and not weighted:
        raise ConfigError("budget_tokens needs at least one input with a weight (inputs with epochs fix their own tokens)")
    if sum(epoch_tokens.values()) > INT64_MAX:  # `epochs: 1e300` wrote a 300-digit token count into the manifest
        raise ConfigError(f"the epochs inputs would draw {sum(epoch_tokens.values()):.3g} train tokens; a blend draws at most "
                          f"{INT64_MAX:,} (Megatron counts samples in 64 bits) — lower epochs")
    budget = cfg.budget_tokens if cfg.budget_tokens is not None else round(sum(epoch_tokens.values()) + sum(train_tokens[p.source] for p in weighted))
    rest = budget - sum(epoch_tokens.values())
    if rest < 0:
        raise ConfigError(f"budget_tokens {budget:,} is smaller than the {sum(epoch_tokens.values()):,.0f} tokens the epochs inputs need")
    drawn = dict(epoch_tokens)
    by_input: dict[int, list[Part]] = {}
    weights: dict[int, float] = {}
    for p in parts:
        if p.inp.weight is not None:
            by_input.setdefault(p.index, []).append(p)
            weights[p.index] = p.inp.weight
    wsum = sum(weights.values())
    for i, ps in by_input.items():
        share = rest * weights[i] / wsum
        held = sum(train_tokens[p.source] for p in ps)
        for p in ps:
            drawn[p.source] = share * train_tokens[p.source] / held if held else 0.0
    return budget, drawn


def _copy(src_bin: np.memmap, pointers: np.ndarray, lengths: np.ndarray, rows: np.ndarray, writer: IndexedDatasetWriter) -> None:
    item = src_bin.dtype.itemsize
    for lo in range(0, len(rows), COPY_BATCH):
        r = rows[lo:lo + COPY_BATCH]
        chunks = [src_bin[pointers[k] // item: pointers[k] // item + lengths[k]] for k in r]
        writer.add(np.concatenate(chunks) if chunks else np.zeros(0, src_bin.dtype), lengths[r])


def _check_out(out_dir: Path) -> None:
    """``--out`` is replaced whole, so it must be empty, absent or an earlier mix's output (its
    marker): ``--out .`` or ``--out ~/data`` deleted the folder and everything in it. A blend's
    ``manifest.json`` alone is no proof: a pulled blend has one, beside the trainer's checkpoints
    (review, session 13); an output written before the marker is rebuilt in an empty folder."""
    if not out_dir.is_dir() or not any(out_dir.iterdir()) or (out_dir / MARKER).exists():
        return
    raise OutputError(f"--out {out_dir} holds files that are not a mix output; mix replaces its --out whole — "
                      "give an empty or new folder (nothing was changed)")


def _r(x: float) -> float:
    return float(f"{x:.6g}")


@dataclass
class _Loaded:
    """One part's verified files: its side table's ids and tokens, the split of each document,
    the Megatron index and the ``.bin`` bytes."""
    ids: list[str]
    tokens: np.ndarray
    split: np.ndarray
    dtype: str
    lengths: np.ndarray
    pointers: np.ndarray
    bin: bytes


def _load(cat: Catalog, cfg: MixConfig, config: str | Path, p: Part) -> _Loaded:
    """Read and sha256-check a part's side table, ``.bin`` and ``.idx``, check they agree and
    that the held-out splits leave it train documents. The real run and ``--dry-run`` both call
    it: the dry run hashed nothing, so a damaged input surfaced only in the real run."""
    from filters.indexed_dataset import parse_index

    mid, d = p.inp.manifest, p.dataset
    side = arrowio.read_parquet(read_verified(cat, mid, next(s for s in p.manifest["shards"] if s["path"] == d["side_table"])))
    data = read_verified(cat, mid, d["bin"])
    dtype, lengths, pointers = parse_index(read_verified(cat, mid, d["idx"]), d["idx"]["path"])
    ids = side.column("id").to_pylist()
    tokens = side.column("tokens").to_numpy()
    if len(ids) != len(lengths) or not np.array_equal(tokens, lengths):
        raise IntegrityError(f"{mid}: side table of {p.source} does not match its Megatron index")
    split = assign_splits(ids, tokens, cfg.validation, cfg.test)
    if not (split == 0).any():
        raise ConfigError(f"{config}: the validation/test split takes every document of {p.source}; hold out less")
    return _Loaded(ids, tokens, split, dtype, lengths, pointers, data)


def _dry_run(cat: Catalog, cfg: MixConfig, config: str | Path, parts: list[Part], gate: dict[str, Any]) -> dict[str, Any]:
    """Every check the real run makes — each input file's sha256, side tables against their
    indexes, the splits, the token budget, the ledgers and tokenizer files — writing nothing."""
    train_tokens: dict[str, int] = {}
    for p in parts:
        loaded = _load(cat, cfg, config, p)
        train_tokens[p.source] = int(loaded.tokens[loaded.split == 0].sum())
    budget, _ = _plan_tokens(cfg, parts, train_tokens)
    for mid in dict.fromkeys(p.inp.manifest for p in parts):
        read_verified(cat, mid, cat.get(mid)["ledger"])
    for f in parts[0].manifest["megatron"]["tokenizer_files"]:
        read_verified(cat, parts[0].manifest["id"], f)
    return {"inputs": len(cfg.inputs), "sources": [p.source for p in parts], "manifests": gate["checked"],
            "train_tokens": int(budget), "gate": gate}


def mix(config: str | Path, catalog: str | Catalog | None = None, out: str | Path | None = None,
        allow_unapproved: bool = False, dry_run: bool = False):
    t0 = time.perf_counter()
    cfg = load_mix(config)
    cat = catalog if isinstance(catalog, Catalog) else Catalog(resolve_catalog_url(catalog))
    parts, gate = _gate(cat, cfg, allow_unapproved)
    out_dir = Path(out or Path("runs") / "mix" / cfg.name)
    _check_out(out_dir)
    if dry_run:
        return _dry_run(cat, cfg, config, parts, gate)
    if out_dir.exists():
        shutil.rmtree(out_dir)  # a blend is rebuilt from its inputs in seconds; nothing to resume
    out_dir.mkdir(parents=True)
    (out_dir / MARKER).touch()
    datasets: list[dict[str, Any]] = []
    sides: list[dict[str, Any]] = []
    split_tokens = {s: 0 for s in SPLITS}
    held_tokens: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="corpusmill-mix-") as tmp:
        for p in parts:
            mid = p.inp.manifest
            loaded = _load(cat, cfg, config, p)
            ids, tokens, split, dtype, lengths, pointers = (loaded.ids, loaded.tokens, loaded.split, loaded.dtype,
                                                            loaded.lengths, loaded.pointers)
            local_bin = Path(tmp) / f"{p.index}-{p.source}.bin"
            local_bin.write_bytes(loaded.bin)
            del loaded
            src_bin = np.memmap(local_bin, dtype=np.dtype(dtype), mode="r")
            held_tokens[p.source] = {}
            for code, name in enumerate(SPLITS):
                rows = np.flatnonzero(split == code)
                if not len(rows):
                    continue
                prefix = f"megatron/{name}/{p.source}"
                w = IndexedDatasetWriter(out_dir / prefix, dtype)
                _copy(src_bin, pointers, lengths, rows, w)
                w.finish()
                rel = f"{prefix}.parquet"
                write_table_atomic(pa.table({"id": pa.array([ids[k] for k in rows], pa.string()),
                                             "tokens": pa.array(tokens[rows], pa.int64())}, schema=SIDE_SCHEMA), out_dir / rel)
                sides.append(file_entry(out_dir, rel, len(rows)))
                datasets.append({"source": p.source, "split": name, "prefix": prefix, "dtype": dtype, "sequences": int(len(rows)),
                                 "tokens": int(tokens[rows].sum()), "bin": file_entry(out_dir, f"{prefix}.bin", int(len(rows))),
                                 "idx": file_entry(out_dir, f"{prefix}.idx", int(len(rows))), "side_table": rel, "input": p.index,
                                 "from": mid})
                held_tokens[p.source][name] = int(tokens[rows].sum())
                split_tokens[name] += int(tokens[rows].sum())
            del src_bin
    train_tokens = {s: h.get("train", 0) for s, h in held_tokens.items()}
    budget, drawn = _plan_tokens(cfg, parts, train_tokens)
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    for d in datasets:
        share = drawn[d["source"]] / budget if d["split"] == "train" else d["tokens"] / split_tokens[d["split"]]
        splits[d["split"]] += [f"{share:.12g}", d["prefix"]]
    epochs = {s: _r(drawn[s] / train_tokens[s]) for s in train_tokens}

    # The ledger: the curated ledgers of the inputs, rows of the blended sources only.
    used = {p.source for p in parts}
    ledgers, seen = [], set()
    for p in parts:
        if p.inp.manifest in seen:
            continue
        seen.add(p.inp.manifest)
        t = arrowio.read_parquet(read_verified(cat, p.inp.manifest, p.manifest["ledger"]))
        ledgers.append(t.filter(pc.is_in(t.column("source_id"), value_set=pa.array(sorted(used), pa.string()))))
    ledger = pa.concat_tables(ledgers)
    write_table_atomic(ledger, out_dir / "ledger.parquet")

    first = parts[0].manifest
    src_entries = []
    for p in parts:
        s = next(x for x in p.manifest["sources"] if x["id"] == p.source)
        src_entries.append(s | {"tokens": sum(held_tokens[p.source].values()), "from": p.inp.manifest})
    policy = [x for p in parts for x in p.manifest["policy"] if x["source_id"] == p.source]
    tok_files = []
    for f in first["megatron"]["tokenizer_files"]:
        target = out_dir / f["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read_verified(cat, first["id"], f))
        tok_files.append(file_entry(out_dir, f["path"], 0))
    config_json = json.loads(cfg.model_dump_json())
    by_source = {p.source: sum(held_tokens[p.source].values()) for p in parts}
    manifest = {
        "schema_version": "1.0",
        "kind": "blend",
        "parents": list(dict.fromkeys(p.inp.manifest for p in parts)),
        "name": cfg.name,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "run": {"engine": "local", "seconds_total": round(time.perf_counter() - t0, 3)},
        "code_version": f"corpusmill {__version__}",
        "purpose": config_json["purpose"],
        "config": {"mix": config_json},
        "config_digest": "sha256:" + hashlib.sha256(canonical_json(config_json).encode()).hexdigest(),
        "policy": policy,
        "models": first["models"],
        "stages": [{**STAGE, "options": {"allow_unapproved": gate["allow_unapproved"]}}],
        "stage_stats": [],
        "sources": src_entries,
        "totals": {k: sum(s["counts"][k] for s in src_entries) for k in ("records_in", "kept", "dropped", "quarantined")}
                  | {"tokens": sum(by_source.values())},
        "document_schema": [{"name": "id", "type": "string"}, {"name": "tokens", "type": "int64"}],
        "shards": sides,
        "ledger": file_entry(out_dir, "ledger.parquet", ledger.num_rows),
        "tokenizer": first["tokenizer"],
        "megatron": {"datasets": datasets, "tokenizer_files": tok_files},
        "tokens": {"total": sum(by_source.values()), "by_source": by_source, "by_split": split_tokens,
                   "by_source_split": held_tokens},
        "blend": {"splits": {s: (v or None) for s, v in splits.items()}, "train_tokens": int(budget),
                  "drawn_tokens": {s: round(v) for s, v in drawn.items()}, "epochs": epochs, "legal_gate": gate},
    }
    manifest = seal(manifest)
    validate_manifest(manifest)
    write_text_atomic(out_dir / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    cat.publish(out_dir, manifest, sign=review.sign_if_key)  # as a run and a takedown: the producer signs what it made
    return MixResult(manifest, out_dir)


@dataclass
class MixResult:
    manifest: dict[str, Any]
    out_dir: Path

    @property
    def id(self) -> str:
        return self.manifest["id"]
