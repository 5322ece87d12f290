"""``corpusmill tokenize``, ``corpusmill tokenizer train`` and ``corpusmill mix``: from an approved
curated manifest to Megatron-ready token datasets and blends (derived manifests; see
docs/training.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pipelines.cli_args import INT32_MAX, dir_out, file_out, integer


def _tokens_report(m: dict) -> None:
    from manifests.derived import token_lines

    for line in token_lines(m):
        print(line)


def cmd_tokenize(args: argparse.Namespace) -> int:
    if args.workers:  # HF tokenizers' Rayon pool reads this once, before its first parallel call
        os.environ["RAYON_NUM_THREADS"] = str(args.workers)
    from pipelines.tokenize import tokenize

    from manifests.review import NotApproved

    if args.out:
        dir_out(args.out, "the tokenized dataset's files")
    try:
        r = tokenize(args.id, args.tokenizer, catalog=args.catalog, out=args.out, dtype=args.dtype,
                     allow_unapproved=args.allow_unapproved, eos=args.eos, bos=args.bos, add_bos=args.add_bos,
                     engine=args.engine, log=(lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr)),
                     dry_run=args.dry_run)
    except NotApproved as e:  # name the flag, not the Python keyword
        raise e.for_cli() from None
    if args.dry_run:
        o = r["options"]
        print(f"dry run — nothing written. tokenize {r['parent']} ({r['state']}) would write {r['out_dir']}:")
        print(f"  tokenizer sha256 {r['tokenizer_sha256'][:12]}…, vocabulary {r['vocab_size']:,} → {o['dtype']}; EOS {o['eos_token']!r}"
              + (f", BOS {o['bos_token']!r} prepended" if o["bos_token"] else "") + "; " + "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in o["special_token_policy"].items()))
        print(f"  {sum(r['documents'].values()):,} documents in {r['shards']} shard(s), one Megatron dataset per source: "
              + ", ".join(f"{s} {n:,}" for s, n in r["documents"].items()))
        print(f"  engine {r['engine']}" + (f"; would resume at shard {r['resume_at_shard'] + 1}" if r["resume_at_shard"] else ""))
        return 0
    if args.quiet:  # only the ID, as `run -q`
        print(r.id)
        return 0
    secs = max(r.seconds, 1e-9)
    print(f"tokenized {args.id} → {r.out_dir}: {r.documents:,} documents, {r.manifest['tokens']['total']:,} tokens "
          f"in {r.seconds:.1f} s ({r.manifest['tokens']['total'] / secs:,.0f} tokens/s)"
          + (f", resumed at shard {r.resumed_from_shard + 1}" if r.resumed_from_shard else ""))
    _tokens_report(r.manifest)
    print(r.id)
    return 0


def cmd_tokenizer_train(args: argparse.Namespace) -> int:
    from pipelines.tokenizer_train import render, train

    from manifests.review import NotApproved

    file_out(args.out)
    try:
        report = train(args.id, args.vocab_size, args.out, catalog=args.catalog, special_tokens=args.special_token or None,
                       sample_chars=args.sample_chars, compare=args.compare, allow_unapproved=args.allow_unapproved)
    except NotApproved as e:
        raise e.for_cli() from None
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else render(report))
    return 0


def cmd_mix(args: argparse.Namespace) -> int:
    from pipelines.mix import mix

    if args.out:
        dir_out(args.out, "the blend's files")
    r = mix(args.config, catalog=args.catalog, out=args.out, allow_unapproved=args.allow_unapproved, dry_run=args.dry_run)
    if args.dry_run:
        sources = f"{len(r['sources'])} source" + ("s" if len(r["sources"]) != 1 else "")
        print(f"mix {args.config}: valid; {r['inputs']} input(s) ({sources}) pass the legal gate; "
              f"{r['train_tokens']:,} train tokens; input files verified; dry run: nothing written")
        return 0
    if not args.quiet:
        _tokens_report(r.manifest)
    print(r.id)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("tokenize", help="tokenize a curated manifest into Megatron datasets (a derived manifest)",
                       description="Tokenize manifest ID with a Hugging Face tokenizer.json; the last stdout line is the new manifest ID.")
    t.add_argument("id", help="an approved curated manifest ID (cm-…)")
    t.add_argument("--tokenizer", required=True, help="a tokenizer.json, or a folder holding one (as shipped with open models)")
    t.add_argument("--catalog", help="catalog URL (overrides $CORPUSMILL_CATALOG)")
    t.add_argument("--out", help="working/output directory (default runs/tokenize/ID-KEY); a rerun there resumes")
    t.add_argument("--engine", choices=["local", "ray"], default="local", help="where shards are tokenized (same bytes and ID on both)")
    t.add_argument("--workers", type=integer(1), help="tokenizer threads (default: all cores)")
    t.add_argument("--dtype", choices=["auto", "uint16", "int32"], default="auto", help="token dtype in .bin (auto: uint16 when the vocabulary fits)")
    t.add_argument("--eos", help="EOS token (default: from tokenizer_config.json or a known name)")
    t.add_argument("--bos", help="BOS token (default: from tokenizer_config.json or a known name)")
    t.add_argument("--add-bos", action="store_true", help="prepend BOS to every document (as the model was trained)")
    t.add_argument("--allow-unapproved", action="store_true", help="tokenize a manifest no reviewer approved (recorded)")
    t.add_argument("--dry-run", action="store_true", help="check the manifest, its approval, the tokenizer and --out; print what would be written")
    t.set_defaults(func=cmd_tokenize)

    tk = sub.add_parser("tokenizer", help="train a tokenizer on a manifest's text")
    tsub = tk.add_subparsers(dest="tokenizer_command", required=True)
    tr = tsub.add_parser("train", help="byte-level BPE on a deterministic sample, with a fertility report")
    tr.add_argument("id", help="the curated manifest ID whose text is sampled")
    tr.add_argument("--vocab-size", type=integer(1, INT32_MAX), required=True, help="vocabulary size of the byte-level BPE")
    tr.add_argument("--out", required=True, help="tokenizer.json to write (tokenizer_config.json goes beside it)")
    tr.add_argument("--special-token", action="append", default=[], help="special token (repeatable; the first is EOS; default <|endoftext|> <|pad|>)")
    tr.add_argument("--sample-chars", type=integer(1), default=20_000_000, help="characters of text to train on (default 20M)")
    tr.add_argument("--compare", action="append", default=[], help="another tokenizer.json (or folder) to report fertility for")
    tr.add_argument("--json", action="store_true", help="print the fertility report as JSON")
    tr.add_argument("--catalog", help="catalog URL (overrides $CORPUSMILL_CATALOG)")
    tr.add_argument("--allow-unapproved", action="store_true", help="train on a manifest that is not approved")
    tr.set_defaults(func=cmd_tokenizer_train)

    mx = sub.add_parser("mix", help="blend tokenized manifests (weights or epochs, validation/test split) into a blend manifest",
                        description="Build the blend described by MIX.yaml; the last stdout line is the blend manifest ID.")
    mx.add_argument("config", help="the mix file (YAML): name, purpose, inputs, validation/test")
    mx.add_argument("--catalog", help="catalog URL (overrides $CORPUSMILL_CATALOG)")
    mx.add_argument("--out", help="output directory (default runs/mix/NAME)")
    mx.add_argument("--allow-unapproved", action="store_true", help="mix inputs no reviewer approved (recorded in the manifest)")
    mx.add_argument("--dry-run", action="store_true", help="validate the file and the legal gate, write nothing")
    mx.set_defaults(func=cmd_mix)
