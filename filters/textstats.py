"""Character classes of a text, counted with one numpy lookup (shared by langid and heuristics).

Counting with regexes (``[^\\W\\d_]``, Hangul ranges) costs ~1 µs per character in Python's
``re``; a 64K-entry class table indexed by the code points is ~50× faster and gives every
count in one pass.
"""

from __future__ import annotations

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


def char_counts(text: str) -> np.ndarray:
    """Counts per class ``[space, hangul, latin, other_letter, digit, symbol]``.

    Code points above U+FFFF (emoji, rare CJK) count as symbols, except CJK extension letters.

    >>> char_counts("제1조 ab!").tolist()
    [1, 2, 2, 0, 1, 1]
    """
    if not text:
        return np.zeros(6, dtype=np.int64)
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    high = cps > 0xFFFF
    if high.any():
        cls = np.full(len(cps), SYMBOL, dtype=np.uint8)
        low = ~high
        cls[low] = _table()[cps[low]]
        cls[high & (cps >= 0x20000) & (cps < 0x31350)] = OTHER_LETTER
    else:
        cls = _table()[cps]
    return np.bincount(cls, minlength=6).astype(np.int64)
