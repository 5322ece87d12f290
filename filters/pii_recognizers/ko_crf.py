"""A learned Korean name tagger beside the rules (issue #20; off by default, option ``crf_names``).

A linear-chain CRF (CRFsuite, through ``python-crfsuite``) over MeCab-ko morphemes, labels
``B``/``I``/``O`` per morpheme. Features are the morpheme's tag and semantic class, its shape
(surname first, given-name syllables, length, space before, glued after), its form unless it is
a proper noun (so it learns contexts — titles, particles, verbs — rather than a list of names),
its last syllable, and the same for two morphemes either side.

**Training data is silver**: the rules of this package (the ``pii`` stage's detection, default
options) label permissively licensed text, with two constraints: a sentence is kept only if every
name the rules found starts and ends on MeCab-ko morpheme boundaries and scored at least 0.7 (a
cue or the dictionary, not Kiwi's proper noun alone: those are the teacher's guesses). The shipped
model is trained at set-up from ``examples/data`` only (the CC0 NSMC sample, public-domain
statutes and bills), so it needs nothing outside the repository; never from KLUE, the silver
Wikipedia set or the generated evaluation set. Same data → same model bytes (L-BFGS, fixed order).

Build: ``python -m filters.pii_recognizers train-names --out MODEL`` (``make setup`` runs it
into the model cache as ``ko-names-crf.crfsuite``, with a JSON card beside it).
"""

from __future__ import annotations

import bisect
import gzip
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .ko_dictionary import _cut_before, _in_a_longer_entry, _inside_a_word, has_other_reading
from .ko_name_cues import _GIVEN_SYLLABLES, _TITLE_WORDS, HONORIFICS, NOT_NAMES, SURNAMES_1, is_korean_name
from .ko_vetoes import common_word, function_word, not_a_name
from .morphemes import Morphs

MODEL_NAME = "ko-names-crf.crfsuite"
#: Bumped when the features or the silver constraints change (the model card records it).
FEATURES_VERSION = 1
#: A silver sentence is kept only when every teacher name scored at least this (cue 0.85, dictionary 0.7).
TEACHER_MIN_SCORE = 0.7
TRAINER_PARAMS = {"c1": 0.05, "c2": 0.01, "max_iterations": 150, "feature.possible_transitions": True}
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "data"

_SENTENCE_END = ("SF",)
#: Tags whose form is not a feature: the tagger learns a name's context and shape, not a list of
#: names (a proper noun's form would be one).
_NOT_LEXICAL = ("NNP",)


def sentences(text: str, morphs: Morphs) -> list[tuple[int, int]]:
    """Morpheme index ranges ``[i, j)`` of the sentences of ``text``: split after a sentence-final
    mark and before a morpheme preceded by a line break."""
    out, i = [], 0
    n = len(morphs)
    for k in range(n):
        if k > i and "\n" in text[morphs.ends[k - 1] : morphs.starts[k]]:
            out.append((i, k))
            i = k
        if morphs.tags[k] in _SENTENCE_END:
            out.append((i, k + 1))
            i = k + 1
    if i < n:
        out.append((i, n))
    return out


def _word_feats(text: str, morphs: Morphs, k: int) -> list[str]:
    s, e = morphs.starts[k], morphs.ends[k]
    form = text[s:e]
    tag = morphs.tags[k].split("+")[0]
    sem = morphs.sems[k] if tag == "NNP" else ""
    feats = [f"t={tag}", f"ts={tag}|{sem}", f"n={min(e - s, 4)}"]
    if tag not in _NOT_LEXICAL:
        feats.append(f"w={form}")
    if form and form[0] in SURNAMES_1:
        feats.append("sur")
    if _GIVEN_SYLLABLES.fullmatch(form):
        feats.append("given")
    if form in _TITLE_WORDS or form in HONORIFICS:
        feats.append("title")
    if form in NOT_NAMES:
        feats.append("notname")
    feats.append(f"last={form[-1:]}")
    return feats


