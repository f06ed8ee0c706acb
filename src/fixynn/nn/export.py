"""Fixed front-end (blocks 0..N-1 of a `FixedNet`) -> HwGraph, through the one export of
`fixynn.frontend.export` (the path every PyTorch model takes).

The `FixedNet`'s layers are described as units of ops (one unit per block, its QAT-trained,
pruned float weights), with the formats its quantization-aware training fixed (`a_bits`
ReLU6 activations with `act_frac(a_bits)` fractional bits) instead of calibrated ones; the
export then quantizes the weights exactly as `FixedConv.int_params` does, so the graph equals
`FixedNet.exact` bit for bit (tests/test_export.py). Nothing under `fixynn.hw` imports torch or
the datasets (tests/test_layering.py checks).
"""

from __future__ import annotations

from typing import Any

import torch

from fixynn.frontend.export import PixelNorm, export_units
from fixynn.frontend.graph import INPUT, Network, Op, Unit
from fixynn.hw.ir import HwGraph
from fixynn.hw.numfmt import TensorFormat
from fixynn.nn.fixed import INPUT_BITS, INPUT_FRAC, FixedConv, FixedNet

_PIXELS = PixelNorm((0,), 2**INPUT_FRAC)  # the network takes p / 256: the image itself


def _op(conv: FixedConv, source: str) -> Op:
    s = conv.shape
    with torch.no_grad():
        weight = (conv.weight * conv.mask).numpy().copy()
    return Op(s.name, "conv", (source,), (s.out_channels, s.out_height, s.out_width), s.name,
              "relu6", weight, conv.bias.detach().numpy().copy(), (s.kernel, s.kernel),
              (s.stride, s.stride), (s.padding,) * 4, s.groups)


def fixed_network(fixed: FixedNet, n: int) -> Network:
    """Blocks 0..n-1 of `fixed` as units of ops (unit i = block i)."""
    units, source = [], INPUT
    for block in range(n):
        ops = []
        for conv in fixed.layers_of(block, block + 1):
            ops.append(_op(conv, source))
            source = ops[-1].name
        units.append(Unit(f"blocks.{block}", units[-1].output if units else INPUT, tuple(ops)))
    first = fixed.layers[0].shape
    return Network((first.in_channels, first.in_height, first.in_width), tuple(units),
                   "FixedNet")


def export_front_end(fixed: FixedNet, n: int, meta: dict[str, Any] | None = None,
                     name: str | None = None) -> HwGraph:
    """The HwGraph of blocks 0..n-1, a chain; its plan hint fuses each depthwise layer with
    the pointwise layer after it (`meta["fuse"] = "all"`).

    `meta` is stored in the graph as provenance (task names, seed, ...); `n` and the bit
    widths are added to it.
    """
    info = dict(meta or {}) | {"n": n, "w_bits": fixed.w_bits, "a_bits": fixed.a_bits,
                               "fuse": "all"}
    name = name or f"ffe_n{n}"
    first = fixed.layers[0].shape
    if n == 0:  # no blocks: the image is the front-end's output
        return HwGraph(name, first.in_channels, first.in_height, first.in_width, (),
                       INPUT_BITS, INPUT_FRAC, meta=info)
    formats = {conv.shape.name: TensorFormat(False, conv.out_bits, conv.out_frac)
               for conv in fixed.layers_of(0, n)}
    return export_units(fixed_network(fixed, n), n, formats, _PIXELS, fixed.w_bits, name, info)
