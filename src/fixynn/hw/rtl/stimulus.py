"""How a testbench drives a design: the images and, per pixel, the idle cycles before it.

Both benches (the Verilator C++ one in `testbench.py`, the portable Verilog one in
`portable_tb.py`) replay this schedule, so they drive the documented protocol (docs/rtl.md)
the same way a user's system may: random idle cycles inside rows, at least `row_gap` idle
cycles between rows, and each frame's first pixel a random few cycles (often none) after
`busy` went low. While `in_valid` is low the benches put garbage on `in_data` and `in_sof`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fixynn.errors import FixynnError
from fixynn.hw.ir import HwGraph

MAX_IDLE = 255  # idle cycles before a pixel fit one byte (vector files, the C++ bench)
P_IDLE = 0.25  # chance of a stall before a pixel inside a row ...
STALL_MAX = 3  # ... of 1..STALL_MAX cycles


@dataclass(frozen=True)
class Stimulus:
    images: np.ndarray  # (N, C, H, W) int64, unsigned input_bits values
    idle: np.ndarray  # (N, H * W) int64: idle cycles before each pixel, raster order;
    # for a frame's first pixel, counted from the first cycle `busy` is low after the
    # previous frame's last pixel


def check_images(graph: HwGraph, images: np.ndarray, what: str = "images") -> np.ndarray:
    """`images` as (N, C, H, W) int64 for the graph input, N >= 1; else a FixynnError."""
    images = np.asarray(images)
    expected = (graph.input_channels, graph.input_height, graph.input_width)
    if images.ndim != 4 or images.shape[1:] != expected or len(images) == 0:
        raise FixynnError(f"{what}: shape {images.shape} does not match the input of graph "
                          f"{graph.name!r} (N, {', '.join(map(str, expected))}) with N >= 1")
    if images.dtype.kind not in "iu":
        raise FixynnError(f"{what}: dtype {images.dtype} is not an integer type; pixels are "
                          f"unsigned {graph.input_bits}-bit integers")
    if images.min() < 0 or images.max() >= 2**graph.input_bits:
        raise FixynnError(f"{what}: values must be unsigned {graph.input_bits}-bit integers")
    return images.astype(np.int64)


def stimulus(graph: HwGraph, images: np.ndarray, row_gap: int, seed: int = 0) -> Stimulus:
    """The seeded schedule of idle cycles for streaming `images` into `graph`'s design."""
    images = check_images(graph, images)
    if row_gap > MAX_IDLE - STALL_MAX:
        raise FixynnError(f"graph {graph.name!r}: row gap {row_gap} cycles is beyond what "
                          f"the testbenches schedule ({MAX_IDLE - STALL_MAX})")
    rng = np.random.default_rng(seed)
    n, h, w = len(images), graph.input_height, graph.input_width
    idle = np.where(rng.random((n, h, w)) < P_IDLE, rng.integers(1, STALL_MAX + 1, (n, h, w)),
                    0)
    idle[:, 1:, 0] += row_gap
    return Stimulus(images, idle.reshape(n, h * w))


def cycle_budget(graph: HwGraph, stim: Stimulus, row_gap: int) -> int:
    """Cycles within which a working design has streamed every frame out: four times the
    input cycles and every layer's padding walk, plus a margin for pipeline latency."""
    walk = (graph.input_height + 1) * (graph.input_width + row_gap)
    return 1000 + 4 * (int(stim.idle.sum()) + len(stim.images) * (walk + 64))
