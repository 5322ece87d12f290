"""Korean names seen across a whole document (a statute's grammar): terms the document defines
(``(이하 "조정원"이라 한다)``), words it uses three times without a cue (one sense per
discourse), and lists of names masked alike (a bill's sponsors).
"""

from __future__ import annotations

import bisect
import re

from .ko_name_cues import is_korean_name

#: A statute's defined term: (이하 "조정원"이라 한다), (이하 “이수명령”이라 한다) — a term of art
#: in that document, never a person, wherever it recurs.
_DEFINED_TERM = re.compile(
    r"이하\s?[\"“'‘「]([^\"”'’」]{2,12})[\"”'’」]\s?(?:이?라|로)\s?(?:한다|칭한다|함)"
    r"|[\"“]([^\"”]{2,20})[\"”]\s?(?:이?란|이라\s?함은)\s"  # a definition: "이동형 영상정보처리기기"란 …
)


def defined_terms(text: str) -> set[str]:
    if "이하" not in text:
        return set()
    out = set()
    for m in _DEFINED_TERM.finditer(text):
        term = m.group(1) or m.group(2)
        out.add(term)
        out.update(term.split())  # its words too: 이동형 of "이동형 영상정보처리기기"
    return out


def uncued_terms(text: str, spans: list[tuple[int, int]], cued: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The dictionary's names less those a document uses three or more times without a cue at
    any of them, in three or more sentences (조정부의 구성, 조정부는, 조정부가 …): one sense per
    discourse — a person mentioned that often is introduced with a role word, a title or an
    honorific at least once."""
    by_word: dict[str, list[tuple[int, int]]] = {}
    for sp in spans:
        by_word.setdefault(text[sp[0] : sp[1]], []).append(sp)
    out = []
    breaks = None
    for word, sps in by_word.items():
        if len(sps) >= 3 and not any(a < e and b > s for s, e in sps for a, b in cued) and word not in _cued_words(text, cued):
            if breaks is None:
                breaks = [m.end() for m in _SENTENCE_BREAK.finditer(text)]
            if len({bisect.bisect_right(breaks, s) for s, _ in sps}) >= 3:
                continue
        out.extend(sps)
    return sorted(out)


#: Where a sentence ends: a term recurs across sentences (a statute's 조정부 in clause after
#: clause); a name repeated inside one or two sentences is emphasis (강동원의, 강동원을 위한,
#: 강동원에 의한 영화), and the rule took such names from reviews (KLUE dev: 7 names, no term).
_SENTENCE_BREAK = re.compile(r"[.!?。]+(?=\s|$)|\n")


def _cued_words(text: str, cued: list[tuple[int, int]]) -> set[str]:
    return {text[a:b] for a, b in cued}


#: A list of names: 정의화·이명수·김을동, 조승수ㆍ최문순ㆍ조영택 (also across a line break).
_NAME_LIST = re.compile(r"(?<![가-힣])[가-힣]{2,4}(?:(?:\s*[·ㆍ,]|[ \t]*\n)\s*[가-힣]{2,4}){2,}(?![가-힣])")


_LIST_ITEM = re.compile(r"[가-힣]{2,4}")


def name_lists(text: str, found: dict) -> list[tuple[int, int]]:
    """Every item of a list of three or more whose items are all shaped like Korean names and
    at least two of which another rule already found: a bill's sponsors are masked alike."""
    if not found or ("·" not in text and "ㆍ" not in text):
        return []
    out = []
    for m in _NAME_LIST.finditer(text):
        items = [(x.start(), x.end()) for x in _LIST_ITEM.finditer(text, m.start(), m.end())]
        if not all(is_korean_name(text[a:b]) for a, b in items):
            continue
        if ("·" in m.group() or "ㆍ" in m.group()) and sum(any(s < b and e > a for s, e in found) for a, b in items) >= 2:
            out.extend(items)
    return out
