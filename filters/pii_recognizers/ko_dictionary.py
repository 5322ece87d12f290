"""Korean person names by the MeCab-ko dictionary: its ``NNP,인명`` entries (runs joined across
one space), a person-tagged surname completed by a name-shaped stem cut into pieces, and the
dictionary look-ups the other rules share (is a word a common noun too, a place, nouns only).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Sequence

from .ko_name_cues import (
    _HANGUL_CHAR,
    _STEM,
    _STEM2,
    _TITLE_WORDS,
    HONORIFICS,
    NOT_NAMES,
    SURNAMES_1,
    _bare_surname,
    is_korean_name,
)
from .morphemes import JAMO, MecabToken, Morphs, entries

#: Pieces a name may be cut into, by Kiwi or MeCab (강/NNP 지/NNG 환/XR; 김/NNP,인명 예/NNG 채/NNG).
_NAME_PIECES = ("NNP", "NNG", "XR", "XSN", "NNB")


def _pieces_of_a_name(tokens: Sequence, j: int, end: int) -> bool:
    """Whether the tokens from ``j`` up to ``end`` are name pieces (nouns, roots, suffixes; Kiwi
    or MeCab) and none straddles ``end``."""
    while j < len(tokens) and tokens[j].end <= end:
        if tokens[j].tag not in _NAME_PIECES:
            return False
        j += 1
    return j == len(tokens) or tokens[j].start >= end  # no token straddles the stem's end


def _is_person(t: MecabToken) -> bool:
    return t.tag == "NNP" and t.sem == "인명"


_DICT_COMMON = ("NNG",)


_DICT_NOT_PERSON = ("지명", "기관")


def dictionary_names(text: str, morphs: Morphs) -> list[tuple[int, int]]:
    """Person names by the dictionary: runs of ``NNP,인명`` joined across at most one space,
    two or more Hangul syllables (a lone surname as in 김씨 is already anonymous)."""
    out: list[tuple[int, int]] = []
    n = len(morphs)
    i = -1
    for k in _indices(morphs.sems, "인명"):  # one quick pass, then only the names
        if k < i or morphs[k].tag != "NNP":
            continue  # inside the run just taken
        i = k
        j = i
        while j + 1 < n and _is_person(morphs[j + 1]) and text[morphs[j].end : morphs[j + 1].start] in ("", " "):
            j += 1
        s, e = morphs[i].start, morphs[j].end
        first, i = i, j + 1
        if _inside_a_word(text, morphs, first) or _cut_before(text, morphs, j) or _in_a_longer_entry(text, s, e):
            continue  # 불|이행자, 전기|까스, 제2|장, 루게릭|병, 리버|모아, 우크라|이나: a piece of a longer word
        if e - s == 1 and text[s] in SURNAMES_1:
            end = _surname_stem(text, morphs, i, s)
            if end is not None:
                out.append((s, end))
            continue
        word = text[s:e]
        if _DICT_NAME.fullmatch(word) and sum(c != " " for c in word) >= 2 and word not in NOT_NAMES and not _bare_surname(word):
            if first == j and has_other_reading(word):
                continue  # 조국, 이용자, 나폴리; 텍사스, 포스터: the person reading needs a cue (a title, an honorific)
            out.append((s, e))
    return out


def syllable_pieces(text: str, morphs: Morphs, starts: list[int], s: int, e: int) -> bool:
    """Whether ``text[s:e]`` is one written word that MeCab-ko reads only as one-syllable person
    morphemes, two or more (훌/룡 of 훌룡한, 노/잼, 존/윅): how it reads a word its dictionary does
    not know, so the dictionary vouches for no entry there (``pii@12``)."""
    if e - s < 2 or not _ALL_HANGUL_WORD.fullmatch(text, s, e):
        return False
    k = bisect.bisect_left(starts, s)
    if k + (e - s) > len(morphs) or k >= len(starts) or starts[k] != s:
        return False
    return all(
        morphs.starts[k + n] == s + n and morphs.ends[k + n] == s + n + 1 and morphs.tags[k + n] == "NNP" and morphs.sems[k + n] == "인명"
        for n in range(e - s)
    )


_ALL_HANGUL_WORD = re.compile(r"[가-힣]+")


def _indices(values: Sequence[str], value: str) -> list[int]:
    """The indices of ``value`` in ``values``, by ``list.index`` (a C scan) rather than a Python loop
    over every morpheme: most texts reaching the name rule hold one or two person morphemes in ~60."""
    out: list[int] = []
    k = -1
    try:
        while True:
            k = values.index(value, k + 1)
            out.append(k)
    except ValueError:
        return out


def _inside_a_word(text: str, morphs: Morphs, i: int) -> bool:
    """Whether morpheme ``i`` is glued to a digit, a Latin letter, a noun or a prefix before it:
    the tail of a compound (제2|장, 불|이행자, 전기|까스|세법), not a name. (After an adverb or a
    determiner it is a missing space, common in comments: 역시신동엽, 왠이동욱.)

    Not memoised: a cache keyed by the text and its morphemes (a new object per text) never hit
    (0 of 44,213 calls on the full e2e corpus's Korean documents) and kept up to 65,536 texts with
    their morpheme columns alive — ~220 MB of one process's RSS there (2026-12-07)."""
    s = morphs.starts[i]
    if s == 0 or not text[s - 1].isalnum() or JAMO.match(text, s - 1):
        return False  # (ㅋㅋ홍진호: a lone letter is laughter or tears, not a piece of the word)
    if not _HANGUL_CHAR.match(text, s - 1):
        return True
    return i > 0 and morphs.ends[i - 1] == s and morphs.tags[i - 1].split("+")[-1] in ("NNG", "NNP", "XPN", "SN", "SL")


def _cut_before(text: str, morphs: Morphs, j: int) -> bool:
    """Whether morpheme ``j`` is glued to a one-syllable noun or a verb after it: MeCab cut a
    longer word (루게릭|병, 리버|모아, 이명재|활치료, 로저스|컵) — but see the full Korean names below. A particle, copula, ending,
    suffix, title or honorific after a name is its company; a longer noun after it is a missing
    space, common in comments (현빈팬이잖아)."""
    e = morphs.ends[j]
    if j + 1 >= len(morphs) or morphs.starts[j + 1] != e or not _HANGUL_CHAR.match(text, e):
        return False
    tag, form = morphs.tags[j + 1].split("+")[0], text[e : morphs.ends[j + 1]]
    if form in _TITLE_WORDS or form in HONORIFICS:
        return False
    if not (tag in ("VV", "VA") or (tag in ("NNG", "NNP") and len(form) == 1)):
        return False
    if morphs.sems[j] == "인명" and e - morphs.starts[j] == 3 and is_korean_name(text[morphs.starts[j] : e]):
        # A full Korean name the dictionary knows as one entry (박민영, 이민정) glued to a verb or a
        # one-syllable noun is a missing space (박민영싫음, 이민정때매, 곽지민짱), unless that noun is
        # glued to a further noun (이명재|활|치료). KLUE dev: +14 names, 0 other spans.
        k = j + 2
        return tag in ("NNG", "NNP") and k < len(morphs) and morphs.starts[k] == morphs.ends[j + 1] and morphs.tags[k].split("+")[0] in ("NNG", "NNP", "XSN")
    return True


def _in_a_longer_entry(text: str, s: int, e: int) -> bool:
    """Whether ``text[s:e]`` lies inside a longer stretch of its glued Hangul word that the
    dictionary lists as one noun and never as a person (`pii@7`): 우크라|이나 (MeCab reads 우크라/인명
    + 이나/JC in its sentence; 우크라이나 is a 지명 entry), 노벨|상 (NNP), 퇴계|로 and 을지|로 (streets).
    KLUE dev: 7 spans fewer (우크라 ×4, 노벨 ×2, 아|이치현), none a name; the silver set: 2 fewer
    (유니|콘스), none a name; the 300-document deliveries: 1 fewer (우크라|이나 in KorQuAD)."""
    a, b = s, e
    while a > 0 and _HANGUL_CHAR.match(text, a - 1) and s - a < _LONGEST_GLUE:
        a -= 1
    while b < len(text) and _HANGUL_CHAR.match(text, b) and b - e < _LONGEST_GLUE:
        b += 1
    if (a, b) == (s, e):
        return False
    for end in range(b, e - 1, -1):
        for start in range(a, s + 1):
            if (start, end) != (s, e) and _noun_not_person(text[start:end]):
                return True
    return False


#: How far a longer entry may reach past a name on either side (우크라|이나: 2; 세브란스|병원: 2).
_LONGEST_GLUE = 4


def _noun_not_person(word: str) -> bool:
    r = readings(word)
    return bool(r) and all(c != "인명" for _t, c in r) and any(t in ("NNG", "NNP") for t, _c in r)


@functools.lru_cache(maxsize=65536)
def is_common_noun_too(word: str) -> bool:
    """Whether the dictionary also lists ``word`` as a common noun (이용자 "user", 정원수
    "garden tree", 조국 "homeland"): then its person reading needs a cue (a role word, a title,
    an honorific), which the other rules look for; the bare word is not taken as a name."""
    return any(f.startswith("NNG,") for f in entries(word))  # every entry (the lines of mecab -a for the word)


@functools.lru_cache(maxsize=65536)
def readings(word: str) -> frozenset[tuple[str, str]]:
    """Every ``(tag, class)`` the dictionary lists for ``word`` as one entry (인명 and 지명 for
    텍사스, NNG and 인명 for 포스터)."""
    out = set()
    for feature in entries(word):
        f = feature.split(",")
        out.add((f[0], f[1] if f[0] == "NNP" else "*"))
    return frozenset(out)


def has_other_reading(word: str) -> bool:
    """Whether the dictionary lists ``word`` also as a place or organisation, a common noun or an
    interjection (텍사스 인명/지명, 포스터 인명/NNG, 화이팅 인명/IC, 나폴리 인명/지명, 조국 인명/NNG):
    a word whose person reading is one of several. On KLUE dev, needing a cue for these (beyond
    the common nouns shaped like Korean names, which needed one before) took 127 spans off, 100
    of them no name (할리우드, 포르투갈, 스튜디오, 크리스마스, 나폴리, 이태원) and 29 names
    (가르시아, 윌리스, 서유리)."""
    return any((t == "NNP" and c in _DICT_NOT_PERSON) or t in ("NNG", "IC") for t, c in readings(word))


_DICT_NAME = re.compile(r"[가-힣]+(?: [가-힣]+)*")


def _surname_stem(text: str, morphs: Morphs, j: int, s: int) -> int | None:
    """End of a 3-syllable Korean name whose surname is ``text[s]`` and whose given name MeCab
    cut into dictionary pieces (김/NNP 예/NNG 채/NNG가), else None."""
    # The dictionary vouches for the surname, so the ending test that guards Kiwi's guesses
    # (위원회, 경찰서) is not needed; a 2-syllable name (김탄) is taken too.
    m = _STEM.match(text, s) or _STEM2.match(text, s)
    if m is None or not is_korean_name(m.group()):
        return None
    k = j
    while k < len(morphs) and morphs.starts[k] < m.end():
        if morphs.tags[k] in _DICT_COMMON and morphs.ends[k] - morphs.starts[k] >= 2:
            return None  # 송/NNP 달서/NNG: a given name in one-syllable pieces only (김/예/채)
        k += 1
    return m.end() if _pieces_of_a_name(morphs, j, m.end()) else None


#: Morphemes a name can be read as: nouns, roots, prefixes, numerals (오/NR 하나/NR), determiners.
_NOMINAL = ("NNG", "NNP", "NNB", "NR", "XR", "XPN", "XSN", "MM", "SL", "SH")


def _pieces(morphs: Morphs, starts: list[int], s: int, e: int) -> list[MecabToken]:
    k = max(bisect.bisect_right(starts, s) - 1, 0)
    out = []
    while k < len(morphs) and morphs[k].start < e:
        if morphs[k].end > s:
            out.append(morphs[k])
        k += 1
    return out


def _nominal(pieces: list[MecabToken]) -> bool:
    """Read as nouns only, and not starting with a bound noun (씨의 언니): no verb, adjective,
    adverb, ending or particle inside (독한 언니, 하나없이 오빠, 날아다님)."""
    return bool(pieces) and pieces[0].tag != "NNB" and all(p.tag.split("+")[0] in _NOMINAL for p in pieces)


def _place(morphs: Morphs, starts: list[int], s: int, e: int) -> bool:
    k = bisect.bisect_right(starts, s) - 1
    return k >= 0 and morphs[k].start == s and morphs[k].tag == "NNP" and morphs[k].sem in _DICT_NOT_PERSON
