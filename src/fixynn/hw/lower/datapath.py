"""The arithmetic plan of one layer: products, adder trees, bias/rounding, clamp.

Computed from the HwLayer alone (vectorised). The Verilog emitter writes exactly this plan
and `structure.py` counts it, so the cost model and the netlist cannot drift apart.

Per output channel `o`: acc = sum_t sign_t * P_t + bias' where each product magnitude P_t is
|w| * x_u for one input signal u (a window position x channel; x_u unsigned after a ReLU,
two's complement after a linear layer, so P_t is signed then):
* style "csd":    P_t is a shift-add of the CSD digits of |w| (digits - 1 adders each);
* style "shared": P_t = F(u, m) << k with |w| = m * 2^k, m odd; every distinct F(u, m) = m * x_u
  is built once per input (CSD of m) and shared by all outputs that need it;
* style "naive":  P_t = |w| * x_u written as a `*` for the synthesizer (benchmark only).
The products are summed by a balanced adder tree with sign-tracking nodes (arith.build_trees);
bias' = bias + 2^(s-1) folds the rounding term into the bias adder. The clamp (`Clamp`,
shared with the add stage) saturates acc' to [lo, hi] of the output format with one
comparator per side that acc' can actually cross.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fixynn.hw.arith import (
    STYLES,
    AdderTrees,
    bit_length,
    build_trees,
    csd_masks,
    merge_hist,
    odd_part,
    signed_width,
)
from fixynn.hw.ir import HwLayer

_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)


@dataclass(frozen=True, eq=False)
class Clamp:
    """Requantization of acc' (rounding term folded in) to [lo, hi], per output channel:
    `y = acc' < t_lo ? lo : acc' > t_hi ? hi : acc' >> s` (s < 0: a left shift), the
    thresholds being where `clamp(acc' >> s, lo, hi)` leaves the middle range (docs/ir.md).
    A side acc' cannot cross needs no comparator; lo = 0 is the sign bit (no comparator)."""

    shift: np.ndarray  # (O,) requantization right shift
    lo: int
    hi: int
    acc_lo: np.ndarray  # (O,) exact range of acc'
    acc_hi: np.ndarray

    @cached_property
    def acc_width(self) -> np.ndarray:
        return signed_width(self.acc_lo, self.acc_hi)

    @cached_property
    def t_hi(self) -> np.ndarray:
        """acc' > t_hi saturates to hi. In Python ints: ((hi + 1) << s) - 1 exceeds int64 for
        large s; no acc' (< 2^63, docs/ir.md) can exceed it then, so it is capped."""
        return np.array([min(((self.hi + 1) << s) - 1, _INT64_MAX) if s >= 0
                         else self.hi >> -s for s in self.shift.tolist()], dtype=np.int64)

    @cached_property
    def t_lo(self) -> np.ndarray:
        """acc' < t_lo saturates to lo (lo <= 0): lo << s, or ceil(lo / 2^-s) for s < 0."""
        return np.array([max(self.lo << s, _INT64_MIN) if s >= 0 else -((-self.lo) >> -s)
                         for s in self.shift.tolist()], dtype=np.int64)

    @cached_property
    def has_hi_compare(self) -> np.ndarray:
        return self.acc_hi > self.t_hi

    @cached_property
    def has_lo_compare(self) -> np.ndarray:
        """A comparator for the low side; lo = 0 tests the sign bit instead."""
        return (self.acc_lo < self.t_lo) & (self.lo != 0)

    @cached_property
    def compare_widths(self) -> np.ndarray:
        """Bits of each comparator: the low s bits of a threshold are constant (t_hi's all
        ones, t_lo's zeros), so it compares acc'[a-1:s]."""
        return np.maximum(self.acc_width - np.maximum(self.shift, 0), 1)

    def adder_widths(self) -> dict[int, int]:
        return merge_hist(hist(self.compare_widths[self.has_hi_compare]),
                          hist(self.compare_widths[self.has_lo_compare]))


