"""Golden integer executor of an HwGraph: the definition of correct.

Vectorised NumPy. Accumulation is exact: when a layer's worst-case |acc| is below 2^53 the
dot products run through float64 BLAS (every partial sum is an integer that float64 holds
exactly), otherwise through int64.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from fixynn.hw.ir import HwGraph, HwGraphError, HwLayer

_FLOAT64_EXACT = 2**53
_BATCH = 64  # images per chunk: bounds the im2col buffer


def requantize(acc: np.ndarray, shift: np.ndarray, hi: int, channel_axis: int = 1) -> np.ndarray:
    """`clamp((acc + 2^(s-1)) >> s, 0, hi)` per output channel; s < 0 is a saturating left shift.

    Exact in int64 for every layer the IR accepts (`fixynn.hw.numfmt`): the rounded right
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
    # Values beyond (0 >> k) - 1 .. (hi >> k) + 1 clamp to the same bound after the shift;
    # clipping to them first keeps y << k within hi + 2^k <= 2^16 + 2^62.
    y = np.clip(y, -1, np.right_shift(hi, left) + 1)
    return np.clip(np.left_shift(y, left), 0, hi)


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
    images = _check_images(graph, images)
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


def _check_images(graph: HwGraph, images: np.ndarray) -> np.ndarray:
    """`images` as int64 if every pixel is an unsigned `input_bits` integer, else an error."""
    images = np.asarray(images)
    expected = (graph.input_channels, graph.input_height, graph.input_width)
    if images.ndim != 4 or images.shape[1:] != expected:
        raise HwGraphError(f"images must have shape (B, {expected[0]}, {expected[1]}, "
                           f"{expected[2]}) for graph {graph.name!r}, got {images.shape}")
    if images.dtype.kind == "f":
        if not np.all(np.isfinite(images)):
            raise HwGraphError("images: pixel values must be finite integers, found NaN/inf")
        if not np.all(images == np.floor(images)):
            bad = images[images != np.floor(images)].flat[0]
            raise HwGraphError(f"images: pixel values must be integers, found {bad}")
    elif images.dtype.kind not in "iu":
        raise HwGraphError(f"images: pixel values must be integers, got dtype {images.dtype}")
    top = 2**graph.input_bits - 1
    if images.size and (images.min() < 0 or images.max() > top):
        raise HwGraphError(f"images: pixel values must be unsigned {graph.input_bits}-bit "
                           f"integers (0..{top}), found {images.min()}..{images.max()}")
    return images.astype(np.int64)


def _acc_bound(layer: HwLayer, x_max: int, x_neg: int) -> int:
    """Upper bound of |acc| for inputs in [-x_neg, x_max]."""
    w_abs = np.abs(layer.weight).reshape(layer.out_channels, -1).sum(axis=1)
    return int((w_abs * max(x_max, x_neg)).max(initial=0) + np.abs(layer.bias).max(initial=0))
