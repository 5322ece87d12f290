"""Decontamination benchmark: planted items in real deliveries, statutes, speed, index size.

    .venv/bin/python bench/decontamination.py [--config pipelines/configs/shared-deliveries.yaml]
        [--max-docs 3000] [--plants 600] [--seed 18] [--index-items 100000] [--skip-sweep]

With every benchmark of the config loaded (KMMLU criminal law, three LegalBench splits,
KorQuAD 1.0 dev), it reads up to ``--max-docs`` documents of each admitted delivery through the
pipeline's own readers and:

* **plants** benchmark items into copies of real documents (fixed seed): whole items verbatim,
  whole items embedded in the middle of long documents, whitespace/line-break edits,
  punctuation edits, question-only copies (a fragment of a text item), options-only copies.
  Recall of whole items = planted documents dropped *for that item*; recall of edited forms =
  planted documents dropped or masked for that item. Precision at document level over every
  document the stage drops or masks (real and planted), ``ko_korquad`` left out — it *is* the
  KorQuAD benchmark, and is reported separately with the share it loses;
* lists **every decision on ko_statutes** (and counts on bills and news): a statute must only be
  dropped if it really holds an item;
* measures **speed** (MB of text per CPU second, one process) with all benchmarks loaded, and
  the per-document cost next to the MinHash stage's ``keys`` (signatures) on the same batches;
* builds the index for ``--index-items`` synthetic items (KMMLU items with their words
  shuffled: same lengths, distinct windows) and prints its size;
* a small **sweep** of the window (weight 24/40/64, Hangul weighing 3 or 1) on the plants and
  the legal deliveries, to show why the defaults are what they are;
* **Latin: characters against words** — 40-character windows against 8/10/13-word n-grams on the
  English benchmarks (LegalBench) planted into the English deliveries: recall, precision, the
  decisions on every real English document read, MB/s and index size (``--latin-only`` runs
  just this, ``--skip-latin`` leaves it out).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import fsspec
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters import readers  # noqa: E402
from filters.decontaminate import Decontaminate, Index, Item, LoadedBenchmark, load_benchmark  # noqa: E402
from pipelines import benchmarks as bench_cfg  # noqa: E402
from pipelines.runner import prepare  # noqa: E402

MARKS = "①②③④⑤⑥⑦⑧"


def read_deliveries(config: str, max_docs: int, skip: set[str]) -> dict[str, list[str]]:
    plan = prepare(config)
    out: dict[str, list[str]] = {}
    for sp in plan.sources:
        if sp.source.id in skip:
            continue
        texts: list[str] = []
        for f in sp.files:
            if f.refused or len(texts) >= max_docs:
                continue
            info = readers.FileInfo(path=f.rel)
            with fsspec.open(f.url, "rb") as fh:
                for ev in readers.read_file(fh, sp.options, info):
                    if isinstance(ev, readers.Record):
                        texts.append(ev.text)
                        if len(texts) >= max_docs:
                            break
        out[sp.source.id] = texts
    return out


def render(item: Item, rng: random.Random, kind: str) -> str:
    q, options = item.parts[0], item.parts[1:]
    if kind == "question_only":
        if options:
            return q
        words = q.split()  # a text item: a contiguous 60 % fragment
        n = max(1, int(len(words) * 0.6))
        start = rng.randrange(0, len(words) - n + 1)
        return " ".join(words[start : start + n])
    if kind == "options_only":
        return "\n".join(f"{MARKS[k]} {o}" for k, o in enumerate(options))
    if options:
        text = q + "\n" + "\n".join(f"{MARKS[k]} {o}" for k, o in enumerate(options))
        if item.answer:
            text += f"\n정답: {MARKS[item.answer - 1]}"
    else:
        text = q
    if kind == "whitespace":
        text = "".join(rng.choice(["\n", "  ", " \t", ""]) if c == " " and rng.random() < 0.4 else c for c in text)
    elif kind == "punctuation":
        swap = {".": ["", " .", "。", "!"], ",": ["", " ,", ";"], "?": ["", "?!", " ?"], "(": ["[", ""], ")": ["]", ""]}
        text = "".join(rng.choice(swap[c]) if c in swap and rng.random() < 0.7 else c for c in text)
        text = '"' + text + '"'
    return text


WHOLE = ("verbatim", "embedded_long")
EDITED = ("whitespace", "punctuation", "question_only", "options_only")


def plant(items: list[Item], hosts: list[str], long_hosts: list[str], n: int, seed: int,
          kinds: tuple[str, ...] = WHOLE + EDITED) -> list[tuple[str, str, Item]]:
    """``n`` planted documents, the kinds in turn; options-only copies use question items."""
    rng = random.Random(seed)
    mcq = [it for it in items if len(it.parts) > 1]
    out = []
    for k in range(n):
        kind = kinds[k % len(kinds)]
        item = rng.choice(mcq if kind == "options_only" else items)
        host = rng.choice(long_hosts if kind == "embedded_long" else hosts)
        pos = len(host) // 2 if kind == "embedded_long" else rng.choice([0, len(host)])
        out.append((kind, host[:pos] + "\n\n" + render(item, rng, kind) + "\n\n" + host[pos:], item))
    return out


def evaluate(stage: Decontaminate, plants, clean: dict[str, list[str]]) -> dict:
    decisions = stage.decide([t for _, t, _ in plants])
    hit_whole = Counter()
    hit_edit = Counter()
    n_kind = Counter()
    for (kind, _, item), d in zip(plants, decisions):
        n_kind[kind] += 1
        mine = [m for m in d.matches if m.item == item.item_id and m.benchmark == item.benchmark]
        if kind in WHOLE:
            hit_whole[kind] += int(any(m.action == "drop" for m in mine) and d.action == "drop")
        else:
            hit_edit[kind] += int(d.action in ("drop", "mask") and any(m.action in ("drop", "mask") for m in mine))
    tp = sum(1 for d in decisions if d.action in ("drop", "mask"))
    fp_by_source: dict[str, list] = {}
    for sid, texts in clean.items():
        ds = [d for d in stage.decide(texts) if d.action in ("drop", "mask")]
        if ds:
            fp_by_source[sid] = ds
    fp = sum(len(v) for v in fp_by_source.values())
    whole_n = sum(n_kind[k] for k in WHOLE)
    edit_n = sum(n_kind[k] for k in EDITED)
    return {
        "recall_whole": sum(hit_whole.values()) / whole_n if whole_n else float("nan"),
        "recall_edited": sum(hit_edit.values()) / edit_n if edit_n else float("nan"),
        "by_kind": {k: f"{(hit_whole[k] + hit_edit[k])}/{n_kind[k]}" for k in WHOLE + EDITED},
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "false_flags": {k: len(v) for k, v in fp_by_source.items()},
    }


def synthetic_items(items: list[Item], n: int, seed: int) -> list[Item]:
    rng = random.Random(seed)
    mcq = [it for it in items if len(it.parts) > 1]
    out = []
    for k in range(n):
        base = rng.choice(mcq)
        parts = []
        for p in base.parts:
            words = p.split()
            rng.shuffle(words)
            parts.append(" ".join(words))
        out.append(Item("synthetic", str(k), parts, base.answer))
    return out


# Word windows are ~5× fewer than character windows, so a short item has few of them: the
# first pass's stride 4 is shown for words 8, and every word window (stride 1) for all three.
LATIN_SETTINGS = (
    ("characters 40", {}),
    ("words 8 s4", {"words": 8}),
    ("words 8", {"words": 8, "stride": 1}),
    ("words 10", {"words": 10, "stride": 1}),
    ("words 13", {"words": 13, "stride": 1}),
    # mask_min_windows counts windows: 8 character windows are ~47 letters (~9 words), 8 word
    # windows 15 words; 3 word windows (10 words) is the like-for-like fragment size.
    ("words 8 mm3", {"words": 8, "stride": 1, "mask_min_windows": 3}),
)


def _is_latin(b: LoadedBenchmark) -> bool:
    return not any("\uac00" <= c <= "\ud7a3" or "\u3400" <= c <= "\u9fff" for it in b.items for p in it.parts for c in p)


def latin_sweep(args, plan, loaded: list[LoadedBenchmark], docs: dict[str, list[str]], flagged: dict[str, set[int]]) -> None:
    """Character windows (40 letters) against word n-grams (8/10/13 words) for Latin text, on the
    English benchmarks and the English deliveries: recall, precision, false decisions, speed, index size."""
    latin = [b for b in loaded if _is_latin(b)]
    english = {sp.source.id for sp in plan.sources if sp.source.lang == "en"}
    en_docs = {k: v for k, v in docs.items() if k in english}
    print(f"\n## Latin windows: characters against words ({', '.join(b.id for b in latin)}; "
          f"English deliveries: {', '.join(f'{k} {len(v):,}' for k, v in en_docs.items())})")
    stages = {}
    for label, opts in LATIN_SETTINGS:
        st = Decontaminate(opts, benchmarks=latin)
        st.ensure_setup()
        stages[label] = st
    items = [it for b in latin for it in b.items]
    # plant only items every setting can index (an item shorter than a window is counted apart)
    ok = [all(st.index.part_windows[i][0] > 0 for st in stages.values()) for i in range(len(items))]
    indexable = [it for it, good in zip(items, ok) if good]
    hosts = [t for k, v in en_docs.items() for i, t in enumerate(v) if i not in flagged.get(k, set()) and 50 <= len(t) <= 3000]
    long_hosts = [t for k, v in en_docs.items() for i, t in enumerate(v) if i not in flagged.get(k, set()) and len(t) > 3000]
    kinds = WHOLE + ("whitespace", "punctuation", "question_only")
    plants = plant(indexable, hosts, long_hosts, args.plants, args.seed, kinds)
    sample = {k: v[:1000] for k, v in en_docs.items()}
    all_en = [t for v in en_docs.values() for t in v]
    mb = sum(len(t.encode()) for t in all_en) / 1e6
    syn = [Item("synthetic", str(k), [" ".join(random.Random(k).sample(w, len(w)))], None)
           for k, w in enumerate(it.parts[0].split() for it in random.Random(args.seed).choices(items, k=args.latin_index_items))]
    print(f"  {len(plants)} plants of {len(indexable)} items every setting indexes ({len(items)} items), seed {args.seed}; "
          f"speed on {len(all_en):,} English documents, {mb:.1f} MB; index for {len(syn):,} synthetic items (LegalBench words shuffled)")
    print("  setting        | unindexable items | recall whole | recall edited (by kind)              | precision | "
          "real English docs dropped / masked / quoted | MB/s  | index (shared) | index (synthetic)")
    for label, st in stages.items():
        r = evaluate(st, plants, sample)
        real = Counter(d.action for t in en_docs.values() for d in st.decide(t) if d.action)
        batches = [all_en[i : i + 2048] for i in range(0, len(all_en), 2048)]
        t0 = time.process_time()
        for b in batches:
            st.decide(b)
        cpu = time.process_time() - t0
        big = Index([LoadedBenchmark("synthetic", syn, [])], st.window, st.wide_weight, st.words)
        by_kind = " ".join(f"{k} {r['by_kind'][k]}" for k in kinds[2:])
        print(f"  {label:14} | {st.index.unmatchable:>17} | {r['recall_whole']:.3f}        | {r['recall_edited']:.3f} ({by_kind}) | "
              f"{r['precision']:.3f}     | {real['drop']} / {real['mask']} / {real['quote']}"
              f"{'  false flags ' + str(r['false_flags']) if r['false_flags'] else ''} | {mb / cpu:5.1f} | "
              f"{len(st.index.hashes):,} w, {st.index.nbytes / 1e6:.1f} MB | {len(big.hashes):,} w, {big.nbytes / 1e6:.0f} MB")
        if real["drop"] or real["mask"]:
            for k, v in en_docs.items():
                for i, d in enumerate(st.decide(v)):
                    if d.action in ("drop", "mask"):
                        print(f"      {k} #{i}: {d.action} — " + "; ".join(f"{m.action} {m.benchmark}:{m.item} {m.score}" for m in d.matches))
        del big


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(ROOT / "pipelines/configs/shared-deliveries.yaml"))
    ap.add_argument("--max-docs", type=int, default=3000, help="documents read per delivery")
    ap.add_argument("--plants", type=int, default=600)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--index-items", type=int, default=100_000)
    ap.add_argument("--skip-sweep", action="store_true")
    ap.add_argument("--skip-latin", action="store_true", help="skip the characters-against-words comparison for Latin text")
    ap.add_argument("--latin-only", action="store_true", help="only the characters-against-words comparison (with the reads it needs)")
    ap.add_argument("--latin-index-items", type=int, default=20_000, help="synthetic English items indexed per Latin setting")
    args = ap.parse_args()

    print(f"# decontamination bench — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; seed {args.seed}")
    plan = prepare(args.config)
    specs = bench_cfg.specs(plan.config, plan.base_dir)
    loaded: list[LoadedBenchmark] = [load_benchmark(s) for s in specs]
    stage = Decontaminate({}, benchmarks=loaded)
    stage.ensure_setup()
    idx = stage.index
    assert idx is not None
    print(f"benchmarks: {', '.join(f'{b.id} {len(b.items)}' for b in loaded)}; index {len(idx.hashes):,} windows, "
          f"{idx.nbytes / 1e6:.1f} MB; items too short to index (< window): {idx.unmatchable} "
          f"({dict(Counter(idx.benchmarks[int(idx.item_bench[i])] for i in range(idx.items_total) if idx.part_windows[i].sum() == 0))})")

    english = {sp.source.id for sp in plan.sources if sp.source.lang == "en"}
    skip = {"en_html"} | ({sp.source.id for sp in plan.sources} - english if args.latin_only else set())
    docs = read_deliveries(args.config, args.max_docs, skip=skip)
    print(f"deliveries read: {', '.join(f'{k} {len(v):,}' for k, v in docs.items())}")
    if args.latin_only:
        flagged = {k: {i for i, d in enumerate(stage.decide(v)) if d.action in ("drop", "mask")} for k, v in docs.items()}
        latin_sweep(args, plan, loaded, docs, flagged)
        print(f"\nload at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return 0

    # --- the real deliveries -------------------------------------------------------------
    print("\n## decisions on the real deliveries (drop / mask / quote kept)")
    for sid, texts in docs.items():
        ds = stage.decide(texts)
        c = Counter(d.action for d in ds if d.action)
        print(f"  {sid:18} {len(texts):>6,} docs: drop {c['drop']:>4}  mask {c['mask']:>3}  quote {c['quote']:>3}"
              + (f"  ({100 * c['drop'] / len(texts):.1f} % dropped — the guard trips)" if texts and c["drop"] / len(texts) > 0.001 else ""))
        if sid == "ko_statutes":
            for i, d in enumerate(ds):
                if d.action:
                    items = "; ".join(f"{m.action} {m.benchmark}:{m.item} {m.score}" for m in d.matches)
                    print(f"      statute #{i}: {d.action} — {items}")

    # --- planted contamination --------------------------------------------------------------
    clean = {k: v for k, v in docs.items() if k != "ko_korquad"}
    flagged = {k: {i for i, d in enumerate(stage.decide(v)) if d.action in ("drop", "mask")} for k, v in clean.items()}
    hosts = [t for k, v in clean.items() for i, t in enumerate(v) if i not in flagged[k] and 50 <= len(t) <= 3000]
    long_hosts = [t for k, v in clean.items() for i, t in enumerate(v) if i not in flagged[k] and len(t) > 3000]
    items = [it for b in loaded for it in b.items]  # the index's row order
    indexable = [it for i, it in enumerate(items) if idx.part_windows[i][0] > 0]
    plants = plant(indexable, hosts, long_hosts, args.plants, args.seed)
    sample = {k: v[:1000] for k, v in clean.items()}
    res = evaluate(stage, plants, sample)
    print(f"\n## planted contamination ({len(plants)} documents, {len(indexable)} indexable items, seed {args.seed})")
    print(f"  recall whole items {res['recall_whole']:.3f} (target ≥ 0.99)   recall edited forms {res['recall_edited']:.3f} (≥ 0.95)   "
          f"precision {res['precision']:.3f} (≥ 0.99)")
    print(f"  by kind: {res['by_kind']}   false flags on real documents: {res['false_flags'] or 'none'}")

    # --- speed --------------------------------------------------------------------------------
    from filters.minhash_dedup import MinHashDedup

    def timed(texts: list[str]) -> tuple[float, float, float]:
        batches = [texts[i : i + 2048] for i in range(0, len(texts), 2048)]
        stage.decide(batches[0])  # warm the tables
        t0 = time.process_time()
        for b in batches:
            stage.decide(b)
        dc = time.process_time() - t0
        mh = MinHashDedup({})
        mh.ensure_setup()
        arrow = [pa.RecordBatch.from_pydict({"id": [str(i) for i in range(len(b))], "text": b, "source_id": ["x"] * len(b)}) for b in batches]
        mh.keys(arrow[0])
        t0 = time.process_time()
        for b in arrow:
            mh.keys(b)
        return sum(len(t.encode()) for t in texts) / 1e6, dc, time.process_time() - t0

    print("\n## speed (all benchmarks loaded, one process, CPU seconds)")
    for label, texts in (
        ("deliveries without ko_korquad", [t for k, v in docs.items() if k != "ko_korquad" for t in v]),
        ("ko_korquad alone (every document holds an item: the slow path)", docs.get("ko_korquad", [])),
    ):
        if not texts:
            continue
        mb, dc, mhs = timed(texts)
        print(f"  {label}: {len(texts):,} documents, {mb:.1f} MB")
        print(f"    decontaminate {mb / dc:.1f} MB/s (target ≥ 20), {1e6 * dc / len(texts):.1f} µs per document; "
              f"minhash_dedup keys {mb / mhs:.1f} MB/s, {1e6 * mhs / len(texts):.1f} µs per document; cost ratio {dc / mhs:.2f}")

    # --- index size -----------------------------------------------------------------------------
    syn = synthetic_items(items, args.index_items, args.seed)
    tracemalloc.start()
    t0 = time.perf_counter()
    big = Index([LoadedBenchmark("synthetic", syn, [])], stage.window, stage.wide_weight)
    build = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"\n## index for {args.index_items:,} items: {len(big.hashes):,} windows, {big.nbytes / 1e6:.0f} MB resident "
          f"(target ≤ 500), peak while building {peak / 1e6:.0f} MB, built in {build:.1f} s")
    del big, syn

    # --- Latin: character windows against word n-grams ----------------------------------------
    if not args.skip_latin:
        latin_sweep(args, plan, loaded, docs, flagged)

    # --- window sweep -------------------------------------------------------------------------
    if not args.skip_sweep:
        print("\n## window sweep (plants; false flags and quotes on statutes, bills, news)")
        legal = {k: docs[k] for k in ("ko_statutes", "ko_bills_cp949", "ko_news") if k in docs}
        for window, wide in ((24, 3), (40, 3), (64, 3), (40, 1)):
            st = Decontaminate({"window": window, "wide_weight": wide}, benchmarks=loaded)
            r = evaluate(st, plants, legal)
            quotes = sum(1 for d in st.decide(legal.get("ko_statutes", [])) if d.action == "quote")
            print(f"  window {window:>2}, Hangul weight {wide}: recall whole {r['recall_whole']:.3f} edited {r['recall_edited']:.3f} "
                  f"precision {r['precision']:.3f}  false flags {r['false_flags'] or 'none'}  statute quotes {quotes}  "
                  f"unindexable items {st.index.unmatchable}")
    print(f"\nload at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
