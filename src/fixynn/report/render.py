"""report.md and report.html from one list of sections, so both always say the same thing.

A section holds paragraphs, tables and plots; a section with no data says why in a
paragraph, so no section is ever empty. The HTML embeds each PNG as a base64 data URI (one
self-contained file); the Markdown links the PNGs under `plots/`.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from typing import Any

from fixynn.report.plots import PLOTS
from fixynn.report.results import PAPER_POINTS, largest_n_per_task

Results = dict[str, Any]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)  # names in plots.PLOTS, or task-<name>


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def build_sections(results: Results, plot_names: set[str]) -> list[Section]:
    return [
        _summary(results),
        _tasks(results, plot_names),
        _accuracy(results, plot_names),
        _hardware(results, plot_names),
        _pareto(results, plot_names),
        _verification(results),
        _synthesis(results),
        _environment(results),
        _stages(results),
    ]


def _summary(results: Results) -> Section:
    sec = Section("Recommended design")
    rec, budget = results["recommended"], _pct(results["loss_budget"])
    tasks = results["tasks"]
    sec.paragraphs.append(
        f"Front-end `{tasks['arch']}`, source `{tasks['source']}`; target "
        f"tasks {', '.join(f'`{t}`' for t in tasks['targets'])}. {tasks['front_end']}"
    )
    if rec is None:
        sec.paragraphs.append(
            f"At no split point of the sweep does a loss below {budget} hold for every task "
            "(upper bound of its 95% interval below the budget), or no accuracy was measured."
        )
    else:
        text = (
            f"**N = {rec['n']}**: the largest split point at which a loss below {budget} holds "
            f"for every task: the upper bound of each task's 95% interval is below it (worst "
            f"task: loss {_pct(rec['max_loss'])}, upper bound {_pct(rec['max_loss_high'])})."
        )
        if rec["hybrid"]:
            hy, ratios = rec["hybrid"], rec["ratios"]
            text += (
                f" Hybrid: {_num(hy['tops_per_w'])} TOPS/W, {_num(hy['fps'])} fps, "
                f"{_num(hy['area_mm2'])} mm², {_num(hy['energy_per_frame_uj'])} µJ/frame; "
                f"{_num(ratios.get('tops_per_w'))}x the TOPS/W of the iso-area "
                "programmable accelerator."
            )
        sec.paragraphs.append(text)
    if per_task := largest_n_per_task(results["accuracy"]):
        sec.paragraphs.append(
            f"Per task, the largest N at which a loss below {budget} holds: "
            + "; ".join(f"`{t}` {'none' if n is None else f'N = {n}'}"
                        for t, n in per_task.items())
            + "."
        )
    paper = "; ".join(
        f"{p['label'].removeprefix('paper: ')}: {p['tops_per_w']} TOPS/W, "
        f"{p['ratio_vs_iso_area']}x iso-area"
        for p in PAPER_POINTS
    )
    sec.paragraphs.append(f"For reference, the paper (MobileNetV1, 224x224, 16 nm class): {paper}.")
    if results["not_run"]:
        sec.paragraphs.append("Not run: " + "; ".join(results["not_run"]) + ".")
    return sec


def _tasks(results: Results, plot_names: set[str]) -> Section:
    sec = Section("Tasks and their data")
    rows = results["task_data"]
    if not rows:
        sec.paragraphs.append("No task data recorded (the transfer stage did not run).")
        return sec
    sec.paragraphs.append(
        "Where each task's images come from. The content digest hashes every file the loader "
        "reads (name, size, bytes); the images below are the first training images of each "
        "class exactly as the front-end is fed them (preprocessed, magnified without "
        "smoothing).")
    sec.tables.append(Table(
        ["task", "dataset", "files", "content digest", "classes", "train", "test", "input",
         "split"],
        [[r["task"], r["dataset"] + (f" (root {r['root']})" if r["root"] else ""),
          str(r["files"]), r["content_digest"][:16], str(len(r["classes"])),
          str(r["train_images"]), str(r["test_images"]), "x".join(map(str, r["input_shape"])),
          r["split"]] for r in rows]))
    sec.plots += [f"task-{r['task']}" for r in rows if f"task-{r['task']}" in plot_names]
    return sec


def image_title(name: str) -> str:
    """The alt text of a plot or of a task's contact sheet ("task-<name>")."""
    if name in PLOTS:
        return PLOTS[name][0]
    return f"task {name.removeprefix('task-')}: first training images per class, as fed"


