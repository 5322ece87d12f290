"""The cheap gates, batching and shortcuts of issue #21: they save work without changing what is found."""

import numpy as np
import pyarrow as pa
import pytest

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


def test_eight_digit_ids_without_a_representative_number_skip_the_recognizers(monkeypatch):
    """The gate for exactly 8 digits returns what the six recognizers would: seeded random strings
    of 8 digits among separators and letters, gated and not."""
    import random

    from filters import pii_fields

    rng = random.Random(21)
    parts = ["-", ".", " ", "_", "/", "(", ")", "+", "nsmc", "id", "@", "1588", "1644-", "02", "010"]
    values = ["nsmc-10101429", "1588-1234", "tel 1644-1234", "15881234", "02-123-456"]
    for _ in range(5000):
        s = "".join(rng.choice(parts) if rng.random() < 0.4 else str(rng.randrange(10)) for _ in range(rng.randrange(4, 16)))
        values.append(s)
    values = [v for v in values if len(pii_fields._DIGIT.findall(v)) == 8 and "@" not in v]
    gated = [mask_identifiers(v) for v in values]
    monkeypatch.setattr(pii_fields, "_MIN_DIGITS", 0)  # every string with a digit runs the recognizers
    assert gated == [mask_identifiers(v) for v in values] and len(values) > 250
    assert mask_identifiers("nsmc-10101429") == "nsmc-10101429"


def test_identifier_shapes_are_the_recognizers_patterns():
    """The Presidio-free gate searches exactly the six recognizers' patterns, with their flags."""
    import regex

    from filters import pii_fields
    from filters.identifier_shapes import EMAIL, EMAIL_LOOKBEHIND, SHAPES

    recs = pii_fields._recognizers()
    email = [p.regex for r in recs if type(r).__name__ == "KoEmailRecognizer" for p in r.patterns]
    assert email == [EMAIL_LOOKBEHIND + EMAIL]
    assert tuple(p.regex for r in recs if type(r).__name__ != "KoEmailRecognizer" for p in r.patterns) == SHAPES
    assert {r.global_regex_flags for r in recs} == {regex.DOTALL | regex.MULTILINE | regex.IGNORECASE}
    assert all(type(r).analyze is type(recs[0]).analyze for r in recs)  # PatternRecognizer's: no match, no result


def test_ids_no_recognizer_pattern_matches_skip_the_recognizers(monkeypatch):
    """Gated and ungated masking agree on seeded ids and file names around every pattern (digit
    groups, separators, ``+82``, parentheses, ``@`` with dotted domains and file extensions); the
    identifiers the gate must let through are still masked; the e2e corpus's ids that passed the
    digit gate and matched no pattern (UUIDs, ``@-@``) skip it; the one whose ten digits match
    the BRN pattern does not."""
    import random

    from filters import pii_fields

    must = {"900101-1234568": "<KR_RRN>", "data/01012345678.jsonl": "data/<PHONE_NUMBER>.jsonl",
            "kim@example.com.jsonl.gz": "<EMAIL_ADDRESS>.jsonl.gz", "tel_+82-10-1234-5678": "tel_<PHONE_NUMBER>"}
    assert {v: pii_fields.mask_identifiers(v) for v in must} == must
    skipped = ["html-page-signal-master/de230665-1128-441f-9e4c-2b1d34a5c6e7", "wiki-M @-@ 82 ( Michigan highway )", "wiki-<unk> @-@ class battleship"]
    assert not any(pii_fields.identifier_shaped(v.replace("/", " ")) for v in skipped)
    assert pii_fields.identifier_shaped("html-page-signal-master 09988ff6-80a0-47c4-9b1d-d7861227461b")
    rng = random.Random(17)
    parts = ["-", ".", " ", "_", "/", "(", ")", "+82", "@", "a", "kim", "example", ".com", ".jsonl", ".kr", "02", "010", "1588", "900101", "4111"]
    values = [*must, *skipped, "1588-1234", "02-123-4567", "123-45-67890", "4111-1111-1111-1111", "x@y.co", "a@b@c.de"]
    for _ in range(6000):
        values.append("".join(rng.choice(parts) if rng.random() < 0.35 else str(rng.randrange(10)) for _ in range(rng.randrange(6, 24))))
    gated = [pii_fields.mask_identifiers(v) for v in values]
    monkeypatch.setattr(pii_fields, "identifier_shaped", lambda text: True)
    assert gated == [pii_fields.mask_identifiers(v) for v in values]
    assert sum(g != v for g, v in zip(gated, values)) > 100  # the seeds hold many identifiers


