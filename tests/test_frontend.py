"""fixynn.frontend: nn.Module -> traced units; the float execution of every unit equals the
module's own value there (float64, so a wrong fold, pad or activation cannot hide)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

from fixynn.errors import FixynnError
from fixynn.frontend import Network, run_network, run_unit, trace_model
from fixynn.nn.model import MobileNetV1


def conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out)]


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN, identity or 1x1 stride-2 shortcut, add, ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = conv_bn(c_in, c_out, 3, stride)
        self.conv2, self.bn2 = conv_bn(c_out, c_out, 3)
        self.shortcut = (nn.Sequential(*conv_bn(c_in, c_out, 1, stride))
                         if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class TinyResNet(nn.Module):
    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.conv, self.bn = conv_bn(3, 8, 3)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.layers = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 16, 2))
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.bn(self.conv(x))))
        return self.fc(torch.flatten(self.avg(self.layers(x)), 1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, ReLU6, 3x3 depthwise (stride 2: asymmetric F.pad),
    ReLU6, 1x1 linear projection, add when shapes allow."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = c_in * expand
        self.stride, self.residual = stride, stride == 1 and c_in == c_out
        self.expand = nn.Sequential(*conv_bn(c_in, mid, 1), nn.ReLU6())
        self.dw = nn.Conv2d(mid, mid, 3, stride, 1 if stride == 1 else 0, groups=mid,
                            bias=False)
        self.dw_bn = nn.BatchNorm2d(mid)
        self.project = nn.Sequential(*conv_bn(mid, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expand(x)
        if self.stride == 2:
            h = F.pad(h, (0, 1, 0, 1))
        h = self.project(F.relu6(self.dw_bn(self.dw(h))))
        return x + h if self.residual else h


class TinyMobileNetV2(nn.Module):
    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(*conv_bn(3, 8, 3, 2), nn.ReLU6()),
            InvertedResidual(8, 8, 1, 1),
            InvertedResidual(8, 12, 2, 4),
            InvertedResidual(12, 12, 1, 4),
            nn.Sequential(*conv_bn(12, 32, 1), nn.ReLU6()),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(32, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean((2, 3)))


def randomized(model: nn.Module, seed: int = 0) -> nn.Module:
    """`model` in float64 eval mode with non-trivial BatchNorm statistics and affine terms
    (defaults would make BN folding nearly the identity)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=gen) - 0.5)
            m.running_var.copy_(0.5 + 2 * torch.rand(c, generator=gen))
            m.weight.data.copy_(0.5 + torch.rand(c, generator=gen))
            m.bias.data.copy_(torch.rand(c, generator=gen) - 0.3)
    return model.double().eval()


