"""System model: the FixyNN hybrid (FFE + PCA) vs a programmable-only PCA of the same area.

Hybrid at split point N: the fixed front-end (FFE) runs blocks 0..N-1, the PCA runs blocks N..
and the classifier. The layers are any network's (`fixynn.arch.LayerShape`: MobileNetV1's from
`mobilenet_v1_layers`, a traced model's from `fixynn.frontend.layer_shapes` or a layer file:
`evaluate_network`);
N runs from 0 to the classifier's block (`fixynn.arch.max_split`). The two are pipelined across
frames (the FFE works on frame i+1 while the PCA finishes frame i), so
* throughput = the slower stage: fps = min(FFE fps, PCA fps);
* energy/frame = FFE + PCA + interface; area = FFE + PCA (+ hand-off buffer).
Interface, through DRAM: the FFE writes its output map once (the DRAM write is charged here),
the PCA reads it as its first layer's input (charged in the PCA model). Or through an on-chip
hand-off buffer (sizing by search only): double-buffered, it holds 2 x B frames of the FFE's
output (B = frames per batch) so the FFE fills one half while the PCA reads the other; the FFE
writes it, each byte is read once and written into the PCA's ifmap buffer (all charged here),
and its area comes out of the hybrid's. What crosses is the input of the back-end's first
layer, except that a back-end starting with the global average pool (MobileNetV1 at N = 14)
has the pool taken at the FFE output (one accumulator per channel as the map streams out), so
the vector crosses (pooling energy, 49 adds per channel at 224, is not counted);
`mobilenet_v1_layers` has no pool layer at all, a traced model's list has it as a layer of its
head. Everywhere else a pool or add of the back-end runs on the PCA's vector unit
(fixynn.hw.ppa.pca).
Image input: the camera frame sits in DRAM for both designs; the FFE reads it once (charged
here), the PCA reads it as its first layer's input. Writing it there is outside both.

Sizing of the two PCAs (SizingOptions.sizing):
* "search" (default): for a total area A (default: the hybrid's as with the fixed rule, FFE +
  the base PCA; or a given area_mm2) and an fps floor, each side's PCA is the configuration of
  least energy per frame that the design-space search (fixynn.hw.ppa.search) finds for its own
  work: the baseline over the whole network in A, the hybrid over its back-end in A minus the
  FFE (and minus the hand-off buffer). Options: weight storage, frames per batch, hand-off.
* "fixed" (the rule before the search): the hybrid gets the base PCA; the iso-area baseline is
  the base PCA scaled to the hybrid's area: rows and cols both grow by sqrt(area ratio)
  (rounded, aspect kept), then the three SRAM buffers grow in their base proportions to take
  exactly the remaining area. It runs the whole network.

Ops convention: both designs are credited the same dense ops, 2 x MACs of the whole network per
frame (zero weights of a sparse FFE still count), so TOPS/W ratios compare energy per frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from fixynn.arch import (
    NUM_BLOCKS,
    LayerShape,
    back_end_layers,
    front_end_layers,
    max_split,
    mobilenet_v1_layers,
    model_title,
)
from fixynn.errors import FixynnError
from fixynn.hw.ir import HwGraph, HwLayer
from fixynn.hw.ppa.ffe import FfeEstimate, estimate_ffe
from fixynn.hw.ppa.pca import (
    ACT_BITS,
    PcaConfig,
    PcaResult,
    array_area_um2,
    bank_bytes,
    buffers_area_um2,
    evaluate_pca,
    pca_area_mm2,
)
from fixynn.hw.ppa.search import (
    HANDOFF_OPTIONS,
    KIB,
    SIZING_RULES,
    WEIGHT_OPTIONS,
    SearchResult,
    SearchSpace,
    search_pca,
)
from fixynn.hw.ppa.tech import (
    TechTable,
    sram_area_um2,
    sram_read_pj_per_bit,
    sram_write_pj_per_bit,
)

MOBILENET_V1 = "mobilenet-v1"  # its fixynn.arch.ARCHES name
STRIDE_PLAN = "imagenet"
IN_CHANNELS = 3
NUM_CLASSES = 1000
ISO_AREA_RTOL = 1e-9
# A real-time video target (30 frames/s, the usual camera rate) at the model's resolution.
DEFAULT_FPS_FLOOR = 30.0


class OptionError(FixynnError):
    """A bad SizingOptions field; `option` names it, so a caller can name its own flag or
    config key for it (`fixynn ppa --fps-floor`, `hardware.fps_floor`)."""

    def __init__(self, option: str, why: str) -> None:
        super().__init__(f"{option}: {why}")
        self.option, self.why = option, why


@dataclass(frozen=True)
class SizingOptions:
    """How the two designs' programmable accelerators are sized (docs/ppa-system.md)."""

    sizing: str = "search"  # "search" or "fixed" (the sqrt-scaling rule)
    fps_floor: float = DEFAULT_FPS_FLOOR  # both designs must reach it (search only)
    batch: int = 1  # frames sharing one weight fetch on the PCA
    weights: str = "auto"  # weight storage: auto / resident / streamed (search.WEIGHT_OPTIONS)
    handoff: str = "auto"  # FFE -> PCA: auto (the better of the two) / dram / buffer
    area_mm2: float | None = None  # total area A; None: FFE + the base PCA
    count_dram: bool = True  # DRAM energy in the objective (and in every reported figure)
    space: SearchSpace = field(default_factory=SearchSpace)

    def __post_init__(self) -> None:
        if self.sizing not in SIZING_RULES:
            raise OptionError("sizing", f"{self.sizing!r} is not one of {', '.join(SIZING_RULES)}")
        if not (math.isfinite(self.fps_floor) and self.fps_floor >= 0):
            raise OptionError("fps_floor", f"must be a number of frames/s >= 0, got "
                              f"{self.fps_floor}")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise OptionError("batch", f"must be an integer >= 1, got {self.batch!r}")
        if self.weights not in WEIGHT_OPTIONS:
            raise OptionError("weights", f"weight storage {self.weights!r} is not one of "
                              f"{', '.join(WEIGHT_OPTIONS)}")
        if self.handoff not in HANDOFF_OPTIONS:
            raise OptionError("handoff", f"hand-off {self.handoff!r} is not one of "
                              f"{', '.join(HANDOFF_OPTIONS)}")
        if self.area_mm2 is not None and not (math.isfinite(self.area_mm2)
                                              and self.area_mm2 > 0):
            raise OptionError("area_mm2", f"area must be a number > 0 mm2, got {self.area_mm2}")
        if self.sizing == "fixed" and (self.batch != 1 or self.weights != "auto"
                                       or self.handoff == "buffer" or self.area_mm2 is not None
                                       or not self.count_dram):
            raise OptionError("sizing", "sizing fixed takes none of the search's options "
                              "(batch, weight storage, hand-off buffer, area, DRAM left out); "
                              "leave them at their defaults or use sizing search")

    def as_dict(self) -> dict[str, Any]:
        return {"sizing": self.sizing, "fps_floor": self.fps_floor, "batch": self.batch,
                "weights": self.weights, "handoff": self.handoff, "area_mm2": self.area_mm2,
                "count_dram": self.count_dram, "space": self.space.as_dict()}


