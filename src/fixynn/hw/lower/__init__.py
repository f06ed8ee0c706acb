"""The one lowering step: (HwGraph, HwOptions) -> Plan, read by the RTL emitter, the FFE cost
model and synthesis (through the emitter). The golden executor reads the graph itself.

The plan holds every hardware choice the integer semantics leave open: the adder style, the
pipeline registers, which depthwise stages fuse with their pointwise consumer (no buffer and
no register between them), and per stage (in topological order; a tensor may feed several
stages) its window geometry, datapath, structure, scan cycles, the cycle each output pixel
leaves it (`timing`) and, for an add, which input it buffers (the earlier one: a residual's
skip tensor, or a projection shortcut's) and that buffer's depth. Knowing these in one place
is what keeps the netlist and its cost model in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from fixynn.hw.arith import STYLES
from fixynn.hw.ir import INPUT, HwAdd, HwGraph, HwGraphError, HwNode, HwPool
from fixynn.hw.kinds import kind_of
from fixynn.hw.lower.add import AddDatapath
from fixynn.hw.lower.datapath import LayerDatapath
from fixynn.hw.lower.geometry import WindowGeometry
from fixynn.hw.lower.pool import PoolDatapath, pool_structure
from fixynn.hw.lower.structure import (
    LayerStructure,
    add_structure,
    layer_structure,
    pipeline_levels,
)
from fixynn.hw.lower.timing import (
    Stream,
    buffer_depth,
    decimated_stream,
    input_stream,
    last_pixel,
    window_stream,
)

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
    """One node as hardware: where its input comes from, what it builds, when it emits."""

    layer: HwNode
    in_shape: tuple[int, int, int]  # (channels, height, width) of its (first) input map
    fused_input: bool  # reads the fused depthwise stage's unregistered result directly
    fused_output: bool  # its result goes unregistered into the fused pointwise stage
    cycles: int  # clock cycles of its scan per frame (pixels + padding positions)
    style: str
    pipeline: bool
    skip: int = 0  # add: which input comes first and waits in the delay buffer (the skip
    # path of a residual; of two computed branches, the shorter), the other is the branch
    skip_depth: int = 0  # add: entries of that delay buffer (0: none needed)
    branch_delay: int = 0  # add: registers delaying the other input (0 but where the two
    # inputs' last pixels, both waiting for the image's last one, would come out of order)

    @property
    def geometry(self) -> WindowGeometry:
        return WindowGeometry.of(self.layer, self.in_shape[1], self.in_shape[2])

    @cached_property
    def datapath(self) -> LayerDatapath | AddDatapath | PoolDatapath:
        return kind_of(self.layer.kind).datapath(self.layer, self.style, self.in_shape)

    @property
    def pipeline_stages(self) -> int:
        """Registers between the window (or input) and the output register."""
        if not self.pipeline or not isinstance(self.datapath, LayerDatapath):
            return 0  # add and pool stages have no pipeline registers
        return len(pipeline_levels(self.datapath.tree.depth, self.pipeline))

    @cached_property
    def structure(self) -> LayerStructure:
        _, h, w = self.in_shape
        if isinstance(self.datapath, PoolDatapath):
            return pool_structure(self.datapath, h, w)
        if isinstance(self.datapath, AddDatapath):
            return add_structure(self.datapath, h, w, self.skip, self.skip_depth,
                                 self.branch_delay)
        return layer_structure(self.layer, h, w, self.style, self.pipeline, self.fused_input,
                               self.fused_output, datapath=self.datapath)


@dataclass(frozen=True, eq=False)
class Plan:
    graph: HwGraph
    options: HwOptions
    stages: tuple[Stage, ...]
    # tensor name -> when each of its pixels (raster order) leaves its stage
    streams: dict[str, Stream] = field(repr=False, default_factory=dict)

    @property
    def row_gap(self) -> int:
        """Idle cycles the producer leaves between input rows: covers every stage's right
        padding (each stride-1 stage can shorten the gap it passes on by its padding)."""
        return row_gap(self.graph)

    @property
    def frame_cycles(self) -> int:
        """Cycles per frame of the slowest stage (the design's initiation interval)."""
        return max((s.cycles for s in self.stages), default=0)

    @property
    def frame_period(self) -> int:
        """Cycles from a frame's first pixel to the next one's when frames go back to back
        under the dense schedule, each as soon as `busy` allows (docs/rtl.md: frames do not
        overlap): one cycle after the last output of any stage."""
        return 1 + max(int(s.times[-1]) for s in self.streams.values())


def row_gap(graph: HwGraph) -> int:
    """The sum of the window stages' right-padding columns, at least 1 (`Plan.row_gap`)."""
    shapes = graph.tensor_shapes()
    extra = 0
    for node in graph.layers:
        if not isinstance(node, HwAdd):
            _, h, w = shapes[node.inputs[0]]
            extra += WindowGeometry.of(node, h, w).extra_cols
    return max(1, extra)


def fusable(graph: HwGraph, i: int) -> bool:
    """Layer i is a depthwise layer whose one consumer is a pointwise layer (which then takes
    its stream unregistered)."""
    layer = graph.layers[i]
    readers = [n for n in graph.layers if layer.name in n.inputs]
    return (layer.kind == "depthwise" and len(readers) == 1
            and readers[0].kind == "pointwise")


def lower(graph: HwGraph, options: HwOptions | None = None) -> Plan:
    """The plan of `graph` under `options` (defaults: csd, no pipelining, the graph's fusion)."""
    options = options or HwOptions()
    fused = _fused_layers(graph, options)
    shapes = graph.tensor_shapes()
    gap = row_gap(graph)
    streams = {INPUT: input_stream(graph.input_height, graph.input_width, gap)}
    cycles_of = {INPUT: graph.input_height * graph.input_width}
    stages: list[Stage] = []
    for layer in graph.layers:
        in_shape = shapes[layer.inputs[0]]
        where = f"graph {graph.name!r}, layer {layer.name!r}"
        if isinstance(layer, HwAdd):
            ins = [streams[i] for i in layer.inputs]
            skip, delay = _join(ins, layer, where)
            late = ins[1 - skip].delayed(delay)
            stage = Stage(layer, in_shape, False, False,
                          max(cycles_of[i] for i in layer.inputs), options.style,
                          options.pipeline, skip, buffer_depth(ins[skip], late, where), delay)
            streams[layer.name] = late.delayed(1)  # the output register
        else:
            fused_input = layer.inputs[0] in fused
            geo = WindowGeometry.of(layer, in_shape[1], in_shape[2])
            if fused_input:  # consumes the fused stage's output stream as it comes
                cycles = cycles_of[layer.inputs[0]]
            else:
                cycles = (in_shape[1] + geo.extra_rows) * (in_shape[2] + geo.extra_cols)
            stage = Stage(layer, in_shape, fused_input, layer.name in fused, cycles,
                          options.style, options.pipeline)
            latency = stage.pipeline_stages + (0 if stage.fused_output else 1)
            s_in = streams[layer.inputs[0]]
            if isinstance(layer, HwPool) and layer.kind == "global_avgpool":
                streams[layer.name] = last_pixel(s_in, 1)  # the mean, registered
            elif fused_input:
                streams[layer.name] = decimated_stream(s_in, geo, latency)
            else:
                streams[layer.name] = window_stream(s_in, geo, gap, latency)
        cycles_of[layer.name] = stage.cycles
        stages.append(stage)
    return Plan(graph, options, tuple(stages), streams)


def _join(ins: list[Stream], node: HwAdd, where: str) -> tuple[int, int]:
    """How an add meets its inputs: (which input waits in the delay buffer, cycles of
    registers delaying the other). The buffered input is one whose every pixel starts from an
    image pixel no later than the other's (so no schedule reverses their order); the other is
    delayed just enough that its every pixel comes after the buffered one's, which is 0
    unless both wait for the image's last pixel and the buffered one has the longer walk.
    Of two such choices, the shorter delay; else the add has no hardware."""
    if ins[0].same_as(ins[1]):
        return 0, 0
    choices = [(max(0, int((x.times - y.times).max()) + 1), first)
               for first, (x, y) in enumerate([ins, ins[::-1]])
               if np.all(x.sources <= y.sources)]
    if not choices:
        a, b = node.inputs
        raise HwGraphError(f"{where}: neither input ({a!r}, {b!r}) starts from earlier image "
                           "pixels than the other for every pixel, so which comes first "
                           "depends on the schedule; the add's hardware buffers one input, so "
                           "only the golden executor runs this graph")
    delay, first = min(choices)
    return first, delay


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
                               "depthwise layer read only by a pointwise layer fuses")
    return frozenset(fuse)
