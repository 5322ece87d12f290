"""The batch paths of ``langid`` and ``quality_heuristics`` against straightforward per-document
references, on tricky inputs: same decisions, same details, same score columns to the bit."""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pyarrow as pa
import pytest

from filters import heuristics, langid
from filters.base import StageContext
from filters.heuristics import NgramRepetition, QualityHeuristics, judge
from filters.langid import LanguageID, hangul_ratio, hangul_ratios, language_sample, language_samples, samples_and_ratios
from filters.textstats import batch_char_counts, char_counts
from tests.test_quality import HEURISTIC_CASES, PROSE, STATUTES

TRICKY = [
    "",
    " ",
    "\n\n\t \u3000 \n",
    "\x1c\x1d\x1e\x1f",  # str.isspace() separators
    "한",
    "word",
    "ㅋㅋㅋㅋㅋ 굿 👍👍",
    "🙂 " * 40,
    "𠀀𠀁 𝔘𝔫𝔦 text 😀 한국어 " * 10,  # astral letters, math letters, emoji
    "Ⅳ ½ ² ① ٣ ۴ digits 123 and Ⅻ " * 6,
    "İSTANBUL ŞEHİR ΣΟΦΙΑ ÆØÅ " * 8,
    ("a very long single line of prose that goes on " * 2000).strip(),
    "이 법은 국민의 권리를 보호함을 목적으로 한다. " * 3 + "\n" + "English words quoted inside the Korean text. " * 4,
    "\n".join(["same line again and again with enough words"] * 12),
    "제1조(목적) 이 법은 개인정보의 처리 및 보호에 관한 사항을 정함으로써 개인의 자유와 권리를 보호하고, "
    "나아가 개인의 존엄과 가치를 구현함을 목적으로 한다.\n① 이 조에서 정하는 바에 따른다.\n"
    "1. 개인정보란 살아 있는 개인에 관한 정보로서 성명, 주민등록번호 및 영상 등을 통하여 개인을 알아볼 수 있는 정보를 말한다.",
    "<div><p>markup " * 30,
    "\u00a0\u2003mixed\u00a0spaces\u2003and words " * 20,
]


def random_documents(n: int, seed: int = 1) -> list[str]:
    """Seeded documents from a small vocabulary (repeated n-grams, ties), lines and paragraphs."""
    rng = random.Random(seed)
    vocab = "the of and to 법은 국민의 권리를 한다 is was a cat sat on mat 제1조 ① 1. 😀 ... ! , data".split()
    docs = []
    for _ in range(n):
        k = rng.choice([0, 1, 5, 14, 15, 16, 29, 30, 31, 60, 200, 900])
        words = [rng.choice(vocab[: rng.randint(2, len(vocab))]) for _ in range(k)]
        seps = [rng.choice([" ", " ", " ", "\n", "\n\n", "  "]) for _ in range(k)]
        docs.append("".join(w + s for w, s in zip(words, seps)))
    return docs


def reference_heuristics(texts, langs, cfg):
    """The stage as a plain loop of judge() over documents (its definition)."""
    verdicts = [judge(t, lang, cfg) for t, lang in zip(texts, langs)]
    stage = QualityHeuristics(cfg)
    columns = {"qh_reason": [v.reason for v in verdicts]}
    for f in stage.output_fields[1:]:
        vals = [v.signals.get(f.name) for v in verdicts]
        if f.type == pa.int32():
            columns[f.name] = pa.array(vals, pa.int32()).to_pylist()
        else:
            columns[f.name] = pa.array([None if x is None or math.isnan(x) else x for x in vals], pa.float32()).to_pylist()
    return verdicts, columns


def documents():
    texts = TRICKY + list(HEURISTIC_CASES.values()) + [PROSE] + STATUTES + random_documents(300)
    langs = [("ko", "en", None, "ja")[i % 4] for i in range(len(texts))]
    return texts, langs


@pytest.mark.parametrize("options", [{}, {"min_words": {"ko": 3, "default": None}, "drop": True}, {"drop": False}])
def test_heuristics_batch_equals_per_document(options):
    texts, langs = documents()
    stage = QualityHeuristics(options)
    result = stage.process(pa.record_batch({"text": texts, "lang": langs}))
    verdicts, expected = reference_heuristics(texts, langs, stage.config)
    for name, values in expected.items():
        assert result.columns[name].to_pylist() == values, name
    if options.get("drop", True):
        assert result.reasons == [v.reason for v in verdicts]
        assert result.details == [v.detail for v in verdicts]
        np.testing.assert_array_equal(result.scores, [v.score for v in verdicts])
        np.testing.assert_array_equal(result.thresholds, [v.threshold for v in verdicts])
        assert result.keep.tolist() == [v.reason is None for v in verdicts]
    else:
        assert result.keep.all()


