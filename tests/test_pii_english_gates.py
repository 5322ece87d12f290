"""#21 English cost, fifth round: the cheaper scans of the English recognizers give exactly what
they replace — a cut that dropped a real entity (a short phone number, a capitalised word after an
apostrophe, a name next to an organisation) fails here.

* ``FastPhoneRecognizer`` (no parse of a candidate too short to be a valid number) against
  presidio's ``PhoneRecognizer``, on every region's example numbers in every format (the shortest
  valid numbers included), on seeded strings of digits and separators, and with the matcher's cap
  on failed tries made small (the skipped candidates must spend the tries the parses spent);
* ``EnglishNameRecognizer._runs`` (only capitalised words visited) against the loop over every word;
* the per-word whole-document scans with no pattern compiled per word against the regexes.
"""

from __future__ import annotations

import random
import re

import pytest

SEED = 20261207


@pytest.fixture(scope="module")
def phones():
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    from filters.pii_recognizers.en_patterns import FastPhoneRecognizer

    return PhoneRecognizer(), FastPhoneRecognizer()


def _key(results) -> list[tuple]:
    return sorted((r.start, r.end, r.entity_type, r.score, r.analysis_explanation.textual_explanation) for r in results)


def example_numbers() -> tuple[list[str], list[str]]:
    """phonenumbers' example fixed-line and mobile numbers of every region (international, national,
    and the national number one digit short), and every example number of any type with at most 7
    digits in every format: the shortest valid numbers (``+98 9601``), where a bound set one digit
    too high would drop a real one."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    kinds = [PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE, PhoneNumberType.PREMIUM_RATE,
             PhoneNumberType.SHARED_COST, PhoneNumberType.VOIP, PhoneNumberType.PERSONAL_NUMBER, PhoneNumberType.UAN]
    common, short = [], []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in kinds:
            n = phonenumbers.example_number_for_type(region, kind)
            if n is None:
                continue
            nsn = phonenumbers.national_significant_number(n)
            forms = [phonenumbers.format_number(n, f) for f in (PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL)]
            if len(str(n.country_code)) + len(nsn) <= 7:
                short += forms + [nsn, "00" + str(n.country_code) + " " + nsn]
            elif kind in kinds[:2]:
                common += forms[1:] + [nsn[:-1]]
    return common, short


def test_fast_phone_recognizer_gives_presidios_results(phones):
    presidio, fast = phones
    common, short = example_numbers()
    texts = [f"Call {x} now, in 1999 at 12:30 (p. 4-5)." for x in short]
    common = common[::2]  # every other region's (the test's time)
    texts += ["Call " + " or ".join(common[i : i + 10]) + " now." for i in range(0, len(common), 10)]
    rng = random.Random(SEED)
    chars = "0123456789 -.()+/x:"
    texts += ["tel " + "".join(rng.choice(chars) for _ in range(rng.randint(1, 30))) + " ok" for _ in range(600)]
    found = 0
    for text in texts:
        want = presidio.analyze(text, ["PHONE_NUMBER"])
        found += len(want)
        assert _key(fast.analyze(text, ["PHONE_NUMBER"])) == _key(want), text
    assert found > 300
    # The shortest valid numbers are found (6 digits: +98 9601), by both.
    assert min(len(re.sub(r"\D", "", x)) for x in short if fast.analyze(f"Call {x} now.", ["PHONE_NUMBER"])) <= min(fast._min_chars.values()) + 2


def test_skipped_candidates_spend_the_matchers_tries(phones):
    """The matcher gives up after ``max_tries`` failed candidates: short candidates skipped without a
    parse must count as the failures they are, or a number after many of them would be found where
    presidio's matcher has given up (and the reverse)."""
    from phonenumbers import PhoneNumberMatcher

    from filters.pii_recognizers.en_patterns import _SkippingMatcher

    _, fast = phones
    filler = "12 3/4 5-6 (7) 8.9 10 x 11 - 12 ' 2011-01-02 08:00 "
    text = filler * 2 + "call 030 12345678 or +1 650-253-0000 " + filler + "+44 20 7946 0958"
    counts = set()
    for tries in (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 65535):
        for region in ("US", "DE"):
            want = [(m.start, m.end) for m in PhoneNumberMatcher(text, region, leniency=1, max_tries=tries)]
            m = _SkippingMatcher(text, region, 1, fast._min_chars[region])
            m._max_tries = tries
            assert [(x.start, x.end) for x in m] == want, (tries, region)
            counts.add((region, len(want)))
    assert {("US", 0), ("DE", 1), ("US", 2)} <= counts  # the cap cut some numbers, not others


