"""The cheap gates, batching and shortcuts of issue #21: they save work without changing what is found."""

from filters.pii import NER_BATCH_CHARS, _ner_groups
from filters.pii_fields import mask_identifiers


def test_ner_groups_keep_order_and_cap_characters():
    texts = ["a" * 10, "b" * NER_BATCH_CHARS, "c" * 10, "d" * 10, "e" * 10]
    groups = _ner_groups([0, 1, 2, 3, 4], texts, max_docs=2)
    assert [d for g in groups for d in g] == [0, 1, 2, 3, 4]
    assert groups == [[0], [1], [2, 3], [4]]  # a long document alone; at most 2 per group


def test_short_numeric_ids_skip_the_recognizers_and_identifiers_are_still_masked():
    assert mask_identifiers("nsmc-9919221") == "nsmc-9919221"  # 7 digits: no identifier has so few
    assert mask_identifiers("900101-1234568") == "<KR_RRN>"
    assert mask_identifiers("data/01012345678.jsonl") == "data/<PHONE_NUMBER>.jsonl"


def test_eight_digit_ids_without_a_representative_number_skip_the_recognizers(monkeypatch):
    """The gate for exactly 8 digits returns what the six recognizers would: seeded random strings
    of 8 digits among separators and letters, gated and not."""
    import random

    from filters import pii_fields

    rng = random.Random(21)
    parts = ["-", ".", " ", "_", "/", "(", ")", "+", "nsmc", "id", "@", "1588", "1644-", "02", "010"]
    values = ["nsmc-10101429", "1588-1234", "tel 1644-1234", "15881234", "02-123-456"]
    for _ in range(5000):
        s = "".join(rng.choice(parts) if rng.random() < 0.4 else str(rng.randrange(10)) for _ in range(rng.randrange(4, 16)))
        values.append(s)
    values = [v for v in values if len(pii_fields._DIGIT.findall(v)) == 8 and "@" not in v]
    gated = [mask_identifiers(v) for v in values]
    monkeypatch.setattr(pii_fields, "_MIN_DIGITS", 0)  # every string with a digit runs the recognizers
    assert gated == [mask_identifiers(v) for v in values] and len(values) > 250
    assert mask_identifiers("nsmc-10101429") == "nsmc-10101429"


def test_exact_dedup_key_collapses_whitespace_as_the_regex_did():
    """text_key's split/join equals the regex it replaced on every whitespace character of Unicode
    (and the look-alikes that are not whitespace), alone, in runs and at the ends."""
    import random
    import re
    import sys

    import xxhash

    from filters.exact_dedup import text_key

    spaces = [chr(c) for c in range(sys.maxunicode + 1) if re.match(r"\s", chr(c))]
    assert len(spaces) == 29
    rng = random.Random(7)
    alphabet = spaces + ["a", "가", "\u200b", "\ufeff", "\u180e", "\x00", "é"]
    texts = ["", " ", "a", *spaces, *("".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(3000))]
    for t in texts:
        assert text_key(t) == xxhash.xxh3_128_digest(re.sub(r"\s+", " ", t).strip().encode("utf-8")), repr(t)


def test_normalize_texts_equals_normalize_text_per_text():
    """The batch path (regex passes only where a character needs them) against the definition, on
    seeded random texts over every character the passes touch, combining marks, canonical
    singletons (U+2000 → U+2002, Å as U+212B) and astral letters; empty texts at any position."""
    import random

    from filters.normalize import normalize_text, normalize_texts

    rng = random.Random(11)
    alphabet = list(" \t\n\r\x00\x07\x0b\x1f\x7f\x85\x9f\u00a0\u200b\u200e\u2060\ufeff\u3000\u2000\u202f") + [
        "a", "A", "가", "\u030a", "\u0301", "\u212b", "\u1100", "\u1161", "é", "😀", "\U00020000", "\ue000", "\n\n\n", " \n",
    ]
    for _ in range(300):
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 10))) for _ in range(rng.randrange(1, 12))]
        assert normalize_texts(texts) == [normalize_text(t) for t in texts], texts
    assert normalize_texts([]) == []
