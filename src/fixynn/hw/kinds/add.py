"""add: the residual sum of two tensors of one shape, each aligned to a common scale.

With input formats (fa, fb) and the output's frac fo (docs/ir.md):
`acc = (a << (F - fa)) + (b << (F - fb))`, F = max(fa, fb), exact; then the conv family's
requantization with s = F - fo: `y = clamp((acc + 2^(s-1)) >> s, lo, hi)` (one rounding,
half up; s < 0 a saturated left shift), lo/hi from the activation and the output width.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fixynn.hw.kinds.base import HwGraphError, KindSpec, Shape, choice, strict_int
from fixynn.hw.numfmt import (
    ACTIVATIONS,
    MAX_BITS,
    MAX_FRAC,
    MAX_SHIFT,
    TensorFormat,
    activation_hi,
    activation_lo,
    requantize,
)

if TYPE_CHECKING:
    from fixynn.hw.lower.add import AddDatapath

# |a|, |b| < 2^16 and alignment shifts <= 44 keep each term below 2^60 and the sum plus the
# rounding term below 2^62: exact in int64.
MAX_ALIGN = 44


@dataclass(frozen=True, eq=False)
class HwAdd:
    """`inputs[0] + inputs[1]`, both `channels` x H x W with formats `in_formats`."""

    name: str
    inputs: tuple[str, ...]
    channels: int
    in_formats: tuple[TensorFormat, ...]
    out_bits: int
    out_frac: int
    activation: str = "none"
    kind: str = "add"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise HwGraphError(f"node name must be a non-empty string, got {self.name!r}")
        where = f"node {self.name!r}"
        choice(self.kind, ("add",), f"{where}: kind")
        for attr in ("channels", "out_bits", "out_frac"):
            object.__setattr__(self, attr, strict_int(getattr(self, attr), f"{where}: {attr}"))
        choice(self.activation, ACTIVATIONS, f"{where}: activation")
        if (not isinstance(self.inputs, (tuple, list)) or len(self.inputs) != 2
                or not all(isinstance(i, str) and i for i in self.inputs)):
            raise HwGraphError(f"{where}: inputs must name two tensors, got {self.inputs!r}")
        if (not isinstance(self.in_formats, (tuple, list)) or len(self.in_formats) != 2
                or not all(isinstance(f, TensorFormat) for f in self.in_formats)):
            raise HwGraphError(f"{where}: in_formats must be two TensorFormats")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "in_formats", tuple(self.in_formats))
        if self.channels < 1:
            raise HwGraphError(f"{where}: channels must be >= 1")
        lowest = 2 if self.activation == "none" else 1
        if not lowest <= self.out_bits <= MAX_BITS:
            raise HwGraphError(f"{where}: out_bits = {self.out_bits} is outside "
                               f"{lowest}..{MAX_BITS}")
        if abs(self.out_frac) > MAX_FRAC:
            raise HwGraphError(f"{where}: out_frac outside -{MAX_FRAC}..{MAX_FRAC}")
        if max(self.align) > MAX_ALIGN:
            raise HwGraphError(f"{where}: the input fracs differ by {max(self.align)} > "
                               f"{MAX_ALIGN} bits")
        if abs(self.shift) > MAX_SHIFT:
            raise HwGraphError(f"{where}: requantization shift {self.shift} beyond "
                               f"+-{MAX_SHIFT} bits")

    @property
    def out_channels(self) -> int:
        return self.channels

    @property
    def align(self) -> tuple[int, int]:
        """Left shift of each input onto the common scale 2^-max(fa, fb)."""
        top = max(f.frac for f in self.in_formats)
        return (top - self.in_formats[0].frac, top - self.in_formats[1].frac)

    @property
    def shift(self) -> int:
        """Requantization right shift from the common scale to the output's."""
        return max(f.frac for f in self.in_formats) - self.out_frac

    @property
    def out_format(self) -> TensorFormat:
        return TensorFormat(self.activation == "none", self.out_bits, self.out_frac)


def check_inputs(node: HwAdd, shapes: list[Shape], formats: list[TensorFormat]) -> Shape:
    for src, shape, fmt, want in zip(node.inputs, shapes, formats, node.in_formats,
                                     strict=True):
        if shape[0] != node.channels:
            raise HwGraphError(f"channels {node.channels} != {shape[0]} of its input {src!r}")
        if fmt != want:
            raise HwGraphError(f"input format {want} != {fmt} of its input {src!r}")
    if shapes[0] != shapes[1]:
        raise HwGraphError(f"its inputs differ in shape: {shapes[0]} and {shapes[1]}")
    return shapes[0]


def golden(node: HwAdd, xs: list[np.ndarray]) -> np.ndarray:
    (sa, sb), (lo, hi) = node.align, out_range(node)
    acc = np.left_shift(xs[0].astype(np.int64), sa) + np.left_shift(xs[1].astype(np.int64), sb)
    return requantize(acc, np.full(node.channels, node.shift), hi, lo)


def out_range(node: HwAdd) -> tuple[int, int]:
    return (activation_lo(node.activation, node.out_bits),
            activation_hi(node.activation, node.out_bits, node.out_frac))


def to_json(node: HwAdd) -> dict[str, Any]:
    return {"channels": node.channels}


def from_json(name: str, spec: dict[str, Any], shapes: list[Shape],
              formats: list[TensorFormat], arrays: dict[str, np.ndarray], npz_path: Path,
              out: TensorFormat) -> HwAdd:
    return HwAdd(name=name, inputs=tuple(spec["inputs"]), channels=spec["channels"],
                 in_formats=tuple(formats), out_bits=out.bits, out_frac=out.frac,
                 activation=spec["activation"])


def datapath(node: HwAdd, style: str, in_shape: Shape) -> AddDatapath:
    from fixynn.hw.lower.add import plan_add  # the lowering imports the IR

    return plan_add(node, style)


SPEC = KindSpec("add", HwAdd, 2, check_inputs, golden, out_range, ("channels",), to_json,
                from_json, (), datapath)
