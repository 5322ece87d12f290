"""A Hugging Face ``tokenizer.json`` loaded once, with what a manifest must record about it.

``PATH`` is the file or a folder holding one (as every open model ships it); a
``tokenizer_config.json`` beside it names the model's BOS/EOS tokens. Nothing is downloaded.

Special-token policy (recorded in the manifest, identical for every document): the tokenizer's
post-processor template is not applied (``add_special_tokens=False``); special-token strings
that occur in the *text* are encoded as plain text (``encode_special_tokens``), so a document
can never inject an EOS or a chat marker; EOS is appended to every document, BOS is prepended
only with ``bos=True``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from corpusmill_base.errors import InputError
from corpusmill_base.hashing import sha256_file

EOS_NAMES = ("<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>", "<|eot_id|>", "[SEP]")
BOS_NAMES = ("<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>", "[CLS]")


@dataclass
class LoadedTokenizer:
    path: Path
    sha256: str
    vocab_size: int
    eos_id: int
    eos_token: str
    bos_id: int | None
    bos_token: str | None
    special_tokens: list[str]
    bos: bool = False
    _tok: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.bos and self.bos_id is None:
            raise ValueError("a tokenizer that prepends BOS needs its bos_id")

    @property
    def tokenizer(self):
        return self._tok

    def policy(self) -> dict[str, Any]:
        return {"template": "not applied (add_special_tokens=False)", "special_tokens_in_text": "encoded as plain text",
                "bos": "prepended" if self.bos else "not added", "eos": "appended to every document"}

    def record(self) -> dict[str, Any]:
        return {"file": self.path.name, "sha256": self.sha256, "vocab_size": self.vocab_size, "eos_id": self.eos_id,
                "eos_token": self.eos_token, "bos_id": self.bos_id, "bos_token": self.bos_token,
                "special_tokens": self.special_tokens, "special_token_policy": self.policy()}

    def encode_batch(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Concatenated ids (int64) and one length per text, EOS appended (BOS prepended when asked)."""
        encs = self._tok.encode_batch_fast(texts, add_special_tokens=False)
        # One pass of Python over the Encodings (their .ids lists), then numpy: EOS (and BOS) are
        # inserted at the document boundaries instead of building a new list per document.
        lists = [e.ids for e in encs]
        raw = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        flat = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=int(raw.sum()))
        ends = np.cumsum(raw)
        ids = np.insert(flat, ends, self.eos_id)
        if self.bos and self.bos_id is not None:  # (bos implies bos_id: __post_init__)
            ids = np.insert(ids, ends - raw + np.arange(len(raw)), self.bos_id)
        lengths = raw + 1 + int(self.bos)
        return ids, lengths

    def encode(self, text: str) -> list[int]:
        """One document's ids under the same policy (what a test compares the datasets against)."""
        ids, _ = self.encode_batch([text])
        return ids.tolist()


def _token_name(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def resolve_path(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise InputError(f"{path}: no tokenizer.json there (give a Hugging Face tokenizer.json or a folder holding one)")
    return p


def load(path: str | Path, eos: str | None = None, bos: str | None = None, add_bos: bool = False) -> LoadedTokenizer:
    """Load and describe a tokenizer; every problem is a one-line :class:`InputError`."""
    from tokenizers import Tokenizer

    p = resolve_path(path)
    try:
        tok = Tokenizer.from_file(str(p))
    except Exception as e:  # the Rust side raises plain Exception with a serde message
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{p}: not a readable Hugging Face tokenizer.json ({first})") from None
    tok.encode_special_tokens = True
    cfg_path = p.parent / "tokenizer_config.json"
    cfg: dict[str, Any] = {}
    if cfg_path.is_file():
        try:
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise InputError(f"{cfg_path}: not valid JSON ({e})") from None
        if not isinstance(cfg, dict):  # `[]` or `null` ended tokenize (and its --dry-run) in AttributeError
            raise InputError(f"{cfg_path}: not a JSON object (a {type(cfg).__name__}); transformers writes one mapping there")
    special = sorted(t.content for t in tok.get_added_tokens_decoder().values() if t.special)
    vocab = tok.get_vocab_size(with_added_tokens=True)

    def pick(given: str | None, key: str, names: tuple[str, ...], what: str) -> tuple[str, int] | None:
        name = given or _token_name(cfg.get(key)) or next((n for n in names if tok.token_to_id(n) is not None), None)
        if name is None:
            return None
        tid = tok.token_to_id(name)
        if tid is None:
            raise InputError(f"{p}: {what} token {name!r} is not in its vocabulary")
        return name, tid

    def unknown(names: tuple[str, ...], what: str) -> InputError:
        return InputError(f"{p}: cannot tell its {what} token (none of {', '.join(names)}); name it with --{what.lower()} TOKEN")

    found_eos = pick(eos, "eos_token", EOS_NAMES, "EOS")
    if found_eos is None:
        raise unknown(EOS_NAMES, "EOS")
    eos_token, eos_id = found_eos
    found_bos = pick(bos, "bos_token", BOS_NAMES, "BOS")
    if found_bos is None and add_bos:
        raise unknown(BOS_NAMES, "BOS")
    bos_token, bos_id = found_bos if found_bos is not None else (None, None)
    return LoadedTokenizer(p, sha256_file(p), vocab, eos_id, eos_token, bos_id, bos_token, special, add_bos, tok)
