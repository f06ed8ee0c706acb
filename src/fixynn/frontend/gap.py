"""The integer-vs-float gap of an exported front-end, unit by unit.

Each unit's output from the exact integer graph (the golden executor, or its bit-exact torch
twin `fixynn.frontend.exact`), as real values q * 2^-frac, against the float executor's
output of the same unit on the same images, both run from the image (so the gap accumulates
over the units, as it does on the chip).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from fixynn.frontend.exact import run_graph_torch
from fixynn.frontend.export import PixelNorm, float_values
from fixynn.frontend.graph import Network
from fixynn.hw.golden import run_graph
from fixynn.hw.ir import HwGraph

EXECUTORS = ("golden", "torch")


@dataclass(frozen=True)
class UnitGap:
    """One unit's output: integer (dequantized) minus float, over all images and elements."""

    unit: str
    node: str
    format: str
    float_max_abs: float
    max_abs_error: float
    max_error_lsb: float  # max_abs_error in units of the output's last bit, 2^-frac
    rms_error: float
    snr_db: float  # 10 log10(sum float^2 / sum error^2); inf when the two agree exactly


@dataclass(frozen=True)
class GapReport:
    images: int
    executor: str
    units: tuple[UnitGap, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"images": self.images, "executor": self.executor,
                "units": [asdict(u) for u in self.units]}

    def table(self) -> str:
        lines = [f"integer vs float over {self.images} images ({self.executor} executor)",
                 "| unit | format | float max | max abs error (LSB) | RMS error | SNR dB |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {u.unit} | {u.format} | {u.float_max_abs:.3g} | {u.max_abs_error:.3g} "
                  f"({u.max_error_lsb:.1f}) | {u.rms_error:.3g} | {u.snr_db:.1f} |"
                  for u in self.units]
        return "\n".join(lines)


def integer_outputs(graph: HwGraph, pixels: torch.Tensor, names: list[str],
                    executor: str = "golden") -> dict[str, np.ndarray]:
    """int64 values of the nodes `names` for uint8 `pixels` (B, C, H, W)."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    if executor == "torch":
        return {k: v.numpy() for k, v in run_graph_torch(graph, pixels, names).items()}
    order = [layer.name for layer in graph.layers]
    values = run_graph(graph, pixels.numpy())
    return {name: values[order.index(name)] for name in names}


def integer_gap(net: Network, graph: HwGraph, pixels: torch.Tensor, norm: PixelNorm,
                dtype: torch.dtype = torch.float64, executor: str = "golden") -> GapReport:
    """Per exported unit, the integer output against the float one on `pixels`."""
    units = [u for u in net.units if u.output in graph.tensor_formats()]
    outputs = [u.output for u in units]
    ints = integer_outputs(graph, pixels, outputs, executor)
    floats = float_values(net, len(units), norm.apply(pixels, dtype))
    formats = graph.tensor_formats()
    gaps = []
    for unit, name in zip(units, outputs, strict=True):
        fmt = formats[name]
        want = floats[name].double().numpy()
        err = ints[name] * 2.0**-fmt.frac - want
        power, noise = float(np.sum(want**2)), float(np.sum(err**2))
        max_err = float(np.abs(err).max())
        gaps.append(UnitGap(
            unit.name, name, str(fmt), float(np.abs(want).max()), max_err,
            max_err * 2.0**fmt.frac, math.sqrt(noise / err.size),
            math.inf if noise == 0 else 10 * math.log10(power / noise) if power else -math.inf))
    return GapReport(len(pixels), executor, tuple(gaps))
