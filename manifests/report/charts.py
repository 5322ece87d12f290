"""Charts of a run report: matplotlib figures rendered to SVG text, from the figures' data.

Uses ``matplotlib.figure.Figure`` directly (no pyplot, so no global figure state and no GUI
backend); SVG output is deterministic (fixed hash salt, no date) and keeps text as text.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib.figure import Figure

from manifests.report.figures import ALL, INGEST

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

_RC: dict[RcKeyType, Any] = {
    "svg.hashsalt": "corpusmill",
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.family": ["DejaVu Sans", "sans-serif"],
}
KEPT, BEFORE, DROP, QUAR = "#2b7bba", "#9aa5b1", "#d1495b", "#f2c14e"
PALETTE = ["#d1495b", "#edae49", "#00798c", "#30638e", "#8f2d56", "#66a182", "#7b6d8d", "#c05746", "#3d5a80", "#98c1d9"]
#: Colours of dropping stages (warm, none close to the blue of "kept").
DROP_COLOURS = ["#d1495b", "#e07a27", "#8f2d56", "#b5838d", "#6d597a", "#c9a227", "#9e2a2b", "#e5989b"]


def _stage_colour(stages: list[str], stage: str) -> str:
    return DROP_COLOURS[stages.index(stage) % len(DROP_COLOURS)] if stage in stages else DROP


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: inlined into HTML


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_RC):
        return Figure(figsize=(width, height), layout="constrained")


def _grid(n: int, cols: int = 3) -> tuple[int, int]:
    cols = max(1, min(cols, n))
    return math.ceil(n / cols), cols


def _short(stage: str) -> str:
    return stage.split("@")[0]


def shrink_by_source(wf: dict[str, Any]) -> str:
    """Share of each source's records kept, dropped per stage, and quarantined (stacked bars)."""
    sources = [s for s in wf["sources"] if s != ALL] + [ALL]
    stages = [s for s in wf["stages"]]
    with matplotlib.rc_context(_RC):
        fig = _figure(8, 0.45 * len(sources) + 1.4)
        ax = fig.add_subplot()
        for y, src in enumerate(sources):
            d = wf["sources"][src]
            total = max(d["records_in"], 1)
            left = 0.0
            segs = [("kept", d["kept"], KEPT)]
            segs += [(f"dropped · {_short(st['stage'])}", st["dropped_total"], _stage_colour(stages, st["stage"]))
                     for st in d["steps"] if st["dropped_total"]]
            segs += [("quarantined", d["quarantined"], QUAR)]
            for label, n, color in segs:
                if not n:
                    continue
                w = 100.0 * n / total
                ax.barh(y, w, left=left, color=color, label=label, edgecolor="white", linewidth=0.5)
                left += w
            ax.text(101, y, f"{d['kept']:,}/{d['records_in']:,} kept", va="center", fontsize=8)
        ax.set_yticks(range(len(sources)), sources)
        ax.invert_yaxis()
        ax.set_xlim(0, 125)
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_xlabel("% of input records")
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles, strict=True))
        ordered = ["kept", *[f"dropped · {_short(s)}" for s in stages], "quarantined"]
        keys = [k for k in ordered if k in uniq]
        ax.legend([uniq[k] for k in keys], keys, loc="upper center", bbox_to_anchor=(0.5, -0.18 - 0.3 / len(sources)),
                  ncols=min(4, len(keys)), frameon=False, fontsize=8)
        return _svg(fig)


def waterfalls(wf: dict[str, Any]) -> str:
    """Per source: records in, each stage's drops as falling bars, records kept."""
    sources = [ALL] + [s for s in wf["sources"] if s != ALL]
    rows, cols = _grid(len(sources))
    with matplotlib.rc_context(_RC):
        fig = _figure(3.3 * cols, 2.6 * rows)
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax, src in zip(axes.flat, sources, strict=False):
            d = wf["sources"][src]
            labels, bottoms, heights, colors = ["input"], [0], [d["records_in"]], [BEFORE]
            level = d["records_in"]
            if d["quarantined"]:
                level -= d["quarantined"]
                labels.append("quarantine")
                bottoms.append(level)
                heights.append(d["quarantined"])
                colors.append(QUAR)
            for st in d["steps"]:
                if st["stage"] == INGEST and not st["dropped_total"]:
                    continue
                level -= st["dropped_total"]
                labels.append(_short(st["stage"]))
                bottoms.append(level)
                heights.append(st["dropped_total"])
                colors.append(_stage_colour(wf["stages"], st["stage"]))
            labels.append("kept")
            bottoms.append(0)
            heights.append(d["kept"])
            colors.append(KEPT)
            x = range(len(labels))
            ax.bar(x, heights, bottom=bottoms, color=colors)
            for xi, h, b in zip(x, heights, bottoms, strict=True):
                ax.text(xi, b + h, f"{h:,}", ha="center", va="bottom", fontsize=7)
            ax.set_xticks(list(x), labels, rotation=30, ha="right", fontsize=7)
            ax.set_title(src)
            ax.set_ylim(0, max(d["records_in"], 1) * 1.15)
        for ax in list(axes.flat)[len(sources):]:
            ax.set_visible(False)
        return _svg(fig)


