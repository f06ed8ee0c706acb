"""maxpool, avgpool and global_avgpool: one input, the same number format out (docs/ir.md).

* maxpool: the largest value of each k x k window (stride s, per-side padding); padding
  positions are excluded (every window holds a real pixel, since each side pads <= k-1), so
  signed and unsigned inputs behave alike.
* avgpool: `sum` of each k x k window (padding positions count as zeros) divided by
  `N = k * k`, rounded once, half up: `y = floor((2 * sum + N) / (2 * N))`.
* global_avgpool: the same with the window the whole H x W map, `N = H * W`; C x 1 x 1 out.

A mean of values within a format is within it, so no clamp is needed. The format passes
through unchanged, and the activation is the identity of that format: `none` for a signed
input, `relu` for an unsigned one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from fixynn.hw.kinds.base import (
    HwGraphError,
    KindSpec,
    Padding,
    Shape,
    check_padding,
    choice,
    padding_json,
    strict_int,
    strict_padding,
    window_out_size,
)
from fixynn.hw.numfmt import TensorFormat

if TYPE_CHECKING:
    from fixynn.hw.lower.pool import PoolDatapath

NAMES = ("maxpool", "avgpool", "global_avgpool")
WINDOWED = ("maxpool", "avgpool")


@dataclass(frozen=True, eq=False)
class HwPool:
    """A pool node over `channels` channels of format `in_format` (also its output's).

    `kernel`, `stride`, `padding` (int or (top, bottom, left, right), stored as the 4-tuple)
    define the window of maxpool / avgpool. global_avgpool has no window: its fields stay
    1, 1, 0, which is also how its accumulator scans the map (one pixel per clock)."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    channels: int
    in_format: TensorFormat
    kernel: int = 1
    stride: int = 1
    padding: Padding = (0, 0, 0, 0)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise HwGraphError(f"node name must be a non-empty string, got {self.name!r}")
        where = f"node {self.name!r}"
        choice(self.kind, NAMES, f"{where}: kind")
        for attr in ("channels", "kernel", "stride"):
            object.__setattr__(self, attr, strict_int(getattr(self, attr), f"{where}: {attr}"))
            if getattr(self, attr) < 1:
                raise HwGraphError(f"{where}: {attr} must be >= 1, got {getattr(self, attr)}")
        object.__setattr__(self, "padding", strict_padding(self.padding, f"{where}: padding"))
        check_padding(self.padding, self.kernel, where)
        if self.kind == "global_avgpool" and (self.kernel, self.stride, self.padding) != (
                1, 1, (0, 0, 0, 0)):
            raise HwGraphError(f"{where}: a global_avgpool has no kernel, stride or padding "
                               "(it averages the whole map)")
        if (not isinstance(self.inputs, (tuple, list)) or len(self.inputs) > 1
                or not all(isinstance(i, str) and i for i in self.inputs)):
            raise HwGraphError(f"{where}: inputs must name one tensor, got {self.inputs!r}")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        if not isinstance(self.in_format, TensorFormat):
            raise HwGraphError(f"{where}: in_format must be a TensorFormat")

    # The attributes every node offers the graph, the plan and the benches.
    @property
    def activation(self) -> str:
        """The identity clamp of the format: signed values are linear, unsigned are >= 0."""
        return "none" if self.in_format.signed else "relu"

    @property
    def out_format(self) -> TensorFormat:
        return self.in_format

    @property
    def in_channels(self) -> int:
        return self.channels

    @property
    def out_channels(self) -> int:
        return self.channels

    @property
    def in_bits(self) -> int:
        return self.in_format.bits

    @property
    def out_bits(self) -> int:
        return self.in_format.bits

    @property
    def in_signed(self) -> bool:
        return self.in_format.signed

    def out_size(self, height: int, width: int) -> tuple[int, int]:
        if self.kind == "global_avgpool":
            return (1, 1)
        top, bottom, left, right = self.padding
        return (window_out_size(height, self.kernel, self.stride, top, bottom),
                window_out_size(width, self.kernel, self.stride, left, right))

    def divisor(self, height: int, width: int) -> int:
        """N, the positions an average divides by (k * k, or the whole H x W map)."""
        return height * width if self.kind == "global_avgpool" else self.kernel**2


def check_inputs(node: HwPool, shapes: list[Shape], formats: list[TensorFormat]) -> Shape:
    (channels, h, w), fmt, src = shapes[0], formats[0], node.inputs[0]
    if node.channels != channels:
        raise HwGraphError(f"channels {node.channels} != {channels} of its input {src!r}")
    if node.in_format != fmt:
        raise HwGraphError(f"format {node.in_format} != {fmt} of its input {src!r} (a pool "
                           "passes its input's format through)")
    oh, ow = node.out_size(h, w)
    if oh < 1 or ow < 1:
        raise HwGraphError(f"output map is empty ({oh}x{ow})")
    return (channels, oh, ow)


def round_mean(total: np.ndarray, n: int) -> np.ndarray:
    """`floor((2 * total + n) / (2 * n))`: total / n rounded half up, exact in int64."""
    return np.floor_divide(2 * total + n, 2 * n)


def golden(node: HwPool, xs: list[np.ndarray]) -> np.ndarray:
    x = xs[0].astype(np.int64)
    _, _, h, w = x.shape
    if node.kind == "global_avgpool":
        return round_mean(x.sum(axis=(2, 3), keepdims=True), h * w)
    top, bottom, left, right = node.padding
    fill = np.iinfo(np.int64).min if node.kind == "maxpool" else 0  # excluded / zeros
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    win = sliding_window_view(xp, (node.kernel, node.kernel), axis=(2, 3))
    win = win[:, :, ::node.stride, ::node.stride]  # (B, C, Ho, Wo, k, k)
    if node.kind == "maxpool":
        return win.max(axis=(4, 5))
    return round_mean(win.sum(axis=(4, 5)), node.kernel**2)


def out_range(node: HwPool) -> tuple[int, int]:
    return (node.in_format.lo, node.in_format.hi)


def datapath(node: HwPool, style: str, in_shape: Shape) -> PoolDatapath:
    from fixynn.hw.lower.pool import pool_datapath  # the lowering imports the IR

    return pool_datapath(node, in_shape[1], in_shape[2])


def to_json(node: HwPool) -> dict[str, Any]:
    if node.kind == "global_avgpool":
        return {"channels": node.channels}
    return {"channels": node.channels, "kernel": node.kernel, "stride": node.stride,
            "padding": padding_json(node.padding)}


def from_json(name: str, spec: dict[str, Any], shapes: list[Shape],
              formats: list[TensorFormat], arrays: dict[str, np.ndarray], npz_path: Path,
              out: TensorFormat) -> HwPool:
    node = HwPool(name=name, kind=spec["kind"], inputs=tuple(spec["inputs"]),
                  channels=spec["channels"], in_format=formats[0],
                  **{k: spec[k] for k in ("kernel", "stride", "padding") if k in spec})
    if out != node.out_format or spec["activation"] != node.activation:
        raise HwGraphError(f"a {node.kind} passes its input's format through: format must be "
                           f"{node.out_format.to_dict()} and activation "
                           f"{node.activation!r}")
    return node


_FIELDS = {"maxpool": ("channels", "kernel", "stride", "padding"),
           "avgpool": ("channels", "kernel", "stride", "padding"),
           "global_avgpool": ("channels",)}

SPECS = tuple(KindSpec(name, HwPool, 1, check_inputs, golden, out_range, _FIELDS[name],
                       to_json, from_json, (), datapath) for name in NAMES)
