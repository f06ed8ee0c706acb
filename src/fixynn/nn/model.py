"""MobileNetV1 in PyTorch, built from the shared shape description in `fixynn.arch`.

`blocks[i]` is split-point block i (block 0: the first standard conv, 1..13: depthwise-separable
blocks), so the front-end at split point N is `blocks[:N]` and the back-end `blocks[N:]` plus
the classifier. Every conv is followed by BatchNorm and ReLU6 (Howard et al., 2017).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fixynn.arch import NUM_BLOCKS, LayerShape, mobilenet_v1_layers


class ConvBN(nn.Module):
    """conv (no bias) -> BatchNorm -> ReLU6, for one `LayerShape`."""

    def __init__(self, shape: LayerShape) -> None:
        super().__init__()
        self.shape = shape
        self.conv = nn.Conv2d(
            shape.in_channels,
            shape.out_channels,
            shape.kernel,
            shape.stride,
            shape.padding,
            groups=shape.groups,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(shape.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self.bn(self.conv(x)))


class MobileNetV1(nn.Module):
    """MobileNetV1 with width multiplier, configurable input size/channels and stride plan."""

    def __init__(
        self,
        num_classes: int,
        width: float = 0.25,
        input_size: int = 28,
        in_channels: int = 1,
        stride_plan: str = "small",
    ) -> None:
        super().__init__()
        shapes = mobilenet_v1_layers(width, input_size, in_channels, num_classes, stride_plan)
        self.shapes = shapes
        self.blocks = nn.ModuleList(
            nn.Sequential(*(ConvBN(s) for s in shapes if s.block == b)) for b in range(NUM_BLOCKS)
        )
        self.feature_channels = shapes[-1].in_channels
        self.classifier = nn.Linear(self.feature_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.run_blocks(x, 0, NUM_BLOCKS))

    def run_blocks(self, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        for block in self.blocks[start:stop]:
            x = block(x)
        return x

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Global average pool + classifier."""
        return self.classifier(x.mean(dim=(2, 3)))

    def new_classifier(self, num_classes: int) -> None:
        """Replace the classifier (transfer to a task with `num_classes` classes)."""
        self.classifier = nn.Linear(self.feature_channels, num_classes)


class BackEnd(nn.Module):
    """The programmable part at split point N: blocks N..13 (float, trainable) + classifier."""

    def __init__(self, model: MobileNetV1, n: int) -> None:
        super().__init__()
        if not 0 <= n <= NUM_BLOCKS:
            raise ValueError(f"split point N must be in 0..{NUM_BLOCKS}, got {n}")
        self.n = n
        self.blocks = nn.ModuleList(model.blocks[n:])
        self.classifier = model.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.classifier(x.mean(dim=(2, 3)))