FIXED_RULE = SizingOptions(sizing="fixed")


class FfeNumbers(Protocol):
    """What the system model needs from an FFE estimate (fixynn.hw.ppa.ffe.FfeEstimate)."""

    @property
    def area_mm2(self) -> float: ...

    @property
    def energy_per_frame_uj(self) -> float: ...

    @property
    def fps(self) -> float: ...


@dataclass(frozen=True)
class DesignPoint:
    """One design running one frame: the four headline numbers and where they come from."""

    name: str
    area_mm2: float
    energy_per_frame_uj: float
    fps: float
    ops_per_frame: int
    energy_breakdown_uj: dict[str, float]
    area_breakdown_mm2: dict[str, float]
    fps_breakdown: dict[str, float]
    pca: dict[str, Any] = field(default_factory=dict)

    @property
    def tops_per_w(self) -> float:
        # ops / pJ = 1e12 ops / J = TOPS/W
        return self.ops_per_frame / (self.energy_per_frame_uj * 1e6)

    @property
    def tops_per_mm2(self) -> float:
        return self.ops_per_frame * self.fps / self.area_mm2 * 1e-12

    def as_dict(self) -> dict[str, Any]:
        return {
            "tops_per_w": self.tops_per_w,
            "fps": self.fps,
            "area_mm2": self.area_mm2,
            "energy_per_frame_uj": self.energy_per_frame_uj,
            "tops_per_mm2": self.tops_per_mm2,
            "ops_per_frame": self.ops_per_frame,
            "energy_breakdown_uj": self.energy_breakdown_uj,
            "area_breakdown_mm2": self.area_breakdown_mm2,
            "fps_breakdown": self.fps_breakdown,
            "pca": self.pca,
        }


