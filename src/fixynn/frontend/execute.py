"""Float execution of a traced description: the reference a quantized export is compared with.

Computation runs in the dtype of the input tensor (float64 gives a tight comparison with the
module it was traced from).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from fixynn.frontend.graph import Network, Op, Unit


def _param(array: object, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(array).to(like.dtype)


def zero_pad(op: Op, x: torch.Tensor) -> torch.Tensor:
    top, bottom, left, right = op.padding
    return F.pad(x, (left, right, top, bottom)) if any(op.padding) else x


def _conv(op: Op, xs: list[torch.Tensor]) -> torch.Tensor:
    x = zero_pad(op, xs[0])
    return F.conv2d(x, _param(op.weight, x), _param(op.bias, x), op.stride, 0, 1, op.groups)


def _linear(op: Op, xs: list[torch.Tensor]) -> torch.Tensor:
    return F.linear(xs[0], _param(op.weight, xs[0]), _param(op.bias, xs[0]))


def _maxpool(op: Op, xs: list[torch.Tensor]) -> torch.Tensor:
    # -inf padding: a max pool never picks a padded position (PyTorch's semantics)
    top, bottom, left, right = op.padding
    x = F.pad(xs[0], (left, right, top, bottom), value=float("-inf"))
    return F.max_pool2d(x, op.kernel, op.stride)


def _avgpool(op: Op, xs: list[torch.Tensor]) -> torch.Tensor:
    return F.avg_pool2d(zero_pad(op, xs[0]), op.kernel, op.stride)


KIND_RUN: dict[str, Callable[[Op, list[torch.Tensor]], torch.Tensor]] = {
    "conv": _conv,
    "linear": _linear,
    "add": lambda op, xs: xs[0] + xs[1],
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "global_avgpool": lambda op, xs: xs[0].mean(dim=(2, 3), keepdim=True),
    "flatten": lambda op, xs: xs[0].flatten(1),
}
ACTIVATION_RUN: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "none": lambda x: x,
    "relu": F.relu,
    "relu6": F.relu6,
}


def run_op(op: Op, xs: list[torch.Tensor]) -> torch.Tensor:
    return ACTIVATION_RUN[op.activation](KIND_RUN[op.kind](op, xs))


@torch.no_grad()
def unit_values(unit: Unit, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The value of every tensor of the unit (its input and each op's output) for a batch
    `x` of its input tensor."""
    env = {unit.input: x}
    for op in unit.ops:
        env[op.name] = run_op(op, [env[name] for name in op.inputs])
    return env


def run_unit(unit: Unit, x: torch.Tensor) -> torch.Tensor:
    """The unit's output for a batch `x` of its input tensor."""
    return unit_values(unit, x)[unit.output]


def run_network(net: Network, x: torch.Tensor, start: int = 0,
                stop: int | None = None) -> torch.Tensor:
    """Units `start..stop-1` applied to `x` (the input of unit `start`; the image when 0)."""
    for unit in net.units[start:stop]:
        x = run_unit(unit, x)
    return x