@dataclass(frozen=True)
class ConstTrees:
    """Adder trees multiplying an input by each of some odd/positive constants (CSD digits)."""

    values: np.ndarray  # (V,) distinct positive constants
    trees: AdderTrees  # rows = values, leaves = x << k for each CSD digit
    digit_shift: np.ndarray  # (V, D) shift of each leaf
    digit_neg: np.ndarray  # (V, D) leaf is subtracted


@dataclass(frozen=True, eq=False)
class LayerDatapath:
    """The arithmetic of one layer, ready to count or to emit."""

    layer: HwLayer
    style: str
    x_min: int  # smallest input value (0, or -2^(in_bits-1) for a signed input)
    x_max: int  # largest input value
    n_inputs: int  # input signals: kernel^2 window positions x in_channels
    prod_u: np.ndarray  # (O, T) input signal of each product (compacted, row o uses count[o])
    prod_mag: np.ndarray  # (O, T) |w| of each product
    prod_neg: np.ndarray  # (O, T) w < 0
    count: np.ndarray  # (O,) products per output (nonzero weights)
    tree: AdderTrees  # sums the products of each output
    mults: ConstTrees  # per distinct |w| (csd) or per distinct odd m (shared)
    fund_u: np.ndarray  # shared style: input signal of each shared fundamental F(u, m)
    fund_m: np.ndarray  # shared style: its odd constant m > 1

    @cached_property
    def bias_const(self) -> np.ndarray:
        """bias + rounding term 2^(s-1) (s > 0), per output channel."""
        s = self.layer.shift
        rounding = np.where(s > 0, np.left_shift(1, np.maximum(s - 1, 0)), 0)
        return self.layer.bias + rounding

    @cached_property
    def acc_range(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact (lo, hi) of acc' = sum + bias' per output channel."""
        root = self.tree.root
        has = self.count > 0
        lo = np.where(has, root.lo[:, 0] if root.lo.shape[1] else 0, 0)
        hi = np.where(has, root.hi[:, 0] if root.hi.shape[1] else 0, 0)
        neg = has & (root.neg[:, 0] if root.neg.shape[1] else False)
        b = self.bias_const
        return np.where(neg, b - hi, b + lo), np.where(neg, b - lo, b + hi)

    @cached_property
    def clamp(self) -> Clamp:
        return Clamp(self.layer.shift, self.layer.act_lo, self.layer.act_hi, *self.acc_range)

    @property
    def acc_width(self) -> np.ndarray:
        return self.clamp.acc_width

    @cached_property
    def root_neg(self) -> np.ndarray:
        root = self.tree.root
        return (self.count > 0) & (root.neg[:, 0] if root.neg.shape[1] else False)

    @cached_property
    def has_bias_adder(self) -> np.ndarray:
        return (self.count > 0) & ((self.bias_const != 0) | self.root_neg)

    def adder_widths(self) -> dict[int, int]:
        """Bit width -> adders: multipliers, tree, bias+rounding, clamp comparator."""
        if self.style == "naive":
            raise ValueError("style 'naive' leaves multipliers to the synthesizer; no count")
        per_value = _per_row_hists(self.mults.trees)
        if self.style == "csd":
            used = self.prod_mag[_present(self.count, self.prod_mag.shape[1])]
        else:
            used = self.fund_m
        values, uses = np.unique(used, return_counts=True)
        index = np.searchsorted(self.mults.values, values)
        mult_hist: dict[int, int] = {}
        for i, n in zip(index.tolist(), uses.tolist(), strict=True):
            for width, c in per_value[i].items():
                mult_hist[width] = mult_hist.get(width, 0) + c * n
        bias = hist(self.acc_width[self.has_bias_adder])
        return merge_hist(mult_hist, self.tree.adder_widths(), bias, self.clamp.adder_widths())


def plan_datapath(layer: HwLayer, style: str = "csd") -> LayerDatapath:
    """The arithmetic plan of `layer` in `style` ("csd", "shared" or "naive")."""
    if style not in STYLES:
        raise ValueError(f"style {style!r} is not one of {STYLES}")
    o_ch, k = layer.out_channels, layer.kernel
    x_min, x_max = layer.in_format.lo, layer.in_format.hi
    w = layer.weight.reshape(o_ch, -1)  # column f = cg * k*k + pos
    f = np.arange(w.shape[1])
    cg, pos = f // (k * k), f % (k * k)
    if layer.kind == "depthwise":
        u = pos[None, :] * layer.in_channels + np.arange(o_ch)[:, None]
    else:
        u = np.broadcast_to(pos * layer.in_channels + cg, w.shape)
    present = w != 0
    order = np.argsort(~present, axis=1, kind="stable")
    count = present.sum(axis=1)
    t_max = int(count.max(initial=0))
    order = order[:, :t_max]
    prod_w = np.take_along_axis(w, order, axis=1)
    prod_u = np.take_along_axis(np.asarray(u), order, axis=1)
    live = _present(count, t_max)
    prod_w = np.where(live, prod_w, 0)
    mag = np.abs(prod_w)
    odd, shift = odd_part(mag)
    tz = shift if style != "naive" else np.zeros_like(shift)
    tree = build_trees(mag * x_min, mag * x_max, prod_w < 0, tz, count)
    fund_u = fund_m = np.zeros(0, dtype=np.int64)
    if style == "shared":
        keys = np.unique((prod_u * (1 << 20) + odd)[live & (odd > 1)])
        fund_u, fund_m = keys >> 20, keys & ((1 << 20) - 1)
        mults = const_trees(np.unique(fund_m), x_min, x_max)
    else:
        mults = const_trees(np.unique(mag[live]), x_min, x_max)
    return LayerDatapath(
        layer=layer,
        style=style,
        x_min=x_min,
        x_max=x_max,
        n_inputs=k * k * layer.in_channels,
        prod_u=prod_u,
        prod_mag=mag,
        prod_neg=prod_w < 0,
        count=count,
        tree=tree,
        mults=mults,
        fund_u=fund_u,
        fund_m=fund_m,
    )


def const_trees(values: np.ndarray, x_min: int, x_max: int) -> ConstTrees:
    """Shift-add trees computing v * x (x in [x_min, x_max]) for each positive constant v."""
    values = np.asarray(values, dtype=np.int64)
    plus, minus = csd_masks(values)
    n_bits = int(bit_length(np.maximum(plus, 1)).max(initial=1))
    shifts = np.arange(n_bits)
    digit = ((plus[:, None] >> shifts) & 1) - ((minus[:, None] >> shifts) & 1)  # (V, B)
    live = digit != 0
    order = np.argsort(~live, axis=1, kind="stable")
    count = live.sum(axis=1)
    d_max = int(count.max(initial=0))
    order = order[:, :d_max]
    d_shift = np.take_along_axis(np.broadcast_to(shifts, digit.shape), order, axis=1)
    d_neg = np.take_along_axis(digit, order, axis=1) < 0
    keep = _present(count, d_max)
    trees = build_trees(
        np.where(keep, np.left_shift(x_min, d_shift), 0),
        np.where(keep, np.left_shift(x_max, d_shift), 0),
        d_neg,
        d_shift,
        count,
    )
    return ConstTrees(values=values, trees=trees, digit_shift=d_shift, digit_neg=d_neg)


def _present(count: np.ndarray, n: int) -> np.ndarray:
    return np.arange(n)[None, :] < np.asarray(count)[:, None]


def hist(widths: np.ndarray) -> dict[int, int]:
    values, counts = np.unique(widths, return_counts=True)
    return {int(v): int(c) for v, c in zip(values.tolist(), counts.tolist(), strict=True)}


def _per_row_hists(trees: AdderTrees) -> list[dict[int, int]]:
    """Adder width histogram of each row of a (small) batch of trees."""
    out: list[dict[int, int]] = [{} for _ in range(trees.levels[0].lo.shape[0])]
    for has_pair, width in trees.adders():
        for r, i in zip(*np.nonzero(has_pair), strict=True):
            hist = out[int(r)]
            hist[int(width[r, i])] = hist.get(int(width[r, i]), 0) + 1
    return out