@dataclass(frozen=True)
class SystemResult:
    arch: str  # the network: a fixynn.arch.ARCHES name, or a user model's own name
    width: float | None  # MobileNetV1's width multiplier; None for a network without one
    resolution: int
    n_fixed: int
    tech: str
    weights: str  # "trained:<graph name>" or "random sparsity=<s>"
    hybrid: DesignPoint
    iso_area_programmable: DesignPoint
    sizing: dict[str, Any] = field(default_factory=dict)  # options and search statistics

    @property
    def ratios(self) -> dict[str, float]:
        """Hybrid over iso-area programmable (TOPS/W > 1 and energy/frame < 1 favour FixyNN)."""
        h, p = self.hybrid, self.iso_area_programmable
        return {
            "tops_per_w": h.tops_per_w / p.tops_per_w,
            "fps": h.fps / p.fps,
            "energy_per_frame": h.energy_per_frame_uj / p.energy_per_frame_uj,
            "area": h.area_mm2 / p.area_mm2,
        }

    @property
    def model(self) -> str:
        """The network as tables name it (fixynn.arch.model_title)."""
        return model_title(self.arch, self.resolution, self.width)

    def as_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "model": self.model,
            "width": self.width,
            "resolution": self.resolution,
            "fixed_layers": self.n_fixed,
            "tech": self.tech,
            "weights": self.weights,
            "hybrid": self.hybrid.as_dict(),
            "iso_area_programmable": self.iso_area_programmable.as_dict(),
            "ratios": self.ratios,
            "sizing": self.sizing,
        }


# ---------------------------------------------------------------------------------------------
# Iso-area scaling


def iso_area_config(base: PcaConfig, target_area_mm2: float, tech: TechTable) -> PcaConfig:
    """`base` grown to exactly `target_area_mm2`: array by sqrt(ratio), buffers take the rest."""
    base_area = pca_area_mm2(base, tech)
    if target_area_mm2 < base_area * (1 - ISO_AREA_RTOL):
        raise FixynnError(f"iso-area target {target_area_mm2:.4g} mm2 is below the base PCA's "
                          f"{base_area:.4g} mm2; the hybrid always contains the base PCA")
    grow = math.sqrt(target_area_mm2 / base_area)
    rows, cols = max(base.rows, round(base.rows * grow)), max(base.cols, round(base.cols * grow))
    target_um2 = target_area_mm2 * 1e6
    base_sram = buffers_area_um2(base, tech)
    # Rounding up can leave the buffers less than their base size; shrink the array back.
    while (rows > base.rows or cols > base.cols) and (
        array_area_um2(replace(base, rows=rows, cols=cols), tech) + base_sram > target_um2
    ):
        if rows * base.cols >= cols * base.rows and rows > base.rows:
            rows -= 1
        else:
            cols -= 1
    array = array_area_um2(replace(base, rows=rows, cols=cols), tech)
    scale = max(1.0, (target_um2 - array) / base_sram)
    return replace(base, rows=rows, cols=cols, ifmap_sram_kib=base.ifmap_sram_kib * scale,
                   filter_sram_kib=base.filter_sram_kib * scale,
                   ofmap_sram_kib=base.ofmap_sram_kib * scale)


