"""Integer bounds of activations and the IR limits that keep the golden executor exact in int64.

One place for the numbers every consumer (IR validation, golden, RTL, the torch fixed-point
model) must agree on. Plain Python ints throughout: no float ever decides a bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The activations a layer's requantization may apply: none = the signed range of the output
# format (saturated), relu / relu6 = clamped at 0 and the unsigned / ReLU6 bound.
ACTIVATIONS: tuple[str, ...] = ("none", "relu", "relu6")
MAX_BITS = 16  # activation/weight widths above this are outside what the RTL flow targets
MAX_SHIFT = 62  # |requantization shift| <= 62: 2^(s-1) and the saturation limits fit int64
# |bias| < 2^62 and sum|w| * max|x| < 2^60 give |acc + 2^(s-1)| < 2^62 + 2^60 + 2^61 < 2^63:
# every intermediate of the golden executor is an exact int64 (docs/ir.md, "Exactness").
MAX_BIAS_EXCLUSIVE = 2**62
MAX_PRODUCTS_EXCLUSIVE = 2**60
MAX_FRAC = 62  # |frac| bound of any tensor or weight format, well inside the shift limit


def relu6_hi(bits: int, frac: int) -> int:
    """Largest unsigned `bits`-wide integer q with q * 2^-frac <= 6 (floor(6 * 2^frac)).

    Always an integer, so the output never exceeds 6.0: with frac = -2 an integer q stands
    for 4q and the bound is floor(6 / 4) = 1 (the value 4.0; 2 would be 8.0).
    """
    six = 6 << frac if frac >= 0 else 6 >> -frac
    return min(2**bits - 1, six)


def activation_hi(activation: str, bits: int, frac: int) -> int:
    """Upper clamp bound of an activation's output integer."""
    if activation == "relu6":
        return relu6_hi(bits, frac)
    return 2 ** (bits - 1) - 1 if activation == "none" else 2**bits - 1


def activation_lo(activation: str, bits: int) -> int:
    """Lower clamp bound: 0 after ReLU / ReLU6, the signed range's floor for none (linear)."""
    return -(2 ** (bits - 1)) if activation == "none" else 0


@dataclass(frozen=True)
class TensorFormat:
    """Number format of a tensor: value = q * 2^-frac, q a `bits`-wide (un)signed integer."""

    signed: bool
    bits: int
    frac: int

    @property
    def lo(self) -> int:
        return -(2 ** (self.bits - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return 2 ** (self.bits - 1) - 1 if self.signed else 2**self.bits - 1

    def to_dict(self) -> dict[str, bool | int]:
        return {"signed": self.signed, "bits": self.bits, "frac": self.frac}

    def __str__(self) -> str:
        return f"{'signed' if self.signed else 'unsigned'} {self.bits}b/frac {self.frac}"


def requantize(acc: np.ndarray, shift: np.ndarray, hi: int, lo: int = 0,
               channel_axis: int = 1) -> np.ndarray:
    """`clamp((acc + 2^(s-1)) >> s, lo, hi)` per channel; s < 0 is a saturating left shift.

    Exact in int64 for every layer the IR accepts (the limits above): the rounded right
    shift never overflows, and a left shift saturates first, so `acc << -s` is never
    formed beyond the clamp range (a wrapped shift would flip the sign or give 0).
    """
    shape = [1] * acc.ndim
    shape[channel_axis] = -1
    s = np.asarray(shift, dtype=np.int64).reshape(shape)
    right = np.maximum(s, 0)
    left = np.maximum(-s, 0)
    rounding = np.where(s > 0, np.left_shift(1, np.maximum(s - 1, 0)), 0)
    y = np.right_shift(acc + rounding, right)
    # Values beyond (lo >> k) - 1 .. (hi >> k) + 1 clamp to the same bound after the shift;
    # clipping to them first keeps y << k within [-2^63, hi + 2^k] (|lo|, hi < 2^16, k <= 62).
    y = np.clip(y, np.right_shift(lo, left) - 1, np.right_shift(hi, left) + 1)
    return np.clip(np.left_shift(y, left), lo, hi)
