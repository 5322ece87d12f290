"""Benchmark decontamination: drop documents that hold an evaluation item, mask fragments.

Matching works on a *normalised stream*: NFKC, case-folded, with every character that is not a
letter or a digit removed. Whitespace, line breaks and punctuation vary between copies of the
same item (KMMLU itself spells ``평가한 다 .`` and ``victimiz ation``), so the stream ignores
them: a copy with re-flowed lines, other quotes or fixed spacing gives the same stream.

Windows are character n-grams *per script*: a window starting at a Hangul syllable or CJK
character is ``window / wide_weight`` characters long (14), one starting at a Latin letter or a
digit ``window`` characters (40, about eight English words with the spaces removed). A Korean
syllable carries what ~3 Latin letters carry, so both are about four Korean or eight English
words. Word n-grams would break on the broken spacing above and on Korean particles glued to
nouns; character windows need no tokenizer (the sweep in docs/decontamination.md measures the
choice).

Each window is a 64-bit polynomial hash computed for a whole batch at once with numpy (prefix
sums over the code points, no Python loop per character), looked up in the sorted index of
every benchmark window (only every ``stride``-th window of a document in this first pass: a
question, option or text with at least ``stride`` windows is always seen, a shorter one only
with the rest of its item). Only documents with a hit take the slow path, which maps windows back to
character offsets and decides per item:

* **drop** (``benchmark_item``) — the document holds most of an item (``drop_share`` of the
  item's windows) or its question together with its correct answer;
* **mask** — only a fragment overlaps: the question alone, two or more options (an
  options-only copy), or at least ``mask_min_windows`` windows covering ``mask_share`` of a
  text item; the matched spans are replaced by ``mask_with`` and listed in the ``decontam``
  column;
* **quote** — a single option and nothing else matches (or a short shared span of a text
  item): that is what a statute looks like when a law exam quotes it (KMMLU criminal-law
  options quote articles of the Criminal Act verbatim). The document is kept untouched and the match is listed in ``decontam``, counted as
  ``quote_kept:<benchmark>``.

Benchmarks reach the stage as plain data (``StageContext.benchmarks``: ids, resolved paths,
read options, field names), are read with :mod:`filters.readers` and indexed once per worker in
:meth:`Decontaminate.setup`. Benchmark text never leaves the stage: the ledger and the column
name benchmark ids and item ids only.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa

from corpusmill_base.errors import ConfigError
from pydantic import Field

from filters import readers
from filters.analysis import TEXTS, BatchAnalysis, analysis_of
from filters.base import MapStage, StageOptions, StageResult

REASON = "benchmark_item"
MAX_PARTS = 16  # question/text + up to 15 options

_B = np.uint64(0x100000001B3 | 1)  # odd: invertible modulo 2**64
_B_INV = np.uint64(pow(int(_B), -1, 1 << 64))
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)


# --- normalisation ------------------------------------------------------------------------
#
# Per character, table-driven: each BMP code point maps to the first letter or digit of its
# NFKC form, case-folded (``①`` → ``1``, ``㈜`` → ``주``, ``Ｋ`` → ``k``, ``,`` → nothing; the rare
# character that expands to several, ``㎏`` or ``ß``, keeps its first: ``k``, ``s`` — in the
# index and in documents alike, so copies still match). One table lookup per character in
# numpy instead of ``unicodedata.normalize`` + ``casefold`` + a regular expression per
# document: no Python call per document, and every character of the stream knows the original
# character it came from (needed to mask). Per character, not per string: a decomposed
# Hangul jamo sequence stays jamo, in the index and in documents alike.

class _Tables:
    def __init__(self) -> None:
        #: per BMP code point: 1 when it yields a letter or digit, and the code point it yields
        self.length = np.zeros(0x10000, dtype=np.uint8)
        self.first = np.zeros(0x10000, dtype=np.uint32)
        for i in range(0x10000):
            if 0xD800 <= i <= 0xDFFF:
                continue
            kept = [c for c in unicodedata.normalize("NFKC", chr(i)).casefold() if c.isalnum()]
            if kept:
                self.length[i], self.first[i] = 1, ord(kept[0])
        self.weights: dict[int, np.ndarray] = {}

    def weight(self, wide_weight: int) -> np.ndarray:
        w = self.weights.get(wide_weight)
        if w is None:
            w = np.ones(0x10000, dtype=np.uint8)
            for lo, hi in _WIDE_RANGES:
                w[lo : hi + 1] = wide_weight
            self.weights[wide_weight] = w
        return w


_WIDE_RANGES = (
    (0xAC00, 0xD7A3),  # Hangul syllables
    (0x1100, 0x11FF),  # Hangul jamo
    (0x3130, 0x318F),  # compatibility jamo
    (0x3040, 0x30FF),  # kana
    (0x3400, 0x9FFF),  # CJK ideographs (Hanja in statutes)
    (0xF900, 0xFAFF),
)
_tables: _Tables | None = None


def _get_tables() -> _Tables:
    global _tables  # a per-process cache of constant tables (~1.5 MB, 0.1 s to build)
    if _tables is None:
        _tables = _Tables()
    return _tables


def codepoints(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normalised streams of ``texts``, concatenated: ``(code points, length per text,
    index in the concatenated input of each code point)`` (for one text: its character offsets)."""
    t = _get_tables()
    raw = np.fromiter((len(s) for s in texts), dtype=np.int64, count=len(texts))
    cp = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    if len(cp) == 0:
        e = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint32), np.zeros(len(texts), dtype=np.int64), e
    bmp = np.minimum(cp, 0xFFFF)
    lens = t.length[bmp]
    astral = np.flatnonzero(cp > 0xFFFF)
    if len(astral):  # rare: characters past the BMP are kept as they are when alphanumeric
        lens[astral] = [1 if chr(int(c)).isalnum() else 0 for c in cp[astral]]
    src = np.flatnonzero(lens)
    out = t.first[bmp[src]]
    if len(astral):
        big = cp[src] > 0xFFFF
        out[big] = cp[src][big]
    # characters kept per text: count the kept positions below each text's end
    lengths = np.diff(np.searchsorted(src, np.cumsum(raw)), prepend=0)
    return out, lengths.astype(np.int64), src