# ---------------------------------------------------------------------------------------------
# Evaluation


def _pca_summary(cfg: PcaConfig, result: PcaResult) -> dict[str, Any]:
    return {
        "rows": cfg.rows,
        "cols": cfg.cols,
        "freq_mhz": cfg.freq_mhz,
        "ifmap_sram_kib": cfg.ifmap_sram_kib,
        "filter_sram_kib": cfg.filter_sram_kib,
        "ofmap_sram_kib": cfg.ofmap_sram_kib,
        "depthwise_mapping": cfg.depthwise_mapping,
        "cycles": result.cycles,
        "utilization": result.utilization,
        "dram_bytes": result.dram_bytes,
        "weights_resident": result.weights_resident,
        "batch": result.batch,
        "batch_latency_ms": result.batch_latency_ms,
        "area_mm2": result.area_mm2,
    }


def pca_label(pca: dict[str, Any]) -> str:
    """`RxC i/f/o` (buffer KiB) of a design's PCA summary, plus ` R` when weights are resident."""
    return (f"{pca['rows']}x{pca['cols']} {pca['ifmap_sram_kib']:.0f}/"
            f"{pca['filter_sram_kib']:.0f}/{pca['ofmap_sram_kib']:.0f}"
            + (" R" if pca["weights_resident"] else ""))


def _bytes(channels: int, height: int, width: int) -> int:
    return channels * height * width * ACT_BITS // 8


def _ops(layers: Sequence[LayerShape]) -> int:
    return 2 * sum(layer.macs for layer in layers)


def _pca_energy(pca: PcaResult) -> dict[str, float]:
    return {f"pca_{k}": v for k, v in pca.energy_breakdown_uj().items()}


def _programmable_point(layers: Sequence[LayerShape], full: PcaResult) -> DesignPoint:
    return DesignPoint(
        name="iso_area_programmable", area_mm2=full.area_mm2,
        energy_per_frame_uj=full.energy_per_frame_uj, fps=full.fps, ops_per_frame=_ops(layers),
        energy_breakdown_uj=_pca_energy(full), area_breakdown_mm2={"pca": full.area_mm2},
        fps_breakdown={"pca": full.fps}, pca=_pca_summary(full.config, full),
    )


def pca_layers(layers: Sequence[LayerShape], n_fixed: int) -> list[LayerShape]:
    """What the hybrid's PCA runs at split `n_fixed`: the back-end, less a leading global
    average pool when an FFE is there to take it (module docstring)."""
    back = back_end_layers(list(layers), n_fixed)
    if n_fixed > 0 and back[0].kind == "global_avgpool":
        return back[1:]
    return back


