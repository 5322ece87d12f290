"""Vetoes on Korean name candidates, read from MeCab-ko's morphemes: a candidate that is a
common noun, a place or organisation, a noun plus particles, a verb form, a function word, or
that cuts a word; and the particles trimmed off a span's end (김구의 → 김구).
"""

from __future__ import annotations

import bisect

from .ko_dictionary import _DICT_COMMON, _DICT_NOT_PERSON, _NOMINAL, is_common_noun_too
from .ko_name_cues import _TITLE_WORDS
from .morphemes import Morphs


def not_a_name(morphs: Morphs, starts: list[int], s: int, e: int) -> bool:
    """Whether the dictionary says ``[s, e)`` is something other than a person's name:

    * one morpheme covers it and is a common noun (사건, 유치원) or a proper noun of another
      kind (서귀포/지명, 이마트, 나로호);
    * it starts with a place or organisation name (서해/지명+상, 한국/지명+팀, 영남/지명+제분);
    * it is a common noun of two or more syllables plus particles only (사진+이, 제안+에).
    """
    k = bisect.bisect_right(starts, s) - 1
    if k < 0:
        return False
    t = morphs[k]
    if t.start <= s and t.end >= e:
        return t.tag in _DICT_COMMON or (t.tag == "NNP" and t.sem != "인명")
    if t.start != s:
        return False
    if t.tag == "NNP" and t.sem in _DICT_NOT_PERSON:
        return True
    if t.tag in _DICT_COMMON and t.end - t.start >= 2:
        return _particles_to(morphs, k + 1, e)
    return False


def _particles_to(morphs: Morphs, j: int, e: int, only: frozenset[str] | None = None) -> bool:
    """Whether the morphemes from ``j`` up to ``e`` are particles (of ``only``, if given) and
    none runs past ``e``."""
    while j < len(morphs) and morphs.ends[j] <= e and morphs.tags[j].startswith("J") and (only is None or morphs[j].form in only):
        j += 1
    return j == len(morphs) or morphs.starts[j] >= e


def _split_inside(morphs: Morphs, starts: list[int], e: int) -> bool:
    """Whether a title word runs across ``e``: the title after a candidate is the tail of a
    longer title (부위|원장 is 부/XPN 위원장), so there is no name before it. (곽시양|군 is 곽/시/
    양군 to MeCab: 양군 is no title, the name stays.)"""
    k = bisect.bisect_right(starts, e - 1) - 1
    return k >= 0 and morphs[k].start < e < morphs[k].end and morphs[k].form in _TITLE_WORDS


#: -하다/-되다 forms before a noun: 조산한 의사, 선임된 변호사.
_ADNOMINAL_SUFFIXES = frozenset("한 된 할 될 하는 되는 하던 되던".split())


def not_a_word(morphs: Morphs, starts: list[int], s: int, e: int) -> bool:
    """The veto after a role word, which outranks a dictionary noun (예금주 정원수) but not a
    reading as a noun plus particles (피해자가 손해를), a noun made a verb (사망한) or one verb
    form."""
    k = bisect.bisect_right(starts, s) - 1
    if k < 0 or morphs[k].start != s:
        return False
    t = morphs[k]
    if t.end >= e:
        return t.tag.split("+")[0] not in _NOMINAL  # one verb or adverb form: 하는 (names MeCab cuts up stay)
    if t.tag in _DICT_COMMON and t.end - t.start >= 2 and t.end < e:
        nxt = morphs[k + 1] if k + 1 < len(morphs) else None
        if nxt is not None and nxt.tag.startswith(("XSV", "XSA")) and nxt.form in _ADNOMINAL_SUFFIXES:
            return True  # a noun made a verb or adjective before a noun: 사망한, 허가한, 정당한 (not 임소하)
        if nxt is not None and nxt.tag == "XSN" and nxt.form == "적":
            return True  # -적 (的): 전자적, 명시적
        return nxt is not None and nxt.end <= e and _particles_to(morphs, k + 1, e, _NOT_NAME_PARTICLES)
    return False