def test_batch_char_counts_equal_per_text():
    texts, _ = documents()
    for chunk in (1, 50, 1 << 20):  # documents split across chunks, one per chunk, all in one
        counts, words = batch_char_counts(texts, chunk_chars=chunk)
        assert counts.tolist() == [char_counts(t).tolist() for t in texts]
        assert words.tolist() == [len(t.split()) for t in texts]


class ReferenceRepetition:
    """The n-gram measures as first written (hashes from scratch for every n, no shortcut)."""

    P = np.uint64(1_000_003)

    def __init__(self, words, text_length):
        vocab: dict[str, int] = {}
        self.ids = np.fromiter((vocab.setdefault(w, len(vocab)) for w in words), dtype=np.uint64, count=len(words))
        self.lengths = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
        self.text_length = max(text_length, 1)

    def _hashes(self, n):
        m = len(self.ids) - n + 1
        h = np.zeros(m, dtype=np.uint64)
        for k in range(n):
            h = h * self.P + self.ids[k : k + m] + np.uint64(1)
        return h

    def top_fraction(self, n):
        if len(self.ids) < n + 1:
            return 0.0
        _, first, counts = np.unique(self._hashes(n), return_index=True, return_counts=True)
        top = int(np.argmax(counts))
        if counts[top] < 2:
            return 0.0
        start = int(first[top])
        return (int(self.lengths[start : start + n].sum()) + n - 1) * int(counts[top]) / self.text_length

    def duplicate_fraction(self, n):
        if len(self.ids) < 2 * n:
            return 0.0
        h = self._hashes(n)
        _, first_idx, inverse = np.unique(h, return_index=True, return_inverse=True)
        repeated = np.flatnonzero(first_idx[inverse] != np.arange(len(h)))
        if repeated.size == 0:
            return 0.0
        cover = np.zeros(len(self.ids) + 1, dtype=np.int64)
        np.add.at(cover, repeated, 1)
        np.add.at(cover, repeated + n, -1)
        return int(self.lengths[np.cumsum(cover[:-1]) > 0].sum()) / self.text_length


@pytest.mark.parametrize("order", ["gopher", "reversed"])
def test_ngram_repetition_equals_reference(order):
    texts, _ = documents()
    rng = random.Random(3)
    texts += [" ".join(rng.choice("ab") for _ in range(k)) for k in (0, 1, 2, 3, 9, 20, 257, 300)]
    texts += [" ".join(rng.choice("abcdefgh") for _ in range(k)) for k in (30, 255, 256, 257, 600)]
    texts += [" ".join(rng.choice(["\ud800", "x", "y"]) for _ in range(400))]  # not UTF-8: the dict path
    ns = [("top", 2), ("top", 3), ("top", 4)] + [("dup", n) for n in range(5, 11)]
    if order == "reversed":  # the cached hashes must not depend on the order of the calls
        ns = ns[::-1]
    for text in texts:
        words = text.split()
        ours, ref = NgramRepetition(words, len(text)), ReferenceRepetition(words, len(text))
        for kind, n in ns:
            if kind == "top":
                assert ours.top_fraction(n) == ref.top_fraction(n), (text[:40], kind, n)
            else:
                assert ours.duplicate_fraction(n) == ref.duplicate_fraction(n), (text[:40], kind, n)


# ----------------------------------------------------------------------------- langid

NASTY = list("aZéİıßŞΣς한ㅋᄀ\u3130\u318f\u3164日本ア١٢۳1²½Ⅳ①_-.,!?'\"()[]{}<>/\\@&;#:%+=|~`^*$€₩£")
NASTY += [" ", "  ", "\n", "\t", "\u3000", "\u00a0", "\x1c", "\u0301", "😀", "𠀀", "𝔘", "http://", "https://x.y ", "www.", "a@b.co",
          "<b>", "</p>", "&amp;", "&nbsp;", "@-@", "<unk>", "İSTANBUL", "ALL CAPS TEXT", "한국 KBS"]


def sample_texts() -> list[str]:
    rng = random.Random(5)
    texts, _ = documents()
    texts = texts + [t.upper() for t in texts[:40]]
    plain = [c for c in NASTY if not any(lit in c for lit in langid._NEEDS_REGEX)]  # the batch path
    for alphabet in (NASTY, plain):
        texts += ["".join(rng.choice(alphabet) for _ in range(rng.choice([1, 3, 10, 40, 400, 3000]))) for _ in range(300)]
    return texts


