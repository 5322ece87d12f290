"""Build the dedup benchmark corpus from ../shared/data/deliveries (JSON lines: id, text).

All NSMC reviews plus every other delivery (statutes, bills, KorQuAD, news, finance, medical
Q&A, comments, WikiText, PubMed, SCOTUS, speeches, web text/SMS, HTML pages with tags
stripped). That is ~80 MB of text; to reach ``--min-mb`` (default 100) the builder appends
"re-published" copies of the longer documents (deterministic 3 % word edits plus a boilerplate
line), the kind of near-duplicate the stage exists to remove. Lines are shuffled with a fixed
seed so that any prefix has the same mix (the scaling table uses prefixes).

    .venv/bin/python bench/build_dedup_corpus.py --out /tmp/dedup_corpus.jsonl
"""

from __future__ import annotations

import argparse
import csv
import glob
import gzip
import html
import json
import os
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path

SHARED = Path(os.environ.get("CORPUSMILL_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data" / "deliveries"
_TAG = re.compile(r"<[^>]+>")
_WS = re.compile(r"[ \t]+")


def documents(root: Path = SHARED) -> Iterator[tuple[str, str]]:
    with gzip.open(root / "ko_reviews_nsmc/nsmc_reviews.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            yield r["id"], r["text"] or ""
    for p in sorted(glob.glob(str(root / "ko_statutes/*.jsonl"))):
        for line in open(p, encoding="utf-8"):
            r = json.loads(line)
            yield f"statute-{r['id']}", r["text"]
    for p in sorted(glob.glob(str(root / "ko_bills_cp949/*.txt"))):
        yield f"bill-{Path(p).stem}", open(p, encoding="cp949", errors="replace").read()
    data = json.load(open(root / "ko_korquad/KorQuAD_v1.0_dev.json", encoding="utf-8"))
    for i, art in enumerate(data["data"]):
        for j, para in enumerate(art["paragraphs"]):
            yield f"korquad-{i}-{j}", para["context"]
    for p in sorted(glob.glob(str(root / "ko_news/*"))):
        for i, line in enumerate(open(p, encoding="utf-8")):
            yield f"news-{Path(p).suffix}-{Path(p).stem}-{i}", line.strip()
    with open(root / "ko_en_finance/finance_data.csv", encoding="utf-8") as f:
        for i, r in enumerate(csv.DictReader(f)):
            yield f"fin-en-{i}", r["sentence"]
            yield f"fin-ko-{i}", r["kor_sentence"]
    with open(root / "ko_medical_qa/KQMA_kor_v1_dev.csv", encoding="utf-8") as f:
        for i, r in enumerate(csv.DictReader(f)):
            yield f"medqa-{i}", f"{r['Q']}\n{r['A']}"
    for i, line in enumerate(open(root / "ko_comments/unlabeled_comments_5.txt", encoding="utf-8")):
        yield f"comment-{i}", line.strip()
    for p in sorted(glob.glob(str(root / "en_wikitext/*.txt"))):
        art, title = [], None
        for line in open(p, encoding="utf-8"):
            m = re.match(r"^ = ([^=].*) = $", line.rstrip("\n"))
            if m:
                if title and art:
                    yield f"wiki-{title}", "".join(art)
                title, art = m.group(1), []
            elif title:
                art.append(line)
        if title and art:
            yield f"wiki-{title}", "".join(art)
    for p in sorted(glob.glob(str(root / "en_pubmed/*.txt"))):
        cur: dict[str, str] = {}
        for line in open(p, encoding="utf-8"):
            parts = line.rstrip("\n").split("|", 2)
            if len(parts) == 3 and parts[1] in ("t", "a"):
                cur[parts[1]] = parts[2]
                if parts[1] == "a":
                    yield f"pubmed-{Path(p).stem}-{parts[0]}", cur.get("t", "") + "\n" + parts[2]
    for i, r in enumerate(json.load(open(root / "en_scotus/SC_data.json", encoding="utf-8"))):
        yield f"scotus-{i}", r.get("opinion_summary") or ""
    for p in sorted(glob.glob(str(root / "en_gov_speeches/*/*.txt"))):
        yield f"speech-{Path(p).parent.name}-{Path(p).stem}", open(p, encoding="utf-8", errors="replace").read()
    for p in sorted(glob.glob(str(root / "en_web_lowq/*.txt"))):
        for i, line in enumerate(open(p, encoding="utf-8", errors="replace")):
            yield f"web-{Path(p).stem}-{i}", line.strip()
    for i, line in enumerate(open(root / "en_web_lowq/sms_spam_collection.tsv", encoding="utf-8", errors="replace")):
        yield f"sms-{i}", line.split("\t", 1)[-1].strip()
    for line in open(root / "en_html/pages.jsonl", encoding="utf-8"):
        r = json.loads(line)
        text = html.unescape(_TAG.sub(" ", r["html"]))
        yield f"html-{r['id']}", "\n".join(_WS.sub(" ", ln).strip() for ln in text.splitlines() if ln.strip())


def republish(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(max(1, len(words) * 3 // 100)):
        i = rng.randrange(len(words))
        op = rng.random()
        if op < 0.34:
            words[i] = words[i][::-1]
        elif op < 0.67 and len(words) > 1:
            del words[i]
        else:
            words.insert(i, words[rng.randrange(len(words))])
    return "[재게시 Republished] " + " ".join(words) + "\n저작권자 © 무단전재 및 재배포 금지"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--min-mb", type=float, default=100)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    seen: dict[str, int] = {}
    docs = []
    for i, t in documents():
        if t:  # ids must be unique: WikiText has repeated titles, PubMed repeated PMIDs
            seen[i] = seen.get(i, 0) + 1
            docs.append((i if seen[i] == 1 else f"{i}#{seen[i]}", t))
    size = sum(len(t.encode()) for _, t in docs)
    base_docs = len(docs)
    long_docs = [d for d in docs if len(d[1]) >= 200]
    k = 0
    while size < args.min_mb * 1e6:
        i, t = long_docs[k % len(long_docs)]
        copy = republish(t, rng)
        docs.append((f"{i}-repub{k // len(long_docs)}", copy))
        size += len(copy.encode())
        k += 1
    rng.shuffle(docs)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for i, t in docs:
            f.write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")
    os.replace(tmp, args.out)
    print(f"{args.out}: {len(docs):,} documents ({base_docs:,} delivered + {k:,} re-published copies), {size / 1e6:.1f} MB of text", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
