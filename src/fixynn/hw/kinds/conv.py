"""conv, depthwise and pointwise: `acc = sum(w * x) + b` over a k x k window (zero padding,
stride, groups), then `y = clamp((acc + 2^(s-1)) >> s, lo, hi)` with
`s = in_frac + weight_frac[o] - out_frac` (docs/ir.md). One family, three table entries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from fixynn.arch import conv_out_size
from fixynn.hw.kinds.base import HwGraphError, KindSpec
from fixynn.hw.numfmt import (
    MAX_BIAS_EXCLUSIVE,
    MAX_FRAC,
    MAX_PRODUCTS_EXCLUSIVE,
    MAX_SHIFT,
    activation_hi,
    activation_lo,
    requantize,
)

if TYPE_CHECKING:
    from fixynn.hw.ir import HwLayer
    from fixynn.hw.lower.datapath import LayerDatapath

_FLOAT64_EXACT = 2**53


def validate(layer: HwLayer) -> None:
    where = f"layer {layer.name!r}"
    if layer.padding < 0 or layer.padding >= layer.kernel:
        raise HwGraphError(f"{where}: padding {layer.padding} must be in 0..kernel-1")
    if layer.kind == "pointwise" and (layer.kernel != 1 or layer.padding != 0):
        raise HwGraphError(f"{where}: a pointwise layer has kernel 1 and padding 0")
    if layer.kind == "depthwise" and layer.in_channels != layer.out_channels:
        raise HwGraphError(f"{where}: a depthwise layer needs in_channels == out_channels")
    expected = (layer.out_channels, layer.in_channels // layer.groups, layer.kernel,
                layer.kernel)
    if layer.weight.shape != expected:
        raise HwGraphError(f"{where}: weight shape {layer.weight.shape} != expected {expected}")
    for attr in ("bias", "weight_frac"):
        if getattr(layer, attr).shape != (layer.out_channels,):
            raise HwGraphError(f"{where}: {attr} shape {getattr(layer, attr).shape} != "
                               f"expected ({layer.out_channels},)")
    lo, hi = -(2 ** (layer.weight_bits - 1)), 2 ** (layer.weight_bits - 1) - 1
    if layer.weight.size and (layer.weight.min() < lo or layer.weight.max() > hi):
        raise HwGraphError(
            f"{where}: weights span {layer.weight.min()}..{layer.weight.max()}, outside the "
            f"signed {layer.weight_bits}-bit range {lo}..{hi}"
        )
    if np.abs(layer.weight_frac).max(initial=0) > MAX_FRAC:
        raise HwGraphError(f"{where}: weight_frac outside -{MAX_FRAC}..{MAX_FRAC}")
    if np.abs(layer.bias).max(initial=0) >= MAX_BIAS_EXCLUSIVE:
        raise HwGraphError(f"{where}: bias magnitude must be below 2^62")
    if np.abs(layer.shift).max(initial=0) > MAX_SHIFT:
        raise HwGraphError(f"{where}: requantization shift in_frac + weight_frac - out_frac "
                           f"beyond +-{MAX_SHIFT} bits")
    w_abs = np.abs(layer.weight).reshape(layer.out_channels, -1).sum(axis=1)
    if int(w_abs.max(initial=0)) * (2**layer.in_bits - 1) >= MAX_PRODUCTS_EXCLUSIVE:
        raise HwGraphError(
            f"{where}: sum(|weight|) * max input reaches 2^60 (the accumulator would not "
            "be exact in 64 bits); use fewer inputs or narrower weights"
        )


def out_size(layer: HwLayer, height: int, width: int) -> tuple[int, int]:
    return (conv_out_size(height, layer.kernel, layer.stride, layer.padding),
            conv_out_size(width, layer.kernel, layer.stride, layer.padding))


def accumulate(layer: HwLayer, x: np.ndarray) -> np.ndarray:
    """Exact `sum(w * x) + b`, x: (B, C, H, W) integers -> (B, O, Ho, Wo) int64.

    When the worst-case |acc| is below 2^53 the dot products run through float64 BLAS
    (every partial sum is an integer that float64 holds exactly), otherwise through int64.
    """
    x = np.asarray(x)
    w_abs = np.abs(layer.weight).reshape(layer.out_channels, -1).sum(axis=1)
    x_abs = max(int(x.max(initial=0)), int(-x.min(initial=0)))
    bound = int((w_abs * x_abs).max(initial=0) + np.abs(layer.bias).max(initial=0))
    dtype = np.float64 if bound < _FLOAT64_EXACT else np.int64
    p, k, s = layer.padding, layer.kernel, layer.stride
    xp = np.pad(x.astype(dtype), ((0, 0), (0, 0), (p, p), (p, p))) if p else x.astype(dtype)
    w = layer.weight.astype(dtype)
    if layer.kind == "pointwise":
        acc = np.einsum("bchw,oc->bohw", xp[:, :, ::s, ::s], w[:, :, 0, 0], optimize=True)
    else:
        win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]  # (B,C,Ho,Wo,k,k)
        if layer.kind == "depthwise":
            acc = np.einsum("bchwij,cij->bchw", win, w[:, 0], optimize=True)
        else:
            acc = np.einsum("bchwij,ocij->bohw", win, w, optimize=True)
    acc = np.rint(acc).astype(np.int64) if dtype == np.float64 else acc
    return acc + layer.bias.reshape(1, -1, 1, 1)


def golden(layer: HwLayer, xs: list[np.ndarray]) -> np.ndarray:
    lo, hi = out_range(layer)
    return requantize(accumulate(layer, xs[0]), layer.shift, hi, lo)


def out_range(layer: HwLayer) -> tuple[int, int]:
    return (activation_lo(layer.activation, layer.out_bits),
            activation_hi(layer.activation, layer.out_bits, layer.out_frac))


def datapath(layer: HwLayer, style: str) -> LayerDatapath:
    from fixynn.hw.lower.datapath import plan_datapath  # the lowering imports the IR

    return plan_datapath(layer, style)


SPECS = tuple(KindSpec(name, 1, validate, out_size, golden, out_range, datapath)
              for name in ("conv", "depthwise", "pointwise"))
