"""``corpusmill quality``: train a fastText quality classifier and score documents with it.

    corpusmill quality train --config examples/pipeline.yaml \\
        --positive ko_statutes ko_bills en_speeches --negative ko_reviews --out models/q.bin
    corpusmill quality score shards/part-00000.parquet scored.parquet --model models/q.bin

A SRC is a source id of ``--config`` (read with that source's reader settings, then normalised)
or a file: ``.jsonl``/``.jsonl.gz`` (field ``text``), ``.parquet`` (column ``text``, e.g. a
corpusmill shard) or ``.txt`` (one document per line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from pipelines.cli_args import INT32_MAX, file_out, integer, number


def register(sub) -> None:
    q = sub.add_parser("quality", help="train and apply fastText quality classifiers")
    qsub = q.add_subparsers(dest="quality_command", required=True)

    t = qsub.add_parser("train", help="train a classifier: reference-quality sources vs noise sources")
    t.add_argument("--positive", nargs="+", required=True, metavar="SRC", help="reference-quality sources (config ids or files)")
    t.add_argument("--negative", nargs="+", required=True, metavar="SRC", help="noise sources (config ids or files)")
    t.add_argument("--out", required=True, metavar="MODEL", help="model file to write; the card goes next to it (MODEL.card.json)")
    t.add_argument("--config", help="pipeline config whose source ids SRC may name")
    t.add_argument("--per-class", type=integer(1), help="documents per class after balancing (default: the smaller class)")
    t.add_argument("--heldout", type=integer(1, 99), default=20, help="percent of documents held out for evaluation (default 20)")
    t.add_argument("--threshold", type=number(0, 1, open_low=False), default=0.5, help="default threshold written to the card (default 0.5)")
    t.add_argument("--chunk-chars", type=integer(0), default=0, help="split long documents into ~N-character paragraph chunks (0: off)")
    for name, default, least in (("epoch", 25, 1), ("dim", 32, 1), ("word-ngrams", 2, 1), ("bucket", 200000, 0), ("seed", 0, 0), ("min-count", 2, 1)):
        t.add_argument(f"--{name}", type=integer(least, INT32_MAX), default=default, help=f"fastText {name} (default {default})")
    t.add_argument("--lr", type=number(0), default=0.5, help="fastText learning rate (default 0.5)")
    t.set_defaults(func=cmd_train)

    s = qsub.add_parser("score", help="add quality_score to a Parquet or JSONL file")
    s.add_argument("input", help=".parquet or .jsonl[.gz] with a text column/field")
    s.add_argument("output", help=".parquet or .jsonl output (same rows plus quality_score)")
    s.add_argument("--model", required=True, help="model file (its card is read from next to it)")
    s.set_defaults(func=cmd_score)


def load_labelled(specs: list[str], label: int, config: str | None):
    """Documents of each SRC as LabelledDoc (source ids via the config, or files)."""
    from filters.ingest import FileTask, ingest_file
    from filters.normalize import Normalize
    from filters.quality_classifier import LabelledDoc
    from filters.readers import ReadOptions
    from corpusmill_base.errors import ConfigError, InputError

    plan = None
    if config:
        from pipelines import runner

        plan = runner.prepare(config)
    by_id = {sp.source.id: sp for sp in plan.sources} if plan else {}
    normalize = Normalize()
    docs: list[LabelledDoc] = []
    facts: dict[str, dict] = {}
    for spec in specs:
        if spec in by_id:
            sp = by_id[spec]
            tasks = [
                FileTask(sp.source.id, sp.index, i, f.url, f.rel, sp.source.lang, sp.source.domain, sp.options, f.refused, f.size, name=f.name)
                for i, f in enumerate(sp.files)
            ]
            facts[spec] = {"kind": "config source", "format": sp.source.format, "lang": sp.source.lang, "domain": sp.source.domain}
        else:
            path = Path(spec)
            if not path.is_file():
                known = f"; config sources: {', '.join(sorted(by_id))}" if by_id else " (pass --config to name config sources)"
                raise ConfigError(f"quality train: {spec!r} is neither a source id nor a file{known}")
            name = path.name
            fmt = "parquet" if name.endswith(".parquet") else "jsonl" if ".jsonl" in name else "txt" if name.endswith(".txt") else None
            if fmt is None:
                raise InputError(f"quality train: {spec}: expected .jsonl[.gz], .parquet or .txt")
            opts = ReadOptions(format=fmt, split="line")
            source_id = path.name.split(".")[0]
            tasks = [FileTask(source_id, 0, 0, str(path.resolve()), path.name, None, None, opts)]
            facts[source_id] = {"kind": "file", "path": str(path), "format": fmt}
        for task in tasks:
            for ib in ingest_file(task, 8192):
                batch = ib.documents
                if batch.num_rows == 0:
                    continue
                result = normalize.process(batch)
                texts = result.columns["text"].to_pylist()
                ids = batch.column("id").to_pylist()
                langs = batch.column("lang").to_pylist()
                for keep, doc_id, text, lang in zip(result.keep, ids, texts, langs):
                    if keep:
                        docs.append(LabelledDoc(doc_id, text, task.source_id, lang, label))
    return docs, facts


def cmd_train(args: argparse.Namespace) -> int:
    from filters.quality_classifier import TrainParams, chunk_document, train_classifier

    file_out(args.out)
    pos, pos_facts = load_labelled(args.positive, 1, args.config)
    neg, neg_facts = load_labelled(args.negative, 0, args.config)
    docs = [c for d in pos + neg for c in chunk_document(d, args.chunk_chars)]
    params = TrainParams(
        epoch=args.epoch, lr=args.lr, dim=args.dim, word_ngrams=args.word_ngrams, bucket=args.bucket,
        seed=args.seed, min_count=args.min_count,
    )
    result = train_classifier(
        docs, args.out, params, per_class=args.per_class, heldout_percent=args.heldout,
        threshold=args.threshold, sources={**pos_facts, **neg_facts},
    )
    card = result.card
    print(f"trained {result.model_path} (sha256 {card['sha256'][:16]}…) on {card['data']['balanced_per_class']} documents per class", file=sys.stderr)
    for lang, m in card["heldout_metrics"].items():
        print(
            f"  held-out {lang:>4}: n={m['n']:>6}  precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
            f"F1 {m['f1']:.3f}  ROC-AUC {m['roc_auc'] if m['roc_auc'] is not None else 'n/a'}",
            file=sys.stderr,
        )
    print(result.model_path)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from filters.quality_classifier import QualityClassifier
    from pipelines.stage_file import map_file, warn_quarantined

    stage = QualityClassifier({"model": args.model, "drop": False})
    res = map_file(stage, args.input, args.output, require=("text",), batch_rows=8192)
    warn_quarantined(args.input, res.quarantined)
    print(f"scored {res.rows_out:,} documents with {Path(args.model).name} → {args.output}", file=sys.stderr)
    return 0
