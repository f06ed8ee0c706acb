"""`fixynn ppa`: the FixyNN hybrid vs an iso-area programmable accelerator (one point or sweep)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fixynn.atomic import atomic_write_json
from fixynn.errors import FixynnError
from fixynn.hw.ir import load_graph
from fixynn.hw.ppa.pca import PcaConfig
from fixynn.hw.ppa.system import SystemResult, evaluate_system, sweep
from fixynn.hw.ppa.tech import load_tech

SWEEP_WIDTHS = (0.25, 0.5, 0.75, 1.0)
SWEEP_RESOLUTION = 224


def _check_number(value: float, flag: str, *, minimum: float = 0.0) -> None:
    if not math.isfinite(value) or value <= minimum:
        raise FixynnError(f"{flag} must be a number > {minimum:g}, got {value}")


def _table(results: list[SystemResult], title: str) -> Table:
    table = Table(title=title)
    columns = ("width", "N", "hybrid TOPS/W", "hybrid fps", "area mm2", "hybrid uJ/frame",
               "iso TOPS/W", "iso fps", "iso array", "x TOPS/W", "x fps", "x energy")
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    for r in results:
        h, p, x = r.hybrid, r.iso_area_programmable, r.ratios
        table.add_row(
            f"{r.width:g}", str(r.n_fixed), f"{h.tops_per_w:.3f}", f"{h.fps:,.0f}",
            f"{h.area_mm2:.2f}", f"{h.energy_per_frame_uj:,.1f}", f"{p.tops_per_w:.3f}",
            f"{p.fps:,.0f}", f"{p.pca['rows']}x{p.pca['cols']}", f"{x['tops_per_w']:.2f}",
            f"{x['fps']:.2f}", f"{x['energy_per_frame']:.3f}",
        )
    return table


def ppa_command(
    width: Annotated[float, typer.Option("--width", help="MobileNetV1 width multiplier")] = 1.0,
    resolution: Annotated[int, typer.Option("--resolution", help="input image size")] = 224,
    fixed_layers: Annotated[
        int | None, typer.Option("--fixed-layers", help="split point N in 0..14 (blocks fixed)")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="trained front-end HwGraph directory")
    ] = None,
    sparsity: Annotated[
        float | None, typer.Option("--sparsity", help="random FFE weights, this fraction zero")
    ] = None,
    tech: Annotated[str, typer.Option("--tech", help="built-in table name or TOML file")] = "45nm",
    freq_mhz: Annotated[float, typer.Option("--freq-mhz", help="clock of FFE and PCA")] = 500.0,
    pca_rows: Annotated[int, typer.Option("--pca-rows", help="systolic array rows")] = 32,
    pca_cols: Annotated[int, typer.Option("--pca-cols", help="systolic array columns")] = 32,
    pca_sram_kib: Annotated[
        float, typer.Option("--pca-sram-kib", help="size of each PCA buffer (ifmap/filter/ofmap)")
    ] = 64.0,
    do_sweep: Annotated[
        bool, typer.Option("--sweep", help="N = 0..14 x widths 0.25/0.5/0.75/1.0 at 224x224")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="also write the JSON here")] = None,
) -> None:
    """Area, energy/frame, fps and TOPS/W of the hybrid and an iso-area programmable PCA."""
    if weights is not None and sparsity is not None:
        raise FixynnError("--weights and --sparsity exclude each other: the FFE weights are "
                          "either trained (--weights) or random at a sparsity")
    _check_number(freq_mhz, "--freq-mhz")
    _check_number(pca_sram_kib, "--pca-sram-kib")
    table_tech = load_tech(tech)
    cfg = PcaConfig(rows=pca_rows, cols=pca_cols, freq_mhz=freq_mhz, ifmap_sram_kib=pca_sram_kib,
                    filter_sram_kib=pca_sram_kib, ofmap_sram_kib=pca_sram_kib)
    if do_sweep:
        if fixed_layers is not None or weights is not None:
            raise FixynnError("--sweep covers every N with random weights; drop --fixed-layers "
                              "and --weights (use --sparsity to set the FFE's sparsity)")
        results = sweep(table_tech, cfg, SWEEP_WIDTHS, SWEEP_RESOLUTION, sparsity or 0.0)
        title = f"fixynn ppa sweep, MobileNetV1 @ {SWEEP_RESOLUTION}, {table_tech.name}"
        doc: Any = [r.as_dict() for r in results]
    else:
        if fixed_layers is None:
            raise FixynnError("--fixed-layers N is required (0..14), or pass --sweep")
        graph = load_graph(weights) if weights is not None else None
        result = evaluate_system(width, resolution, fixed_layers, table_tech, cfg, graph=graph,
                                 sparsity=sparsity or 0.0)
        results = [result]
        title = (f"fixynn ppa, MobileNetV1 {width:g} @ {resolution}, N={fixed_layers}, "
                 f"{table_tech.name}, {result.weights}")
        doc = result.as_dict()
    if out is not None:
        atomic_write_json(out, doc)
    if as_json:
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        # Off a terminal rich assumes 80 columns, which folds every cell; logs can be wider.
        Console(width=None if sys.stdout.isatty() else 160).print(_table(results, title))


def register(app: typer.Typer) -> None:
    app.command("ppa")(ppa_command)
