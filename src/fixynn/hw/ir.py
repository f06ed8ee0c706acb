"""HwGraph: the integer IR that is the one contract between the ML half and the hardware half.

Everything under `fixynn.hw` reads only this. The integer semantics (DESIGN.md):

* activations are unsigned `bits`-wide integers with `frac` fractional bits;
* weights are signed `weight_bits`-wide integers with `weight_frac[o]` fractional bits for
  output channel `o` (power-of-two scale per output channel);
* bias is a signed integer at the accumulator scale 2^-(in_frac + weight_frac[o]);
* `acc = sum(w * x) + b` exactly (zero padding, stride, groups), then
  `y = clamp((acc + 2^(s-1)) >> s, 0, hi)` with `s = in_frac + weight_frac[o] - out_frac`
  (no rounding term when s == 0, a left shift when s < 0) and
  `hi = min(2^out_bits - 1, 6 * 2^out_frac)` for ReLU6, `2^out_bits - 1` for ReLU.

A graph is saved as a directory holding `graph.json` (structure) and `weights.npz` (integer
arrays), never pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fixynn.arch import conv_out_size
from fixynn.errors import FixynnError
from fixynn.hw.numfmt import (
    MAX_BIAS_EXCLUSIVE,
    MAX_BITS,
    MAX_FRAC,
    MAX_PRODUCTS_EXCLUSIVE,
    MAX_SHIFT,
    activation_hi,
)

FORMAT_VERSION = 1
GRAPH_JSON = "graph.json"
WEIGHTS_NPZ = "weights.npz"

Kind = Literal["conv", "depthwise", "pointwise"]
Activation = Literal["relu", "relu6"]
KINDS: tuple[str, ...] = ("conv", "depthwise", "pointwise")
ACTIVATIONS: tuple[str, ...] = ("relu", "relu6")


class HwGraphError(FixynnError, ValueError):
    """An HwGraph (or its files) violates the IR's rules; the message says which rule."""