def test_exact_dedup_key_collapses_whitespace_as_the_regex_did():
    """text_key's split/join equals the regex it replaced on every whitespace character of Unicode
    (and the look-alikes that are not whitespace), alone, in runs and at the ends."""
    import random
    import re
    import sys

    import xxhash

    from filters.exact_dedup import text_key

    spaces = [chr(c) for c in range(sys.maxunicode + 1) if re.match(r"\s", chr(c))]
    assert len(spaces) == 29
    rng = random.Random(7)
    alphabet = spaces + ["a", "가", "\u200b", "\ufeff", "\u180e", "\x00", "é"]
    texts = ["", " ", "a", *spaces, *("".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(3000))]
    for t in texts:
        assert text_key(t) == xxhash.xxh3_128_digest(re.sub(r"\s+", " ", t).strip().encode("utf-8")), repr(t)


def test_exact_dedup_batch_keys_equal_text_key_per_text():
    """text_keys hashes the texts that no collapse changes as they are (the batch gate over code
    points); it must give text_key's bytes for every text: seeded texts over every whitespace
    character, U+3000 and the code points around it, astral letters and empty texts anywhere."""
    import random
    import sys

    from filters.exact_dedup import collapsible, text_key, text_keys

    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    alphabet = spaces + [" ", " ", "a", "가", "ㅋ", "\u2fff", "\u3001", "\u3000", "\ue000", "\U00020000", "é", "\x00"]
    rng = random.Random(5)
    for _ in range(400):
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 8))) for _ in range(rng.randrange(1, 10))]
        assert text_keys(texts) == b"".join(text_key(t) for t in texts), texts
        assert all(c or " ".join(t.split()) == t for t, c in zip(texts, collapsible(texts).tolist())), texts
    assert collapsible(["가나", "a b", "ㅋㅋ ㅋ"]).tolist() == [False, False, False]  # nothing past U+3000 is a space
    assert text_keys([]) == b""


def test_map_distinct_is_the_function_per_row():
    """Source priorities and domain thresholds looked up once per distinct value (nulls too)."""
    import pyarrow as pa

    from filters.columns import map_distinct

    col = pa.chunked_array([pa.array(["a", "b", None]), pa.array(["c", "a"])])
    prio = {"a": 3, "b": 1}
    assert map_distinct(col, lambda s: prio.get(s, 0), pa.int64()).to_pylist() == [3, 1, 0, 0, 3]
    assert map_distinct(col, lambda s: 0.5 if s is None else 0.9, pa.float64()).to_pylist() == [0.9, 0.9, 0.5, 0.9, 0.9]
    assert map_distinct(pa.array([], pa.string()), lambda s: 1, pa.int64()).to_pylist() == []


def test_normalize_texts_equals_normalize_text_per_text():
    """The batch path (regex passes only where a character needs them) against the definition, on
    seeded random texts over every character the passes touch, combining marks, canonical
    singletons (U+2000 → U+2002, Å as U+212B) and astral letters; empty texts at any position."""
    import random

    from filters.normalize import normalize_text, normalize_texts

    rng = random.Random(11)
    alphabet = list(" \t\n\r\x00\x07\x0b\x1f\x7f\x85\x9f\u00a0\u200b\u200e\u2060\ufeff\u3000\u2000\u202f") + [
        "a", "A", "가", "\u030a", "\u0301", "\u212b", "\u1100", "\u1161", "é", "😀", "\U00020000", "\ue000", "\n\n\n", " \n",
    ]
    for _ in range(300):
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 10))) for _ in range(rng.randrange(1, 12))]
        assert normalize_texts(texts) == [normalize_text(t) for t in texts], texts
    assert normalize_texts([]) == []


