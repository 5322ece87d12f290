"""Text normalisation: Unicode NFC, control characters, whitespace.

Internal runs of spaces are kept on purpose: statutes indent numbered items and WikiText
tokenises punctuation with spaces; collapsing them would change the text, not clean it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np
import pyarrow as pa

from filters.analysis import TEXTS, BatchAnalysis
from filters.base import MapStage, StageResult

# C0/C1 controls except tab and newline, plus zero-width and BOM characters.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u2060\ufeff]")
# Exotic spaces (NBSP, ideographic space U+3000, en/em spaces …) become an ASCII space.
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_TRAILING = re.compile(r"[ \t]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """Return the normalised form of ``text``.

    >>> normalize_text("  제1조\\u3000(목적)\\r\\n\\r\\n\\r\\n\\r\\n본문\\x07  ")
    '제1조 (목적)\\n\\n본문'
    >>> normalize_text("a\\x0b\\x0b\\u030a")  # idempotent: composes on the first pass
    'å'
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Controls go before NFC: a control between a letter and its combining mark would otherwise
    # keep them apart on this pass and let them compose on the next ('a\x0b\u030a' → 'å'), so
    # normalising twice would change the text.
    text = _CONTROL.sub("", text)
    text = unicodedata.normalize("NFC", text)
    text = _SPACES.sub(" ", text)
    text = _TRAILING.sub("\n", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip()


@lru_cache(maxsize=1)
def _removed() -> np.ndarray:
    """For each code point below U+10000: does a pass change it wherever it is (``\\r``, a
    control, an exotic space). No code point above matches either pattern."""
    table = np.zeros(0x10000, dtype=bool)
    bmp = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x10000)))
    hits = [m.start() for pat in (_CONTROL, _SPACES) for m in pat.finditer(bmp)]
    table[[h if h < 0xD800 else h + 0x800 for h in hits]] = True
    table[ord("\r")] = True
    return table


def _needing_passes(texts: list[str]) -> np.ndarray:
    """Whether each text holds something the regex passes change: ``\\r``, a control, an exotic
    space, a space or tab before a line break, three line breaks in a row — found over the
    batch's code points at once (a regex over the joined batch took 0.4 CPU-s per 20 MB)."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    cps = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    hit = _removed()[np.minimum(cps, 0xFFFF)] & (cps <= 0xFFFF)
    newline = cps == 10
    hit[1:] |= newline[1:] & ((cps[:-1] == 32) | (cps[:-1] == 9))  # [ \t]+\n ends in one of them
    hit[2:] |= newline[2:] & newline[1:-1] & newline[:-2]  # \n{3,}
    # Hits per text from the running count (a pair or triple reaching back into the previous text
    # marks this one: a false positive, harmless — it takes the whole way — never a miss).
    total = np.concatenate([[0], np.cumsum(hit, dtype=np.int64)])
    ends = np.cumsum(lengths)
    per_text = total[ends] - total[ends - lengths]
    return per_text > 0


def normalize_texts(texts: list[str]) -> list[str]:
    """:func:`normalize_text` of every text; the regex passes run only on the texts that hold
    something they change.

    The others are already NFC-normalised (``is_normalized`` is a quick check) and need only
    the strip, or are not, and take the whole way. NFC cannot create what the passes remove
    (no canonical mapping yields a control, a space or a line break), so this equals
    :func:`normalize_text`; tests/test_perf_gates.py compares them. The six passes cost ~3 µs
    per text even for a 40-character review (bench/e2e.py's 20 MB corpus: 0.55 CPU-s).

    >>> normalize_texts(["  제1조\\u3000(목적)  ", "plain ", "a\\x0b\\u030a", "", "x \\ny"])
    ['제1조 (목적)', 'plain', 'å', '', 'x\\ny']
    """
    if not texts:
        return []
    full = _needing_passes(texts)
    return [normalize_text(t) if full[i] or not unicodedata.is_normalized("NFC", t) else t.strip() for i, t in enumerate(texts)]


class Normalize(MapStage):
    name = "normalize"
    version = 2  # 2: control characters removed before NFC (idempotent: a second pass changes nothing)

    def process(self, batch: pa.RecordBatch) -> StageResult:
        return self.process_shared(batch, BatchAnalysis())

    def process_shared(self, batch: pa.RecordBatch, shared: BatchAnalysis) -> StageResult:
        texts = normalize_texts(shared.get(TEXTS, batch))
        shared.publish(TEXTS, texts)  # the strings of the text column it returns: later stages need not convert it back
        keep = [bool(t) for t in texts]
        return StageResult(
            keep=np.array(keep, dtype=bool),
            reasons=[None if k else "empty_after_normalisation" for k in keep],
            columns={"text": pa.array(texts, pa.string())},
        )
