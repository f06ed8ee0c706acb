"""The arithmetic plan of a pool stage (maxpool, avgpool, global_avgpool), read by the RTL
emitter (`rtl.pool`) and the FFE cost model, so both see the same comparators and adders.

maxpool: per channel a balanced tree of N - 1 `max(a, b)` nodes (a comparator and a
multiplexer of the pixel width) over the N = k * k window cells.

avgpool / global_avgpool: per channel the exact sum of N values (a balanced adder tree over
the window, or an accumulator over the frame), then the rounded mean of docs/ir.md,
`y = floor((2 * sum + N) / (2 * N))`, as one constant multiplication and a shift:

    y = (sum * mult + offset) >> shift,   mult = 2M, offset = N * M, M = ceil(2^S / 2N)

with S (`shift`) the smallest shift for which `U * (M * 2N - 2^S) < 2^S`, U the largest
`u = 2 * sum + N`. That condition makes it exact for every sum: writing u = q * 2N + r
(0 <= r < 2N), `u * M / 2^S = q + (r + u * e / 2^S) / 2N` with e = M * 2N - 2^S, and
0 <= u * e / 2^S < 1, so the fraction stays below 1 and the floor is q. A power-of-two N
gets M = 1, S = log2(N) + 1: a rounding add and a shift, no multiplier. The product is as
wide as it needs (Verilog wires have no width limit: a 16-bit mean over 224 x 224 pixels takes
66 bits).

A signed pool is its unsigned twin on offset-binary values: flipping each value's sign bit
adds B = 2^(bits-1), which maps the signed range onto the unsigned one in order, so
max(x + B) = max(x) + B, and floor((2 * sum(x + B) + N) / 2N) = floor((2 * sum(x) + N) / 2N)
+ B exactly (2N * B / 2N = B is an integer). The stage flips the sign bits of its input, runs
the unsigned datapath (same adders, same storage) and flips them back on the output. Padding
stays what the semantics say: the smallest value for a max (0 in offset binary, excluded), a
zero for a sum (B in offset binary, `PoolDatapath.window_fill`).
"""

from __future__ import annotations

from dataclasses import dataclass

from fixynn.hw.arith import bits_for, csd_terms
from fixynn.hw.ir import HwPool
from fixynn.hw.lower.structure import LayerStructure


def mean_reciprocal(n: int, u_max: int) -> tuple[int, int]:
    """(M, S): floor(u / 2n) == (u * M) >> S for every 0 <= u <= u_max (module docstring)."""
    d = 2 * n
    s = 0
    while True:
        m = -(-(1 << s) // d)
        if u_max * (m * d - (1 << s)) < (1 << s):
            return m, s
        s += 1


@dataclass(frozen=True)
class PoolDatapath:
    """One pool stage's arithmetic, per channel (every channel is built alike)."""

    node: HwPool
    n: int  # values per output: k * k window cells, or H * W pixels
    bits: int  # pixel width (values in offset binary when signed: `sign_mask`)
    mult: int = 0  # averages: y = (sum * mult + offset) >> shift
    offset: int = 0
    shift: int = 0

    @property
    def is_max(self) -> bool:
        return self.node.kind == "maxpool"

    @property
    def sign_mask(self) -> int:
        """Bits of a pixel (all channels) flipped in and out of the datapath: every channel's
        sign bit for a signed input (offset binary, module docstring), none for unsigned."""
        if not self.node.in_format.signed:
            return 0
        return sum(1 << (c * self.bits + self.bits - 1) for c in range(self.node.channels))

    @property
    def window_fill(self) -> int:
        """What the window unit puts in padding positions (all channels): a zero of the
        input's format, offset binary when signed, except for a max, where the smallest value
        keeps padding out of every window's maximum."""
        return 0 if self.is_max else self.sign_mask

    @property
    def sum_width(self) -> int:
        """Bits of the exact sum of n unsigned (offset-binary) pixels."""
        return bits_for(self.n * (2**self.bits - 1))

    @property
    def product_width(self) -> int:
        """Bits of `sum * mult + offset` (non-negative)."""
        return bits_for((2**self.sum_width - 1) * self.mult + self.offset)

    def tree(self) -> list[list[tuple[int, bool]]]:
        """The balanced tree over the n leaves, level by level above them: each node's
        width and whether it combines two children (an odd node out passes up)."""
        tops = [2**self.bits - 1] * self.n
        levels = []
        while len(tops) > 1:
            nxt, nodes = [], []
            for i in range(0, len(tops), 2):
                pair = i + 1 < len(tops)
                top = tops[i] + tops[i + 1] if pair and not self.is_max else tops[i]
                nxt.append(top)
                nodes.append((bits_for(top), pair))
            tops = nxt
            levels.append(nodes)
        return levels

    def adder_widths(self) -> dict[int, int]:
        """Bit width -> adders (comparators for max), for the stage (all channels)."""
        hist: dict[int, int] = {}

        def add(width: int, count: int = 1) -> None:
            hist[width] = hist.get(width, 0) + count * self.node.channels

        if self.node.kind == "global_avgpool":
            add(self.sum_width)  # the accumulator
        else:
            for level in self.tree():
                for width, pair in level:
                    if pair:
                        add(width)
        if not self.is_max:
            add(self.product_width, len(csd_terms(self.mult)) - 1 + (self.offset != 0))
        return hist


def pool_datapath(node: HwPool, in_height: int, in_width: int) -> PoolDatapath:
    """The plan of `node` on an in_height x in_width map (signed inputs in offset binary)."""
    bits = node.in_format.bits
    n = node.divisor(in_height, in_width)
    if node.kind == "maxpool":
        return PoolDatapath(node, n, bits)
    u_max = 2 * n * (2**bits - 1) + n
    m, s = mean_reciprocal(n, u_max)
    return PoolDatapath(node, n, bits, mult=2 * m, offset=n * m, shift=s)


def pool_structure(dp: PoolDatapath, in_height: int, in_width: int) -> LayerStructure:
    """What a pool stage holds: its window unit (none for the global accumulator, whose sum
    registers count as pipeline registers), the adders, the output register."""
    node = dp.node
    pixel_bits = node.channels * dp.bits
    out_h, out_w = node.out_size(in_height, in_width)
    regs = pixel_bits  # the output register
    if node.kind == "global_avgpool":
        regs += node.channels * dp.sum_width
        window = line = line_rw = 0
    else:
        k = node.kernel
        window = k * k * pixel_bits
        line = (k - 1) * in_width * pixel_bits
        line_rw = (k - 1) * pixel_bits
    return LayerStructure(
        name=node.name, kind=node.kind, adder_widths=dp.adder_widths(),
        pipeline_register_bits=regs, window_register_bits=window, line_buffer_bits=line,
        line_buffer_read_bits_per_pixel=line_rw, line_buffer_write_bits_per_pixel=line_rw,
        input_pixels_per_frame=in_height * in_width, output_pixels_per_frame=out_h * out_w,
        nonzero_weights=0,
    )
