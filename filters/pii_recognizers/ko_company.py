"""Korean names by their company: an honorific or kin term the dictionary splits off (혜교씨),
the name suffix -이 before a particle (미경이가), 역 "role" (송몽규 역을), the age in
parentheses (진구(33)).
"""

from __future__ import annotations

import bisect
import re

from .ko_dictionary import _DICT_COMMON, _nominal, _pieces, _place, is_common_noun_too
from .ko_name_cues import _JOSA, HONORIFICS, NOT_NAMES, _bare_surname
from .morphemes import Morphs

_HONORIFIC = re.compile(rf"(?<![가-힣])(?P<name>[가-힣]{{2,4}}?)이?\s?(?P<title>{'|'.join(HONORIFICS)})(?={_JOSA}(?![가-힣]))")


#: The suffix -이 after a given name, then a particle that a plain noun would take without it:
#: 미경이가, 혜윤이에게 (a noun says 내용이 or 내용과, never 내용이가 or 내용이와).
_NAME_SUFFIX_I = re.compile(r"(?<![가-힣])(?P<name>[가-힣]{2,3})이(?:가|는|를|의|도|한테|에게|와|만|처럼|하고)(?![가-힣])")


#: A character's name before the word 역 (role) on its own: 송몽규 역을, '성보라' 역을 맡았다
#: (not 지역, 해역, 제기역, 역할: 역 must stand apart and end the word).
_ROLE_OF = re.compile(r"(?<![가-힣])['‘\"“]?(?P<name>[가-힣]{2,5})['’\"”]?\s역(?:을|의|으로|에|은|이|과|와|에서|까지)?(?![가-힣])")


#: A name with the age in parentheses, the Korean press convention: 진구(33), 손흥민(23·토트넘).
_NAME_AGE = re.compile(r"(?<![가-힣])(?P<name>[가-힣]{2,5})\((?:만\s?)?\d{1,3}(?:세|살)?[·,)]")


#: What :func:`honorific_names` looks for; the stage sends a text to Presidio for PERSON if any occurs.
COMPANY_CUES = (_HONORIFIC, _NAME_SUFFIX_I, _ROLE_OF, _NAME_AGE)


#: Per cue, the literals it cannot match without: its honorifics, the suffix 이, 역, the opening
#: parenthesis. A literal search is ~10× cheaper than the scan from every Hangul syllable, and most
#: texts lack 역, ( and the honorifics (the four scans were ~5 % of the Korean path's time).
_CUE_LITERALS = {
    _HONORIFIC: re.compile("|".join(HONORIFICS)),
    _NAME_SUFFIX_I: re.compile("이"),
    _ROLE_OF: re.compile("역"),
    _NAME_AGE: re.compile(r"\("),
}


def _may_match(rx: re.Pattern, text: str) -> bool:
    return _CUE_LITERALS[rx].search(text) is not None


def company_cue(text: str) -> bool:
    """Whether any of :data:`COMPANY_CUES` occurs in ``text``."""
    for rx, literal in _CUE_LITERALS.items():
        if literal.search(text) and rx.search(text):
            return True
    return False


def honorific_names(text: str, morphs: Morphs, starts: list[int]) -> list[tuple[int, int]]:
    """Names by their company: before an honorific or kin term that the dictionary reads as a
    word of its own (혜교씨, 효주누나; not 마음씨, which it knows whole), before the name suffix
    -이 (미경이가), before 역 (role: 송몽규 역을), or with the age in parentheses (진구(33));
    read as nouns only, never a word on :data:`NOT_NAMES`, and (but before an honorific:
    동호 씨) not a place or organisation."""
    out = []
    for m in _HONORIFIC.finditer(text) if _may_match(_HONORIFIC, text) else ():
        t = bisect.bisect_left(starts, m.start("title"))
        if t == len(morphs) or morphs[t].start != m.start("title"):
            continue  # the dictionary does not split the title off: one word (마음씨)
        s, e = m.span("name")
        pieces = _pieces(morphs, starts, s, e)
        if text[s:e] in NOT_NAMES or _bare_surname(text[s:e]) or not _nominal(pieces):
            continue
        if m.group("title") in _OFFICE_HONORIFICS and len(pieces) == 1 and pieces[0].end >= e and (
            pieces[0].tag in _DICT_COMMON or is_common_noun_too(text[s:e])
        ):
            continue  # 님 and 선생님 also follow roles: 형사님, 부모님, 담임 선생님, 부처님
        out.append((s, e))  # even a place-like word: 동호 씨, 연희 누나
    for m in _NAME_SUFFIX_I.finditer(text) if _may_match(_NAME_SUFFIX_I, text) else ():
        s, e = m.span("name")
        if (ord(text[e - 1]) - 0xAC00) % 28 == 0 or text[s:e] in NOT_NAMES:
            continue  # -이 follows given names that end in a consonant only (미경이, 혜윤이)
        k = bisect.bisect_left(starts, e)
        if k == len(morphs) or morphs[k].start != e:
            continue  # the dictionary reads X이 as one word (고양이는, 길이가)
        if _nominal(_pieces(morphs, starts, s, e)) and not _place(morphs, starts, s, e):
            out.append((s, e))
    for m in _ROLE_OF.finditer(text) if _may_match(_ROLE_OF, text) else ():
        s, e = m.span("name")
        if text[s:e] not in NOT_NAMES and _nominal(_pieces(morphs, starts, s, e)) and not _place(morphs, starts, s, e):
            out.append((s, e))
    for m in _NAME_AGE.finditer(text) if _may_match(_NAME_AGE, text) else ():
        s, e = m.span("name")
        pieces = _pieces(morphs, starts, s, e)
        if text[s:e] not in NOT_NAMES and not _place(morphs, starts, s, e) and _nominal(pieces) and pieces[-1].tag != "XSN":
            out.append((s, e))  # not 출생/NNG+자/XSN(23세)
    return out


_OFFICE_HONORIFICS = ("님", "선생님")
