"""The cheap gates and batching of issue #21: they save work without changing what is found."""

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