@dataclass(frozen=True, eq=False)
class HwLayer:
    """One fixed-weight layer: a conv, depthwise conv or pointwise conv with ReLU/ReLU6."""

    name: str
    kind: Kind
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    padding: int
    weight: np.ndarray  # int64 (out_channels, in_channels // groups, kernel, kernel)
    bias: np.ndarray  # int64 (out_channels,)
    weight_bits: int
    weight_frac: np.ndarray  # int64 (out_channels,)
    in_bits: int
    in_frac: int
    out_bits: int
    out_frac: int
    activation: Activation = "relu6"
    # A depthwise layer whose output streams straight into the next (pointwise) layer with no
    # line buffer between them. Hardware structure only: the integer semantics are unchanged.
    fuse_next: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise HwGraphError(f"layer name must be a non-empty string, got {self.name!r}")
        where = f"layer {self.name!r}"
        for attr in _LAYER_INTS:
            object.__setattr__(self, attr, strict_int(getattr(self, attr), f"{where}: {attr}"))
        object.__setattr__(self, "kind", _choice(self.kind, KINDS, f"{where}: kind"))
        object.__setattr__(
            self, "activation", _choice(self.activation, ACTIVATIONS, f"{where}: activation")
        )
        object.__setattr__(self, "fuse_next", _strict_bool(self.fuse_next, f"{where}: fuse_next"))
        for attr in _LAYER_ARRAYS:
            object.__setattr__(self, attr, _as_int_array(getattr(self, attr), f"{where}: {attr}"))
        self._validate()

    @property
    def groups(self) -> int:
        return self.in_channels if self.kind == "depthwise" else 1

    @property
    def shift(self) -> np.ndarray:
        """Requantization right-shift per output channel (negative = left shift)."""
        return self.in_frac + self.weight_frac - self.out_frac

    @property
    def act_hi(self) -> int:
        """Upper clamp bound of the output integer (always an int, `numfmt.relu6_hi`)."""
        return activation_hi(self.activation, self.out_bits, self.out_frac)

    def out_size(self, height: int, width: int) -> tuple[int, int]:
        return (
            conv_out_size(height, self.kernel, self.stride, self.padding),
            conv_out_size(width, self.kernel, self.stride, self.padding),
        )

    def _validate(self) -> None:
        where = f"layer {self.name!r}"
        for attr in ("in_channels", "out_channels", "kernel", "stride"):
            if getattr(self, attr) < 1:
                raise HwGraphError(f"{where}: {attr} must be >= 1, got {getattr(self, attr)}")
        if self.padding < 0 or self.padding >= self.kernel:
            raise HwGraphError(f"{where}: padding {self.padding} must be in 0..kernel-1")
        if self.kind == "pointwise" and (self.kernel != 1 or self.padding != 0):
            raise HwGraphError(f"{where}: a pointwise layer has kernel 1 and padding 0")
        if self.kind == "depthwise" and self.in_channels != self.out_channels:
            raise HwGraphError(f"{where}: a depthwise layer needs in_channels == out_channels")
        if self.fuse_next and self.kind != "depthwise":
            raise HwGraphError(f"{where}: only a depthwise layer can be fused with the next")
        for attr in ("weight_bits", "in_bits", "out_bits"):
            bits = getattr(self, attr)
            if not 1 <= bits <= MAX_BITS:
                raise HwGraphError(f"{where}: {attr} = {bits} is outside 1..{MAX_BITS}")
        if self.weight_bits < 2:
            raise HwGraphError(f"{where}: weight_bits must be >= 2 (signed)")
        expected = (self.out_channels, self.in_channels // self.groups, self.kernel, self.kernel)
        if self.weight.shape != expected:
            raise HwGraphError(f"{where}: weight shape {self.weight.shape} != expected {expected}")
        if self.bias.shape != (self.out_channels,):
            raise HwGraphError(
                f"{where}: bias shape {self.bias.shape} != expected ({self.out_channels},)"
            )
        if self.weight_frac.shape != (self.out_channels,):
            raise HwGraphError(
                f"{where}: weight_frac shape {self.weight_frac.shape} != ({self.out_channels},)"
            )
        lo, hi = -(2 ** (self.weight_bits - 1)), 2 ** (self.weight_bits - 1) - 1
        if self.weight.size and (self.weight.min() < lo or self.weight.max() > hi):
            raise HwGraphError(
                f"{where}: weights span {self.weight.min()}..{self.weight.max()}, outside the "
                f"signed {self.weight_bits}-bit range {lo}..{hi}"
            )
        for attr in ("in_frac", "out_frac"):
            if abs(getattr(self, attr)) > MAX_FRAC:
                raise HwGraphError(f"{where}: {attr} = {getattr(self, attr)} is outside "
                                   f"-{MAX_FRAC}..{MAX_FRAC}")
        if np.abs(self.weight_frac).max(initial=0) > MAX_FRAC:
            raise HwGraphError(f"{where}: weight_frac outside -{MAX_FRAC}..{MAX_FRAC}")
        if np.abs(self.bias).max(initial=0) >= MAX_BIAS_EXCLUSIVE:
            raise HwGraphError(f"{where}: bias magnitude must be below 2^62")
        if np.abs(self.shift).max(initial=0) > MAX_SHIFT:
            raise HwGraphError(
                f"{where}: requantization shift in_frac + weight_frac - out_frac beyond "
                f"+-{MAX_SHIFT} bits"
            )
        w_abs = np.abs(self.weight).reshape(self.out_channels, -1).sum(axis=1)
        if int(w_abs.max(initial=0)) * (2**self.in_bits - 1) >= MAX_PRODUCTS_EXCLUSIVE:
            raise HwGraphError(
                f"{where}: sum(|weight|) * max input reaches 2^60 (the accumulator would not "
                "be exact in 64 bits); use fewer inputs or narrower weights"
            )


@dataclass(frozen=True, eq=False)
class HwGraph:
    """A chain of fixed-weight layers fed by an image of unsigned `input_bits` pixels."""

    name: str
    input_channels: int
    input_height: int
    input_width: int
    layers: tuple[HwLayer, ...]
    input_bits: int = 8
    input_frac: int = 8
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise HwGraphError(f"graph name must be a non-empty string, got {self.name!r}")
        where = f"graph {self.name!r}"
        for attr in _GRAPH_INTS:
            object.__setattr__(self, attr, strict_int(getattr(self, attr), f"{where}: {attr}"))
        if not isinstance(self.layers, (tuple, list)):
            raise HwGraphError(f"{where}: layers must be a sequence of HwLayer, "
                               f"got {type(self.layers).__name__}")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, HwLayer):
                raise HwGraphError(f"{where}: layers[{i}] must be an HwLayer, got "
                                   f"{type(layer).__name__} (build it with HwLayer(...))")
        if not isinstance(self.meta, dict):
            raise HwGraphError(f"{where}: meta must be a dict, got {type(self.meta).__name__}")
        object.__setattr__(self, "layers", tuple(self.layers))
        self._validate()

    def shapes(self) -> list[tuple[int, int, int]]:
        """(channels, height, width) of each layer's output, in layer order."""
        out: list[tuple[int, int, int]] = []
        h, w = self.input_height, self.input_width
        for layer in self.layers:
            h, w = layer.out_size(h, w)
            out.append((layer.out_channels, h, w))
        return out

    def input_shapes(self) -> list[tuple[int, int, int]]:
        """(channels, height, width) of each layer's input, in layer order."""
        first = (self.input_channels, self.input_height, self.input_width)
        return [first, *self.shapes()[:-1]] if self.layers else []

    @property
    def output_shape(self) -> tuple[int, int, int]:
        if not self.layers:
            return (self.input_channels, self.input_height, self.input_width)
        return self.shapes()[-1]

    def _validate(self) -> None:
        for attr in ("input_channels", "input_height", "input_width"):
            if getattr(self, attr) < 1:
                raise HwGraphError(f"graph {self.name!r}: {attr} must be >= 1")
        if not 1 <= self.input_bits <= MAX_BITS:
            raise HwGraphError(f"graph {self.name!r}: input_bits must be in 1..{MAX_BITS}")
        if abs(self.input_frac) > MAX_FRAC:
            raise HwGraphError(f"graph {self.name!r}: input_frac must be in "
                               f"-{MAX_FRAC}..{MAX_FRAC}")
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise HwGraphError(f"graph {self.name!r}: layer names must be unique")
        channels, bits, frac = self.input_channels, self.input_bits, self.input_frac
        h, w = self.input_height, self.input_width
        for i, layer in enumerate(self.layers):
            where = f"graph {self.name!r}, layer {i} ({layer.name!r})"
            if layer.in_channels != channels:
                raise HwGraphError(f"{where}: in_channels {layer.in_channels} != {channels} fed")
            if layer.in_bits != bits or layer.in_frac != frac:
                raise HwGraphError(
                    f"{where}: input format {layer.in_bits}b/frac {layer.in_frac} != "
                    f"{bits}b/frac {frac} produced by the previous stage"
                )
            h, w = layer.out_size(h, w)
            if h < 1 or w < 1:
                raise HwGraphError(f"{where}: output map is empty ({h}x{w})")
            if layer.fuse_next and (
                i + 1 >= len(self.layers) or self.layers[i + 1].kind != "pointwise"
            ):
                raise HwGraphError(f"{where}: fuse_next needs a pointwise layer after it")
            channels, bits, frac = layer.out_channels, layer.out_bits, layer.out_frac


