"""Constant multiplication for fixed-weight logic: CSD recoding, adder trees, exact widths.

Everything is vectorised NumPy so a whole MobileNetV1 1.0 front-end (millions of weights)
is analysed in seconds. The RTL emitter and the structure/PPA model read the same trees, so
the adder counts the cost model sees are the adders the Verilog contains.

Conventions:
* A *leaf* is `x << k` for an input `x` (or a shared multiple of it), with a sign flag: the
  leaf contributes `-(x << k)` when `neg` is set. `x` is unsigned after a ReLU, two's
  complement after a linear (`none`) layer; its interval [lo, hi] carries the difference.
* An adder-tree node keeps a sign flag too (sign-magnitude at the node level): two leaves of
  the same sign are added and keep their sign, leaves of opposite signs are subtracted. So a
  negative digit never costs a separate negation.
* Widths are two's complement widths of exact value intervals, never a blanket 32 bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STYLES: tuple[str, ...] = ("csd", "shared", "naive")


# ---------------------------------------------------------------------------------------------
# Bit widths


def bits_for(max_value: int) -> int:
    """Unsigned bits holding 0..max_value (at least 1)."""
    return max(1, int(max_value).bit_length())


def bit_length(v: np.ndarray | int) -> np.ndarray:
    """Vectorised `int.bit_length` of non-negative int64 values (< 2^62)."""
    v = np.asarray(v, dtype=np.int64)
    if np.any(v < 0):
        raise ValueError("bit_length needs non-negative values")
    # frexp is exact here: it returns e with v = m * 2^e, 0.5 <= m < 1, and v < 2^53 in
    # practice; above that a float could round up, so correct by comparing back.
    e = np.frexp(v.astype(np.float64))[1].astype(np.int64)
    e = np.where((e > 0) & (np.left_shift(1, np.maximum(e - 1, 0)) > v), e - 1, e)
    return np.where(v == 0, 0, e)


def signed_width(lo: np.ndarray | int, hi: np.ndarray | int) -> np.ndarray:
    """Smallest two's complement width holding every integer of [lo, hi] (at least 1)."""
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    need = np.maximum(bit_length(np.maximum(hi, 0)), bit_length(np.maximum(-lo - 1, 0)))
    return need + 1


# ---------------------------------------------------------------------------------------------
# Canonical signed digit (non-adjacent form) recoding