def _hybrid_point(layers: Sequence[LayerShape], n_fixed: int, tech: TechTable, pca: PcaResult,
                  ffe: FfeNumbers | None, handoff_kib: float = 0.0) -> DesignPoint:
    """FFE + interface + PCA; `handoff_kib` > 0: through an on-chip buffer of that size."""
    energy, area, fps = _pca_energy(pca), {"pca": pca.area_mm2}, {"pca": pca.fps}
    summary = _pca_summary(pca.config, pca)
    if ffe is not None:
        back = pca_layers(layers, n_fixed)
        first = layers[0]
        image = _bytes(first.in_channels, first.in_height, first.in_width)
        handoff = _bytes(back[0].in_channels, back[0].in_height, back[0].in_width)
        energy = {"ffe_uj": ffe.energy_per_frame_uj,
                  "image_dram_uj": image * tech.dram_pj_per_byte * 1e-6}
        if handoff_kib > 0:
            buffer = bank_bytes(tech, handoff_kib * KIB)
            ifmap = bank_bytes(tech, pca.config.ifmap_bytes)
            per_bit = (sram_write_pj_per_bit(tech, buffer) + sram_read_pj_per_bit(tech, buffer)
                       + sram_write_pj_per_bit(tech, ifmap))
            energy["interface_sram_uj"] = handoff * 8 * per_bit * 1e-6
            area = {"ffe": ffe.area_mm2,
                    "handoff_buffer": sram_area_um2(tech, handoff_kib * KIB * 8) * 1e-6,
                    "pca": pca.area_mm2}
        else:
            energy["interface_dram_uj"] = handoff * tech.dram_pj_per_byte * 1e-6
            area = {"ffe": ffe.area_mm2, "pca": pca.area_mm2}
        energy |= _pca_energy(pca)
        fps = {"ffe": ffe.fps, "pca": pca.fps}
        summary |= {"handoff": "buffer" if handoff_kib > 0 else "dram",
                    "handoff_buffer_kib": handoff_kib}
    return DesignPoint(
        name="hybrid", area_mm2=sum(area.values()), energy_per_frame_uj=sum(energy.values()),
        fps=min(fps.values()), ops_per_frame=_ops(layers), energy_breakdown_uj=energy,
        area_breakdown_mm2=area, fps_breakdown=fps, pca=summary,
    )


def evaluate_split(
    layers: Sequence[LayerShape],
    n_fixed: int,
    tech: TechTable,
    pca_config: PcaConfig,
    ffe: FfeNumbers | None,
) -> tuple[DesignPoint, DesignPoint]:
    """(hybrid, iso-area programmable) by the fixed rule: the hybrid gets `pca_config`, the
    baseline `pca_config` scaled to the hybrid's area (iso_area_config)."""
    if (n_fixed == 0) != (ffe is None):
        raise FixynnError("an FFE estimate is needed exactly when fixed-layers N > 0")
    pca = evaluate_pca(pca_layers(layers, n_fixed), pca_config, tech)
    hybrid = _hybrid_point(layers, n_fixed, tech, pca, ffe)
    iso_cfg = iso_area_config(pca_config, hybrid.area_mm2, tech)
    return hybrid, _programmable_point(layers, evaluate_pca(list(layers), iso_cfg, tech))


def _objective(point: DesignPoint, count_dram: bool) -> float:
    dram = 0.0 if count_dram else sum(
        v for k, v in point.energy_breakdown_uj.items() if "dram" in k)
    return point.energy_per_frame_uj - dram


def _no_fit(what: str, area_mm2: float, opts: SizingOptions) -> FixynnError:
    return FixynnError(
        f"sizing: no PCA of the search space fits the {what} in {area_mm2:.4g} mm2 at >= "
        f"{opts.fps_floor:g} fps (batch {opts.batch}, weights {opts.weights}); lower the fps "
        "floor (--fps-floor / hardware.fps_floor) or give more area (--area-mm2 / "
        "hardware.area_mm2)")


def _search(layers: Sequence[LayerShape], tech: TechTable, area_mm2: float, base: PcaConfig,
            opts: SizingOptions, input_on_chip: bool = False) -> SearchResult | None:
    return search_pca(layers, tech, area_mm2, opts.fps_floor, base=base, space=opts.space,
                      input_on_chip=input_on_chip, batch=opts.batch, weights=opts.weights,
                      count_dram=opts.count_dram)


def check_split(layers: Sequence[LayerShape], n_fixed: int) -> None:
    """`n_fixed` must be a split point of `layers` (0..fixynn.arch.max_split)."""
    if isinstance(n_fixed, bool) or not isinstance(n_fixed, int) or not (
            0 <= n_fixed <= max_split(layers)):
        raise FixynnError(f"split point N = {n_fixed!r}: this network's N runs from 0 to "
                          f"{max_split(layers)} (its units but the last)")


