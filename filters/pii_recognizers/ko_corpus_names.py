"""Korean names by how a permissively licensed corpus uses them (`pii@8`): a word the rules of this
package mark as a person in a large share of its uses in CC0 movie reviews is a person where the
rules alone need a cue (수애, 한지민, 닉슨: dictionary names with another reading, or dropped as a
term by one-sense-per-discourse).

**How it was learned (bootstrapping, Yarowsky / Collins & Singer 1999, one spelling round).** The
teacher is the ``pii`` stage's rules with this rule off (``corpus_names: false``). It reads the
Naver movie reviews of the shared deliveries (``deliveries/ko_reviews_nsmc``, **CC0 1.0**: use and
derivatives allowed, commercial too), less every review that shares 12 characters (spaces aside) or
its whole text with a sentence of KLUE NER dev or the silver Wikipedia set — 3,295 of 712,404
reviews: KLUE's review half *is* drawn from NSMC, so without this the table would learn the
evaluation sentences. For each Hangul word (:func:`stems`: a run of Hangul starting and ending on
MeCab-ko boundaries, its trailing particles, endings, copula and 씨/님 set aside) it counts the uses
of the stem and those the teacher marked as a person with a score ≥ 0.7 (a cue or the dictionary,
not Kiwi's guess). The table keeps only the stems the rule admits (below): marked at least :data:`MIN_PERSON_USES`
times and in ≥ :data:`MIN_SHARE` of their uses, and listed by mecab-ko-dic as a person
(``NNP,인명``), with both counts — no word the dictionary does not list as a person is shipped.

**The context view was tried first and failed on this corpus**: a decision list over the words
around each use (the word before, the particle, the word after), trained on the teacher's persons
against the dictionary's common nouns (1.41 M labelled uses), finds contexts that predict a person
with precision ≥ 0.9 only where the rules already look — honorifics (씨, 님), a foreign first
name before a surname (로버트 X) — and ``X 감독`` 0.80, ``X의 연기`` 0.55: a review says 배우들의
연기 as often as 수애의 연기. Judged by that list, unlabelled uses gave 2 new person types out of
253,203 stem types. The spelling view (the whole word, pooled over the corpus) is what carries: a name the
rules catch with a cue in some reviews is the same name in the others.

**The rule** (:func:`corpus_person_names`): a stem of a Hangul word, as above, that the table says
the teacher marked as a person in ≥ :data:`MIN_SHARE` of its uses (and ≥ 3 times), that the
dictionary lists as a person, not overlapping a span already found. ``MIN_SHARE`` was chosen on
the deliveries, not on KLUE or the silver set: the lowest share at which the 52 statutes get no
new span (0.2 adds 진영 "camp" and 조성하 "to create"; 0.1 adds ten: 지연, 수정, 우수). (The KLUE
curve was also looked at while exploring — docs/pii.md says so.) Plural 들 is not stripped: names
rarely take it (에피들 "episodes" was a false name with it).

Build: ``python -m filters.pii_recognizers build-corpus-names --shared ../shared/data`` (~5 CPU-min:
the teacher reads 709,109 reviews) rewrites ``data/ko_corpus_names.json.gz``; the teacher is the
rules, so a change of the rules may change the table (rebuild and bump the stage's version).
"""

from __future__ import annotations

import bisect
import functools
import gzip
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from .ko_name_cues import _JOSA
from .morphemes import Morphs

DATA = Path(__file__).with_name("data") / "ko_corpus_names.json.gz"

#: The teacher's score a use needs to count as a person (a cue 0.85 or the dictionary 0.7, not Kiwi's 0.6).
TEACHER_MIN_SCORE = 0.7

#: Uses the teacher must mark as a person before a stem is kept in the table at all.
MIN_PERSON_USES = 3

#: Share of a stem's corpus uses the teacher marked as a person (see the module docstring).
MIN_SHARE = 0.3

_RUN = re.compile(r"(?<![A-Za-z0-9])[가-힣]{2,}")

#: Bound nouns / suffixes set aside after a name like particles: 수애씨, 한지민님 (not 들: a plural is rarely a name).
_HONORIFIC_TAILS = ("씨", "님")


