"""PII benchmark: recall per type, hard-negative damage, name precision, and speed vs plain Presidio.

    .venv/bin/python bench/pii_eval.py [--shared ../shared/data] [--docs 2000] [--skip-speed]

* ``eval/generated/pii_ko.jsonl``: recall per entity type, also with every identifier's
  separators rewritten as dots, spaces or nothing; share of hard negatives (citations, case
  numbers, dates, amounts, ISBNs) touched by any span.
* ``eval/pii/ko_klue_ner_dev.tsv``: person-name recall on full-name ``PS`` spans — two or more
  Hangul syllables once a trailing title is set aside (a bare surname such as 박씨 or 김 선수 is
  already anonymous; the stricter count is printed too) — and precision of our PERSON spans
  against all ``PS`` spans; the same on ``eval/pii/ko_deid_silver_bio.txt`` (Wikipedia, silver
  labels), which no rule was tuned on.
* the deliveries: PERSON spans per source; for the public records (speeches, SCOTUS) also the
  share the declared policy of ``pipelines/configs/shared-deliveries.yaml`` still masks
  (``public_records``, ``record_dates``, ``names_open_before``), and every span left masked on the
  speeches, PubMed and finance is listed for review (docs/pii.md).
* ``eval/pii/en_presidio_synth_v2.json``: recall per type on presidio-research's English set, and
  the precision of our PERSON and PHONE_NUMBER spans against all its labelled spans.
* ``en_cost`` (``--sections en_cost``): CPU seconds of the stage's English detection on every
  English delivery with spaCy's NER over whole documents (``ner_windows: false``, ``pii@5``'s
  path) and over windows around possible names (``pii@6``), and the spans only one side finds;
  with ``--options '{...}'``, the default stage against the stage with those options (and the
  spans that differ, listed).
* speed: docs/s of the ``pii`` stage against a plain presidio ``AnalyzerEngine`` +
  ``AnonymizerEngine`` loop with the same recognizers and thresholds, on N Korean and N English
  documents from the deliveries, in this one process, printed as a ratio (best of ``--repeat``
  alternating runs per side, with the evaluation results frozen out of the garbage collector).

Recall counts a gold span as found when a span of the same type overlaps it (the generated set
and presidio-research use the same type names after ``PHONE``→``PHONE_NUMBER``,
``EMAIL``→``EMAIL_ADDRESS``). The module's functions are reused by ``tests/test_pii.py``.
"""

from __future__ import annotations

import argparse
import csv
import gc
import glob
import json
import os
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GEN_TYPES = {"PHONE": "PHONE_NUMBER", "EMAIL": "EMAIL_ADDRESS"}
STRUCTURED = ["KR_RRN", "KR_FRN", "KR_BRN", "KR_PASSPORT", "KR_DRIVER_LICENSE", "PHONE_NUMBER", "EMAIL_ADDRESS", "CREDIT_CARD", "BANK_ACCOUNT"]
EN_TARGETS = {"EMAIL_ADDRESS": 0.95, "PHONE_NUMBER": 0.95, "CREDIT_CARD": 0.95, "US_SSN": 0.95, "IBAN_CODE": 0.95, "PERSON": 0.80}

Detector = Callable[[Sequence[str], str], list[list[tuple[int, int, str]]]]


# ------------------------------------------------------------------------------------------
# Data.


def load_generated(shared: Path, variant: str = "dash") -> list[dict]:
    """The generated Korean set; ``variant`` rewrites the separators inside numeric identifiers."""
    rows = [json.loads(line) for line in open(shared / "eval/generated/pii_ko.jsonl", encoding="utf-8")]
    if variant == "dash":
        return rows
    sep = {"dot": ".", "space": " ", "none": ""}[variant]
    out = []
    for r in rows:
        text, shift, spans = r["text"], 0, []
        edits = []
        for s in sorted(r["spans"], key=lambda s: s["start"]):
            value = text[s["start"] : s["end"]]
            new = value
            if GEN_TYPES.get(s["type"], s["type"]) in STRUCTURED and s["type"] not in ("EMAIL",) and re.fullmatch(r"[\d-]+", value):
                new = value.replace("-", sep)
            edits.append((s, value, new))
        pieces, pos = [], 0
        for s, value, new in edits:
            pieces.append(text[pos : s["start"]])
            start = s["start"] + shift
            pieces.append(new)
            shift += len(new) - len(value)
            spans.append({**s, "start": start, "end": start + len(new), "value": None})
            pos = s["end"]
        pieces.append(text[pos:])
        negs = []
        for n in r["negatives"]:
            before = sum(len(new) - len(value) for s, value, new in edits if s["end"] <= n["start"])
            negs.append({**n, "start": n["start"] + before, "end": n["end"] + before})
        out.append({"id": r["id"], "text": "".join(pieces), "spans": spans, "negatives": negs})
    return out


