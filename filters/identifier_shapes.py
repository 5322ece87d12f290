"""Whether a string can hold a structured identifier, without Presidio: the patterns of the six
recognizers :func:`filters.pii_fields.mask_identifiers` runs on ids and file names (RRN, FRN, BRN,
phone, card, e-mail), compiled as Presidio compiles them (the ``regex`` module, ``IGNORECASE |
MULTILINE | DOTALL``).

Why: a string none of them matches gets no result from any recognizer (each is a
``PatternRecognizer``: no match, nothing to validate), yet asking them meant importing Presidio
(~1.3 CPU-s) in every process that ingests an id past the digit gate. On the full e2e corpus 46
record ids pass that gate (43 HTML pages' UUIDs, 3 WikiText titles with ``@-@``): 45 match none
of these patterns; one UUID holds ten digits in a row, which the BRN pattern matches and its
checksum then rejects (2026-12-07). tests/test_perf_gates.py checks the patterns are the
recognizers' own, string for string, and that gated and ungated masking agree.

``mask_identifiers`` also reads a name with an ``@`` cut at the dots after it (each such dot a
space): a match there is a match here too — every pattern takes ``.`` and a space alike, and the
e-mail pattern is searched without its look-behind (:data:`EMAIL_LOOKBEHIND`), the one place
where a dot before the address and a space differ. So the gate can only let more through.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

#: The e-mail recognizer's pattern is this look-behind + :data:`EMAIL` (searched without it).
EMAIL_LOOKBEHIND = "(?<![\\w.+-])"
EMAIL = "[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}(?![A-Za-z0-9])"

#: The other recognizers' pattern strings, in their order.
SHAPES: tuple[str, ...] = (
    '(?<![\\d-])\\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\\d|3[01])[-.\\u2010-\\u2015 ]?[1-4]\\d{6}(?![\\d-])',  # KoRrnRecognizer 'RRN'
    '(?<![\\d-])\\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\\d|3[01])[-.\\u2010-\\u2015 ]?[5-8]\\d{6}(?![\\d-])',  # KoFrnRecognizer 'FRN'
    '(?<![\\d-])\\d{3}[-.\\u2010-\\u2015 ]\\d{2}[-.\\u2010-\\u2015 ]\\d{5}(?![\\d-])',  # KoBrnRecognizer 'BRN'
    '(?<![\\d-])\\d{10}(?![\\d-])',  # KoBrnRecognizer 'BRN unseparated'
    '(?<![\\d-])(?:01[016789]|\\+82[-.\\u2010-\\u2015 ]?1[016789])[-.\\u2010-\\u2015 )]{0,2}\\d{3,4}[-.\\u2010-\\u2015 ]?\\d{4}(?![\\d-])',  # KoPhoneRecognizer 'mobile'
    '(?<![\\d-])(?:\\(?(?:02|0(?:3[1-3]|4[1-4]|5[1-5]|6[1-4])|070|050\\d)|\\+82[-.\\u2010-\\u2015 ]?\\(?0?(?:2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70))[-.\\u2010-\\u2015 )]{0,2}\\d{3,4}[-.\\u2010-\\u2015 ]?\\d{4}(?![\\d-])',  # KoPhoneRecognizer 'landline'
    '(?<![\\d-])1[5-8]\\d{2}-\\d{4}(?![\\d-])',  # KoPhoneRecognizer 'representative'
    '(?<![\\d-])[3-6]\\d{3}[-.\\u2010-\\u2015 ]?\\d{4}[-.\\u2010-\\u2015 ]?\\d{4}[-.\\u2010-\\u2015 ]?\\d{4}(?![\\d-])',  # KoCreditCardRecognizer 'card 16'
    '(?<![\\d-])3[47]\\d{2}[-.\\u2010-\\u2015 ]?\\d{6}[-.\\u2010-\\u2015 ]?\\d{5}(?![\\d-])',  # KoCreditCardRecognizer 'amex 15'
    '(?<![\\d-])3[0689]\\d{2}[-.\\u2010-\\u2015 ]?\\d{6}[-.\\u2010-\\u2015 ]?\\d{4}(?![\\d-])',  # KoCreditCardRecognizer 'diners 14'
)



@lru_cache(maxsize=1)
def _any_shape() -> Any:
    """The patterns as one, compiled as Presidio compiles them (``EntityRecognizer``'s default
    flags, which the recognizers keep); None without ``regex`` (it comes with the ``pii`` extra's
    Presidio, which the recognizers need anyway)."""
    try:
        import regex
    except ImportError:  # pragma: no cover - a light install: every string goes to the recognizers
        return None
    return regex.compile("|".join(f"(?:{p})" for p in (*SHAPES, EMAIL)), flags=regex.DOTALL | regex.MULTILINE | regex.IGNORECASE)


def identifier_shaped(text: str) -> bool:
    """True when one of the recognizers' patterns (:data:`SHAPES`, :data:`EMAIL`) matches somewhere
    in ``text``.

    >>> [identifier_shaped(t) for t in ("nsmc-10101429", "id 900101-1234568", "wiki-a @-@ b", "kim@example.com.jsonl")]
    [False, True, False, True]
    """
    pattern = _any_shape()
    return pattern is None or pattern.search(text) is not None
