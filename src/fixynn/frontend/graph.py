"""The model-neutral description of a traced network: units, each a DAG of typed ops.

This is what `fixynn.frontend.trace_model` produces from an `nn.Module` and what a
quantize/export step turns into an HwGraph. It holds float weights with BatchNorm already
folded in, every shape, and every geometric choice spelled out (padding per side, stride,
groups), so a consumer never needs PyTorch's conventions.

Tensors are named by the op that produces them; the network input is the tensor `INPUT`.
Shapes exclude the batch dimension: (channels, height, width) for maps, (features,) after a
flatten.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

INPUT = "input"

# kind -> what it computes (executed in `fixynn.frontend.execute`).
KINDS = {
    "conv": "2-D convolution (groups: 1 standard, = channels depthwise) + bias + activation",
    "linear": "fully connected layer + bias + activation",
    "add": "elementwise sum of two tensors of one shape + activation",
    "maxpool": "k x k max pool",
    "avgpool": "k x k average pool (padding counted as zeros)",
    "global_avgpool": "mean over height and width, output (channels, 1, 1)",
    "flatten": "(channels, height, width) -> (channels * height * width,)",
}


@dataclass(frozen=True, eq=False)
class Op:
    """One operation. `padding` is (top, bottom, left, right) zeros; `kernel`/`stride` are
    (height, width). `source` is the name of the traced torch.fx node whose value equals this
    op's output (after BatchNorm and activation were folded in)."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    out_shape: tuple[int, ...]
    source: str
    activation: str = "none"
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    groups: int = 1


@dataclass(frozen=True)
class Unit:
    """A split-point unit: ops in execution order, one input tensor, one output tensor."""

    name: str
    input: str
    ops: tuple[Op, ...]

    @property
    def output(self) -> str:
        return self.ops[-1].name


@dataclass(frozen=True)
class Network:
    """Units in order; unit i's input is unit i-1's output (unit 0 takes `INPUT`)."""

    input_shape: tuple[int, ...]
    units: tuple[Unit, ...]
    module_type: str = field(default="")

    @property
    def ops(self) -> tuple[Op, ...]:
        return tuple(op for unit in self.units for op in unit.ops)

    def unit_names(self) -> list[str]:
        return [unit.name for unit in self.units]
