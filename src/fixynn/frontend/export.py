"""Quantize and export: the first units of a traced network -> an HwGraph v2 DAG.

Post-training quantization to the integer semantics of docs/ir.md, from calibration images:

* every tensor gets one format (per tensor, power-of-two scale): signed exactly when the op is
  linear (activation none: the linear bottlenecks, a shortcut conv), `a_bits` wide; its
  fractional bits are those, among the format that holds the largest magnitude seen on the
  calibration images and up to 4 finer ones, with the least mean squared error (rounding plus
  clipping) on a sample of the calibration values;
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fixynn.errors import FixynnError
from fixynn.frontend.execute import unit_values, zero_pad
from fixynn.frontend.graph import INPUT, Network, Op
from fixynn.hw.ir import HwAdd, HwGraph, HwLayer, HwNode, HwPool
from fixynn.hw.numfmt import MAX_BITS, MAX_FRAC, TensorFormat, activation_hi, activation_lo
from fixynn.nn.quant import quantize_bias, quantize_weight, weight_frac

IMAGE = TensorFormat(False, 8, 8)  # the IR's image: 8-bit pixels, value p * 2^-8
NORM_NODE = "input_norm"
INTEGER_KINDS = ("conv (groups 1, square kernel and stride), depthwise conv, add, maxpool, "
                 "avgpool, global_avgpool")
POOLS = ("maxpool", "avgpool", "global_avgpool")
_BATCH = 64
SAMPLE = 1 << 15  # calibration values kept per tensor and batch of images
FINER = 4  # finer formats than the max-covering one that calibration tries


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


def choose_format(activation: str, bits: int, values: np.ndarray) -> TensorFormat:
    """The `bits`-wide format (signed when linear) for a tensor with calibration `values`:
    of the one whose range just holds max |value| and up to `FINER` finer ones (which clip
    the largest values), the one with the least mean squared error, rounding and clipping
    (ties: the coarser)."""
    signed = activation == "none"
    peak = float(np.abs(values).max(initial=0.0))
    int_bits = math.frexp(peak)[1] if peak > 0 else 0  # peak < 2^int_bits
    coarse = bits - int(signed) - int_bits
    lo = activation_lo(activation, bits)
    best: tuple[float, int] | None = None
    for frac in range(max(-MAX_FRAC, coarse), min(MAX_FRAC, coarse + FINER) + 1):
        hi = activation_hi(activation, bits, frac)
        q = np.clip(np.floor(values * 2.0**frac + 0.5), lo, hi) * 2.0**-frac
        err = float(np.mean((q - values) ** 2)) if values.size else 0.0
        if best is None or err < best[0]:
            best = (err, frac)
    return TensorFormat(signed, bits, best[1] if best else min(MAX_FRAC, coarse))


def pixels(images: np.ndarray | torch.Tensor, shape: tuple[int, ...], what: str
            ) -> torch.Tensor:
    """`images` as a tensor, if they are uint8-valued pixels of the model's input `shape`."""
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


def calibrate(net: Network, n_units: int, x: torch.Tensor, seed: int = 0
              ) -> dict[str, np.ndarray]:
    """A seeded sample of every op's output values over the model inputs `x` (in batches):
    up to `SAMPLE` values a batch, and each batch's largest |value|."""
    gen = torch.Generator().manual_seed(seed)
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(x), _BATCH):
        for name, value in float_values(net, n_units, x[start:start + _BATCH]).items():
            flat = value.reshape(-1)
            peak = flat[flat.abs().argmax()].reshape(1)
            if flat.numel() > SAMPLE:
                flat = flat[torch.randint(0, flat.numel(), (SAMPLE,), generator=gen)]
            parts.setdefault(name, []).append(torch.cat([flat, peak]).double().numpy())
    return {name: np.concatenate(p) for name, p in parts.items() if name != INPUT}


def dequantized_weight(weight: np.ndarray, w_bits: int) -> torch.Tensor:
    """The float64 value of the integer weights the export writes for `weight`."""
    w = torch.from_numpy(weight).double()
    frac = weight_frac(w, w_bits)
    return quantize_weight(w, frac, w_bits) * torch.exp2(-frac.double()).reshape(-1, 1, 1, 1)