def size_split(
    layers: Sequence[LayerShape],
    n_fixed: int,
    tech: TechTable,
    base: PcaConfig,
    ffe: FfeNumbers | None,
    opts: SizingOptions,
) -> tuple[DesignPoint, DesignPoint, dict[str, Any]]:
    """(hybrid, iso-area programmable, sizing record) at split `n_fixed` by the rule
    `opts.sizing`: the fixed rule, or each PCA sized by search for its own work."""
    check_split(layers, n_fixed)
    if opts.sizing == "fixed":
        hybrid, programmable = evaluate_split(layers, n_fixed, tech, base, ffe)
        return hybrid, programmable, opts.as_dict() | {"total_area_mm2": hybrid.area_mm2}
    if (n_fixed == 0) != (ffe is None):
        raise FixynnError("an FFE estimate is needed exactly when fixed-layers N > 0")
    ffe_area = 0.0 if ffe is None else ffe.area_mm2
    total = opts.area_mm2 if opts.area_mm2 is not None else ffe_area + pca_area_mm2(base, tech)
    if total <= ffe_area:
        raise FixynnError(f"area {total:.4g} mm2 leaves nothing for the PCA next to the "
                          f"{ffe_area:.4g} mm2 FFE; give a larger --area-mm2 / hardware.area_mm2")
    if ffe is not None and ffe.fps < opts.fps_floor:
        raise FixynnError(f"the FFE runs at {ffe.fps:.4g} fps, under the fps floor "
                          f"{opts.fps_floor:g}; lower --fps-floor / hardware.fps_floor or raise "
                          "the clock")
    back = pca_layers(layers, n_fixed)
    handoffs = ("dram",) if ffe is None else (
        ("dram", "buffer") if opts.handoff == "auto" else (opts.handoff,))
    first = back[0]
    frame = _bytes(first.in_channels, first.in_height, first.in_width)
    candidates: list[tuple[DesignPoint, SearchResult]] = []
    for handoff in handoffs:
        kib = math.ceil(2 * opts.batch * frame / KIB) if handoff == "buffer" else 0
        budget = total - ffe_area - sram_area_um2(tech, kib * KIB * 8) * 1e-6
        found = _search(back, tech, budget, base, opts, input_on_chip=kib > 0) \
            if budget > 0 else None
        if found is not None:
            candidates.append((_hybrid_point(layers, n_fixed, tech, found.best, ffe, kib), found))
    if not candidates:
        raise _no_fit("hybrid's back-end", total - ffe_area, opts)
    hybrid = min(candidates, key=lambda c: _objective(c[0], opts.count_dram))[0]
    full = _search(layers, tech, total, base, opts)
    if full is None:
        raise _no_fit("whole network", total, opts)
    record = opts.as_dict() | {
        "total_area_mm2": total,
        "points_evaluated": {"hybrid": sum(c[1].evaluated for c in candidates),
                             "iso_area_programmable": full.evaluated},
    }
    return hybrid, _programmable_point(layers, full.best), record


def network_layers(width: float, resolution: int) -> list[LayerShape]:
    """MobileNetV1 at `width` x `resolution` with the paper's setup (ImageNet plan, 3 -> 1000)."""
    try:
        return mobilenet_v1_layers(width, resolution, IN_CHANNELS, NUM_CLASSES, STRIDE_PLAN)
    except ValueError as exc:
        raise FixynnError(f"--width/--resolution: {exc}") from exc


def _check_sparsity(sparsity: float) -> None:
    if not 0.0 <= sparsity < 1.0:
        raise FixynnError(f"--sparsity must be in [0, 1), got {sparsity}")


def front_end_graph(layers: list[LayerShape], n_fixed: int, sparsity: float,
                    seed: int = 0) -> HwGraph:
    """Random-weight FFE graph of blocks 0..n_fixed-1 at `sparsity` (no calibration)."""
    from fixynn.hw.synthetic import random_graph_from_shapes

    _check_sparsity(sparsity)
    return random_graph_from_shapes(front_end_layers(layers, n_fixed), seed=seed,
                                    sparsity=sparsity, calibration_images=0,
                                    name=f"random_s{sparsity:g}")


def _shape(c: int, h: int, w: int) -> str:
    return f"{c}x{h}x{w}"


