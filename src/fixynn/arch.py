"""Layer shapes as plain data (no PyTorch): MobileNetV1's, or any traced model's.

One description of the network that both the PyTorch model (`fixynn.nn`) and the
hardware cost models (`fixynn.hw.ppa`) read, so they can never disagree about a shape.
`fixynn.frontend.layer_shapes` gives the same description of any model the tracer accepts;
`save_layers` / `load_layers` keep one as a versioned JSON file (the transfer stage writes the
trained model's, the PPA stage reads it).

Blocks are indexed as in the split point N (a unit of `fixynn.frontend`). For MobileNetV1,
block 0 is the first standard 3x3 conv, blocks 1..13 are the depthwise-separable blocks (a
3x3 depthwise conv then a 1x1 pointwise conv), block 14 the classifier.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from fixynn.atomic import atomic_write_json
from fixynn.errors import FixynnError

NUM_BLOCKS = 14


@dataclass(frozen=True)
class ArchInfo:
    """What the configuration needs to know of a front-end family (`model.arch`); the
    networks themselves live in fixynn.nn, how each is fixed in fixynn.train.frontends."""

    title: str  # how tables and reports name the network
    units: int  # its largest split point N (every unit but the classifier's can be fixed)
    pretrained: str  # "" (pretrained here on tasks.source) or where its weights come from
    in_channels: tuple[int, ...]  # the input channels it accepts
    summary: str


# EfficientNet-Lite0: the stem and its 16 blocks (fixynn.nn.efficientnet_lite.BLOCKS).
ARCHES: dict[str, ArchInfo] = {
    "mobilenet-v1": ArchInfo("MobileNetV1", NUM_BLOCKS, "", (1, 3), "MobileNetV1 trained "
                             "from scratch on tasks.source, fixed by quantization-aware "
                             "training"),
    "efficientnet-lite0": ArchInfo("EfficientNet-Lite0", 17, "imagenet", (3,),
                                   "EfficientNet-Lite0 with its ImageNet weights, fixed by "
                                   "calibration"),
}
MAX_UNITS = max(arch.units for arch in ARCHES.values())


def model_title(arch: str, resolution: int, width: float | None = None) -> str:
    """A network as tables name it: "MobileNetV1 0.25 @ 224", "EfficientNet-Lite0 @ 64"; an
    arch outside ARCHES (a user's own model) by its own name. `width`: MobileNetV1's multiplier,
    None where the network has none."""
    name = ARCHES[arch].title if arch in ARCHES else arch
    return f"{name}{'' if width is None else f' {width:g}'} @ {resolution}"

# Output channels of blocks 0..13 at width 1.0 (Howard et al., 2017, Table 1).
BASE_CHANNELS: tuple[int, ...] = (
    32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024,
)

# Stride of each block's (first) spatial conv.
STRIDE_PLANS: dict[str, tuple[int, ...]] = {
    # The standard ImageNet plan: 224 -> 7 (total stride 32).
    "imagenet": (2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1),
    # For 28x28-class inputs: 28 -> 7 (total stride 4), keeps every block's map >= 7x7.
    "small": (1, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1),
}

LayerKind = Literal["conv", "depthwise", "pointwise", "fc", "add", "maxpool", "avgpool",
                    "global_avgpool"]
# Kinds with weights (multiply-accumulates); the others are elementwise work (no weights).
MAC_KINDS = ("conv", "depthwise", "pointwise", "fc")
ELEMENTWISE_KINDS = ("add", "maxpool", "avgpool", "global_avgpool")
LAYERS_SCHEMA = "fixynn.layers/1"
LAYERS_FILE = "layers.json"  # the trained model's layer list, next to the run's hwgraph/


@dataclass(frozen=True)
class LayerShape:
    """One layer of the network: geometry only, no weights.

    `padding` is the zeros on every side; `pads` (top, bottom, left, right) overrides it when
    the sides differ (TensorFlow SAME padding). A uniform `pads` is stored as `padding`, so one
    geometry has one representation. An `add` sums two maps of the input's shape; a
    `global_avgpool` averages each channel's whole map (output 1 x 1; `kernel` unused)."""

    name: str
    block: int  # split-point index (a unit); MobileNetV1's classifier has block == NUM_BLOCKS
    kind: LayerKind
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    padding: int
    in_height: int
    in_width: int
    pads: tuple[int, int, int, int] | None = None

    def __post_init__(self) -> None:
        if self.pads is not None:
            pads = tuple(int(p) for p in self.pads)
            uniform = len(set(pads)) == 1
            object.__setattr__(self, "pads", None if uniform else pads)
            object.__setattr__(self, "padding", pads[0] if uniform else 0)

    @property
    def sides(self) -> tuple[int, int, int, int]:
        """Zero padding (top, bottom, left, right)."""
        return self.pads if self.pads is not None else (self.padding,) * 4

    @property
    def out_height(self) -> int:
        if self.kind == "global_avgpool":
            return 1
        top, bottom, _, _ = self.sides
        return conv_out_size(self.in_height + top + bottom, self.kernel, self.stride, 0)

    @property
    def out_width(self) -> int:
        if self.kind == "global_avgpool":
            return 1
        _, _, left, right = self.sides
        return conv_out_size(self.in_width + left + right, self.kernel, self.stride, 0)

    @property
    def groups(self) -> int:
        return self.in_channels if self.kind == "depthwise" else 1

    @property
    def weights(self) -> int:
        if self.kind not in MAC_KINDS:
            return 0
        return self.out_channels * (self.in_channels // self.groups) * self.kernel**2

    @property
    def macs(self) -> int:
        """Multiply-accumulates for one image (0 for elementwise kinds)."""
        return self.weights * self.out_height * self.out_width

    @property
    def window(self) -> int:
        """Input elements read per output element of an elementwise kind."""
        if self.kind == "add":
            return 2
        if self.kind == "global_avgpool":
            return self.in_height * self.in_width
        return self.kernel**2 if self.kind in ("maxpool", "avgpool") else 0


def conv_out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def scaled_channels(base: int, width: float) -> int:
    return max(1, int(base * width))


def mobilenet_v1_layers(
    width: float = 1.0,
    input_size: int = 224,
    in_channels: int = 3,
    num_classes: int = 1000,
    stride_plan: str = "imagenet",
) -> list[LayerShape]:
    """Every conv layer of MobileNetV1 (block order), then the classifier as kind "fc"."""
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    if input_size < 1 or in_channels < 1 or num_classes < 1:
        raise ValueError("input_size, in_channels and num_classes must be >= 1")
    if stride_plan not in STRIDE_PLANS:
        raise ValueError(
            f"unknown stride_plan {stride_plan!r}; choose one of {sorted(STRIDE_PLANS)}"
        )
    strides = STRIDE_PLANS[stride_plan]
    layers: list[LayerShape] = []
    size, channels = input_size, in_channels
    for block, (base, stride) in enumerate(zip(BASE_CHANNELS, strides, strict=True)):
        out = scaled_channels(base, width)
        if block == 0:
            layers.append(
                LayerShape("b0_conv", 0, "conv", channels, out, 3, stride, 1, size, size)
            )
        else:
            dw = LayerShape(f"b{block}_dw", block, "depthwise", channels, channels, 3, stride, 1,
                            size, size)
            layers.append(dw)
            layers.append(LayerShape(f"b{block}_pw", block, "pointwise", channels, out, 1, 1, 0,
                                     dw.out_height, dw.out_width))
        size, channels = layers[-1].out_height, out
        if size < 1:
            raise ValueError(
                f"input_size {input_size} is too small for stride plan {stride_plan!r} "
                f"(block {block} output is empty)"
            )
    layers.append(LayerShape("fc", NUM_BLOCKS, "fc", channels, num_classes, 1, 1, 0, 1, 1))
    return layers


def max_split(layers: Sequence[LayerShape]) -> int:
    """The largest split point N: every block but the last (the classifier's) can be fixed."""
    if not layers:
        raise ValueError("the layer list is empty")
    return max(layer.block for layer in layers)


def _check_split(layers: Sequence[LayerShape], n: int) -> None:
    if not 0 <= n <= max_split(layers):
        raise ValueError(f"split point N must be in 0..{max_split(layers)}, got {n}")


def front_end_layers(layers: list[LayerShape], n: int) -> list[LayerShape]:
    """Layers of blocks 0..n-1 (the fixed front-end at split point n)."""
    _check_split(layers, n)
    return [layer for layer in layers if layer.block < n]


def back_end_layers(layers: list[LayerShape], n: int) -> list[LayerShape]:
    """Layers of blocks n.. plus the classifier (the programmable back-end at split point n)."""
    _check_split(layers, n)
    return [layer for layer in layers if layer.block >= n]


def with_classes(layers: Sequence[LayerShape], num_classes: int) -> list[LayerShape]:
    """`layers` with the final classifier re-sized to `num_classes` outputs (a task's own
    classifier replaces the source model's)."""
    if not layers or layers[-1].kind != "fc":
        raise FixynnError("layer list: the last layer is not a classifier (kind fc); cannot "
                          "set the number of classes")
    return [*layers[:-1], replace(layers[-1], out_channels=num_classes)]


_INT_FIELDS = ("block", "in_channels", "out_channels", "kernel", "stride", "padding",
               "in_height", "in_width")


def save_layers(layers: Sequence[LayerShape], path: str | Path,
                meta: dict[str, Any] | None = None) -> Path:
    """Write `layers` as JSON (schema `LAYERS_SCHEMA`), atomically."""
    rows = [{k: v for k, v in asdict(layer).items() if k != "pads" or v is not None}
            for layer in layers]
    return atomic_write_json(path, {"schema": LAYERS_SCHEMA, "meta": meta or {}, "layers": rows})


def load_layers(path: str | Path) -> list[LayerShape]:
    """The layer list of a `save_layers` file; a bad file is a one-line FixynnError."""
    return read_layer_file(path)[0]


def read_layer_file(path: str | Path) -> tuple[list[LayerShape], dict[str, Any]]:
    """(layers, meta) of a `save_layers` file (meta: what the writer said of the model, e.g.
    `arch` and `input_size` from the transfer stage); a bad file is a one-line FixynnError."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FixynnError(f"layer file {path}: cannot read it ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("schema") != LAYERS_SCHEMA:
        raise FixynnError(f"layer file {path}: schema must be {LAYERS_SCHEMA!r}, got "
                          f"{doc.get('schema') if isinstance(doc, dict) else None!r}; write it "
                          "with fixynn.arch.save_layers")
    rows = doc.get("layers")
    if not isinstance(rows, list) or not rows:
        raise FixynnError(f"layer file {path}: 'layers' must be a non-empty list")
    known = {f.name for f in fields(LayerShape)}
    layers = []
    for i, row in enumerate(rows):
        where = f"layer file {path}: layers[{i}]"
        if not isinstance(row, dict) or set(row) - known or not set(row) >= known - {"pads"}:
            raise FixynnError(f"{where} must have exactly the fields {sorted(known)} ('pads' "
                              "optional)")
        bad = [k for k in _INT_FIELDS if isinstance(row[k], bool) or not isinstance(row[k], int)
               or row[k] < (1 if k not in ("block", "padding") else 0)]
        if row["kind"] not in MAC_KINDS + ELEMENTWISE_KINDS:
            bad.append("kind")
        pads = row.get("pads")
        if pads is not None and not (isinstance(pads, list) and len(pads) == 4 and all(
                isinstance(p, int) and p >= 0 for p in pads)):
            bad.append("pads")
        if bad:
            raise FixynnError(f"{where} ({row.get('name')!r}): bad {', '.join(bad)}")
        layers.append(LayerShape(**{**row, "pads": None if pads is None else tuple(pads)}))
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise FixynnError(f"layer file {path}: 'meta' must be an object")
    return layers, meta
