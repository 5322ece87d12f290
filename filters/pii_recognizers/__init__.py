"""Presidio recognizers for Korean and English domain text, and the engines the ``pii`` stage runs.

One idea per module (a module imports only modules listed before it):

* :mod:`.common` — entity lists, digit separators, substring context, offline e-mail check;
* :mod:`.ko_identifiers` — Korean structured identifiers (RRN, FRN, BRN, licence, passport,
  phone, card, bank account, e-mail, address);
* :mod:`.ko_name_cues` — what a Korean name looks like and the words around it (no tokenizer);
* :mod:`.morphemes` — MeCab-ko and Kiwi wrappers, presidio's Korean NLP engine;
* :mod:`.ko_dictionary` — names by the MeCab-ko dictionary and its look-ups;
* :mod:`.ko_vetoes` — what the dictionary says a candidate is instead (common noun, verb form …);
* :mod:`.ko_document` — document-wide evidence (defined terms, uncued terms, name lists);
* :mod:`.ko_company` — names by their company (honorifics, -이, 역, age);
* :mod:`.ko_crf` — the optional learned name tagger (a CRF on silver labels; option ``crf_names``);
* :mod:`.ko_name_model` — a syllable model of Korean names learned from mecab-ko-dic's entries,
  for names MeCab-ko does not read as one entry (``pii@7``);
* :mod:`.ko_corpus_names` — the names the rules find in the CC0 NSMC reviews, a table bootstrapped
  from them (``pii@8``);
* :mod:`.ko_names` — ``KoreanNameRecognizer``, combining the above;
* :mod:`.en_patterns`, :mod:`.en_names` — English phone/card patterns and person names;
* :mod:`.analyzers` — the Korean and English presidio analyzers.

Everything callers import is re-exported here (``from filters.pii_recognizers import …``).
Nothing here holds raw text beyond one call; nothing is logged about values.
"""

from __future__ import annotations

from .analyzers import (
    EnglishArtifacts,
    english_analyzer,
    english_artifacts,
    english_ner,
    english_nlp,
    english_nlp_engine,
    korean_analyzer,
    korean_recognizers,
)
from .common import (
    EN_ENTITIES,
    KO_ENTITIES,
    SEP,
    OfflineEmailRecognizer,
    SubstringContextEnhancer,
)
from .en_names import (
    EN_EPONYM_NOUNS,
    EN_HONORIFIC,
    EN_NAME_CUE,
    EN_NAME_WORDS,
    EN_NOT_PERSON_WORDS,
    EN_OFFICE_WORDS,
    EN_STRONG_HONORIFIC,
    CheckedSpacyRecognizer,
    EnglishNameRecognizer,
    census_names,
    english_words,
)
from .en_patterns import (
    LooseCardRecognizer,
    LoosePhoneRecognizer,
)
from .ko_company import (
    COMPANY_CUES,
    company_cue,
    honorific_names,
)
from .ko_dictionary import (
    dictionary_names,
    is_common_noun_too,
)
from .ko_document import (
    defined_terms,
    name_lists,
    uncued_terms,
)
from .ko_identifiers import (
    KoAddressRecognizer,
    KoBankAccountRecognizer,
    KoBrnRecognizer,
    KoCreditCardRecognizer,
    KoDriverLicenseRecognizer,
    KoEmailRecognizer,
    KoFrnRecognizer,
    KoPassportRecognizer,
    KoPhoneRecognizer,
    KoRrnRecognizer,
)
from .ko_name_cues import (
    _NAME_AFTER_CUE,
    _NAME_BEFORE_TITLE,
    _TITLE_WORDS,
    HONORIFICS,
    NAME_AFTER,
    NAME_BEFORE,
    NAME_FINALS,
    NAME_SYLLABLE,
    NOT_NAME_ENDINGS,
    NOT_NAMES,
    PARTICLE_ONLY,
    SURNAMES_1,
    SURNAMES_2,
    is_korean_name,
    kiwi_gate,
)
from .ko_names import (
    KoreanNameRecognizer,
)
from .ko_vetoes import (
    common_noun_in_apposition,
    common_word,
    function_word,
    not_a_name,
    not_a_word,
    trim_particles,
)
from .morphemes import (
    MECAB_FORMAT,
    KiwiArtifacts,
    KiwiToken,
    KoreanNlpEngine,
    MecabToken,
    Morphs,
    _mecab_input,
    default_kiwi,
    default_mecab,
    has_person_name,
    kiwi_tokens_of,
    mecab_parse,
    mecab_tokens,
    mecab_tokens_of,
    tokenize_korean,
    tokenize_mecab,
)

__all__ = [
    "COMPANY_CUES",
    "company_cue",
    "CheckedSpacyRecognizer",
    "EN_ENTITIES",
    "EN_EPONYM_NOUNS",
    "EN_HONORIFIC",
    "EN_NAME_CUE",
    "EN_NAME_WORDS",
    "EN_NOT_PERSON_WORDS",
    "EN_OFFICE_WORDS",
    "EN_STRONG_HONORIFIC",
    "EnglishArtifacts",
    "EnglishNameRecognizer",
    "HONORIFICS",
    "KO_ENTITIES",
    "KiwiArtifacts",
    "KiwiToken",
    "KoAddressRecognizer",
    "KoBankAccountRecognizer",
    "KoBrnRecognizer",
    "KoCreditCardRecognizer",
    "KoDriverLicenseRecognizer",
    "KoEmailRecognizer",
    "KoFrnRecognizer",
    "KoPassportRecognizer",
    "KoPhoneRecognizer",
    "KoRrnRecognizer",
    "KoreanNameRecognizer",
    "KoreanNlpEngine",
    "LooseCardRecognizer",
    "LoosePhoneRecognizer",
    "MECAB_FORMAT",
    "MecabToken",
    "Morphs",
    "NAME_AFTER",
    "NAME_BEFORE",
    "NAME_FINALS",
    "NAME_SYLLABLE",
    "NOT_NAMES",
    "NOT_NAME_ENDINGS",
    "OfflineEmailRecognizer",
    "PARTICLE_ONLY",
    "SEP",
    "SURNAMES_1",
    "SURNAMES_2",
    "SubstringContextEnhancer",
    "_NAME_AFTER_CUE",
    "_NAME_BEFORE_TITLE",
    "_TITLE_WORDS",
    "_mecab_input",
    "census_names",
    "common_noun_in_apposition",
    "common_word",
    "default_kiwi",
    "default_mecab",
    "defined_terms",
    "dictionary_names",
    "english_analyzer",
    "english_artifacts",
    "english_ner",
    "english_nlp",
    "english_nlp_engine",
    "english_words",
    "function_word",
    "has_person_name",
    "honorific_names",
    "is_common_noun_too",
    "is_korean_name",
    "kiwi_gate",
    "kiwi_tokens_of",
    "korean_analyzer",
    "korean_recognizers",
    "mecab_parse",
    "mecab_tokens",
    "mecab_tokens_of",
    "name_lists",
    "not_a_name",
    "not_a_word",
    "tokenize_korean",
    "tokenize_mecab",
    "trim_particles",
    "uncued_terms",
]
