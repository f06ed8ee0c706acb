"""What one entry of the kinds table provides, and the error every IR rule raises."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fixynn.errors import FixynnError

if TYPE_CHECKING:
    from fixynn.hw.ir import HwLayer
    from fixynn.hw.lower.datapath import LayerDatapath


class HwGraphError(FixynnError, ValueError):
    """An HwGraph (or its files) violates the IR's rules; the message says which rule."""


@dataclass(frozen=True)
class KindSpec:
    """Everything the tool flow knows about one layer kind, in one place.

    validate:  the kind's own rules on a node (shapes of its weights, kernel, ...);
    out_size:  (height, width) of its output for an input map of (height, width);
    golden:    its exact integer semantics: input tensors (B, C, H, W) int64 -> output;
    out_range: the (lo, hi) its output integers can take (the value-range analysis);
    datapath:  its lowering to arithmetic for a given adder style, which the plan, the RTL
               emitter and the cost model read (`fixynn.hw.lower`).
    """

    name: str
    arity: int  # number of input tensors
    validate: Callable[[HwLayer], None]
    out_size: Callable[[HwLayer, int, int], tuple[int, int]]
    golden: Callable[[HwLayer, list[np.ndarray]], np.ndarray]
    out_range: Callable[[HwLayer], tuple[int, int]]
    datapath: Callable[[HwLayer, str], LayerDatapath]
