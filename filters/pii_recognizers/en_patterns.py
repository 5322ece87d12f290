"""English pattern recognizers for what presidio's own miss: 12–19-digit card numbers (Luhn
decides) and phone numbers in the grouped forms of many countries (a phone word decides).
"""

from __future__ import annotations

import re

from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import CreditCardRecognizer


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