def stems(text: str, morphs: Morphs) -> Iterable[tuple[int, int]]:
    """``(start, end)`` of the stem of each Hangul word whose edges are MeCab-ko's boundaries: the
    word less its trailing particles, endings, copula and 씨/님; stems of 2–4 syllables only."""
    for m in _RUN.finditer(text):
        yield from _stem_of_run(text, morphs, m.start(), m.end())


def count_uses(texts: Sequence[str], found: Sequence[Sequence[tuple[int, int, float]]], mecab) -> dict[str, list[int]]:
    """Per stem: ``[uses the teacher marked as a person, all uses]`` over ``texts``; ``found``: the
    teacher's PERSON spans ``(start, end, score)`` per text."""
    from .morphemes import tokenize_mecab

    counts: dict[str, list[int]] = {}
    for text, spans in zip(texts, found):
        persons = {(a, b) for a, b, score in spans if score >= TEACHER_MIN_SCORE}
        for s, e in stems(text, tokenize_mecab(mecab, text)):
            c = counts.setdefault(text[s:e], [0, 0])
            c[0] += (s, e) in persons
            c[1] += 1
    return counts


def table_from_counts(counts: dict[str, list[int]]) -> dict[str, list[int]]:
    """The stems the rule admits — marked at least :data:`MIN_PERSON_USES` times and in at least
    :data:`MIN_SHARE` of their uses, and listed by the dictionary as a person — as ``[person uses,
    uses, 1]``, sorted. Nothing else is shipped: a word the teacher marked in reviews that
    mecab-ko-dic does not list as a person could be a private person's name (the second review
    found 267 such entries, e.g. a name with 형 attached, in the first table)."""
    from .ko_dictionary import readings

    return {
        w: [p, n, 1]
        for w, (p, n) in sorted(counts.items())
        if p >= MIN_PERSON_USES and p >= MIN_SHARE * n and any(c == "인명" for _t, c in readings(w))
    }


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


#: Characters of a review (spaces aside) shared with an evaluation sentence that make it one.
_SHARED_CHARS = 12