def _runs_reference(text: str, possessive: bool = False):
    """``EnglishNameRecognizer._runs`` as ``pii@10`` wrote it: every word visited."""
    from filters.pii_recognizers.en_names import _EN_CUE_WORD, _EN_WORD, _title_case

    runs, run = [], []
    for m in _EN_WORD.finditer(text):
        w = m.group()
        if possessive and w.endswith(("'s", "’s")) and len(w) > 2:
            w = w[:-2]
            if _title_case(w):
                if run and (text[run[-1][1] : m.start()] != " " or _EN_CUE_WORD.fullmatch(run[-1][2])):
                    runs.append(run)
                    run = []
                run.append((m.start(), m.start() + len(w), w))
                runs.append(run)
                run = []
                continue
        if not _title_case(w):
            if run:
                runs.append(run)
            run = []
            continue
        if run:
            gap = text[run[-1][1] : m.start()]
            if not (gap == " " or (gap == ". " and len(run[-1][2]) == 1)) or _EN_CUE_WORD.fullmatch(run[-1][2]):
                runs.append(run)
                run = []
        run.append((m.start(), m.end(), w))
    if run:
        runs.append(run)
    return runs


def test_runs_visit_only_capitalised_words_and_find_every_run():
    from filters.pii_recognizers.en_names import EnglishNameRecognizer

    rec = EnglishNameRecognizer()
    rng = random.Random(SEED)
    pieces = ["a", "b", "A", "B", "É", "é", "ǅ", "Ⅷ", "'", "’", "-", " ", ".", "1", "_", "s", "S", "Mc", "Dr.", " Mr. ", "Dear "]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) for _ in range(20000)]
    texts += [
        "l'Amour and Jean-Luc Picard met O'Brien's crew; don'T say 'Hello' to Mary Smith's dog.",
        "Dear John, Mr. White and Dr. J. R. Smith went to St. Mary's with Anna's friends. Élodie Ünal came.",
        "x'Yz 1ab'Cd ab'Cd-ef'Gh 'Quoted Name' ’Curly’ rock'n'Roll Bill W. and McKay",
    ]
    for text in texts:
        for possessive in (False, True):
            assert rec._runs(text, possessive) == _runs_reference(text, possessive), (text, possessive)


def test_the_ascii_capitalised_word_pattern_matches_as_the_unicode_one():
    """On an ASCII text ``_capitalised_words`` uses a pattern that starts on a literal capital: the
    same matches as the one that looks ahead into every capital's class (random ASCII strings of the
    pieces a word's edges turn on, and ``_runs`` on them against every word visited)."""
    from filters.pii_recognizers.en_names import _EN_CAPITALISED_WORD, _EN_CAPITALISED_WORD_ASCII, EnglishNameRecognizer

    rec = EnglishNameRecognizer()
    rng = random.Random(SEED)
    pieces = ["a", "b", "A", "Z", "'", "-", " ", ".", "1", "_", "s", "S", "Mc", "Dr.", " Mr. ", "Dear ", "\n", "O'", "x-Y", "\t"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))) for _ in range(30000)]
    from tests.conftest import EXAMPLES

    speeches = [p.read_text(encoding="utf-8") for p in sorted((EXAMPLES / "data/speeches").glob("*.txt"))]
    texts += [t for t in speeches if t.isascii()] + [t.encode("ascii", "replace").decode() for t in speeches]
    assert sum(len(t) for t in texts) > 100_000
    for text in texts:
        assert text.isascii()
        want = [m.span() for m in _EN_CAPITALISED_WORD.finditer(text)]
        assert [m.span() for m in _EN_CAPITALISED_WORD_ASCII.finditer(text)] == want, text
        for possessive in (False, True):
            assert rec._runs(text, possessive) == _runs_reference(text, possessive), (text, possessive)