def correct_biases(net: Network, n_units: int, x: torch.Tensor, w_bits: int) -> Network:
    """`net` with each conv's bias reduced by the mean error its quantized weights add to its
    accumulator on the model inputs `x` (empirical bias correction, Nagel et al., ICCV 2019):
    rounding a channel's weights shifts its mean output, most of all where large weights of
    both signs nearly cancel (edge detectors of the stem, with BatchNorm's gain folded in)."""
    sums: dict[str, torch.Tensor] = {}
    count = 0
    for start in range(0, len(x), _BATCH):
        env = float_values(net, n_units, x[start:start + _BATCH])
        for op in (op for unit in net.units[:n_units] for op in unit.ops if op.kind == "conv"):
            assert op.weight is not None
            inp = env[op.inputs[0]].double()
            delta = dequantized_weight(op.weight, w_bits) - torch.from_numpy(op.weight).double()
            err = F.conv2d(zero_pad(op, inp), delta, None, op.stride, 0, 1, op.groups)
            sums[op.name] = sums.get(op.name, 0) + err.mean((2, 3)).sum(0)
        count += len(env[INPUT])
    units = tuple(replace(unit, ops=tuple(
        replace(op, bias=op.bias - (sums[op.name] / count).numpy().astype(op.bias.dtype))
        if op.name in sums and op.bias is not None else op for op in unit.ops))
        for unit in net.units)
    return replace(net, units=units)


def _unsupported(unit: str, op: Op, why: str) -> FixynnError:
    return FixynnError(f"unit {unit!r}: op {op.name!r} ({op.kind}{why}) has no integer kind; "
                       f"the integer export supports {INTEGER_KINDS} (convs and adds with "
                       "activation none, relu or relu6): export fewer units (n_units) or "
                       "change the model")


def _conv_kind(unit: str, op: Op, in_channels: int) -> str:
    if op.kernel[0] != op.kernel[1] or op.stride[0] != op.stride[1]:
        raise _unsupported(unit, op, f", kernel {op.kernel} stride {op.stride}: not square")
    if op.groups == 1:
        return "pointwise" if op.kernel == (1, 1) and not any(op.padding) else "conv"
    if op.groups == in_channels == op.out_shape[0]:
        return "depthwise"
    raise _unsupported(unit, op, f" with groups {op.groups}")


def _node(unit: str, op: Op, inputs: tuple[str, ...], in_fmts: list[TensorFormat],
          out: TensorFormat, w_bits: int) -> HwNode:
    if op.kind == "add":
        return HwAdd(name=op.name, inputs=inputs, channels=op.out_shape[0],
                     in_formats=tuple(in_fmts), out_bits=out.bits, out_frac=out.frac,
                     activation=op.activation)
    if op.kind in POOLS:  # the format passes through (HwGraph pools neither scale nor clamp)
        if op.kernel[0] != op.kernel[1] or op.stride[0] != op.stride[1]:
            raise _unsupported(unit, op, f", kernel {op.kernel} stride {op.stride}: not "
                               "square")
        window = {} if op.kind == "global_avgpool" else {
            "kernel": op.kernel[0], "stride": op.stride[0], "padding": op.padding}
        return HwPool(name=op.name, kind=op.kind, inputs=inputs, channels=op.out_shape[0],
                      in_format=in_fmts[0], **window)
    if op.kind != "conv":
        raise _unsupported(unit, op, "")
    assert op.weight is not None and op.bias is not None
    fmt = in_fmts[0]
    in_channels = op.weight.shape[1] * op.groups
    w = torch.from_numpy(op.weight).double()
    frac = weight_frac(w, w_bits)  # as `dequantized_weight`
    return HwLayer(
        name=op.name, kind=_conv_kind(unit, op, in_channels),  # type: ignore[arg-type]
        in_channels=in_channels, out_channels=op.out_shape[0], kernel=op.kernel[0],
        stride=op.stride[0], padding=op.padding,  # per side: (top, bottom, left, right)
        weight=quantize_weight(w, frac, w_bits).long().numpy(),
        bias=quantize_bias(torch.from_numpy(op.bias), fmt.frac, frac).long().numpy(),
        weight_bits=w_bits, weight_frac=frac.numpy(), in_bits=fmt.bits, in_frac=fmt.frac,
        in_signed=fmt.signed, out_bits=out.bits, out_frac=out.frac,
        activation=op.activation, inputs=inputs)  # type: ignore[arg-type]


