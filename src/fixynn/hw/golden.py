"""Golden integer executor of an HwGraph: the definition of correct.

Vectorised NumPy. Accumulation is exact: when a layer's worst-case |acc| is below 2^53 the
dot products run through float64 BLAS (every partial sum is an integer that float64 holds
exactly), otherwise through int64.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from fixynn.hw.ir import HwGraph, HwLayer

_FLOAT64_EXACT = 2**53
_BATCH = 64  # images per chunk: bounds the im2col buffer


def requantize(acc: np.ndarray, shift: np.ndarray, hi: int, channel_axis: int = 1) -> np.ndarray:
    """`clamp((acc + 2^(s-1)) >> s, 0, hi)` per output channel (s < 0: left shift)."""
    shape = [1] * acc.ndim
    shape[channel_axis] = -1
    s = np.asarray(shift, dtype=np.int64).reshape(shape)
    right = np.maximum(s, 0)
    rounding = np.where(s > 0, np.left_shift(1, np.maximum(s - 1, 0)), 0)
    y = np.right_shift(acc + rounding, right)
    y = np.left_shift(y, np.maximum(-s, 0))
    return np.clip(y, 0, hi)


def accumulate(layer: HwLayer, x: np.ndarray) -> np.ndarray:
    """Exact `sum(w * x) + b` of one layer, x: (B, C, H, W) integers -> (B, O, Ho, Wo) int64."""
    x = np.asarray(x)
    bound = _acc_bound(layer, int(x.max(initial=0)), int(-x.min(initial=0)))
    dtype = np.float64 if bound < _FLOAT64_EXACT else np.int64
    p, k, s = layer.padding, layer.kernel, layer.stride
    xp = np.pad(x.astype(dtype), ((0, 0), (0, 0), (p, p), (p, p))) if p else x.astype(dtype)
    w = layer.weight.astype(dtype)
    if layer.kind == "pointwise":
        xs = xp[:, :, ::s, ::s]
        acc = np.einsum("bchw,oc->bohw", xs, w[:, :, 0, 0], optimize=True)
    else:
        # windows: (B, C, Ho, Wo, k, k)
        win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]
        if layer.kind == "depthwise":
            acc = np.einsum("bchwij,cij->bchw", win, w[:, 0], optimize=True)
        else:
            acc = np.einsum("bchwij,ocij->bohw", win, w, optimize=True)
    acc = np.rint(acc).astype(np.int64) if dtype == np.float64 else acc
    return acc + layer.bias.reshape(1, -1, 1, 1)


def run_layer(layer: HwLayer, x: np.ndarray) -> np.ndarray:
    """One layer: accumulate, requantize, clamp. x: (B, C, H, W) -> (B, O, Ho, Wo) int64."""
    return requantize(accumulate(layer, x), layer.shift, layer.act_hi)


def run_graph(graph: HwGraph, images: np.ndarray, keep_all: bool = True) -> list[np.ndarray]:
    """Run the graph on `images` (B, C, H, W) of unsigned `input_bits` integers.

    Returns each layer's output (B, C, H, W) int64 in layer order, or only the last one
    (a one-element list) when `keep_all` is False.
    """
    images = np.asarray(images)
    expected = (graph.input_channels, graph.input_height, graph.input_width)
    if images.ndim != 4 or images.shape[1:] != expected:
        raise ValueError(f"images must have shape (B, {expected[0]}, {expected[1]}, "
                         f"{expected[2]}) for graph {graph.name!r}, got {images.shape}")
    if images.size and (images.min() < 0 or images.max() >= 2**graph.input_bits):
        raise ValueError(f"image values must be unsigned {graph.input_bits}-bit integers")
    chunks: list[list[np.ndarray]] = []
    for start in range(0, max(len(images), 1), _BATCH):
        x = images[start:start + _BATCH].astype(np.int64)
        outs = []
        for layer in graph.layers:
            x = run_layer(layer, x)
            outs.append(x)
        chunks.append(outs if keep_all else outs[-1:])
    n_out = len(chunks[0])
    return [np.concatenate([c[i] for c in chunks]) for i in range(n_out)]


def _acc_bound(layer: HwLayer, x_max: int, x_neg: int) -> int:
    """Upper bound of |acc| for inputs in [-x_neg, x_max]."""
    w_abs = np.abs(layer.weight).reshape(layer.out_channels, -1).sum(axis=1)
    return int((w_abs * max(x_max, x_neg)).max(initial=0) + np.abs(layer.bias).max(initial=0))
