"""`fixynn synth GRAPH`: per layer, Yosys area (mapped to a cell library: um2, critical path,
f_max; or generic gates in GE), beside the analytic model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fixynn.errors import FixynnError
from fixynn.hw.ir import load_graph
from fixynn.hw.liberty import INSTALL_HINT, read_liberty, resolve_liberty
from fixynn.hw.ppa.ffe import ELEMENT_GE, estimate_ffe, library_prices
from fixynn.hw.ppa.tech import load_tech
from fixynn.hw.synth import DEFAULT_CLOCK_NS, DEFAULT_TIMEOUT_S, synth_graph_layers


def parse_layers(text: str | None, names: list[str]) -> list[int] | None:
    """"b0_conv,2" or "1-3": layer names, indices and inclusive index ranges, mixed ->
    sorted indices; None -> all layers. `names` are the graph's layer names, in order."""
    if text is None:
        return None
    index = {name: i for i, name in enumerate(names)}
    out: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if part in index:
            out.append(index[part])
            continue
        lo, _, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError as exc:
            raise FixynnError(
                f"--layers {text!r}: {part!r} is neither a layer name nor an index; give names "
                f"({', '.join(names[:3])}{', ...' if len(names) > 3 else ''}) or indices like "
                "0,2 or 1-3") from exc
    if not out:
        raise FixynnError(f"--layers {text!r}: no layer selected")
    return sorted(set(out))


def synth_command(
    graph_dir: Annotated[Path, typer.Argument(help="HwGraph directory (graph.json + weights.npz)")],
    layers: Annotated[
        str | None, typer.Option(
            "--layers", help="layer names or indices, e.g. b0_conv,b1_dw or 0,2 or 1-3 "
                             "(default all)")
    ] = None,
    style: Annotated[
        str, typer.Option(help="constant-multiplier style: csd, shared or naive (no model)")
    ] = "csd",
    pipeline: Annotated[bool, typer.Option(help="pipeline the adder trees")] = False,
    liberty: Annotated[Path | None, typer.Option(
        help="Liberty cell library to map to (default: the OSU 0.18 um cells when installed, "
             "or $FIXYNN_LIBERTY)")] = None,
    generic: Annotated[bool, typer.Option(
        "--generic", help="Yosys generic gates in NanGate GE instead of a cell library")] = False,
    clock_ns: Annotated[float, typer.Option(
        "--clock-ns", help="clock period the mapping targets (ns)")] = DEFAULT_CLOCK_NS,
    tech: Annotated[str, typer.Option(help="tech table for the model column (generic)")]
    = "45nm",
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", help="Yosys time limit per layer")
    ] = DEFAULT_TIMEOUT_S,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Synthesize each layer with Yosys: area (um2, GE), cells and, mapped to a cell library,
    the critical path and f_max; the analytic model's area beside it."""
    graph = load_graph(graph_dir)
    picked = parse_layers(layers, [layer.name for layer in graph.layers])
    table_tech = load_tech(tech)  # fail before the (slow) synthesis on a bad --tech
    if not clock_ns > 0:
        raise FixynnError(f"--clock-ns must be > 0, got {clock_ns}")
    lib_path = None if generic else resolve_liberty(liberty or "auto")
    if lib_path is None and not generic:
        typer.echo(f"note: no Liberty library found ({INSTALL_HINT}); generic gates", err=True)
    library = read_liberty(lib_path) if lib_path else None  # a bad file fails before Yosys
    results = synth_graph_layers(graph, style=style, pipeline=pipeline, layers=picked,
                                 timeout_s=timeout_s, liberty=lib_path, clock_ns=clock_ns)
    model_ge: dict[str, float | None] = {name: None for name, _ in results}
    if style != "naive":  # "naive" leaves the multipliers to Yosys: the model cannot count them
        prices = library_prices(library) if library else ELEMENT_GE
        model = estimate_ffe(graph, table_tech, style=style, pipeline=pipeline,
                             line_buffer="ff", element_ge=prices)
        model_ge |= {layer.name: layer.total_area_ge for layer in model.layers}
    rows = [result.to_dict() | {"layer": name, "model_ge": model_ge[name]}
            for name, result in results]
    if as_json:
        print(json.dumps({"graph": str(graph_dir), "style": style, "pipeline": pipeline,
                          "library": library.name if library else None,
                          "clock_ns": clock_ns if library else None, "layers": rows},
                         indent=2, sort_keys=True))
        return
    unit = f"1 GE = {library.name} NAND2, {library.nand2_um2:g} um2" if library else \
        "1 GE = NanGate NAND2_X1"
    table = Table(title=f"fixynn synth {graph.name} (style {style}, {unit})")
    columns = ["layer", "cells", "flip-flops", "GE", "model GE", "model/synth"]
    if library:
        columns[3:3] = ["area um2", "critical path ns", "f_max MHz"]
    for column in columns:
        table.add_column(column, justify="left" if column == "layer" else "right")
    for row in rows:
        ratio = row["model_ge"] / row["ge"] if row["model_ge"] and row["ge"] else None
        cells = [row["layer"], f"{sum(row['cells'].values()):,}", f"{row['flip_flops']:,}",
                 f"{row['ge']:,.0f}", _fmt(row["model_ge"], ",.0f"), _fmt(ratio, ".3f")]
        if library:
            timing = row["timing"]
            cells[3:3] = [f"{row['area_um2']:,.0f}", f"{timing['critical_path_ns']:.2f}",
                          f"{timing['f_max_mhz']:.0f}"]
        table.add_row(*cells)
    Console(width=None if sys.stdout.isatty() else 150).print(table)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def register(app: typer.Typer) -> None:
    app.command("synth")(synth_command)
