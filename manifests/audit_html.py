"""Render an audit (:func:`manifests.audit.collect`) as one self-contained HTML page.

No external assets: styles inline, charts as inline SVG, no scripts. Every value is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

KEPT, DROPPED, QUARANTINED = "#2b7bba", "#d1495b", "#e0a526"
CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI','Noto Sans KR',sans-serif;margin:2em auto;max-width:1100px;color:#1d232b;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #d8dee6;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:.92em;width:100%}
th,td{border:1px solid #d8dee6;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#eef2f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37;font-weight:600}.bad{color:#b42318;font-weight:600}.warn{color:#9a6700;font-weight:600}.muted{color:#5d6b7a}
.state{display:inline-block;padding:.1em .6em;border-radius:1em;background:#eef2f6;font-weight:600}
.note{background:#fff6e0;border-left:4px solid #e0a526;padding:.5em .8em}
code{font-size:.9em;background:#f3f5f8;padding:0 .2em}
"""


def _cell(v: Any) -> str:
    if v is None or v == "":
        return '<td class="muted">—</td>'
    if isinstance(v, bool):
        return f"<td>{'yes' if v else 'no'}</td>"
    if isinstance(v, int | float):
        return f'<td class="n">{v:,}</td>'
    if isinstance(v, list):
        return f"<td>{escape(', '.join(map(str, v))) or '—'}</td>"
    if isinstance(v, dict):
        return f"<td>{escape(', '.join(f'{k}: {x}' for k, x in v.items())) or '—'}</td>"
    return f"<td>{escape(str(v))}</td>"


def table(tid: str, rows: list[dict[str, Any]], columns: list[tuple[str, str]], empty: str = "none") -> str:
    if not rows:
        return f'<p id="{tid}" class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(label)}</th>" for _, label in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(k)) for k, _ in columns) + "</tr>" for r in rows)
    return f'<table id="{tid}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def stacked_bars(rows: list[dict[str, Any]], label: str, parts: list[tuple[str, str, str]], title: str) -> str:
    """Horizontal stacked bars, one per row; ``parts`` = (key, legend, colour)."""
    width, left, bar_h, gap = 760, 170, 18, 8
    total_max = max((sum(r[k] for k, _, _ in parts) for r in rows), default=0) or 1
    height = 40 + len(rows) * (bar_h + gap)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 120}" height="{height}" role="img" aria-label="{escape(title)}">',
           f'<text x="0" y="14" font-size="13" font-weight="600">{escape(title)}</text>']
    for i, (_, legend, colour) in enumerate(parts):
        out.append(f'<rect x="{left + i * 140}" y="22" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{left + 14 + i * 140}" y="31" font-size="11">{escape(legend)}</text>')
    for j, r in enumerate(rows):
        y = 40 + j * (bar_h + gap)
        out.append(f'<text x="{left - 6}" y="{y + 13}" font-size="11" text-anchor="end">{escape(str(r[label]))}</text>')
        x = float(left)
        for key, legend, colour in parts:
            w = (width - left) * r[key] / total_max
            if w > 0:
                out.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" fill="{colour}"><title>{escape(legend)}: {r[key]:,}</title></rect>')
            x += w
        total = sum(r[k] for k, _, _ in parts)
        out.append(f'<text x="{x + 4:.1f}" y="{y + 13}" font-size="11">{total:,}</text>')
    out.append("</svg>")
    return "".join(out)


def _verdict(integ: dict[str, Any]) -> str:
    """One verdict on integrity: verified and signed, verified but unsigned, or failed (with why)."""
    if not integ["verified"]:
        return '<span class="bad" id="verdict">VERIFICATION FAILED</span><ul>' + "".join(f"<li>{escape(p)}</li>" for p in integ["problems"]) + "</ul>"
    if integ["signed"]:
        return '<span class="ok" id="verdict">verified: producer signature, review chain and every file</span>'
    return ('<span class="warn" id="verdict">files and review chain verified; the manifest carries no producer signature '
            "(published without a signing key: sign it with <code>corpusmill manifest sign</code>)</span>")


def _built_from(b: dict[str, Any] | None) -> str:
    """A derived manifest's parents, and a warning naming every ancestor taken down or revoked."""
    if not b:
        return ""
    out = f"<p id='built-from'>Built from {escape(', '.join(b['parents']))}.</p>"
    for h in b["affected_by"]:
        what = f"taken down ({h['state']}; successor {h['successor']})" if h["successor"] else "revoked"
        out += (f"<p class='bad' id='affected'>Built from {escape(h['ancestor'])}, which was {escape(what)}: "
                "pull and the loaders refuse this manifest.</p>")
    return out


