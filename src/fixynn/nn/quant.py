"""Fixed-point quantizers with the integer semantics of docs/ir.md, as torch functions.

Activations are unsigned `a_bits` integers with `act_frac(a_bits)` fractional bits; weights are
signed `w_bits` integers with a power-of-two scale per output channel; the bias sits at the
accumulator scale. The requantization `y = clamp((acc + 2^(s-1)) >> s, 0, hi)` equals
`clamp(floor(acc * 2^-s + 1/2), 0, hi)` for every integer shift s (for s <= 0 the product is
an integer, so the floor is a no-op): the fake-quant (QAT) path uses that float form with a
straight-through estimator, the exact path the integer form.
"""

from __future__ import annotations

import torch

from fixynn.hw.numfmt import activation_hi

# Bound of a weight's fractional bits: keeps every shift and bias far inside the IR's 62 bits.
MAX_WEIGHT_FRAC = 32


def act_frac(a_bits: int) -> int:
    """Fractional bits of an activation: 3 integer bits hold ReLU6's range [0, 6]."""
    if a_bits < 4:
        raise ValueError(f"a_bits must be >= 4 to hold ReLU6's range, got {a_bits}")
    return a_bits - 3


def act_hi(a_bits: int, frac: int, relu6: bool = True) -> int:
    """Upper clamp bound of an activation integer (ReLU6: 6.0, else the full range)."""
    return activation_hi("relu6" if relu6 else "relu", a_bits, frac)


def weight_frac(weight: torch.Tensor, w_bits: int) -> torch.Tensor:
    """Per-output-channel fractional bits: the most that keep max|w| * 2^f <= 2^(w_bits-1) - 1.

    An all-zero channel gets 0. Returns int64 of shape (out_channels,).
    """
    qmax = 2 ** (w_bits - 1) - 1
    m = weight.detach().abs().reshape(weight.shape[0], -1).amax(dim=1).double()
    safe = torch.where(m > 0, m, torch.ones_like(m))
    f = torch.floor(torch.log2(qmax / safe))
    # log2 may be off by one ulp at exact powers of two; settle the boundary exactly.
    f = torch.where(safe * torch.exp2(f) > qmax, f - 1, f)
    f = torch.where(safe * torch.exp2(f + 1) <= qmax, f + 1, f)
    f = torch.where(m > 0, f, torch.zeros_like(f))
    return f.clamp(-MAX_WEIGHT_FRAC, MAX_WEIGHT_FRAC).long()


def _per_channel(v: torch.Tensor, ndim: int) -> torch.Tensor:
    return v.reshape(-1, *([1] * (ndim - 1)))


def quantize_weight(weight: torch.Tensor, frac: torch.Tensor, w_bits: int) -> torch.Tensor:
    """Integer weights round(w * 2^f), clamped to the signed range (as float, exact)."""
    lo, hi = -(2 ** (w_bits - 1)), 2 ** (w_bits - 1) - 1
    scale = torch.exp2(_per_channel(frac, weight.ndim).to(weight.dtype))
    return torch.clamp(torch.round(weight * scale), lo, hi)


def quantize_bias(bias: torch.Tensor, in_frac: int, frac: torch.Tensor) -> torch.Tensor:
    """Integer bias at the accumulator scale 2^-(in_frac + f), as float64 (exact)."""
    return torch.round(bias.double() * torch.exp2((frac + in_frac).double()))


def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Value of q, gradient of x (straight-through estimator)."""
    return x + (q - x).detach()


def fake_quant_weight(weight: torch.Tensor, frac: torch.Tensor, w_bits: int) -> torch.Tensor:
    """Weights rounded onto their per-channel grid 2^-frac; STE gradient."""
    scale = torch.exp2(_per_channel(frac, weight.ndim).to(weight.dtype))
    return _ste(weight, quantize_weight(weight, frac, w_bits) / scale)


def fake_quant_bias(bias: torch.Tensor, in_frac: int, frac: torch.Tensor) -> torch.Tensor:
    """Bias rounded onto the accumulator grid 2^-(in_frac + f); STE gradient."""
    scale = torch.exp2((frac + in_frac).to(bias.dtype))
    return _ste(bias, torch.round(bias * scale) / scale)


def fake_requantize(acc: torch.Tensor, out_frac: int, hi: int) -> torch.Tensor:
    """Real accumulator -> real activation on the 2^-out_frac grid, clamped to [0, hi].

    Rounds half up (floor(t + 1/2)) like `(acc + 2^(s-1)) >> s`; the gradient passes the
    rounding straight through and is zero where the clamp is active (as ReLU6).
    """
    t = acc * 2.0**out_frac
    t = _ste(t, torch.floor(t + 0.5))
    return torch.clamp(t, 0.0, float(hi)) * 2.0**-out_frac


def requantize_exact(acc: torch.Tensor, shift: torch.Tensor, hi: int) -> torch.Tensor:
    """Integer requantization of an exact accumulator (floats holding integers), NCHW.

    `clamp((acc + 2^(s-1)) >> s, 0, hi)` per output channel; a negative s is a left shift.
    Exact as long as acc + 2^(s-1) is held exactly (the caller checks); scaling by a power of
    two is exact in binary floating point. Works in place on `acc`.
    """
    s = shift.to(acc.device, acc.dtype).reshape(1, -1, 1, 1)
    rounding = torch.where(s > 0, torch.exp2(s - 1), torch.zeros_like(s))
    return acc.add_(rounding).mul_(torch.exp2(-s)).floor_().clamp_(0, hi)
