"""One MeCab dictionary map per process: the run-time lookups (the format tagger, a word's cost,
every reading of a word) share one model, and read what separate taggers read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("MeCab")

from filters.pii_recognizers.morphemes import _mecab_tagger, all_readings, entries, word_node  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["김철수", "텍사스", "포스터", "이용자", "정원수", "조국", "우크라이나", "세브란스병원", "이", "하였다", "abc", "", "a b"]


def test_all_readings_and_word_node_read_as_separate_taggers_did():
    every, plain = _mecab_tagger(" -a"), _mecab_tagger("")
    for w in WORDS:
        assert all_readings(w) == [ln for ln in every.parse(w).split("\n") if ln and ln != "EOS"], w
        old, new = plain.parseToNode(w).next, word_node(w)
        assert (old is None) == (new is None), w
        if old is not None:
            assert (old.surface, old.wcost, old.feature) == (new.surface, new.wcost, new.feature), w
    assert any(ln.startswith("포스터\tNNG,") for ln in all_readings("포스터"))


SENTENCES = [
    "우크라이나 대통령 젤렌스키는 세브란스병원에서 김철수 씨를 만났다.",
    "이 법에서 사용하는 용어의 뜻은 다음과 같다. 감사원장은 지체 없이 통보하여야 한다.",
    "톰 크루즈와 짐 캐리, 포스터 앞의 텍사스 출신 배우 이용자들 ㅋㅋ 홍진호도웃기고",
]


def test_entries_are_the_lines_of_every_reading_that_are_the_word():
    """``entries`` walks only the nodes beginning at the word's first byte: the same features as
    the lines of ``all_readings`` whose surface is the whole word, on every substring of up to
    seven characters (spaces, particles, Latin, jamo and punctuation included)."""
    words = set(WORDS) | {" 김철수", "김철수 ", "가\t나"}
    for text in SENTENCES:
        words.update(text[i:j] for i in range(len(text)) for j in range(i + 1, min(len(text), i + 7) + 1))
    for w in sorted(words):
        lines = [ln.split("\t", 1)[1] for ln in all_readings(w) if ln.startswith(f"{w}\t")]
        assert sorted(entries(w)) == sorted(lines), w
    assert any(f.startswith("NNG,") for f in entries("포스터")) and any(",인명," in f for f in entries("포스터"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_the_run_time_lookups_map_the_dictionary_once():
    # A fresh interpreter: this one may hold other taggers (the test above makes two).
    code = (
        "from filters.pii_recognizers.morphemes import all_readings, default_mecab, word_node\n"
        "default_mecab().parse('김철수 씨는 서울에 산다.'); all_readings('포스터'); word_node('김철수')\n"
        "print(sum(1 for ln in open('/proc/self/maps') if ln.rstrip().endswith('/sys.dic')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["1"]  # a tagger per lookup mapped sys.dic (80 MB) three times


def test_kiwi_is_built_in_set_up_without_a_thread_and_reads_as_a_pooled_kiwi():
    """``default_kiwi`` builds Kiwi's model at once (the engine forks its workers after set-up,
    so they inherit it) and starts no thread a fork would leave behind (num_workers=0); its tokens
    are those of the pooled Kiwi it replaced (num_workers=1)."""
    pytest.importorskip("kiwipiepy")
    code = (
        "import os\n"
        "from filters.pii_recognizers.morphemes import default_kiwi\n"
        "before = len(os.listdir('/proc/self/task'))\n"  # (the imports may start threads of their own)
        "default_kiwi()\n"
        "print(len(os.listdir('/proc/self/task')) - before)\n"
    )
    if sys.platform.startswith("linux"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
        assert out.stdout.split() == ["0"]  # num_workers=1 started one at the first call
    from kiwipiepy import Kiwi

    from filters.pii_recognizers.morphemes import default_kiwi

    pooled = Kiwi(num_workers=1, load_multi_dict=False)
    for text in SENTENCES + WORDS:
        assert [(t.form, t.tag, t.start, t.len) for t in default_kiwi().tokenize(text)] == [(t.form, t.tag, t.start, t.len) for t in pooled.tokenize(text)]