def test_minhash_release_index_filters_kept_ids_with_one_set_lookup(tmp_path, monkeypatch):
    """The published index holds exactly the kept documents (in ``order``, their signatures) and
    builds the kept-id hash set once, not once per batch of the side file (8 % of a run
    on the 20 MB sample, growing with batches × kept ids)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from filters.base import StageContext
    from filters.minhash_dedup import stage as mh
    from filters.minhash_dedup.signatures import fixed_rows

    n = 5_000
    monkeypatch.setattr(mh, "INDEX_BATCH_ROWS", 1_024)  # five batches of the side file
    rng = np.random.default_rng(3)
    st = mh.MinHashDedup({}, StageContext(workdir=str(tmp_path / "work")))
    (tmp_path / "work").mkdir()
    sig = rng.integers(0, 1 << 32, (n, st.opts.num_perm), dtype=np.uint32)
    order = rng.permutation(n).astype(np.int64)
    ids = pa.array([f"d{i}" for i in range(n)])
    pq.write_table(pa.table({"id": ids, "order": order, "signature": fixed_rows(sig), "doc": np.arange(n)}), st._side_path(), row_group_size=1_500)
    kept = rng.random(n) < 0.7
    calls = []
    real_is_in = pc.is_in
    monkeypatch.setattr(mh.pc, "is_in", lambda *a, **k: calls.append(1) or real_is_in(*a, **k))
    (entry,) = st.release_files(tmp_path / "out", ids.filter(pa.array(kept)))
    assert len(calls) == 1
    index = pq.read_table(tmp_path / "out" / entry["path"])
    want = np.flatnonzero(kept)[np.argsort(order[kept], kind="stable")]
    assert entry["rows"] == kept.sum() == index.num_rows
    assert index.column("id").to_pylist() == [f"d{i}" for i in want]
    assert index.column("order").to_numpy().tolist() == order[want].tolist()
    assert np.array_equal(np.stack(index.column("signature").to_numpy(zero_copy_only=False)), sig[want])


def test_unit_scratch_files_skip_zstd_dictionaries_and_statistics(tmp_path):
    """A unit's scratch Parquet (read back once, never published) is lz4 without dictionary pages
    or statistics; the MinHash keys (hashes) are written plain. Rows read back are the ones written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.engine_local import SCRATCH_PLAIN, _StreamingParquet

    table = pa.table({"id": ["a", "b", "a"], "text": ["가나다", "x", "가나다"]})
    for options, codec in ((None, "LZ4"), (SCRATCH_PLAIN, "UNCOMPRESSED")):
        w = _StreamingParquet(tmp_path / f"{codec}.parquet", options=options)
        w.write(table)
        w.commit()
        meta = pq.ParquetFile(tmp_path / f"{codec}.parquet").metadata
        col = meta.row_group(0).column(1)
        assert col.compression == codec and not col.has_dictionary_page and not col.is_stats_set
        assert pq.read_table(tmp_path / f"{codec}.parquet").equals(table)


def test_ingest_doc_ids_equal_make_doc_id():
    """Ingest's per-file id maker (a copied sha256 prefix) gives make_doc_id's ids."""
    from filters.ingest import doc_id_maker
    from filters.schema import make_doc_id

    for source, name in (("news", "a.txt"), ("ko_리뷰", "<PHONE_NUMBER>~1.jsonl"), ("s", "")):
        make = doc_id_maker(source, name)
        for loc in ("line 1", "lines 3-9", "row 12", "file", "page 가나 ✓", ""):
            assert make(loc) == make_doc_id(source, name, loc)


def test_holds_float_is_the_generator_it_replaced():
    """``_holds_float`` (``float in map(...)``) against ``any(type(obj.get(f)) is float ...)``:
    floats, float subclasses, ints, bools, None, strings, lists and missing fields."""
    import random

    from filters.readers import _holds_float

    class F(float):
        pass

    rng = random.Random(21)
    values = [1.5, 0.0, float("nan"), F(2.0), 1, True, None, "1.5", [1.5], {"a": 1.5}, 10**30]
    for _ in range(3000):
        obj = {k: rng.choice(values) for k in ("text", "id", "html", "x") if rng.random() < 0.7}
        fields = tuple(rng.sample(["text", "id", "html", "missing"], rng.randrange(0, 4)))
        assert _holds_float(obj, fields) == any(type(obj.get(f)) is float for f in fields), (obj, fields)


