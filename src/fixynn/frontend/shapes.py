"""A traced network as plain-data layer shapes (`fixynn.arch.LayerShape`), for the cost models.

Every op that does work becomes one shape whose `block` is its unit's index, so the split
point N of the hardware models counts the same units as `to_hwgraph`: convs (standard,
depthwise, 1x1 "pointwise", with per-side padding), linear layers ("fc"), and the elementwise
ops a programmable back-end must also execute (add, maxpool, avgpool, global_avgpool).
A flatten is a reshape, no work, and gives no shape. Activations are fused into the op before
them (the cost models do not price them).
"""

from __future__ import annotations

import math

from fixynn.arch import LayerKind, LayerShape
from fixynn.errors import FixynnError
from fixynn.frontend.graph import INPUT, Network, Op

POOLS = ("maxpool", "avgpool")


def _square(op: Op, what: str, value: tuple[int, int]) -> int:
    if value[0] != value[1]:
        raise FixynnError(f"op {op.name!r} ({op.kind}): {what} {value} is not square; the PPA "
                          "layer shapes take square kernels and strides")
    return value[0]


def _conv_kind(op: Op, in_channels: int, out_channels: int, kernel: int) -> LayerKind:
    if op.groups == 1:
        return "pointwise" if kernel == 1 else "conv"
    if op.groups == in_channels == out_channels:
        return "depthwise"
    raise FixynnError(f"op {op.name!r}: a conv with {op.groups} groups over {in_channels} -> "
                      f"{out_channels} channels; the PPA layer shapes take standard (groups 1) "
                      "and depthwise (groups = channels) convs")


def op_shape(op: Op, block: int, in_shape: tuple[int, ...]) -> LayerShape | None:
    """The layer shape of one op whose input has `in_shape` (None for a flatten)."""
    if op.kind == "flatten":
        return None
    if op.kind == "linear":
        return LayerShape(op.name, block, "fc", math.prod(in_shape), op.out_shape[0], 1, 1, 0,
                          1, 1)
    channels, height, width = in_shape
    if op.kind in ("add", "global_avgpool"):
        return LayerShape(op.name, block, op.kind, channels, channels, 1, 1, 0, height, width)
    kernel = _square(op, "kernel", op.kernel)
    stride = _square(op, "stride", op.stride)
    if op.kind in POOLS:
        kind: LayerKind = "maxpool" if op.kind == "maxpool" else "avgpool"
        out = channels
    elif op.kind == "conv":
        out = op.out_shape[0]
        kind = _conv_kind(op, channels, out, kernel)
    else:
        raise FixynnError(f"op {op.name!r}: kind {op.kind!r} has no layer shape")
    shape = LayerShape(op.name, block, kind, channels, out, kernel, stride, 0, height, width,
                       pads=op.padding)
    if (shape.out_channels, shape.out_height, shape.out_width) != op.out_shape:
        raise FixynnError(f"op {op.name!r}: its layer shape gives output "
                          f"{(shape.out_channels, shape.out_height, shape.out_width)}, the "
                          f"trace {op.out_shape}")
    return shape


def network_shapes(net: Network) -> list[LayerShape]:
    """Every op of `net` that does work, in execution order, `block` = its unit's index."""
    shapes: dict[str, tuple[int, ...]] = {INPUT: net.input_shape}
    layers = []
    for block, unit in enumerate(net.units):
        for op in unit.ops:
            shape = op_shape(op, block, shapes[op.inputs[0]])
            shapes[op.name] = op.out_shape
            if shape is not None:
                layers.append(shape)
    return layers
