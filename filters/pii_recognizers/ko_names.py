"""``KoreanNameRecognizer``: the Korean person-name recognizer presidio lacks, combining the cues,
Kiwi's proper nouns, the MeCab-ko dictionary, the company cues and the vetoes of this package.
"""

from __future__ import annotations

import re

from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from .ko_company import honorific_names
from .ko_corpus_names import corpus_person_names
from .ko_crf import accepted as crf_accepted
from .ko_dictionary import _pieces_of_a_name, dictionary_names, syllable_pieces
from .ko_document import defined_terms, name_lists, uncued_terms
from .ko_name_model import unknown_full_names
from .ko_spaced_names import spaced_names
from .ko_name_cues import (
    _ALL_HANGUL,
    _COPULA,
    _NAME_AFTER_CUE,
    _NAME_BEFORE_TITLE,
    _NAME_TITLE_AFTER,
    _ORG_TITLE,
    _STEM,
    NOT_NAME_ENDINGS,
    NOT_NAMES,
    is_korean_name,
)
from .ko_vetoes import (
    _split_inside,
    common_noun_in_apposition,
    common_word,
    function_word,
    noun_and_counter,
    not_a_name,
    not_a_word,
    trim_particles,
)
from .morphemes import (
    KiwiToken,
    default_kiwi,
    default_mecab,
    kiwi_tokens_of,
    mecab_tokens_of,
    tokenize_korean,
    tokenize_mecab,
)


