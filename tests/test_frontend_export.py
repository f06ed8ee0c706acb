"""fixynn.frontend.to_hwgraph: a PyTorch module's first units -> an integer HwGraph, in one
call. The golden executor equals an independent torch reference of the IR's integer
semantics and the fast torch executor bit for bit; the integer outputs stay within a stated
distance of the float ones; bad input is one line."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fixynn.errors import FixynnError
from fixynn.frontend import to_hwgraph
from fixynn.frontend.exact import run_graph_torch
from fixynn.frontend.export import choose_format
from fixynn.frontend.gap import GapReport
from fixynn.hw.golden import run_graph
from fixynn.hw.ir import HwAdd, HwGraph, HwPool, load_graph, save_graph
from fixynn.hw.kinds.add import out_range as add_range
from fixynn.hw.lower import lower
from fixynn.hw.numfmt import TensorFormat
from fixynn.hw.sim import verify_graph
from fixynn.nn.efficientnet_lite import efficientnet_lite0, normalize
from fixynn.nn.model import MobileNetV1
from test_efficientnet_lite import sample_batch
from test_frontend import (
    BasicBlock,
    InvertedResidual,
    TinyMobileNetV2,
    TinyResNet,
    conv_bn,
    randomized,
)


class ResNetish(nn.Module):
    """A ResNet-style front-end the IR can hold: a strided conv stem instead of a max pool."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(3, 8, 3, 2), nn.ReLU())
        self.layers = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 16, 2),
                                    BasicBlock(16, 16, 1))
        self.fc = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.layers(self.stem(x)).mean((2, 3)))


class MobileNetV2ish(nn.Module):
    """TinyMobileNetV2 with symmetric padding everywhere (stride-2 depthwise padding 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(*conv_bn(3, 8, 3, 2), nn.ReLU6()),
            InvertedResidual(8, 8, 1, 1),
            InvertedResidual(8, 12, 2, 4),
            InvertedResidual(12, 12, 1, 4),
        )
        self.features[2].dw.padding, self.features[2].stride = (1, 1), 1  # no F.pad
        self.features[2].dw.stride = (2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean((2, 3))


def seeded(make: Callable[[], nn.Module], seed: int = 0) -> nn.Module:
    """`make()` with seeded weights (whatever ran before) and random BatchNorm statistics."""
    torch.manual_seed(seed)
    return randomized(make(), seed)


def images(count: int, size: int, seed: int = 0) -> torch.Tensor:
    """Smooth random uint8 images (blurred noise: neighbouring pixels correlate, as in photos)."""
    gen = torch.Generator().manual_seed(seed)
    x = F.avg_pool2d(torch.rand(count, 3, size + 4, size + 4, generator=gen), 5, 1)
    x = (x - x.amin((1, 2, 3), keepdim=True)) / (x.amax((1, 2, 3), keepdim=True)
                                                 - x.amin((1, 2, 3), keepdim=True))
    return (x * 255).round().to(torch.uint8)


def reference(graph: HwGraph, pixels: torch.Tensor) -> dict[str, np.ndarray]:
    """The IR's semantics in real numbers, float64 (docs/ir.md): each tensor is its value
    q * 2^-frac; a node computes its real accumulator from real weights W * 2^-wf and bias
    b * 2^-(in_frac + wf), then rounds half up onto its output grid and clamps. Every value
    is a dyadic rational float64 holds exactly, so this is exact, and independent of both
    executors (no shifts, no integer accumulators)."""
    formats = graph.tensor_formats()
    real = {"input": pixels.double() * 2.0**-graph.input_frac}
    out = {}
    for node in graph.layers:
        fmt = node.out_format
        if isinstance(node, HwPool):  # a max of exactly held values is exact (the test's pools)
            assert node.kind == "maxpool", "reference: max pools only"
            top, bottom, left, right = node.padding
            x = F.pad(real[node.inputs[0]], (left, right, top, bottom), value=-math.inf)
            out[node.name] = (F.max_pool2d(x, node.kernel, node.stride) * 2.0**fmt.frac).long(
                ).numpy()
            real[node.name] = F.max_pool2d(x, node.kernel, node.stride)
            continue
        if isinstance(node, HwAdd):
            acc = real[node.inputs[0]] + real[node.inputs[1]]
            lo, hi = add_range(node)
        else:
            wf = torch.from_numpy(node.weight_frac).double()
            w = torch.from_numpy(node.weight).double() * torch.exp2(-wf).reshape(-1, 1, 1, 1)
            in_frac = formats[node.inputs[0]].frac
            b = torch.from_numpy(node.bias).double() * torch.exp2(-(wf + in_frac))
            top, bottom, left, right = node.padding
            x = F.pad(real[node.inputs[0]], (left, right, top, bottom))
            acc = F.conv2d(x, w, b, node.stride, 0, 1, node.groups)
            lo, hi = node.act_lo, node.act_hi
        q = torch.clamp(torch.floor(acc * 2.0**fmt.frac + 0.5), lo, hi)
        out[node.name] = q.long().numpy()
        real[node.name] = q * 2.0**-fmt.frac
    return out


def assert_exact(graph: HwGraph, pixels: torch.Tensor) -> None:
    """golden == the real-number reference == the torch executor, every node."""
    golden = dict(zip([n.name for n in graph.layers], run_graph(graph, pixels.numpy()),
                      strict=True))
    ref = reference(graph, pixels)
    fast = run_graph_torch(graph, pixels, list(golden))
    for name, value in golden.items():
        assert np.array_equal(value, ref[name]), name
        assert np.array_equal(value, fast[name].numpy()), name
    assert len({int(v.max()) for v in golden.values()}) > 1  # not all zero / saturated


def assert_close(gap: GapReport) -> None:
    """The tolerance of the small test modules: every unit >= 30 dB, every error below 8% of
    the unit's float range."""
    assert all(u.snr_db >= 30 for u in gap.units), gap.table()
    assert all(u.max_abs_error < 0.08 * u.float_max_abs for u in gap.units), gap.table()


