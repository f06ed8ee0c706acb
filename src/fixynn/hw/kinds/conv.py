"""conv, depthwise and pointwise: `acc = sum(w * x) + b` over a k x k window (zero padding,
stride, groups), then `y = clamp((acc + 2^(s-1)) >> s, lo, hi)` with
`s = in_frac + weight_frac[o] - out_frac` (docs/ir.md). One family, three table entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from fixynn.hw.kinds.base import (
    HwGraphError,
    KindSpec,
    Padding,
    Shape,
    as_int_array,
    check_padding,
    choice,
    node_arrays,
    padding_json,
    strict_bool,
    strict_int,
    strict_padding,
    window_out_size,
)
from fixynn.hw.numfmt import (
    ACTIVATIONS,
    MAX_BIAS_EXCLUSIVE,
    MAX_BITS,
    MAX_FRAC,
    MAX_PRODUCTS_EXCLUSIVE,
    MAX_SHIFT,
    TensorFormat,
    activation_hi,
    activation_lo,
    requantize,
)

if TYPE_CHECKING:
    from fixynn.hw.lower.datapath import LayerDatapath

NAMES = ("conv", "depthwise", "pointwise")
Kind = Literal["conv", "depthwise", "pointwise"]
Activation = Literal["none", "relu", "relu6"]
_LAYER_INTS = (
    "in_channels", "out_channels", "kernel", "stride",
    "weight_bits", "in_bits", "in_frac", "out_bits", "out_frac",
)
_ARRAYS = ("weight", "bias", "weight_frac")


@dataclass(frozen=True, eq=False)
class HwLayer:
    """One fixed-weight node: a conv, depthwise or pointwise conv with an activation.

    `inputs` names the tensor it reads (a node name or "input"); when no layer of a graph
    names its inputs, the layers form a chain in the order given.
    `in_channels`, `in_bits`, `in_frac`, `in_signed` restate the input tensor's shape and
    format; the graph checks that they agree with the producer.
    `padding`: zeros on every side (an int) or (top, bottom, left, right); stored as the
    4-tuple.
    """

    name: str
    kind: Kind
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    padding: Padding
    weight: np.ndarray  # int64 (out_channels, in_channels // groups, kernel, kernel)
    bias: np.ndarray  # int64 (out_channels,)
    weight_bits: int
    weight_frac: np.ndarray  # int64 (out_channels,)
    in_bits: int
    in_frac: int
    out_bits: int
    out_frac: int
    activation: Activation = "relu6"
    inputs: tuple[str, ...] = ()
    in_signed: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise HwGraphError(f"layer name must be a non-empty string, got {self.name!r}")
        where = f"layer {self.name!r}"
        for attr in _LAYER_INTS:
            object.__setattr__(self, attr, strict_int(getattr(self, attr), f"{where}: {attr}"))
        object.__setattr__(self, "padding", strict_padding(self.padding, f"{where}: padding"))
        object.__setattr__(self, "kind", choice(self.kind, NAMES, f"{where}: kind"))
        object.__setattr__(
            self, "activation", choice(self.activation, ACTIVATIONS, f"{where}: activation")
        )
        object.__setattr__(self, "in_signed", strict_bool(self.in_signed, f"{where}: in_signed"))
        if not isinstance(self.inputs, (tuple, list)) or not all(
                isinstance(i, str) and i for i in self.inputs):
            raise HwGraphError(f"{where}: inputs must be a list of tensor names, "
                               f"got {self.inputs!r}")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        for attr in _ARRAYS:
            object.__setattr__(self, attr, as_int_array(getattr(self, attr), f"{where}: {attr}"))
        self._validate()
        validate(self)

    @property
    def groups(self) -> int:
        return self.in_channels if self.kind == "depthwise" else 1

    @property
    def shift(self) -> np.ndarray:
        """Requantization right-shift per output channel (negative = left shift)."""
        return self.in_frac + self.weight_frac - self.out_frac

    @property
    def act_lo(self) -> int:
        """Lower clamp bound of the output integer (0, or the signed floor for none)."""
        return out_range(self)[0]

    @property
    def act_hi(self) -> int:
        """Upper clamp bound of the output integer (always an int, `numfmt.relu6_hi`)."""
        return out_range(self)[1]

    @property
    def in_format(self) -> TensorFormat:
        return TensorFormat(self.in_signed, self.in_bits, self.in_frac)

    @property
    def out_format(self) -> TensorFormat:
        """A linear (`none`) output is signed; ReLU / ReLU6 outputs are unsigned."""
        return TensorFormat(self.activation == "none", self.out_bits, self.out_frac)

    def out_size(self, height: int, width: int) -> tuple[int, int]:
        top, bottom, left, right = self.padding
        return (window_out_size(height, self.kernel, self.stride, top, bottom),
                window_out_size(width, self.kernel, self.stride, left, right))

    def _validate(self) -> None:
        where = f"layer {self.name!r}"
        for attr in ("in_channels", "out_channels", "kernel", "stride"):
            if getattr(self, attr) < 1:
                raise HwGraphError(f"{where}: {attr} must be >= 1, got {getattr(self, attr)}")
        for attr in ("weight_bits", "in_bits", "out_bits"):
            bits = getattr(self, attr)
            if not 1 <= bits <= MAX_BITS:
                raise HwGraphError(f"{where}: {attr} = {bits} is outside 1..{MAX_BITS}")
        if self.weight_bits < 2 or (self.activation == "none" and self.out_bits < 2):
            raise HwGraphError(f"{where}: a signed width (weight_bits, out_bits with "
                               "activation none) must be >= 2")
        for attr in ("in_frac", "out_frac"):
            if abs(getattr(self, attr)) > MAX_FRAC:
                raise HwGraphError(f"{where}: {attr} = {getattr(self, attr)} is outside "
                                   f"-{MAX_FRAC}..{MAX_FRAC}")

_FLOAT64_EXACT = 2**53


def validate(layer: HwLayer) -> None:
    where = f"layer {layer.name!r}"
    check_padding(layer.padding, layer.kernel, where)
    if layer.kind == "pointwise" and (layer.kernel != 1 or any(layer.padding)):
        raise HwGraphError(f"{where}: a pointwise layer has kernel 1 and padding 0")
    if layer.kind == "depthwise" and layer.in_channels != layer.out_channels:
        raise HwGraphError(f"{where}: a depthwise layer needs in_channels == out_channels")
    expected = (layer.out_channels, layer.in_channels // layer.groups, layer.kernel,
                layer.kernel)
    if layer.weight.shape != expected:
        raise HwGraphError(f"{where}: weight shape {layer.weight.shape} != expected {expected}")
    for attr in ("bias", "weight_frac"):
        if getattr(layer, attr).shape != (layer.out_channels,):
            raise HwGraphError(f"{where}: {attr} shape {getattr(layer, attr).shape} != "
                               f"expected ({layer.out_channels},)")
    lo, hi = -(2 ** (layer.weight_bits - 1)), 2 ** (layer.weight_bits - 1) - 1
    if layer.weight.size and (layer.weight.min() < lo or layer.weight.max() > hi):
        raise HwGraphError(
            f"{where}: weights span {layer.weight.min()}..{layer.weight.max()}, outside the "
            f"signed {layer.weight_bits}-bit range {lo}..{hi}"
        )
    if np.abs(layer.weight_frac).max(initial=0) > MAX_FRAC:
        raise HwGraphError(f"{where}: weight_frac outside -{MAX_FRAC}..{MAX_FRAC}")
    if np.abs(layer.bias).max(initial=0) >= MAX_BIAS_EXCLUSIVE:
        raise HwGraphError(f"{where}: bias magnitude must be below 2^62")
    if np.abs(layer.shift).max(initial=0) > MAX_SHIFT:
        raise HwGraphError(f"{where}: requantization shift in_frac + weight_frac - out_frac "
                           f"beyond +-{MAX_SHIFT} bits")
    w_abs = np.abs(layer.weight).reshape(layer.out_channels, -1).sum(axis=1)
    if int(w_abs.max(initial=0)) * (2**layer.in_bits - 1) >= MAX_PRODUCTS_EXCLUSIVE:
        raise HwGraphError(
            f"{where}: sum(|weight|) * max input reaches 2^60 (the accumulator would not "
            "be exact in 64 bits); use fewer inputs or narrower weights"
        )


def accumulate(layer: HwLayer, x: np.ndarray) -> np.ndarray:
    """Exact `sum(w * x) + b`, x: (B, C, H, W) integers -> (B, O, Ho, Wo) int64.

    When the worst-case |acc| is below 2^53 the dot products run through float64 BLAS
    (every partial sum is an integer that float64 holds exactly), otherwise through int64.
    """
    x = np.asarray(x)
    w_abs = np.abs(layer.weight).reshape(layer.out_channels, -1).sum(axis=1)
    x_abs = max(int(x.max(initial=0)), int(-x.min(initial=0)))
    bound = int((w_abs * x_abs).max(initial=0) + np.abs(layer.bias).max(initial=0))
    dtype = np.float64 if bound < _FLOAT64_EXACT else np.int64
    (top, bottom, left, right), k, s = layer.padding, layer.kernel, layer.stride
    xp = x.astype(dtype)
    if any(layer.padding):
        xp = np.pad(xp, ((0, 0), (0, 0), (top, bottom), (left, right)))
    w = layer.weight.astype(dtype)
    if layer.kind == "pointwise":
        acc = np.einsum("bchw,oc->bohw", xp[:, :, ::s, ::s], w[:, :, 0, 0], optimize=True)
    else:
        win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]  # (B,C,Ho,Wo,k,k)
        if layer.kind == "depthwise":
            acc = np.einsum("bchwij,cij->bchw", win, w[:, 0], optimize=True)
        else:
            acc = np.einsum("bchwij,ocij->bohw", win, w, optimize=True)
    acc = np.rint(acc).astype(np.int64) if dtype == np.float64 else acc
    return acc + layer.bias.reshape(1, -1, 1, 1)


def golden(layer: HwLayer, xs: list[np.ndarray]) -> np.ndarray:
    lo, hi = out_range(layer)
    return requantize(accumulate(layer, xs[0]), layer.shift, hi, lo)


def out_range(layer: HwLayer) -> tuple[int, int]:
    return (activation_lo(layer.activation, layer.out_bits),
            activation_hi(layer.activation, layer.out_bits, layer.out_frac))


def datapath(layer: HwLayer, style: str, in_shape: Shape) -> LayerDatapath:
    from fixynn.hw.lower.datapath import plan_datapath  # the lowering imports the IR

    return plan_datapath(layer, style)


def check_inputs(layer: HwLayer, shapes: list[Shape], formats: list[TensorFormat]) -> Shape:
    (channels, h, w), fmt, src = shapes[0], formats[0], layer.inputs[0]
    if layer.in_channels != channels:
        raise HwGraphError(f"in_channels {layer.in_channels} != {channels} of its input {src!r}")
    if layer.in_format != fmt:
        raise HwGraphError(f"input format {layer.in_format} != {fmt} of its input {src!r}")
    oh, ow = layer.out_size(h, w)
    if oh < 1 or ow < 1:
        raise HwGraphError(f"output map is empty ({oh}x{ow})")
    return (layer.out_channels, oh, ow)


_JSON_FIELDS = ("out_channels", "kernel", "stride", "padding", "weight_bits")


def to_json(layer: HwLayer) -> dict[str, Any]:
    return {k: getattr(layer, k) for k in _JSON_FIELDS} | {"padding": padding_json(layer.padding)}


def from_json(name: str, spec: dict[str, Any], shapes: list[Shape],
              formats: list[TensorFormat], arrays: dict[str, np.ndarray],
              npz_path: Path, out: TensorFormat) -> HwLayer:
    fmt = formats[0]
    return HwLayer(name=name, kind=spec["kind"], in_channels=shapes[0][0],
                   in_bits=fmt.bits, in_frac=fmt.frac, in_signed=fmt.signed,
                   out_bits=out.bits, out_frac=out.frac, activation=spec["activation"],
                   inputs=tuple(spec["inputs"]), **{k: spec[k] for k in _JSON_FIELDS},
                   **node_arrays(arrays, name, _ARRAYS, npz_path))


SPECS = tuple(KindSpec(name, HwLayer, 1, check_inputs, golden, out_range, _JSON_FIELDS,
                       to_json, from_json, _ARRAYS, datapath) for name in NAMES)