#: Particles no given name ends in. MeCab also reads 박채서, 강도도, 남하은 as a noun plus a
#: particle (서, 도, 은, 아, 나, 이 are given-name syllables too), so only these count here.
_NOT_NAME_PARTICLES = frozenset("을 를 에 에서 에게 께 으로 로 로서 로부터 의 과 와 까지 부터 처럼 보다".split())


def trim_particles(found: dict, morphs: Morphs, starts: list[int], *cued: set) -> dict:
    """Spans with the particles MeCab reads at their end set outside (김구의 → 김구: the
    placeholder never swallows a particle); a span left with one syllable is dropped (형의,
    안에서, 이에). The sets in ``cued`` are updated with the trimmed spans."""
    out: dict[tuple[int, int], float] = {}
    for (s, e), score in found.items():
        k = bisect.bisect_left(morphs.ends, e)
        new_e = e
        while k < len(morphs) and morphs.ends[k] == new_e and morphs.starts[k] > s and morphs.tags[k].startswith("J"):
            if morphs.text[morphs.starts[k] : morphs.ends[k]] not in _NOT_NAME_PARTICLES:
                break
            new_e = morphs.starts[k]
            k -= 1
        if new_e != e:
            for c in cued:
                if (s, e) in c:
                    c.discard((s, e))
                    c.add((s, new_e))
        if new_e - s >= 2 and out.get((s, new_e), 0) < score:
            out[(s, new_e)] = score
    return out


#: Numerals, bound nouns and counters: 부여/NNG 일/NR "date of grant", 지급/NNG 분/NNB.
_COUNTER_TAGS = ("NR", "NNB", "NNBC")


def noun_and_counter(morphs: Morphs, starts: list[int], s: int, e: int) -> bool:
    """For Kiwi's proper noun alone: the dictionary reads the word as a common noun of two or more
    syllables and a numeral, bound noun or counter (확정일자 부여|일, 통지|일): a date or unit word
    made of a noun, not a surname and a given name. (A noun and a name suffix, 기성/NNG 용/XSN, is
    not this: many real names read so.)"""
    k = bisect.bisect_left(starts, s)
    if k + 1 >= len(morphs) or starts[k] != s or morphs.ends[k + 1] != e:
        return False
    return morphs.tags[k] in _DICT_COMMON and morphs.ends[k] - s >= 2 and morphs.tags[k + 1] in _COUNTER_TAGS


#: Parts of speech that never begin a name: pronouns, determiners, adverbs, conjunctions, interjections.
_FUNCTION_TAGS = ("NP", "MM", "MAG", "MAJ", "IC")


def function_word(morphs: Morphs, starts: list[int], s: int, e: int) -> bool:
    """A pronoun, determiner or adverb with particles only (이에, 이로, 여러, 그의)."""
    k = bisect.bisect_left(starts, s)
    if k == len(morphs) or starts[k] != s or morphs.tags[k].split("+")[0] not in _FUNCTION_TAGS:
        return False
    return morphs.ends[k] >= e or _particles_to(morphs, k + 1, e)


def common_noun_in_apposition(morphs: Morphs, starts: list[int], s: int, e: int) -> bool:
    """After a bare role word, a two-syllable word the dictionary knows only as one common noun
    (증인 위협, 채권자 지체): a one-syllable given name is rare, a two-syllable legal noun is not.
    Three syllables (예금주 정원수, 원고 홍길동) stay names."""
    k = bisect.bisect_left(starts, s)
    return e - s == 2 and k < len(morphs) and starts[k] == s and morphs.ends[k] == e and morphs.tags[k] in _DICT_COMMON


