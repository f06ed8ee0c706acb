"""Model import: a PyTorch `nn.Module` -> a model-neutral description split into units, and
its first units -> an integer HwGraph.

    net = trace_model(model, torch.zeros(1, 3, 224, 224))
    net.unit_names()            # ['stem', '_blocks.0', ..., '_blocks.15', 'head']
    run_network(net, x, 0, 3)   # float output of the first three units
    out = to_hwgraph(model, example, 3, calib_pixels, pixel_offset=127, pixel_scale=128)
    out.graph, out.gap.table()  # the HwGraph, its integer-vs-float gap per unit
    layer_shapes(net)           # every op as a fixynn.arch.LayerShape, block = unit index

The description (`fixynn.frontend.graph`) carries folded float weights and explicit geometry;
`fixynn.frontend.export` quantizes its first N units into an HwGraph. See docs/frontend.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fixynn.arch import LayerShape
from fixynn.errors import FixynnError
from fixynn.frontend.execute import run_network, run_unit
from fixynn.frontend.export import (
    PixelNorm,
    calibrate,
    check_n_units,
    choose_formats,
    correct_biases,
    export_units,
    first_units,
    pixels,
)
from fixynn.frontend.gap import GapReport, integer_gap
from fixynn.frontend.graph import INPUT, KINDS, Network, Op, Unit
from fixynn.frontend.shapes import network_shapes
from fixynn.frontend.trace import trace_ops
from fixynn.frontend.units import default_groups, make_units, named_groups
from fixynn.hw.ir import HwGraph
from fixynn.hw.numfmt import MAX_BITS

__all__ = ["INPUT", "KINDS", "Export", "Network", "Op", "Unit", "VerifiedExport", "first_units",
           "layer_shapes", "run_network", "run_unit", "to_hwgraph", "to_verified_hwgraph",
           "trace_model"]


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


def layer_shapes(model: Network | nn.Module, example: torch.Tensor | None = None,
                 split_points: Sequence[str] | None = None) -> list[LayerShape]:
    """Every op of a traced network (or of `model` traced on `example`, as `trace_model`) that
    does work, as plain-data layer shapes in execution order, `block` = the op's unit index
    (the split point N counts units). Save them with `fixynn.arch.save_layers`."""
    if isinstance(model, Network):
        if example is not None or split_points is not None:
            raise FixynnError("layer_shapes: a traced Network takes no example or split points")
        return network_shapes(model)
    if example is None:
        raise FixynnError("layer_shapes: give an example input batch to trace the model with")
    device = next((p.device for p in model.parameters()), example.device)
    return network_shapes(trace_model(model, example.to(device), split_points))


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
               name: str = "frontend", executor: str = "golden",
               bias_correction: bool = True) -> Export:
    """Units 0..n_units-1 of `model` as an integer HwGraph, in one call.

    `example`: a batch of model inputs to trace with (its dtype is the float reference's);
    `calib_images`: uint8 pixels (B, C, H, W) whose float statistics choose every tensor's
    format; the model's input is `(p - pixel_offset) / pixel_scale` (an exact input layer,
    `fixynn.frontend.export`). The gap report compares each unit's integer output
    (`executor`: "golden", or its bit-exact torch twin "torch") with the float one on
    `check_images` (default: the calibration images). `bias_correction`: compensate each
    conv's mean weight-rounding error on the calibration images in its bias.
    """
    net = trace_model(model, example, split_points)
    shape = net.input_shape
    norm = PixelNorm.of(pixel_offset, pixel_scale, shape[0])
    calib = pixels(calib_images, shape, "calib_images")
    check = calib if check_images is None else pixels(check_images, shape, "check_images")
    check_n_units(net, n_units)
    if not 2 <= a_bits <= MAX_BITS:
        raise FixynnError(f"a_bits = {a_bits}: must be 2..{MAX_BITS}")
    model_input = norm.apply(calib, example.dtype)
    formats = choose_formats(net, n_units, calibrate(net, n_units, model_input), a_bits)
    fixed = correct_biases(net, n_units, model_input, w_bits) if bias_correction else net
    units = net.units[:n_units]
    meta = {"source": net.module_type, "n_units": n_units, "units": [u.name for u in units],
            "unit_outputs": [u.output for u in units], "w_bits": w_bits, "a_bits": a_bits,
            "calibration_images": len(calib), "pixel_offset": list(norm.offset),
            "pixel_scale": norm.scale, "bias_correction": bias_correction}
    graph = export_units(fixed, n_units, formats, norm, w_bits, name, meta)
    return Export(graph, integer_gap(net, graph, check, norm, example.dtype, executor), net,
                  norm)


@dataclass(frozen=True)
class VerifiedExport:
    """What `to_verified_hwgraph` returns: the export and its RTL's bit-exact verification."""

    export: Export
    verification: Any  # fixynn.hw.stagewise.Verification


def to_verified_hwgraph(model: nn.Module, example: torch.Tensor, n_units: int,
                        calib_images: np.ndarray | torch.Tensor,
                        images: np.ndarray | torch.Tensor, work_dir: str | Path, *,
                        verify_mode: str = "auto", **export_options: Any) -> VerifiedExport:
    """`to_hwgraph`, then the graph's Verilog simulated against the golden executor on
    `images` (uint8 pixels in the model's input shape) in `work_dir`: one call from an
    `nn.Module` to a bit-exactly verified HwGraph. `verify_mode` is `fixynn verify`'s
    (auto | whole | layers); `export_options` are to_hwgraph's keywords. Any mismatch is a
    FixynnError naming the count (the RTL is then wrong: please report it)."""
    from fixynn.hw.stagewise import verify

    export = to_hwgraph(model, example, n_units, calib_images, **export_options)
    shape = export.network.input_shape
    pixel_array = pixels(images, shape, "images").to(torch.uint8).numpy()
    result = verify(export.graph, pixel_array, work_dir, verify_mode)
    if result.mismatches:
        raise FixynnError(f"graph {export.graph.name!r}: the RTL differs from the golden "
                          f"executor in {result.mismatches} of {result.outputs_compared} values "
                          f"(details in {work_dir}); please report it")
    return VerifiedExport(export, result)
