"""English pattern recognizers for what presidio's own miss: 12–19-digit card numbers (Luhn
decides) and phone numbers in the grouped forms of many countries (a phone word decides).
"""

from __future__ import annotations

import re

import phonenumbers.phonenumbermatcher as _pnm
from phonenumbers import PhoneNumberMatcher
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import CreditCardRecognizer, PhoneRecognizer


class LooseCardRecognizer(CreditCardRecognizer):
    """12–19 digit card numbers (Maestro, JCB, Mir, UnionPay) that presidio's pattern misses; Luhn decides."""

    def __init__(self, supported_language: str = "en"):
        super().__init__(
            patterns=[Pattern("card 12-19", r"(?<![\d+-])(?:\d[ -]?){11,18}\d(?![\d-])", 0.1)],  # +44…: a phone
            supported_language=supported_language,
            name="LooseCardRecognizer",
        )

    def validate_result(self, pattern_text: str):
        digits = re.sub(r"\D", "", pattern_text)
        if len(digits) == 13 and digits.startswith(("978", "979")):
            return False  # ISBN-13
        return super().validate_result(pattern_text)


class LoosePhoneRecognizer(PatternRecognizer):
    """Phone numbers in the grouped forms of many countries, which presidio's region list misses.

    ``+``/``00``-prefixed numbers pass on their own; grouped (``(37) 788-063``, ``99 668472``,
    ``28-64-66-98``) and unseparated ones need a phone word within 40 characters before or 24
    after (``call me on``, ``fax``, ``-Office``), matched on the raw text: presidio's lemma
    enhancer drops stop words such as *call* and looks after a number's first token only.
    """

    CUE = re.compile(
        r"(?<![a-z])(?:phone|telephone|tel|call|calls|calling|called|mobile|cell|cellphone|fax|desk|office|contact|"
        r"reach|dial|sms|text|texts|message|messages|msg|answering|whatsapp|ring|hotline|landline)(?![a-z])"
    )

    def __init__(self, supported_language: str = "en"):
        end = r"(?:x\d{1,5})?(?!\w|-\d)"  # an extension; "-Office" may follow
        super().__init__(
            supported_entity="PHONE_NUMBER",
            patterns=[
                Pattern("international", rf"(?<![\w+])(?:\+|00)\d{{1,3}}[ .-]?(?:\(0?\d{{1,4}}\)|\d{{1,4}})(?:[ .-]?\d{{2,4}}){{1,4}}{end}", 0.5),
                Pattern("grouped", rf"(?<![\w-])(?:\(\d{{2,4}}\) ?|\d{{2,4}}[ .-])\d{{2,6}}(?:[ .-]\d{{2,6}}){{0,3}}{end}", 0.1),
                Pattern("plain", rf"(?<![\w-])\d{{9,11}}{end}", 0.05),
            ],
            context=[],  # our own cue match in analyze(), on the raw text
            supported_language=supported_language,
            name="LoosePhoneRecognizer",
        )

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        for r in results:
            window = text[max(0, r.start - 40) : r.start].lower() + " " + text[r.end : r.end + 24].lower()
            if self.CUE.search(window):
                r.score = min(1.0, max(r.score + 0.35, 0.4))
            r.recognition_metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
        return results

    def validate_result(self, pattern_text: str):
        n = len(re.sub(r"\D", "", pattern_text))
        if re.fullmatch(r"(?:19|20)\d{2}[ .-]\d{1,2}[ .-]\d{1,2}|\d{1,2}[ .-]\d{1,2}[ .-](?:19|20)\d{2}", pattern_text):
            return False  # a date
        return None if 7 <= n <= 15 else False


