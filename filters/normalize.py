"""Text normalisation: Unicode NFC, control characters, whitespace.

Internal runs of spaces are kept on purpose: statutes indent numbered items and WikiText
tokenises punctuation with spaces; collapsing them would change the text, not clean it.
"""

from __future__ import annotations

import re
import unicodedata

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


class Normalize(MapStage):
    name = "normalize"
    version = 2  # 2: control characters removed before NFC (idempotent: a second pass changes nothing)

    def process(self, batch: pa.RecordBatch) -> StageResult:
        return self.process_shared(batch, BatchAnalysis())

    def process_shared(self, batch: pa.RecordBatch, shared: BatchAnalysis) -> StageResult:
        texts = [normalize_text(t) for t in shared.get(TEXTS, batch)]
        shared.publish(TEXTS, texts)  # the strings of the text column it returns: later stages need not convert it back
        keep = [bool(t) for t in texts]
        return StageResult(
            keep=np.array(keep, dtype=bool),
            reasons=[None if k else "empty_after_normalisation" for k in keep],
            columns={"text": pa.array(texts, pa.string())},
        )