def check_graph_fits(graph: HwGraph, layers: list[LayerShape], n_fixed: int,
                     fix: str = "pass the graph exported for this model and N") -> None:
    """Any network's FFE graph at split `n_fixed`: it takes the network's image and hands the
    back-end exactly the map its first layer reads. `fix` says how to mend a mismatch."""
    first = layers[0]
    image = (first.in_channels, first.in_height, first.in_width)
    if (graph.input_channels, graph.input_height, graph.input_width) != image:
        raise FixynnError(
            f"--weights graph {graph.name!r} takes "
            f"{_shape(graph.input_channels, graph.input_height, graph.input_width)} images, "
            f"the network {_shape(*image)}; {fix}")
    back = back_end_layers(layers, n_fixed)[0]
    wanted = (back.in_channels, back.in_height, back.in_width)
    if graph.output_shape != wanted:
        raise FixynnError(
            f"--weights graph {graph.name!r} outputs {_shape(*graph.output_shape)}, but the "
            f"back-end at N = {n_fixed} reads {_shape(*wanted)} ({back.name}); {fix}")


def check_graph_matches(graph: HwGraph, layers: list[LayerShape], n_fixed: int) -> None:
    """A user's HwGraph must be exactly the front-end the split point asks for."""
    front = front_end_layers(layers, n_fixed)
    if not graph.is_chain or not all(isinstance(n, HwLayer) for n in graph.layers):
        raise FixynnError(
            f"--weights graph {graph.name!r} is not a chain of conv layers (it branches or adds):"
            " the system model pairs a MobileNetV1 front-end with its programmable back-end; "
            "drop --fixed-layers for the FFE of any graph alone")
    if len(graph.layers) != len(front):
        raise FixynnError(
            f"--weights graph {graph.name!r} has {len(graph.layers)} layers but "
            f"--fixed-layers {n_fixed} needs {len(front)}; pass the matching N")
    for hw, shape in zip(graph.layers, front, strict=True):
        if (hw.kind, hw.in_channels, hw.out_channels, hw.kernel, hw.stride) != (
                shape.kind, shape.in_channels, shape.out_channels, shape.kernel, shape.stride):
            raise FixynnError(f"--weights layer {hw.name!r} does not match {shape.name} of "
                              "MobileNetV1 at this --width; pass the matching --width")
    check_graph_fits(graph, layers, n_fixed, "pass the matching --resolution")


def evaluate_network(
    layers: list[LayerShape],
    n_fixed: int,
    tech: TechTable,
    pca_config: PcaConfig | None = None,
    graph: HwGraph | None = None,
    sparsity: float = 0.0,
    *,
    arch: str,
    width: float | None = None,
    ffe_freq_mhz: float | None = None,
    ffe: FfeNumbers | None = None,
    options: SizingOptions | None = None,
) -> SystemResult:
    """Any network's hybrid at split point `n_fixed` and its iso-area programmable baseline.

    `layers`: the network (fixynn.arch.LayerShape, block = unit), named `arch` (and `width`
    for MobileNetV1) in the result. FFE weights come from `graph` (an HwGraph of units
    0..n_fixed-1, check_graph_fits) or are random at `sparsity` (a chain of convs only); a
    precomputed `ffe` estimate skips both. The FFE runs at `ffe_freq_mhz` (default: the PCA's
    clock). Both PCAs are sized by `options` (default: the search with its default options).
    """
    check_split(layers, n_fixed)
    _check_sparsity(sparsity)
    cfg = pca_config or PcaConfig()
    label = f"random sparsity={sparsity:g}"
    if graph is not None:
        check_graph_fits(graph, layers, n_fixed)
        label = f"trained:{graph.name}"
    if n_fixed > 0 and ffe is None:
        if graph is None:
            try:
                graph = front_end_graph(layers, n_fixed, sparsity)
            except ValueError as exc:
                raise FixynnError(f"{arch} at N = {n_fixed}: no random FFE ({exc}); give the "
                                  "front-end's HwGraph (--weights)") from None
        ffe = estimate_ffe(graph, tech, freq_mhz=ffe_freq_mhz or cfg.freq_mhz)
    hybrid, programmable, sizing = size_split(layers, n_fixed, tech, cfg,
                                              ffe if n_fixed else None, options or SizingOptions())
    return SystemResult(arch=arch, width=width, resolution=layers[0].in_height,
                        n_fixed=n_fixed, tech=tech.name, weights=label, hybrid=hybrid,
                        iso_area_programmable=programmable, sizing=sizing)