def _shortest_numbers() -> tuple[int, dict[str, int]]:
    """The fewest digits a number valid for the phone matcher can have: written with a country code
    (``+`` or an international prefix: any region, country code included) and, per calling code,
    written nationally (the shortest national number of the regions sharing it). From
    ``phonenumbers``' metadata (possible lengths of every number type with a pattern); 6 (+43 …)
    and 4 (Germany) with phonenumbers 9.0."""
    from phonenumbers import PhoneMetadata
    from phonenumbers.phonenumberutil import SUPPORTED_REGIONS, COUNTRY_CODES_FOR_NON_GEO_REGIONS

    kinds = ("general_desc", "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number", "voip", "pager", "uan", "voicemail")

    def shortest(md) -> int | None:
        lengths = [
            n
            for d in (getattr(md, k, None) for k in kinds)
            if d is not None and d.national_number_pattern is not None
            for n in (d.possible_length or ())
            if n > 0
        ]
        return min(lengths) if lengths else None

    international = 99
    national: dict[int, int] = {}
    metas = [PhoneMetadata.metadata_for_region(r) for r in SUPPORTED_REGIONS]
    metas += [PhoneMetadata.metadata_for_nongeo_region(c) for c in COUNTRY_CODES_FOR_NON_GEO_REGIONS]
    for md in metas:
        n = shortest(md) if md is not None else None
        if n is None:
            continue
        international = min(international, len(str(md.country_code)) + n)
        national[md.country_code] = min(national.get(md.country_code, 99), n)
    return international, national


class FastPhoneRecognizer(PhoneRecognizer):
    """presidio's ``PhoneRecognizer`` with the same results, without parsing the candidates that
    hold too few digits to be a number valid in the region asked (the matcher's pattern takes any
    digit run — every year, page and percentage of a text — and presidio runs it for 8 regions:
    phonenumbers was ~7 % of the English PII's CPU, py-spy, #21). A candidate with fewer
    alphanumeric characters than the shortest valid number (written nationally for the region, or
    with any country code) cannot parse into a valid number, nor can any part of it; the matcher
    then does what it does with a failed candidate (its count of tries spent, which caps the
    candidates of a text, included). ``tests/test_pii_english_speed.py`` compares it with presidio's."""

    def __init__(self, **kwargs):
        kwargs.setdefault("name", "PhoneRecognizer")  # the name presidio's results carry
        super().__init__(**kwargs)
        international, national = _shortest_numbers()
        from phonenumbers import country_code_for_region

        self._min_chars = {r: min(international, national.get(country_code_for_region(r), 99)) for r in self.supported_regions}

    def analyze(self, text: str, entities, nlp_artifacts=None) -> list[RecognizerResult]:
        import phonenumbers
        from phonenumbers.phonenumberutil import NumberParseException

        results = []
        for region in self.supported_regions:  # presidio's loop, with the matcher below
            for match in _SkippingMatcher(text, region, self.leniency, self._min_chars[region]):
                try:
                    parsed_number = phonenumbers.parse(text[match.start : match.end])
                    region = phonenumbers.region_code_for_number(parsed_number)
                    results += [self._get_recognizer_result(match, text, region, nlp_artifacts)]
                except NumberParseException:
                    results += [self._get_recognizer_result(match, text, region, nlp_artifacts)]
        return EntityRecognizer.remove_duplicates(results)


def _alnum(s: str) -> int:
    return sum(1 for c in s if c.isalnum())


class _SkippingMatcher(PhoneNumberMatcher):
    """``PhoneNumberMatcher`` that settles a candidate with fewer than ``min_chars`` alphanumeric
    characters (digits; letters an alphanumeric number would turn into digits) as a failure
    without parsing it or its parts: ``_extract_match``'s control flow, tries spent included."""

    def __init__(self, text: str, region: str, leniency: int, min_chars: int):
        super().__init__(text, region, leniency=leniency)
        self._min_chars = min_chars

    def _extract_match(self, candidate, offset):
        if len(candidate) >= self._min_chars and _alnum(candidate) >= self._min_chars:
            return super()._extract_match(candidate, offset)
        # PhoneNumberMatcher._extract_match, where every parse fails.
        if _pnm._SLASH_SEPARATED_DATES.search(candidate):
            return None
        if _pnm._TIME_STAMPS.search(candidate) and _pnm._TIME_STAMPS_SUFFIX.match(self.text, offset + len(candidate)):
            return None
        for inner in _pnm._INNER_MATCHES:  # _extract_inner_match's tries
            group = inner.search(candidate)
            first = True
            while group and self._max_tries > 0:
                if first:
                    self._max_tries -= 1
                    first = False
                self._max_tries -= 1
                group = inner.search(candidate, group.start() + 1)
        return None