def common_word(text: str, morphs: Morphs, starts: list[int], s: int, e: int, strict: bool | None = True) -> bool:
    """For the weaker cues (a title after, a role word with a particle, Kiwi's proper noun):

    * the span does not start and end on morpheme boundaries: it cuts a word the dictionary
      reads otherwise (감사|원장, 신구|법의, 진의|아님);
    * it is a verb form: a stem cut from its ending (지정하|는), or an adnominal ending that
      modifies the next word (정하는 위원, 두는 간호사회, 정당한 사유);
    * a one-syllable noun and a particle (장은 간호사);
    * ``strict`` True: the dictionary reads it as common nouns only, the first of two or more
      syllables or a prefix (감정+원 원장, 피+용자): a compound, not surname + given name;
    * ``strict`` None (Kiwi's proper noun alone): a verb or adjective stem of two or more
      syllables and its ending, read apart (모르/VV 나/EC): a conjugated verb, not a name;
    * ``strict`` not False: the dictionary also lists the whole word as a common noun (선거권,
      위험성, 감사 위원). MeCab reads many real names as noun + suffix (유오/NNG 성/XSN), so
      neither holds after a title only a person takes (태연 씨, 정의화 의원).
    """
    k = bisect.bisect_left(starts, s)
    if k == len(morphs) or starts[k] != s:
        return True
    j = bisect.bisect_left(morphs.ends, e)
    if j == len(morphs) or morphs.ends[j] != e:
        return True
    tags = [morphs.tags[i] for i in range(k, j + 1)]
    if tags[-1].split("+")[0] in ("VV", "VA", "VX", "XSV", "XSA") and "+" not in tags[-1]:
        if j + 1 < len(morphs) and morphs.starts[j + 1] == e and morphs.tags[j + 1].startswith("E"):
            return True  # a verb stem cut from its ending: 지정하|는 (not 장기하|는/JX)
    if tags[-1] == "ETM" and len(tags) >= 2 and tags[-2].split("+")[-1] in ("VV", "VA", "VX", "XSV", "XSA"):
        return True  # 정하/VV 는/ETM
    if len(tags) == 2 and tags[0] == "XR" and tags[1] in ("XSA+ETM", "XSV+ETM"):
        return True  # 정당/XR 한/XSA+ETM
    if len(tags) == 2 and e - s == 2 and tags[0] in _DICT_COMMON and tags[1].startswith("J"):
        return True  # a one-syllable noun and a particle: 장은 간호사
    if strict is False:
        return False
    first = morphs.tags[k]
    if strict is None and first in ("VV", "VA", "VX") and morphs.ends[k] - s >= 2 and k < j and morphs.tags[k + 1].startswith("E"):
        # pii@11: Kiwi's proper noun alone on a conjugated verb — a stem of two or more syllables the
        # dictionary reads apart from its ending (모르/VV 나/EC, 구리/VA 고/EC). The window gate mirrors
        # this veto, so Kiwi no longer reads these words: 16 % of its characters on the e2e corpus (20,000
        # Korean documents: 90,188 → 75,788).
        # On the e2e corpus's 64,652 Korean documents: 31 spans fewer, 21 of them no name (모르나 ×6,
        # 구리고, 마시길, 고맙습니다) and 10 a person or character MeCab reads as a verb (조이서 ×8), and 2
        # more, no name (Kiwi reading a neighbour without the closed word); every Korean delivery, KLUE,
        # the silver and generated sets unchanged (docs/pii.md, "pii@11"). A stem fused with its
        # ending (여민/VV+ETM 이/NNB: a name and 이) is not this and stays a candidate.
        return True
    if strict and len(tags) >= 2 and (first == "XPN" or (first in _DICT_COMMON and morphs.ends[k] - s >= 2)):
        if all(t in ("NNG", "XSN", "NNB", "NNBC", "NR") for t in tags[1:]) and not any(morphs.sems[i] == "인명" for i in range(k, j + 1)):
            return True
    return is_common_noun_too(text[s:e])