def test_resnet_style_one_call() -> None:
    model = seeded(ResNetish)
    pixels = images(24, 16)
    out = to_hwgraph(model, pixels[:1].double() / 256, 4, pixels[:16],
                     check_images=pixels[16:])
    g = out.graph
    assert [u.unit for u in out.gap.units] == ["stem", "layers.0", "layers.1", "layers.2"]
    kinds = {n.name: (n.kind, n.activation) for n in g.layers}
    assert kinds["layers.1.shortcut.0"] == ("pointwise", "none")  # 1x1 stride 2, BN folded
    assert g.layers[0].name == "stem.0" and g.layers[0].inputs == ("input",)  # no input layer
    adds = [n for n in g.layers if isinstance(n, HwAdd)]
    assert [(a.activation, a.out_format.signed) for a in adds] == [("relu", False)] * 3
    # the identity shortcut's add reads the block input in its own format
    assert adds[0].in_formats[1] == g.tensor_formats()["stem.0"]
    shortcut = next(n for n in g.layers if n.name == "layers.1.shortcut.0")
    assert shortcut.out_format.signed and adds[1].in_formats[1].signed
    assert g.outputs == ("add_2",) and g.meta["units"][-1] == "layers.2"
    assert_exact(g, pixels)
    # stated tolerance, on images calibration did not see (8-bit weights and activations,
    # random BatchNorm; measured 40.8-47.3 dB, the largest error 1.4% of the unit's float
    # range): every unit >= 30 dB, every error < 8% of the range (unseeded models that
    # calibration chose to clip reached 3.8%)
    assert_close(out.gap)


def test_mobilenet_v2_style_one_call() -> None:
    model = seeded(MobileNetV2ish, 1)
    pixels = images(20, 20, seed=1)
    out = to_hwgraph(model, pixels[:1].double() / 256, 4, pixels)
    g = out.graph
    by_name = {n.name: n for n in g.layers}
    project = by_name["features.1.project.0"]
    assert (project.kind, project.activation, project.out_format.signed) == (
        "pointwise", "none", True)  # linear bottleneck: signed
    dw = by_name["features.2.dw"]
    assert (dw.kind, dw.stride, dw.padding) == ("depthwise", 2, (1, 1, 1, 1))
    expand = by_name["features.3.expand.0"]
    assert expand.in_signed and expand.in_format == by_name["features.2.project.0"].out_format
    first, second = (n for n in g.layers if isinstance(n, HwAdd))
    # x + h: the block input (the stem's ReLU6 output, unsigned) and the linear projection
    assert first.activation == "none" and first.out_format.signed
    assert [f.signed for f in first.in_formats] == [False, True]
    assert [f.signed for f in second.in_formats] == [True, True]
    assert_exact(g, pixels)
    assert_close(out.gap)  # measured 38.3-46.6 dB, the largest error 1.3% of the range


def test_resnet_with_max_pool_stem() -> None:
    model = seeded(TinyResNet, 2)
    pixels = images(8, 16, seed=2)
    out = to_hwgraph(model, pixels[:1].double() / 256, 3, pixels)
    pool = next(n for n in out.graph.layers if isinstance(n, HwPool))
    assert (pool.kind, pool.kernel, pool.stride, pool.padding) == ("maxpool", 3, 2, (1, 1, 1, 1))
    assert pool.out_format == out.graph.tensor_formats()["conv"]  # passes through
    assert_exact(out.graph, pixels)
    assert_close(out.gap)


