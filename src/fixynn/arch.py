"""MobileNetV1 layer shapes as plain data (no PyTorch).

One description of the network that both the PyTorch model (`fixynn.nn`) and the
hardware cost models (`fixynn.hw.ppa`) read, so they can never disagree about a shape.

Blocks are indexed as in the split point N: block 0 is the first standard 3x3 conv, blocks
1..13 are the depthwise-separable blocks (a 3x3 depthwise conv then a 1x1 pointwise conv).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NUM_BLOCKS = 14

# Output channels of blocks 0..13 at width 1.0 (Howard et al., 2017, Table 1).
BASE_CHANNELS: tuple[int, ...] = (
    32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024,
)

# Stride of each block's (first) spatial conv.
STRIDE_PLANS: dict[str, tuple[int, ...]] = {
    # The standard ImageNet plan: 224 -> 7 (total stride 32).
    "imagenet": (2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1),
    # For 28x28-class inputs: 28 -> 7 (total stride 4), keeps every block's map >= 7x7.
    "small": (1, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1),
}

LayerKind = Literal["conv", "depthwise", "pointwise", "fc"]


@dataclass(frozen=True)
class LayerShape:
    """One layer of the network: geometry only, no weights."""

    name: str
    block: int  # split-point index; the classifier has block == NUM_BLOCKS
    kind: LayerKind
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    padding: int
    in_height: int
    in_width: int

    @property
    def out_height(self) -> int:
        return conv_out_size(self.in_height, self.kernel, self.stride, self.padding)

    @property
    def out_width(self) -> int:
        return conv_out_size(self.in_width, self.kernel, self.stride, self.padding)

    @property
    def groups(self) -> int:
        return self.in_channels if self.kind == "depthwise" else 1

    @property
    def weights(self) -> int:
        return self.out_channels * (self.in_channels // self.groups) * self.kernel**2

    @property
    def macs(self) -> int:
        """Multiply-accumulates for one image."""
        return self.weights * self.out_height * self.out_width


def conv_out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def scaled_channels(base: int, width: float) -> int:
    return max(1, int(base * width))


def mobilenet_v1_layers(
    width: float = 1.0,
    input_size: int = 224,
    in_channels: int = 3,
    num_classes: int = 1000,
    stride_plan: str = "imagenet",
) -> list[LayerShape]:
    """Every conv layer of MobileNetV1 (block order), then the classifier as kind "fc"."""
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    if input_size < 1 or in_channels < 1 or num_classes < 1:
        raise ValueError("input_size, in_channels and num_classes must be >= 1")
    if stride_plan not in STRIDE_PLANS:
        raise ValueError(
            f"unknown stride_plan {stride_plan!r}; choose one of {sorted(STRIDE_PLANS)}"
        )
    strides = STRIDE_PLANS[stride_plan]
    layers: list[LayerShape] = []
    size, channels = input_size, in_channels
    for block, (base, stride) in enumerate(zip(BASE_CHANNELS, strides, strict=True)):
        out = scaled_channels(base, width)
        if block == 0:
            layers.append(
                LayerShape("b0_conv", 0, "conv", channels, out, 3, stride, 1, size, size)
            )
        else:
            dw = LayerShape(f"b{block}_dw", block, "depthwise", channels, channels, 3, stride, 1,
                            size, size)
            layers.append(dw)
            layers.append(LayerShape(f"b{block}_pw", block, "pointwise", channels, out, 1, 1, 0,
                                     dw.out_height, dw.out_width))
        size, channels = layers[-1].out_height, out
        if size < 1:
            raise ValueError(
                f"input_size {input_size} is too small for stride plan {stride_plan!r} "
                f"(block {block} output is empty)"
            )
    layers.append(LayerShape("fc", NUM_BLOCKS, "fc", channels, num_classes, 1, 1, 0, 1, 1))
    return layers


def front_end_layers(layers: list[LayerShape], n: int) -> list[LayerShape]:
    """Layers of blocks 0..n-1 (the fixed front-end at split point n)."""
    if not 0 <= n <= NUM_BLOCKS:
        raise ValueError(f"split point N must be in 0..{NUM_BLOCKS}, got {n}")
    return [layer for layer in layers if layer.block < n]


def back_end_layers(layers: list[LayerShape], n: int) -> list[LayerShape]:
    """Layers of blocks n.. plus the classifier (the programmable back-end at split point n)."""
    if not 0 <= n <= NUM_BLOCKS:
        raise ValueError(f"split point N must be in 0..{NUM_BLOCKS}, got {n}")
    return [layer for layer in layers if layer.block >= n]