class KoreanNameRecognizer(EntityRecognizer):
    """Korean person names (presidio has none).

    Signals:

    * a role word before the name (``원고 홍길동은``, ``예금주 김예채``) or a title after it
      (``홍길동 변호사``, ``손흥민 선수``) — regex on the raw text, no tokenizer needed;
    * a Kiwi proper noun (``NNP``) shaped like a Korean name: 2–4 Hangul syllables starting
      with a known surname and standing alone before a particle;
    * a Kiwi proper noun not shaped like a Korean name (``오바마``) only next to a title;
    * a person name in the MeCab-ko dictionary (``NNP,인명``: 손흥민, 톰 크루즈, 루키야노바),
      runs of them joined across one space, or its surname completed by a name-shaped stem
      (``김/NNP,인명 예/NNG 채/NNG`` → 김예채);
    * (``pii@8``) a dictionary person that the CC0 movie reviews use as a person in ≥ 30 % of its
      uses, by the table :mod:`.ko_corpus_names` bootstrapped from them (민우, 닉슨);
    * (``pii@9``) a foreign full name across a space that the dictionary lists, joined, as one
      person entry of exactly those pieces (짐 캐리, 발 킬머: :mod:`.ko_spaced_names`).

    The dictionary also vetoes the weaker signals: a title-cued or Kiwi candidate that MeCab
    reads as one dictionary common noun or a place/organisation name (``사건 경위``, ``유치원
    원장``, ``서귀포``) is dropped. A role word before it (``신청인 장진주``) outranks the veto.

    Kiwi tokens come from ``nlp_artifacts.tokens`` and MeCab tokens from
    ``nlp_artifacts.mecab_tokens`` when the caller tokenized (the ``pii`` stage gives Kiwi only
    the sentences that can hold a name, in batches); otherwise the recognizer tokenizes the
    whole text itself (the plain presidio path).
    """

    CUE_SCORE = 0.85
    NNP_SCORE = 0.6
    NNP_TITLE_SCORE = 0.85
    DICT_SCORE = 0.7
    #: A learned tagger's name where the rules were silent (option ``crf_names``; see :mod:`.ko_crf`).
    CRF_SCORE = 0.6
    #: A name no dictionary knows, by the syllable model learned from the dictionary (:mod:`.ko_name_model`).
    MODEL_SCORE = 0.6
    CRF_MIN_PROBABILITY = 0.5

    def __init__(self, kiwi_factory=None, mecab_factory=None, dictionary: bool = True, name_tagger=None, corpus_names: bool = True, spaced_names: bool = True, kiwi: bool = True):
        self._kiwi_factory = kiwi_factory or default_kiwi
        # False (option kiwi_names off): Kiwi is never loaded, so no second reading vouches for a word
        # MeCab-ko reads as one-syllable person pieces, and pii@12 drops it (docs/pii.md, "pii@12 (Korean)")
        self.kiwi = kiwi
        self._mecab_factory = mecab_factory or default_mecab
        self.dictionary = dictionary  # False: no MeCab-ko (neither its names nor its vetoes)
        self.name_tagger = name_tagger  # a ko_crf.NameTagger, or None (the default: rules only)
        self.corpus_names = corpus_names  # False: not the names learned from the CC0 reviews (the teacher that learned them)
        self.spaced_names = spaced_names  # False: not the dictionary's multi-piece person entries across spaces (pii@8's rules)
        super().__init__(supported_entities=["PERSON"], supported_language="ko", name="KoreanNameRecognizer")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        if entities and "PERSON" not in entities:
            return []
        found: dict[tuple[int, int], float] = {}
        role_cued: set[tuple[int, int]] = set()
        weak_role: set[tuple[int, int]] = set()

        def add(start: int, end: int, score: float) -> None:
            if end - start >= 2 and found.get((start, end), 0) < score:
                found[(start, end)] = score

        for m in _NAME_AFTER_CUE.finditer(text):
            s, e = m.span("name")
            if not is_korean_name(text[s:e]):
                if e - s >= 3 and text[e - 1] in "은는이가을를의와과도" and (
                    is_korean_name(text[s : e - 1], before_genitive=text[e - 1] == "의")
                ):
                    e -= 1
                else:
                    continue
            add(s, e, self.CUE_SCORE)
            if m.group("particle") is None or _COPULA.match(text, e):
                role_cued.add((s, e))
            else:
                weak_role.add((s, e))
        title_cued: set[tuple[int, int]] = set()
        glued_title: dict[int, int] = {}
        org_titled: set[tuple[int, int]] = set()  # 감정원 원장, 감사 위원: a title an office or a field takes too
        for m in _NAME_BEFORE_TITLE.finditer(text):
            s, e = m.span("name")
            if is_korean_name(text[s:e]):
                add(s, e, self.CUE_SCORE)
                title_cued.add((s, e))
                if _ORG_TITLE.match(text, e):
                    org_titled.add((s, e))
                if m.end() > e and not text[e].isspace():
                    glued_title[s] = m.end()  # 임용대|기자: the title must end a morpheme (대기|자 does not)
        tokens = kiwi_tokens_of(nlp_artifacts)
        if tokens is None:
            tokens = tokenize_korean(self._kiwi_factory(), [text])[0]
        for i, tok in enumerate(tokens):
            if tok.tag != "NNP" or not 2 <= tok.end - tok.start <= 5:
                continue
            word = text[tok.start : tok.end]
            if not _ALL_HANGUL.fullmatch(word) or (tok.start > 0 and text[tok.start - 1].isalnum()):
                continue  # not Hangul, or inside a longer word (국민은행김…, 제1호하목 hold no name)
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if nxt is not None and nxt.start == tok.end and nxt.tag.startswith(("NN", "XSN")) and len(word) >= 3:
                continue  # part of a compound noun
            titled = _NAME_TITLE_AFTER.match(text, tok.end) is not None
            if len(word) < 3:
                split = _split_name(text, tokens, i)
                if split is not None:
                    add(tok.start, split, self.NNP_SCORE)
                    continue
            if len(word) >= 3 and is_korean_name(word) and not (len(word) == 3 and word[-1] in NOT_NAME_ENDINGS):
                add(tok.start, tok.end, self.NNP_TITLE_SCORE if titled else self.NNP_SCORE)
            elif titled and word not in NOT_NAMES and word[-1] not in NOT_NAME_ENDINGS:
                # Two-syllable surname-shaped proper nouns are mostly places (서울, 한국, 김포) and
                # foreign names have no surname: both only count next to a person's title.
                add(tok.start, tok.end, self.NNP_SCORE)
        if self.dictionary:
            morphs = mecab_tokens_of(nlp_artifacts)
            if morphs is None:
                morphs = tokenize_mecab(self._mecab_factory(), text)
            starts = morphs.starts
            if found:
                ends = set(morphs.ends)

                def strict(sp) -> bool | None:
                    """True: compounds of common nouns and dictionary common nouns are vetoed too
                    (a role word with a particle, an office title); None: only the latter (Kiwi's
                    proper noun alone); False: neither (a title only a person takes: 태연 씨)."""
                    if sp in org_titled or (sp in weak_role and sp not in title_cued):
                        return True
                    return False if sp in title_cued else None

                found = trim_particles(found, morphs, starts, role_cued, weak_role, title_cued, org_titled)
                for span in [
                    sp
                    for sp in found
                    if not_a_word(morphs, starts, *sp)
                    or function_word(morphs, starts, *sp)
                    or (sp in role_cued and common_noun_in_apposition(morphs, starts, *sp))
                    or (sp not in role_cued and (not_a_name(morphs, starts, *sp) or common_word(text, morphs, starts, *sp, strict=strict(sp))))
                    or (not (sp in role_cued or sp in weak_role or sp in title_cued) and noun_and_counter(morphs, starts, *sp))
                    or (sp in title_cued and _split_inside(morphs, starts, sp[1]))
                    or (sp[0] in glued_title and glued_title[sp[0]] not in ends)
                ]:
                    del found[span]
            cued = list(found)
            dict_spans = dictionary_names(text, morphs)
            if dict_spans:
                # pii@12: a word MeCab-ko reads only as one-syllable person morphemes (훌/룡 of 훌룡한, a
                # misspelling of 훌륭한; 노/잼; 완/죤) is one its dictionary does not know: a name only if
                # Kiwi, the other analyser, reads that same stretch as one proper noun (존윅이, 릿카,).
                dict_spans = [sp for sp in dict_spans if not syllable_pieces(text, morphs, starts, *sp) or (self.kiwi and self._kiwi_proper_noun(text, *sp))]
            for s, e in honorific_names(text, morphs, starts):
                add(s, e, self.CUE_SCORE)
                cued.append((s, e))
            for s, e in uncued_terms(text, dict_spans, cued):
                add(s, e, self.DICT_SCORE)
            for s, e in name_lists(text, found):
                add(s, e, self.DICT_SCORE)
            unknown = unknown_full_names(text, morphs, found)
            if unknown:  # names MeCab-ko does not read as one entry (최연승, 안익근), by the dictionary's own syllables
                # One sense per discourse, as for the dictionary's names: a word used three or more
                # times without a cue is a term.
                kept_unknown = set(uncued_terms(text, dict_spans + unknown, cued))
                for s, e in unknown:
                    if (s, e) in kept_unknown:
                        add(s, e, self.MODEL_SCORE)
            if self.corpus_names:
                # A dictionary name the CC0 reviews use as a person in ≥ 30 % of its uses (수애, 닉슨): no
                # cue needed, nor one-sense-per-discourse (a biography names its subject in every paragraph).
                for s, e in corpus_person_names(text, morphs, found):
                    add(s, e, self.DICT_SCORE)
            if self.spaced_names:
                # 짐 캐리, 발 킬머: one dictionary entry of these pieces, written with a space. It
                # replaces the spans it covers (캐리 alone would leave 짐 in the text), not one it cuts.
                for s, e in spaced_names(text, morphs):
                    inside = [sp for sp in found if sp[0] < e and sp[1] > s]
                    if all(s <= a and b <= e for a, b in inside):
                        # The replaced spans' best score stays: a cue's 0.85 for 캐리 씨 must not drop
                        # to the dictionary's 0.7 under a user's PERSON threshold between the two.
                        score = max([self.DICT_SCORE] + [found[sp] for sp in inside])
                        for sp in inside:
                            del found[sp]
                        add(s, e, score)
            if self.name_tagger is not None:
                crf = [
                    (s, e)
                    for s, e, p in self.name_tagger.names(text, morphs)
                    if p >= self.CRF_MIN_PROBABILITY and not any(a < e and b > s for a, b in found) and crf_accepted(text, morphs, s, e)
                ]
                # One sense per discourse, as for the dictionary's names: a word the document uses
                # three or more times without a cue is a term (a statute's 조정부 ×7 came back without this).
                kept = set(uncued_terms(text, dict_spans + crf, cued)) if crf else set()
                for s, e in crf:
                    if (s, e) in kept:
                        add(s, e, self.CRF_SCORE)
            terms = defined_terms(text)
            if terms:  # 조정원, 이수명(령): a term the statute defines is no person, whatever cued it
                found = {sp: v for sp, v in found.items() if not any(text[sp[0] : sp[1]] in t for t in terms)}
        return [
            RecognizerResult(
                "PERSON",
                s,
                e,
                score,
                AnalysisExplanation(self.name, score, textual_explanation="ko name rule"),
                {RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id},
            )
            for (s, e), score in sorted(found.items())
        ]

    def _kiwi_proper_noun(self, text: str, s: int, e: int) -> bool:
        """Whether Kiwi reads ``text[s:e]`` as one proper noun, given the word and the next one (as
        the stage's windows give it): its own reading, the same in the stage and the plain loop."""
        m = _WORD_AND_NEXT.match(text, e)
        tokens = tokenize_korean(self._kiwi_factory(), [text[s : m.end()]])[0]
        return any(t.tag == "NNP" and t.start == 0 and t.end == e - s for t in tokens)


#: The rest of a word and the next word (at most 12 characters each).
_WORD_AND_NEXT = re.compile(r"\S{0,12}\s{0,3}\S{0,12}")


def _split_name(text: str, tokens: list[KiwiToken], i: int) -> int | None:
    """End of a 3-syllable name Kiwi cut into pieces (강/NNP 지/NNG 환/XR, 손호/NNP 준/NNG), else None."""
    tok = tokens[i]
    m = _STEM.match(text, tok.start)
    if m is None or not is_korean_name(m.group()) or m.group()[-1] in NOT_NAME_ENDINGS:
        return None
    return m.end() if _pieces_of_a_name(tokens, i + 1, m.end()) else None
