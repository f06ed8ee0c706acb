"""Golden integer executor of an HwGraph: the definition of correct.

Walks the DAG in topological order and asks each node's kind (`fixynn.hw.kinds`) for its
exact integer semantics; vectorised NumPy, every intermediate an exact int64 (docs/ir.md).
"""

from __future__ import annotations

import numpy as np

from fixynn.hw.ir import INPUT, HwGraph, HwGraphError, HwLayer
from fixynn.hw.kinds import kind_of

_BATCH = 64  # images per chunk: bounds the im2col buffer


def run_layer(layer: HwLayer, *xs: np.ndarray) -> np.ndarray:
    """One node on its input tensor(s) (B, C, H, W) -> its output (B, O, Ho, Wo) int64."""
    return kind_of(layer.kind).golden(layer, [np.asarray(x) for x in xs])


def run_graph(graph: HwGraph, images: np.ndarray, keep_all: bool = True) -> list[np.ndarray]:
    """Run the graph on `images` (B, C, H, W) of unsigned `input_bits` integers.

    Returns each layer's output (B, C, H, W) int64 in layer order, or only the graph's
    outputs in `graph.outputs` order when `keep_all` is False.
    """
    images = _check_images(graph, images)
    names = [layer.name for layer in graph.layers] if keep_all else list(graph.outputs)
    chunks: list[list[np.ndarray]] = []
    for start in range(0, max(len(images), 1), _BATCH):
        env = {INPUT: images[start:start + _BATCH]}
        for layer in graph.layers:
            env[layer.name] = run_layer(layer, *(env[i] for i in layer.inputs))
        chunks.append([env[n] for n in names])
    return [np.concatenate([c[i] for c in chunks]) for i in range(len(names))]


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
