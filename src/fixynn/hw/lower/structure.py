"""The hardware structure of one stage of the plan: what the RTL emitter builds and the FFE
cost model prices.

Single source of truth for the analytic area/energy model (hw.ppa) and the emitter: the
adders counted here are the adders of `lower.datapath.plan_datapath`, which the emitter
writes, and the storage is what the window unit (`rtl.window`) instantiates.

Per layer (see docs/rtl.md): a window unit (K-1 line-buffer rows of W pixels x C channels,
a K x K x C register window, row/column counters) feeds the constant-multiplier adder trees,
then bias+rounding, clamp and an output register. A pointwise layer fused after a depthwise
one (a choice of the plan) reads the depthwise result directly: no window, no line buffer,
and the depthwise layer has no output register.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fixynn.hw.ir import HwLayer
from fixynn.hw.lower.add import AddDatapath
from fixynn.hw.lower.datapath import LayerDatapath, plan_datapath


@dataclass(frozen=True)
class LayerStructure:
    name: str
    kind: str
    # bit width -> number of adders/subtractors of that width (const-mult shift-adds, adder
    # tree, bias add incl. rounding, clamp comparator)
    adder_widths: dict[int, int]
    pipeline_register_bits: int  # flip-flops in adder-tree/output pipeline stages
    window_register_bits: int  # K x K x C x in_bits window registers
    line_buffer_bits: int  # (K-1) rows x W x C x in_bits of SRAM-like storage
    line_buffer_read_bits_per_pixel: int
    line_buffer_write_bits_per_pixel: int
    input_pixels_per_frame: int  # cycles per frame at one input pixel per clock
    output_pixels_per_frame: int
    nonzero_weights: int
    delay_buffer_bits: int = 0  # an add's skip-path buffer: depth x C x bits, SRAM-like

    def total_adder_bits(self) -> int:
        return sum(width * n for width, n in self.adder_widths.items())

    @property
    def adders(self) -> int:
        return sum(self.adder_widths.values())


def pipeline_levels(depth: int, pipeline: bool) -> list[int]:
    """Adder-tree levels (1-based) followed by a register: every second level when pipelined."""
    return list(range(2, depth + 1, 2)) if pipeline else []


def layer_structure(
    layer: HwLayer,
    in_height: int,
    in_width: int,
    style: str = "csd",
    pipeline: bool = False,
    fused_input: bool = False,
    fused_output: bool = False,
    datapath: LayerDatapath | None = None,
) -> LayerStructure:
    """Structure of one layer fed an in_height x in_width map.

    `fused_input`: this pointwise layer reads a fused depthwise layer's output directly.
    `fused_output`: this depthwise layer's output is not registered.
    """
    dp = datapath if datapath is not None else plan_datapath(layer, style)
    k, c, ib = layer.kernel, layer.in_channels, layer.in_bits
    pixel_bits = c * ib
    regs = sum(int(_level_bits(dp, lvl)) for lvl in pipeline_levels(dp.tree.depth, pipeline))
    if not fused_output:
        regs += layer.out_channels * layer.out_bits
    if fused_input:
        window = line = line_rw = 0
    else:
        window = k * k * pixel_bits
        line = (k - 1) * in_width * pixel_bits
        line_rw = (k - 1) * pixel_bits
    out_h, out_w = layer.out_size(in_height, in_width)
    return LayerStructure(
        name=layer.name,
        kind=layer.kind,
        adder_widths=dp.adder_widths(),
        pipeline_register_bits=regs,
        window_register_bits=window,
        line_buffer_bits=line,
        line_buffer_read_bits_per_pixel=line_rw,
        line_buffer_write_bits_per_pixel=line_rw,
        input_pixels_per_frame=in_height * in_width,
        output_pixels_per_frame=out_h * out_w,
        nonzero_weights=int(np.count_nonzero(layer.weight)),
    )


def add_structure(dp: AddDatapath, in_height: int, in_width: int, skip: int,
                  depth: int, delay: int = 0) -> LayerStructure:
    """Structure of an add stage: per channel the sum and rounding adders and the clamp, the
    output register, the buffered input's delay buffer of `depth` pixels (one write and one
    read per pixel, like a line buffer) and `delay` registers of the other input's pixel."""
    node = dp.layer
    skip_bits = node.channels * node.in_formats[skip].bits
    delay_bits = delay * node.channels * node.in_formats[1 - skip].bits
    pixels = in_height * in_width
    return LayerStructure(
        name=node.name, kind=node.kind, adder_widths=dp.adder_widths(),
        pipeline_register_bits=node.channels * node.out_bits + delay_bits,
        window_register_bits=0,
        line_buffer_bits=0, line_buffer_read_bits_per_pixel=skip_bits if depth else 0,
        line_buffer_write_bits_per_pixel=skip_bits if depth else 0,
        input_pixels_per_frame=pixels, output_pixels_per_frame=pixels, nonzero_weights=0,
        delay_buffer_bits=depth * skip_bits,
    )


def _level_bits(dp: LayerDatapath, level: int) -> int:
    """Register bits after tree level `level`: every live node of every output channel."""
    nodes = dp.tree.levels[level]
    live = np.arange(nodes.lo.shape[1])[None, :] < nodes.count[:, None]
    return int(nodes.wire_width[live].sum())
