"""Language ID and quality heuristics against their raw libraries, same documents, one process.

Issue #21 asks that the two stages run within 2× of what their libraries do given the same
documents in bulk:

(a) ``langid`` on Arrow batches (sampling, cleaning, the Hangul signal, fastText, the prior and
    the decision) against **fastText ``predict`` on a plain Python list** of the very samples the
    stage scores (cleaned beforehand, outside the timing; same ``k``). The ratio is what the
    stage adds to fastText. For context, ``predict`` on the whole documents with newlines
    flattened (what datatrove's filter feeds it, ``k=1``) is printed too.
(b) ``quality_heuristics`` on Arrow batches against the **raw counting its rules need, done
    vectorised over each batch** with pyarrow.compute and numpy and no early exit: characters
    and their classes (one UTF-32 view of the batch and a class table), whitespace words and
    their lengths, non-empty lines, duplicate lines (Gopher), lines ending a sentence, short
    lines, stop words, and Gopher's n-gram repetition — the most frequent 2/3/4-gram and the
    words covered by repeated 5…10-grams — hashed over the batch's word ids with numpy (one
    sort per n for the whole batch: the cheapest exact way we know to get those counts; the
    per-position Python loop of datatrove's ``find_top_duplicate`` is ~10× slower). The
    regex rules (markup, boilerplate, promotional text) are *not* in the baseline, so the
    stage carries them inside its 2×.

The documents are a fixed sample of the shared deliveries: every delivered document once,
shuffled with a fixed seed (as bench/e2e.py does), normalised as the pipeline's first stage
does; the first ``--mb``/2 MB of documents under 200 characters (NSMC reviews, comments, SMS,
finance and news sentences) and the first ``--mb``/2 MB of longer ones (statutes, speeches,
WikiText, PubMed, HTML pages), Korean and English, reported apart and together. Heuristics see
what language ID keeps, with its ``lang`` column, as in a run. Batches of 2,048 (the config's
default). Rounds alternate raw/ours; the best CPU time of each is compared (single-threaded on
both sides: ``time.process_time``). Results and figures: docs/performance.md.

    nice -n 5 .venv/bin/python bench/stages.py              # 8 MB, 3 rounds (~1.5 min)
    nice -n 5 .venv/bin/python bench/stages.py --mb 4 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 2048
SHORT = 200  # characters: a "short" document
SOURCE = "deliveries"


def load_sample(mb: float, seed: int = 7) -> dict[str, list[str]]:
    """Every delivered document once, shuffled with ``seed``, normalised; the first ``mb / 2`` MB
    of documents under ``SHORT`` characters (reviews, comments, SMS, sentences) and the first
    ``mb / 2`` MB of longer ones (statutes, articles, speeches, pages): by bytes, the delivered
    mix is mostly short text, by documents almost only short text."""
    from bench import build_dedup_corpus
    from filters.normalize import normalize_text

    docs = [t for _, t in build_dedup_corpus.documents() if t]
    random.Random(seed).shuffle(docs)
    parts: dict[str, list[str]] = {"short": [], "long": []}
    size = {"short": 0, "long": 0}
    for t in docs:
        t = normalize_text(t)
        part = "short" if len(t) < SHORT else "long"
        if t and size[part] < mb * 1e6 / 2:
            parts[part].append(t)
            size[part] += len(t.encode())
        if min(size.values()) >= mb * 1e6 / 2:
            break
    return parts


def batches(columns: dict[str, list]) -> list[pa.RecordBatch]:
    n = len(next(iter(columns.values())))
    return [pa.record_batch({k: v[i : i + BATCH] for k, v in columns.items()}) for i in range(0, n, BATCH)]


def best_of(rounds: int, raw: Callable[[], object], ours: Callable[[], object]) -> tuple[float, float]:
    """Alternating rounds (raw, ours, raw, …); the smallest CPU time of each side."""
    t_raw, t_ours = [], []
    for _ in range(rounds):
        for fn, acc in ((raw, t_raw), (ours, t_ours)):
            c0 = time.process_time()
            fn()
            acc.append(time.process_time() - c0)
    return min(t_raw), min(t_ours)


def report(rows: list[tuple[str, int, float, float]], raw_label: str, ours_label: str) -> float:
    """Prints docs/CPU-s of both sides per part of the sample and in all; returns the overall ratio."""
    print(f"  {'':8} {'docs':>8} {raw_label:>30} {ours_label:>30} {'ratio':>7}")
    for part, n, raw, ours in rows + [("all", sum(r[1] for r in rows), sum(r[2] for r in rows), sum(r[3] for r in rows))]:
        print(f"  {part:8} {n:>8,} {n / raw:>17,.0f} docs/CPU-s {n / ours:>17,.0f} docs/CPU-s {ours / raw:>6.2f}x")
    ratio = sum(r[3] for r in rows) / sum(r[2] for r in rows)
    print(f"  target <= 2x: {'met' if ratio <= 2 else 'NOT met'} ({ratio:.2f}x)")
    return ratio


# ----------------------------------------------------------------------------- (a) language ID


def langid_stage():
    from filters.base import StageContext
    from filters.langid import LanguageID

    stage = LanguageID({}, StageContext(source_langs={SOURCE: ["ko", "en"]}))
    stage.ensure_setup()
    return stage


def bench_langid(stage, texts: list[str], rounds: int) -> tuple[tuple[int, float, float, float], list[str]]:
    """(docs, raw CPU-s, ours CPU-s, whole-document CPU-s) and the language of each kept document."""
    from filters.langid import language_sample

    model = stage._model
    samples = [s for s in (language_sample(t, stage.sample_chars) for t in texts) if s]
    flat = [t.replace("\n", " ") for t in texts]
    bs = batches({"text": texts, "source_id": [SOURCE] * len(texts)})
    results: list = []

    def ours() -> None:
        results[:] = [stage.process(b) for b in bs]

    raw, mine = best_of(rounds, lambda: model.predict(samples, k=stage.top_k), ours)
    c0 = time.process_time()
    model.predict(flat, k=1)
    whole = time.process_time() - c0
    langs = [lang for r in results for lang in r.columns["lang"].to_pylist()]
    keep = np.concatenate([r.keep for r in results])
    return (len(texts), raw, mine, whole), [lang if k else "" for lang, k in zip(langs, keep)]


# ----------------------------------------------------------------------------- (b) heuristics


def _class_table() -> np.ndarray:
    from filters.textstats import _table

    return _table()


def raw_counts(texts: pa.Array, stop_words: pa.Array, head_chars: int = 20000) -> dict[str, np.ndarray]:
    """What the heuristic rules measure, for every document of the batch, vectorised (no early exit)."""
    from filters.textstats import SYMBOL

    n = len(texts)
    chars = pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.int64)
    # Character classes: the batch as one UTF-32 array, one table lookup, counts per document.
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int32)[texts.offset : texts.offset + n + 1]
    data = texts.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]
    cps = np.frombuffer(data.decode("utf-8").encode("utf-32-le"), dtype=np.uint32)
    cls = _class_table()[np.minimum(cps, 0xFFFF)]
    cls[cps > 0xFFFF] = SYMBOL
    doc_of_char = np.repeat(np.arange(n), chars)
    classes = np.bincount(doc_of_char * 6 + cls, minlength=6 * n).reshape(n, 6)
    # Lines: non-empty after trimming, duplicates (Gopher), sentence ends, short lines.
    lines = pc.split_pattern(texts, "\n")
    line_doc = pc.list_parent_indices(lines).to_numpy()
    flat_lines = pc.utf8_trim_whitespace(pc.list_flatten(lines))
    line_len = pc.utf8_length(flat_lines).to_numpy(zero_copy_only=False).astype(np.int64)
    nonempty = line_len > 0
    n_lines = np.bincount(line_doc, weights=nonempty, minlength=n)
    line_ids = pc.dictionary_encode(flat_lines).indices.to_numpy().astype(np.int64)
    key = line_doc * (int(line_ids.max(initial=0)) + 1) + line_ids
    _, first = np.unique(key, return_index=True)
    dup = np.ones(len(key), dtype=bool)
    dup[first] = False
    dup &= nonempty
    dup_lines = np.bincount(line_doc, weights=dup, minlength=n)
    dup_chars = np.bincount(line_doc, weights=dup * line_len, minlength=n)
    ended = pc.match_substring_regex(flat_lines, r"[.!?\"'”’)」』…다요]$").to_numpy(zero_copy_only=False)
    terminal = np.bincount(line_doc, weights=ended, minlength=n)
    short = np.bincount(line_doc, weights=nonempty & (line_len <= 30), minlength=n)
    # Words of the head: counts, lengths, stop words, ids for the n-gram measures.
    words = pc.utf8_split_whitespace(pc.utf8_slice_codeunits(texts, 0, head_chars))
    word_doc = pc.list_parent_indices(words).to_numpy().astype(np.int64)
    flat_words = pc.list_flatten(words)
    word_len = pc.utf8_length(flat_words).to_numpy(zero_copy_only=False).astype(np.int64)
    n_words = np.bincount(word_doc, minlength=n)
    mean_word = np.bincount(word_doc, weights=word_len, minlength=n) / np.maximum(n_words, 1)
    stops = np.bincount(word_doc, weights=pc.is_in(pc.utf8_lower(flat_words), stop_words).to_numpy(zero_copy_only=False), minlength=n)
    ids = pc.dictionary_encode(flat_words).indices.to_numpy().astype(np.uint64)
    out = {"chars": chars, "classes": classes, "lines": n_lines, "dup_lines": dup_lines, "dup_chars": dup_chars,
           "terminal": terminal, "short_lines": short, "words": n_words, "mean_word": mean_word, "stops": stops}
    out.update(ngram_repetition(ids, word_doc, word_len, n))
    return out


def ngram_repetition(ids: np.ndarray, doc: np.ndarray, length: np.ndarray, n_docs: int) -> dict[str, np.ndarray]:
    """Gopher's measures for every document at once: (chars of the most frequent n-gram × its
    count) for n = 2..4, and chars of the words covered by repeated n-grams for n = 5..10."""
    out: dict[str, np.ndarray] = {}
    cum = np.concatenate([[0], np.cumsum(length)])
    mix = np.uint64(0x9E3779B97F4A7C15)
    for n in range(2, 11):
        m = len(ids) - n + 1
        if m <= 0:
            out[f"rep{n}"] = np.zeros(n_docs)
            continue
        inside = np.flatnonzero(doc[: m] == doc[n - 1 :])  # n-grams that do not cross documents
        h = doc[inside].astype(np.uint64)
        with np.errstate(over="ignore"):
            for k in range(n):
                h = h * mix + ids[inside + k] + np.uint64(1)
        _, first, inverse, counts = np.unique(h, return_index=True, return_inverse=True, return_counts=True)
        if n <= 4:
            chars = (cum[inside + n] - cum[inside] + n - 1) * counts[inverse]
            top = np.zeros(n_docs)
            np.maximum.at(top, doc[inside], chars)
            out[f"rep{n}"] = top
        else:
            repeated = inside[first[inverse] != np.arange(len(h))]
            cover = np.zeros(len(ids) + 1, dtype=np.int64)
            np.add.at(cover, repeated, 1)
            np.add.at(cover, repeated + n, -1)
            covered = np.cumsum(cover[:-1]) > 0
            out[f"rep{n}"] = np.bincount(doc, weights=covered * length, minlength=n_docs)
    return out


def bench_heuristics(stage, texts: list[str], langs: list[str], rounds: int) -> tuple[int, float, float, int]:
    """(docs, raw CPU-s, ours CPU-s, documents the stage keeps) on what language ID kept."""
    from filters.heuristics import _EN_STOP

    kept = [(t, lang) for t, lang in zip(texts, langs) if lang]
    bs = batches({"text": [t for t, _ in kept], "lang": [lang for _, lang in kept]})
    stop_words = pa.array(sorted(_EN_STOP))
    results: list = []

    def raw() -> None:
        for b in bs:
            raw_counts(b.column("text"), stop_words, stage.config.max_tokenize_chars)

    def ours() -> None:
        results[:] = [stage.process(b) for b in bs]

    t_raw, t_ours = best_of(rounds, raw, ours)
    return len(kept), t_raw, t_ours, sum(int(r.keep.sum()) for r in results)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=8.0, help="MB of delivered text in the sample, half short documents (default 8)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", choices=("langid", "heuristics"))
    args = ap.parse_args(argv)
    from bench import build_dedup_corpus
    from filters.heuristics import QualityHeuristics

    if not build_dedup_corpus.SHARED.is_dir():
        print(f"{build_dedup_corpus.SHARED} not found: this benchmark needs ../shared/data", file=sys.stderr)
        return 2
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {load}; nice {os.nice(0)}")
    parts = load_sample(args.mb)
    for part, texts in parts.items():
        print(f"sample, {part}: {len(texts):,} documents, {sum(len(t.encode()) for t in texts) / 1e6:.1f} MB, "
              f"longest {max(map(len, texts)):,} characters")
    langid, heur = langid_stage(), QualityHeuristics({})
    heur.ensure_setup()
    ratios, lang_rows, heur_rows, langs = {}, [], [], {}
    for part, texts in parts.items():
        row, langs[part] = bench_langid(langid, texts, args.rounds)
        lang_rows.append((part, *row))
    if args.only != "heuristics":
        print(f"\n== (a) language ID (fastText lid.176.ftz, k={langid.top_k}) ==")
        ratios["langid"] = report([r[:4] for r in lang_rows], "fastText predict(samples)", "langid on Arrow batches")
        print("  context, fastText predict on whole documents (newlines flattened, k=1): "
              + ", ".join(f"{r[0]} {r[1] / r[4]:,.0f} docs/CPU-s" for r in lang_rows))
    if args.only != "langid":
        kept = []
        for part, texts in parts.items():
            n, raw, ours, k = bench_heuristics(heur, texts, langs[part], args.rounds)
            heur_rows.append((part, n, raw, ours))
            kept.append(f"{part} {k:,}/{n:,}")
        print("\n== (b) quality heuristics (on what language ID kept) ==")
        ratios["quality_heuristics"] = report(heur_rows, "raw counts (pyarrow, numpy)", "heuristics on Arrow batches")
        print("  kept by the stage: " + ", ".join(kept))
    print(f"\nload average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
