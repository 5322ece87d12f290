"""``corpusmill report ID --out DIR``: a run report (HTML with SVG charts + figures.json)."""

from __future__ import annotations

import argparse


def cmd_report(args: argparse.Namespace) -> int:
    from manifests.report import load_run, write_report
    from pipelines.cli_args import dir_out

    dir_out(args.out, "report.html and figures.json")
    run = load_run(args.id, catalog=args.catalog, verify=args.verify)
    paths = write_report(run, args.out)
    t = run.manifest["totals"]
    print(f"report for {run.manifest['id']} ({run.manifest['name']}): {t['records_in']:,} records in, {t['kept']:,} kept")
    print(paths["html"])
    print(paths["json"])
    return 0


def register(sub) -> None:
    r = sub.add_parser(
        "report",
        help="write a run report (HTML + figures.json)",
        description=(
            "Write DIR/report.html (charts inline as SVG) and DIR/figures.json (the data behind every chart) for a run: "
            "kept/dropped per source and stage, drop reasons, lengths and token estimates before/after, language mix, "
            "score histograms with thresholds, duplicate clusters, PII counts by type, throughput per stage. "
            "Sections appear when the run has their data. No document text is written."
        ),
    )
    r.add_argument("id", help="manifest ID in the catalog, or a run directory holding manifest.json")
    r.add_argument("--out", required=True, help="directory for report.html and figures.json")
    r.add_argument("--catalog", help="catalog URL (overrides $CORPUSMILL_CATALOG)")
    r.add_argument("--verify", action="store_true", help="check the shards' and ledger's sha256 against the manifest first")
    r.set_defaults(func=cmd_report)
