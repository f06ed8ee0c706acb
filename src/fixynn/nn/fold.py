"""BatchNorm folding: conv (no bias) followed by BatchNorm (inference statistics) -> conv + bias."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of the single conv equal to `bn(conv(x))` with bn in eval mode."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight = conv.weight * scale.reshape(-1, 1, 1, 1)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return weight.clone(), bias.clone()