def _accuracy(results: Results, plot_names: set[str]) -> Section:
    sec = Section("Accuracy per task and N")
    rows = sorted(results["accuracy"], key=lambda r: (r["task"], r["n"]))
    if not rows:
        sec.paragraphs.append("No accuracy measured (the transfer stage did not run).")
        return sec
    repeats = max(r["repeats"] for r in rows)
    sec.paragraphs.append(
        "FixyNN accuracy is computed through the golden integer front-end "
        "(what the chip computes). Loss = baseline - FixyNN"
        + (
            f"; accuracies are means of {repeats} independently seeded trainings. The 95% "
            "interval is a paired bootstrap over the test images and the trainings"
            if repeats > 1
            else "; one training each, so the 95% interval (a bootstrap over the test "
            "images) does not cover seed noise"
        )
        + f". Verdict on a loss below {_pct(results['loss_budget'])}: holds (upper bound "
        "below it), fails (lower bound above it) or inconclusive."
    )
    sec.tables.append(
        Table(
            ["task", "N", "baseline acc", "FixyNN acc", "loss", "95% interval", "verdict"],
            [
                [
                    r["task"],
                    str(r["n"]),
                    _pct(r["baseline_acc"]),
                    _pct(r["fixynn_acc"]),
                    _pct(r["loss"]),
                    f"[{_pct(r['loss_ci95'][0])}, {_pct(r['loss_ci95'][1])}]",
                    r["verdict"],
                ]
                for r in rows
            ],
        )
    )
    sec.plots += [p for p in ("accuracy_loss",) if p in plot_names]
    return sec


def _hardware(results: Results, plot_names: set[str]) -> Section:
    sec = Section("Hardware per N")
    rows = sorted(results["hardware"], key=lambda r: r["n"])
    if not rows:
        sec.paragraphs.append("No PPA figures (the ppa stage did not run).")
        return sec
    hw_cfg = results["config"].get("hardware", {})
    if model := rows[0].get("model"):
        sec.paragraphs.append(f"Network: {model}, its own layers (the largest target task's "
                              "classifier); the hybrid's PCA runs its units N.. .")
    if hw_cfg.get("sizing") == "search":
        area = hw_cfg.get("area_mm2") or 0.0
        sec.paragraphs.append(
            "Each design's programmable accelerator (PCA) is sized by design-space search for "
            "its own work: least energy per frame within the same total area ("
            + (f"{area:g} mm²" if area else "the FFE plus the base PCA")
            + f") at >= {hw_cfg.get('fps_floor', 0):g} fps; the baseline runs the whole "
            "network, the hybrid's PCA its back-end. Options: "
            f"{hw_cfg.get('batch', 1)} frame(s) per weight fetch, weights "
            f"{hw_cfg.get('weight_storage')}, FFE -> PCA hand-off {hw_cfg.get('handoff')}. "
            "PCA: rows x cols, ifmap/filter/ofmap KiB, R = weights resident "
            "(docs/ppa-system.md)."
        )
    elif hw_cfg.get("sizing") == "fixed":
        sec.paragraphs.append(
            "Fixed sizing rule: the hybrid gets the base PCA, the baseline the base PCA scaled "
            "to the hybrid's area (docs/ppa-system.md)."
        )
    assumed = next((r["ffe"].get("assumptions", {}) for r in rows if r["ffe"]), {})
    if "adders" in assumed:
        sec.paragraphs.append(
            "Energy is modelled, not measured for this design: the FFE's adders switch at "
            f"{assumed['adders']}; {assumed.get('clock', 'clocking as modelled')}. "
            "`fixynn power` measures a graph's layers at gate level (docs/ppa-ffe.md).")
    sec.tables.append(
        Table(
            [
                "N",
                "FFE area mm²",
                "hybrid area mm²",
                "energy/frame µJ (modelled)",
                "TOPS/W",
                "fps",
                "iso-area TOPS/W",
                "iso-area fps",
                "TOPS/W ratio",
                "fps ratio",
                "hybrid PCA",
                "hand-off",
                "iso-area PCA",
            ],
            [
                [
                    str(r["n"]),
                    _num(r["ffe"]["area_mm2"]) if r["ffe"] else "-",
                    _num(r["hybrid"]["area_mm2"]),
                    _num(r["hybrid"]["energy_per_frame_uj"]),
                    _num(r["hybrid"]["tops_per_w"]),
                    _num(r["hybrid"]["fps"]),
                    _num(r["iso_area_programmable"]["tops_per_w"]),
                    _num(r["iso_area_programmable"]["fps"]),
                    _num(r["ratios"].get("tops_per_w")),
                    _num(r["ratios"].get("fps")),
                    r.get("configs", {}).get("hybrid", "-"),
                    r.get("configs", {}).get("handoff", "-"),
                    r.get("configs", {}).get("iso_area_programmable", "-"),
                ]
                for r in rows
            ],
        )
    )
    sec.plots += [p for p in ("efficiency", "ratio", "area_breakdown") if p in plot_names]
    return sec


