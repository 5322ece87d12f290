"""Character classes of a text, counted with one numpy lookup (shared by langid and heuristics),
and which texts of a batch a pattern can match (langid, normalize).

Counting with regexes (``[^\\W\\d_]``, Hangul ranges) costs ~1 µs per character in Python's
``re``; a 64K-entry class table indexed by the code points is ~50× faster and gives every
count in one pass.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

SPACE, HANGUL, LATIN, OTHER_LETTER, DIGIT, SYMBOL = range(6)


@lru_cache(maxsize=1)
def _table() -> np.ndarray:
    table = np.full(0x10000, SYMBOL, dtype=np.uint8)
    for cp in range(0x10000):
        ch = chr(cp)
        if ch.isspace():
            table[cp] = SPACE
        elif 0xAC00 <= cp <= 0xD7A3 or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F:
            table[cp] = HANGUL
        elif ch.isalpha():
            table[cp] = LATIN if cp < 0x250 or 0x1E00 <= cp <= 0x1EFF else OTHER_LETTER
        elif ch.isdigit():
            table[cp] = DIGIT
    return table


def _classes(cps: np.ndarray) -> np.ndarray:
    """The class of each code point (uint32 array)."""
    high = cps > 0xFFFF
    if not high.any():
        return _table()[cps]
    cls = np.full(len(cps), SYMBOL, dtype=np.uint8)
    low = ~high
    cls[low] = _table()[cps[low]]
    cls[high & (cps >= 0x20000) & (cps < 0x31350)] = OTHER_LETTER
    return cls


def char_counts(text: str) -> np.ndarray:
    """Counts per class ``[space, hangul, latin, other_letter, digit, symbol]``.

    Code points above U+FFFF (emoji, rare CJK) count as symbols, except CJK extension letters.

    >>> char_counts("제1조 ab!").tolist()
    [1, 2, 2, 0, 1, 1]
    """
    if not text:
        return np.zeros(6, dtype=np.int64)
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return np.bincount(_classes(cps), minlength=6).astype(np.int64)


def batch_char_counts(texts: list[str], chunk_chars: int = 1 << 20) -> tuple[np.ndarray, np.ndarray]:
    """:func:`char_counts` of every text (an ``(n, 6)`` array) and its number of whitespace
    words (``len(text.split())``), computed over the whole batch at once.

    Per document, the encode/lookup/bincount calls cost ~8 µs however short the text — more
    than the counting itself for a 40-character review. Here the texts are joined and counted
    in chunks of about ``chunk_chars`` characters (the temporary arrays take ~20 bytes per
    character of a chunk; a longer text is a chunk of its own, counted like ``char_counts``). ``str.split()`` splits on
    ``str.isspace()`` characters, the ``SPACE`` class, so a word is a non-space character
    after a space or at the start of a text.

    >>> counts, words = batch_char_counts(["제1조 ab!", "", " a  b "])
    >>> counts.tolist(), words.tolist()
    ([[1, 2, 2, 0, 1, 1], [0, 0, 0, 0, 0, 0], [4, 0, 2, 0, 0, 0]], [2, 0, 2])
    """
    n = len(texts)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    counts = np.zeros((n, 6), dtype=np.int64)
    words = np.zeros(n, dtype=np.int64)
    ends = np.cumsum(lengths)
    start = 0
    while start < n:
        base = ends[start - 1] if start else 0
        end = max(start + 1, int(np.searchsorted(ends, base + chunk_chars, side="right")))
        k = end - start
        cps = np.frombuffer("".join(texts[start:end]).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        cls = _classes(cps)
        after_space = np.ones(len(cls), dtype=bool)
        after_space[1:] = cls[:-1] == SPACE
        firsts = (ends[start:end] - base - lengths[start:end])[lengths[start:end] > 0]
        after_space[firsts] = True
        word_start = (cls != SPACE) & after_space
        if k == 1:  # a long text alone: no document index (as char_counts)
            counts[start] = np.bincount(cls, minlength=6)
            words[start] = np.count_nonzero(word_start)
        else:
            doc = np.repeat(np.arange(k, dtype=np.int32), lengths[start:end])
            counts[start:end] = np.bincount(doc * 6 + cls, minlength=6 * k).reshape(k, 6)
            words[start:end] = np.bincount(doc[word_start], minlength=k)
        start = end
    return counts, words


#: Joins a batch for :func:`texts_matching`: a private-use character no pattern of ours matches.
BATCH_SEP = "\ue000"


def texts_matching(pattern: re.Pattern[str], texts: list[str]) -> list[int]:
    """The positions of the texts in which ``pattern`` finds a match, with one search over the
    batch joined by :data:`BATCH_SEP`, resumed at the next text after each hit — a C loop over
    the characters instead of a Python call per text (most texts have no match). ``pattern``
    must not match :data:`BATCH_SEP`. A match running from one text into the next counts for the
    first (a false positive, never a miss: every text is searched from its own start on).

    >>> texts_matching(re.compile("@|<"), ["a", "x@y", "b", "<p>", "", "c@"])
    [1, 3, 5]
    """
    joined = BATCH_SEP.join(texts)
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1) - 1  # each text's separator
    out: list[int] = []
    pos = 0
    while (m := pattern.search(joined, pos)) is not None:
        i = int(np.searchsorted(ends, m.start()))
        out.append(i)
        pos = int(ends[i]) + 1
    return out


def code_points(texts: list[str], sep: str = "") -> np.ndarray:
    """The code points of ``texts`` joined by ``sep``, as one uint32 array."""
    return np.frombuffer(sep.join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


@lru_cache(maxsize=8)
def _bmp_matching(pattern: str) -> np.ndarray:
    """For each code point below U+10000: does ``pattern`` (one character) match it."""
    table = np.zeros(0x10000, dtype=bool)
    bmp = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x10000)))
    hits = np.array([m.start() for m in re.finditer(pattern, bmp)], dtype=np.int64)
    table[np.where(hits < 0xD800, hits, hits + 0x800)] = True
    return table


def matching(pattern: str, cps: np.ndarray) -> np.ndarray:
    """Whether ``re.match(pattern, chr(c))`` for every code point of ``cps``, for a pattern that
    matches one character (``[^\\W\\d_]``, ``\\w``, ``\\d``): a table lookup below U+10000, the
    regex itself for the few above — Python's ``re`` classes, exactly, at numpy speed.

    >>> matching(r"[^\\W\\d_]", code_points(["a1_²한😀𝔘"])).tolist()
    [True, False, False, True, True, False, True]
    """
    flags = _bmp_matching(pattern)[np.minimum(cps, 0xFFFF)]
    high = np.flatnonzero(cps > 0xFFFF)
    if high.size:
        flags[high] = [re.match(pattern, chr(c)) is not None for c in cps[high].tolist()]
    return flags
