"""torch.fx walk: an `nn.Module` -> the ops of `fixynn.frontend.graph`, BatchNorm folded.

Each traced node is mapped by one handler (module type, function or method name -> handler),
so a new supported layer is one entry in a table. Patterns are fused as they appear:
zero padding into the conv or pool that consumes it, BatchNorm into the conv before it, an
activation into the conv / linear / add before it. Anything else stops with a one-line
`FixynnError` naming the module, its type and what is supported.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from fixynn.errors import FixynnError
from fixynn.frontend.graph import INPUT, Op
from fixynn.nn.fold import fold_bn

SUPPORTED = ("modules Conv2d, BatchNorm2d, ReLU, ReLU6, Identity, Dropout, ZeroPad2d, "
             "MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), Flatten, Linear; functions +, "
             "torch.add, relu, relu6, torch.flatten, F.pad (zeros), F.adaptive_avg_pool2d(x, 1), "
             "x.mean((2, 3))")
FUSABLE_ACTIVATION = ("conv", "linear", "add")


def where(node: fx.Node) -> str:
    """The module a node belongs to (its own target for a module call)."""
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack") or {}
    return next(reversed(stack), "<top level>") if stack else "<top level>"


def unsupported(node: fx.Node, what: str, why: str = "is not supported") -> FixynnError:
    return FixynnError(f"{where(node)!r} ({what}) {why}; fixynn.frontend supports {SUPPORTED}")


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().copy()  # the model's dtype (float64 traces exactly)


class Walker:
    """Turns the traced nodes, in order, into ops; `ops` holds them in execution order."""

    def __init__(self, gm: fx.GraphModule) -> None:
        self.modules = dict(gm.named_modules())
        self.nodes = {node.name: node for node in gm.graph.nodes}
        self.ops: dict[str, Op] = {}
        self.paths: dict[str, str] = {}  # op name -> path of the module it belongs to
        self.tensor: dict[str, str] = {}  # fx node name -> name of the tensor holding its value
        self.pads: dict[str, tuple[str, tuple[int, int, int, int]]] = {}  # pending zero pads
        self.convs: dict[str, nn.Conv2d] = {}  # conv ops whose BatchNorm may still follow
        self.output: str | None = None

    # ---- helpers -------------------------------------------------------------------------
    def uses(self, node: fx.Node) -> int:
        """How many ops consume a node's value, looking through identities."""
        return sum(self.uses(u) if self.is_alias(u) else 1 for u in node.users)

    def is_alias(self, node: fx.Node) -> bool:
        if node.op == "call_module":
            return isinstance(self.modules[str(node.target)],
                              nn.Identity | nn.modules.dropout._DropoutNd)
        return node.op == "call_function" and node.target is F.dropout

    def arg(self, node: fx.Node, index: int = 0) -> fx.Node:
        value = node.args[index] if index < len(node.args) else None
        if not isinstance(value, fx.Node):
            raise unsupported(node, str(node.target), f"takes a non-tensor operand {value!r}")
        return value

    def source(self, node: fx.Node, index: int = 0, pads: bool = False
               ) -> tuple[str, tuple[int, int, int, int]]:
        """(tensor name, zero padding folded in front of it) of a node's operand."""
        arg = self.arg(node, index)
        if arg.name in self.pads:
            if not pads:
                raise unsupported(node, str(node.target), "consumes zero padding; padding "
                                  "must feed a Conv2d, MaxPool2d or AvgPool2d")
            return self.pads.pop(arg.name)
        if arg.name not in self.tensor:
            raise unsupported(node, str(node.target), f"reads {arg.name!r}, not a traced tensor")
        return self.tensor[arg.name], (0, 0, 0, 0)

    def add(self, node: fx.Node, kind: str, inputs: tuple[str, ...],
            shape: tuple[int, ...] | None = None, suffix: str = "", **fields: Any) -> None:
        """A new op for `node` (its shape unless `shape` is given), named by its module."""
        name = (str(node.target) if node.op == "call_module" else node.name) + suffix
        if name in self.ops:  # a module called twice
            name = f"{name}@{node.name}"
        if shape is None:
            shape = tuple(int(s) for s in node.meta["tensor_meta"].shape[1:])
        self.ops[name] = Op(name, kind, inputs, shape, node.name, **fields)
        self.paths[name] = where(node)
        self.tensor[node.name] = name

    def producer(self, node: fx.Node, what: str, kinds: tuple[str, ...]) -> Op:
        """The op computing `node`'s operand, which `node` may fuse into: of one of `kinds`,
        without an activation, and with no other consumer."""
        op = self.ops.get(self.tensor.get(self.arg(node).name, ""))
        if (op is None or op.kind not in kinds or op.activation != "none"
                or self.uses(self.nodes[op.source]) != 1):
            raise unsupported(node, what, f"must directly follow a {' / '.join(kinds)} whose "
                              "output has no other use")
        return op

    def fuse(self, node: fx.Node, op: Op, **fields: Any) -> None:
        self.ops[op.name] = dataclasses.replace(op, source=node.name, **fields)
        self.tensor[node.name] = op.name

    # ---- op handlers ---------------------------------------------------------------------
    def conv(self, node: fx.Node, m: nn.Conv2d) -> None:
        if m.padding_mode != "zeros" or _pair(m.dilation) != (1, 1):
            raise unsupported(node, "Conv2d", "with dilation or non-zero padding mode")
        x, (top, bottom, left, right) = self.source(node, pads=True)
        kh, kw = _pair(m.kernel_size)
        if isinstance(m.padding, str):  # "valid" or "same" (stride 1): extra on bottom/right
            ph, pw = (0, 0) if m.padding == "valid" else (kh - 1, kw - 1)
            pad = (ph // 2, ph - ph // 2, pw // 2, pw - pw // 2)
        else:
            (ph, pw) = _pair(m.padding)
            pad = (ph, ph, pw, pw)
        bias = m.bias if m.bias is not None else m.weight.new_zeros(m.out_channels)
        self.add(node, "conv", (x,), weight=_array(m.weight), bias=_array(bias),
                 kernel=(kh, kw), stride=_pair(m.stride), groups=m.groups,
                 padding=(pad[0] + top, pad[1] + bottom, pad[2] + left, pad[3] + right))
        self.convs[self.tensor[node.name]] = m

    def batchnorm(self, node: fx.Node, m: nn.BatchNorm2d) -> None:
        op = self.producer(node, "BatchNorm2d", ("conv",))
        if op.name not in self.convs:
            raise unsupported(node, "BatchNorm2d", "follows a conv already folded with one")
        if not m.affine or m.running_mean is None:
            raise unsupported(node, "BatchNorm2d", "without affine parameters or running "
                              "statistics")
        weight, bias = fold_bn(self.convs.pop(op.name), m)
        self.fuse(node, op, weight=_array(weight), bias=_array(bias))

    def activation(self, node: fx.Node, kind: str) -> None:
        op = self.producer(node, kind, FUSABLE_ACTIVATION)
        self.convs.pop(op.name, None)  # BatchNorm after the activation is not a fold
        self.fuse(node, op, activation=kind)

    def hardtanh(self, node: fx.Node, m: nn.Hardtanh) -> None:
        if (m.min_val, m.max_val) != (0.0, 6.0):
            raise unsupported(node, type(m).__name__, f"with bounds ({m.min_val}, "
                              f"{m.max_val}); only (0, 6), ReLU6, is")
        self.activation(node, "relu6")

    def alias(self, node: fx.Node) -> None:
        self.tensor[node.name] = self.source(node)[0]

    def zero_pad(self, node: fx.Node, pad: tuple[int, ...], value: float = 0.0) -> None:
        if len(pad) != 4 or value != 0:
            raise unsupported(node, "pad", f"with padding {pad} value {value}; only zero "
                              "padding of height and width (4 values) is")
        left, right, top, bottom = (int(p) for p in pad)
        x, (t, b, lft, r) = self.source(node, pads=True)
        if self.uses(node) != 1:
            raise unsupported(node, "pad", "has more than one consumer")
        self.pads[node.name] = (x, (top + t, bottom + b, left + lft, right + r))

    def pool(self, node: fx.Node, m: nn.MaxPool2d | nn.AvgPool2d) -> None:
        kind = "maxpool" if isinstance(m, nn.MaxPool2d) else "avgpool"
        plain = (not m.ceil_mode and (kind == "avgpool" or _pair(m.dilation) == (1, 1))
                 and (kind == "maxpool" or (m.count_include_pad and m.divisor_override is None)))
        if not plain:
            raise unsupported(node, type(m).__name__, "with ceil_mode, dilation, "
                              "count_include_pad=False or divisor_override")
        x, (top, bottom, left, right) = self.source(node, pads=True)
        ph, pw = _pair(m.padding)
        self.add(node, kind, (x,), kernel=_pair(m.kernel_size),
                 stride=_pair(m.stride or m.kernel_size),
                 padding=(ph + top, ph + bottom, pw + left, pw + right))

    def global_pool(self, node: fx.Node, size: Any) -> None:
        if _pair(size) != (1, 1):
            raise unsupported(node, "adaptive_avg_pool2d", f"to {size}; only output size 1 is")
        self.add(node, "global_avgpool", (self.source(node)[0],))

    def mean(self, node: fx.Node) -> None:
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
        keep = node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False)
        if dim is None or sorted(d % 4 for d in (dim if isinstance(dim, tuple | list)
                                                 else (dim,))) != [2, 3]:
            raise unsupported(node, "mean", f"over dim {dim}; only the mean over (2, 3) is")
        x = self.source(node)[0]
        channels = int(node.meta["tensor_meta"].shape[1])
        self.add(node, "global_avgpool", (x,), shape=(channels, 1, 1))
        if not keep:  # (C,): the flatten of the (C, 1, 1) global pool
            self.add(node, "flatten", (self.tensor[node.name],), shape=(channels,),
                     suffix=".flatten")

    def flatten(self, node: fx.Node, start_dim: int = 1, end_dim: int = -1) -> None:
        if (start_dim, end_dim) != (1, -1):
            raise unsupported(node, "flatten", f"from dim {start_dim} to {end_dim}; only "
                              "flatten(x, 1) is")
        x = self.source(node)[0]
        if x != INPUT and len(self.ops[x].out_shape) == 1:
            self.tensor[node.name] = x  # already flat
        else:
            self.add(node, "flatten", (x,))

    def linear(self, node: fx.Node, m: nn.Linear) -> None:
        bias = m.bias if m.bias is not None else m.weight.new_zeros(m.out_features)
        self.add(node, "linear", (self.source(node)[0],), weight=_array(m.weight),
                 bias=_array(bias))

    def add_op(self, node: fx.Node) -> None:
        if node.kwargs.get("alpha", 1) != 1 or len(node.args) != 2:
            raise unsupported(node, "add", "with alpha or not two tensors")
        a, b = self.source(node, 0)[0], self.source(node, 1)[0]
        shapes = {self.arg(node, i).meta["tensor_meta"].shape for i in (0, 1)}
        if len(shapes) != 1:
            raise unsupported(node, "add", f"of shapes {sorted(map(tuple, shapes))} "
                              "(broadcasting)")
        self.add(node, "add", (a, b))

    # ---- dispatch ------------------------------------------------------------------------
    def visit(self, node: fx.Node) -> None:
        if node.op == "placeholder":
            if INPUT in self.tensor.values():
                raise unsupported(node, "input", "is a second input; one image input is")
            self.tensor[node.name] = INPUT
        elif node.op == "output":
            out = node.args[0]
            if not isinstance(out, fx.Node):
                raise unsupported(node, "output", "returns more than one tensor")
            self.output = self.source(node)[0]
        elif node.op == "call_module":
            m = self.modules[str(node.target)]
            handler = next((h for t, h in MODULES if isinstance(m, t)), None)
            if handler is None:
                raise unsupported(node, type(m).__name__)
            handler(self, node, m)
        elif node.op == "call_function" and node.target in FUNCTIONS:
            FUNCTIONS[node.target](self, node)
        elif node.op == "call_method" and node.target in METHODS:
            METHODS[str(node.target)](self, node)
        else:
            name = getattr(node.target, "__name__", str(node.target))
            raise unsupported(node, f"{node.op} {name}")

    def finish(self) -> list[Op]:
        if self.pads:
            pad = next(iter(self.pads))
            raise FixynnError(f"zero padding {pad!r} feeds no conv or pool; fixynn.frontend "
                              f"supports {SUPPORTED}")
        if self.output is None or self.output == INPUT:
            raise FixynnError(f"the model computes nothing fixynn.frontend can map; it "
                              f"supports {SUPPORTED}")
        return list(self.ops.values())