def evaluation_texts(shared: Path) -> list[str]:
    """The sentences of KLUE NER dev and of the silver Wikipedia set (text only, never labels):
    what the build leaves out of its corpus."""
    out, chars = [], []
    for line in open(shared / "eval/pii/ko_klue_ner_dev.tsv", encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("##"):
            continue
        if not line:
            if chars:
                out.append("".join(chars))
            chars = []
            continue
        chars.append(line.rpartition("\t")[0] or " ")
    if chars:
        out.append("".join(chars))
    for block in open(shared / "eval/pii/ko_deid_silver_bio.txt", encoding="utf-8").read().split("\n\n"):
        lines = [x for x in block.split("\n") if x.strip()]
        if len(lines) >= 2:
            out.append(lines[1])
    return out


def corpus_texts(shared: Path) -> tuple[list[str], int]:
    """The CC0 NSMC reviews less those overlapping an evaluation sentence; and how many were left out."""
    bad, whole = set(), set()
    for t in evaluation_texts(shared):
        t = _norm(t)
        whole.add(t)
        bad.update(t[i : i + _SHARED_CHARS] for i in range(max(len(t) - _SHARED_CHARS, 0) + 1))
    texts, dropped = [], 0
    with gzip.open(shared / "deliveries/ko_reviews_nsmc/nsmc_reviews.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)["text"]
            n = _norm(text)
            if n in whole or any(n[i : i + _SHARED_CHARS] in bad for i in range(len(n) - _SHARED_CHARS + 1)):
                dropped += 1
                continue
            texts.append(text)
    return texts, dropped


def build(shared: Path, out: Path | None = None, batch: int = 2000) -> dict:
    """Run the teacher over the corpus, count, and write the table as gzip'd canonical JSON."""
    from filters.pii import PresidioScrubber

    from .morphemes import default_mecab

    texts, dropped = corpus_texts(shared)
    teacher = PresidioScrubber({"corpus_names": False})
    teacher.ensure_setup()
    found = []
    for i in range(0, len(texts), batch):
        chunk = texts[i : i + batch]
        found.extend([(f.start, f.end, f.score) for f in spans if f.type == "PERSON"] for spans in teacher.detect(chunk, ["ko"] * len(chunk)))
    table = table_from_counts(count_uses(texts, found, default_mecab()))
    card = {
        "source": "deliveries/ko_reviews_nsmc (Naver movie reviews, e9t/nsmc, CC0 1.0)",
        "left_out": f"{dropped} reviews sharing {_SHARED_CHARS} characters or their whole text with KLUE NER dev or the silver Wikipedia set",
        "reviews": len(texts),
        "teacher": f"pii@{PresidioScrubber.version} rules with corpus_names off, PERSON spans scored >= {TEACHER_MIN_SCORE}",
        "columns": "stem -> [uses marked as a person, uses, listed as NNP,인명 by mecab-ko-dic]",
        "stems": table,
    }
    out = out or DATA
    data = json.dumps(card, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(data, mtime=0))
    return card


@functools.lru_cache(maxsize=1)
def person_words() -> frozenset[str]:
    """The stems the rule admits (loaded once per process)."""
    card = json.loads(gzip.decompress(DATA.read_bytes()))
    return frozenset(w for w, (p, n, person) in card["stems"].items() if person and p >= MIN_PERSON_USES and p >= MIN_SHARE * n)


def artifact() -> dict:
    """The shipped table as a manifest artifact: name, sha256 and where it comes from."""
    from corpusmill_base.models import shipped_artifact

    return shipped_artifact(
        DATA,
        "counted by python -m filters.pii_recognizers build-corpus-names: the pii rules' person names in the CC0 "
        "NSMC reviews (less those overlapping KLUE NER dev or the silver set), shipped in the repository",
    )


def corpus_person_names(text: str, morphs: Morphs, found) -> list[tuple[int, int]]:
    """Stems of :func:`stems` in :func:`person_words` not overlapping ``found``."""
    words, heads = person_words(), _heads()
    if not any(w[:2] in heads and _table_word(w, words) for w in _RUN.findall(text)):
        return []  # most texts: strings only, no match objects (findall is ~2× cheaper than finditer here)
    out = []
    for m in _RUN.finditer(text):
        w = m.group()
        if w[:2] not in heads or not _table_word(w, words):  # set look-ups before any bisect
            continue
        for s, e in _stem_of_run(text, morphs, m.start(), m.end()):
            if text[s:e] in words and not any(a < e and b > s for a, b in found):
                out.append((s, e))
    return out


def may_hold_corpus_name(text: str) -> bool:
    """Whether a Hangul word of ``text`` is a word of :func:`person_words`, alone or before a
    particle or 씨/님 (the stage sends such a text to the PERSON recognizer even when nothing else
    there could be a name)."""
    words, heads = person_words(), _heads()
    return any(w[:2] in heads and _table_word(w, words) for w in _RUN.findall(text))


@functools.lru_cache(maxsize=1)
def _heads() -> frozenset[str]:
    """The first two syllables of the table's words: one set look-up rejects most Hangul words."""
    return frozenset(w[:2] for w in person_words())


#: What may follow a table word in its Hangul run: a particle (as :data:`.ko_name_cues._JOSA`),
#: a copula form, 씨 or 님. (A prefix test alone sent a statute's 조현|병, 이정|도 to the
#: recognizer. A trie regex of the table's words measured 2× slower than these set look-ups.)
_TAIL = re.compile(rf"(?:씨|님)?{_JOSA}")


def _table_word(w: str, words: frozenset[str]) -> bool:
    if w in words:
        return True
    for k in (2, 3, 4):
        if w[:k] in words and _TAIL.fullmatch(w, k):
            return True
    return False


def _stem_of_run(text: str, morphs: Morphs, s: int, e: int) -> list[tuple[int, int]]:
    """The stem of the Hangul run ``text[s:e]`` (see :func:`stems`), if its edges are MeCab's."""
    starts, ends, tags = morphs.starts, morphs.ends, morphs.tags
    n = len(starts)
    k = bisect.bisect_left(starts, s)
    if k >= n or starts[k] != s:
        return []
    j = bisect.bisect_left(ends, e, k)
    if j >= n or ends[j] != e:
        return []
    while j > k:
        t = tags[j]
        if t.startswith(("J", "E", "VCP")) or (t.startswith(("XSN", "NNB")) and text[starts[j] : ends[j]] in _HONORIFIC_TAILS):
            j -= 1
        else:
            break
    return [(s, ends[j])] if 2 <= ends[j] - s <= 4 else []

