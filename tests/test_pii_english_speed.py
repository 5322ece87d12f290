"""#21 English cost: the cheaper English path of the ``pii`` stage decides exactly as ``pii@6``.

Each shortcut is compared with what it replaces, on real English text (examples/data's speeches,
long enough for NER windows; some of every English delivery and of presidio-research's set when
../shared is there) and on seeded generated strings built from what the recognizers look at
(names, cues, phone numbers with and without phone words, e-mails, cards, SSNs, IBANs):

* the recognizers called directly, the context enhancer only where a result can be enhanced,
  against presidio's ``AnalyzerEngine.analyze`` on ``pii@6``'s artifacts (a window's entities put
  on a tokenizer-only ``Doc`` of the whole text with ``char_span``/``set_ents``);
* the lazily built artifacts against :func:`english_artifacts` of the same ``Doc``;
* NER batches of 256 texts or windows against 32 (and 1).
"""

from __future__ import annotations

import random

import pytest

from tests.conftest import EXAMPLES

SEED = 20261207

PIECES = [
    "Mary Smith", "Mr. White", "Dear John,", "my name is Siiri", "kristen hollis", "Oskari Vähälä", "Faina D. Yefremova",
    "Gaetane, Hannah, Derek and Anna", "call me on", "phone", "fax", "(37) 788-063", "+44 20 7946 0958", "212-555-5555",
    "99 668472", "jane.doe@example.com", "4111 1111 1111 1111", "078-05-1120", "GB82 WEST 1234 5698 7654 32", "192.168.0.1",
    "Norrie disease", "et al.", "Chief Justice", "the Moon", "Kesko", "subsidiary Seppala", " ", ", ", ". ", "\n", " and ",
    "the", "of", "was", "said", "2019", "Grimaldi generated net sales", "President Grant", "BRCA1", "Leu-AVP",
]