_LAYER_INTS = (
    "in_channels", "out_channels", "kernel", "stride", "padding",
    "weight_bits", "in_bits", "in_frac", "out_bits", "out_frac",
)
_GRAPH_INTS = ("input_channels", "input_height", "input_width", "input_bits", "input_frac")


def strict_int(value: Any, what: str) -> int:
    """`value` as a Python int; a float (even 2.0), bool, string or None is an error."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise HwGraphError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _strict_bool(value: Any, what: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise HwGraphError(f"{what} must be true or false, got {value!r}")
    return bool(value)


def _choice(value: Any, choices: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise HwGraphError(f"{what} {value!r} is not one of {', '.join(choices)}")
    return value


def _as_int_array(value: Any, what: str) -> np.ndarray:
    """An int64 copy of `value`; floats only when every entry is an exactly held integer."""
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        if not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))
                and np.abs(arr).max(initial=0) < 2**53):
            raise HwGraphError(f"{what}: expected integers, got non-integer {arr.dtype} values")
    elif arr.dtype.kind == "u":
        if arr.max(initial=0) >= 2**63:
            raise HwGraphError(f"{what}: values do not fit in int64")
    elif arr.dtype.kind != "i":
        raise HwGraphError(f"{what}: expected integers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr.astype(np.int64))


# ---------------------------------------------------------------------------------------------
# Save / load (json + npz, no pickle)

_LAYER_SCALARS = (
    "name", "kind", "in_channels", "out_channels", "kernel", "stride", "padding",
    "weight_bits", "in_bits", "in_frac", "out_bits", "out_frac", "activation", "fuse_next",
)
_LAYER_ARRAYS = ("weight", "bias", "weight_frac")
_GRAPH_FIELDS = (
    "name", "input_channels", "input_height", "input_width", "input_bits", "input_frac",
    "layers",
)
_GRAPH_OPTIONAL = ("format", "version", "meta", "digest")


def _check_fields(doc: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...],
                  path: Path, prefix: str) -> None:
    """Every required field present, no unknown one (a typo would otherwise be ignored)."""
    for key in required:
        if key not in doc:
            raise HwGraphError(f"{path}: field '{prefix}{key}' missing")
    for key in doc:
        if key not in required and key not in optional:
            raise HwGraphError(f"{path}: unknown field '{prefix}{key}' (known: "
                               f"{', '.join(required + optional)})")


def graph_to_dict(graph: HwGraph) -> dict[str, Any]:
    """The json-able structure of a graph (arrays excluded)."""
    return {
        "format": "fixynn-hwgraph",
        "version": FORMAT_VERSION,
        "name": graph.name,
        "input_channels": graph.input_channels,
        "input_height": graph.input_height,
        "input_width": graph.input_width,
        "input_bits": graph.input_bits,
        "input_frac": graph.input_frac,
        "meta": graph.meta,
        "layers": [
            {k: _plain(getattr(layer, k)) for k in _LAYER_SCALARS} for layer in graph.layers
        ],
    }


def graph_digest(graph: HwGraph) -> str:
    """Content hash of a graph (structure + every integer), stable across save/load."""
    h = hashlib.sha256(json.dumps(graph_to_dict(graph), sort_keys=True).encode())
    for layer in graph.layers:
        for key in _LAYER_ARRAYS:
            arr = getattr(layer, key)
            h.update(str(arr.shape).encode())
            h.update(arr.astype("<i8").tobytes())
    return h.hexdigest()


def save_graph(graph: HwGraph, directory: str | Path) -> Path:
    """Write `graph.json` + `weights.npz` into `directory`, replacing it atomically."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        arrays = {
            f"{i}.{key}": getattr(layer, key)
            for i, layer in enumerate(graph.layers)
            for key in _LAYER_ARRAYS
        }
        np.savez_compressed(tmp / WEIGHTS_NPZ, **arrays)
        doc = graph_to_dict(graph) | {"digest": graph_digest(graph)}
        (tmp / GRAPH_JSON).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        _replace_dir(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def load_graph(directory: str | Path) -> HwGraph:
    """Load a graph saved by `save_graph`; any defect is an HwGraphError naming the file."""
    directory = Path(directory)
    json_path, npz_path = directory / GRAPH_JSON, directory / WEIGHTS_NPZ
    for path in (json_path, npz_path):
        if not path.is_file():
            raise HwGraphError(f"{path}: missing (an HwGraph directory holds {GRAPH_JSON} and "
                               f"{WEIGHTS_NPZ}; write one with `fixynn transfer` or save_graph)")
    try:
        doc = json.loads(json_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HwGraphError(f"{json_path}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != "fixynn-hwgraph":
        raise HwGraphError(f"{json_path}: not a fixynn HwGraph (missing format marker)")
    if doc.get("version") != FORMAT_VERSION:
        raise HwGraphError(f"{json_path}: format version {doc.get('version')} is not "
                           f"{FORMAT_VERSION}; re-export the graph with this fixynn")
    try:
        with np.load(npz_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # zipfile / format errors come in many types
        raise HwGraphError(f"{npz_path}: unreadable ({exc})") from exc
    _check_fields(doc, _GRAPH_FIELDS, _GRAPH_OPTIONAL, json_path, "")
    specs = doc["layers"]
    if not isinstance(specs, list):
        raise HwGraphError(f"{json_path}: field 'layers' must be a list of layer objects, "
                           f"got {specs!r}")
    layers = []
    for i, spec in enumerate(specs):
        where = f"layers[{i}]"
        if not isinstance(spec, dict):
            raise HwGraphError(f"{json_path}: {where} must be a layer object, got {spec!r}")
        _check_fields(spec, _LAYER_SCALARS, (), json_path, f"{where}.")
        kwargs = dict(spec)
        for key in _LAYER_ARRAYS:
            if f"{i}.{key}" not in arrays:
                raise HwGraphError(f"{npz_path}: array '{i}.{key}' missing")
            kwargs[key] = arrays[f"{i}.{key}"]
        try:
            layers.append(HwLayer(**kwargs))
        except HwGraphError as exc:
            raise HwGraphError(f"{json_path}: {where}: {exc}") from exc
    if not isinstance(doc.get("meta", {}), dict):
        raise HwGraphError(f"{json_path}: field 'meta' must be an object")
    try:
        graph = HwGraph(layers=tuple(layers), meta=doc.get("meta", {}),
                        **{k: doc[k] for k in _GRAPH_FIELDS if k != "layers"})
    except HwGraphError as exc:
        raise HwGraphError(f"{json_path}: {exc}") from exc
    if "digest" in doc and doc["digest"] != graph_digest(graph):
        raise HwGraphError(f"{directory}: {GRAPH_JSON} and {WEIGHTS_NPZ} do not belong together "
                           "(digest mismatch); re-export the graph")
    return graph


def _replace_dir(src: Path, dst: Path) -> None:
    """Move directory `src` to `dst`, replacing any existing `dst` without a half-state."""
    if not dst.exists():
        os.replace(src, dst)
        return
    old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
    os.replace(dst, old)
    os.replace(src, dst)
    shutil.rmtree(old, ignore_errors=True)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