def csd_masks(w: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Bit masks (plus, minus) of the CSD digits of each value: w = plus - minus.

    Non-adjacent form: no two adjacent non-zero digits, the fewest non-zero digits of any
    signed-digit representation. Computed with the classic `x ^ 3x` trick on |w|.
    """
    w = np.asarray(w, dtype=np.int64)
    a = np.abs(w)
    three = 3 * a
    plus = (three & ~a) >> 1
    minus = (a & ~three) >> 1
    negative = w < 0
    return np.where(negative, minus, plus), np.where(negative, plus, minus)


def popcount(v: np.ndarray) -> np.ndarray:
    """Vectorised population count of non-negative int64 values."""
    v = np.asarray(v, dtype=np.uint64)
    count = np.zeros(v.shape, dtype=np.int64)
    while np.any(v):
        count += (v & np.uint64(1)).astype(np.int64)
        v = v >> np.uint64(1)
    return count


def csd_digit_count(w: np.ndarray | int) -> np.ndarray:
    """Number of non-zero CSD digits of each value (0 for zero, 1 for +-2^k)."""
    plus, minus = csd_masks(w)
    return popcount(plus) + popcount(minus)


def csd_terms(w: int) -> list[tuple[int, int]]:
    """CSD digits of one integer as (shift, sign) pairs, lowest shift first."""
    plus, minus = (int(m) for m in csd_masks(int(w)))
    terms = []
    for k in range(max(plus.bit_length(), minus.bit_length())):
        if plus >> k & 1:
            terms.append((k, 1))
        elif minus >> k & 1:
            terms.append((k, -1))
    return terms


def odd_part(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m, k) with |w| = m * 2^k, m odd (m = 0, k = 0 for w = 0)."""
    a = np.abs(np.asarray(w, dtype=np.int64))
    low = a & -a  # lowest set bit
    k = np.where(a > 0, bit_length(low) - 1, 0)
    return np.where(a > 0, a >> k, 0), k


# ---------------------------------------------------------------------------------------------
# Adder trees (one per row, all rows at once)


@dataclass(frozen=True)
class TreeLevel:
    """The nodes of one level of a batch of adder trees, compacted to the left of each row.

    Node (r, i) of level l+1 combines nodes (r, 2i) and (r, 2i+1) of level l when both exist,
    else it is node (r, 2i) passed through (no adder). `lo`/`hi` bound the node's magnitude
    expression (its true value is negated when `neg`), `tz` is a count of trailing bits known
    to be zero.
    """

    count: np.ndarray  # (R,) nodes per row
    lo: np.ndarray  # (R, N)
    hi: np.ndarray  # (R, N)
    neg: np.ndarray  # (R, N) bool
    tz: np.ndarray  # (R, N)
    leaf: np.ndarray | None = None  # (R, N) still a leaf (a product, no adder yet)

    @property
    def width(self) -> np.ndarray:
        return signed_width(self.lo, self.hi)

    @property
    def wire_width(self) -> np.ndarray:
        """Width of the wire holding each node: a leaf of a non-negative input is an unsigned
        magnitude; one of a signed input, a two's complement value."""
        if self.leaf is None:
            return self.width
        leaf_width = np.maximum(bit_length(np.maximum(self.hi, 0)), 1)
        return np.where(self.leaf & (self.lo >= 0), leaf_width, self.width)


@dataclass(frozen=True)
class AdderTrees:
    """Balanced adder trees summing the leaves of each row; levels[0] are the leaves."""

    levels: tuple[TreeLevel, ...]

    @property
    def depth(self) -> int:
        return len(self.levels) - 1

    @property
    def root(self) -> TreeLevel:
        return self.levels[-1]

    def adders(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per level above the leaves: (mask of nodes that are adders, effective width).

        Low bits that are known zero in one operand pass through as wires, so an adder's
        effective width is its result width minus the larger trailing-zero count.
        """
        out = []
        for below, above in zip(self.levels, self.levels[1:], strict=False):
            n = above.lo.shape[1]
            has_pair = (2 * np.arange(n)[None, :] + 1) < below.count[:, None]
            tz_a, tz_b = _pairs(below.tz, n)
            out.append((has_pair, np.maximum(above.width - np.maximum(tz_a, tz_b), 1)))
        return out

    def adder_widths(self) -> dict[int, int]:
        """Bit width -> number of tree adders (all rows)."""
        hist: dict[int, int] = {}
        for has_pair, width in self.adders():
            _add_hist(hist, width[has_pair])
        return hist


def build_trees(
    leaf_lo: np.ndarray,
    leaf_hi: np.ndarray,
    leaf_neg: np.ndarray,
    leaf_tz: np.ndarray,
    count: np.ndarray,
) -> AdderTrees:
    """Adder trees over rows of leaves (R, T); row r uses its first count[r] leaves."""
    level = TreeLevel(
        count=np.asarray(count, dtype=np.int64),
        lo=np.asarray(leaf_lo, dtype=np.int64),
        hi=np.asarray(leaf_hi, dtype=np.int64),
        neg=np.asarray(leaf_neg, dtype=bool),
        tz=np.asarray(leaf_tz, dtype=np.int64),
        leaf=np.ones(np.shape(leaf_lo), dtype=bool),
    )
    levels = [level]
    while level.lo.shape[1] > 1:
        level = _combine(level)
        levels.append(level)
    return AdderTrees(tuple(levels))


def _pairs(a: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns (2i, 2i+1) of `a` for i < n, the missing odd column padded with zeros."""
    if a.shape[1] < 2 * n:
        a = np.concatenate([a, np.zeros((a.shape[0], 2 * n - a.shape[1]), a.dtype)], axis=1)
    return a[:, 0::2], a[:, 1::2]


def _combine(level: TreeLevel) -> TreeLevel:
    n = (level.lo.shape[1] + 1) // 2
    lo_a, lo_b = _pairs(level.lo, n)
    hi_a, hi_b = _pairs(level.hi, n)
    neg_a, neg_b = _pairs(level.neg, n)
    tz_a, tz_b = _pairs(level.tz, n)
    has_b = (2 * np.arange(n)[None, :] + 1) < level.count[:, None]
    same = neg_a == neg_b
    # Same sign: a + b keeps the sign. Opposite signs: positive one minus the negative one.
    p_lo, p_hi = np.where(neg_a, lo_b, lo_a), np.where(neg_a, hi_b, hi_a)
    m_lo, m_hi = np.where(neg_a, lo_a, lo_b), np.where(neg_a, hi_a, hi_b)
    lo = np.where(same, lo_a + lo_b, p_lo - m_hi)
    hi = np.where(same, hi_a + hi_b, p_hi - m_lo)
    neg = same & neg_a
    tz = np.minimum(tz_a, tz_b)
    return TreeLevel(
        count=(level.count + 1) // 2,
        lo=np.where(has_b, lo, lo_a),
        hi=np.where(has_b, hi, hi_a),
        neg=np.where(has_b, neg, neg_a),
        tz=np.where(has_b, tz, tz_a),
        leaf=None if level.leaf is None else ~has_b & _pairs(level.leaf, n)[0],
    )


def _add_hist(hist: dict[int, int], widths: np.ndarray) -> None:
    values, counts = np.unique(widths, return_counts=True)
    for v, c in zip(values.tolist(), counts.tolist(), strict=True):
        hist[int(v)] = hist.get(int(v), 0) + int(c)


def merge_hist(*hists: dict[int, int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for h in hists:
        for k, v in h.items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items()))