def load_klue(shared: Path) -> list[dict]:
    """KLUE NER dev sentences with their ``PS`` spans (character offsets)."""
    rows, chars, tags = [], [], []

    def flush():
        if chars:
            text = "".join(chars)
            spans, start = [], None
            for i, t in enumerate([*tags, "O"]):
                if start is not None and not t.startswith("I-PS"):
                    spans.append((start, i))
                    start = None
                if t.startswith("B-PS"):
                    start = i
            rows.append({"text": text, "ps": spans})
        chars.clear()
        tags.clear()

    for line in open(shared / "eval/pii/ko_klue_ner_dev.tsv", encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("##"):
            continue
        if not line:
            flush()
            continue
        ch, _, tag = line.rpartition("\t")
        chars.append(ch if ch else " ")
        tags.append(tag)
    flush()
    return rows


def load_presidio_en(shared: Path) -> list[dict]:
    data = json.load(open(shared / "eval/pii/en_presidio_synth_v2.json", encoding="utf-8"))
    return [
        {"text": r["full_text"], "spans": [{"start": s["start_position"], "end": s["end_position"], "type": s["entity_type"]} for s in r["spans"]]}
        for r in data
    ]


def korean_docs(shared: Path, n: int) -> list[str]:
    """Korean delivery documents: KorQuAD paragraphs, statutes, medical answers, news lines."""
    d = shared / "deliveries"
    docs = []
    for f in sorted(glob.glob(str(d / "ko_korquad/*.json"))):
        data = json.load(open(f, encoding="utf-8"))
        docs += [p["context"] for a in data["data"] for p in a["paragraphs"]]
    docs += [json.loads(line)["text"][:6000] for line in open(d / "ko_statutes/statutes.jsonl", encoding="utf-8")]
    with open(d / "ko_medical_qa/KQMA_kor_v1_dev.csv", encoding="utf-8") as f:
        docs += [r["A"] for r in csv.DictReader(f)]
    for f in sorted(glob.glob(str(d / "ko_news/*.ko"))):
        docs += [line.strip() for line in open(f, encoding="utf-8") if line.strip()]
    return docs[:n]


def english_docs(shared: Path, n: int) -> list[str]:
    """English delivery documents: PubMed abstracts, SMS, Supreme Court summaries."""
    d = shared / "deliveries"
    docs = delivery_sources_pubmed(d)[: n // 3]
    with open(d / "en_web_lowq/sms_spam_collection.tsv", encoding="utf-8") as f:
        docs += [line.split("\t", 1)[1].strip() for line in f if "\t" in line][: n // 3]
    docs += [r["opinion_summary"] for r in json.load(open(d / "en_scotus/SC_data.json", encoding="utf-8"))]
    return docs[:n]


def delivery_sources(shared: Path, n: int) -> dict[str, tuple[str, list[str]]]:
    """Every delivery with text, ``n`` documents each (statutes and bills whole): name → (lang, docs)."""
    import gzip

    d = shared / "deliveries"
    out: dict[str, tuple[str, list[str]]] = {}
    out["ko_statutes"] = ("ko", [json.loads(line)["text"] for line in open(d / "ko_statutes/statutes.jsonl", encoding="utf-8")])
    out["ko_bills"] = ("ko", [open(f, encoding="cp949").read() for f in sorted(glob.glob(str(d / "ko_bills_cp949/*.txt")))])
    out["ko_news"] = ("ko", [line.strip() for line in open(d / "ko_news/korean-english-park.dev.ko", encoding="utf-8") if line.strip()][:n])
    with gzip.open(d / "ko_reviews_nsmc/nsmc_reviews.jsonl.gz", "rt", encoding="utf-8") as f:
        out["ko_reviews_nsmc"] = ("ko", [json.loads(line)["text"] for _, line in zip(range(n), f)])
    out["ko_comments"] = ("ko", [line.strip() for line in open(d / "ko_comments/unlabeled_comments_5.txt", encoding="utf-8") if line.strip()][:n])
    with open(d / "ko_medical_qa/KQMA_kor_v1_dev.csv", encoding="utf-8") as f:
        out["ko_medical_qa"] = ("ko", [r["A"] for _, r in zip(range(n), csv.DictReader(f))])
    for f in sorted(glob.glob(str(d / "ko_korquad/*.json")))[:1]:
        data = json.load(open(f, encoding="utf-8"))
        out["ko_korquad"] = ("ko", [p["context"] for a in data["data"] for p in a["paragraphs"]][:n])
    out["en_pubmed"] = ("en", delivery_sources_pubmed(d)[:n])
    with open(d / "ko_en_finance/finance_data.csv", encoding="utf-8") as f:
        out["ko_en_finance (English sentences)"] = ("en", [r["sentence"] for _, r in zip(range(n), csv.DictReader(f))])
    out["en_scotus"] = ("en", [r["opinion_summary"] for r in json.load(open(d / "en_scotus/SC_data.json", encoding="utf-8"))][:n])
    speeches = sorted(glob.glob(str(d / "en_gov_speeches/*/*.txt")))
    out["en_gov_speeches"] = ("en", [open(f, encoding="utf-8", errors="replace").read() for f in speeches][: max(n // 5, 1)])
    return out


def word_cuts(texts: Sequence[str], found) -> list[str]:
    """PERSON spans that cut a word by MeCab-ko's reading (tests/test_pii.py's ``word_cut``)."""
    from filters.pii_recognizers import default_mecab, tokenize_mecab
    from tests.test_pii import word_cut

    mecab, bad = default_mecab(), []
    for text, spans in zip(texts, found):
        morphs = None
        for a, b, t in spans:
            if t == "PERSON":
                morphs = morphs or tokenize_mecab(mecab, text)
                why = word_cut(text, morphs, a, b)
                if why:
                    bad.append(f"{text[max(0, a - 6):a]}[{text[a:b]}]{text[b:b + 6]} ({why})")
    return bad


# ------------------------------------------------------------------------------------------
# Detectors: our stage, and the plain presidio loop with the same recognizers.


def stage_detector(**options) -> tuple[Detector, Callable[[Sequence[str], str], list[str]]]:
    from filters.pii import PresidioScrubber

    stage = PresidioScrubber(options)
    stage.ensure_setup()

    def detect(texts, lang):
        return [[(f.start, f.end, f.type) for f in spans] for spans in stage.detect(list(texts), [lang] * len(texts))]

    def scrub(texts, lang):
        found = stage.detect(list(texts), [lang] * len(texts))
        return [stage.anonymize(t, f) for t, f in zip(texts, found)]

    return detect, scrub


def plain_detector(kiwi_names: bool = True) -> tuple[Detector, Callable[[Sequence[str], str], list[str]]]:
    """presidio used as documented: analyze + anonymize per document, full NLP, no prefilter."""
    import logging

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig

    from filters.pii import PiiOptions, resolve, Found
    from filters.pii_recognizers import EN_ENTITIES, KO_ENTITIES, english_analyzer, korean_analyzer

    opts = PiiOptions()
    engines = {"ko": (korean_analyzer(kiwi_names=kiwi_names), KO_ENTITIES), "en": (english_analyzer(ner_only=False), EN_ENTITIES)}
    anonymizer = AnonymizerEngine()

    def analyze(text, lang):
        analyzer, ents = engines[lang]
        res = [r for r in analyzer.analyze(text, language=lang, entities=ents) if r.score >= opts.threshold(r.entity_type)]
        return resolve([Found(r.start, r.end, r.entity_type, r.score) for r in res])

    def detect(texts, lang):
        return [[(f.start, f.end, f.type) for f in analyze(t, lang)] for t in texts]

    def scrub(texts, lang):
        out = []
        for t in texts:
            found = analyze(t, lang)
            ops = {f.type: OperatorConfig("replace", {"new_value": f"<{f.type}>"}) for f in found}
            from presidio_anonymizer.entities import RecognizerResult

            out.append(anonymizer.anonymize(t, [RecognizerResult(f.type, f.start, f.end, f.score) for f in found], ops).text)
        return out

    return detect, scrub


# ------------------------------------------------------------------------------------------
# Scores.


def recall_by_type(rows: list[dict], found: list[list[tuple[int, int, str]]]) -> dict[str, tuple[int, int]]:
    hits, totals = Counter(), Counter()
    for r, spans in zip(rows, found):
        for s in r["spans"]:
            t = GEN_TYPES.get(s["type"], s["type"])
            totals[t] += 1
            if any(ft == t and a < s["end"] and b > s["start"] for a, b, ft in spans):
                hits[t] += 1
    return {t: (hits[t], totals[t]) for t in sorted(totals)}


def precision_by_type(rows: list[dict], found, types) -> dict[str, tuple[int, int]]:
    """Our spans of each type that overlap a gold span of that type (the set labels every entity it has)."""
    good, pred = Counter(), Counter()
    for r, spans in zip(rows, found):
        for a, b, t in spans:
            if t in types:
                pred[t] += 1
                good[t] += any(GEN_TYPES.get(s["type"], s["type"]) == t and s["start"] < b and s["end"] > a for s in r["spans"])
    return {t: (good[t], pred[t]) for t in types}


def negatives_touched(rows: list[dict], found) -> tuple[int, int]:
    touched = total = 0
    for r, spans in zip(rows, found):
        for n in r.get("negatives", []):
            total += 1
            touched += any(a < n["end"] and b > n["start"] for a, b, _t in spans)
    return touched, total


def _title_suffix() -> re.Pattern:
    from filters.pii_recognizers import NAME_AFTER

    titles = sorted({w for w in NAME_AFTER.split("|") if w.isalpha()} | {"모"}, key=len, reverse=True)
    one = "|".join(t for t in titles if len(t) == 1)
    more = "|".join(t for t in titles if len(t) > 1)
    # A title after a space (김 선수, 주 목사), or one of two or more syllables (윤실장, 박신부);
    # a one-syllable title glued on is left alone (태양 is a name, not 태 + 양).
    return re.compile(rf"(?:\s(?:{one}|{more})|(?:{more}))$")


_TITLE_SUFFIX = None


def is_full_name(span: str) -> bool:
    """Two or more Hangul syllables once a trailing title is set aside: 김 선수 and 박씨 are a
    bare surname with a title, already anonymous (the issue's definition); 홍길동 변호사 is not."""
    global _TITLE_SUFFIX
    if _TITLE_SUFFIX is None:
        _TITLE_SUFFIX = _title_suffix()
    return len(re.findall(r"[가-힣]", _TITLE_SUFFIX.sub("", span.strip()))) >= 2


def klue_scores(rows: list[dict], found, full_name=is_full_name) -> dict[str, float]:
    """Recall on full-name PS spans (:func:`is_full_name`); precision of PERSON against all PS."""
    full = hit = pred = good = 0
    for r, spans in zip(rows, found):
        persons = [(a, b) for a, b, t in spans if t == "PERSON"]
        for s, e in r["ps"]:
            if full_name(r["text"][s:e]):
                full += 1
                hit += any(a < e and b > s for a, b in persons)
        for a, b in persons:
            pred += 1
            good += any(a < e and b > s for s, e in r["ps"])
    return {"recall": hit / max(full, 1), "precision": good / max(pred, 1), "gold": full, "predicted": pred}


def two_syllables(span: str) -> bool:
    """The stricter count: every span of two or more Hangul syllables, titles included."""
    return len(re.findall(r"[가-힣]", span)) >= 2


def load_silver(shared: Path) -> list[dict]:
    """``eval/pii/ko_deid_silver_bio.txt``: Korean Wikipedia sentences, ``PER`` spans (silver
    labels: model-made, then rule-corrected), as the same rows as :func:`load_klue`. Nothing
    here was tuned on it: a held-out check of the Korean name rules."""
    rows = []
    for block in open(shared / "eval/pii/ko_deid_silver_bio.txt", encoding="utf-8").read().split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if len(lines) < 3:
            continue
        text, pos, spans, cur = lines[1], 0, [], None
        for line in lines[2:]:
            tok, _, tag = line.rpartition("\t")
            i = text.find(tok, pos) if tok else -1
            if i < 0:
                cur = None
                continue
            pos = i + len(tok)
            if tag == "B-PER" or (tag == "I-PER" and cur is None):
                if cur:
                    spans.append(cur)
                cur = (i, pos)
            elif tag == "I-PER":
                cur = (cur[0], pos)
            elif cur:
                spans.append(cur)
                cur = None
        if cur:
            spans.append(cur)
        rows.append({"text": text, "ps": spans})
    return rows


def _fmt(hits: tuple[int, int]) -> str:
    h, t = hits
    return f"{h / max(t, 1):.3f} ({h}/{t})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=os.environ.get("CORPUSMILL_SHARED_DATA", str(ROOT.parent / "shared/data")))
    ap.add_argument("--docs", type=int, default=2000, help="documents per language for the speed run")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--delivery-docs", type=int, default=300, help="documents per delivery in the per-source section")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per side in the speed section (best is kept)")
    ap.add_argument("--skip-baseline-recall", action="store_true", help="do not score the plain loop's recall")
    ap.add_argument(
        "--list-en-spans", action="store_true",
        help="print every PERSON span still masked in the English speeches, PubMed and finance deliveries (private people's "
        "names: for a hand check, not for a log kept in docs); default: counts only",
    )
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    ap.add_argument("--crf-names", action="store_true", help="our stage with the learned Korean name tagger on (option crf_names)")
    ap.add_argument("--speed-langs", default="ko,en", help="languages of the speed section (ko, en or both)")
    ap.add_argument("--options", default="{}", help='more options of our stage, as JSON (e.g. \'{"ner_context_words": 4}\')')
    args = ap.parse_args(argv)
    sections = set(args.sections.split(","))
    if sections - set(SECTIONS):
        ap.error(f"unknown section(s): {', '.join(sorted(sections - set(SECTIONS)))}")
    warnings.filterwarnings("ignore")
    shared = Path(args.shared)
    extra = json.loads(args.options)
    ours, ours_scrub = stage_detector(crf_names=args.crf_names, **extra)
    plain, plain_scrub = plain_detector()
    if args.crf_names:
        print("(our stage with crf_names: true)")
    if extra:
        print(f"(our stage with {extra})")

    if "deliveries" in sections:
        deliveries(args, shared, ours, ours_scrub)
    if "generated" in sections:
        generated(args, shared, ours, ours_scrub, plain)
    if "klue" in sections:
        klue_section(args, shared, ours, plain)
    if "english" in sections:
        english(args, shared, ours, plain)
    if "speed" in sections and not args.skip_speed:
        speed(args, shared, ours_scrub, plain_scrub)
    if "en_cost" in sections:
        english_cost(args, shared)
    return 0


SECTIONS = ("deliveries", "generated", "klue", "english", "speed", "en_cost")


#: The deliveries a config may declare public records (the ``pii`` stage's ``public_records``),
#: as pipelines/configs/shared-deliveries.yaml does: the bench prints their share both ways.
PUBLIC_RECORDS = {
    "en_gov_speeches": "addresses of US presidents (public domain): officials named in office",
    "en_scotus": "US Supreme Court opinion summaries: court records",
}

#: The English sources whose every masked PERSON span the bench lists with --list-en-spans (to
#: check them by hand; off by default: the spans are private people's names, and a bench log is
#: copied into docs and reviews — docs/pii.md names them by role and document instead).
LISTED_EN = ("en_gov_speeches", "en_pubmed", "ko_en_finance (English sentences)")


def declared_policy() -> dict:
    """The ``pii`` stage's public-record options in pipelines/configs/shared-deliveries.yaml
    (``public_records``, ``record_dates``, ``names_open_before``): the bench applies what the
    shared run declares, not a copy of it."""
    import yaml

    cfg = yaml.safe_load(open(ROOT / "pipelines/configs/shared-deliveries.yaml", encoding="utf-8"))
    stage = next(s for s in cfg["stages"] if isinstance(s, dict) and s.get("name") == "pii")
    return {k: stage.get(k) for k in ("public_records", "record_dates", "names_open_before")}


def speech_files(shared: Path, n: int) -> list[str]:
    """The speeches of :func:`delivery_sources` as ``source_file`` names (``inaugural/1841-Harrison.txt``), same order."""
    root = shared / "deliveries" / "en_gov_speeches"
    return [str(Path(f).relative_to(root)) for f in sorted(glob.glob(str(root / "*/*.txt")))][: max(n // 5, 1)]


def masked_by_policy(name: str, docs: Sequence[str], found, shared: Path, n: int) -> list[list[tuple[int, int]]]:
    """PERSON spans the declared public-record policy still masks in a delivery (the stage's own
    ``split_public_record`` and ``record_year``)."""
    from filters.pii import Found, record_year, split_public_record

    policy = declared_policy()
    pattern = (policy["record_dates"] or {}).get(name)
    files = speech_files(shared, n) if name == "en_gov_speeches" else [None] * len(docs)
    out = []
    for doc, spans, f in zip(docs, found, files):
        year = record_year(pattern, f)
        historical = year is not None and policy["names_open_before"] is not None and year < policy["names_open_before"]
        masked, _kept = split_public_record(doc, [Found(a, b, t, 1.0) for a, b, t in spans], historical=historical)
        out.append([(x.start, x.end) for x in masked if x.type == "PERSON"])
    return out


def deliveries(args, shared, ours, ours_scrub) -> None:
    print(f"== the deliveries: PERSON masks per source ({args.delivery_docs} documents each; statutes and bills whole)")
    for name, (lang, docs) in delivery_sources(shared, args.delivery_docs).items():
        found = ours(docs, lang)
        persons = [[(a, b) for a, b, t in spans if t == "PERSON"] for spans in found]
        n_spans = sum(map(len, persons))
        with_mask = sum(bool(p) for p in persons)
        line = f"   {name:34} {len(docs):5} docs, {n_spans:5} PERSON spans, docs with a PERSON mask {with_mask / max(len(docs), 1):6.1%}"
        if lang == "en":
            line += " (detector, no policy)"
            if name in PUBLIC_RECORDS:
                masked = masked_by_policy(name, docs, found, shared, args.delivery_docs)
                line += (
                    f"; with the public_records policy {sum(bool(p) for p in masked) / max(len(docs), 1):6.1%}"
                    f" ({sum(map(len, masked))} spans masked in {sum(bool(p) for p in masked)} documents,"
                    f" {n_spans - sum(map(len, masked))} names left in the text)"
                )
                persons = masked
        if lang == "ko":
            cuts = word_cuts(docs, found)
            line += f", spans cutting a word: {len(cuts)}" + (f" {cuts[:5]}" if cuts else "")
        print(line)
        if name in ("ko_statutes", "ko_bills") or (name in LISTED_EN and args.list_en_spans):
            for doc, spans in zip(docs, persons):
                for a, b in spans:
                    print(f"      {doc[max(0, a - 12):a]!r:>20} [{doc[a:b]}] {doc[b:b + 8]!r}")
        if name == "ko_statutes":
            print(f"   statutes: {n_spans} PERSON spans (target ≤ 3, each a real name)")
        if name == "ko_bills":
            scrubbed = [ours_scrub([d], "ko")[0] for d in docs if "임용대기자" in d]
            print(f"   bills: 임용대기자 kept whole: {all('임용대기자' in t for t in scrubbed)} ({len(scrubbed)} bills hold it)")



def generated(args, shared, ours, ours_scrub, plain) -> None:
    print("== generated Korean set (eval/generated/pii_ko.jsonl)")
    base_rows = load_generated(shared)
    for variant in ("dash", "dot", "space", "none"):
        rows = base_rows if variant == "dash" else load_generated(shared, variant)
        found = ours([r["text"] for r in rows], "ko")
        rec = recall_by_type(rows, found)
        neg = negatives_touched(rows, found)
        s_hits = sum(rec[t][0] for t in STRUCTURED if t in rec), sum(rec[t][1] for t in STRUCTURED if t in rec)
        print(f"-- separators: {variant}: structured recall {_fmt(s_hits)}; hard negatives touched {_fmt(neg)}")
        for t, h in rec.items():
            print(f"   {t:18} {_fmt(h)}")
    scrubbed = ours_scrub([r["text"] for r in base_rows], "ko")
    left = [r["text"][g["start"] : g["end"]] for r, t in zip(base_rows, scrubbed) for g in r["spans"] if r["text"][g["start"] : g["end"]] in t]
    print(f"-- values left in the scrubbed text (target 0): {len(left)} {left[:10]}")
    if not args.skip_baseline_recall:
        found = plain([r["text"] for r in base_rows], "ko")
        rec = recall_by_type(base_rows, found)
        print("-- plain presidio loop, same recognizers (dash): " + ", ".join(f"{t} {_fmt(h)}" for t, h in rec.items()))



def klue_section(args, shared, ours, plain) -> None:
    print("== KLUE NER dev, PS (eval/pii/ko_klue_ner_dev.tsv)")
    klue = load_klue(shared)
    found = ours([r["text"] for r in klue], "ko")
    k = klue_scores(klue, found)
    print(f"   ours: full-name recall {k['recall']:.3f} of {k['gold']}, precision {k['precision']:.3f} of {k['predicted']}  (targets ≥ 0.85, ≥ 0.90)")
    k2 = klue_scores(klue, found, two_syllables)
    print(f"   ours, every span of 2+ syllables (titles included, 김 선수): recall {k2['recall']:.3f} of {k2['gold']}")
    if not args.skip_baseline_recall:
        k = klue_scores(klue, plain([r["text"] for r in klue], "ko"))
        print(f"   plain loop: full-name recall {k['recall']:.3f}, precision {k['precision']:.3f}")
    for label, options in (
        ("corpus_names off (pii@7's rules)", {"corpus_names": False}),
        ("kiwi_names off", {"kiwi_names": False}),
        ("dictionary_names off", {"dictionary_names": False}),
        ("both off (role/title cues only)", {"kiwi_names": False, "dictionary_names": False}),
    ):
        if not args.crf_names:
            k = klue_scores(klue, stage_detector(**options)[0]([r["text"] for r in klue], "ko"))
            print(f"   ours, {label}: full-name recall {k['recall']:.3f}, precision {k['precision']:.3f}")
    if not args.crf_names:  # the rules alone are the teacher
        beyond_teacher(klue, found, "KLUE")
    silver = load_silver(shared)
    found = ours([r["text"] for r in silver], "ko")
    k = klue_scores(silver, found)
    print(
        f"== held-out check, never tuned on: Korean Wikipedia PER, silver labels (eval/pii/ko_deid_silver_bio.txt)\n"
        f"   ours: full-name recall {k['recall']:.3f} of {k['gold']}, precision {k['precision']:.3f} of {k['predicted']}"
        " (against silver labels; see docs/pii.md)"
    )
    if not args.crf_names:
        k = klue_scores(silver, stage_detector(corpus_names=False)[0]([r["text"] for r in silver], "ko"))
        print(f"   ours, corpus_names off (pii@7's rules): full-name recall {k['recall']:.3f}, precision {k['precision']:.3f} of {k['predicted']}")
        beyond_teacher(silver, found, "silver")


def beyond_teacher(rows: list[dict], found, label: str) -> None:
    """Does the learned tagger generalise beyond its teacher (the rules)? Its raw names (no gate)
    on gold full names the rules missed, and its raw names where neither rules nor gold have one."""
    from corpusmill_base.models import model_dir
    from filters.pii_recognizers import default_mecab, tokenize_mecab
    from filters.pii_recognizers.ko_crf import MODEL_NAME, NameTagger, accepted

    path = model_dir() / MODEL_NAME
    if not path.exists():
        print(f"   (no {MODEL_NAME} in the model cache: `make setup` builds it)")
        return
    tagger, mecab = NameTagger(path), default_mecab()
    missed = found_by_crf = gated = 0
    new_wrong = gated_wrong = 0
    right, wrong = [], []
    for r, spans in zip(rows, found):
        text = r["text"]
        rules = [(a, b) for a, b, t in spans if t == "PERSON"]
        morphs = tokenize_mecab(mecab, text)
        crf = [(s, e) for s, e, p in tagger.names(text, morphs) if p >= 0.5]
        for s, e in r["ps"]:
            if is_full_name(text[s:e]) and not any(a < e and b > s for a, b in rules):
                missed += 1
                hit = [(a, b) for a, b in crf if a < e and b > s]
                found_by_crf += bool(hit)
                if hit and any(accepted(text, morphs, a, b) for a, b in hit):
                    gated += 1
                    right.append(text[hit[0][0] : hit[0][1]])
        for a, b in crf:
            if not any(x < b and y > a for x, y in rules) and not any(s < b and e > a for s, e in r["ps"]):
                new_wrong += 1
                if accepted(text, morphs, a, b):
                    gated_wrong += 1
                    wrong.append(text[a:b])
    print(
        f"   learned tagger vs its teacher on {label}: of {missed} full names the rules miss, the raw CRF finds {found_by_crf} "
        f"({gated} pass the grammar/dictionary gate: {right[:6]}); it adds {new_wrong} spans that are no name "
        f"({gated_wrong} pass the gate: {wrong[:6]})"
    )



def english(args, shared, ours, plain) -> None:
    print("== presidio-research English set (eval/pii/en_presidio_synth_v2.json)")
    en = load_presidio_en(shared)
    found_en = ours([r["text"] for r in en], "en")
    rec = recall_by_type(en, found_en)
    found_plain = None if args.skip_baseline_recall else plain([r["text"] for r in en], "en")
    rec_plain = found_plain and recall_by_type(en, found_plain)
    for t, target in EN_TARGETS.items():
        line = f"   {t:14} ours {_fmt(rec.get(t, (0, 0)))}  target ≥ {target}"
        if rec_plain:
            line += f"   plain loop {_fmt(rec_plain.get(t, (0, 0)))}"
        print(line)
    prec = precision_by_type(en, found_en, ("PERSON", "PHONE_NUMBER"))
    prec_plain = found_plain and precision_by_type(en, found_plain, ("PERSON", "PHONE_NUMBER"))
    for t in prec:
        print(f"   {t:14} precision: ours {_fmt(prec[t])}" + (f"   plain loop {_fmt(prec_plain[t])}" if prec_plain else ""))



def english_deliveries(shared: Path) -> dict[str, list[str]]:
    """Every English text delivery as the pipeline reads it, one document per record or file
    (WikiText: one per article); not en_html (its reader extracts the text first)."""
    d = shared / "deliveries"
    out: dict[str, list[str]] = {}
    out["en_gov_speeches"] = [open(f, encoding="utf-8", errors="replace").read() for f in sorted(glob.glob(str(d / "en_gov_speeches/*/*.txt")))]
    out["en_web_lowq (6 files)"] = [open(f, encoding="utf-8", errors="replace").read() for f in sorted(glob.glob(str(d / "en_web_lowq/*.txt")))]
    with open(d / "en_web_lowq/sms_spam_collection.tsv", encoding="utf-8") as f:
        out["en_web_lowq (SMS)"] = [line.split("\t", 1)[1].strip() for line in f if "\t" in line]
    wiki = "".join(open(f, encoding="utf-8").read() for f in sorted(glob.glob(str(d / "en_wikitext/*.txt"))))
    out["en_wikitext"] = [a for a in re.split(r"\n(?= = [^=].* = \n)", wiki) if a.strip()]
    out["en_pubmed"] = delivery_sources_pubmed(d)
    with open(d / "ko_en_finance/finance_data.csv", encoding="utf-8") as f:
        out["ko_en_finance (English)"] = [r["sentence"] for r in csv.DictReader(f)]
    out["en_scotus"] = [r["opinion_summary"] for r in json.load(open(d / "en_scotus/SC_data.json", encoding="utf-8"))]
    return out


def delivery_sources_pubmed(d: Path) -> list[str]:
    """The PubMed delivery's abstracts (``id|a|text`` lines)."""
    docs = []
    for f in sorted(glob.glob(str(d / "en_pubmed/*.txt"))):
        for line in open(f, encoding="utf-8"):
            parts = line.rstrip("\n").split("|", 2)
            if len(parts) == 3 and parts[1] == "a":
                docs.append(parts[2])
    return docs


def english_cost(args, shared) -> None:
    """CPU seconds of the stage's English detection on every English delivery, spaCy's NER over
    whole documents (``ner_windows: false``, as ``pii@5``) against windows (``pii@6``), one
    process, alternating per delivery; with the spans each side finds. With ``--options``: the
    default stage against the stage with those options instead."""
    from filters.pii import PresidioScrubber

    extra = json.loads(args.options)
    if extra:
        print(f"== English PII CPU-seconds per delivery: the default stage vs {extra}")
        names = ("default", "options")
        sides = {"default": PresidioScrubber({}), "options": PresidioScrubber(extra)}
    else:
        print("== English PII CPU-seconds per delivery: NER on whole documents (pii@5's path) vs windows (pii@6)")
        names = ("whole", "windows")
        sides = {"whole": PresidioScrubber({"ner_windows": False}), "windows": PresidioScrubber({"ner_windows": True})}
    a, b = names
    for st in sides.values():
        st.ensure_setup()
        st.detect(["Warm up, Mary Smith."], ["en"])
    total = Counter()
    for name, docs in english_deliveries(shared).items():
        found, secs = {}, {}
        for side, st in sides.items():
            t0 = time.process_time()
            found[side] = [{(f.start, f.end, f.type) for f in spans} for i in range(0, len(docs), 32) for spans in st.detect(docs[i : i + 32], ["en"] * len(docs[i : i + 32]))]
            secs[side] = time.process_time() - t0
            total[side] += secs[side]
        lost = sum(len(x - y) for x, y in zip(found[a], found[b]))
        added = sum(len(y - x) for x, y in zip(found[a], found[b]))
        print(
            f"   {name:24} {len(docs):5} docs {sum(map(len, docs)) / 1e6:5.2f} M chars: {a} {secs[a]:6.1f} CPU-s, "
            f"{b} {secs[b]:6.1f} ({secs[a] / max(secs[b], 1e-9):.2f}x); spans {sum(map(len, found[a]))}, "
            f"only {a} {lost}, only {b} {added}"
        )
        if extra:
            for x, y, doc in zip(found[a], found[b], docs):
                for st_, en_, t in sorted(x ^ y)[:3]:
                    print(f"      only {a if (st_, en_, t) in x else b}: {doc[max(0, st_ - 20):st_]!r} [{doc[st_:en_]}] {doc[en_:en_ + 20]!r} {t}")
    print(f"   all: {a} {total[a]:.1f} CPU-s, {b} {total[b]:.1f} ({total[a] / max(total[b], 1e-9):.2f}x)")


def speed(args, shared, ours_scrub, plain_scrub) -> None:
    print(f"== speed: {args.docs} documents per language from the deliveries, one process (machine shared: see note)")
    kiwi_off = stage_detector(kiwi_names=False)[1], plain_detector(kiwi_names=False)[1]
    runs = [("ko", "Kiwi and dictionary names (default)", ours_scrub, plain_scrub), ("ko", "Kiwi names off", *kiwi_off),
            ("en", "spaCy NER", ours_scrub, plain_scrub)]
    docs_by_lang = {lang: load(shared, args.docs) for lang, load in (("ko", korean_docs), ("en", english_docs)) if lang in args.speed_langs.split(",")}
    # The evaluation sets' results stay alive in this process; a worker would not carry them.
    # Freezing them keeps Python's cyclic GC from re-scanning them during both timed loops.
    gc.collect()
    gc.freeze()
    for lang, label, ours_fn, plain_fn in runs:
        if lang not in args.speed_langs.split(","):
            continue
        docs = docs_by_lang[lang]
        chars = sum(map(len, docs))
        t_ours = t_plain = float("inf")
        for _ in range(args.repeat):  # alternate the two sides; best of each (less load noise)
            t0 = time.perf_counter()
            ours_fn(docs, lang)
            t_ours = min(t_ours, time.perf_counter() - t0)
            t0 = time.perf_counter()
            plain_fn(docs, lang)
            t_plain = min(t_plain, time.perf_counter() - t0)
        print(
            f"   {lang} [{label}]: {len(docs)} docs, {chars / 1e6:.2f} M chars: ours {len(docs) / t_ours:,.1f} docs/s, "
            f"plain presidio {len(docs) / t_plain:,.1f} docs/s, ratio {t_plain / t_ours:.2f}x"
        )


if __name__ == "__main__":
    sys.exit(main())