def features(text: str, morphs: Morphs, i: int, j: int) -> list[list[str]]:
    """CRFsuite item features for morphemes ``i``…``j - 1``."""
    base = [_word_feats(text, morphs, k) for k in range(i, j)]
    out = []
    for k in range(i, j):
        s, e = morphs.starts[k], morphs.ends[k]
        f = ["b", *base[k - i]]
        f.append("sp" if s == 0 or text[s - 1].isspace() else "glued")
        if k + 1 < j and morphs.starts[k + 1] == e:
            f.append("glued_next")
        # the whitespace word holding this morpheme, its Hangul stem shaped like a full name
        ws = s
        while ws > 0 and not text[ws - 1].isspace():
            ws -= 1
        m = re.match(r"[가-힣]{2,4}", text[ws:])
        if m and is_korean_name(m.group()) and ws == s:
            f.append("word_name_shaped")
        for off in (-2, -1, 1, 2):
            q = k + off
            if i <= q < j:
                f.extend(f"{off}:{x}" for x in base[q - i] if not x.startswith("last="))
            else:
                f.append(f"{off}:pad")
        out.append(f)
    return out


def labels_for(morphs: Morphs, i: int, j: int, spans: Sequence[tuple[int, int]]) -> list[str] | None:
    """``B``/``I``/``O`` for morphemes ``i``…``j - 1`` from character spans, or None when a span
    does not start and end on morpheme boundaries inside the sentence."""
    labels = ["O"] * (j - i)
    starts, ends = morphs.starts, morphs.ends
    for s, e in spans:
        a = bisect.bisect_left(starts, s, i, j)
        b = bisect.bisect_left(ends, e, i, j)
        if a >= j or b >= j or starts[a] != s or ends[b] != e or b < a:
            return None
        labels[a - i] = "B"
        for q in range(a + 1, b + 1):
            labels[q - i] = "I"
    return labels


# --------------------------------------------------------------------------------------------
# Silver data and training.


def example_texts(root: Path = EXAMPLES) -> list[tuple[str, str]]:
    """``(source, text)`` of the bundled Korean samples (CC0 NSMC reviews, public-domain statutes
    and bills; examples/ATTRIBUTION.md), in a fixed order."""
    out = []
    with gzip.open(root / "nsmc_sample.jsonl.gz", "rt", encoding="utf-8") as f:
        out += [("nsmc_sample", json.loads(line)["text"]) for line in f if line.strip()]
    with open(root / "statutes.jsonl", encoding="utf-8") as f:
        out += [("statutes", json.loads(line)["text"]) for line in f if line.strip()]
    for p in sorted((root / "bills_cp949").glob("*.txt")):
        out.append(("bills", p.read_bytes().decode("cp949", errors="replace")))
    return out


def silver(texts: Sequence[str], teacher: Any) -> tuple[list[list[list[str]]], list[list[str]], dict[str, int]]:
    """Feature and label sequences labelled by ``teacher`` (a ``PresidioScrubber``), with the
    constraints of the module docstring; and counts of what was kept and dropped."""
    from .morphemes import default_mecab, tokenize_mecab

    tagger = default_mecab()
    found = teacher.detect(list(texts), ["ko"] * len(texts))
    xs, ys = [], []
    stats = {"sentences": 0, "with_names": 0, "names": 0, "dropped_boundary": 0, "dropped_low_score": 0}
    for text, spans in zip(texts, found):
        persons = [f for f in spans if f.type == "PERSON"]
        morphs = tokenize_mecab(tagger, text)
        for i, j in sentences(text, morphs):
            if j - i < 2:
                continue
            s0, e0 = morphs.starts[i], morphs.ends[j - 1]
            inside = [f for f in persons if f.start < e0 and f.end > s0]
            if any(f.score < TEACHER_MIN_SCORE for f in inside):
                stats["dropped_low_score"] += 1
                continue
            labels = labels_for(morphs, i, j, [(f.start, f.end) for f in inside])
            if labels is None:
                stats["dropped_boundary"] += 1
                continue
            xs.append(features(text, morphs, i, j))
            ys.append(labels)
            stats["sentences"] += 1
            stats["with_names"] += bool(inside)
            stats["names"] += len(inside)
    return xs, ys, stats


