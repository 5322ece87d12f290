"""One self-contained HTML page from the figures and their SVG charts (no scripts, no network)."""

from __future__ import annotations

import html
from typing import Any

from manifests.report import charts
from manifests.report.figures import ALL

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;color:#1d2733;padding:0 16px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:32px;border-bottom:1px solid #d5dbe1;padding-bottom:4px}
h3{font-size:14px;margin:18px 0 6px} .meta{color:#5b6773;font-size:13px}
table{border-collapse:collapse;font-size:12px;margin:8px 0} th,td{padding:3px 8px;border-bottom:1px solid #e6eaee;text-align:right}
th{background:#f4f6f8} td:first-child,th:first-child{text-align:left} td.l{text-align:left}
.kpi{display:inline-block;margin:8px 18px 8px 0} .kpi b{display:block;font-size:20px}
.note{color:#5b6773;font-size:12px} figure{margin:8px 0} svg{max-width:100%;height:auto}
nav a{margin-right:12px;font-size:13px}
"""


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _n(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return f"{v:,}" if isinstance(v, int) else _e(v)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def _table(headers: list[str], rows: list[list[Any]], left: set[int] | None = None) -> str:
    left = left or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td{" class=l" if i in left else ""}>{c if isinstance(c, _Raw) else _n(c)}</td>'
                         for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Raw(str):
    """Already-escaped cell content."""


def _figure(svg: str | None, caption: str = "") -> str:
    if not svg:
        return ""
    cap = f"<figcaption class=note>{_e(caption)}</figcaption>" if caption else ""
    return f"<figure>{svg}{cap}</figure>"


def render(fig: dict[str, Any]) -> str:
    s = fig["sections"]
    parts: list[tuple[str, str, str]] = []  # (anchor, title, body)
    wf = s["waterfall"]

    shrink_rows = []
    for src, d in sorted(((k, v) for k, v in wf["sources"].items() if k != ALL),
                         key=lambda kv: (kv[1]["kept_share"] if kv[1]["kept_share"] is not None else 2, kv[0])):
        shrink_rows.append([src, d["records_in"], d["kept"], d["dropped"], d["quarantined"], _Raw(_pct(d["kept_share"])),
                            d["chars_in"], d["chars_kept"], _Raw(_pct(d["chars_kept_share"]))])
    d = wf["sources"][ALL]
    shrink_rows.append([_Raw(f"<b>{_e(ALL)}</b>"), d["records_in"], d["kept"], d["dropped"], d["quarantined"],
                        _Raw(_pct(d["kept_share"])), d["chars_in"], d["chars_kept"], _Raw(_pct(d["chars_kept_share"]))])
    body = _figure(charts.shrink_by_source(wf), "Share of each source's input records kept, dropped by each stage, quarantined.")
    body += "<h3>Which sources shrink most</h3>" + _table(
        ["source", "records in", "kept", "dropped", "quarantined", "kept %", "chars in", "chars kept", "chars kept %"],
        shrink_rows,
    )
    body += "<h3>Per stage, per source</h3>" + _figure(charts.waterfalls(wf))
    stage_rows = []
    for src, dd in wf["sources"].items():
        for st in dd["steps"]:
            if st["dropped_total"] or st.get("quarantined") or src == ALL:
                stage_rows.append([src, st["stage"], st["input"], st["dropped_total"], st["output"],
                                   _Raw(_e(", ".join(f"{r} {n:,}" for r, n in st["dropped"].items()) or "–"))])
    body += "<p class=note>Every stage for all sources; per source, the stages that dropped something.</p>"
    body += _table(["source", "stage", "in", "dropped", "out", "reasons"], stage_rows, left={5})
    parts.append(("waterfall", "Kept and dropped, per source and stage", body))

    if s["drop_reasons"]:
        rows = [[r["source_id"], r["stage"], r["outcome"], r["reason"], r["documents"]] for r in s["drop_reasons"]]
        body = _figure(charts.drop_reasons(s["drop_reasons"]), "Largest drop and quarantine reasons over all sources, and stages' notes on documents they kept (noted: mask, quote).")
        body += _table(["source", "stage", "outcome", "reason", "documents"], rows, left={1, 2, 3})
        parts.append(("reasons", "Drop reasons", body))

    if s["lengths"]:
        ln = s["lengths"]
        rows = []
        for src, d in ln["chars"].items():
            b, a = d["before_summary"], d["after_summary"]
            tb, ta = ln["tokens"][src]["before_summary"], ln["tokens"][src]["after_summary"]
            rows.append([src, b["documents"], a["documents"], b["median"], a["median"], b["p90"], a["p90"], tb["total"], ta["total"]])
        body = _figure(charts.distributions(ln["chars"], ln["edges"], "chars"),
                       "Characters per document: every document out of ingest (before) and the kept ones (after).")
        ratios = ", ".join(f"{k} {v:g}" for k, v in ln["chars_per_token"].items())
        body += _figure(charts.distributions(ln["tokens"], ln["edges"], "tokens"),
                        f"Estimated tokens per document (characters ÷ characters per token by language: {ratios}).")
        body += _table(["source", "docs before", "docs after", "median chars before", "after", "p90 chars before", "after",
                        "est. tokens before", "est. tokens after"], rows)
        parts.append(("lengths", "Length and token estimates, before and after", body))

    if s.get("tokens_exact"):
        te = s["tokens_exact"]
        rows = [[src, n] for src, n in te["by_source"].items()] + [[_Raw(f"<b>{_e(ALL)}</b>"), te["total"]]]
        rows += [[f"split {k}", n] for k, n in te.get("by_split", {}).items()]
        parts.append(("tokens", "Exact token counts (EOS included)", _table(["source", "tokens"], rows)))

    if s["languages"]:
        lg = s["languages"]
        note = ("detected by a language stage" if lg["detected"] else
                "no language-identification stage ran: these are the sources' configured hints")
        body = _figure(charts.languages(lg), f"Language of kept documents ({note}).")
        rows = [[src, _Raw(_e(", ".join(f"{k} {v:,}" for k, v in per.items())))] for src, per in lg["kept"].items()]
        body += _table(["source", "kept documents by language"], rows, left={1})
        if lg["dropped"]:
            rows = [[src, _Raw(_e(", ".join(f"{k} {v:,}" for k, v in per.items())))] for src, per in lg["dropped"].items()]
            body += "<h3>Dropped by language stages, by detected language</h3>" + _table(["source", "documents"], rows, left={1})
        parts.append(("languages", "Language mix", body))

    if s["scores"]:
        body = ""
        for sc in s["scores"]:
            thr = "; ".join(f"{t['option']}" + (f" ({t['scope']})" if t["scope"] else "") + f" = {t['value']:g}"
                            for t in sc["thresholds"])
            cap = (f"{sc['column']}: kept documents (blue)"
                   + (f", {sc['dropped_with_score']:,} dropped documents whose ledger detail names their score (red)" if sc["dropped_with_score"] else "")
                   + (f"; threshold {thr} (dashed)" if thr else "; no threshold option found on the stage"))
            body += f"<h3>{_e(sc['column'])}</h3>" + _figure(charts.score_histogram(sc), cap)
        parts.append(("scores", "Score histograms", body))

    if s["duplicates"]:
        body = ""
        for stage, d in s["duplicates"]["stages"].items():
            body += f"<h3>{_e(stage)}</h3>" + _figure(charts.cluster_sizes(stage, d))
            rows = [[_Raw(f"<code>{_e(c['cluster_id'])}</code>"), c["size"],
                     _Raw(_e(", ".join(f"{k} {v:,}" for k, v in c["dropped_by_source"].items()))), c["mean_chars"]]
                    for c in d["largest"]]
            body += "<p class=note>Largest clusters (the id is the kept document's id or the stage's cluster id):</p>"
            body += _table(["cluster", "size", "dropped by source", "mean chars of dropped"], rows, left={0, 2})
        parts.append(("duplicates", "Duplicate clusters", body))

    if s["counters"]:
        body = ""
        for stage, c in s["counters"].items():
            title = f"PII found by type — {stage}" if c["pii"] else f"Counters — {stage}"
            body += f"<h3>{_e(title)}</h3>" + _figure(charts.counters(stage, c["by_source"]))
        title = "PII counts by type" if any(c["pii"] for c in s["counters"].values()) else "Stage counters"
        parts.append(("counters", title, body))

    if s["throughput"]:
        rows = [[r["stage"], r["seconds"], r["documents_in"], r["documents_per_second"], r["mchars_per_second"]]
                for r in s["throughput"]]
        body = _figure(charts.throughput(s["throughput"]))
        clock = "CPU seconds" if s["throughput"][0].get("clock") == "cpu" else "wall seconds"
        body += _table(["stage", clock, "documents in", "docs/s", "M chars/s"], rows)
        body += ("<p class=note>CPU seconds of each stage on its own thread, summed over processes (library worker threads not "
                 "counted; from the manifest's run block).</p>" if s["throughput"][0].get("clock") == "cpu" else
                 "<p class=note>Wall time inside each stage on this run's machine, summed over processes (from the manifest's run "
                 "block; it includes waiting for a core on a busy machine).</p>")
        parts.append(("throughput", "Throughput per stage", body))

    t = fig["totals"] or {}
    kpis = "".join(f"<span class=kpi>{_e(k.replace('_', ' '))}<b>{_n(t.get(k))}</b></span>"
                   for k in ("records_in", "kept", "dropped", "quarantined"))
    nav = "".join(f'<a href="#{a}">{_e(title)}</a>' for a, title, _ in parts)
    sections = "".join(f'<section id="{a}"><h2>{_e(title)}</h2>{b}</section>' for a, title, b in parts)
    title = f"corpusmill run report — {fig['name']} ({fig['manifest_id']})"
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Run report: {_e(fig['name'])}</h1>"
        f"<div class=meta>manifest <code>{_e(fig['manifest_id'])}</code> · created {_e(fig['created_at'])} · "
        f"stages: {_e(' → '.join(fig['stages']))}</div>"
        f"<div>{kpis}</div><nav>{nav}</nav>{sections}"
        "<p class=note>Generated by <code>corpusmill report</code> from the manifest, the ledger and the shards' "
        "non-text columns; figures.json next to this file holds the data behind every chart. No document text appears here.</p>"
        "</body></html>\n"
    )
