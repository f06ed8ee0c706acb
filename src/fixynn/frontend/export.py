"""Quantize and export: the first units of a traced network -> an HwGraph v2 DAG.

Post-training quantization to the integer semantics of docs/ir.md, from calibration images:

* every tensor gets one format (per tensor, power-of-two scale): signed exactly when the op is
  linear (activation none: the linear bottlenecks, a shortcut conv), `a_bits` wide, with the
  most fractional bits that keep the largest magnitude seen on the calibration images
  (ReLU6 outputs never need more than 3 integer bits);
* weights: `w_bits` signed integers with a power-of-two scale per output channel
  (`fixynn.nn.quant.weight_frac`), the bias on the accumulator grid;
* a residual add becomes the `add` kind, reading its two inputs in their own formats.

The model's input is a function of the IR's image (8-bit pixels p, value p * 2^-8). A model
that takes (p - offset) / 2^k (EfficientNet: (p - 127) / 128) gets one exact input layer in
front: a 1x1 depthwise node with weight 1 (weight_frac k - 8, so the weight's value is
2^(8-k)), bias -offset, activation none, signed output with frac k: requantization shift 0,
so its integer is exactly p - offset and its value exactly (p - offset) / 2^k. The model's
zero padding is then zero in the normalised space, as it must be (folding the offset into the
first conv's bias would pad with p = 0, i.e. -offset / 2^k, along the border).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fixynn.errors import FixynnError
from fixynn.frontend.execute import unit_values
from fixynn.frontend.graph import INPUT, Network, Op
from fixynn.hw.ir import HwAdd, HwGraph, HwLayer, HwNode
from fixynn.hw.numfmt import MAX_BITS, MAX_FRAC, TensorFormat
from fixynn.nn.quant import quantize_bias, quantize_weight, weight_frac

IMAGE = TensorFormat(False, 8, 8)  # the IR's image: 8-bit pixels, value p * 2^-8
NORM_NODE = "input_norm"
INTEGER_KINDS = "conv (groups 1, square kernel and stride), depthwise conv, add"
_BATCH = 64


@dataclass(frozen=True)
class PixelNorm:
    """The model's input as a function of the pixel p: (p - offset[c]) / scale."""

    offset: tuple[int, ...]
    scale: int

    @classmethod
    def of(cls, offset: int | Sequence[int], scale: int, channels: int) -> PixelNorm:
        offsets = (offset,) * channels if isinstance(offset, int | np.integer) else tuple(offset)
        if len(offsets) != channels or not all(isinstance(o, int | np.integer)
                                                for o in offsets):
            raise FixynnError(f"pixel_offset {offset!r}: give one integer, or one per input "
                              f"channel ({channels}); the input layer is exact for integers")
        if not isinstance(scale, int) or scale < 1 or scale & (scale - 1):
            raise FixynnError(f"pixel_scale {scale!r} is not a power of two; the exact input "
                              "layer computes (p - offset) / 2^k (fold other scales into the "
                              "model's first conv)")
        return cls(tuple(int(o) for o in offsets), scale)

    @property
    def frac(self) -> int:
        return self.scale.bit_length() - 1

    @property
    def identity(self) -> bool:
        """p / 256 is the image's own value: no input layer."""
        return self.scale == 256 and not any(self.offset)

    def apply(self, pixels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        offset = torch.tensor(self.offset, dtype=dtype).reshape(1, -1, 1, 1)
        return (pixels.to(dtype) - offset) / self.scale

    def layer(self) -> HwLayer:
        """The exact input layer: integer p - offset[c], value (p - offset[c]) / 2^k."""
        lo, hi = -max(self.offset), 255 - min(self.offset)
        bits = 1 + max(abs(lo).bit_length(), abs(hi).bit_length())  # signed, holds both
        c = len(self.offset)
        return HwLayer(name=NORM_NODE, kind="depthwise", in_channels=c, out_channels=c,
                       kernel=1, stride=1, padding=0, weight=np.ones((c, 1, 1, 1), np.int64),
                       bias=-np.array(self.offset), weight_bits=2,
                       weight_frac=np.full(c, self.frac - IMAGE.frac),
                       in_bits=IMAGE.bits, in_frac=IMAGE.frac, out_bits=bits,
                       out_frac=self.frac, activation="none", inputs=(INPUT,))


def choose_format(activation: str, bits: int, max_abs: float) -> TensorFormat:
    """The finest `bits`-wide format (signed when linear) whose range holds `max_abs`."""
    signed = activation == "none"
    int_bits = math.frexp(max_abs)[1] if max_abs > 0 else 0  # max_abs < 2^int_bits
    frac = max(-MAX_FRAC, min(MAX_FRAC, bits - int(signed) - int_bits))
    return TensorFormat(signed, bits, frac)


def pixels(images: np.ndarray | torch.Tensor, shape: tuple[int, ...], what: str
            ) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images) if isinstance(images, np.ndarray) else images)
    if x.dim() != 4 or tuple(x.shape[1:]) != tuple(shape) or len(x) == 0:
        dims = ", ".join(map(str, shape))
        raise FixynnError(f"{what}: expected uint8 images of shape (B, {dims}), got "
                          f"{tuple(x.shape)}")
    if x.is_floating_point() and not bool(torch.all(x == x.round())):
        raise FixynnError(f"{what}: pixels must be integers 0..255 (uint8), got fractions")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) > 255):
        raise FixynnError(f"{what}: pixels must be 0..255 (uint8), found "
                          f"{int(x.min())}..{int(x.max())}")
    return x


