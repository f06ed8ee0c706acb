"""Fixed front-end (blocks 0..N-1 of a `FixedNet`) -> HwGraph.

The ML half's side of the contract: it writes the HwGraph, and nothing under `fixynn.hw`
imports torch or the datasets (tests/test_layering.py checks).
"""

from __future__ import annotations

from typing import Any

from fixynn.hw.ir import HwGraph, HwLayer
from fixynn.nn.fixed import INPUT_BITS, INPUT_FRAC, FixedNet


def export_front_end(fixed: FixedNet, n: int, meta: dict[str, Any] | None = None,
                     name: str | None = None) -> HwGraph:
    """The HwGraph of blocks 0..n-1, a chain; its plan hint fuses each depthwise layer with
    the pointwise layer after it (`meta["fuse"] = "all"`).

    `meta` is stored in the graph as provenance (task names, seed, ...); `n` and the bit
    widths are added to it.
    """
    layers = []
    convs = fixed.layers_of(0, n)
    for conv in convs:
        p = conv.int_params()
        s = conv.shape
        layers.append(HwLayer(
            name=s.name, kind=s.kind, in_channels=s.in_channels,  # type: ignore[arg-type]
            out_channels=s.out_channels, kernel=s.kernel, stride=s.stride, padding=s.padding,
            weight=p.weight.numpy(), bias=p.bias.numpy(), weight_bits=conv.w_bits,
            weight_frac=p.frac.numpy(), in_bits=conv.in_bits, in_frac=conv.in_frac,
            out_bits=conv.out_bits, out_frac=conv.out_frac, activation="relu6",
        ))
    first = fixed.layers[0].shape
    info = dict(meta or {}) | {"n": n, "w_bits": fixed.w_bits, "a_bits": fixed.a_bits,
                               "fuse": "all"}
    return HwGraph(
        name=name or f"ffe_n{n}", input_channels=first.in_channels,
        input_height=first.in_height, input_width=first.in_width, layers=tuple(layers),
        input_bits=INPUT_BITS, input_frac=INPUT_FRAC, meta=info,
    )
