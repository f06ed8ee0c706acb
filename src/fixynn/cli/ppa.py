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

from fixynn.arch import LayerShape, max_split, model_title, read_layer_file, with_classes
from fixynn.atomic import atomic_write_json
from fixynn.errors import FixynnError
from fixynn.hw.ir import load_graph
from fixynn.hw.ppa.ffe import FfeEstimate, estimate_ffe
from fixynn.hw.ppa.pca import PcaConfig
from fixynn.hw.ppa.search import HANDOFF_OPTIONS, SIZING_RULES, WEIGHT_OPTIONS
from fixynn.hw.ppa.system import (
    DEFAULT_FPS_FLOOR,
    MOBILENET_V1,
    OptionError,
    SizingOptions,
    SystemResult,
    evaluate_network,
    evaluate_system,
    pca_label,
    sweep,
)
from fixynn.hw.ppa.tech import load_tech

# SizingOptions field -> the flag that sets it
OPTION_FLAGS = {"sizing": "--sizing", "fps_floor": "--fps-floor", "batch": "--batch",
                "weights": "--weight-storage", "handoff": "--handoff", "area_mm2": "--area-mm2"}
SWEEP_WIDTHS = (0.25, 0.5, 0.75, 1.0)
SWEEP_RESOLUTION = 224
DEFAULT_WIDTH, DEFAULT_RESOLUTION = 1.0, 224  # MobileNetV1's, without --layers


def _check_number(value: float, flag: str, *, minimum: float = 0.0) -> None:
    if not math.isfinite(value) or value <= minimum:
        raise FixynnError(f"{flag} must be a number > {minimum:g}, got {value}")


def _table(results: list[SystemResult], title: str) -> Table:
    table = Table(title=title, caption="PCA: rows x cols, ifmap/filter/ofmap KiB, R = weights "
                  "resident; hand-off: FFE -> PCA through DRAM or an on-chip buffer")
    columns = ("model", "N", "area mm2", "hybrid PCA", "hand-off", "hybrid uJ/frame",
               "of which DRAM", "hybrid fps", "iso PCA", "iso uJ/frame", "iso fps",
               "x TOPS/W", "x fps")
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    for r in results:
        h, p, x = r.hybrid, r.iso_area_programmable, r.ratios
        dram = sum(v for k, v in h.energy_breakdown_uj.items() if "dram" in k)
        table.add_row(
            r.model, str(r.n_fixed), f"{h.area_mm2:.2f}", pca_label(h.pca),
            h.pca.get("handoff", "-"), f"{h.energy_per_frame_uj:,.1f}", f"{dram:,.1f}",
            f"{h.fps:,.0f}", pca_label(p.pca), f"{p.energy_per_frame_uj:,.1f}", f"{p.fps:,.0f}",
            f"{x['tops_per_w']:.2f}", f"{x['fps']:.2f}",
        )
    return table


def _ffe_table(name: str, est: FfeEstimate) -> Table:
    table = Table(title=f"fixynn ppa: FFE of {name}, {est.tech}, {est.freq_mhz:g} MHz",
                  caption=f"total {est.area_mm2:.4f} mm2, {est.energy_per_frame_uj:,.3f} "
                  f"uJ/frame, {est.fps:,.0f} fps, {est.tops_per_w:.2f} TOPS/W")
    for column in ("stage", "kind", "area mm2", "energy uJ/frame", "adder bits",
                   "buffer bits", "cycles/frame"):
        table.add_column(column, justify="right", no_wrap=True)
    for s in est.layers:
        table.add_row(s.name, s.kind, f"{s.total_area_um2 * 1e-6:.4f}",
                      f"{s.total_energy_pj * 1e-6:,.4f}", str(s.adder_bits.total),
                      str(s.line_buffer_bits), str(s.cycles_per_frame))
    return table


