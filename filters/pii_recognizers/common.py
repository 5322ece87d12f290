"""Shared by the Korean and English analyzers: entity lists, digit-group separators, context
matched as a substring of the raw text (Korean words carry particles: ``여권번호를``, which a
lemma match would miss), and e-mail validated against tldextract's bundled suffix list.
"""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.predefined_recognizers import EmailRecognizer

SEP = r"[-.\u2010-\u2015 ]"  # hyphen, dot, unicode dashes or one space between digit groups


_SEP_PAIRS = [("-", ""), (".", ""), (" ", ""), ("\u2010", ""), ("\u2011", ""), ("\u2012", ""), ("\u2013", ""), ("\u2014", ""), ("\u2015", "")]


#: Entity types the Korean analyzer emits (the English one adds presidio's own).
KO_ENTITIES = [
    "KR_RRN",
    "KR_FRN",
    "KR_BRN",
    "KR_PASSPORT",
    "KR_DRIVER_LICENSE",
    "PHONE_NUMBER",
    "EMAIL_ADDRESS",
    "CREDIT_CARD",
    "BANK_ACCOUNT",
    "ADDRESS",
    "PERSON",
]


EN_ENTITIES = ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS", "US_PASSPORT", "US_DRIVER_LICENSE", "US_BANK_NUMBER", "US_ITIN", "UK_NHS"]


class SubstringContextEnhancer(ContextAwareEnhancer):
    """Raise a result's score when one of its recognizer's context words occurs near it.

    ``prefix_chars`` before and ``suffix_chars`` after the match are searched as plain text;
    the boost is presidio's usual ``+0.35`` (at least ``0.4``, at most ``1.0``).
    """

    def __init__(self, prefix_chars: int = 24, suffix_chars: int = 8, factor: float = 0.35, min_score: float = 0.4):
        super().__init__(
            context_similarity_factor=factor,
            min_score_with_context_similarity=min_score,
            context_prefix_count=prefix_chars,
            context_suffix_count=suffix_chars,
        )

    def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):
        by_id = {r.id: r for r in recognizers}
        out = []
        for res in raw_results:
            meta = res.recognition_metadata or {}
            rec = by_id.get(meta.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY))
            if rec is None or not rec.context or meta.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
                out.append(res)
                continue
            window = text[max(0, res.start - self.context_prefix_count) : res.start] + " " + text[res.end : res.end + self.context_suffix_count]
            window = window.lower()
            if any(w in window for w in _lowered(rec)):
                res = RecognizerResult(res.entity_type, res.start, res.end, res.score, res.analysis_explanation, meta)
                res.score = min(ContextAwareEnhancer.MAX_SCORE, max(res.score + self.context_similarity_factor, self.min_score_with_context_similarity))
            out.append(res)
        return out


def _lowered(rec: EntityRecognizer) -> list[str]:
    cached = getattr(rec, "_ctx_lower", None)
    if cached is None:
        cached = [w.lower() for w in rec.context]
        rec._ctx_lower = cached
    return cached


_TLD = None


def _offline_tld():
    """tldextract with its bundled suffix list: presidio's default fetches the list at run time."""
    global _TLD
    if _TLD is None:
        import tldextract

        _TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    return _TLD


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's e-mail recognizer, validated against the bundled public-suffix snapshot."""

    def validate_result(self, pattern_text: str):
        return _offline_tld()(pattern_text.rsplit("@", 1)[-1]).fqdn != ""