def drop_reasons(reasons: list[dict[str, Any]], top: int = 20) -> str | None:
    agg: dict[tuple[str, str], int] = {}
    for r in reasons:
        k = (r["stage"], r["reason"] if r["outcome"] == "dropped" else f"{r['outcome']}: {r['reason']}")
        agg[k] = agg.get(k, 0) + r["documents"]
    if not agg:
        return None
    items = sorted(agg.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    stages = sorted({k[0] for k, _ in items})
    with matplotlib.rc_context(_RC):
        fig = _figure(7, 0.32 * len(items) + 1.0)
        ax = fig.add_subplot()
        for y, ((stage, reason), n) in enumerate(items):
            ax.barh(y, n, color=PALETTE[stages.index(stage) % len(PALETTE)])
            ax.text(n, y, f" {n:,}", va="center", fontsize=8)
        ax.set_yticks(range(len(items)), [f"{_short(s)} · {r}" for (s, r), _ in items])
        ax.invert_yaxis()
        ax.set_xlabel("documents")
        ax.margins(x=0.15)
        return _svg(fig)


def distributions(dist: dict[str, Any], edges: list[float], unit: str) -> str:
    """Per source: histogram of ``unit`` per document before (grey) and after (blue), log x."""
    sources = [ALL] + [s for s in dist if s != ALL]
    rows, cols = _grid(len(sources))
    with matplotlib.rc_context(_RC):
        fig = _figure(3.3 * cols, 2.4 * rows)
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax, src in zip(axes.flat, sources, strict=False):
            d = dist[src]
            ax.stairs(d["before"], edges, fill=True, color=BEFORE, alpha=0.6, label="before")
            ax.stairs(d["after"], edges, color=KEPT, linewidth=1.5, label="after (kept)")
            ax.set_xscale("log")
            nz = [i for i, c in enumerate(d["before"]) if c] or [0]
            ax.set_xlim(edges[max(nz[0] - 1, 0)], edges[min(nz[-1] + 2, len(edges) - 1)])
            med_b, med_a = d["before_summary"]["median"], d["after_summary"]["median"]
            ax.set_title(f"{src}\nmedian {med_b or 0:,.0f} → {med_a or 0:,.0f} {unit}", fontsize=9)
            ax.set_xlabel(f"{unit} per document")
        axes.flat[0].legend(fontsize=7, frameon=False)
        for ax in list(axes.flat)[len(sources):]:
            ax.set_visible(False)
        return _svg(fig)


def languages(lang: dict[str, Any], top: int = 8) -> str:
    kept = lang["kept"]
    totals: dict[str, int] = {}
    for per in kept.values():
        for k, n in per.items():
            totals[k] = totals.get(k, 0) + n
    labels = [k for k, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    sources = list(kept)
    with matplotlib.rc_context(_RC):
        fig = _figure(8, 0.42 * len(sources) + 1.4)
        ax = fig.add_subplot()
        for y, src in enumerate(sources):
            per = kept[src]
            total = max(sum(per.values()), 1)
            left = 0.0
            for i, k in enumerate([*labels, "other"]):
                n = per.get(k, 0) if k != "other" else sum(v for kk, v in per.items() if kk not in labels)
                if not n:
                    continue
                w = 100.0 * n / total
                ax.barh(y, w, left=left, color=PALETTE[i % len(PALETTE)], label=k, edgecolor="white", linewidth=0.5)
                left += w
        ax.set_yticks(range(len(sources)), sources)
        ax.invert_yaxis()
        ax.set_xlabel("% of kept documents")
        handles, names = ax.get_legend_handles_labels()
        uniq = dict(zip(names, handles, strict=True))
        ax.legend(uniq.values(), uniq.keys(), loc="upper center", bbox_to_anchor=(0.5, -0.25), ncols=min(6, len(uniq)),
                  frameon=False, fontsize=8)
        return _svg(fig)


def score_histogram(score: dict[str, Any]) -> str:
    edges = score["edges"]
    with matplotlib.rc_context(_RC):
        fig = _figure(7, 2.8)
        ax = fig.add_subplot()
        ax.stairs(score["kept"], edges, fill=True, color=KEPT, alpha=0.8, label="kept")
        if any(score["dropped"]):
            stacked = [k + d for k, d in zip(score["kept"], score["dropped"], strict=True)]
            ax.stairs(stacked, edges, baseline=score["kept"], fill=True, color=DROP, alpha=0.8, label="dropped (score in ledger)")
        top = ax.get_ylim()[1]
        for i, thr in enumerate(score.get("thresholds") or []):
            ax.axvline(thr["value"], color="black", linestyle="--" if i % 2 == 0 else ":", linewidth=1.2)
            label = f" {thr['option']}" + (f" ({thr['scope']})" if thr.get("scope") else "") + f" = {thr['value']:g}"
            ax.text(thr["value"], top * (0.95 - 0.1 * i), label, fontsize=8, va="top")
        ax.set_xlabel(score["column"] + (f"  (stage {score['stage']})" if score.get("stage") else ""))
        ax.set_ylabel("documents")
        ax.legend(fontsize=8, frameon=False, loc="upper left")
        return _svg(fig)


def cluster_sizes(stage: str, data: dict[str, Any]) -> str:
    dist = {int(k): v for k, v in data["size_distribution"].items()}
    sizes = sorted(dist)
    with matplotlib.rc_context(_RC):
        fig = _figure(6, 2.6)
        ax = fig.add_subplot()
        ax.bar(range(len(sizes)), [dist[s] for s in sizes], color=KEPT)
        ax.set_xticks(range(len(sizes)), [str(s) for s in sizes])
        ax.set_yscale("log")
        ax.set_xlabel("cluster size (documents, incl. the kept one)")
        ax.set_ylabel("clusters")
        ax.set_title(f"{stage}: {data['clusters']:,} clusters, {data['documents_dropped']:,} documents dropped")
        if len(sizes) > 20:
            ax.tick_params(axis="x", labelrotation=90, labelsize=6)
        return _svg(fig)


def counters(stage: str, by_source: dict[str, dict[str, int]]) -> str:
    names = sorted({n for per in by_source.values() for n in per})
    sources = list(by_source)
    with matplotlib.rc_context(_RC):
        fig = _figure(7, 0.32 * len(names) + 1.3)
        ax = fig.add_subplot()
        left = [0] * len(names)
        for i, src in enumerate(sources):
            vals = [by_source[src].get(n, 0) for n in names]
            ax.barh(range(len(names)), vals, left=left, color=PALETTE[i % len(PALETTE)], label=src)
            left = [a + b for a, b in zip(left, vals, strict=True)]
        for y, total in enumerate(left):
            ax.text(total, y, f" {total:,}", va="center", fontsize=8)
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
        ax.set_xlabel("count")
        ax.set_title(stage)
        ax.margins(x=0.15)
        ax.legend(fontsize=8, frameon=False, loc="lower right")
        return _svg(fig)


def throughput(rows: list[dict[str, Any]]) -> str:
    with matplotlib.rc_context(_RC):
        fig = _figure(7, 0.35 * len(rows) + 1.0)
        ax = fig.add_subplot()
        vals = [r["documents_per_second"] or 0 for r in rows]
        ax.barh(range(len(rows)), vals, color=KEPT)
        for y, r in enumerate(rows):
            ax.text(vals[y], y, f" {vals[y]:,.0f} docs/s · {r['seconds']:.2f} s", va="center", fontsize=8)
        ax.set_yticks(range(len(rows)), [r["stage"] for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel("documents per second (" + ("CPU seconds of the stage" if rows[0].get("clock") == "cpu" else "wall time spent in the stage") + ")")
        ax.margins(x=0.35)
        return _svg(fig)