def _choice(value: str, flag: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise FixynnError(f"{flag} {value!r} is not one of {', '.join(choices)}")
    return value


def _layer_file(path: Path, classes: int | None, fixed_layers: int | None
                ) -> tuple[list[LayerShape], str]:
    """The layers of a layers.json (its classifier resized to `classes`) and the model's name
    (its meta's `arch`, else the file's name); checks the split point against its units."""
    layers, meta = read_layer_file(path)
    if classes is not None:
        if classes < 1:
            raise FixynnError(f"--classes must be >= 1, got {classes}")
        layers = with_classes(layers, classes)
    if fixed_layers is None:
        raise FixynnError(f"--layers {path}: give the split point --fixed-layers N "
                          f"(0..{max_split(layers)})")
    if not 0 <= fixed_layers <= max_split(layers):
        raise FixynnError(f"--fixed-layers {fixed_layers}: the model in {path} has "
                          f"{max_split(layers) + 1} units; N runs from 0 to {max_split(layers)}")
    return layers, str(meta.get("arch") or path.stem)


def ppa_command(
    width: Annotated[float | None, typer.Option(
        "--width", help="MobileNetV1 width multiplier [default: 1.0]")] = None,
    resolution: Annotated[int | None, typer.Option(
        "--resolution", help="MobileNetV1's input image size [default: 224]")] = None,
    layers_file: Annotated[Path | None, typer.Option(
        "--layers", help="any model's layer list (a layers.json, fixynn.arch.save_layers) "
        "instead of MobileNetV1")] = None,
    classes: Annotated[int | None, typer.Option(
        "--classes", help="with --layers: resize its classifier to this many classes")] = None,
    fixed_layers: Annotated[
        int | None, typer.Option("--fixed-layers", help="split point N (units fixed): 0..14 "
                                 "for MobileNetV1, 0..max for --layers")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", help="an HwGraph directory: with --fixed-layers "
                                  "the hybrid's trained front-end (of MobileNetV1, or of the "
                                  "--layers model); alone, any graph's FFE")
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
    sizing: Annotated[str, typer.Option(
        "--sizing", help="search: both PCAs sized by design-space search; fixed: base PCA for "
        "the hybrid, sqrt-scaled baseline")] = "search",
    fps_floor: Annotated[float, typer.Option(
        "--fps-floor", help="frames/s both designs must reach (search)")] = DEFAULT_FPS_FLOOR,
    batch: Annotated[int, typer.Option(
        "--batch", help="frames sharing one weight fetch on the PCA (search)")] = 1,
    weight_storage: Annotated[str, typer.Option(
        "--weight-storage", help="PCA weights: auto | resident | streamed (search)")] = "auto",
    handoff: Annotated[str, typer.Option(
        "--handoff", help="FFE -> PCA: auto | dram | buffer (search)")] = "auto",
    area_mm2: Annotated[float | None, typer.Option(
        "--area-mm2", help="total area of each design (default: FFE + the base PCA)")] = None,
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
    try:
        options = SizingOptions(
            sizing=_choice(sizing, "--sizing", SIZING_RULES), fps_floor=fps_floor, batch=batch,
            weights=_choice(weight_storage, "--weight-storage", WEIGHT_OPTIONS),
            handoff=_choice(handoff, "--handoff", HANDOFF_OPTIONS), area_mm2=area_mm2)
    except OptionError as exc:  # name the flag the user typed
        raise FixynnError(f"{OPTION_FLAGS[exc.option]}: {exc.why}") from None
    if layers_file is not None and (width is not None or resolution is not None or do_sweep):
        raise FixynnError("--layers gives the model's own geometry: drop --width, --resolution "
                          "and --sweep (MobileNetV1's), give --fixed-layers N")
    if classes is not None and layers_file is None:
        raise FixynnError("--classes resizes the classifier of a --layers model; MobileNetV1 "
                          "has the paper's 1000 classes")
    table_tech = load_tech(tech)
    cfg = PcaConfig(rows=pca_rows, cols=pca_cols, freq_mhz=freq_mhz, ifmap_sram_kib=pca_sram_kib,
                    filter_sram_kib=pca_sram_kib, ofmap_sram_kib=pca_sram_kib)
    if do_sweep:
        if fixed_layers is not None or weights is not None:
            raise FixynnError("--sweep covers every N with random weights; drop --fixed-layers "
                              "and --weights (use --sparsity to set the FFE's sparsity)")
        results = sweep(table_tech, cfg, SWEEP_WIDTHS, SWEEP_RESOLUTION, sparsity or 0.0,
                        options=options)
        title = (f"fixynn ppa sweep, {model_title(MOBILENET_V1, SWEEP_RESOLUTION)}, "
                 f"{table_tech.name}, sizing {sizing}")
        doc: Any = [r.as_dict() for r in results]
    elif layers_file is not None:  # any model's layers at one split
        layers, arch = _layer_file(layers_file, classes, fixed_layers)
        graph = load_graph(weights) if weights is not None else None
        result = evaluate_network(layers, fixed_layers or 0, table_tech, cfg, graph,
                                  sparsity or 0.0, arch=arch, options=options)
        results = [result]
        title = (f"fixynn ppa, {result.model} (layers of {layers_file.name}), "
                 f"N={fixed_layers}, {table_tech.name}, {result.weights}, sizing {sizing}")
        doc = result.as_dict()
    elif weights is not None and fixed_layers is None:  # any HwGraph: its FFE alone
        graph = load_graph(weights)
        est = estimate_ffe(graph, table_tech, freq_mhz=freq_mhz)
        doc = {"graph": graph.name, "ffe": est.to_dict()}
        if out is not None:
            atomic_write_json(out, doc)
        if as_json:
            print(json.dumps(doc, indent=2, sort_keys=True))
        else:
            Console(width=None if sys.stdout.isatty() else 220).print(_ffe_table(graph.name, est))
        return
    else:
        if fixed_layers is None:
            raise FixynnError("--fixed-layers N is required (0..14), or pass --sweep, or "
                              "--weights GRAPH alone for the FFE of any HwGraph")
        graph = load_graph(weights) if weights is not None else None
        result = evaluate_system(DEFAULT_WIDTH if width is None else width,
                                 DEFAULT_RESOLUTION if resolution is None else resolution,
                                 fixed_layers, table_tech, cfg, graph=graph,
                                 sparsity=sparsity or 0.0, options=options)
        results = [result]
        title = (f"fixynn ppa, {result.model}, N={fixed_layers}, "
                 f"{table_tech.name}, {result.weights}, sizing {sizing}")
        doc = result.as_dict()
    if out is not None:
        atomic_write_json(out, doc)
    if as_json:
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        # Off a terminal rich assumes 80 columns, which folds every cell; logs can be wider.
        Console(width=None if sys.stdout.isatty() else 220).print(_table(results, title))


def register(app: typer.Typer) -> None:
    app.command("ppa")(ppa_command)
