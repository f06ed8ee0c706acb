"""The integer semantics of an HwGraph (docs/ir.md) in torch: fast, and bit-exact.

`fixynn.hw.golden.run_graph` is the definition of correct but runs its convolutions as NumPy
einsums; on 64x64 EfficientNet blocks that is slow for a feature pass over thousands of
images. Here each conv runs through `F.conv2d` on floats holding integers: float32 when a
static bound (sum |w| * max |x| + |bias| + the rounding term) stays below 2^24, float64 below
2^53, so every partial sum is an integer the float type holds exactly, whatever the
summation order; scaling by 2^-s is exact in binary floating point. A node beyond both bounds
runs through the golden executor itself, and so do pools (cheap next to the convs).
`tests/test_frontend_export.py` checks the outputs equal `run_graph` bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fixynn.hw.golden import run_layer
from fixynn.hw.ir import INPUT, HwAdd, HwGraph, HwLayer, HwNode
from fixynn.hw.kinds.add import out_range as add_range

_FLOAT32_EXACT = 2**24
_FLOAT64_EXACT = 2**53


def _exact_dtype(bound: int) -> torch.dtype | None:
    if bound < _FLOAT32_EXACT:
        return torch.float32
    return torch.float64 if bound < _FLOAT64_EXACT else None


def _requantize(acc: torch.Tensor, shift: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """`clamp((acc + 2^(s-1)) >> s, lo, hi)` per channel on exactly held integers (in place)."""
    s = shift.to(acc.dtype).reshape(1, -1, 1, 1)
    rounding = torch.where(s > 0, torch.exp2(s - 1), torch.zeros_like(s))
    return acc.add_(rounding).mul_(torch.exp2(-s)).floor_().clamp_(lo, hi)


def _conv(layer: HwLayer, x: torch.Tensor) -> torch.Tensor | None:
    fmt = layer.in_format
    x_abs = max(-fmt.lo, fmt.hi)
    w_abs = np.abs(layer.weight).reshape(layer.out_channels, -1).sum(axis=1)
    shift = layer.shift
    bound = (int((w_abs * x_abs + np.abs(layer.bias)).max())
             + 2 ** max(int(shift.max()) - 1, 0))
    dtype = _exact_dtype(bound)
    if dtype is None:
        return None
    top, bottom, left, right = layer.padding
    xp = F.pad(x.to(dtype), (left, right, top, bottom))
    weight = torch.from_numpy(layer.weight).to(dtype)
    bias = torch.from_numpy(layer.bias).to(dtype)
    acc = F.conv2d(xp, weight, bias, layer.stride, 0, 1, layer.groups)
    return _requantize(acc, torch.from_numpy(shift), layer.act_lo, layer.act_hi)


def _add(node: HwAdd, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor | None:
    (sa, sb), (lo, hi) = node.align, add_range(node)
    largest = max(max(-f.lo, f.hi) for f in node.in_formats)
    bound = largest * (2**sa + 2**sb) + 2 ** max(node.shift - 1, 0)
    dtype = _exact_dtype(bound)
    if dtype is None:
        return None
    acc = a.to(dtype) * 2.0**sa + b.to(dtype) * 2.0**sb
    return _requantize(acc, torch.full((node.channels,), node.shift), lo, hi)


def run_node(node: HwNode, xs: list[torch.Tensor]) -> torch.Tensor:
    """One node on its input tensors (integers in any float or int dtype, NCHW)."""
    out = (_conv(node, xs[0]) if isinstance(node, HwLayer) else _add(node, *xs)
           if isinstance(node, HwAdd) else None)
    if out is None:  # beyond float64's exact range, or a pool: the golden executor
        golden = run_layer(node, *(x.long().numpy() for x in xs))
        return torch.from_numpy(golden).to(torch.float64)
    return out


@torch.no_grad()
def run_graph_torch(graph: HwGraph, images: torch.Tensor | np.ndarray,
                    names: list[str] | None = None) -> dict[str, torch.Tensor]:
    """The int64 outputs of the nodes `names` (default: the graph's outputs) for `images`
    (B, C, H, W) of unsigned `input_bits` integers; equal to `run_graph`'s."""
    x = torch.as_tensor(np.asarray(images) if isinstance(images, np.ndarray) else images)
    if x.dim() != 4 or tuple(x.shape[1:]) != (graph.input_channels, graph.input_height,
                                              graph.input_width):
        raise ValueError(f"images must have shape (B, {graph.input_channels}, "
                         f"{graph.input_height}, {graph.input_width}), got {tuple(x.shape)}")
    wanted = list(graph.outputs) if names is None else list(names)
    unknown = sorted(set(wanted) - {node.name for node in graph.layers})
    if unknown:
        raise ValueError(f"graph {graph.name!r} has no nodes {unknown}")
    last_use = {src: i for i, node in enumerate(graph.layers) for src in node.inputs}
    env = {INPUT: x.to(torch.float32)}
    for i, node in enumerate(graph.layers):
        env[node.name] = run_node(node, [env[s] for s in node.inputs])
        for src in node.inputs:  # free what no later node reads
            if last_use[src] == i and src not in wanted:
                env.pop(src, None)
    return {name: env[name].long() for name in wanted}