def test_asymmetric_padding_maps_to_per_side_padding() -> None:
    model = seeded(TinyMobileNetV2, 1)
    pixels = images(8, 20, seed=2)
    out = to_hwgraph(model, pixels[:1].double() / 256, 4, pixels)
    dw = next(n for n in out.graph.layers if n.name == "features.2.dw")
    assert dw.padding == (0, 1, 0, 1)  # F.pad (left 0, right 1, top 0, bottom 1)
    assert_exact(out.graph, pixels)


def test_input_normalisation_layer_is_exact_and_pads_with_normalised_zero() -> None:
    model = seeded(lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1)), 4)
    pixels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16).repeat(2, 3, 1, 1)
    pixels[1] = 127  # the normalised image is all zero: every output is the bias alone
    out = to_hwgraph(model, pixels[:1].double(), 1, pixels, pixel_offset=127, pixel_scale=128)
    norm, conv = out.graph.layers
    assert (norm.name, norm.kind, norm.out_format.signed, norm.out_format.bits,
            norm.out_format.frac) == ("input_norm", "depthwise", True, 9, 7)
    assert norm.shift.tolist() == [0, 0, 0]  # no rounding: the integer is p - 127
    values = run_graph(out.graph, pixels.numpy())
    assert np.array_equal(values[0][0], pixels[0].long().numpy() - 127)
    # a constant 127 image is zero in the model's space, borders included (zero padding):
    # every output is the requantized bias, the same at every position
    s = conv.shift.reshape(-1, 1, 1)
    bias_only = np.clip((conv.bias.reshape(-1, 1, 1) + (1 << (s - 1))) >> s, conv.act_lo,
                        conv.act_hi)
    assert (s > 0).all() and np.array_equal(values[1][1], np.broadcast_to(bias_only, (4, 16, 16)))
    assert_close(out.gap)


def test_exported_graph_saves_and_loads(tmp_path: Path) -> None:
    model = seeded(MobileNetV2ish, 3)
    pixels = images(4, 20, seed=3)
    g = to_hwgraph(model, pixels[:1].double(), 3, pixels, pixel_offset=(120, 127, 130),
                   pixel_scale=64).graph
    back = load_graph(save_graph(g, tmp_path / "g"))
    assert [n.name for n in back.layers] == [n.name for n in g.layers]
    assert back.layers[0].bias.tolist() == [-120, -127, -130]
    assert back.meta["pixel_scale"] == 64 and back.meta["calibration_images"] == 4
    for a, b in zip(run_graph(g, pixels.numpy()), run_graph(back, pixels.numpy()),
                    strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(("model", "n", "kwargs", "message"), [
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(144, 2)), 2, {},
     r"^unit '1': op '1' \(flatten\) has no integer kind; the integer export supports "
     r"conv \(groups 1"),
    (nn.Sequential(nn.Conv2d(3, 6, 3, groups=3)), 1, {}, r"op '0' \(conv with groups 3\)"),
    (nn.Sequential(nn.Conv2d(3, 4, (3, 1))), 1, {}, r"kernel \(3, 1\) stride \(1, 1\): not "
                                                    "square"),
    (nn.Sequential(nn.Conv2d(3, 4, 3)), 2, {}, r"^n_units = 2: the network has 1 units "
                                               r"\(head\); export 1..1"),
    (nn.Sequential(nn.Conv2d(3, 4, 3)), 1, {"pixel_scale": 58}, r"^pixel_scale 58 is not a "
                                                                 "power of two"),
    (nn.Sequential(nn.Conv2d(3, 4, 3)), 1, {"pixel_offset": (1, 2)}, r"^pixel_offset \(1, 2\)"),
])
def test_bad_input_is_one_line(model: nn.Module, n: int, kwargs: dict, message: str) -> None:
    pixels = images(2, 8)
    with pytest.raises(FixynnError, match=message) as err:
        to_hwgraph(model, pixels[:1].float(), n, pixels, **kwargs)
    assert "\n" not in str(err.value)


def test_calibration_images_are_checked() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    with pytest.raises(FixynnError, match=r"^calib_images: expected uint8 images of shape "
                                          r"\(B, 3, 8, 8\), got \(2, 3, 9, 9\)"):
        to_hwgraph(model, torch.zeros(1, 3, 8, 8), 1, images(2, 9))
    with pytest.raises(FixynnError, match=r"^calib_images: pixels must be 0..255"):
        to_hwgraph(model, torch.zeros(1, 3, 8, 8), 1, torch.full((1, 3, 8, 8), 300.0))