@pytest.mark.parametrize("sample_chars", [1200, 7])
def test_language_samples_equal_per_document(sample_chars):
    texts = sample_texts()
    samples = language_samples(texts, sample_chars)
    assert samples == [language_sample(t, sample_chars) for t in texts]
    assert hangul_ratios(samples).tolist() == [hangul_ratio(s) for s in samples]
    assert language_samples([]) == [] and hangul_ratios([]).tolist() == []
    # The ratios taken from the letter table's arrays (the lowered and regex-path samples recounted).
    same, ratios = samples_and_ratios(texts, sample_chars)
    assert same == samples and ratios.tolist() == [hangul_ratio(s) for s in samples]
    assert any(t.isupper() for t in texts) and samples_and_ratios([])[1].tolist() == []


def test_langid_batch_equals_per_document(monkeypatch):
    texts = sample_texts()
    sources = [("ko_src", "en_src", "both", "any")[i % 4] for i in range(len(texts))]
    ctx = StageContext(source_langs={"ko_src": ["ko"], "en_src": ["en"], "both": ["ko", "en"], "any": []})
    b = pa.record_batch({"text": texts, "source_id": sources})
    ours = LanguageID({}, ctx).process(b)
    def per_document(ts, k):
        samples = [language_sample(t, k) for t in ts]
        return samples, np.array([hangul_ratio(s) for s in samples])

    monkeypatch.setattr(langid, "samples_and_ratios", per_document)
    ref = LanguageID({}, ctx).process(b)
    assert ours.reasons == ref.reasons and ours.details == ref.details
    assert ours.keep.tolist() == ref.keep.tolist()
    np.testing.assert_array_equal(ours.scores, ref.scores)
    for name in ("lang", "lang_score", "hangul_ratio"):
        assert ours.columns[name].to_pylist() == ref.columns[name].to_pylist(), name


# --- the regex rules' faster forms against their plain definitions --------------------------

_HOSTILE_WORDS = (
    "free FREE ſtop Stop win won winner prize claim cash urgent awarded bonus guaranteed offer txt text call "
    "reply subscribe unsubscribe stop opt-out optout voucher ringtone mobile delivery 무료 당첨 광고 수신 거부 할인 "
    "이벤트 쿠폰 대출 상담 문의 클릭 12345 010-1234-5678 02 123 4567 £5 $ 9 €1 ₩3 5p 3원 10만원 http:// https://x "
    "www. all rights reserved copyright © 2020 (c) 1999 javascript sign in log out login signup newsletter click here "
    "read more skip to main content back to top share this share on follow us tweet home | about us » contact us > "
    "sitemap · site map faq help posted by posted on permalink comments (3) comment(12) 무단 전재 재배포 금지 저작권자 ⓒ "
    "로그인 회원 가입 비밀번호 찾기 아이디 기사 제보 구독하기 공유하기 바로 가기 이전 글 다음 글 목록 보기 맨 위로 "
    "개인정보 처리 방침 이용 약관 쿠키 terms of use privacy policy İ K Σ ς _ __ ① ½ ² 😀 𝔘 — ... … , . ; "
    "\u00a0 \t \x1c a1 x_y ...word word... 'quoted' (paren)"
).split(" ")


