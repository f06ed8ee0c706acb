"""Model import: a PyTorch `nn.Module` -> a model-neutral description split into units.

    net = trace_model(model, torch.zeros(1, 3, 224, 224))
    net.unit_names()            # ['stem', '_blocks.0', ..., '_blocks.15', 'head']
    run_network(net, x, 0, 3)   # float output of the first three units

The description (`fixynn.frontend.graph`) carries folded float weights and explicit geometry;
a quantize/export step turns its first N units into an HwGraph. See docs/frontend.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fixynn.errors import FixynnError
from fixynn.frontend.execute import run_network, run_unit
from fixynn.frontend.graph import INPUT, KINDS, Network, Op, Unit
from fixynn.frontend.trace import trace_ops
from fixynn.frontend.units import default_groups, make_units, named_groups

__all__ = ["INPUT", "KINDS", "Network", "Op", "Unit", "run_network", "run_unit", "trace_model"]


def trace_model(model: nn.Module, example: torch.Tensor,
                split_points: Sequence[str] | None = None) -> Network:
    """Trace `model` (in eval mode; its mode is restored) on `example`, a batch of inputs.

    `split_points`: module paths or op names after which a unit ends (default: stem, each
    element of the model's block containers, head).
    """
    if example.dim() != 4:
        raise FixynnError(f"example input has shape {tuple(example.shape)}; give a batch of "
                          "images (batch, channels, height, width)")
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ops, paths, _ = trace_ops(model, example)
    finally:
        model.train(training)
    groups = default_groups(ops, paths) if split_points is None else named_groups(
        ops, paths, split_points)
    return Network(tuple(example.shape[1:]), make_units(groups), type(model).__name__)