def test_whole_document_scans_without_a_pattern_per_word():
    from filters.pii_recognizers.en_names import _matches_of, _standalone

    text = (
        "Grass Instrument Company and Grass. grass-fed Grass-Roots xGrass Grass Valley Grass's Grass Bank Inc "
        "Sara sara Sara-Lee Sara_1 -Sara Sara’s (Sara) A'A'A A'A"
    )
    for word in ("Grass", "Sara", "sara", "A'A", "Inc", "Bank"):
        want = [m.start() for m in _matches_of(text, word, rf"(?<![\w-]){re.escape(word)}(?![\w-])")]
        assert list(_standalone(text, word)) == want, word


def test_org_elsewhere_scan_keeps_its_answers():
    from filters.pii_recognizers.en_names import _EN_COMPANY_FORMS, EN_NOT_PERSON_WORDS, EnglishNameRecognizer, _matches_of

    rec = EnglishNameRecognizer()

    def reference(text: str, word: str) -> bool:
        if word + " " not in text:
            return False
        for m in _matches_of(text, word, rf"(?<![\w-]){re.escape(word)}((?: [A-Z][\w&-]*){{1,3}})"):
            if m.group(1).split()[-1].lower() in EN_NOT_PERSON_WORDS | _EN_COMPANY_FORMS:
                return True
        return False

    texts = [
        "Grass Instrument Company made it; Mr. Grass said so.",
        "xGrass Instrument Company; Grass Valley Bank",
        "Grass Valley Road Big Old Tree Company",
        "Kesko Oyj and Kesko",
        "Marla Singer met Marla",
        "-Kone Corporation Kone Kone Elevators Inc",
    ]
    for text in texts:
        for word in ("Grass", "Kesko", "Marla", "Kone", "Valley"):
            assert rec._org_elsewhere_scan(text, word) == reference(text, word), (text, word)


def test_lower_case_names_read_only_pairs_that_start_with_a_possible_given_name():
    """The scan of lower-cased full names tests only the pairs whose first word is a census given
    name that is no stop word nor English word: the same names as testing every pair."""
    from filters.pii_recognizers.en_names import _EN_LOWER_PAIR, EnglishNameRecognizer

    rec = EnglishNameRecognizer()

    def reference(text: str):
        out = []
        for m in _EN_LOWER_PAIR.finditer(text):
            given, last = m.group(1), m.group(2)
            if (given.upper() in rec._first and last.upper() in rec._last and not ({given, last} & rec._stop)
                    and not rec._is_word(given) and not rec._is_word(last)):
                out.append((m.start(1), m.end(2)))
        return tuple(out)

    rng = random.Random(SEED)
    firsts = sorted(f.lower() for f in rec._first)[::7]
    lasts = sorted(s.lower() for s in rec._last)[::97]
    words = firsts + lasts + ["the", "and", "said", "ann", "anna", "annabel", "kristen", "hollis", "x", "é", "1"]
    seps = [" ", "  ", ", ", "-", "é", "\n"]
    texts = ["".join(rng.choice(words) + rng.choice(seps) for _ in range(rng.randint(1, 30))) for _ in range(5000)]
    texts += ["kristen hollis met naomi ryan and anna annabel hollis", "annabel hollis", "ann hollis", "éann hollis", "The End."]
    found = 0
    for text in texts:
        want = reference(text)
        found += len(want)
        assert rec._lower_case_names_scan(text) == want, text
    assert found > 1000