def normalise(text: str) -> str:
    """The matching stream: NFKC, case-folded, letters and digits only.

    >>> normalise("제250조(살인) ① 사람을  살해한 자는…")
    '제250조살인1사람을살해한자는'
    >>> normalise("The mark “Salt” for\\npackages.")
    'themarksaltforpackages'
    """
    cp, _, _ = codepoints([text])
    return cp.astype("<u4").tobytes().decode("utf-32-le")


# --- windows ------------------------------------------------------------------------------


class _Powers:
    """B**k and B**-k modulo 2**64, grown on demand (per process; plain cache, same results)."""

    def __init__(self) -> None:
        self.pw = np.ones(1, dtype=np.uint64)
        self.ipw = np.ones(1, dtype=np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if n > len(self.pw):
            size = 1 << max(16, n.bit_length())
            with np.errstate(over="ignore"):
                self.pw = np.cumprod(np.concatenate([[np.uint64(1)], np.full(size - 1, _B, dtype=np.uint64)]), dtype=np.uint64)
                self.ipw = np.cumprod(np.concatenate([[np.uint64(1)], np.full(size - 1, _B_INV, dtype=np.uint64)]), dtype=np.uint64)
        return self.pw[:n], self.ipw[:n]


_POWERS = _Powers()


def windows(
    cp: np.ndarray, lengths: np.ndarray, window: int, wide_weight: int, stride: int = 1,
    src: np.ndarray | None = None, words: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hash the windows of normalised streams (from :func:`codepoints`) at once.

    A window starts at every ``stride``-th character of the concatenation (with ``words``: at
    every ``stride``-th Hangul/CJK character or word start, see below). Returns ``(hashes,
    owner, start, end)``: the window hash, the index of its stream, and its span in that stream.
    Windows never cross streams.
    """
    n = int(lengths.sum())
    if n == 0:
        e = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint64), e, e, e
    # A window's length is set by its first character's script: ``window`` characters from a
    # Latin letter or digit, ``window / wide_weight`` from a Hangul syllable or CJK character
    # (40 and 14 by default). Content alone fixes every window, so equal text gives equal
    # windows wherever it stands, and no search is needed to find where a window ends.
    narrow_len, wide_len = window, -(-window // wide_weight)
    bounds = np.cumsum(lengths)
    weight = _get_tables().weight(wide_weight)
    if not words:
        starts = np.arange(0, n, stride, dtype=np.int64)
        wide = weight[np.minimum(cp[starts], 0xFFFF)] > 1
        ends = starts + np.where(wide, wide_len, narrow_len)
    else:
        # Word windows for Latin (measured against character windows in bench/decontamination.py):
        # a word is a run of characters that were adjacent in the original text (``src`` holds
        # their offsets); a window from a Latin word start spans ``words`` words, one from a
        # Hangul/CJK character stays ``window / wide_weight`` characters.
        assert src is not None
        word_start = np.ones(n, dtype=bool)
        word_start[1:] = src[1:] != src[:-1] + 1
        word_start[(bounds - lengths)[lengths > 0]] = True
        wide_all = weight[np.minimum(cp, 0xFFFF)] > 1
        starts = np.flatnonzero(wide_all | word_start)[::stride].astype(np.int64)
        wide = wide_all[starts]
        cuts = np.append(np.flatnonzero(word_start), n)  # a stream ends where the next one's first word starts
        j = np.searchsorted(cuts, starts) + words
        ends = np.where(wide, starts + wide_len, cuts[np.minimum(j, len(cuts) - 1)])
        ends = np.where(wide | (j < len(cuts)), ends, n + 1)  # fewer than ``words`` words left: no window
    owner = np.searchsorted(bounds, starts, side="right")
    valid = ends <= bounds[owner]
    starts, ends, owner = starts[valid], ends[valid], owner[valid]
    pw, ipw = _POWERS.get(n)
    with np.errstate(over="ignore"):
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum(cp * ipw, out=prefix[1:], dtype=np.uint64)
        h = (prefix[ends] - prefix[starts]) * pw[starts]
        h ^= h >> np.uint64(32)  # the top bits address the index's bitmap: mix the low ones in
        h *= _MIX1
        h ^= h >> np.uint64(29)
    first = bounds - lengths
    return h, owner, starts - first[owner], ends - first[owner]


# --- benchmarks ---------------------------------------------------------------------------


@dataclass
class Item:
    benchmark: str
    item_id: str
    parts: list[str]  # [question or text, option 1, option 2, …]
    answer: int | None = None  # index into parts of the correct option


@dataclass
class LoadedBenchmark:
    id: str
    items: list[Item]
    files: list[dict[str, Any]]
    provenance: dict[str, Any] = field(default_factory=dict)


def _answer_index(raw: str, fmt: str, n_choices: int, choices: list[str]) -> int | None:
    raw = raw.strip()
    try:
        if fmt == "index1":
            k = int(float(raw)) - 1
        elif fmt == "index0":
            k = int(float(raw))
        elif fmt == "letter":
            k = ord(raw.upper()[:1]) - ord("A") if raw else -1
        else:  # text: the answer is the option's text
            k = choices.index(raw) if raw in choices else -1
    except ValueError:
        return None
    return k + 1 if 0 <= k < n_choices else None


def load_benchmark(spec: dict[str, Any]) -> LoadedBenchmark:
    """Read one benchmark (a plain spec, see :class:`pipelines.config.Benchmark`) with the readers.

    Each field is read in its own pass, the passes joined by the record's locator; the answer
    rides as the pass's ``id_field`` (the readers keep any scalar there, an ``int`` answer too).
    Raises :class:`ConfigError` naming the file and the record for anything unusable.
    """
    bid = spec["id"]
    question = spec.get("question_field")
    text_fields = list(spec.get("text_fields") or [])
    choice_fields = list(spec.get("choice_fields") or [])
    answer_field = spec.get("answer_field")
    id_field = spec.get("id_field")
    read = dict(spec.get("read") or {})
    items: list[Item] = []
    files: list[dict[str, Any]] = []
    for path, rel in spec["files"]:
        passes: list[tuple[str, tuple[str, ...], str | None]] = []
        if question:
            passes.append(("q", (question,), answer_field))
        else:
            passes.append(("q", tuple(text_fields), None))
        passes += [(f"c{k}", (f,), None) for k, f in enumerate(choice_fields)]
        if id_field:
            passes.append(("id", passes[0][1], id_field))
        columns: dict[str, dict[str, readers.Record]] = {}
        order: list[str] = []
        info = readers.FileInfo(path=rel)
        for name, fields, idf in passes:
            opts = readers.ReadOptions(
                format=read.get("format", "jsonl"),
                compression=read.get("compression", "auto"),
                encoding=read.get("encoding", "auto"),
                text_fields=fields,
                id_field=idf,
                record_path=read.get("record_path"),
                delimiter=read.get("delimiter"),
                header=read.get("header", True),
                columns=tuple(read["columns"]) if read.get("columns") else None,
            )
            got: dict[str, readers.Record] = {}
            info = readers.FileInfo(path=rel)
            try:
                with fsspec.open(path, "rb") as fh:
                    for ev in readers.read_file(fh, opts, info):
                        if isinstance(ev, readers.Record):
                            got[ev.locator] = ev
                            if name == "q":
                                order.append(ev.locator)
                        elif isinstance(ev, readers.Quarantined):
                            if name.startswith("c") and ev.error == "empty document":
                                continue  # an empty option is allowed (it just cannot match)
                            raise ConfigError(f"benchmark {bid!r}: {rel}: {ev.locator}: {ev.error}")
            except OSError as e:
                raise ConfigError(f"benchmark {bid!r}: {rel}: cannot read ({e.strerror or type(e).__name__})") from None
            columns[name] = got
        files.append({"path": rel, "sha256": info.sha256, "bytes": info.bytes})
        for loc in order:
            q = columns["q"][loc]
            choices = [columns[f"c{k}"][loc].text if loc in columns[f"c{k}"] else "" for k in range(len(choice_fields))]
            answer = None
            if answer_field:
                if q.record_id is None:
                    raise ConfigError(f"benchmark {bid!r}: {rel}: {loc}: answer field {answer_field!r} is missing or null")
                answer = _answer_index(q.record_id, spec.get("answer_format", "index1"), len(choices), choices)
                if answer is None:
                    raise ConfigError(
                        f"benchmark {bid!r}: {rel}: {loc}: answer {q.record_id!r} does not name one of "
                        f"{len(choices)} option(s) (answer_format {spec.get('answer_format', 'index1')})"
                    )
            item_id = loc if not id_field else (columns["id"][loc].record_id or loc)
            items.append(Item(bid, item_id if len(spec["files"]) == 1 else f"{rel}:{item_id}", [q.text, *choices], answer))
    if not items:
        raise ConfigError(f"benchmark {bid!r}: no items in {', '.join(r for _, r in spec['files'])}")
    return LoadedBenchmark(bid, items, files, dict(spec.get("provenance") or {}))


# --- index --------------------------------------------------------------------------------


class Index:
    """Sorted window hashes of every benchmark item, each with its item and part.

    12 bytes per window (uint64 hash + uint32 ``item * 16 + part``) plus per-item part counts;
    measured for 100,000 items in bench/decontamination.py.
    """

    def __init__(self, benchmarks: list[LoadedBenchmark], window: int, wide_weight: int, words: int = 0) -> None:
        self.window, self.wide_weight, self.words = window, wide_weight, words
        self.benchmarks = [b.id for b in benchmarks]
        items = [it for b in benchmarks for it in b.items]
        self.item_bench = np.array([k for k, b in enumerate(benchmarks) for _ in b.items], dtype=np.uint16)
        self.item_ids = [it.item_id for it in items]
        self.answer = np.array([it.answer if it.answer is not None else -1 for it in items], dtype=np.int8)
        self.n_options = np.array([len(it.parts) - 1 for it in items], dtype=np.int8)
        streams: list[str] = []
        refs: list[int] = []
        for i, it in enumerate(items):
            for p, text in enumerate(it.parts[:MAX_PARTS]):
                streams.append(text)
                refs.append(i * MAX_PARTS + p)
        all_refs = np.asarray(refs, dtype=np.uint32)
        hs, rs = [], []
        for a in range(0, len(streams), 20_000):  # in pieces: the prefix sums stay small
            cp, lengths, src = codepoints(streams[a : a + 20_000])
            h, owner, _, _ = windows(cp, lengths, window, wide_weight, 1, src, words)
            hs.append(h)
            rs.append(all_refs[a + owner])
        h = np.concatenate(hs) if hs else np.zeros(0, dtype=np.uint64)
        ref = np.concatenate(rs) if rs else np.zeros(0, dtype=np.uint32)
        del hs, rs
        # A window repeated inside one part is stored (and, when found, counted) twice: the
        # coverage stays right without a de-duplicating sort (which tripled the build's peak).
        self.part_windows = np.zeros((len(items), MAX_PARTS), dtype=np.uint16)
        np.add.at(self.part_windows, (ref // MAX_PARTS, ref % MAX_PARTS), 1)
        order = np.argsort(h, kind="stable")
        self.hashes, self.refs = h[order], ref[order]
        del order
        # A bitmap of the hashes' top bits in front of the sorted array: almost every window of
        # a clean document misses it, so most lookups cost a shift and a load, not a binary
        # search (measured on the statutes: lookups 0.56 s → 0.05 s). ~8 bits per window, ≤ 64 MB.
        bits = min(29, max(16, int(len(h) * 8).bit_length()))
        self._shift = np.uint64(64 - bits)
        table = np.zeros(1 << bits, dtype=bool)
        table[(h >> self._shift).astype(np.int64)] = True
        self.bitmap = np.packbits(table, bitorder="little")
        self.items_total = len(items)
        self.unmatchable = int((self.part_windows.sum(axis=1) == 0).sum())

    @property
    def nbytes(self) -> int:
        return int(self.hashes.nbytes + self.refs.nbytes + self.bitmap.nbytes + self.part_windows.nbytes + self.item_bench.nbytes
                   + self.answer.nbytes + self.n_options.nbytes + sum(len(s) + 49 for s in self.item_ids))

    def contains(self, h: np.ndarray) -> np.ndarray:
        if len(self.hashes) == 0:
            return np.zeros(len(h), dtype=bool)
        slot = (h >> self._shift).astype(np.int64)
        maybe = np.flatnonzero((self.bitmap[slot >> 3] >> (slot & 7).astype(np.uint8)) & 1)
        out = np.zeros(len(h), dtype=bool)
        if len(maybe):
            cand = h[maybe]
            pos = np.searchsorted(self.hashes, cand).clip(max=len(self.hashes) - 1)
            out[maybe] = self.hashes[pos] == cand
        return out

    def refs_of(self, h: np.ndarray) -> np.ndarray:
        """Every ``item * 16 + part`` holding one of the (uint64) hashes ``h``."""
        lo = np.searchsorted(self.hashes, h, side="left")
        hi = np.searchsorted(self.hashes, h, side="right")
        n = hi - lo
        total = int(n.sum())
        if total == 0:
            return np.zeros(0, dtype=np.uint32)
        at = np.repeat(lo, n) + np.arange(total) - np.repeat(np.cumsum(n) - n, n)
        return self.refs[at]


# --- decisions ----------------------------------------------------------------------------


@dataclass
class Match:
    action: str  # drop | mask | quote
    benchmark: str
    item: str
    score: str  # short, text-free: coverages
    index: int = -1  # the item's row in the index


@dataclass
class Decision:
    action: str | None  # drop | mask | quote | None
    matches: list[Match]
    text: str | None = None  # the masked text


_NOTHING = Decision(None, [])  # shared by every document without a match (never mutated)


class DecontaminateOptions(StageOptions):
    window: int = Field(default=40, ge=8, description="window length from a Latin letter or digit (characters)")
    wide_weight: int = Field(default=3, ge=1, description="a window from a Hangul syllable / CJK character is window / wide_weight characters (14)")
    drop_share: float = Field(default=0.5, gt=0, le=1, description="share of an item's windows in a document that drops it")
    part_share: float = Field(default=0.5, gt=0, le=1, description="share of a question's / option's windows that counts it as present")
    mask_min_windows: int = Field(default=8, ge=1, description="windows of a text item that make a fragment worth masking")
    mask_share: float = Field(default=0.2, ge=0, le=1, description="share of a text item a fragment must cover to be masked (else: a quote)")
    mask_with: str = Field(default="", description="replacement for a masked span")
    # The first pass looks up every 4th window only: a benchmark part present in a document is
    # a run of consecutive matching windows (≥ 8 for anything the stage acts on), so it is still
    # seen; documents with a hit are then read window by window.
    stride: int = Field(default=4, ge=1, description="the first pass looks up every n-th window")
    # Word n-grams lose edited copies (a removed space moves word boundaries); measured in
    # docs/decontamination.md: 0.59-0.91 recall on edited forms against 0.95 for characters.
    words: int = Field(default=0, ge=0, description="0: Latin windows of `window` characters; N: of N words instead")
    max_source_share: float = Field(default=0.001, ge=0, le=1, description="guard: a source losing more than this share to the stage is reported (fails --strict)")


class Decontaminate(MapStage):
    """Drop documents holding a benchmark item, mask fragments, leave quoted law alone.

    Options (:class:`DecontaminateOptions`, all optional):

    ``window``            window length from a Latin letter or digit (default 40 characters)
    ``wide_weight``       a window from a Hangul syllable / CJK character is window / wide_weight
                          characters long (default 3: 14 syllables)
    ``drop_share``        share of an item's windows in a document that drops it (default 0.5)
    ``part_share``        share of a question's / option's windows that counts it as present (0.5)
    ``mask_min_windows``  windows of a text item that make a fragment worth masking (default 8)
    ``mask_share``        …and the share of the text item they must cover; a shorter shared span
                          is a quotation and is kept (default 0.2)
    ``mask_with``         replacement for a masked span (default ``""``: removed)
    ``stride``            the first pass looks up every n-th window (default 4)
    ``max_source_share``  guard: a source losing more than this share of its documents to this
                          stage is reported loudly, and fails a ``--strict`` run (default 0.001)
    ``words``             0: Latin windows of ``window`` characters (default); N: of N words.
                          Measured against characters (docs/decontamination.md): same precision,
                          a 4× smaller index, but 0.59–0.91 recall on edited copies against 0.95

    Every decision is in the ledger: a drop as the record's row (reason ``benchmark_item``,
    benchmark and item ids in ``detail``), a mask or a quote as a note on its kept row
    (``StageResult.notes``).
    """

    name = "decontaminate"
    version = 1
    output_fields = [
        pa.field(
            "decontam",
            pa.list_(pa.struct([("action", pa.string()), ("benchmark", pa.string()), ("item", pa.string())])),
        )
    ]
    Options = DecontaminateOptions
    opts: DecontaminateOptions

    def __init__(
        self,
        options: Any = None,
        context: Any = None,
        benchmarks: list[LoadedBenchmark] | None = None,
        on_decisions: Callable[[pa.RecordBatch, list[Decision]], None] | None = None,
    ):
        """``benchmarks`` already loaded (else read from ``context.benchmarks`` in :meth:`setup`);
        ``on_decisions`` sees every batch's decisions (the stand-alone command writes them out)."""
        super().__init__(options, context)
        self.on_decisions = on_decisions
        o = self.opts
        self.window, self.wide_weight, self.stride, self.words = o.window, o.wide_weight, o.stride, o.words
        self.drop_share, self.part_share = o.drop_share, o.part_share
        self.mask_min_windows, self.mask_share, self.mask_with = o.mask_min_windows, o.mask_share, o.mask_with
        self.max_source_share = o.max_source_share
        self._given = benchmarks
        self.index: Index | None = None
        self._loaded: list[LoadedBenchmark] = []

    def setup(self) -> None:
        specs = list(getattr(self.context, "benchmarks", None) or [])
        loaded = self._given if self._given is not None else [load_benchmark(s) for s in specs]
        if not loaded:
            raise ConfigError("decontaminate: no benchmarks declared (add a `benchmarks:` section to the config)")
        self._loaded = loaded
        self.index = Index(loaded, self.window, self.wide_weight, self.words)

    def describe(self) -> dict[str, Any]:
        """Options plus, per benchmark, its files' sha256, its item count and its provenance — never its text."""
        self.ensure_setup()
        out = super().describe()
        out["benchmarks"] = [
            {"id": b.id, "items": len(b.items), "files": b.files, "provenance": b.provenance} for b in self._loaded
        ]
        return out

    # -- per batch --

    def process(self, batch: pa.RecordBatch) -> StageResult:
        return self.process_shared(batch, BatchAnalysis())

    def process_shared(self, batch: pa.RecordBatch, shared: BatchAnalysis) -> StageResult:
        decisions = self.decide(shared.get(TEXTS, batch))
        if self.on_decisions is not None:
            self.on_decisions(batch, decisions)
        return self.result(batch, decisions, shared)

    def result(self, batch: pa.RecordBatch, decisions: list[Decision], shared: BatchAnalysis | None = None) -> StageResult:
        """The stage's answer for ``batch`` from its :meth:`decide` decisions (one per row)."""
        texts = analysis_of(shared).get(TEXTS, batch)
        sources = batch.column("source_id").to_pylist() if "source_id" in batch.schema.names else [""] * len(texts)
        n = len(texts)
        keep = np.ones(n, dtype=bool)
        reasons: list[str | None] = [None] * n
        details: list[str | None] = [None] * n
        column: list[list[dict] | None] = [None] * n
        notes: list[tuple[str, str | None] | None] = [None] * n
        new_text = list(texts)  # a copy: ``texts`` may be shared with other stages
        counters: dict[str, dict[str, int]] = {}
        for i, d in enumerate(decisions):
            if d.action is None:
                continue
            src = counters.setdefault(sources[i], {})
            # documents, not matches: a document holding two items of one benchmark counts once
            for key in {f"{'quote_kept' if m.action == 'quote' else m.action}:{m.benchmark}" for m in d.matches}:
                src[key] = src.get(key, 0) + 1
            if d.action == "drop":
                keep[i] = False
                reasons[i] = REASON
                details[i] = _detail([m for m in d.matches if m.action == "drop"])
            else:
                column[i] = [{"action": m.action, "benchmark": m.benchmark, "item": m.item} for m in d.matches]
                notes[i] = (d.action, _detail(d.matches, d.action))  # → the record's ledger row
                if d.text is not None:
                    new_text[i] = d.text
        if shared is not None:
            shared.publish(TEXTS, new_text)
        columns = {
            "text": pa.array(new_text, pa.string()),
            "decontam": pa.array(column, self.output_fields[0].type),
        }
        return StageResult(keep=keep, reasons=reasons, columns=columns, details=details, counters=counters, notes=notes)

    def decide(self, texts: list[str]) -> list[Decision]:
        """One decision per text; a text with no window in the index costs its share of one
        numpy pass over the batch, nothing more."""
        self.ensure_setup()
        assert self.index is not None
        out = [_NOTHING] * len(texts)
        cp, lengths, src = codepoints(texts)
        h, owner, _, _ = windows(cp, lengths, self.window, self.wide_weight, self.stride, src, self.words)
        found = np.flatnonzero(self.index.contains(h))
        if len(found) == 0:
            return out
        owners = owner[found]
        cuts = np.flatnonzero(np.diff(owners)) + 1
        for group in np.split(found, cuts):
            i = int(owner[group[0]])
            out[i] = self._decide_one(texts[i])
        return out

    def _decide_one(self, text: str) -> Decision:
        """Every window of one document that had a hit: judge each item they point at."""
        idx = self.index
        assert idx is not None
        cp, lengths, offsets = codepoints([text])
        h, _, start, end = windows(cp, lengths, self.window, self.wide_weight, 1, offsets, self.words)
        found = np.flatnonzero(idx.contains(h))
        # distinct matched windows per (item, part): the index holds each (hash, ref) once
        refs, counts = np.unique(idx.refs_of(np.unique(h[found])), return_counts=True)
        per_item: dict[int, dict[int, int]] = {}
        for ref, n in zip(refs.tolist(), counts.tolist()):
            per_item.setdefault(ref // MAX_PARTS, {})[ref % MAX_PARTS] = n
        matches = [m for item in sorted(per_item) if (m := self._judge(item, per_item[item])) is not None]
        if not matches:
            return Decision(None, [])
        if any(m.action == "drop" for m in matches):
            return Decision("drop", matches)
        masked = {m.index for m in matches if m.action == "mask"}
        if not masked:
            return Decision("quote", matches)
        spans = [
            (int(offsets[int(start[k])]), int(offsets[int(end[k]) - 1]) + 1)
            for k in found.tolist()
            if any(r // MAX_PARTS in masked for r in idx.refs_of(h[k : k + 1]).tolist())
        ]
        return Decision("mask", matches, _mask(text, spans, self.mask_with))

    def _judge(self, item: int, matched: dict[int, int]) -> Match | None:
        idx = self.index
        assert idx is not None
        totals = idx.part_windows[item]
        total = int(totals.sum())
        got = sum(matched.values())
        cov = {p: n / int(totals[p]) for p, n in matched.items() if totals[p]}
        item_cov = got / total if total else 0.0
        bench = idx.benchmarks[int(idx.item_bench[item])]
        answer = int(idx.answer[item])
        options = int(idx.n_options[item])
        q_cov = cov.get(0, 0.0)
        a_cov = cov.get(answer, 0.0) if answer > 0 else 0.0
        present = [p for p, c in cov.items() if c >= self.part_share]
        score = f"item={item_cov:.2f}" + (f" q={q_cov:.2f} a={a_cov:.2f}" if options else "")
        make = lambda action: Match(action, bench, idx.item_ids[item], score, item)  # noqa: E731
        q_ok = q_cov >= self.part_share
        if item_cov >= self.drop_share or (q_ok and answer > 0 and a_cov >= self.part_share):
            return make("drop")
        if options == 0:
            # A text item: a fragment long enough and a real share of the item is masked; a
            # shorter shared span is a quotation both texts take from elsewhere (a Wikipedia
            # paragraph quoting the Criminal Act matched s026 at 2 % of its windows).
            if got < self.mask_min_windows:
                return None
            return make("mask") if item_cov >= self.mask_share else make("quote")
        if q_ok or sum(1 for p in present if p > 0) >= 2:
            return make("mask")  # the question alone, or an options-only copy
        if present:
            return make("quote")  # one option alone: a quotation (law), not the item
        return None


def _detail(matches: list[Match], action: str | None = None, limit: int = 3) -> str:
    """``kmmlu item=[45] item=1.00 q=1.00 a=1.00; …`` (a match of another action than the
    document's is marked, e.g. ``(quote)`` beside a mask); at most ``limit``, then ``+N more``."""
    shown = [f"{m.benchmark} item={m.item} {m.score}" + (f" ({m.action})" if action and m.action != action else "") for m in matches[:limit]]
    return "; ".join(shown) + (f"; +{len(matches) - limit} more" if len(matches) > limit else "")


def _mask(text: str, spans: Iterable[tuple[int, int]], replacement: str) -> str:
    merged: list[list[int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out, pos = [], 0
    for s, e in merged:
        out.append(text[pos:s])
        out.append(replacement)
        pos = e
    out.append(text[pos:])
    return "".join(out)