def check_n_units(net: Network, n_units: int) -> None:
    if not isinstance(n_units, int) or not 1 <= n_units <= len(net.units):
        raise FixynnError(f"n_units = {n_units!r}: the network has {len(net.units)} units "
                          f"({', '.join(net.unit_names())}); export 1..{len(net.units)}")


def choose_formats(net: Network, n_units: int, samples: Mapping[str, np.ndarray],
                   a_bits: int) -> dict[str, TensorFormat]:
    """Op name -> its output format: `a_bits` wide, from the calibration `samples`."""
    return {op.name: choose_format(op.activation, a_bits, samples[op.name])
            for unit in net.units[:n_units] for op in unit.ops}


def export_units(net: Network, n_units: int, formats: Mapping[str, TensorFormat],
                 norm: PixelNorm, w_bits: int = 8, name: str = "frontend",
                 meta: dict[str, Any] | None = None) -> HwGraph:
    """The HwGraph of units 0..n_units-1 of `net`: each op's output in `formats[op]`
    (`choose_formats`), weights `w_bits` wide, the model input `norm(pixels)`; `meta` is
    stored as the graph's provenance."""
    check_n_units(net, n_units)
    if not 2 <= w_bits <= MAX_BITS:
        raise FixynnError(f"w_bits = {w_bits}: must be 2..{MAX_BITS}")
    nodes: list[HwNode] = [] if norm.identity else [norm.layer()]
    tensor = {INPUT: INPUT if norm.identity else NORM_NODE}
    fmts = {INPUT: nodes[0].out_format if nodes else IMAGE}
    for unit in net.units[:n_units]:
        for op in unit.ops:
            inputs = tuple(tensor[i] for i in op.inputs)
            nodes.append(_node(unit.name, op, inputs, [fmts[i] for i in op.inputs],
                               formats[op.name], w_bits))
            tensor[op.name], fmts[op.name] = op.name, nodes[-1].out_format
    channels, height, width = net.input_shape
    return HwGraph(name, channels, height, width, tuple(nodes), IMAGE.bits, IMAGE.frac,
                   meta=dict(meta or {}), outputs=(net.units[n_units - 1].output,))


def first_units(graph: HwGraph, n: int, name: str | None = None) -> HwGraph:
    """Units 0..n-1 of a `to_hwgraph` export of more units: every node the n-th unit's output
    depends on. It equals `to_hwgraph` of n units, node for node, because each tensor's format
    and each bias correction depend on the float network and the calibration images only,
    never on later units (tests/test_frontend_export.py checks)."""
    units, outputs = graph.meta.get("units"), graph.meta.get("unit_outputs")
    if not isinstance(units, list) or not isinstance(outputs, list):
        raise FixynnError(f"graph {graph.name!r}: not a to_hwgraph export (its meta has no "
                          "units); export the units you want with to_hwgraph")
    if not isinstance(n, int) or not 1 <= n <= len(units):
        raise FixynnError(f"graph {graph.name!r}: n = {n!r}; it has units 1..{len(units)}")
    inputs = {node.name: node.inputs for node in graph.layers}
    keep, todo = set(), [outputs[n - 1]]
    while todo:
        node = todo.pop()
        if node in inputs and node not in keep:
            keep.add(node)
            todo.extend(inputs[node])
    meta = graph.meta | {"n_units": n, "units": units[:n], "unit_outputs": outputs[:n]}
    return replace(graph, name=name or graph.name,
                   layers=tuple(node for node in graph.layers if node.name in keep),
                   meta=meta, outputs=(outputs[n - 1],))