def hostile_texts(n: int = 300, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    out = list(TRICKY)
    for _ in range(n):
        k = rng.randint(0, 40)
        parts = [rng.choice(_HOSTILE_WORDS) for _ in range(k)]
        seps = [rng.choice([" ", "", "\n", "  ", "\t", "\u00a0", "\n\n"]) for _ in range(k)]
        out.append("".join(p + s for p, s in zip(parts, seps)))
    return out


def _plain(pattern: re.Pattern) -> re.Pattern:
    """A pattern without its leading first-character look-ahead."""
    return re.compile(re.sub(r"^\(\?=(?:\[[^\]]*\]|\w)\)", "", pattern.pattern), pattern.flags)


def test_look_ahead_leads_find_the_same_matches():
    texts = hostile_texts()
    pairs = [(heuristics._PROMO_WORDS, re.compile(heuristics._PROMO_WORDS_PATTERN, re.IGNORECASE)),
             (heuristics._PROMO_CONTACT, re.compile(heuristics._PROMO_CONTACT_PATTERN))]
    pairs += [(rule, _plain(rule)) for _, rule in heuristics._BOILERPLATE_RULES]
    for fast, plain in pairs:
        for t in texts:
            for text in (t, t.lower()):
                assert [m.span() for m in fast.finditer(text)] == [m.span() for m in plain.finditer(text)], (plain.pattern, text)


def test_anchored_rules_equal_per_text_checks():
    texts = [t.lower() for t in hostile_texts()]
    expected = [tuple(k for k, (anchors, _) in enumerate(heuristics._BOILERPLATE_RULES) if any(a in t for a in anchors)) for t in texts]
    assert heuristics._anchored_rules(texts) == expected
    assert heuristics._anchored_rules([]) == []


def test_word_counts_over_the_text_equal_per_word():
    for t in hostile_texts() + random_documents(100, seed=5):
        words = t.split()
        real = [w for w in words if not heuristics._PUNCT_TOKEN.fullmatch(w)]
        alpha = sum(1 for w in real if heuristics._LETTER.search(w))
        assert len(words) - len(heuristics._PUNCT_WORD.findall(t)) == len(real), t
        assert len(heuristics._LETTER_WORD.findall(t)) == alpha, t


def test_judge_with_batch_facts_equals_judge_alone():
    cfg = QualityHeuristics.parse_options({})
    texts = hostile_texts(200, seed=11) + [(" ".join(_HOSTILE_WORDS) + "\n") * 3]
    anchored = heuristics._anchored_rules([t.lower() for t in texts])
    for t, rules in zip(texts, anchored):
        for lang in ("ko", "en"):
            a, b = judge(t, lang, cfg), judge(t, lang, cfg, None, char_counts(t), len(t.split()), rules)
            assert (a.reason, a.detail, a.signals) == (b.reason, b.detail, b.signals)
            assert a.score == b.score or (math.isnan(a.score) and math.isnan(b.score))


def test_line_rule_shortcuts_equal_their_definitions():
    code_bits = ["{", "}", ";", "function f", "var x", "const y", "import z", "#include <a>", "def g", " \t", "x = 1;", "functional", "variable"]
    rng = random.Random(9)
    texts = hostile_texts() + ["\n".join(rng.choice(code_bits + _HOSTILE_WORDS + ["----", "| :-- |", "<b>x</b>", "end.</p>"])
                                         for _ in range(rng.randint(0, 30))) for _ in range(300)]
    for t in texts:
        lines = [ln for ln in (x.strip() for x in t.split("\n")) if ln]
        assert heuristics._lines_matching(heuristics._CODE, t) == 0 or heuristics._CODE_GATE.search(t), t
        for ln in lines:
            assert ln.endswith(">") or heuristics._TRAILING_TAG.sub("", ln) == ln, ln


# --- fifth pass: one-line rules, word facts and gates over the batch ---------------------------

_ODD_CONFIGS = [
    {},
    {"dup_line_frac": -1.0},  # every rule on, thresholds that fire on zeros
    {"dup_line_char_frac": -1.0, "max_code_lines": -1.0},
    {"max_boilerplate_lines": -1.0, "max_punctuation_lines": -1.0, "max_short_lines": -1.0},
    {"min_terminal_lines": 2.0, "short_line_chars": 1000},
    {"max_code_lines": None, "max_boilerplate_lines": None, "max_punctuation_lines": None, "min_terminal_lines": None},
]


def _one_line_texts() -> list[str]:
    texts = [t.replace("\n", " ") for t in hostile_texts(400, seed=21) + documents()[0]]
    texts += ["", " ", "\t", "x", " ... ", "…", "----", "| :-- |", "<b>end.</b>", "끝이다</p>", "function f() {", "# 제목", "#",
              "① 항목", "(가) 항목", "  이 법은 시행한다.  ", "ALL RIGHTS RESERVED", "무단전재 및 재배포 금지", "😀😀 😀", "𝔘𝔫𝔦 text"]
    return texts


@pytest.mark.parametrize("options", _ODD_CONFIGS)
def test_one_line_rules_equal_the_line_rules(options):
    cfg = QualityHeuristics.parse_options(options)
    texts = _one_line_texts()
    anchored = heuristics._anchored_rules([t.lower() for t in texts])
    gates = heuristics._batch_gates(texts, [t.lower() for t in texts])
    for t, rules, g in zip(texts, anchored, gates):
        assert "\n" not in t
        for lang in ("ko", "en"):
            results = []
            for fn, r, gg in ((heuristics._line_rules, None, None), (heuristics._one_line_rules, rules, g), (heuristics._one_line_rules, None, None)):
                try:
                    v = fn(heuristics.Verdict(), t, lang, cfg, r, gg)
                except ZeroDivisionError:  # an empty text with a negative threshold: both must raise
                    results.append("ZeroDivisionError")
                    continue
                results.append((v.reason, v.detail, v.signals, v.score if not math.isnan(v.score) else "nan", v.threshold if not math.isnan(v.threshold) else "nan"))
            assert results[0] == results[1] == results[2], (t, lang)


def test_batch_gates_report_every_text_with_a_match():
    texts = hostile_texts(300, seed=8) + documents()[0] + ["lorem ipsum", "a <div> b", "call 12345 now", "x;", "", "&amp;"]
    texts += ["LOREM IPSUM", "Lorem ıpsum", "lorem ipſum", "x -->", "<!DOCTYPE html>", "<!-- c -->", "£ 5", "₩３", "𝟓𝟓𝟓𝟓𝟓 call",
              "http://x", "www.x", "function f", "var\tx", "const y", "import z", "#include <a>", "def g", "{", "}", ";", "İİ lorem"]
    gates = heuristics._batch_gates(texts, [t.lower() for t in texts])
    for t, g in zip(texts, gates):
        for flag, pattern in zip(g, (heuristics._LOREM, heuristics._TAG, heuristics._PROMO_CONTACT, heuristics._CODE_GATE)):
            assert flag or pattern.search(t) is None, (pattern.pattern, t)


def _word_facts_texts() -> list[str]:
    rng = random.Random(13)
    texts = hostile_texts(300, seed=17) + documents()[0]
    texts += [" ".join(rng.choice("ab") for _ in range(k)) for k in (0, 1, 2, 3, 9, 20, 255, 256, 257, 300)]
    texts += [" ".join(rng.choice("abcdefgh") for _ in range(k)) for k in (30, 255, 256, 257, 600)]
    texts += ["가 나 가 나 가 나 " * 5, "😀 😀 🙂 😀 😀 🙂", "의 를 은. 는) 에서」 다… 요x 니다!! a", "x " * 10001]
    return texts


@pytest.mark.parametrize("options", [{}, {"dup_ngrams": {"10": 0.1, "5": 0.15, "7": 0.13}, "top_ngrams": {"4": 0.16, "2": 0.2}},
                                     {"max_tokenize_chars": 50}, {"top_ngrams": None, "dup_ngrams": None}])
def test_batch_word_facts_equal_per_document(options):
    cfg = QualityHeuristics.parse_options(options)
    texts = _word_facts_texts()
    heads = [t[: cfg.max_tokenize_chars] for t in texts]
    for ko in (True, False):
        facts = heuristics.batch_word_facts(heads, [ko] * len(heads), cfg)
        assert facts is not None and len(facts) == len(heads)
        for head, f in zip(heads, facts):
            words = head.split()
            assert f.words == words and f.total_length == sum(map(len, words))
            assert f.punct == len(heuristics._PUNCT_WORD.findall(head)) and f.alpha == len(heuristics._LETTER_WORD.findall(head))
            if ko:
                assert f.ko_stops == sum(1 for w in words if len(w) > 1 and w.rstrip(heuristics._TRAILING_PUNCT).endswith(heuristics._KO_SUFFIXES))
            ref = ReferenceRepetition(words, len(head))
            for n in map(int, cfg.top_ngrams or {}):
                assert f.top_fraction(n) == ref.top_fraction(n), (head[:40], n)
            for n in map(int, cfg.dup_ngrams or {}):
                assert f.duplicate_fraction(n) == ref.duplicate_fraction(n), (head[:40], n)
    assert heuristics.batch_word_facts([], [], cfg) == []
    assert heuristics.batch_word_facts(["x \ud800 y"], [False], cfg) is None  # not UTF-8: judged one by one


def test_heuristics_batch_equals_per_document_on_deliveries(shared_data):
    """Real text: a seeded sample of every delivered document (reviews, statutes, pages, SMS)."""
    from bench import build_dedup_corpus
    from filters.normalize import normalize_texts

    docs = [t for _, t in build_dedup_corpus.documents() if t]
    texts = normalize_texts(random.Random(4).sample(docs, 3000))
    langs = ["ko" if sum("가" <= c <= "힣" for c in t) * 4 > len(t) else "en" for t in texts]
    stage = QualityHeuristics({})
    result = stage.process(pa.record_batch({"text": texts, "lang": langs}))
    verdicts, expected = reference_heuristics(texts, langs, stage.config)
    for name, values in expected.items():
        assert result.columns[name].to_pylist() == values, name
    assert result.reasons == [v.reason for v in verdicts] and result.details == [v.detail for v in verdicts]
