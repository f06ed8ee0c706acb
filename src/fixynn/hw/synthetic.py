"""HwGraphs with random integer weights, for the hardware half without a trained model.

Used by RTL property tests and by PPA estimates of configurations nobody trained (for example
MobileNetV1 1.0 at 224x224 with a given weight sparsity). The shifts are chosen so that the
activations neither all saturate nor all vanish, which keeps the exercised logic realistic.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from fixynn.arch import ELEMENTWISE_KINDS, LayerShape
from fixynn.hw.golden import run_layer
from fixynn.hw.ir import HwGraph, HwLayer
from fixynn.hw.kinds.base import Padding
from fixynn.hw.kinds.conv import accumulate


def random_layer(
    rng: np.random.Generator,
    name: str,
    kind: str,
    in_channels: int,
    out_channels: int,
    kernel: int,
    stride: int,
    padding: int | Padding,
    weight_bits: int = 8,
    in_bits: int = 8,
    in_frac: int = 5,
    out_bits: int = 8,
    out_frac: int = 5,
    sparsity: float = 0.0,
    activation: str = "relu6",
) -> HwLayer:
    """A layer with uniform random weights, `sparsity` of them zero, and a sensible shift."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    groups = in_channels if kind == "depthwise" else 1
    shape = (out_channels, in_channels // groups, kernel, kernel)
    w_max = 2 ** (weight_bits - 1) - 1
    weight = rng.integers(-w_max, w_max + 1, size=shape)
    weight[rng.random(shape) < sparsity] = 0
    fan_in = shape[1] * kernel * kernel
    # Typical |acc| ~ sqrt(fan_in * (1 - sparsity)) * w_max/sqrt(3) * mean(x); aim the output
    # of a typical accumulator at about a quarter of the output range.
    x_typ = 2 ** (in_bits - 2)
    acc_typ = math.sqrt(max(fan_in * (1 - sparsity), 1.0)) * w_max / math.sqrt(3) * x_typ
    y_typ = 2 ** (out_bits - 2)
    shift = max(0, round(math.log2(max(acc_typ / y_typ, 1.0))))
    weight_frac = np.full(out_channels, shift - in_frac + out_frac, dtype=np.int64)
    bias = rng.integers(-(2 ** max(shift, 1)), 2 ** max(shift, 1) + 1, size=out_channels)
    return HwLayer(
        name=name, kind=kind, in_channels=in_channels, out_channels=out_channels,  # type: ignore[arg-type]
        kernel=kernel, stride=stride, padding=padding, weight=weight, bias=bias,
        weight_bits=weight_bits, weight_frac=weight_frac, in_bits=in_bits, in_frac=in_frac,
        out_bits=out_bits, out_frac=out_frac, activation=activation,  # type: ignore[arg-type]
    )


def random_graph_from_shapes(
    shapes: list[LayerShape],
    seed: int = 0,
    weight_bits: int = 8,
    act_bits: int = 8,
    sparsity: float = 0.0,
    fuse_depthwise: bool = False,
    name: str = "random",
    calibration_images: int = 2,
) -> HwGraph:
    """Random-weight HwGraph with the geometry of `shapes` (conv layers only; fc is skipped).

    The image is 8-bit with 8 fractional bits (docs/ir.md); activations have `act_bits` bits
    with 3 integer bits (enough for ReLU6). With `calibration_images` > 0, each layer's shift
    is set from its accumulators on that many random images so activations stay alive deep
    into the stack; 0 skips this (fast, for cost models that only look at the weights).
    """
    rng = np.random.default_rng(seed)
    if any(s.kind in ELEMENTWISE_KINDS for s in shapes):
        raise ValueError("a random graph is a chain of convs; the shapes hold adds or pools")
    convs = [s for s in shapes if s.kind != "fc"]
    if not convs:
        raise ValueError("no conv layers to build a graph from")
    act_frac = act_bits - 3
    first = convs[0]
    x = rng.integers(0, 256, size=(calibration_images, first.in_channels, first.in_height,
                                    first.in_width))
    layers = []
    in_bits, in_frac = 8, 8
    for s in convs:
        layer = random_layer(
            rng, s.name, s.kind, s.in_channels, s.out_channels, s.kernel, s.stride,
            s.padding if s.pads is None else s.pads,
            weight_bits=weight_bits, in_bits=in_bits, in_frac=in_frac, out_bits=act_bits,
            out_frac=act_frac, sparsity=sparsity,
        )
        if calibration_images:
            layer = _calibrated(layer, x)
            x = run_layer(layer, x)
        layers.append(layer)
        in_bits, in_frac = act_bits, act_frac
    return HwGraph(
        name=name, input_channels=first.in_channels, input_height=first.in_height,
        input_width=first.in_width, layers=tuple(layers),
        meta={"source": "random", "seed": seed, "sparsity": sparsity,
              "fuse": "all" if fuse_depthwise else "none"},
    )


def _calibrated(layer: HwLayer, x: np.ndarray) -> HwLayer:
    """Same layer with its shift set so the 99th percentile accumulator lands at ~hi/2."""
    acc = accumulate(layer, x) - layer.bias.reshape(1, -1, 1, 1)
    p99 = float(np.percentile(np.abs(acc), 99)) if acc.size else 1.0
    shift = max(0, math.ceil(math.log2(max(p99 / (layer.act_hi / 2), 1.0))))
    return replace(
        layer,
        weight_frac=np.full(layer.out_channels, shift - layer.in_frac + layer.out_frac),
        bias=layer.bias % (2 ** max(shift, 1)) - 2 ** max(shift - 1, 0),
    )
