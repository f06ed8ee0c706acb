"""The one lowering step: (HwGraph, HwOptions) -> Plan, read by the RTL emitter, the FFE cost
model and synthesis (through the emitter). The golden executor reads the graph itself.

The plan holds every hardware choice the integer semantics leave open: the adder style, the
pipeline registers, which depthwise stages fuse with their pointwise consumer (no buffer and
no register between them), and per stage its window geometry, datapath, structure and scan
cycles. Knowing these in one place is what keeps the netlist and its cost model in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from fixynn.hw.arith import STYLES
from fixynn.hw.ir import HwGraph, HwGraphError, HwLayer, HwPool
from fixynn.hw.kinds import kind_of
from fixynn.hw.lower.datapath import LayerDatapath
from fixynn.hw.lower.geometry import WindowGeometry
from fixynn.hw.lower.pool import PoolDatapath, pool_structure
from fixynn.hw.lower.structure import LayerStructure, layer_structure

__all__ = ["HwOptions", "Plan", "Stage", "fusable", "lower"]


@dataclass(frozen=True)
class HwOptions:
    """Hardware choices: adder style, pipelining, fusion.

    `fuse`: None takes the graph's own hint, `meta["fuse"]` (same values; version-1 files
    carry their `fuse_next` flags there), else "none"; "none" fuses nothing; "all" every
    fusable pair; a sequence names the depthwise layers to fuse.
    """

    style: str = "csd"
    pipeline: bool = False
    fuse: str | Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise HwGraphError(f"style {self.style!r} is not one of {', '.join(STYLES)}")
        if isinstance(self.fuse, str) and self.fuse not in ("none", "all"):
            raise HwGraphError(f"fuse {self.fuse!r}: use 'none', 'all' or a list of "
                               "depthwise layer names")


@dataclass(frozen=True, eq=False)
class Stage:
    """One layer as hardware: where its input comes from and what it builds."""

    layer: HwLayer | HwPool
    in_shape: tuple[int, int, int]  # (channels, height, width) of its input map
    fused_input: bool  # reads the fused depthwise stage's unregistered result directly
    fused_output: bool  # its result goes unregistered into the fused pointwise stage
    cycles: int  # clock cycles of its scan per frame (pixels + padding positions)
    style: str
    pipeline: bool

    @property
    def geometry(self) -> WindowGeometry:
        return WindowGeometry.of(self.layer, self.in_shape[1], self.in_shape[2])

    @cached_property
    def datapath(self) -> LayerDatapath | PoolDatapath:
        return kind_of(self.layer.kind).datapath(self.layer, self.style, self.in_shape)

    @cached_property
    def structure(self) -> LayerStructure:
        _, h, w = self.in_shape
        if isinstance(self.datapath, PoolDatapath):
            return pool_structure(self.datapath, h, w)
        return layer_structure(self.layer, h, w, self.style, self.pipeline, self.fused_input,
                               self.fused_output, datapath=self.datapath)


@dataclass(frozen=True, eq=False)
class Plan:
    graph: HwGraph
    options: HwOptions
    stages: tuple[Stage, ...]

    @property
    def row_gap(self) -> int:
        """Idle cycles the producer leaves between input rows: covers every stage's right
        padding (each stride-1 stage can shorten the gap it passes on by its padding)."""
        return max(1, sum(s.geometry.extra_cols for s in self.stages))

    @property
    def frame_cycles(self) -> int:
        """Cycles per frame of the slowest stage (the design's initiation interval)."""
        return max((s.cycles for s in self.stages), default=0)


def fusable(graph: HwGraph, i: int) -> bool:
    """Layer i is a depthwise layer whose consumer, the next layer, is pointwise."""
    layers = graph.layers
    return (layers[i].kind == "depthwise" and i + 1 < len(layers)
            and layers[i + 1].kind == "pointwise")


def lower(graph: HwGraph, options: HwOptions | None = None) -> Plan:
    """The plan of `graph` under `options` (defaults: csd, no pipelining, the graph's fusion)."""
    options = options or HwOptions()
    _check_lowerable(graph)
    fused = _fused_layers(graph, options)
    stages: list[Stage] = []
    for i, (layer, in_shape) in enumerate(zip(graph.layers, graph.input_shapes(),
                                              strict=True)):
        fused_input = i > 0 and graph.layers[i - 1].name in fused
        if fused_input:  # consumes the fused stage's output stream as it comes
            cycles = stages[-1].cycles
        else:
            geo = WindowGeometry.of(layer, in_shape[1], in_shape[2])
            cycles = (in_shape[1] + geo.extra_rows) * (in_shape[2] + geo.extra_cols)
        stages.append(Stage(layer, in_shape, fused_input, layer.name in fused, cycles,
                            options.style, options.pipeline))
    return Plan(graph, options, tuple(stages))


def _check_lowerable(graph: HwGraph) -> None:
    """What the stage builders cover today: a chain of unsigned-output layers."""
    if not graph.is_chain:
        raise HwGraphError(f"graph {graph.name!r}: the hardware flow (RTL, PPA, synthesis) "
                           "lowers chains only (each node reading the one before); this graph "
                           "branches, which only the golden executor runs today")
    for layer in graph.layers:
        if layer.activation == "none":
            raise HwGraphError(f"graph {graph.name!r}, layer {layer.name!r}: activation none "
                               "(signed output) has no RTL yet; only the golden executor "
                               "runs it")


def _fused_layers(graph: HwGraph, options: HwOptions) -> frozenset[str]:
    """Names of the depthwise layers fused with the pointwise layer after them."""
    candidates = {layer.name for i, layer in enumerate(graph.layers) if fusable(graph, i)}
    fuse = options.fuse
    if fuse is None:
        fuse = graph.meta.get("fuse", "none")
    if fuse == "none":
        return frozenset()
    if fuse == "all":
        return frozenset(candidates)
    if not isinstance(fuse, (list, tuple)) or not all(isinstance(n, str) for n in fuse):
        raise HwGraphError(f"graph {graph.name!r}: fuse must be a list of layer names, "
                           f"got {fuse!r}")
    for name in fuse:
        if name not in candidates:
            raise HwGraphError(f"graph {graph.name!r}: cannot fuse layer {name!r}: only a "
                               "depthwise layer followed by a pointwise layer fuses")
    return frozenset(fuse)
