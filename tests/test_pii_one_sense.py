"""#21 English cost: one sense per discourse for a repeated possible name that is no person (``ner_repeat_misses``, off by default).

spaCy's NER reads an anchor string's occurrences one at a time until one is a PERSON (then every
occurrence is read) or ``ner_repeat_misses`` were no person (the rest are not read, and take the
labels read on the string where each fits whole; an occurrence where one does not is read, never
given a label cut to the string). ``ner_repeat_misses: 0``, the default, reads every occurrence, as
pii@8 to pii@11 do: 2 still left 6 names unmasked on the e2e corpus (docs/pii.md, "Copies only of a
whole label").
"""

from __future__ import annotations

from filters.pii import PresidioScrubber, RepeatedAnchors, _Entity, ner_windows
from tests.test_pii_english_speed import count_ner_chars

FILLER = " ".join(["and then the committee met again in the hall"] * 3)


def _text(parts: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """``parts`` joined by filler long enough that no two windows touch; the anchors are the parts."""
    text, anchors = "", []
    for p in parts:
        text += FILLER + " "
        anchors.append((len(text), len(text) + len(p)))
        text += p + " "
    return text + FILLER, anchors


def test_a_repeated_anchor_is_read_until_a_person_or_the_misses():
    text, anchors = _text(["Kowalczyk", "Mercia", "Kowalczyk", "Mercia", "Mercia", "Kowalczyk", "Mercia"])
    plan = RepeatedAnchors(text, anchors, context=4, misses=2)
    first = plan.next_windows()
    # Round 1: the first occurrence of each string only.
    assert first == ner_windows(text, [anchors[0], anchors[1]], 4)
    plan.absorb([_Entity(anchors[0][0], anchors[0][1], "PERSON")])
    # Round 2: Kowalczyk was a person once: all its other occurrences are read; Mercia (no person
    # yet, one miss) a second time.
    assert plan.next_windows() == ner_windows(text, [anchors[2], anchors[3], anchors[5]], 4)
    plan.absorb([_Entity(anchors[3][0], anchors[3][1], "GPE"), _Entity(anchors[5][0], anchors[5][1], "PERSON")])
    assert plan.next_windows() == []  # two misses: Mercia's other occurrences are not read
    ents = [(text[e.start_char : e.end_char], e.start_char, e.label_) for e in plan.entities()]
    # Only what spaCy read for Kowalczyk (no copy of a PERSON); Mercia's GPE, read at its second
    # occurrence, at the two not read (the first was read with no label and keeps none).
    assert ents == [
        ("Kowalczyk", anchors[0][0], "PERSON"),
        ("Mercia", anchors[3][0], "GPE"),
        ("Mercia", anchors[4][0], "GPE"),
        ("Kowalczyk", anchors[5][0], "PERSON"),
        ("Mercia", anchors[6][0], "GPE"),
    ]


def test_a_person_found_late_makes_every_occurrence_read():
    text, anchors = _text(["Hale", "Hale", "Hale", "Hale"])
    plan = RepeatedAnchors(text, anchors, context=4, misses=3)
    plan.next_windows()
    plan.absorb([])
    assert plan.next_windows() == ner_windows(text, [anchors[1]], 4)
    plan.absorb([_Entity(anchors[1][0], anchors[1][1], "PERSON")])
    assert plan.next_windows() == ner_windows(text, [anchors[2], anchors[3]], 4)
    plan.absorb([_Entity(anchors[3][0], anchors[3][1], "PERSON")])
    assert plan.next_windows() == []
    # Each keeps spaCy's own answer: nothing is copied to a string that was a person.
    assert [e.start_char for e in plan.entities()] == [anchors[1][0], anchors[3][0]]


def test_a_wider_label_is_copied_whole_or_the_occurrence_is_read():
    text, anchors = _text(["King Camera", "King Camera", "King Camera", "King Camera"])
    for k in (2, 1, 0):  # "King Camera Co." at the first three
        text = text[: anchors[k][1]] + " Co." + text[anchors[k][1] :]
        anchors = anchors[: k + 1] + [(a + 4, b + 4) for a, b in anchors[k + 1 :]]
    plan = RepeatedAnchors(text, anchors, context=4, misses=2)
    rounds = []
    while windows := plan.next_windows():
        rounds.append(windows)
        a, b = anchors[0]
        plan.absorb([_Entity(a, b + 4, "ORG")] if not plan.read[0] else [])
    # The fourth has no " Co.": the ORG read does not fit there whole, so it is read (a round of its
    # own), never given the ORG cut to "King Camera"; the third, where it fits, is not read.
    assert rounds[2] == ner_windows(text, [anchors[3]], 4)
    assert plan.read == [True, True, False, True] and plan.chars < 0.8 * len(text)
    got = [(e.start_char, text[e.start_char : e.end_char], e.label_) for e in plan.entities()]
    assert got == [(anchors[0][0], "King Camera Co.", "ORG"), (anchors[2][0], "King Camera Co.", "ORG")]


def test_a_wider_label_is_never_cut_to_the_anchor():
    """Session 12's review: the ORG ``Reagan administration`` read was copied as ORG ``Reagan`` to an
    occurrence not read, where it vetoed the name rule. Now that occurrence is read; spaCy's PERSON
    there makes the string a person, so every occurrence left is read too (as ``misses == 0``)."""
    parts = ["Reagan administration", "Reagan", "President Reagan said", "Reagan administration", "Reagan"]
    text, spans = _text(parts)
    anchors = [(a + p.index("Reagan"), a + p.index("Reagan") + 6) for p, (a, _) in zip(parts, spans)]
    plan = RepeatedAnchors(text, anchors, context=4, misses=2)
    said: dict[int, list[_Entity]] = {0: [_Entity(spans[0][0], spans[0][1], "ORG")], 2: [_Entity(*anchors[2], "PERSON")]}
    rounds = []
    while windows := plan.next_windows():
        rounds.append(windows)
        plan.absorb([e for k in range(len(anchors)) if not plan.read[k] and any(s <= anchors[k][0] < e for s, e in windows) for e in said.get(k, [])])
    # "President Reagan said" and the last "Reagan": the ORG does not fit whole there, so both are read.
    assert rounds[2] == ner_windows(text, [anchors[2], anchors[4]], 4)
    assert rounds[3] == ner_windows(text, [anchors[3]], 4)  # a PERSON at the third: the one left is read too
    assert all(plan.read)
    got = [(text[e.start_char : e.end_char], e.label_) for e in plan.entities()]
    assert got == [("Reagan administration", "ORG"), ("Reagan", "PERSON")]


def test_a_copy_is_always_a_label_read_whole_at_the_same_offsets():
    """Random texts of one anchor string with random words around it and random labels read: every
    entity not read by NER is one read on the string, the same text at the same offsets from the
    anchor, between words — never a part of it — and an occurrence where a label does not fit is read."""
    import random

    rng = random.Random(7)
    words = ["Hale", "Hale Co.", "Mr Hale", "Hale Street", "Hale said", "Hale Co. Ltd"]
    for _ in range(200):
        parts = [rng.choice(words) for _ in range(rng.randint(3, 8))]
        text, spans = _text(parts)
        anchors = [(a + p.index("Hale"), a + p.index("Hale") + 4) for p, (a, _) in zip(parts, spans)]
        plan = RepeatedAnchors(text, anchors, context=4, misses=rng.randint(1, 3))
        read_ents: list[_Entity] = []
        while windows := plan.next_windows():
            out = []
            for k, (a, _) in enumerate(spans):
                if not plan.read[k] and any(s <= a < e for s, e in windows) and rng.random() < 0.5:
                    cut = rng.randint(0, len(parts[k]) - 1)
                    end = a + (parts[k].find(" ", cut) if " " in parts[k][cut:] else len(parts[k]))
                    out.append(_Entity(a, max(end, anchors[k][1]), rng.choice(["ORG", "GPE", "FAC"])))
            read_ents += out
            plan.absorb(out)
        read = {(e.start_char, e.end_char, e.label_) for e in read_ents}
        labels = {(e.start_char - anchors[k][0], text[e.start_char : e.end_char], e.label_)
                  for e in read_ents for k, (a, b) in enumerate(anchors) if e.start_char <= a < e.end_char}
        for e in plan.entities():
            if (e.start_char, e.end_char, e.label_) in read:
                continue
            k = next(k for k, (a, b) in enumerate(anchors) if e.start_char <= a < e.end_char)
            assert not plan.read[k]
            assert (e.start_char - anchors[k][0], text[e.start_char : e.end_char], e.label_) in labels
            assert not text[e.end_char].isalnum() and not text[e.start_char - 1].isalnum()
        for k, (a, b) in enumerate(anchors):
            on = plan.labels.get(text[a:b], [])
            if not plan.read[k]:
                assert all(text[a + rs : a + re_] == span for rs, re_, span, _ in on), (parts, k)


def test_an_occurrence_inside_another_read_window_counts_as_read():
    # The second Baker is inside the merged window of Kowalczyk and Mercia, with its own 4 words
    # of context either side: read in round 1 with the first Baker.
    text = FILLER + " Baker " + FILLER + " Kowalczyk one two Baker three four Mercia " + FILLER + " Baker " + FILLER
    anchors = sorted(
        [(text.index(w), text.index(w) + len(w)) for w in ("Kowalczyk", "Mercia")]
        + [(i, i + 5) for i in range(len(text)) if text.startswith("Baker", i)]
    )
    plan = RepeatedAnchors(text, anchors, context=4, misses=3)
    plan.next_windows()
    plan.absorb([])
    assert plan.read == [True, True, True, True, False]
    assert plan.next_windows() == ner_windows(text, [anchors[4]], 4)  # Baker: 2 misses of 3
    plan.absorb([])
    assert plan.next_windows() == [] and plan.entities() == []


def test_misses_zero_reads_every_anchor_in_one_round():
    text, anchors = _text(["Kowalczyk", "Kowalczyk", "Mercia"])
    plan = RepeatedAnchors(text, anchors, context=4, misses=0)
    assert plan.next_windows() == ner_windows(text, anchors, 4)
    plan.absorb([])
    assert plan.next_windows() == []


def test_the_stage_masks_the_same_names_for_less_reading(monkeypatch):
    """spaCy on a long story: a repeated name masked at every occurrence and a repeated place
    (``Harper Mills``: a census surname, no person) read twice only — the spans of reading every
    occurrence (pii@10), for fewer characters of NER."""
    sentences = [
        "Yesterday Wojciech Kowalczyk walked to the harbour and looked at the boats for a long time.",
        "The weather was grey and the water was calm, so the fishermen stayed on the pier talking.",
        "Later he bought bread near Harper Mills and spoke with the baker about the price of flour.",
        "Nobody in the town remembered a winter as cold as this one, said the old men by the fire.",
    ]
    text = " ".join(sentences * 8)
    read, chars = {}, {}
    for misses in (0, 2):
        st = PresidioScrubber({"ner_repeat_misses": misses})
        st.ensure_setup()
        with monkeypatch.context() as m:
            count_ner_chars(m, st._en_engine.nlp["en"], chars, misses)
            spans = st.detect([text], ["en"])[0]
        read[misses] = (chars[misses], sorted(text[f.start : f.end] for f in spans if f.type == "PERSON"))
    assert read[2][1] == read[0][1] and read[2][1].count("Wojciech Kowalczyk") == 8
    assert read[2][0] < 0.7 * read[0][0], read
    assert PresidioScrubber().config.ner_repeat_misses == 0  # off by default (session 12's review: it can leave names unmasked)


def test_a_copied_label_starts_and_ends_where_words_do():
    # "7 January 2013" read as a DATE; at "17 January 2013" the same characters are inside a word:
    # that occurrence is read (spaCy's entities start and end between words), nothing is cut.
    text = " ".join([FILLER, "on 7 January 2013", FILLER, "in January", FILLER, "on 17 January 2013", FILLER, "on 7 January 2013", FILLER])
    anchors = [(i, i + 7) for i in range(len(text)) if text.startswith("January", i)]
    plan = RepeatedAnchors(text, anchors, context=4, misses=2)
    plan.next_windows()
    plan.absorb([_Entity(anchors[0][0] - 2, anchors[0][1] + 5, "DATE")])
    plan.next_windows()
    plan.absorb([])
    assert plan.next_windows() == ner_windows(text, [anchors[2]], 4)
    plan.absorb([_Entity(anchors[2][0] - 3, anchors[2][1] + 5, "DATE")])
    assert plan.next_windows() == [] and plan.read == [True, True, True, False]
    got = [(text[e.start_char : e.end_char], e.label_) for e in plan.entities()]
    assert got == [("7 January 2013", "DATE"), ("17 January 2013", "DATE"), ("7 January 2013", "DATE")]


ORDER = """
import re
from filters.pii import RepeatedAnchors, _Entity
F = " the weather was grey and calm and nobody said much about it at all today and the day after that too. " * 3
text = F + "America" + F + "Bank of America" + F + "Bank of America" + F
anchors = [(m.start(), m.end()) for m in re.finditer(r"Bank|America", text)]
plan = RepeatedAnchors(text, anchors, context=4, misses=1)
plan.next_windows()
plan.absorb([_Entity(anchors[0][0], anchors[0][1], "GPE"), _Entity(anchors[1][0], anchors[1][0] + 15, "ORG")])
while plan.next_windows():
    plan.absorb([])
first = [(e.start_char, e.end_char, e.label_) for e in plan.entities()]
assert first == [(e.start_char, e.end_char, e.label_) for e in plan.entities()], "a second call differs"
print(first)
"""


def test_the_copied_labels_do_not_follow_the_hash_seed():
    """Two overlapping copies (GPE ``America``, ORG ``Bank of America``) at the unread third
    occurrence: which one is kept followed the order of a set of strings, i.e. the process's hash
    seed (PYTHONHASHSEED 1-3 against 4-6 gave different labels; found by session 12's review)."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    outs = {subprocess.run([sys.executable, "-c", ORDER], cwd=ROOT, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in range(1, 7)}
    assert len(outs) == 1, outs
