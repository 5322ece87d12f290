"""One MeCab dictionary map per process: the run-time lookups (the format tagger, a word's cost,
every reading of a word) share one model, and read what separate taggers read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("MeCab")

from filters.pii_recognizers.morphemes import _mecab_tagger, all_readings, word_node  # noqa: E402

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
