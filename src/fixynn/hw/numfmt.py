"""Integer bounds of activations and the IR limits that keep the golden executor exact in int64.

One place for the numbers every consumer (IR validation, golden, RTL, the torch fixed-point
model) must agree on. Plain Python ints throughout: no float ever decides a bound.
"""

from __future__ import annotations

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
    """Upper clamp bound of an unsigned ReLU / ReLU6 output integer."""
    return relu6_hi(bits, frac) if activation == "relu6" else 2**bits - 1