def _pareto(results: Results, plot_names: set[str]) -> Section:
    sec = Section("Accuracy vs. efficiency")
    if "pareto" in plot_names:
        sec.paragraphs.append(
            "Each point is one split point N: hybrid TOPS/W against the loss "
            "of its worst task; the shaded band is the 1% loss budget."
        )
        sec.plots.append("pareto")
    else:
        sec.paragraphs.append("Needs both accuracy and PPA results; one of them did not run.")
    return sec


def _verification(results: Results) -> Section:
    sec = Section("Bit-exact verification (RTL vs. golden)")
    rows = sorted(results["verification"], key=lambda r: r["n"])
    if not rows:
        sec.paragraphs.append("No RTL verified (the verify stage did not run).")
        return sec
    bad = sum(r["mismatches"] for r in rows)
    sec.paragraphs.append(
        "PASS: every compared output matches the golden executor."
        if bad == 0
        else f"FAIL: {bad} mismatching outputs."
    )
    sweep = results["config"].get("sweep", {}).get("n_list", [])
    skipped = sorted(set(sweep) - {r["n"] for r in rows} - {0})
    if skipped:
        sec.paragraphs.append(_not_verified(skipped, rows, results.get("rtl", [])))
    sec.paragraphs.append(
        "Mode `layers`: every stage (a layer, a fused depthwise + pointwise pair, or a "
        "residual block with its add) simulated alone, fed golden's output of the tensor it "
        "reads: small stages built in Verilator and run on every image; then the stitched "
        "design on the top-level images checks the wiring in the top-level simulator "
        "(`verify.stitched_sim`), comparing every layer, and a large stage (simulator "
        "`stitched`, `verify.stage_sim = auto`) is checked there, since its Verilator build "
        "would not fit the budget. Build s is Verilator's build or iverilog's elaboration, "
        "summed over the stages (they run in parallel; wall is the elapsed time); a cached "
        "Icarus check is an outcome reused for the same Verilog and vectors.")
    sec.tables.append(
        Table(
            ["N", "mode", "images", "top-level images", "top-level simulator", "MB Verilog",
             "outputs compared",
             "mismatches", "build s", "sim s", "wall s"],
            [
                [
                    str(r["n"]),
                    r["mode"],
                    str(r["images"]),
                    str(r["top_images"]),
                    r.get("top_simulator", "verilator"),  # results before it had one
                    f"{r['verilog_bytes'] / 1e6:.2f}",
                    str(r["outputs_compared"]),
                    str(r["mismatches"]),
                    _num(r.get("build_s")),
                    _num(r.get("sim_s")),
                    _num(r.get("wall_s")),
                ]
                for r in rows
            ],
        )
    )
    stage_rows = [[str(r["n"]), s["stage"], s.get("simulator", "verilator"),
                   str(s.get("images", r["images"])), f"{s['verilog_bytes'] / 1e6:.3f}",
                   str(s["outputs_compared"]), str(s["mismatches"]), _num(s["build_s"]),
                   "yes" if s["cached_build"] else "no", _num(s["sim_s"])]
                  for r in rows for s in r["stages"]]
    if stage_rows:
        sec.tables.append(Table(["N", "stage", "simulator", "images", "MB Verilog",
                                 "outputs compared", "mismatches", "build s", "cached",
                                 "sim s"], stage_rows))
    return sec


