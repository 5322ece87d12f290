"""``corpusmill tokenizer train ID --vocab-size N --out tokenizer.json``: a byte-level BPE for a model
trained from scratch, and the fertility report (tokens per character and per word, Korean and
English apart) of it next to any tokenizer given with ``--compare``.

The sample is deterministic: a document is in it when the first 8 hex digits of the sha256 of
its id, as a fraction of 2³², fall below ``sample_chars / total_chars`` (all documents when the
manifest is smaller), read in manifest order. Text is NFC-normalised (Korean syllables composed)
before the byte-level pre-tokenizer, so the same words give the same tokens however they were
typed. Same manifest + options → the same tokenizer.json bytes (HF ``tokenizers`` breaks merge
ties by the pair itself, not by hash order; checked in tests).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from corpusmill_base import arrowio
from corpusmill_base.atomic import write_text_atomic
from corpusmill_base.errors import InputError, OutputError
from filters import tokenizer as tokenizer_mod
from filters.pii_fields import shown_name
from manifests import derived, review
from manifests.catalog import Catalog, resolve_catalog_url
from pipelines.tokenize import read_verified

DEFAULT_SPECIALS = ("<|endoftext|>", "<|pad|>")
LANGS = ("ko", "en")


def _in_sample(doc_id: str, fraction: float) -> bool:
    return fraction >= 1.0 or int(hashlib.sha256(doc_id.encode("utf-8")).hexdigest()[:8], 16) / 2**32 < fraction


def sample(cat: Catalog, mid: str, sample_chars: int) -> list[tuple[str, str | None]]:
    """(text, lang) of the deterministic sample, in manifest order."""
    m = cat.get(mid)
    total = 0  # two passes, one shard in memory at a time: the sampling fraction needs the total first
    for shard in m["shards"]:
        t = arrowio.read_parquet(read_verified(cat, mid, shard), columns=["text"])
        total += int(pc.sum(pc.utf8_length(t.column("text"))).as_py() or 0)
    if not total:
        raise InputError(f"{mid} has no text to train a tokenizer on")
    fraction = sample_chars / total
    out = []
    for shard in m["shards"]:
        pf = arrowio.parquet_file(read_verified(cat, mid, shard))
        cols = ["id", "text"] + (["lang"] if "lang" in pf.schema_arrow.names else [])
        for batch in pf.iter_batches(batch_size=4096, columns=cols):
            langs = batch.column("lang").to_pylist() if "lang" in cols else [None] * batch.num_rows
            for i, t, lang in zip(batch.column("id").to_pylist(), batch.column("text").to_pylist(), langs):
                if _in_sample(i, fraction):
                    out.append((t, lang))
    return out


def train(
    mid: str,
    vocab_size: int,
    out: str | Path,
    catalog: str | Catalog | None = None,
    special_tokens: list[str] | None = None,
    sample_chars: int = 20_000_000,
    min_frequency: int = 2,
    compare: list[str] | None = None,
    allow_unapproved: bool = False,
) -> dict[str, Any]:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    cat = catalog if isinstance(catalog, Catalog) else Catalog(resolve_catalog_url(catalog))
    m = cat.get(mid)
    if derived.is_derived(m):
        raise InputError(f"{mid} is a {derived.kind(m)} manifest; train on the curated manifest ({', '.join(m['parents'])})")
    review.require_pullable(review.verify(cat, mid, check_files=False), allow_unapproved)
    specials = list(special_tokens or DEFAULT_SPECIALS)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size < len(alphabet) + len(specials) + 1:
        raise InputError(f"--vocab-size {vocab_size} is too small: a byte-level BPE needs {len(alphabet)} byte tokens + {len(specials)} special token(s) + merges")
    # Checked before the sample is read and the BPE trained (minutes on a real corpus): a mistyped
    # --compare path failed only after the new tokenizer was trained and written.
    compared = [(str(path), tokenizer_mod.load(path)) for path in compare or []]
    out = Path(out)
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": specials[0], "bos_token": None,
           "pad_token": specials[1] if len(specials) > 1 else None, "model_max_length": 1_000_000_000}
    cfg_text = json.dumps(cfg, indent=2, sort_keys=True) + "\n"
    _check_config_beside(out.parent / "tokenizer_config.json", cfg_text)
    docs = sample(cat, mid, sample_chars)
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials,
                                  initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator((t for t, _ in docs), trainer=trainer, length=len(docs))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, tok.to_str(pretty=True))
    write_text_atomic(out.parent / "tokenizer_config.json", cfg_text)
    trained = tokenizer_mod.load(out)
    fertilities = {str(out): fertility(trained, docs)}
    for path, other in compared:
        fertilities[path] = fertility(other, docs)
    return {"manifest": mid, "tokenizer": str(out), "sha256": trained.sha256, "vocab_size": trained.vocab_size,
            "special_tokens": specials, "sample": {"documents": len(docs), "chars": sum(len(t) for t, _ in docs)},
            "fertility": fertilities}


def _check_config_beside(path: Path, text: str) -> None:
    """Refuse, before the sample is read, a ``tokenizer_config.json`` beside ``--out`` that is
    not the one this training writes: ``--out`` named only ``tokenizer.json``, and a model
    folder's own config (its chat template, BOS, special tokens) was replaced without a word.
    The same training run again writes the same file, so a rerun is not refused."""
    try:
        present = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError):
        present = None
    if present != text:
        raise OutputError(f"{shown_name(str(path))} already exists and is not the one this training writes "
                          "(tokenizer train writes tokenizer_config.json beside --out); remove it or give --out in "
                          "another folder (nothing was trained)")


def fertility(tok: tokenizer_mod.LoadedTokenizer, docs: list[tuple[str, str | None]], max_chars: int = 2_000_000) -> dict[str, Any]:
    """Tokens per character and per whitespace word, for Korean and English documents apart
    (documents of other or unknown languages are left out); EOS not counted."""
    out: dict[str, Any] = {}
    for lang in LANGS:
        texts, n = [], 0
        for t, lg in docs:
            if lg == lang and n < max_chars:
                texts.append(t)
                n += len(t)
        if not texts:
            out[lang] = None
            continue
        encs = tok.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        tokens = sum(len(e.ids) for e in encs)
        chars = sum(len(t) for t in texts)
        words = sum(len(t.split()) for t in texts)
        out[lang] = {"documents": len(texts), "chars": chars, "words": words, "tokens": tokens,
                     "tokens_per_char": round(tokens / chars, 4) if chars else None,
                     "tokens_per_word": round(tokens / words, 4) if words else None}
    return out


def render(report: dict[str, Any]) -> str:
    lines = [f"byte-level BPE, vocab {report['vocab_size']:,}, trained on {report['sample']['documents']:,} documents "
             f"({report['sample']['chars']:,} chars) of {report['manifest']} → {report['tokenizer']} (sha256 {report['sha256'][:16]}…)",
             "fertility (tokens per char / per word; lower is better):"]
    for name, f in report["fertility"].items():
        cells = []
        for lang in LANGS:
            x = f.get(lang)
            cells.append(f"{lang} {x['tokens_per_char']:.3f}/char {x['tokens_per_word']:.2f}/word" if x else f"{lang} —")
        lines.append(f"  {name}: " + "   ".join(cells))
    return "\n".join(lines)
