"""The report's plots, as PNG bytes, from a results document (see results.py).

Figures are built with matplotlib's object API and its Agg canvas (no pyplot, no display).
Each function returns None when the run produced no data for its plot.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from matplotlib.figure import Figure

from fixynn.report.results import PAPER_POINTS

Results = dict[str, Any]
BUDGET_STYLE = {"color": "tab:red", "linestyle": "--", "linewidth": 1}
PAPER_STYLE = {"color": "0.45", "linestyle": ":", "linewidth": 1.2}


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def accuracy_loss(results: Results) -> bytes | None:
    rows = results["accuracy"]
    if not rows:
        return None
    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.add_subplot()
    for task in sorted({r["task"] for r in rows}):
        pts = sorted((r["n"], 100 * r["loss"], 100 * (r["loss"] - r["loss_ci95"][0]),
                      100 * (r["loss_ci95"][1] - r["loss"])) for r in rows if r["task"] == task)
        n, loss, below, above = zip(*pts, strict=True)
        ax.errorbar(n, loss, yerr=[below, above], marker="o", capsize=3, label=task)
    ax.axhline(100 * results["loss_budget"], **BUDGET_STYLE, label="1% loss budget")
    ax.axhline(0, color="0.7", linewidth=0.8)
    ax.set(
        xlabel="N (blocks fixed in silicon)",
        ylabel="accuracy loss (points), 95% interval",
        title="Accuracy loss vs. split point, per task",
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def efficiency(results: Results) -> bytes | None:
    rows = sorted(results["hardware"], key=lambda r: r["n"])
    if not rows:
        return None
    ns = [r["n"] for r in rows]
    fig = Figure(figsize=(10, 3.8))
    ax_e, ax_f = fig.subplots(1, 2)
    for system, label in (
        ("hybrid", "FixyNN hybrid"),
        ("iso_area_programmable", "iso-area programmable"),
    ):
        ax_e.plot(ns, [r[system]["tops_per_w"] for r in rows], marker="o", label=label)
        ax_f.plot(ns, [r[system]["fps"] for r in rows], marker="o", label=label)
    for point in PAPER_POINTS:
        ax_e.axhline(point["tops_per_w"], **PAPER_STYLE)
        ax_e.annotate(
            f"{point['label']} ({point['tops_per_w']} TOPS/W, 224px, 16nm)",
            (min(ns), point["tops_per_w"]),
            fontsize=7,
            va="bottom",
            color="0.35",
        )
    ax_e.set(xlabel="N", ylabel="TOPS/W", title="Energy efficiency vs. N", yscale="log")
    ax_f.set(xlabel="N", ylabel="frames/s", title="Throughput vs. N", yscale="log")
    for ax in (ax_e, ax_f):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
    return _png(fig)


def ratio(results: Results) -> bytes | None:
    """Hybrid / iso-area TOPS/W against N, the recommended (accuracy-qualified) N marked."""
    rows = sorted(results["hardware"], key=lambda r: r["n"])
    if not rows:
        return None
    ns = [r["n"] for r in rows]
    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.add_subplot()
    ax.plot(ns, [r["ratios"]["tops_per_w"] for r in rows], marker="o", color="tab:blue",
            label="FixyNN hybrid / iso-area programmable")
    ax.axhline(1.0, color="0.6", linewidth=0.8)
    rec = results["recommended"]
    if rec is not None:
        ax.axvline(rec["n"], **BUDGET_STYLE, label=f"N = {rec['n']}: every task loses < 1%")
    else:
        ax.annotate("no N keeps every task within 1%", (min(ns), 1.0), fontsize=8,
                    va="bottom", color="tab:red")
    ax.set(xlabel="N (blocks fixed in silicon)", ylabel="TOPS/W ratio (same area)",
           title="Energy-efficiency ratio vs. N", yscale="log")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return _png(fig)


def area_breakdown(results: Results) -> bytes | None:
    rows = results["ffe_area_breakdown"]
    if not rows:
        return None
    layers = [r["layer"] for r in rows]
    fig = Figure(figsize=(max(6.4, 0.45 * len(rows) + 2), 3.8))
    ax = fig.add_subplot()
    bottom = [0.0] * len(rows)
    for key, label in (
        ("adders_mm2", "adders"),
        ("registers_mm2", "registers"),
        ("line_buffers_mm2", "line buffers"),
        ("other_mm2", "other logic"),
    ):
        values = [r[key] for r in rows]
        ax.bar(layers, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set(ylabel="area (mm²)", title=f"FFE area per layer at N = {rows[0]['n']}")
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def pareto(results: Results) -> bytes | None:
    hw = {r["n"]: r["hybrid"]["tops_per_w"] for r in results["hardware"]}
    worst: dict[int, float] = {}
    for r in results["accuracy"]:
        worst[r["n"]] = max(worst.get(r["n"], float("-inf")), 100 * r["loss"])
    points = sorted((hw[n], worst[n], n) for n in worst if n in hw)
    if not points:
        return None
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    ax.scatter(
        [p[0] for p in points],
        [p[1] for p in points],
        color="tab:blue",
        zorder=3,
        label="FixyNN design (worst task)",
    )
    for x, y, n in points:
        ax.annotate(f"N={n}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    front = pareto_front([(x, y) for x, y, _ in points])
    ax.plot(*zip(*front, strict=True), color="tab:blue", linewidth=1, label="Pareto front")
    ax.axhspan(
        min(0.0, *(p[1] for p in points)) - 0.5,
        100 * results["loss_budget"],
        color="tab:green",
        alpha=0.08,
        label="< 1% loss",
    )
    ax.axhline(100 * results["loss_budget"], **BUDGET_STYLE)
    for point in PAPER_POINTS:
        ax.axvline(point["tops_per_w"], **PAPER_STYLE)
        ax.annotate(
            point["label"],
            (point["tops_per_w"], ax.get_ylim()[1]),
            fontsize=7,
            rotation=90,
            va="top",
            ha="right",
            color="0.35",
        )
    ax.set(
        xscale="log",
        xlabel="hybrid TOPS/W",
        ylabel="worst-task accuracy loss (pp)",
        title="Accuracy vs. efficiency",
    )
    ax.legend(fontsize=8, loc="center left")
    ax.grid(alpha=0.3, which="both")
    return _png(fig)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated by another with higher efficiency (x) and lower loss (y), by x."""
    front = [p for p in points if not any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in points)]
    return sorted(set(front))


PLOTS: dict[str, tuple[str, Callable[[Results], bytes | None]]] = {
    "accuracy_loss": ("Accuracy loss vs. N", accuracy_loss),
    "efficiency": ("TOPS/W and fps vs. N, hybrid and iso-area baseline", efficiency),
    "ratio": ("TOPS/W ratio vs. N, accuracy-qualified N marked", ratio),
    "area_breakdown": ("FFE area breakdown per layer", area_breakdown),
    "pareto": ("Accuracy-vs-efficiency Pareto front", pareto),
}


def render_plots(results: Results) -> dict[str, bytes]:
    """name -> PNG bytes for every plot the results have data for."""
    out = {}
    for name, (_title, make) in PLOTS.items():
        png = make(results)
        if png is not None:
            out[name] = png
    return out
