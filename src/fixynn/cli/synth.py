"""`fixynn synth GRAPH`: Yosys cells and gate equivalents per layer, beside the analytic model."""

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
from fixynn.hw.ppa.ffe import estimate_ffe
from fixynn.hw.ppa.tech import load_tech
from fixynn.hw.synth import DEFAULT_TIMEOUT_S, synth_graph_layers


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
    tech: Annotated[str, typer.Option(help="tech table for the model column")] = "45nm",
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", help="Yosys time limit per layer")
    ] = DEFAULT_TIMEOUT_S,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Synthesize each layer with Yosys (generic gates) and report cells and GE per layer."""
    graph = load_graph(graph_dir)
    picked = parse_layers(layers, [layer.name for layer in graph.layers])
    table_tech = load_tech(tech)  # fail before the (slow) synthesis on a bad --tech
    results = synth_graph_layers(graph, style=style, pipeline=pipeline, layers=picked,
                                 timeout_s=timeout_s)
    model_ge: dict[str, float | None] = {name: None for name, _ in results}
    if style != "naive":  # "naive" leaves the multipliers to Yosys: the model cannot count them
        model = estimate_ffe(graph, table_tech, style=style, pipeline=pipeline,
                             line_buffer="ff")
        model_ge |= {layer.name: layer.total_area_ge for layer in model.layers}
    rows = [result.to_dict() | {"layer": name, "model_ge": model_ge[name]}
            for name, result in results]
    if as_json:
        print(json.dumps({"graph": str(graph_dir), "style": style, "pipeline": pipeline,
                          "layers": rows}, indent=2, sort_keys=True))
        return
    table = Table(title=f"fixynn synth {graph.name} (style {style}, 1 GE = NAND2_X1)")
    for column in ("layer", "cells", "flip-flops", "comb GE", "seq GE", "GE", "model GE",
                   "model/synth"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    for row in rows:
        ratio = row["model_ge"] / row["ge"] if row["model_ge"] and row["ge"] else None
        table.add_row(row["layer"], f"{sum(row['cells'].values()):,}", f"{row['flip_flops']:,}",
                      f"{row['combinational_ge']:,.0f}", f"{row['sequential_ge']:,.0f}",
                      f"{row['ge']:,.0f}", _fmt(row["model_ge"], ",.0f"),
                      _fmt(ratio, ".3f"))
    Console(width=None if sys.stdout.isatty() else 130).print(table)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def register(app: typer.Typer) -> None:
    app.command("synth")(synth_command)
