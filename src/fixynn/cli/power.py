"""`fixynn power GRAPH`: per layer, switching activity and dynamic energy measured on the
mapped netlist with real test images (fixynn.hw.activity), beside the analytic model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fixynn.cli.synth import parse_layers
from fixynn.errors import FixynnError
from fixynn.hw.activity import LayerActivity, layer_graph, measure_graph
from fixynn.hw.calibrate import energy_row
from fixynn.hw.ir import load_graph
from fixynn.hw.liberty import default_liberty, read_liberty, resolve_liberty
from fixynn.hw.liberty_power import read_power
from fixynn.hw.ppa.tech import load_tech
from fixynn.hw.synth import DEFAULT_CLOCK_NS


def power_command(
    graph_dir: Annotated[Path, typer.Argument(help="HwGraph directory (graph.json + weights.npz)")],
    layers: Annotated[str | None, typer.Option(
        "--layers", help="layer names or indices, e.g. 0,2 or 1-3 (default all)")] = None,
    images: Annotated[int, typer.Option(help="real test images to simulate")] = 2,
    style: Annotated[str, typer.Option(help="constant-multiplier style: csd or shared")] = "csd",
    liberty: Annotated[Path | None, typer.Option(
        help="Liberty cell library (default: the OSU 0.18 um cells, or $FIXYNN_LIBERTY)")] = None,
    clock_ns: Annotated[float, typer.Option(
        "--clock-ns", help="clock period the mapping targets (ns)")] = DEFAULT_CLOCK_NS,
    tech: Annotated[str, typer.Option(
        help="tech tables to compare at, comma-separated")] = "45nm,16nm",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Measure each layer's switching activity on real test images (gate-level simulation of
    the mapped netlist) and its dynamic energy from the library's power data; the analytic
    model's energy at full and at the measured activity beside it."""
    graph = load_graph(graph_dir)
    picked = parse_layers(layers, [layer.name for layer in graph.layers])
    if images < 1:
        raise FixynnError(f"--images must be >= 1, got {images}")
    if style not in ("csd", "shared"):
        raise FixynnError(f"--style {style!r}: the model counts csd or shared multipliers")
    if not clock_ns > 0:
        raise FixynnError(f"--clock-ns must be > 0, got {clock_ns}")
    techs = [load_tech(name.strip()) for name in tech.split(",") if name.strip()]
    if not techs:
        raise FixynnError(f"--tech {tech!r}: name at least one tech table")
    lib_path = resolve_liberty(liberty) if liberty else default_liberty()
    assert lib_path is not None  # a path or 'auto' resolves to a file or raises
    library, vdd = read_liberty(lib_path), read_power(lib_path).nom_voltage_v
    from fixynn.data.graph_input import verification_images

    x, source = verification_images(graph, images)
    results = measure_graph(graph, x, lib_path, picked, style=style, clock_ns=clock_ns)
    rows = []
    for name, result, cached in results:
        if not isinstance(result, LayerActivity):
            rows.append({"layer": name, "skipped": result})
            continue
        index = [layer.name for layer in graph.layers].index(name)
        row = energy_row(layer_graph(graph, index), result, library, vdd, techs, style)
        rows.append({**row.__dict__, "area_ratio": row.area_ratio, "cached": cached,
                     "seconds": result.seconds})
    if as_json:
        print(json.dumps({"graph": str(graph_dir), "images": images, "source": source,
                          "library": library.name, "vdd_v": vdd, "style": style,
                          "layers": rows}, indent=2, sort_keys=True))
        return
    table = Table(title=f"fixynn power {graph.name}: {images} images ({source}), "
                        f"{library.name} at {vdd:g} V; energy per frame, measured = gate-level "
                        "toggles x Liberty power, model = analytic")
    t0 = techs[0].name
    columns = ["layer", "mapped um2", "model/mapped", "path ns", "activity", "adder act.",
               "cycles sim/model", "measured pJ", f"measured pJ {t0}", f"model pJ {t0} full",
               f"model pJ {t0} meas."]
    for column in columns:
        table.add_column(column, justify="left" if column == "layer" else "right")
    for row in rows:
        if "skipped" in row:
            table.add_row(row["layer"], *["-"] * (len(columns) - 1))
            continue
        node = row["at_node"][t0]
        scaled = f"{node['measured_pj']:,.1f}" if "measured_pj" in node else "-"
        table.add_row(row["layer"], f"{row['mapped_um2']:,.0f}", f"{row['area_ratio']:.3f}",
                      f"{row['critical_path_ns']:.2f}", f"{row['activity']:.3f}",
                      f"{row['adder_activity']:.3f}",
                      f"{row['cycles_per_frame']:.0f}/{row['model_cycles_per_frame']}",
                      f"{row['measured_pj']:,.0f}", scaled,
                      f"{node['model_pj_full_activity']:,.1f}",
                      f"{node['model_pj_measured_activity']:,.1f}")
    Console(width=None if sys.stdout.isatty() else 170).print(table)
    for row in rows:
        if "skipped" in row:
            typer.echo(f"note: {row['layer']} not measured: {row['skipped']}", err=True)


def register(app: typer.Typer) -> None:
    app.command("power")(power_command)