def _langid_reference(stage, texts, sources):
    """``LanguageID.identify`` and ``process_shared``'s decision loop as written before issue #21's
    twelfth session: a Python step (and a numpy store) per document."""
    from filters.langid import REASON_LOW_CONFIDENCE, REASON_UNDETERMINED, REASON_UNEXPECTED, hangul_ratios, language_samples

    expected = [stage.expected_for(s) for s in sources]
    needed = [bool(exp) and "ko" not in exp for exp in expected]
    samples = language_samples(texts, stage.sample_chars)
    ratios = hangul_ratios(samples)
    settled = (ratios == 1.0) & ~np.asarray(needed, dtype=bool)
    guesses = [{} for _ in texts]
    scored = [i for i in range(len(texts)) if samples[i] and not settled[i]]
    if scored:
        labels, probs = stage._model.predict([samples[i] for i in scored], k=stage.top_k)
        for i, ls, ps in zip(scored, labels, probs):
            guesses[i] = {lab[9:]: float(p) for lab, p in zip(ls, ps)}
    langs, scores = [], np.zeros(len(texts))
    for i, g in enumerate(guesses):
        if settled[i]:
            langs.append("ko")
            scores[i] = 1.0
        elif not g:
            langs.append("und")
        elif ratios[i] >= stage.hangul_ko_ratio:
            langs.append("ko")
            scores[i] = max(g.get("ko", 0.0), ratios[i])
        else:
            top = max(g, key=lambda lang: g[lang])
            exp = expected[i] if stage.prior_below > 0 else ()
            if exp and top not in exp and g[top] < stage.prior_below:
                best = max(exp, key=lambda lang: g.get(lang, 0.0))
                if g.get(best, 0.0) >= stage.mixed_min_prob:
                    top = best
            langs.append(top)
            scores[i] = g[top]
    reasons = [None] * len(texts)
    for i, lang in enumerate(langs):
        if lang == "und":
            reasons[i] = REASON_UNDETERMINED if stage.drop_undetermined else None
        elif expected[i] and lang not in expected[i] and not stage._mixed(expected[i], guesses[i], ratios[i]):
            reasons[i] = REASON_UNEXPECTED
        elif scores[i] < stage.min_score:
            reasons[i] = REASON_LOW_CONFIDENCE
    return langs, scores, reasons


@pytest.mark.parametrize("options", [{}, {"min_score": 0.6, "prior_below": 0.0}, {"hangul_ko_ratio": 0.05, "drop_undetermined": False}])
def test_langid_loops_over_scored_documents_only_decide_as_before(options):
    """The settled/und defaults plus a loop over the fastText-scored documents give the languages,
    scores (to the bit), reasons and details of the per-document loops, on real delivered text
    mixed with English, Japanese, mixed-script, symbol-only and empty texts, per expected set."""
    import random

    from filters.base import StageContext
    from filters.langid import LanguageID

    rng = random.Random(12)
    pieces = ["대한민국은 민주공화국이다.", "The Congress shall have power", "日本国民は、正当に選挙された", "GDPR 규정과 data portability",
              "12345 !!! 67890", "", "ㅋㅋㅋ 굿!! 10점", "HELLO THERE FRIEND", "Привет мир", "재밌어요 good", "<b>www.x.com</b>", "İSTANBUL çok güzel"]
    texts = [" ".join(rng.choice(pieces) for _ in range(rng.randrange(1, 4))) for _ in range(600)]
    sources = [rng.choice(["ko_en", "ko", "en", "any"]) for _ in texts]
    ctx = StageContext(source_langs={"ko_en": ["ko", "en"], "ko": ["ko"], "en": ["en"], "any": []})
    stage = LanguageID(options, ctx)
    stage.ensure_setup()
    b = pa.record_batch({"text": texts, "source_id": sources})
    result = stage.process(b)
    langs, scores, reasons = _langid_reference(stage, texts, sources)
    assert result.columns["lang"].to_pylist() == langs
    assert result.columns["lang_score"].to_numpy().tobytes() == scores.astype(np.float32).tobytes()
    assert result.reasons == reasons and len(set(langs)) >= 4 and len({r for r in reasons if r}) >= 1
    assert all((d is None) == (r is None) for d, r in zip(result.details, reasons))