def node_values(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The value of every torch.fx node of `model` on `x`."""
    interp = fx.Interpreter(fx.symbolic_trace(model), garbage_collect_values=False)
    with torch.no_grad():
        interp.run(x)
    return {node.name: value for node, value in interp.env.items()}


def assert_units_match(model: nn.Module, net: Network, x: torch.Tensor) -> None:
    """Each unit, fed the module's own value at its input, gives the module's value at its
    output; the whole description gives the module's output."""
    values = node_values(model, x)
    feed = x
    for unit in net.units:
        want = values[unit.ops[-1].source]
        got = run_unit(unit, feed)
        assert got.shape == want.shape, unit.name
        assert torch.allclose(got, want, rtol=1e-9, atol=1e-9), unit.name
        feed = want
    with torch.no_grad():
        assert torch.allclose(run_network(net, x), model(x), rtol=1e-9, atol=1e-9)


def test_resnet_style_units_and_float_equality() -> None:
    model = randomized(TinyResNet())
    x = torch.randn(3, 3, 16, 16, dtype=torch.float64)
    net = trace_model(model, x)
    assert net.unit_names() == ["stem", "layers.0", "layers.1", "head"]
    stem, first, second, head = net.units
    assert [(op.kind, op.activation) for op in stem.ops] == [("conv", "relu"), ("maxpool", "none")]
    assert stem.ops[1].padding == (1, 1, 1, 1) and stem.ops[1].stride == (2, 2)
    # identity shortcut: the add reads the block input; ReLU after the add is fused into it
    add = first.ops[-1]
    assert (add.kind, add.activation, add.inputs[1]) == ("add", "relu", first.input)
    # downsampling shortcut: a 1x1 stride-2 conv, linear (BN folded, no activation)
    shortcut = next(op for op in second.ops if op.name == "layers.1.shortcut.0")
    assert (shortcut.kind, shortcut.stride, shortcut.activation) == ("conv", (2, 2), "none")
    assert [op.kind for op in head.ops] == ["global_avgpool", "flatten", "linear"]
    assert head.ops[-1].out_shape == (5,)
    assert_units_match(model, net, x)


def test_mobilenet_v2_style_units_padding_and_float_equality() -> None:
    model = randomized(TinyMobileNetV2(), seed=1)
    x = torch.randn(2, 3, 20, 20, dtype=torch.float64)
    net = trace_model(model, x)
    assert net.unit_names() == [f"features.{i}" for i in range(5)] + ["head"]
    kinds = [[op.kind for op in unit.ops] for unit in net.units]
    assert kinds[1] == ["conv", "conv", "conv", "add"] and kinds[2] == ["conv"] * 3
    dw = net.units[2].ops[1]
    # F.pad (left 0, right 1, top 0, bottom 1) folded into the stride-2 depthwise conv
    assert (dw.groups, dw.padding, dw.stride, dw.out_shape) == (32, (0, 1, 0, 1), (2, 2),
                                                                (32, 5, 5))
    project = net.units[3].ops[2]
    assert (project.kind, project.activation) == ("conv", "none")  # linear bottleneck
    assert_units_match(model, net, x)


def test_builtin_mobilenet_v1_traces_to_its_blocks() -> None:
    model = randomized(MobileNetV1(10, width=0.25, input_size=28), seed=2)
    x = torch.rand(2, 1, 28, 28, dtype=torch.float64)
    net = trace_model(model, x)
    assert net.unit_names() == [f"blocks.{i}" for i in range(14)] + ["head"]
    assert [len(u.ops) for u in net.units[:14]] == [1] + [2] * 13
    assert all(op.activation == "relu6" for u in net.units[:14] for op in u.ops)
    assert [op.groups for op in net.units[1].ops] == [8, 1]  # depthwise then pointwise
    assert_units_match(model, net, x)


def test_named_split_points() -> None:
    model = randomized(TinyResNet())
    x = torch.randn(1, 3, 16, 16, dtype=torch.float64)
    net = trace_model(model, x, split_points=["layers.0", "layers.1"])
    assert net.unit_names() == ["layers.0", "layers.1", "head"]
    assert [op.kind for op in net.units[0].ops][:2] == ["conv", "maxpool"]  # stem included
    assert_units_match(model, net, x)


def test_split_point_inside_a_residual_block_is_refused() -> None:
    model = randomized(TinyResNet())
    with pytest.raises(FixynnError, match=r"tensors \['pool'\] cross its boundary"):
        trace_model(model, torch.randn(1, 3, 16, 16, dtype=torch.float64),
                    split_points=["layers.0.conv1"])
    with pytest.raises(FixynnError, match="split point 'nope' names no traced op"):
        trace_model(model, torch.randn(1, 3, 16, 16, dtype=torch.float64), split_points=["nope"])


class WithSigmoid(nn.Module):
    def __init__(self, gate: nn.Module | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return self.gate(x) if self.gate is not None else x * torch.sigmoid(x)


class SharedConvOutput(nn.Module):
    """conv -> Identity -> BN, while the conv's own output is also used: no fold."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.same = nn.Identity()
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        return self.bn(self.same(h)) + h


class BnFirst(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(3)
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.bn(x))


@pytest.mark.parametrize(("model", "message"), [
    (WithSigmoid(nn.Sigmoid()), r"^'gate' \(Sigmoid\) is not supported; fixynn.frontend "
                                r"supports modules Conv2d"),
    (WithSigmoid(), r"^'<top level>' \(call_function sigmoid\) is not supported"),
    (BnFirst(), r"^'bn' \(BatchNorm2d\) must directly follow a conv whose output has no "
                r"other use"),
    (SharedConvOutput(), r"^'bn' \(BatchNorm2d\) must directly follow a conv whose output "
                         r"has no other use"),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.ReLU6()),
     r"^'2' \(relu6\) must directly follow a conv / linear / add"),
    (nn.Sequential(nn.Conv2d(3, 4, 3, dilation=2)), r"^'0' \(Conv2d\) with dilation"),
])
def test_unsupported_module_or_pattern_is_one_line(model: nn.Module, message: str) -> None:
    with pytest.raises(FixynnError, match=message) as err:
        trace_model(model, torch.randn(1, 3, 8, 8))
    assert "\n" not in str(err.value)


def test_training_mode_is_restored_and_example_checked() -> None:
    model = TinyResNet().train()
    trace_model(model, torch.randn(2, 3, 16, 16))
    assert model.training
    with pytest.raises(FixynnError, match=r"example input has shape \(3, 16, 16\)"):
        trace_model(model, torch.randn(3, 16, 16))


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_sequential_with_same_padding_hardtanh_and_pooling() -> None:
    model = randomized(nn.Sequential(
        nn.Conv2d(3, 4, 4, padding="same"), nn.BatchNorm2d(4), nn.Hardtanh(0.0, 6.0),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 5 * 5, 3)), seed=3)
    x = torch.randn(2, 3, 10, 10, dtype=torch.float64)
    net = trace_model(model, x)
    conv = net.units[0].ops[0]
    # PyTorch's "same" for an even kernel: total 3, the extra one at the bottom / right
    assert (conv.padding, conv.activation, conv.out_shape) == ((1, 2, 1, 2), "relu6", (4, 10, 10))
    assert [op.kind for op in net.ops] == ["conv", "avgpool", "flatten", "linear"]
    assert_units_match(model, net, x)


def test_traced_per_side_padding_passes_into_the_hwgraph_unchanged() -> None:
    """The frontend's (top, bottom, left, right) is the HwGraph's order: a traced SAME-padded
    stride-2 conv and a padded max pool, built as HwGraph nodes from the ops' own fields,
    give golden == the float execution (integer weights and pixels: exact in float64)."""
    import numpy as np

    from fixynn.hw.golden import run_graph
    from fixynn.hw.ir import HwGraph, HwLayer, HwPool

    model = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(1, 2, 3, 2, bias=False),
                          nn.ReLU(), nn.MaxPool2d(3, 2, padding=(1, 0)))
    with torch.no_grad():
        model[1].weight.copy_(torch.randint(-7, 8, (2, 1, 3, 3)))
    x = torch.randint(0, 16, (2, 1, 8, 7), dtype=torch.float64)
    conv, pool = trace_model(model.double(), x).ops
    assert (conv.padding, pool.padding) == ((0, 1, 0, 1), (1, 1, 0, 0))
    layer = HwLayer(name="c", kind="conv", in_channels=1, out_channels=2, kernel=3,
                    stride=conv.stride[0], padding=conv.padding, weight=conv.weight,
                    bias=np.zeros(2), weight_bits=4, weight_frac=np.zeros(2), in_bits=4,
                    in_frac=0, out_bits=12, out_frac=0, activation="relu")
    hw_pool = HwPool("p", "maxpool", (), 2, layer.out_format, kernel=pool.kernel[0],
                     stride=pool.stride[0], padding=pool.padding)
    graph = HwGraph("traced", 1, 8, 7, (layer, hw_pool), input_bits=4, input_frac=0)
    (golden,) = run_graph(graph, x.numpy().astype(np.int64), keep_all=False)
    np.testing.assert_array_equal(golden, run_network(trace_model(model, x), x).numpy())
    assert golden.shape == (2, 2, 2, 1) and golden.max() > 0


def test_frontend_kind_names_are_the_hwgraph_kinds() -> None:
    """An exporter maps op kinds by name: the pools and add are spelled alike in both."""
    from fixynn.frontend import KINDS as OPS
    from fixynn.hw.kinds import KINDS

    shared = {"add", "maxpool", "avgpool", "global_avgpool"}
    assert shared <= set(OPS) and shared <= set(KINDS)
    # a traced conv becomes conv, depthwise or pointwise by its groups and kernel; linear and
    # flatten belong to the programmable back end
    assert set(OPS) - set(KINDS) == {"linear", "flatten"}