Handler = Callable[[Walker, fx.Node, Any], None]
# Order matters where types nest: ReLU6 is a Hardtanh.
MODULES: tuple[tuple[type, Handler], ...] = (
    (nn.Conv2d, Walker.conv),
    (nn.BatchNorm2d, Walker.batchnorm),
    (nn.ReLU, lambda w, n, m: w.activation(n, "relu")),
    (nn.Hardtanh, Walker.hardtanh),
    (nn.Identity | nn.modules.dropout._DropoutNd, lambda w, n, m: w.alias(n)),
    (nn.ZeroPad2d, lambda w, n, m: w.zero_pad(n, m.padding)),
    (nn.MaxPool2d | nn.AvgPool2d, Walker.pool),
    (nn.AdaptiveAvgPool2d, lambda w, n, m: w.global_pool(n, m.output_size)),
    (nn.Flatten, lambda w, n, m: w.flatten(n, m.start_dim, m.end_dim)),
    (nn.Linear, Walker.linear),
)


def _relu6_function(w: Walker, n: fx.Node) -> None:
    w.activation(n, "relu6")


def _relu_function(w: Walker, n: fx.Node) -> None:
    w.activation(n, "relu")


def _flatten_function(w: Walker, n: fx.Node) -> None:
    w.flatten(n, *n.args[1:], **n.kwargs)


