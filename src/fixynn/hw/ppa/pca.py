"""Programmable CNN accelerator (PCA): a weight-stationary systolic array of int8 MACs.

Why weight stationary: MobileNetV1's MACs are ~95% pointwise (1x1) convolutions, a plain GEMM
whose weight tile (in_channels x out_channels) is reused over every output pixel; WS keeps that
tile in the PEs and streams pixels past it (the TPU organisation). It is also one of SCALE-Sim's
dataflows, so the cycle model can be cross-checked against it (benchmarks/bench_scalesim.py).

Mapping (SCALE-Sim v3 conventions). A layer is lowered to a GEMM: Sr = k*k*in_channels/groups
rows of the weight matrix (the window), Sc = out_channels columns, T = out_h*out_w pixels. The
weight matrix is cut into ceil(Sr/R) x ceil(Sc/C) folds of an R x C array; each fold costs

    R (load the weights, one array row per cycle) + (R - 1) (input skew fill)
    + T (stream the pixels) + (C - 1) (drain the last partial sums)  = 2R + C + T - 2 cycles,

folds run one after another (no overlap of weight loading with streaming). SCALE-Sim reports
exactly this minus one cycle per layer (its counter starts at 0). Depthwise layers have no
cross-channel reduction: "channel_serial" runs one channel per fold (SCALE-Sim's own handling of
depthwise layers), "block_diagonal" (default) packs min(R // k^2, C) channels into one fold as a
block-diagonal weight tile (zeros elsewhere), which needs no extra hardware.

Memory (stated assumptions, no bandwidth stalls, as in SCALE-Sim's CALC mode):
* Layer by layer. A layer's input is read from DRAM and its output written to DRAM, unless the
  output fits both the ofmap buffer and (as the next layer's input) the ifmap buffer: then it
  is handed on on-chip (ofmap -> ifmap buffer copy) and never touches DRAM.
* Ifmap: read once from DRAM if it fits the ifmap buffer (depthwise: always once, each channel
  is used by one fold only). Otherwise the cheaper in DRAM bytes of two loop orders: (A) folds
  outer, the ifmap re-fetched per column fold; (B) ifmap tiles that fit outer, every fold re-run
  per tile (2R + C - 2 extra cycles per fold and tile), weights re-fetched per tile unless they
  fit the filter buffer.
* Weights: every weight is used by exactly one fold, so each is fetched once per frame (order A);
  if all of the network's weights fit the filter buffer they stay resident: no DRAM per frame
  (weight storage "auto"). "streamed" fetches them every batch even when they would fit.
* Batching: B frames share one weight load per fold (the B frames' pixels stream past the same
  weight tile, as B x T pixels). A batch is mapped as one layer sequence with B times the
  pixels, maps and MACs; per-frame figures are the batch's divided by B. B = 1 is the
  unbatched case, and the only one SCALE-Sim cross-checks.
* Partial sums (row folds > 1) accumulate in the ofmap buffer at 32 bits. When a column fold's
  T x C partial sums do not fit it, the pixels are split into tiles that do, and every tile
  re-runs the row folds (weights reloaded: 2R + C - 2 extra cycles and one more filter-buffer
  pass per tile); partial sums never go to DRAM. SCALE-Sim has no such capacity check.

Elementwise layers (add, maxpool, avgpool, global_avgpool: no weights, no MACs) run on a
vector unit of C lanes at the array's output edge, where each column's results leave the array
(TPU v1's activation pipeline after its accumulators plays this role). Each lane takes one
input element per cycle: an add reads 2 per output, a k x k pool k^2, a global pool H x W, so
cycles = ceil(output elements x inputs per output / C). Per input element: one ACC_BITS-wide
add (a compare for max) at the table's add_pj_per_bit and one ACC_BITS-bit register write; per
output of add / avgpool / global_avgpool one int8 multiply (mult_int8_pj) rescales it (the
add's operand alignment, the pool's 1/count). Inputs are read from the ifmap buffer, outputs
written to the ofmap buffer, DRAM as for any layer; an add's second operand (the shortcut,
computed layers earlier) is written to DRAM and read back once (2 x map bytes; an upper bound
by one map where its producer already wrote it). The vector unit's area is not modelled (nor
is the requantization/activation stage every conv output passes through): the same omission
on both designs.

Energy: MACs, the PE pipeline registers (8-bit input and 32-bit partial sum per MAC, 8 bits per
weight load), SRAM reads/writes at the per-bit energy of each buffer's size (capped at the
table's largest SRAM: bigger buffers are banks of that size), DRAM bytes, and the
tech table's clock/leakage overhead fraction. Idle PEs are taken as clock-gated. Area: MAC array
(int8 MAC + weight/input/psum registers per PE) plus the three SRAM buffers.
Everything is closed form per layer; a whole MobileNetV1 takes under a millisecond.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from fixynn.arch import ELEMENTWISE_KINDS, LayerShape
from fixynn.errors import FixynnError
from fixynn.hw.ppa.tech import (
    TechTable,
    sram_area_um2,
    sram_read_pj_per_bit,
    sram_write_pj_per_bit,
)

ACT_BITS = 8  # int8 activations
WEIGHT_BITS = 8  # int8 weights
ACC_BITS = 32  # partial sums; tech's mac_int8_pj is an 8b multiply + 32b add
DEPTHWISE_MAPPINGS = ("block_diagonal", "channel_serial")
# "auto": resident when the whole sequence's weights fit the filter buffer; "streamed": fetched
# from DRAM every batch regardless.
WEIGHT_STORAGE = ("auto", "streamed")


@dataclass(frozen=True)
class PcaConfig:
    """Array geometry, clock and scratchpad sizes of one programmable accelerator."""

    rows: int = 32  # SCALE-Sim's shipped default array: 32 x 32
    cols: int = 32
    freq_mhz: float = 500.0
    ifmap_sram_kib: float = 64.0  # SCALE-Sim's shipped default buffers: 64 KiB each
    filter_sram_kib: float = 64.0
    ofmap_sram_kib: float = 64.0
    depthwise_mapping: str = "block_diagonal"

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise FixynnError(f"PCA config: {name} must be an integer >= 1, got {value!r}")
        for name in ("freq_mhz", "ifmap_sram_kib", "filter_sram_kib", "ofmap_sram_kib"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise FixynnError(f"PCA config: {name} must be a number > 0, got {value!r}")
        if self.depthwise_mapping not in DEPTHWISE_MAPPINGS:
            raise FixynnError(
                f"PCA config: depthwise_mapping {self.depthwise_mapping!r} is not "
                f"one of {DEPTHWISE_MAPPINGS}"
            )

    @property
    def num_macs(self) -> int:
        return self.rows * self.cols

    @property
    def ifmap_bytes(self) -> float:
        return self.ifmap_sram_kib * 1024

    @property
    def filter_bytes(self) -> float:
        return self.filter_sram_kib * 1024

    @property
    def ofmap_bytes(self) -> float:
        return self.ofmap_sram_kib * 1024


@dataclass(frozen=True)
class LayerCounts:
    """Cycles and traffic of one layer on the array (technology independent)."""

    name: str
    kind: str
    macs: int
    folds: int
    tiles: int  # pixel tiles: > 1 when partial sums or (loop order B) the ifmap overflow
    cycles: int
    utilization: float  # useful MACs / (array MACs x cycles)
    ifmap_sram_reads: int  # 8-bit words
    filter_sram_reads: int  # 8-bit words
    ofmap_sram_writes: int  # final outputs (8-bit) + partial sums (32-bit)
    psum_sram_writes: int  # of which partial sums (32-bit)
    psum_sram_reads: int  # partial sums read back to accumulate (32-bit)
    handoff_bytes: int  # output copied ofmap -> ifmap buffer for the next layer (on-chip)
    dram_ifmap_bytes: int
    dram_filter_bytes: int
    dram_ofmap_bytes: int
    vector_ops: int = 0  # elementwise kinds: input elements through the vector unit
    vector_scales: int = 0  # of which outputs rescaled by an int8 multiply

    @property
    def dram_bytes(self) -> int:
        return self.dram_ifmap_bytes + self.dram_filter_bytes + self.dram_ofmap_bytes


@dataclass(frozen=True)
class LayerEnergy:
    """Energy of one layer in pJ, by where it is spent."""

    mac_pj: float
    register_pj: float
    sram_pj: float
    dram_pj: float
    overhead_pj: float
    vector_pj: float = 0.0  # elementwise work on the vector unit

    @property
    def total_pj(self) -> float:
        return (self.mac_pj + self.register_pj + self.sram_pj + self.dram_pj + self.overhead_pj
                + self.vector_pj)


@dataclass(frozen=True)
class PcaLayer:
    counts: LayerCounts
    energy: LayerEnergy


@dataclass(frozen=True)
class PcaResult:
    """One frame of a layer sequence on one PCA."""

    config: PcaConfig
    layers: tuple[PcaLayer, ...]  # counts and energy of one batch
    array_area_mm2: float
    sram_area_mm2: float
    weights_resident: bool
    batch: int = 1  # frames per weight fetch

    @property
    def area_mm2(self) -> float:
        return self.array_area_mm2 + self.sram_area_mm2

    @property
    def cycles(self) -> int:
        """Cycles of one batch."""
        return sum(layer.counts.cycles for layer in self.layers)

    @property
    def macs(self) -> int:
        """MACs of one frame."""
        return sum(layer.counts.macs for layer in self.layers) // self.batch

    @property
    def fps(self) -> float:
        if self.cycles == 0:
            return math.inf
        return self.batch * self.config.freq_mhz * 1e6 / self.cycles

    @property
    def batch_latency_ms(self) -> float:
        """Compute time of one batch (collecting its B frames first adds B - 1 frame periods)."""
        return self.cycles / (self.config.freq_mhz * 1e3)

    @property
    def energy_per_frame_pj(self) -> float:
        return sum(layer.energy.total_pj for layer in self.layers) / self.batch

    @property
    def energy_per_frame_uj(self) -> float:
        return self.energy_per_frame_pj * 1e-6

    @property
    def dram_bytes(self) -> float:
        """DRAM bytes per frame."""
        return sum(layer.counts.dram_bytes for layer in self.layers) / self.batch

    @property
    def utilization(self) -> float:
        total_macs = sum(layer.counts.macs for layer in self.layers)
        return 0.0 if self.cycles == 0 else total_macs / (self.config.num_macs * self.cycles)

    def energy_breakdown_uj(self) -> dict[str, float]:
        """Energy per frame by where it is spent."""
        keys = ("mac_pj", "register_pj", "sram_pj", "dram_pj", "overhead_pj", "vector_pj")
        return {
            k.removesuffix("_pj") + "_uj": sum(getattr(layer.energy, k) for layer in self.layers)
            * 1e-6 / self.batch
            for k in keys
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config),
            "area_mm2": self.area_mm2,
            "array_area_mm2": self.array_area_mm2,
            "sram_area_mm2": self.sram_area_mm2,
            "cycles": self.cycles,
            "fps": self.fps,
            "macs": self.macs,
            "utilization": self.utilization,
            "energy_per_frame_uj": self.energy_per_frame_uj,
            "energy_breakdown_uj": self.energy_breakdown_uj(),
            "dram_bytes": self.dram_bytes,
            "weights_resident": self.weights_resident,
            "batch": self.batch,
            "batch_latency_ms": self.batch_latency_ms,
            "layers": [
                asdict(layer.counts) | {"energy_pj": layer.energy.total_pj} for layer in self.layers
            ],
        }


# ---------------------------------------------------------------------------------------------
# Mapping (cycles and traffic)


def _gemm_dims(layer: LayerShape, batch: int = 1) -> tuple[int, int, int]:
    """(Sr, Sc, T) of one group of the layer's GEMM: window, filters, output pixels of a batch."""
    pixels = layer.out_height * layer.out_width * batch
    window = (layer.in_channels // layer.groups) * layer.kernel**2
    filters = 1 if layer.kind == "depthwise" else layer.out_channels
    return window, filters, pixels


def _in_bytes(layer: LayerShape, batch: int = 1) -> int:
    return layer.in_channels * layer.in_height * layer.in_width * ACT_BITS // 8 * batch


def _out_bytes(layer: LayerShape, batch: int = 1) -> int:
    return layer.out_channels * layer.out_height * layer.out_width * ACT_BITS // 8 * batch


def map_elementwise(layer: LayerShape, cfg: PcaConfig, *, input_on_chip: bool = False,
                    output_on_chip: bool = False, batch: int = 1) -> LayerCounts:
    """An add or pool on the vector unit (module docstring): cycles and traffic."""
    outputs = layer.out_channels * layer.out_height * layer.out_width * batch
    ops = outputs * layer.window
    in_bytes, out_bytes = _in_bytes(layer, batch), _out_bytes(layer, batch)
    shortcut = 2 * in_bytes if layer.kind == "add" else 0  # written, then read back
    return LayerCounts(
        name=layer.name, kind=layer.kind, macs=0, folds=0, tiles=1,
        cycles=math.ceil(ops / cfg.cols), utilization=0.0,
        ifmap_sram_reads=ops, filter_sram_reads=0, ofmap_sram_writes=outputs,
        psum_sram_writes=0, psum_sram_reads=0,
        handoff_bytes=out_bytes if output_on_chip else 0,
        dram_ifmap_bytes=(0 if input_on_chip else in_bytes) + shortcut, dram_filter_bytes=0,
        dram_ofmap_bytes=0 if output_on_chip else out_bytes,
        vector_ops=ops, vector_scales=0 if layer.kind == "maxpool" else outputs,
    )


def map_layer(
    layer: LayerShape,
    cfg: PcaConfig,
    *,
    input_on_chip: bool = False,
    output_on_chip: bool = False,
    weights_resident: bool = False,
    batch: int = 1,
) -> LayerCounts:
    """Cycles, utilization and SRAM/DRAM traffic of `layer` for `batch` frames on `cfg`."""
    if layer.kind in ELEMENTWISE_KINDS:
        return map_elementwise(layer, cfg, input_on_chip=input_on_chip,
                               output_on_chip=output_on_chip, batch=batch)
    rows, cols = cfg.rows, cfg.cols
    window, filters, pixels = _gemm_dims(layer, batch)
    row_folds = math.ceil(window / rows)
    if layer.kind == "depthwise":
        per_fold = 1
        if cfg.depthwise_mapping == "block_diagonal" and window <= rows:
            per_fold = min(rows // window, cols, layer.in_channels)
        col_folds = math.ceil(layer.in_channels / per_fold)
        used_cols = per_fold
        ifmap_reads = layer.in_channels * window * pixels
        ofmap_words = layer.in_channels * pixels
        ifmap_passes = 1  # each channel's input is used by one fold only
    else:
        col_folds = math.ceil(filters / cols)
        used_cols = min(cols, filters)
        ifmap_reads = col_folds * window * pixels
        ofmap_words = filters * pixels
        ifmap_passes = col_folds
    folds = row_folds * col_folds
    psum_tiles = 1
    if row_folds > 1:
        tile_pixels = max(1, int(cfg.ofmap_bytes // (used_cols * ACC_BITS // 8)))
        psum_tiles = math.ceil(pixels / tile_pixels)
    in_bytes, out_bytes = _in_bytes(layer, batch), _out_bytes(layer, batch)
    weight_bytes = 0 if weights_resident else layer.weights * WEIGHT_BITS // 8
    # Loop order A: folds outer, the whole ifmap streamed per fold (re-fetched from DRAM per
    # column fold when it does not fit). Order B: ifmap tiles that fit outer, every fold re-run
    # per tile (weights re-fetched per tile when they do not fit). Take the one with less DRAM.
    tiles = psum_tiles
    dram_ifmap = in_bytes * (1 if in_bytes <= cfg.ifmap_bytes else ifmap_passes)
    dram_filter = weight_bytes
    if in_bytes > cfg.ifmap_bytes and ifmap_passes > 1:
        tiles_b = max(psum_tiles, math.ceil(in_bytes / cfg.ifmap_bytes))
        filter_b = weight_bytes * (1 if weight_bytes <= cfg.filter_bytes else tiles_b)
        if in_bytes + filter_b < dram_ifmap + dram_filter:
            tiles, dram_ifmap, dram_filter = tiles_b, in_bytes, filter_b
    if input_on_chip:
        dram_ifmap = 0
    cycles = folds * (tiles * (2 * rows + cols - 2) + pixels)
    psum_words = (row_folds - 1) * ofmap_words
    macs = layer.macs * batch
    return LayerCounts(
        name=layer.name,
        kind=layer.kind,
        macs=macs,
        folds=folds,
        tiles=tiles,
        cycles=cycles,
        utilization=macs / (rows * cols * cycles),
        ifmap_sram_reads=ifmap_reads,
        filter_sram_reads=layer.weights * tiles,
        ofmap_sram_writes=row_folds * ofmap_words,
        psum_sram_writes=psum_words,
        psum_sram_reads=psum_words,
        handoff_bytes=out_bytes if output_on_chip else 0,
        dram_ifmap_bytes=dram_ifmap,
        dram_filter_bytes=dram_filter,
        dram_ofmap_bytes=0 if output_on_chip else out_bytes,
    )


def weight_bytes(layers: Sequence[LayerShape]) -> int:
    """Bytes of all weights of a layer sequence (what a filter buffer must hold to keep them)."""
    return sum(layer.weights for layer in layers) * WEIGHT_BITS // 8


def map_network(
    layers: Sequence[LayerShape],
    cfg: PcaConfig,
    *,
    input_on_chip: bool = False,
    batch: int = 1,
    weight_storage: str = "auto",
) -> tuple[list[LayerCounts], bool]:
    """Map a batch through a layer sequence, deciding on-chip hand-offs and weight residency;
    (counts, resident)."""
    if weight_storage not in WEIGHT_STORAGE:
        raise FixynnError(f"weight storage {weight_storage!r} is not one of {WEIGHT_STORAGE}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise FixynnError(f"batch must be an integer >= 1, got {batch!r}")
    resident = weight_storage == "auto" and weight_bytes(layers) <= cfg.filter_bytes
    counts: list[LayerCounts] = []
    on_chip = input_on_chip
    for i, layer in enumerate(layers):
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        keep = (
            nxt is not None
            and _out_bytes(layer, batch) <= cfg.ofmap_bytes
            and _in_bytes(nxt, batch) <= cfg.ifmap_bytes
        )
        counts.append(
            map_layer(layer, cfg, input_on_chip=on_chip, output_on_chip=keep,
                      weights_resident=resident, batch=batch)
        )
        on_chip = keep
    return counts, resident


# ---------------------------------------------------------------------------------------------
# Energy and area


def bank_bytes(tech: TechTable, size_bytes: float) -> float:
    """Buffers above the table's largest SRAM are built from banks of that size, and an access
    costs one bank's energy (bank-select wiring not counted) instead of extrapolating."""
    return min(size_bytes, max(tech.sram_sizes_bytes))


@dataclass(frozen=True)
class SramCosts:
    """pJ per bit read / written of the three buffers of one configuration."""

    ifmap_rd: float
    ifmap_wr: float
    filt_rd: float
    filt_wr: float
    ofmap_rd: float
    ofmap_wr: float


def sram_costs(cfg: PcaConfig, tech: TechTable) -> SramCosts:
    """Per-bit access energies of `cfg`'s buffers (computed once per configuration)."""
    ifmap, filt, ofmap = (bank_bytes(tech, cfg.ifmap_bytes), bank_bytes(tech, cfg.filter_bytes),
                          bank_bytes(tech, cfg.ofmap_bytes))
    return SramCosts(
        ifmap_rd=sram_read_pj_per_bit(tech, ifmap), ifmap_wr=sram_write_pj_per_bit(tech, ifmap),
        filt_rd=sram_read_pj_per_bit(tech, filt), filt_wr=sram_write_pj_per_bit(tech, filt),
        ofmap_rd=sram_read_pj_per_bit(tech, ofmap), ofmap_wr=sram_write_pj_per_bit(tech, ofmap),
    )


def layer_energy(counts: LayerCounts, cfg: PcaConfig, tech: TechTable,
                 costs: SramCosts | None = None) -> LayerEnergy:
    """Energy of one mapped layer from the technology table."""
    c = costs or sram_costs(cfg, tech)
    ifmap_rd, ifmap_wr, filt_rd, filt_wr = c.ifmap_rd, c.ifmap_wr, c.filt_rd, c.filt_wr
    ofmap_rd, ofmap_wr = c.ofmap_rd, c.ofmap_wr
    final_writes = counts.ofmap_sram_writes - counts.psum_sram_writes
    sram = (
        counts.ifmap_sram_reads * ACT_BITS * ifmap_rd
        + (counts.dram_ifmap_bytes + counts.handoff_bytes) * 8 * ifmap_wr  # fills
        + counts.filter_sram_reads * WEIGHT_BITS * filt_rd
        + counts.dram_filter_bytes * 8 * filt_wr  # fill from DRAM
        + final_writes * ACT_BITS * ofmap_wr
        + counts.psum_sram_writes * ACC_BITS * ofmap_wr
        + counts.psum_sram_reads * ACC_BITS * ofmap_rd
        + (counts.dram_ofmap_bytes + counts.handoff_bytes) * 8 * ofmap_rd  # drains
    )
    mac = counts.macs * tech.mac_int8_pj
    register = (
        counts.macs * (ACT_BITS + ACC_BITS) + counts.filter_sram_reads * WEIGHT_BITS
    ) * tech.register_pj_per_bit
    dram = counts.dram_bytes * tech.dram_pj_per_byte
    vector = (counts.vector_ops * ACC_BITS * (tech.add_pj_per_bit + tech.register_pj_per_bit)
              + counts.vector_scales * tech.mult_int8_pj)
    overhead = tech.overhead_fraction * (mac + register + sram + dram + vector)
    return LayerEnergy(
        mac_pj=mac, register_pj=register, sram_pj=sram, dram_pj=dram, overhead_pj=overhead,
        vector_pj=vector,
    )


def array_area_um2(cfg: PcaConfig, tech: TechTable) -> float:
    """MAC array: per PE an int8 MAC plus weight (8b), input (8b) and psum (32b) registers."""
    per_pe = tech.mac_int8_area_um2 + (WEIGHT_BITS + ACT_BITS + ACC_BITS) * tech.flip_flop_area_um2
    return cfg.num_macs * per_pe


def buffers_area_um2(cfg: PcaConfig, tech: TechTable) -> float:
    total_bytes = cfg.ifmap_bytes + cfg.filter_bytes + cfg.ofmap_bytes
    return sram_area_um2(tech, total_bytes * 8)


def pca_area_mm2(cfg: PcaConfig, tech: TechTable) -> float:
    return (array_area_um2(cfg, tech) + buffers_area_um2(cfg, tech)) * 1e-6


def evaluate_pca(
    layers: Sequence[LayerShape],
    cfg: PcaConfig,
    tech: TechTable,
    *,
    input_on_chip: bool = False,
    batch: int = 1,
    weight_storage: str = "auto",
) -> PcaResult:
    """Cycles, energy and area of running `layers` on the PCA `cfg`, `batch` frames at a time."""
    counts, resident = map_network(layers, cfg, input_on_chip=input_on_chip, batch=batch,
                                   weight_storage=weight_storage)
    costs = sram_costs(cfg, tech)
    mapped = tuple(PcaLayer(c, layer_energy(c, cfg, tech, costs)) for c in counts)
    return PcaResult(
        config=cfg,
        layers=mapped,
        array_area_mm2=array_area_um2(cfg, tech) * 1e-6,
        sram_area_mm2=buffers_area_um2(cfg, tech) * 1e-6,
        weights_resident=resident,
        batch=batch,
    )