def float_values(net: Network, n_units: int, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every op's float output in units 0..n_units-1 for model inputs `x`."""
    env: dict[str, torch.Tensor] = {INPUT: x}
    for unit in net.units[:n_units]:
        env |= unit_values(unit, env[unit.input])
    return env


def calibrate(net: Network, n_units: int, x: torch.Tensor) -> dict[str, float]:
    """Largest |value| of every op's output over the model inputs `x` (in batches)."""
    peak: dict[str, float] = {}
    for start in range(0, len(x), _BATCH):
        for name, value in float_values(net, n_units, x[start:start + _BATCH]).items():
            peak[name] = max(peak.get(name, 0.0), float(value.abs().max()))
    return peak


def _unsupported(unit: str, op: Op, why: str) -> FixynnError:
    return FixynnError(f"unit {unit!r}: op {op.name!r} ({op.kind}{why}) has no integer kind; "
                       f"the integer export supports {INTEGER_KINDS} with activation none, "
                       "relu or relu6: export fewer units (n_units) or change the model")


def _conv_kind(unit: str, op: Op, in_channels: int) -> str:
    if op.kernel[0] != op.kernel[1] or op.stride[0] != op.stride[1]:
        raise _unsupported(unit, op, f", kernel {op.kernel} stride {op.stride}: not square")
    if op.groups == 1:
        return "pointwise" if op.kernel == (1, 1) and not any(op.padding) else "conv"
    if op.groups == in_channels == op.out_shape[0]:
        return "depthwise"
    raise _unsupported(unit, op, f" with groups {op.groups}")


def _padding(op: Op) -> int | tuple[int, int, int, int]:
    """The IR's padding: an int when every side is the same, else (top, bottom, left, right)
    (per-side padding, HwGraph v2's contract)."""
    return op.padding[0] if len(set(op.padding)) == 1 else op.padding


def _node(unit: str, op: Op, inputs: tuple[str, ...], in_fmts: list[TensorFormat],
          out: TensorFormat, w_bits: int) -> HwNode:
    if op.kind == "add":
        return HwAdd(name=op.name, inputs=inputs, channels=op.out_shape[0],
                     in_formats=tuple(in_fmts), out_bits=out.bits, out_frac=out.frac,
                     activation=op.activation)
    if op.kind != "conv":
        raise _unsupported(unit, op, "")
    assert op.weight is not None and op.bias is not None
    fmt = in_fmts[0]
    in_channels = op.weight.shape[1] * op.groups
    w = torch.from_numpy(op.weight).double()
    frac = weight_frac(w, w_bits)
    return HwLayer(
        name=op.name, kind=_conv_kind(unit, op, in_channels),  # type: ignore[arg-type]
        in_channels=in_channels, out_channels=op.out_shape[0], kernel=op.kernel[0],
        stride=op.stride[0], padding=_padding(op),  # type: ignore[arg-type]
        weight=quantize_weight(w, frac, w_bits).long().numpy(),
        bias=quantize_bias(torch.from_numpy(op.bias), fmt.frac, frac).long().numpy(),
        weight_bits=w_bits, weight_frac=frac.numpy(), in_bits=fmt.bits, in_frac=fmt.frac,
        in_signed=fmt.signed, out_bits=out.bits, out_frac=out.frac,
        activation=op.activation, inputs=inputs)  # type: ignore[arg-type]


def check_n_units(net: Network, n_units: int) -> None:
    if not isinstance(n_units, int) or not 1 <= n_units <= len(net.units):
        raise FixynnError(f"n_units = {n_units!r}: the network has {len(net.units)} units "
                          f"({', '.join(net.unit_names())}); export 1..{len(net.units)}")


def export_units(net: Network, n_units: int, peaks: dict[str, float], norm: PixelNorm,
                 w_bits: int = 8, a_bits: int = 8, name: str = "frontend",
                 meta: dict | None = None) -> HwGraph:
    """The HwGraph of units 0..n_units-1 of `net`, formats from the calibration `peaks`
    (`calibrate`), the model input `norm(pixels)`."""
    check_n_units(net, n_units)
    for what, bits in (("w_bits", w_bits), ("a_bits", a_bits)):
        if not 2 <= bits <= MAX_BITS:
            raise FixynnError(f"{what} = {bits}: must be 2..{MAX_BITS}")
    nodes: list[HwNode] = [] if norm.identity else [norm.layer()]
    tensor = {INPUT: INPUT if norm.identity else NORM_NODE}
    formats = {INPUT: nodes[0].out_format if nodes else IMAGE}
    for unit in net.units[:n_units]:
        for op in unit.ops:
            out = choose_format(op.activation, a_bits, peaks[op.name])
            inputs = tuple(tensor[i] for i in op.inputs)
            nodes.append(_node(unit.name, op, inputs, [formats[i] for i in op.inputs], out,
                               w_bits))
            tensor[op.name], formats[op.name] = op.name, nodes[-1].out_format
    channels, height, width = net.input_shape
    units = net.units[:n_units]
    info = dict(meta or {}) | {
        "source": net.module_type, "n_units": n_units, "units": [u.name for u in units],
        "unit_outputs": [u.output for u in units], "w_bits": w_bits, "a_bits": a_bits,
        "pixel_offset": list(norm.offset), "pixel_scale": norm.scale, "fuse": "none"}
    return HwGraph(name, channels, height, width, tuple(nodes), IMAGE.bits, IMAGE.frac,
                   meta=info, outputs=(units[-1].output,))
