"""Model import: a PyTorch `nn.Module` -> a model-neutral description split into units, and
its first units -> an integer HwGraph.

    net = trace_model(model, torch.zeros(1, 3, 224, 224))
    net.unit_names()            # ['stem', '_blocks.0', ..., '_blocks.15', 'head']
    run_network(net, x, 0, 3)   # float output of the first three units
    out = to_hwgraph(model, example, 3, calib_pixels, pixel_offset=127, pixel_scale=128)
    out.graph, out.gap.table()  # the HwGraph, its integer-vs-float gap per unit

The description (`fixynn.frontend.graph`) carries folded float weights and explicit geometry;
`fixynn.frontend.export` quantizes its first N units into an HwGraph. See docs/frontend.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fixynn.errors import FixynnError
from fixynn.frontend.execute import run_network, run_unit
from fixynn.frontend.export import PixelNorm, calibrate, check_n_units, export_units, pixels
from fixynn.frontend.gap import GapReport, integer_gap
from fixynn.frontend.graph import INPUT, KINDS, Network, Op, Unit
from fixynn.frontend.trace import trace_ops
from fixynn.frontend.units import default_groups, make_units, named_groups
from fixynn.hw.ir import HwGraph

__all__ = ["INPUT", "KINDS", "Export", "Network", "Op", "Unit", "run_network", "run_unit",
           "to_hwgraph", "trace_model"]


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


@dataclass(frozen=True)
class Export:
    """What `to_hwgraph` returns: the integer graph, its gap to float, the traced network."""

    graph: HwGraph
    gap: GapReport
    network: Network
    norm: PixelNorm


def to_hwgraph(model: nn.Module, example: torch.Tensor, n_units: int,
               calib_images: np.ndarray | torch.Tensor, *, pixel_offset: int | Sequence[int] = 0,
               pixel_scale: int = 256, w_bits: int = 8, a_bits: int = 8,
               split_points: Sequence[str] | None = None,
               check_images: np.ndarray | torch.Tensor | None = None,
               name: str = "frontend", executor: str = "golden") -> Export:
    """Units 0..n_units-1 of `model` as an integer HwGraph, in one call.

    `example`: a batch of model inputs to trace with (its dtype is the float reference's);
    `calib_images`: uint8 pixels (B, C, H, W) whose float statistics choose every tensor's
    format; the model's input is `(p - pixel_offset) / pixel_scale` (an exact input layer,
    `fixynn.frontend.export`). The gap report compares each unit's integer output
    (`executor`: "golden", or its bit-exact torch twin "torch") with the float one on
    `check_images` (default: the calibration images).
    """
    net = trace_model(model, example, split_points)
    shape = net.input_shape
    norm = PixelNorm.of(pixel_offset, pixel_scale, shape[0])
    calib = pixels(calib_images, shape, "calib_images")
    check = calib if check_images is None else pixels(check_images, shape, "check_images")
    check_n_units(net, n_units)
    peaks = calibrate(net, n_units, norm.apply(calib, example.dtype))
    graph = export_units(net, n_units, peaks, norm, w_bits, a_bits, name,
                         {"calibration_images": len(calib)})
    return Export(graph, integer_gap(net, graph, check, norm, example.dtype, executor), net,
                  norm)