FUNCTIONS: dict[Any, Callable[[Walker, fx.Node], None]] = {
    operator.add: Walker.add_op,
    operator.iadd: Walker.add_op,
    torch.add: Walker.add_op,
    F.relu: _relu_function,
    torch.relu: _relu_function,
    F.relu6: _relu6_function,
    torch.flatten: _flatten_function,
    torch.mean: Walker.mean,
    F.dropout: Walker.alias,
    F.pad: lambda w, n: w.zero_pad(n, n.args[1] if len(n.args) > 1 else n.kwargs["pad"],
                                   n.kwargs.get("value", 0.0) or 0.0),
    F.adaptive_avg_pool2d: lambda w, n: w.global_pool(
        n, n.args[1] if len(n.args) > 1 else n.kwargs["output_size"]),
}
METHODS: dict[str, Callable[[Walker, fx.Node], None]] = {
    "add": Walker.add_op,
    "relu": _relu_function,
    "relu_": _relu_function,
    "flatten": _flatten_function,
    "mean": Walker.mean,
}


def trace_ops(model: nn.Module, example: torch.Tensor
              ) -> tuple[list[Op], dict[str, str], fx.GraphModule]:
    """(ops in execution order, op name -> module path, the traced GraphModule) of
    `model` in eval mode on `example` (a batch of one or more inputs)."""
    try:
        gm = fx.symbolic_trace(model)
    except Exception as exc:  # torch.fx raises many types on dynamic control flow
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FixynnError(f"{type(model).__name__}: torch.fx cannot trace it ({first}); "
                          "remove data-dependent control flow from forward()") from exc
    ShapeProp(gm).propagate(example)
    walker = Walker(gm)
    for node in gm.graph.nodes:
        walker.visit(node)
    ops = walker.finish()
    return ops, walker.paths, gm