def render(a: dict[str, Any]) -> str:
    m, integ = a["manifest"], a["integrity"]
    state_cls = "ok" if integ["state"] == "approved" else "bad"
    verified = _verdict(integ)
    t = m["totals"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Audit report {escape(m['id'])}</title><style>{CSS}</style></head><body>",
        f"<h1>Audit report: {escape(m['name'])} <code>{escape(m['id'])}</code></h1>",
        f"<p>State: <span class='state {state_cls}' id='state'>{escape(integ['state'])}</span> · {verified}</p>",
        _built_from(a.get("built_from")),
        f"<p class='muted'>Created {escape(str(m['created_at']))} by {escape(str(m['code_version']))}; config {escape(str(m['config_digest']))}; "
        f"{m['shards']} shard(s).</p>",
        f"<p><b>{t['records_in']:,}</b> records in → <b>{t['kept']:,}</b> kept, {t['dropped']:,} dropped, {t['quarantined']:,} quarantined.</p>",
        "<h2>Purpose and policy</h2>",
        f"<p id='purpose'><b>Purpose:</b> {escape(a['purpose']['description'])}<br><b>Uses needed:</b> {escape(', '.join(a['purpose']['uses']))}</p>",
        table("policy", a["policy"], [("source_id", "source"), ("status", "decision"), ("reason", "why"), ("permitted_uses", "permitted uses")]),
    ]
    pc = a["policy_config"]
    if pc["exclude"] or pc["accept_unknown_licence"]:
        rows = [{"source": k, "kind": "excluded", "why": v} for k, v in pc["exclude"].items()]
        rows += [{"source": k, "kind": "unknown licence accepted", "why": v} for k, v in pc["accept_unknown_licence"].items()]
        parts.append(table("policy-config", rows, [("source", "source"), ("kind", "config decision"), ("why", "stated reason")]))
    parts += [
        "<h2>Sources</h2>",
        table("sources", a["sources"], [
            ("id", "source"), ("status", "status"), ("licensor", "licensor / owner"), ("acquisition", "acquisition"),
            ("licence", "licence"), ("contract", "contract"), ("permitted_uses", "permitted uses"), ("expires", "expires"),
            ("attribution", "attribution"), ("files", "files"), ("bytes", "bytes"), ("takedown", "taken down"),
        ]),
        "<h2>Records per source</h2>",
        stacked_bars(a["outcomes"], "source", [("kept", "kept", KEPT), ("dropped", "dropped", DROPPED), ("quarantined", "quarantined", QUARANTINED)],
                     "Records per source"),
        table("outcomes", a["outcomes"], [("source", "source"), ("records_in", "records in"), ("kept", "kept"), ("dropped", "dropped"), ("quarantined", "quarantined")]),
        "<h3>Dropped, by stage and reason</h3>",
        table("drops", a["drops"], [("source", "source"), ("stage", "stage"), ("reason", "reason"), ("documents", "documents")], "nothing was dropped"),
        "<h3>Quarantined (unreadable records)</h3>",
        table("quarantine", a["quarantine"], [("source", "source"), ("reason", "reason"), ("documents", "documents")], "nothing was quarantined"),
        "<h3>Stages in order</h3>",
        table("stage-stats", [dict(s, dropped=sum(s.get("dropped", {}).values())) for s in a["stage_stats"]],
              [("stage", "stage"), ("input", "in"), ("dropped", "dropped"), ("output", "out")]),
        "<h2>Personal data</h2>",
    ]
    pii = a["pii"]
    if pii["note"]:
        parts.append(f"<p class='note' id='pii-note'>{escape(pii['note'])}</p>")
    parts.append(table("pii-treatment", pii["stages"],
                       [("key", "stage"), ("options", "treatment (stage options; unset ones take the stage's defaults)"),
                        ("engines", "detection engines")], "no PII stage"))
    if pii["found"]:
        by_type: dict[str, int] = {}
        for r in pii["found"]:
            by_type[r["type"]] = by_type.get(r["type"], 0) + r["count"]
        parts.append(stacked_bars([{"type": k, "n": v} for k, v in sorted(by_type.items(), key=lambda kv: -kv[1])], "type",
                                  [("n", "found", DROPPED)], "Personal data found, by type"))
    parts.append(table("pii", pii["found"], [("source", "source"), ("stage", "stage"), ("type", "type"), ("count", "found")], "no personal data counted"))
    if a["other_counters"]:
        parts += ["<h3>Other stage counters</h3>",
                  table("counters", a["other_counters"], [("source", "source"), ("stage", "stage"), ("counter", "counter"), ("count", "count")])]
    nd = a["near_duplicates"]
    parts += [
        "<h2>Model artifacts</h2>",
        table("models", a["models"], [("name", "model"), ("sha256", "sha256"), ("origin", "origin"), ("licence", "licence")], "no model files were used"),
        "<h2>Duplicates across sources</h2>",
        f"<p>{nd['clusters']:,} duplicate cluster(s); {nd['cross_source_clusters']:,} span more than one source.</p>",
        table("near-duplicates", nd["pairs"], [("dropped_from", "dropped from source"), ("kept_in", "kept copy in source"), ("stage", "stage"), ("documents", "documents")], "no duplicates"),
        table("cross-source-clusters", nd["top"], [("cluster", "cluster"), ("documents", "documents"), ("sources", "sources"), ("stage", "stage")], "no cluster spans two sources"),
        "<h2>Sample of dropped documents</h2>",
        f"<p class='muted'>{escape(a['dropped_sample']['note'])}</p>",
        table("dropped-sample", a["dropped_sample"]["documents"],
              [("source_id", "source"), ("source_file", "file"), ("source_locator", "record"), ("stage", "stage"), ("reason", "reason"), ("text", "text (masked)")]),
        "<h2>Review history</h2>",
        table("reviews", a["reviews"], [("seq", "#"), ("action", "action"), ("to_state", "new state"), ("reviewer", "reviewer"), ("time", "time (UTC)"),
                                        ("comment", "comment"), ("key_id", "signing key"), ("successor", "successor")], "not reviewed yet (draft)"),
        "<h2>Lineage</h2>",
        table("lineage", [dict(r, takedown=(r["takedown"] or {}).get("reason")) for r in a["lineage"]],
              [("id", "manifest"), ("state", "state"), ("created_at", "created"), ("documents", "documents"), ("predecessor", "predecessor"), ("takedown", "takedown reason")]),
        "</body></html>",
    ]
    return "\n".join(parts)