def evaluate_system(
    width: float,
    resolution: int,
    n_fixed: int,
    tech: TechTable,
    pca_config: PcaConfig | None = None,
    graph: HwGraph | None = None,
    sparsity: float = 0.0,
    *,
    ffe_freq_mhz: float | None = None,
    ffe: FfeNumbers | None = None,
    options: SizingOptions | None = None,
) -> SystemResult:
    """`evaluate_network` of MobileNetV1 at `width` x `resolution` (the paper's ImageNet
    setup); a trained `graph` must be exactly its blocks 0..n_fixed-1 (check_graph_matches)."""
    if not isinstance(n_fixed, int) or not 0 <= n_fixed <= NUM_BLOCKS:
        raise FixynnError(f"--fixed-layers must be an integer in 0..{NUM_BLOCKS}, got {n_fixed}")
    layers = network_layers(width, resolution)
    if graph is not None:
        check_graph_matches(graph, layers, n_fixed)
    return evaluate_network(layers, n_fixed, tech, pca_config, graph, sparsity,
                            arch=MOBILENET_V1, width=width, ffe_freq_mhz=ffe_freq_mhz, ffe=ffe,
                            options=options)


def ffe_prefix(full: FfeEstimate, graph: HwGraph, count: int, tech: TechTable) -> FfeEstimate:
    """The estimate of the FFE made of the first `count` layers of `graph`, from `full`.

    Per-layer figures do not depend on later layers as long as the frame period (the slowest
    stage) is the same, which holds whenever the first layer is the slowest (true for every
    MobileNet prefix: its input is the largest map); otherwise the prefix is estimated afresh.
    """
    layers = full.layers[:count]
    if max(layer.cycles_per_frame for layer in layers) != full.cycles_per_frame:
        return estimate_ffe(graph.prefix(count), tech, freq_mhz=full.freq_mhz)
    dynamic = sum(layer.total_energy_pj for layer in layers)
    return replace(full, layers=layers, overhead_pj=dynamic * tech.overhead_fraction)


def sweep(
    tech: TechTable,
    pca_config: PcaConfig | None = None,
    widths: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
    resolution: int = 224,
    sparsity: float = 0.0,
    *,
    ffe_freq_mhz: float | None = None,
    options: SizingOptions | None = None,
    n_list: Sequence[int] = tuple(range(NUM_BLOCKS + 1)),
) -> list[SystemResult]:
    """Every split N in `n_list` (default 0..14) for every width. One random graph and one FFE
    estimate per width: the FFE for N is a prefix of it, so a block's weights are the same for
    every N."""
    cfg = pca_config or PcaConfig()
    opts = options or SizingOptions()
    results = []
    for width in widths:
        layers = network_layers(width, resolution)
        graph = front_end_graph(layers, NUM_BLOCKS, sparsity)
        full = estimate_ffe(graph, tech, freq_mhz=ffe_freq_mhz or cfg.freq_mhz)
        for n in n_list:
            count = len(front_end_layers(layers, n))
            ffe = ffe_prefix(full, graph, count, tech) if n else None
            hybrid, programmable, sizing = size_split(layers, n, tech, cfg, ffe, opts)
            results.append(SystemResult(
                arch=MOBILENET_V1, width=width, resolution=resolution, n_fixed=n, tech=tech.name,
                weights=f"random sparsity={sparsity:g}", hybrid=hybrid,
                iso_area_programmable=programmable, sizing=sizing))
    return results