def generated(n: int) -> list[str]:
    rng = random.Random(SEED)
    out = []
    for _ in range(n):
        parts = [rng.choice(PIECES) for _ in range(rng.randint(1, 25))]
        if rng.random() < 0.15:  # some long enough for NER windows
            parts = parts * (2100 // max(1, len("".join(parts))) + 1)
        out.append(" ".join(parts))
    return out


def english_texts(n_shared: int = 12) -> list[str]:
    """examples/data's speeches, the seeded strings, and some of every English delivery and of presidio-research's set."""
    from tests.conftest import SHARED

    texts = [p.read_text(encoding="utf-8") for p in sorted((EXAMPLES / "data/speeches").glob("*.txt"))]
    texts += generated(200)
    if (SHARED / "deliveries").is_dir():
        from bench.pii_eval import english_deliveries, load_presidio_en

        for docs in english_deliveries(SHARED).values():
            texts += [d[:8_000] for d in docs[:n_shared]]  # long files cut: windows, not minutes of NER
        texts += [r["text"] for r in load_presidio_en(SHARED)[:200]]
    return texts


@pytest.fixture(scope="module")
def texts(shared_data):
    """The comparison's texts; its size checks count on the shared deliveries, so without
    ../shared the tests using it skip (and fail under CI=true) as every shared-data test does."""
    return english_texts()


def count_ner_chars(monkeypatch, nlp, read: dict, key: str) -> None:
    """Add the characters of every text spaCy's NER reads through ``nlp`` to ``read[key]``
    (:func:`filters.pii_recognizers.english_ner`, the stage's one way into the NER, underneath)."""
    import filters.pii_recognizers as recognizers
    from filters.pii_recognizers.analyzers import english_ner as ner  # the unpatched one: counters do not stack

    def counted(this, texts):
        if this is nlp:
            read[key] = read.get(key, 0) + sum(map(len, texts))
        return ner(this, texts)

    monkeypatch.setattr(recognizers, "english_ner", counted)


def _key(results) -> list[tuple]:
    return sorted((r.start, r.end, r.entity_type, r.score) for r in results)


def _pii6_artifacts(scrubber, text: str, arts):
    """``pii@6``'s artifacts: the NER's Doc of a text read whole, else a tokenizer-only Doc of the
    whole text with the windows' entities set on it."""
    from filters.pii_recognizers import english_artifacts

    nlp = scrubber._en_engine.nlp["en"]
    doc = arts._doc if not callable(arts._doc) else None
    if doc is None:
        doc = nlp.make_doc(text)
        spans = [doc.char_span(e.start_char, e.end_char, label=e.label_) for e in arts.entities]
        assert None not in spans, "a window's entity is not on the whole text's tokens"
        doc.set_ents(spans)
    return english_artifacts(scrubber._en_engine, doc)


def test_direct_recognizers_give_presidio_engines_results(scrubber, texts, monkeypatch):
    """Every English document the stage sends to its recognizers: the direct call on the lazy
    artifacts and presidio's engine on ``pii@6``'s artifacts return the same (start, end, type, score)."""
    direct = scrubber._english_results
    compared, windowed, enhanced = [], [], []

    def both(text, ents, arts):
        old = _pii6_artifacts(scrubber, text, arts)
        assert [(e.start_char, e.end_char, e.label_) for e in old.entities] == [(e.start_char, e.end_char, e.label_) for e in arts.entities]
        engine = scrubber._en.analyze(text, language="en", entities=ents, nlp_artifacts=old)
        ours = direct(text, ents, arts)
        assert _key(ours) == _key(engine), text[:80]
        compared.append(len(engine))
        windowed.append(callable(arts._doc) and bool(arts.entities))
        enhanced.append(arts._full is not None or arts._windows is not None)  # the enhancer read its tokens
        return ours

    monkeypatch.setattr(scrubber, "_english_results", both)
    scrubber.detect(texts, ["en"] * len(texts))
    # The comparison saw documents, spans, windowed texts and texts whose tokens the enhancer read.
    assert len(compared) > 250 and sum(compared) > 250 and sum(windowed) >= 5 and 5 <= sum(enhanced) < len(compared) / 2


def test_lazy_artifacts_are_english_artifacts(scrubber):
    from filters.pii_recognizers import EnglishArtifacts, english_artifacts

    nlp = scrubber._en_engine.nlp["en"]
    text = "Call Mary Smith on 212-555-5555: she is a doctor:nurse at the clinic. The fax is (37) 788-063."
    made = []

    def doc():
        made.append(1)
        return nlp.make_doc(text)

    lazy = EnglishArtifacts(scrubber._en_engine, [], doc)
    assert lazy.entities == [] and lazy.scores == [] and not made  # what the recognizers read costs nothing
    ref = english_artifacts(scrubber._en_engine, nlp.make_doc(text))
    assert [t.text for t in lazy.tokens] == [t.text for t in ref.tokens]
    assert (lazy.tokens_indices, lazy.lemmas, lazy.keywords) == (ref.tokens_indices, ref.lemmas, ref.keywords)
    assert made == [1]  # built once


def test_ner_batch_size_changes_no_span(scrubber, texts):
    from filters.pii import PresidioScrubber

    sample = [t for t in texts if len(t) > 2000][:8] + texts[6:60]
    want = scrubber.detect(sample, ["en"] * len(sample))
    for size in (1, 32):
        other = PresidioScrubber({"nlp_batch_size": size})
        assert other.detect(sample, ["en"] * len(sample)) == want, size


# -- #21: NER skips lone surnames no kept span can be (pii@8) ----------------------------------------


def test_ner_skips_lone_surnames_that_are_always_doubted(scrubber, texts, monkeypatch):
    """The anchors leave out a census surname whose span alone :meth:`doubts` always drops (``In``,
    ``Congress``, ``America``): on these texts the spans are those of ``pii@7``'s anchors, which
    counted every census name not written in lower case elsewhere, for less NER reading. (On every
    English delivery 1 span of 9,016 differs, ``Hmm-mm``, no name: docs/pii.md.)"""
    names = scrubber._en_names
    read = {"new": 0, "old": 0}
    nlp = scrubber._en_engine.nlp["en"]
    count_ner_chars(monkeypatch, nlp, read, "new")
    new = scrubber.detect(texts, ["en"] * len(texts))
    monkeypatch.setattr(names, "_lone_word_doubted", lambda text, word: False)
    count_ner_chars(monkeypatch, nlp, read, "old")
    old = scrubber.detect(texts, ["en"] * len(texts))
    assert new == old
    assert sum(map(len, new)) > 500 and read["new"] < 0.95 * read["old"], read


def test_lone_word_doubted_reads_the_word_and_the_document(scrubber):
    names = scrubber._en_names
    text = "In the end Congress met. Baker went home. Grass Instrument Company paid."
    doubted = {w: names._lone_word_doubted(text, w) for w in ("In", "Congress", "Baker", "Grass")}
    # a function word, an office, a surname, an organisation's first word elsewhere
    assert doubted == {"In": True, "Congress": True, "Baker": False, "Grass": True}
    assert [text[s:e] for s, e in names.ner_anchors(text)] == ["Baker"]
    # A title before a word the runs miss stays an anchor: spaCy finds the name in its window.
    text = "It was under President Truman--in Korea. The President of the club."
    assert [text[s:e] for s, e in names.ner_anchors(text)] == ["President"]


def test_token_index_enhancer_finds_presidios_token(scrubber, texts):
    """The enhancer's bisection gives presidio's token for every start in a text, and its keyword
    list answers ``in`` as a list does."""
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    from filters.pii_recognizers import EnglishArtifacts
    from filters.pii_recognizers.analyzers import TokenIndexEnhancer

    nlp = scrubber._en_engine.nlp["en"]
    ours = TokenIndexEnhancer(context_prefix_count=5, context_suffix_count=2)
    checked = 0
    for text in [t for t in texts if len(t) > 2000][:3] + texts[6:40]:
        arts = EnglishArtifacts(scrubber._en_engine, [], lambda t=text: nlp.make_doc(t))
        tokens, idx = arts.tokens, arts.tokens_indices
        for start in range(0, len(text), max(7, len(text) // 300)):
            want = LemmaContextAwareEnhancer._find_index_of_match_token("w", start, tokens, idx)
            assert ours._find_index_of_match_token("w", start, tokens, idx) == want
            checked += 1
        assert all((w in arts.keywords) == (w in list(arts.keywords)) for w in {*arts.lemmas, "phone", "zzz"})
    with pytest.raises(ValueError):
        ours._find_index_of_match_token("w", 10**6, tokens, idx)
    assert checked > 1000


# -- #21: spaCy's NER stepped with the GIL held (no version bump) -------------------------------------


def test_english_ner_gives_nlp_pipes_entities(scrubber, texts):
    """:func:`english_ner` (spaCy's step API, one length-sorted batch, GIL held) gives the Docs
    ``nlp.pipe`` gives: the same tokens and entities, on whole texts and on NER windows of every
    kind of English text (the stage's own windows: what it sends to the NER)."""
    from filters.pii import ner_windows
    from filters.pii_recognizers import english_ner

    nlp = scrubber._en_engine.nlp["en"]
    pieces = [t[:3000] for t in texts[:120]] + ["", " ", "\n\n", "Mr. White"]
    for t in texts:
        anchors = scrubber._en_names.ner_anchors(t) if len(t) > 1000 else []
        pieces += [t[s:e] for s, e in ner_windows(t, anchors)][:40]
    assert len(pieces) > 500
    for a in range(0, len(pieces), 256):
        group = pieces[a : a + 256]
        want = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(group, batch_size=len(group))]
        docs = english_ner(nlp, group)
        assert [d.text for d in docs] == group
        assert [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in docs] == want
    assert sum(map(len, want)) > 0


def test_english_ner_restores_the_hugepage_switch_and_falls_back_to_pipe(scrubber, monkeypatch):
    """numpy's process-wide huge-page switch is restored even when the NER raises; a pipeline
    that is not NER-only (or a beam) goes through ``nlp.pipe`` with the same entities."""
    from filters.pii_recognizers import analyzers, english_ner

    nlp = scrubber._en_engine.nlp["en"]
    switch = analyzers._hugepage_switch()
    assert switch is not None
    before = switch(True)  # on, whatever the process had: english_ner turns it off and must turn it back on
    ner = nlp.get_pipe("ner")

    class Broken:  # the Cython pipe's attributes are read-only: a stand-in whose step raises
        cfg, moves, model, set_annotations = ner.cfg, ner.moves, ner.model, ner.set_annotations

        def transition_states(self, *a, **k):
            raise RuntimeError("injected")

    monkeypatch.setattr(type(nlp), "get_pipe", lambda self, name: Broken())
    with pytest.raises(RuntimeError, match="injected"):
        english_ner(nlp, ["Mr. John White met Mary Jones in Boston."])
    assert switch(before) is True  # english_ner set back the value it found, though the NER raised
    monkeypatch.undo()
    text = "Mr. John White met Mary Jones in Boston."
    want = [(e.start_char, e.end_char, e.label_) for e in nlp(text).ents]
    monkeypatch.setattr(type(nlp), "pipe_names", property(lambda self: ["ner", "other"]))  # not NER-only: nlp.pipe
    called = []
    real_pipe = type(nlp).pipe
    monkeypatch.setattr(type(nlp), "pipe", lambda self, *a, **k: called.append(1) or real_pipe(self, *a, **k))
    assert [(e.start_char, e.end_char, e.label_) for e in english_ner(nlp, [text])[0].ents] == want and called


# -- #21: BLIS's AVX2 kernel where the wheel falls back to its reference kernel (no version bump) -----


def test_native_gemm_is_a_matrix_product():
    """The ``gemm`` of :func:`_native_gemm_ops` against float64 numpy, every transpose, the ``out``
    argument, empty dimensions; thinc's own where it does not apply (other dtypes)."""
    import numpy as np

    from filters.pii_recognizers.analyzers import _native_gemm_ops

    ops = _native_gemm_ops(even_where_optimised=True)  # the ctypes call itself, wherever it can run
    if ops is None:
        pytest.skip("no AVX2/FMA on this CPU, or a BLIS build without the haswell configuration")
    rng = np.random.default_rng(SEED)
    for m, k, n in [(5, 7, 3), (1, 288, 288), (100, 384, 288), (13, 96, 64), (0, 3, 4), (3, 0, 4), (3, 4, 0)]:
        for t1 in (False, True):
            for t2 in (False, True):
                x = rng.standard_normal((k, m) if t1 else (m, k)).astype("float32")
                y = rng.standard_normal((n, k) if t2 else (k, n)).astype("float32")
                want = (x.T if t1 else x).astype("float64") @ (y.T if t2 else y).astype("float64")
                got = ops.gemm(x, y, trans1=t1, trans2=t2)
                out = np.full((m, n), np.nan, dtype="float32")
                assert ops.gemm(x, y, trans1=t1, trans2=t2, out=out) is out
                assert got.shape == (m, n) and got.dtype == np.float32 and np.allclose(got, want, atol=1e-3)
                assert np.array_equal(got, out)
    x, y = rng.standard_normal((4, 5)), rng.standard_normal((5, 6))  # float64: thinc's own path, and its error
    with pytest.raises(ValueError, match="float32"):
        ops.gemm(x, y)
    # a row's product does not depend on the other rows of the batch (the NER's batching)
    x, w = rng.standard_normal((300, 288)).astype("float32"), rng.standard_normal((288, 288)).astype("float32")
    whole = ops.gemm(x, w, trans2=True)
    for a, b in [(0, 1), (7, 13), (5, 300), (299, 300)]:
        assert np.array_equal(ops.gemm(np.ascontiguousarray(x[a:b]), w, trans2=True), whole[a:b])


def test_ner_with_the_native_kernel_finds_the_reference_kernels_entities(scrubber, texts):
    """The stage's NER with the AVX2 kernel (where BLIS would run its reference kernel) finds the
    entities the reference kernel finds, on whole texts and on the stage's NER windows of every kind
    of English text. Floats differ in the last bits; no label does here, nor on the 3,926 English
    documents of the full e2e corpus (docs/pii.md, "BLIS's reference kernel")."""
    from thinc.api import NumpyOps

    from filters.pii import ner_windows
    from filters.pii_recognizers import english_ner
    from filters.pii_recognizers.analyzers import _native_gemm_ops

    nlp = scrubber._en_engine.nlp["en"]
    nodes = list(nlp.get_pipe("ner").model.walk())
    if _native_gemm_ops() is None:
        pytest.skip("BLIS chose an optimised kernel itself here: nothing replaced")
    assert {type(n.ops).__name__ for n in nodes} == {"NativeGemmOps"}, "the NER's layers were not wired to the kernel"
    pieces = [t[:3000] for t in texts[:120]] + ["", " ", "Mr. White"]
    for t in texts:
        anchors = scrubber._en_names.ner_anchors(t) if len(t) > 1000 else []
        pieces += [t[s:e] for s, e in ner_windows(t, anchors)][:40]

    def entities():
        return [[(e.start_char, e.end_char, e.label_) for e in d.ents] for a in range(0, len(pieces), 256) for d in english_ner(nlp, pieces[a : a + 256])]

    native = entities()
    saved = [n.ops for n in nodes]
    try:
        for n in nodes:
            n.ops = NumpyOps()
        reference = entities()
    finally:
        for n, o in zip(nodes, saved):
            n.ops = o
    assert native == reference and sum(map(len, native)) > 100


# -- #21: the context enhancer reads windows of a long text (no version bump) ------------------------


def test_context_windows_give_presidios_context_words(scrubber, texts):
    """:class:`EnglishArtifacts` with ``read_near``: the context words at each start are presidio's
    ``_extract_surrounding_words`` on the whole text's tokens — read from windows of the text, or
    (where a walk leaves its window) from the whole text. Starts everywhere, and texts with runs of
    stop words and punctuation longer than a window, and keywords with a ``:`` (split by presidio)."""
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    from filters.pii_recognizers import EnglishArtifacts
    from filters.pii_recognizers.analyzers import CONTEXT_WINDOW_WORDS, TokenIndexEnhancer

    nlp = scrubber._en_engine.nlp["en"]
    ours = TokenIndexEnhancer(context_prefix_count=5, context_suffix_count=2)
    presidio = LemmaContextAwareEnhancer(context_prefix_count=5, context_suffix_count=2)
    rng = random.Random(SEED)
    stops = " ".join(["of the, and to a -- in . it"] * (CONTEXT_WINDOW_WORDS // 2))
    odd = [
        f"fax: 212-555-5555 {stops} phone 212-555-5555 {stops} call:me ext:the of: 99 668472 the:of",
        f"{stops} 212-555-5555 {stops}",
        "  \n leading space 212-555-5555 \n\n trailing  ",
    ]
    windowed = whole = 0
    for text in [t for t in texts if len(t) > 2000][:6] + texts[6:80] + odd:
        ref = EnglishArtifacts(scrubber._en_engine, [], nlp.make_doc(text))
        starts = sorted(rng.sample(range(len(text)), min(len(text), 40)) + [m for m in range(len(text)) if text.startswith("212", m)])
        arts = EnglishArtifacts(scrubber._en_engine, [], lambda t=text: nlp.make_doc(t), text)
        arts.read_near(starts)
        for s in starts:
            if ref.tokens_indices and s < ref.tokens_indices[-1] + len(ref.tokens[-1]):
                want = sorted(presidio._extract_surrounding_words(ref, "w", s))
                windowed += arts.near(s, 5, 2) is not None
                assert sorted(ours._extract_surrounding_words(arts, "w", s)) == want, (text[max(0, s - 60) : s + 60], s)
        whole += arts._full is not None
    # Most starts were answered from windows; some walks left theirs and read the whole text.
    assert windowed > 2000 and whole >= 1, (windowed, whole)