def _not_verified(skipped: list[int], verified: list[dict[str, Any]],
                  rtl: list[dict[str, Any]]) -> str:
    """Which N were left out, each with its design size from this run's RTL, beside what the
    largest verified N cost here: the measured reason they do not fit."""
    sizes = {r["n"]: r["verilog_bytes"] for r in rtl}
    largest = max(verified, key=lambda r: r["n"])
    base = largest["verilog_bytes"]

    def one(n: int) -> str:
        if n not in sizes:
            return f"N = {n}"
        return f"N = {n} ({sizes[n] / 1e6:.1f} MB of Verilog, {sizes[n] / base:.1f}x N = " \
               f"{largest['n']})"

    wall = largest.get("wall_s")
    cost = f", verified in {wall:.0f} s wall" if wall is not None else ""
    return (f"Not verified in this run (not in `verify.n_list`): "
            f"{', '.join(one(n) for n in skipped)}. The largest N verified here is N = "
            f"{largest['n']} ({base / 1e6:.1f} MB{cost}); verification time grows with the "
            "Verilog (compile, elaboration), so the default list is the largest set whose "
            "measured verification fits the run's budget on 2 cores (docs/rtl.md; "
            "benchmarks/bench_verify_efficientnet.py measures every N).")


def _synthesis(results: Results) -> Section:
    sec = Section("Synthesis (Yosys)")
    rows = results["synthesis"]
    if not rows:
        sec.paragraphs.append("No layer synthesized (the synth stage did not run).")
        return sec
    library = rows[0]["library"]
    if library is None:
        sec.paragraphs.append("Yosys generic gates, in NanGate NAND2_X1 gate equivalents (no "
                              "cell library installed: see docs/ppa-ffe.md).")
        sec.tables.append(Table(["N", "layer", "cells", "gate equivalents"], [
            [str(r["n"]), r["layer"], str(r["cells"]), _num(r["gate_equivalents"], 6)]
            for r in rows]))
        return sec
    slowest = min(rows, key=lambda r: r["f_max_mhz"])
    sec.paragraphs.append(
        f"Mapped to the {library} cell library (Yosys + ABC), timed by OpenSTA. Derived clock "
        f"of the synthesized layers: {slowest['f_max_mhz']:.0f} MHz, set by {slowest['layer']} "
        f"(critical path {slowest['critical_path_ns']:.2f} ns), against the assumed clock of "
        f"{1e3 / slowest['clock_target_ns']:g} MHz (hardware.freq_mhz, also the mapping's "
        "timing target); only these layers were synthesized, and larger ones have deeper adder "
        f"trees. The clock is that of {library}'s own process (0.18 um for osu018); a newer "
        "node such as the PPA's 45 nm or 16 nm switches faster, so there it is a lower bound.")
    ffe = next((h["ffe"] for h in results["hardware"] if h["n"] == slowest["n"] and h["ffe"]),
               None)
    if ffe:
        scale = slowest["f_max_mhz"] * slowest["clock_target_ns"] / 1e3
        sec.paragraphs.append(
            f"The FFE takes one pixel per clock, so its frame rate scales with the clock: at "
            f"{slowest['f_max_mhz']:.0f} MHz the N = {slowest['n']} FFE runs at "
            f"{ffe['fps'] * scale:,.0f} fps instead of {ffe['fps']:,.0f}; its energy per "
            "frame, hence TOPS/W, does not depend on the clock in this model (no leakage).")
    sec.tables.append(Table(
        ["N", "layer", "cells", "area um2", "critical path ns", "f_max MHz"],
        [[str(r["n"]), r["layer"], str(r["cells"]), _num(r["area_um2"], 6),
          f"{r['critical_path_ns']:.2f}", f"{r['f_max_mhz']:.0f}"] for r in rows]))
    return sec


