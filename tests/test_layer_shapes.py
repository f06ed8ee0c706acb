"""`fixynn.frontend.layer_shapes` and the layer file: any traced model as the cost models'
plain-data layers, one source of truth with `mobilenet_v1_layers`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from fixynn.arch import (
    LAYERS_SCHEMA,
    LayerShape,
    back_end_layers,
    front_end_layers,
    load_layers,
    max_split,
    mobilenet_v1_layers,
    save_layers,
    with_classes,
)
from fixynn.errors import FixynnError
from fixynn.frontend import layer_shapes, trace_model
from fixynn.nn.efficientnet_lite import BLOCKS, EfficientNetLite0
from fixynn.nn.model import MobileNetV1


class Residual(nn.Module):
    """conv-BN-ReLU, conv, add the input (a ResNet basic block, identity shortcut)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(torch.relu(self.bn1(self.conv1(x)))) + x)


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.layers = nn.Sequential(Residual(8), nn.Sequential(
            nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 16, 1), nn.AvgPool2d(2)))
        self.fc = nn.Linear(16 * 2 * 2, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.pool(torch.relu(self.stem(x))))
        return self.fc(torch.flatten(x, 1))


def unnamed(layers: list[LayerShape]) -> list[LayerShape]:
    return [replace(layer, name="") for layer in layers]


@pytest.mark.parametrize("width, size, channels, classes, plan", [
    (0.25, 28, 1, 10, "small"), (0.5, 64, 3, 1000, "imagenet")])
def test_builtin_mobilenet_v1_gives_mobilenet_v1_layers(width: float, size: int, channels: int,
                                                        classes: int, plan: str) -> None:
    model = MobileNetV1(classes, width, size, channels, plan)
    traced = layer_shapes(model, torch.zeros(1, channels, size, size))
    ref = mobilenet_v1_layers(width, size, channels, classes, plan)
    # The same geometry, block by block; the trace also has the head's global average pool
    # (mobilenet_v1_layers leaves it out), in the classifier's block.
    pool = LayerShape("", 14, "global_avgpool", ref[-1].in_channels, ref[-1].in_channels, 1, 1,
                      0, ref[-2].out_height, ref[-2].out_width)
    assert unnamed(traced) == [*unnamed(ref[:-1]), pool, *unnamed(ref[-1:])]


def hooked_macs(model: nn.Module, x: torch.Tensor) -> int:
    """MACs of every Conv2d and Linear, counted by torch forward hooks (independent of the
    tracer): output elements x input channels per group x kernel area."""
    total = 0

    def hook(m: nn.Module, _: object, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        else:
            total += out.numel() * m.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        model.eval()(x)
    for h in handles:
        h.remove()
    return total


def test_efficientnet_lite0_at_64() -> None:
    model = EfficientNetLite0(1000, 64)
    x = torch.zeros(1, 3, 64, 64)
    layers = layer_shapes(model, x)
    assert max_split(layers) == 17  # stem, 16 blocks, head: N = 0..17
    stem = layers[0]
    assert (stem.kind, stem.stride, stem.pads, stem.out_height) == ("conv", 2, (0, 1, 0, 1), 32)
    residual = sum(spec.residual for spec in BLOCKS)
    adds = [layer for layer in layers if layer.kind == "add"]
    assert len(adds) == residual == 9
    assert {layer.block for layer in adds} == {i + 1 for i, s in enumerate(BLOCKS) if s.residual}
    # a stride-2 5x5 depthwise conv on an even map: TensorFlow SAME pads 1 before, 2 after
    dw = next(layer for layer in layers if layer.kind == "depthwise" and layer.kernel == 5
              and layer.stride == 2)
    assert dw.pads == (1, 2, 1, 2) and dw.out_height == dw.in_height // 2
    head = [layer for layer in layers if layer.block == 17]
    assert [(h.kind, h.in_channels, h.out_channels, h.in_height) for h in head] == [
        ("pointwise", 320, 1280, 2), ("global_avgpool", 1280, 1280, 2), ("fc", 1280, 1000, 1)]
    assert sum(layer.macs for layer in layers) == hooked_macs(model, x) == 32_619_392


def test_efficientnet_lite0_at_224_is_the_published_size() -> None:
    model = EfficientNetLite0(1000, 224)
    x = torch.zeros(1, 3, 224, 224)
    macs = sum(layer.macs for layer in layer_shapes(model, x))
    assert macs == hooked_macs(model, x)
    # EfficientNet-B0: 0.39 B FLOPs (multiply-adds; Tan & Le, 2019, Table 2); Lite0 is B0
    # without squeeze-excite (whose few MACs are left out) with ReLU6.
    assert 0.37e9 < macs < 0.40e9
    weights = sum(layer.weights for layer in layer_shapes(model, x))
    assert 4.6e6 < weights < 4.7e6  # 4.65 M parameters in the package, BN and biases included


def test_resnet_style_pools_and_adds_are_layers() -> None:
    net = trace_model(TinyResNet(), torch.zeros(1, 3, 16, 16))
    layers = layer_shapes(net)
    kinds = [(layer.block, layer.kind) for layer in layers]
    assert kinds == [(0, "conv"), (0, "maxpool"), (1, "conv"), (1, "conv"), (1, "add"),
                     (2, "conv"), (2, "pointwise"), (2, "avgpool"), (3, "fc")]
    pool = layers[1]
    assert (pool.kernel, pool.stride, pool.padding, pool.out_height) == (3, 2, 1, 8)
    assert (layers[-2].in_height, layers[-2].out_height, layers[-1].in_channels) == (4, 2, 64)
    assert all(layer.macs == layer.weights == 0 for layer in layers
               if layer.kind in ("add", "maxpool", "avgpool"))
    assert front_end_layers(layers, 2) + back_end_layers(layers, 2) == layers
    with pytest.raises(ValueError, match=r"0\.\.3"):
        back_end_layers(layers, 4)


class Grouped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1, groups=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_grouped_conv_is_a_one_line_error() -> None:
    with pytest.raises(FixynnError, match=r"'conv'.*2 groups"):
        layer_shapes(Grouped(), torch.zeros(1, 4, 8, 8))
    with pytest.raises(FixynnError, match="example input"):
        layer_shapes(Grouped())


def test_layer_file_round_trip(tmp_path: Path) -> None:
    layers = layer_shapes(EfficientNetLite0(10, 64), torch.zeros(1, 3, 64, 64))
    path = save_layers(layers, tmp_path / "layers.json", {"source": "lite0"})
    assert load_layers(path) == layers
    doc = json.loads(path.read_text())
    assert doc["schema"] == LAYERS_SCHEMA and doc["meta"] == {"source": "lite0"}
    assert with_classes(layers, 7)[-1].out_channels == 7


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(schema="fixynn.layers/0"), "schema must be"),
    (lambda d: d.update(layers=[]), "non-empty list"),
    (lambda d: d["layers"][1].pop("stride"), r"layers\[1\] must have exactly the fields"),
    (lambda d: d["layers"][0].update(kind="lstm"), r"layers\[0\] \('b0_conv'\): bad kind"),
    (lambda d: d["layers"][2].update(in_height=0), "bad in_height"),
])
def test_bad_layer_file_is_one_line(tmp_path: Path, edit, message: str) -> None:
    path = save_layers(mobilenet_v1_layers(0.25, 32), tmp_path / "layers.json")
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(FixynnError, match=message) as err:
        load_layers(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    with pytest.raises(FixynnError, match="cannot read"):
        load_layers(tmp_path / "missing.json")
