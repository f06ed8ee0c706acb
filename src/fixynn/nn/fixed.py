"""The fixed-point network: every conv of the 14 blocks BN-folded and quantized.

One `FixedNet` covers all 14 blocks, so the fixed front-end at every split point N is a prefix
of the same network (features for N+1 are one block applied to features for N). It has two
forward paths:

* `forward` (fake quantization, float32, straight-through gradients) for quantization-aware
  fine-tuning;
* `exact` (integer values in float convs, exact because every partial sum is checked to stay
  below 2^24 for float32, else 2^53 for float64), which equals `fixynn.hw.golden.run_graph`
  on the exported HwGraph bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fixynn.arch import NUM_BLOCKS, LayerShape
from fixynn.nn.fold import fold_bn
from fixynn.nn.model import MobileNetV1
from fixynn.nn.prune import magnitude_mask
from fixynn.nn.quant import (
    act_frac,
    act_hi,
    fake_quant_bias,
    fake_quant_weight,
    fake_requantize,
    quantize_bias,
    quantize_weight,
    requantize_exact,
    weight_frac,
)

INPUT_BITS = 8  # image pixels: 8-bit, value = p * 2^-8 (docs/ir.md)
INPUT_FRAC = 8
_FLOAT64_EXACT = 2**53
_FLOAT32_EXACT = 2**24


@dataclass(frozen=True)
class IntParams:
    """Integer parameters of one fixed layer (int64 tensors)."""

    weight: torch.Tensor  # (O, I/groups, k, k)
    bias: torch.Tensor  # (O,) at scale 2^-(in_frac + frac)
    frac: torch.Tensor  # (O,) weight fractional bits


class FixedConv(nn.Module):
    """A BN-folded conv + ReLU6 with power-of-two fixed-point weights, bias and output."""

    def __init__(
        self,
        shape: LayerShape,
        weight: torch.Tensor,
        bias: torch.Tensor,
        w_bits: int,
        in_bits: int,
        in_frac: int,
        a_bits: int,
    ) -> None:
        super().__init__()
        self.shape = shape
        self.w_bits, self.in_bits, self.in_frac = w_bits, in_bits, in_frac
        self.out_bits, self.out_frac = a_bits, act_frac(a_bits)
        self.hi = act_hi(a_bits, self.out_frac)
        self.weight = nn.Parameter(weight.detach().clone().float())
        self.bias = nn.Parameter(bias.detach().clone().float())
        self.register_buffer("mask", torch.ones_like(self.weight))

    def prune(self, sparsity: float) -> None:
        """Set the mask to keep the largest (1 - sparsity) of |weights|; zero the rest."""
        self.mask.copy_(magnitude_mask(self.weight, sparsity))
        with torch.no_grad():
            self.weight.mul_(self.mask)

    def _conv(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        s = self.shape
        return F.conv2d(x, w, b, s.stride, s.padding, 1, s.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fake-quantized forward on real values (multiples of 2^-in_frac)."""
        w = self.weight * self.mask
        frac = weight_frac(w, self.w_bits)
        wq = fake_quant_weight(w, frac, self.w_bits)
        bq = fake_quant_bias(self.bias, self.in_frac, frac)
        return fake_requantize(self._conv(x, wq, bq), self.out_frac, self.hi)

    @torch.no_grad()
    def int_params(self) -> IntParams:
        w = self.weight * self.mask
        frac = weight_frac(w, self.w_bits)
        weight = quantize_weight(w.double(), frac, self.w_bits).long()
        return IntParams(weight, quantize_bias(self.bias, self.in_frac, frac).long(), frac)

    @torch.no_grad()
    def exact(self, x: torch.Tensor, params: IntParams | None = None) -> torch.Tensor:
        """Integer forward: x holds unsigned `in_bits` integers (any float dtype, NCHW);
        returns the output integers (float32 or float64).

        Runs in float32 (oneDNN, fast) when a static bound shows every partial sum and the
        rounding term stay below 2^24, else in float64 (below 2^53): either way each value is
        an exactly held integer, and scaling by 2^-s is exact.
        """
        p = params if params is not None else self.int_params()
        shift = self.in_frac + p.frac - self.out_frac
        x_max = 2**self.in_bits - 1
        w_abs = p.weight.abs().reshape(p.weight.shape[0], -1).sum(dim=1)
        bound = int((w_abs * x_max + p.bias.abs()).max()) + 2 ** max(int(shift.max()) - 1, 0)
        if bound >= _FLOAT64_EXACT:
            raise OverflowError(f"layer {self.shape.name}: accumulator bound exceeds 2^53")
        dtype = torch.float32 if bound < _FLOAT32_EXACT else torch.float64
        # on CUDA, TF32 (10 mantissa bits) would round the float32 sums: keep it off
        cudnn = torch.backends.cudnn
        with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark,
                         deterministic=cudnn.deterministic, allow_tf32=False):
            acc = self._conv(x.to(dtype), p.weight.to(x.device, dtype),
                             p.bias.to(x.device, dtype))
        return requantize_exact(acc, shift, self.hi)


class FixedNet(nn.Module):
    """All 14 blocks of a MobileNetV1, BN-folded into `FixedConv` layers."""

    def __init__(self, model: MobileNetV1, w_bits: int = 8, a_bits: int = 8) -> None:
        super().__init__()
        self.w_bits, self.a_bits = w_bits, a_bits
        layers, in_bits, in_frac = [], INPUT_BITS, INPUT_FRAC
        for block in model.blocks:
            for unit in block:
                weight, bias = fold_bn(unit.conv, unit.bn)
                layers.append(FixedConv(unit.shape, weight, bias, w_bits, in_bits, in_frac, a_bits))
                in_bits, in_frac = a_bits, act_frac(a_bits)
        self.layers = nn.ModuleList(layers)

    def layers_of(self, start: int, stop: int) -> list[FixedConv]:
        """The layers of blocks start..stop-1."""
        if not 0 <= start <= stop <= NUM_BLOCKS:
            raise ValueError(f"block range {start}..{stop} outside 0..{NUM_BLOCKS}")
        return [m for m in self.layers if start <= m.shape.block < stop]

    def prune(self, sparsity: float) -> None:
        for layer in self.layers:
            layer.prune(sparsity)

    def forward(self, x: torch.Tensor, n: int = NUM_BLOCKS) -> torch.Tensor:
        """Fake-quantized blocks 0..n-1 on real inputs (pixels / 256)."""
        for layer in self.layers_of(0, n):
            x = layer(x)
        return x

    @torch.no_grad()
    def exact(self, x: torch.Tensor, start: int = 0, stop: int = NUM_BLOCKS,
              params: list[IntParams] | None = None) -> torch.Tensor:
        """Integer blocks start..stop-1: x holds the integer input of block `start` (any
        dtype); returns int64 NCHW (the integer output of block stop-1). `params`: the
        layers' `int_params()` computed once (`int_params_of`), for repeated calls."""
        layers = self.layers_of(start, stop)
        if params is None:
            params = [layer.int_params() for layer in layers]
        if len(params) != len(layers):
            raise ValueError(f"{len(params)} IntParams for {len(layers)} layers")
        for layer, p in zip(layers, params, strict=True):
            x = layer.exact(x, p)
        return x.long()

    def int_params_of(self, start: int, stop: int) -> list[IntParams]:
        """Integer parameters of the layers of blocks start..stop-1 (for `exact`)."""
        return [layer.int_params() for layer in self.layers_of(start, stop)]

    def out_frac(self, n: int) -> int:
        """Fractional bits of the front-end output at split point n."""
        return INPUT_FRAC if n == 0 else act_frac(self.a_bits)