def _environment(results: Results) -> Section:
    env = results["environment"]
    sec = Section("Environment")
    sec.tables.append(Table(["item", "value"], [[k, str(env[k])] for k in sorted(env)]))
    return sec


def _stages(results: Results) -> Section:
    sec = Section("Pipeline steps")
    sec.paragraphs.append(
        f"Run created {results['created_utc']}. 'cached' steps were reused "
        "from an earlier run with the same inputs; seconds are those of the "
        "run that computed them."
    )
    sec.tables.append(
        Table(
            ["step", "cached", "seconds", "key"],
            [
                [s["step"], "yes" if s["cached"] else "no", f"{s['seconds']:.1f}", s["key"][:12]]
                for s in results["stages"]
            ],
        )
    )
    return sec


# ---------------------------------------------------------------------------------------------


def to_markdown(sections: list[Section]) -> str:
    out = ["# FixyNN run report", ""]
    for sec in sections:
        out += [f"## {sec.title}", ""]
        for p in sec.paragraphs:
            out += [p, ""]
        for table in sec.tables:
            out.append("| " + " | ".join(table.headers) + " |")
            out.append("|" + "---|" * len(table.headers))
            out += [
                "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in table.rows
            ]
            out.append("")
        for name in sec.plots:
            out += [f"![{image_title(name)}](plots/{name}.png)", ""]
    return "\n".join(out)


CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #446}h2{margin-top:1.6em;color:#334}
table{border-collapse:collapse;margin:0.8em 0;font-size:0.9em}
th,td{border:1px solid #ccd;padding:0.25em 0.6em;text-align:right}
th{background:#eef}td:first-child,th:first-child{text-align:left}
img{max-width:100%;display:block;margin:0.8em 0}code{background:#f3f3f6;padding:0 0.2em}
"""


def _inline(text: str) -> str:
    """HTML for a paragraph using only Markdown's **bold** and `code`."""
    out, parts = [], html.escape(text).split("`")
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{part}</code>")
        else:
            bold = part.split("**")
            out.append("".join(f"<b>{b}</b>" if j % 2 else b for j, b in enumerate(bold)))
    return "".join(out)


def to_html(sections: list[Section], pngs: dict[str, bytes]) -> str:
    body = []
    for sec in sections:
        body.append(f"<h2>{html.escape(sec.title)}</h2>")
        body += [f"<p>{_inline(p)}</p>" for p in sec.paragraphs]
        for table in sec.tables:
            head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in table.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        for name in sec.plots:
            data = base64.b64encode(pngs[name]).decode("ascii")
            body.append(
                f'<img alt="{html.escape(image_title(name))}" src="data:image/png;base64,{data}">'
            )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>FixyNN run report</title><style>{CSS}</style></head>\n<body>"
        "<h1>FixyNN run report</h1>\n" + "\n".join(body) + "\n</body></html>\n"
    )
