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
gets M = 1, S = log2(N) + 1: a rounding add and a shift, no multiplier.
"""

from __future__ import annotations

from dataclasses import dataclass

from fixynn.hw.arith import bits_for, csd_terms
from fixynn.hw.ir import HwGraphError, HwPool
from fixynn.hw.lower.structure import LayerStructure

MAX_PRODUCT_BITS = 62  # `sum * mult + offset` stays a non-negative int64 (and a sane wire)


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
    bits: int  # pixel width
    mult: int = 0  # averages: y = (sum * mult + offset) >> shift
    offset: int = 0
    shift: int = 0

    @property
    def is_max(self) -> bool:
        return self.node.kind == "maxpool"

    @property
    def sum_width(self) -> int:
        """Bits of the exact sum of n unsigned pixels."""
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
    """The plan of `node` on an in_height x in_width map; unsigned inputs only for now."""
    if node.in_format.signed:
        raise HwGraphError(f"node {node.name!r}: a {node.kind} over a signed tensor has no RTL "
                           "yet (signed sums, compares and a maxpool's padding by the format's "
                           "minimum); only the golden executor runs it")
    bits = node.in_format.bits
    n = node.divisor(in_height, in_width)
    if node.kind == "maxpool":
        return PoolDatapath(node, n, bits)
    u_max = 2 * n * (2**bits - 1) + n
    m, s = mean_reciprocal(n, u_max)
    dp = PoolDatapath(node, n, bits, mult=2 * m, offset=n * m, shift=s)
    if dp.product_width > MAX_PRODUCT_BITS:
        raise HwGraphError(f"node {node.name!r}: the mean of {n} values needs a "
                           f"{dp.product_width}-bit product, beyond {MAX_PRODUCT_BITS}")
    return dp


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