def test_format_holds_the_peak_or_trades_a_rare_outlier_for_resolution() -> None:
    relu6 = np.linspace(0, 6, 1001)
    assert choose_format("relu6", 8, relu6) == TensorFormat(False, 8, 5)  # 6 needs 3 bits
    assert choose_format("relu", 4, np.array([0.0, 0.5, 1.75])) == TensorFormat(False, 4, 3)
    values = np.random.default_rng(0).normal(0, 1, 10_000)
    values[0] = 20.0  # one outlier: clipping it to 16 (frac 3) costs less than the
    assert choose_format("none", 8, values) == TensorFormat(True, 8, 3)  # coarser grid
    assert choose_format("none", 8, np.zeros(4)) == TensorFormat(True, 8, 7)


def test_bias_correction_removes_the_mean_weight_rounding_error() -> None:
    torch.manual_seed(5)
    conv = nn.Conv2d(3, 8, 3, padding=1).double()
    with torch.no_grad():  # large weights of both signs that nearly cancel: edge detectors
        conv.weight.copy_(13 * torch.randn_like(conv.weight))
        conv.weight.sub_(conv.weight.mean((1, 2, 3), keepdim=True))
    model, pixels = nn.Sequential(conv), images(32, 12, seed=5)
    mean_error = []
    for correct in (False, True):
        # inputs p / 256, mean ~0.5: the rounding errors of a channel's weights add up
        out = to_hwgraph(model, pixels[:1].double(), 1, pixels, bias_correction=correct)
        (q,) = run_graph(out.graph, pixels.numpy(), keep_all=False)
        real = q * 2.0**-out.graph.layers[-1].out_frac
        want = model(out.norm.apply(pixels, torch.float64)).detach().numpy()
        mean_error.append(np.abs((real - want).mean((0, 2, 3))).max())
        assert out.graph.meta["bias_correction"] is correct
    assert mean_error[1] < 0.2 * mean_error[0], mean_error  # measured 0.338 -> 0.0028


def test_efficientnet_lite0_stem_and_blocks_exact() -> None:
    # 32 x 32: every stride-2 layer sees an even map, so SAME pads only the bottom / right
    model = efficientnet_lite0(32)
    pixels = torch.cat([sample_batch(32), images(6, 32, seed=6)])
    out = to_hwgraph(model, normalize(pixels[:1]), 5, pixels, pixel_offset=127,
                     pixel_scale=128, executor="torch")
    g = out.graph
    assert g.layers[0].name == "input_norm" and g.layers[1].in_format.bits == 9
    assert [n.name for n in g.layers if isinstance(n, HwAdd)] == ["add"]  # block 2
    assert g.meta["units"] == ["stem", "_blocks.0", "_blocks.1", "_blocks.2", "_blocks.3"]
    assert g.output_shape == (40, 4, 4)
    assert g.layers[1].padding == (0, 1, 0, 1)  # the stem: 3x3 stride 2 on 32 x 32
    assert_exact(g, pixels)
    # measured on these 8 images (8-bit everything): 36.4, 28.0, 27.0, 25.1, 24.6 dB
    assert all(u.snr_db >= floor for u, floor in zip(out.gap.units, (33, 25, 24, 22, 22),
                                                      strict=True)), out.gap.table()


def _exported(which: str) -> HwGraph:
    if which == "mobilenet_v1":  # a chain of ReLU6 layers
        model = seeded(lambda: MobileNetV1(10, width=0.25, input_size=28), 7)
        pixels = images(8, 28, seed=7)[:, :1]
        return to_hwgraph(model, pixels[:1].double() / 256, 3, pixels).graph
    model = seeded(ResNetish if which == "resnet" else MobileNetV2ish, 7)
    pixels = images(8, 16, seed=7)
    return to_hwgraph(model, pixels[:1].double() / 256, 3, pixels).graph


@pytest.mark.slow
@pytest.mark.parametrize("which", ["mobilenet_v1", "resnet", "mobilenet_v2"])
def test_exported_graph_is_bit_exact_in_rtl(which: str, tmp_path: Path) -> None:
    """Exported graphs through the RTL: a chain of ReLU6 layers, MobileNetV2 blocks (signed
    projections, residual adds) and ResNet blocks (the stride-2 block's projection shortcut:
    an add of two computed branches)."""
    graph = _exported(which)
    if which == "resnet":  # the projection shortcut's 1x1 conv is the add's buffered input
        add = next(s for s in lower(graph).stages if s.layer.name == "add_1")
        assert add.layer.inputs[add.skip] == "layers.1.shortcut.0" and add.skip_depth > 0
    pixels = images(2, graph.input_height, seed=8)[:, :graph.input_channels]
    result = verify_graph(graph, pixels.numpy(), tmp_path, cache_dir=tmp_path / "cache")
    assert result.mismatches == 0, result.to_json()
    assert result.outputs_compared == 2 * sum(c * h * w for c, h, w in graph.shapes())