def train(out: Path, sources: Iterable[tuple[str, str]] | None = None, teacher: Any = None) -> dict[str, Any]:
    """Train the tagger on silver data from ``sources`` (default: the bundled examples) labelled by
    ``teacher`` (default: a ``PresidioScrubber`` with default options) into ``out``, write the
    card ``out.json`` beside it, and return the card."""
    import pycrfsuite

    from corpusmill_base.atomic import write_bytes_atomic
    from corpusmill_base.hashing import sha256_file
    from filters.pii import PresidioScrubber

    pairs = list(sources if sources is not None else example_texts())
    if teacher is None:
        teacher = PresidioScrubber({})
        teacher.ensure_setup()
    xs, ys, stats = silver([t for _, t in pairs], teacher)
    trainer = pycrfsuite.Trainer(verbose=False)
    for x, y in zip(xs, ys):
        trainer.append(x, y)
    trainer.set_params(TRAINER_PARAMS)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.train-{os.getpid()}")  # concurrent set-ups share the cache
    trainer.train(str(tmp))
    write_bytes_atomic(out, tmp.read_bytes())
    tmp.unlink()
    counts: dict[str, int] = {}
    for src, _ in pairs:
        counts[src] = counts.get(src, 0) + 1
    card = {
        "name": out.name,
        "sha256": sha256_file(out),
        "features_version": FEATURES_VERSION,
        "teacher": f"pii@{PresidioScrubber.version} rules, names scored ≥ {TEACHER_MIN_SCORE} on morpheme boundaries",
        "data": {"documents": counts, "licences": "NSMC sample CC0 1.0; statutes and bills public domain (Korean Copyright Act art. 7)"},
        "silver": stats,
        "trainer": {"algorithm": "lbfgs", **TRAINER_PARAMS},
        "python-crfsuite": _version("python-crfsuite"),
    }
    write_bytes_atomic(out.with_name(out.name + ".json"), (json.dumps(card, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode())
    return card


# --------------------------------------------------------------------------------------------
# Use: the tagger's names, and the checks a name must pass where the rules were silent.


class NameTagger:
    """A loaded model: :meth:`names` gives the spans it tags as names, with their probability."""

    def __init__(self, path: Path):
        import pycrfsuite

        self.path = path
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open(str(path))

    def names(self, text: str, morphs: Morphs) -> list[tuple[int, int, float]]:
        out = []
        for i, j in sentences(text, morphs):
            if not any(morphs.sems[k] == "인명" or morphs.tags[k] in ("NNP", "NNG", "XR", "UNKNOWN") for k in range(i, j)):
                continue
            labels = self._tagger.tag(features(text, morphs, i, j))
            k = 0
            while k < len(labels):
                if labels[k] != "B":
                    k += 1
                    continue
                q = k + 1
                while q < len(labels) and labels[q] == "I":
                    q += 1
                p = self._tagger.marginal("B", k)
                out.append((morphs.starts[i + k], morphs.ends[i + q - 1], p))
                k = q
        return out


def accepted(text: str, morphs: Morphs, s: int, e: int, common_noun_veto: bool = True) -> bool:
    """Whether a tagger name where the rules were silent passes the grammar and the dictionary:
    a Korean full name by shape (surname + given-name syllables, not a listed common word), not
    a piece of a longer word, not read by the dictionary as a common noun, another proper noun,
    a noun plus particles, a verb form or a function word, and not one entry the dictionary also
    lists with another reading (:func:`.ko_dictionary.has_other_reading`)."""
    word = text[s:e]
    if not is_korean_name(word):
        return False
    starts = morphs.starts
    k = bisect.bisect_left(starts, s)
    j = bisect.bisect_left(morphs.ends, e)
    if k >= len(morphs) or j >= len(morphs) or starts[k] != s or morphs.ends[j] != e:
        return False
    if _inside_a_word(text, morphs, k) or _cut_before(text, morphs, j) or _in_a_longer_entry(text, s, e):
        return False  # 우크라|이나: a piece of a longer entry, as for the dictionary's own names (pii@7)
    if not_a_name(morphs, starts, s, e) or function_word(morphs, starts, s, e):
        return False
    if common_noun_veto and k == j and has_other_reading(word):
        return False  # 나폴리, 남주: the dictionary's other reading needs a cue, as for its own names
    return not common_word(text, morphs, starts, s, e, strict=True if common_noun_veto else False)


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None
