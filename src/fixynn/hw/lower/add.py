"""The arithmetic of an add stage: per channel `acc' = (a << sa) + (b << sb) + 2^(s-1)`,
then the clamp every stage shares (`datapath.Clamp`), exactly docs/ir.md's add.

Built on the same adder trees as the conv family (two leaves per channel, their trailing
zeros the alignment shifts), so widths, the emitted Verilog and the cost model's adder bits
follow the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fixynn.hw.arith import AdderTrees, build_trees, merge_hist
from fixynn.hw.kinds.add import HwAdd, out_range
from fixynn.hw.lower.datapath import Clamp, hist


@dataclass(frozen=True, eq=False)
class AddDatapath:
    layer: HwAdd
    tree: AdderTrees  # one row per channel: leaves a << sa and b << sb

    @cached_property
    def bias_const(self) -> np.ndarray:
        """The rounding term 2^(s-1) (s > 0), per channel."""
        s = self.layer.shift
        return np.full(self.layer.channels, 1 << (s - 1) if s > 0 else 0, dtype=np.int64)

    @cached_property
    def clamp(self) -> Clamp:
        root = self.tree.root
        b = self.bias_const
        return Clamp(np.full(self.layer.channels, self.layer.shift, dtype=np.int64),
                     *out_range(self.layer), b + root.lo[:, 0], b + root.hi[:, 0])

    @property
    def acc_width(self) -> np.ndarray:
        return self.clamp.acc_width

    @cached_property
    def has_bias_adder(self) -> np.ndarray:
        return self.bias_const != 0

    @cached_property
    def rounding_carry_in(self) -> bool:
        """The rounding bit 2^(s-1) lies below the lowest bit where both aligned inputs have
        bits: synthesis takes it as the carry into the sum's first full adder (a short
        carry chain), not as a constant adder."""
        s = self.layer.shift
        return s >= 1 and s - 1 < max(self.layer.align)

    def live_bits(self, i: int) -> int:
        """Bits of input i that reach the output: below min(the other input's alignment,
        s - 1) only input i has bits and the rounding none, so they cannot carry."""
        s, align, fmt = self.layer.shift, self.layer.align, self.layer.in_formats[i]
        if s < 1:
            return fmt.bits
        dead = min(align[1 - i], s - 1) - align[i]
        return fmt.bits - min(max(dead, 0), fmt.bits)

    def adder_widths(self) -> dict[int, int]:
        """Bit width -> adders: the sum, the rounding constant, the clamp comparators."""
        return merge_hist(self.tree.adder_widths(), hist(self.acc_width[self.has_bias_adder]),
                          self.clamp.adder_widths())


def plan_add(node: HwAdd, style: str = "csd") -> AddDatapath:
    """The datapath of an add node (the adder style does not change it)."""
    c = node.channels
    (fa, fb), (sa, sb) = node.in_formats, node.align
    lo = np.array([[fa.lo << sa, fb.lo << sb]] * c, dtype=np.int64)
    hi = np.array([[fa.hi << sa, fb.hi << sb]] * c, dtype=np.int64)
    tz = np.array([[sa, sb]] * c, dtype=np.int64)
    tree = build_trees(lo, hi, np.zeros((c, 2), dtype=bool), tz, np.full(c, 2))
    return AddDatapath(node, tree)
