"""HwGraph: the integer IR that is the one contract between the ML half and the hardware half.

Everything under `fixynn.hw` reads only this. A graph is a DAG: one image input (unsigned
`input_bits` pixels, `input_frac` fractional bits), nodes with named inputs, one or more
outputs. Every tensor has a number format (`numfmt.TensorFormat`: signed or unsigned, bits,
fractional bits). Each kind's exact integer semantics lives in its entry of the kinds table
(`fixynn.hw.kinds`) and is written down in docs/ir.md.

A graph is saved as a directory holding `graph.json` (structure, format version 2) and
`weights.npz` (integer arrays), never pickled; version-1 directories (a chain of layers with
`fuse_next` flags) still load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from fixynn.hw.kinds import NODE_TYPES, HwGraphError, kind_of
from fixynn.hw.kinds.add import HwAdd
from fixynn.hw.kinds.base import Shape, strict_bool, strict_int
from fixynn.hw.kinds.conv import HwLayer
from fixynn.hw.kinds.pool import HwPool
from fixynn.hw.numfmt import MAX_BITS, MAX_FRAC, TensorFormat

# HwLayer (conv / depthwise / pointwise), HwAdd and HwPool live with their kinds; this module
# is where users import them from.
__all__ = ["GRAPH_JSON", "INPUT", "WEIGHTS_NPZ", "HwAdd", "HwGraph", "HwGraphError", "HwLayer",
           "HwNode", "HwPool", "graph_digest", "graph_to_dict", "load_graph", "save_graph",
           "strict_int"]

FORMAT_VERSION = 2
GRAPH_JSON = "graph.json"
WEIGHTS_NPZ = "weights.npz"
INPUT = "input"  # the name of the image tensor, reserved

HwNode = HwLayer | HwAdd | HwPool
_GRAPH_INTS = ("input_channels", "input_height", "input_width", "input_bits", "input_frac")


@dataclass(frozen=True, eq=False)
class HwGraph:
    """A DAG of fixed-weight nodes fed by an image of unsigned `input_bits` pixels.

    `layers` may come in any order; the graph keeps them topologically sorted (producers
    first, ties in the given order). `outputs` defaults to the last layer given.
    """

    name: str
    input_channels: int
    input_height: int
    input_width: int
    layers: tuple[HwNode, ...]
    input_bits: int = 8
    input_frac: int = 8
    meta: dict[str, Any] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise HwGraphError(f"graph name must be a non-empty string, got {self.name!r}")
        where = f"graph {self.name!r}"
        for attr in _GRAPH_INTS:
            object.__setattr__(self, attr, strict_int(getattr(self, attr), f"{where}: {attr}"))
        if not isinstance(self.layers, (tuple, list)):
            raise HwGraphError(f"{where}: layers must be a sequence of nodes, "
                               f"got {type(self.layers).__name__}")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, NODE_TYPES):
                kinds = ", ".join(t.__name__ for t in NODE_TYPES)
                raise HwGraphError(f"{where}: layers[{i}] must be a node ({kinds}), got "
                                   f"{type(layer).__name__} (build it with HwLayer(...))")
        if not isinstance(self.meta, dict):
            raise HwGraphError(f"{where}: meta must be a dict, got {type(self.meta).__name__}")
        if not isinstance(self.outputs, (tuple, list)) or not all(
                isinstance(o, str) for o in self.outputs):
            raise HwGraphError(f"{where}: outputs must be a list of node names")
        self._validate_input()
        layers = _with_chain_inputs(self.layers)
        order = topological_order({layer.name: layer.inputs for layer in layers}, where)
        by_name = {layer.name: layer for layer in layers}
        object.__setattr__(self, "layers", tuple(by_name[n] for n in order))
        if not self.outputs and layers:
            object.__setattr__(self, "outputs", (layers[-1].name,))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        self._validate_dag()

    # -- tensors ------------------------------------------------------------------------

    @property
    def input_format(self) -> TensorFormat:
        return TensorFormat(False, self.input_bits, self.input_frac)

    def tensor_shapes(self) -> dict[str, Shape]:
        """(channels, height, width) of every tensor: the image and each node's output."""
        shapes: dict[str, Shape] = {INPUT: (self.input_channels, self.input_height,
                                            self.input_width)}
        formats = self.tensor_formats()
        for node in self.layers:
            shapes[node.name] = kind_of(node.kind).check_inputs(
                node, [shapes[i] for i in node.inputs], [formats[i] for i in node.inputs])
        return shapes

    def tensor_formats(self) -> dict[str, TensorFormat]:
        return {INPUT: self.input_format} | {lay.name: lay.out_format for lay in self.layers}

    def shapes(self) -> list[tuple[int, int, int]]:
        """(channels, height, width) of each layer's output, in layer order."""
        shapes = self.tensor_shapes()
        return [shapes[layer.name] for layer in self.layers]

    def input_shapes(self) -> list[tuple[int, int, int]]:
        """(channels, height, width) of each layer's (first) input, in layer order."""
        shapes = self.tensor_shapes()
        return [shapes[layer.inputs[0]] for layer in self.layers]

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """Shape of the last output (the image's when there are no layers)."""
        return self.tensor_shapes()[self.outputs[-1] if self.outputs else INPUT]

    def prefix(self, count: int) -> HwGraph:
        """The chain of the first `count` layers, its last layer the output."""
        if not self.is_chain:
            raise HwGraphError(f"graph {self.name!r}: a prefix is defined for chains only")
        return replace(self, layers=self.layers[:count], outputs=())

    @property
    def is_chain(self) -> bool:
        """Every node reads the one before it (the first reads the image)."""
        prev = [INPUT, *(layer.name for layer in self.layers)][: len(self.layers)]
        return all(layer.inputs == (p,) for layer, p in zip(self.layers, prev, strict=True))

    # -- validation ---------------------------------------------------------------------

    def _validate_input(self) -> None:
        for attr in ("input_channels", "input_height", "input_width"):
            if getattr(self, attr) < 1:
                raise HwGraphError(f"graph {self.name!r}: {attr} must be >= 1")
        if not 1 <= self.input_bits <= MAX_BITS:
            raise HwGraphError(f"graph {self.name!r}: input_bits must be in 1..{MAX_BITS}")
        if abs(self.input_frac) > MAX_FRAC:
            raise HwGraphError(f"graph {self.name!r}: input_frac must be in "
                               f"-{MAX_FRAC}..{MAX_FRAC}")

    def _validate_dag(self) -> None:
        shapes: dict[str, Shape] = {INPUT: (self.input_channels, self.input_height,
                                            self.input_width)}
        formats = {INPUT: self.input_format}
        for node in self.layers:
            where = f"graph {self.name!r}, layer {node.name!r}"
            spec = kind_of(node.kind)
            if len(node.inputs) != spec.arity:
                raise HwGraphError(f"{where}: a {node.kind} node reads {spec.arity} input(s), "
                                   f"got {list(node.inputs)}")
            try:
                shapes[node.name] = spec.check_inputs(
                    node, [shapes[i] for i in node.inputs], [formats[i] for i in node.inputs])
            except HwGraphError as exc:
                raise HwGraphError(f"{where}: {exc}") from exc
            formats[node.name] = node.out_format
        for name in self.outputs:
            if name not in shapes or name == INPUT:
                raise HwGraphError(f"graph {self.name!r}: output {name!r} is not a node")
        if len(set(self.outputs)) != len(self.outputs):
            raise HwGraphError(f"graph {self.name!r}: outputs must be distinct")
        live = set(self.outputs)
        for layer in reversed(self.layers):
            if layer.name in live:
                live.update(layer.inputs)
        dead = [layer.name for layer in self.layers if layer.name not in live]
        if dead:
            raise HwGraphError(f"graph {self.name!r}: node {dead[0]!r} feeds no output; "
                               "remove it or list it in outputs")


def topological_order(inputs: dict[str, tuple[str, ...]], where: str) -> list[str]:
    """Node names, producers first (ties in the given order); errors name the bad node."""
    if INPUT in inputs:
        raise HwGraphError(f"{where}: {INPUT!r} is the image's name; rename the node")
    for name, srcs in inputs.items():
        for src in srcs:
            if src != INPUT and src not in inputs:
                raise HwGraphError(f"{where}: node {name!r} reads {src!r}, which is neither "
                                   f"a node nor {INPUT!r}")
    done: set[str] = {INPUT}
    order: list[str] = []
    pending = list(inputs)
    while pending:
        ready = [n for n in pending if all(s in done for s in inputs[n])]
        if not ready:
            raise HwGraphError(f"{where}: the nodes {', '.join(map(repr, pending))} form a "
                               "cycle (each waits on another); a graph must be acyclic")
        order += ready
        done.update(ready)
        pending = [n for n in pending if n not in done]
    return order


def _with_chain_inputs(layers: tuple[HwNode, ...] | list[HwNode]) -> list[HwNode]:
    """Layers that name no inputs form a chain, each reading the one listed before it (the
    first the image); either every layer names its inputs or none does."""
    names = [layer.name for layer in layers]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise HwGraphError(f"layer names must be unique: {dup!r} appears twice")
    unnamed = [layer.name for layer in layers if not layer.inputs]
    if unnamed and len(unnamed) != len(layers):
        raise HwGraphError(f"layer {unnamed[0]!r} names no inputs while others do: name the "
                           "inputs of every layer (a DAG) or of none (a chain)")
    prev = [INPUT, *names][: len(names)]
    return [layer if layer.inputs else replace(layer, inputs=(p,))
            for layer, p in zip(layers, prev, strict=True)]


# ---------------------------------------------------------------------------------------------
# Save / load (json + npz, no pickle). docs/ir.md documents every field.

_NODE_FIELDS = ("name", "kind", "inputs", "activation", "format")  # + the kind's own fields
_GRAPH_FIELDS = ("name", "input", "nodes", "outputs")
_GRAPH_OPTIONAL = ("format", "version", "meta", "digest")
_INPUT_FIELDS = ("channels", "height", "width", "format")
_FORMAT_FIELDS = ("signed", "bits", "frac")


def graph_to_dict(graph: HwGraph) -> dict[str, Any]:
    """The json-able structure of a graph (arrays excluded), format version 2."""
    return {
        "format": "fixynn-hwgraph",
        "version": FORMAT_VERSION,
        "name": graph.name,
        "input": {"channels": graph.input_channels, "height": graph.input_height,
                  "width": graph.input_width, "format": graph.input_format.to_dict()},
        "nodes": [{
            "name": n.name, "kind": n.kind, "inputs": list(n.inputs),
            "activation": n.activation, "format": n.out_format.to_dict(),
            **kind_of(n.kind).to_json(n),
        } for n in graph.layers],
        "outputs": list(graph.outputs),
        "meta": graph.meta,
    }


def graph_digest(graph: HwGraph) -> str:
    """Content hash of a graph (structure + every integer), stable across save/load."""
    h = hashlib.sha256(json.dumps(graph_to_dict(graph), sort_keys=True).encode())
    for layer in graph.layers:
        for key in kind_of(layer.kind).arrays:
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
        arrays = {f"{layer.name}.{key}": getattr(layer, key)
                  for layer in graph.layers for key in kind_of(layer.kind).arrays}
        np.savez_compressed(tmp / WEIGHTS_NPZ, **arrays)
        doc = graph_to_dict(graph) | {"digest": graph_digest(graph)}
        (tmp / GRAPH_JSON).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        _replace_dir(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def load_graph(directory: str | Path) -> HwGraph:
    """Load a graph saved by `save_graph` (format 2, or 1); any defect is an HwGraphError
    naming the file and the field."""
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
    try:
        with np.load(npz_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # zipfile / format errors come in many types
        raise HwGraphError(f"{npz_path}: unreadable ({exc})") from exc
    if doc.get("version") == 1:
        from fixynn.hw.ir_v1 import graph_from_v1  # the legacy reader builds on this module

        graph, digest = graph_from_v1(doc, arrays, json_path, npz_path)
    elif doc.get("version") == FORMAT_VERSION:
        graph = _graph_from_v2(doc, arrays, json_path, npz_path)
        digest = graph_digest(graph)
    else:
        raise HwGraphError(f"{json_path}: format version {doc.get('version')!r} is not 1 or "
                           f"{FORMAT_VERSION}; re-export the graph with this fixynn")
    if "digest" in doc and doc["digest"] != digest:
        raise HwGraphError(f"{directory}: {GRAPH_JSON} and {WEIGHTS_NPZ} do not belong together "
                           "(digest mismatch); re-export the graph")
    return graph


def check_fields(doc: Any, required: tuple[str, ...], optional: tuple[str, ...],
                 path: Path, what: str) -> None:
    """`doc` is an object with every required field and no unknown one (a typo would
    otherwise be ignored)."""
    if not isinstance(doc, dict):
        raise HwGraphError(f"{path}: {what or 'the document'} must be an object, got {doc!r}")
    prefix = f"{what}." if what else ""
    for key in required:
        if key not in doc:
            raise HwGraphError(f"{path}: field '{prefix}{key}' missing")
    for key in doc:
        if key not in required and key not in optional:
            raise HwGraphError(f"{path}: unknown field '{prefix}{key}' (known: "
                               f"{', '.join(required + optional)})")


def check_meta(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise HwGraphError(f"{path}: field 'meta' must be an object")
    return meta


def _tensor_format(spec: Any, path: Path, what: str) -> TensorFormat:
    check_fields(spec, _FORMAT_FIELDS, (), path, what)
    return TensorFormat(strict_bool(spec["signed"], f"{what}.signed"),
                        strict_int(spec["bits"], f"{what}.bits"),
                        strict_int(spec["frac"], f"{what}.frac"))


def _graph_from_v2(doc: dict[str, Any], arrays: dict[str, np.ndarray], json_path: Path,
                   npz_path: Path) -> HwGraph:
    try:
        check_fields(doc, _GRAPH_FIELDS, _GRAPH_OPTIONAL, json_path, "")
        check_fields(doc["input"], _INPUT_FIELDS, (), json_path, "input")
        image = _tensor_format(doc["input"]["format"], json_path, "input.format")
        if image.signed:
            raise HwGraphError("input.format.signed must be false (the image is unsigned)")
        specs, outputs = doc["nodes"], doc["outputs"]
        if not isinstance(specs, list):
            raise HwGraphError(f"field 'nodes' must be a list of node objects, got {specs!r}")
        if not isinstance(outputs, list):
            raise HwGraphError(f"field 'outputs' must be a list of node names, got {outputs!r}")
        for i, spec in enumerate(specs):
            if not isinstance(spec, dict) or "kind" not in spec:
                raise HwGraphError(f"nodes[{i}] must be an object with a 'kind', got {spec!r}")
            try:
                own = kind_of(spec["kind"]).json_fields
            except HwGraphError as exc:
                raise HwGraphError(f"nodes[{i}]: {exc}") from exc
            check_fields(spec, _NODE_FIELDS + own, (), json_path, f"nodes[{i}]")
        graph_name = doc["name"]
        where = f"graph {graph_name!r}"
        inputs = {}
        for i, spec in enumerate(specs):
            if not isinstance(spec["name"], str) or not isinstance(spec["inputs"], list) \
                    or not spec["inputs"]:
                raise HwGraphError(f"nodes[{i}]: name must be a string and inputs a non-empty "
                                   "list of the tensors it reads")
            inputs[spec["name"]] = tuple(spec["inputs"])
        if len(inputs) != len(specs):
            raise HwGraphError("node names must be unique")
        order = topological_order(inputs, where)
        by_name = {spec["name"]: (i, spec) for i, spec in enumerate(specs)}
        shapes: dict[str, Shape] = {INPUT: (doc["input"]["channels"], doc["input"]["height"],
                                            doc["input"]["width"])}
        formats = {INPUT: image}
        layers = []
        for name in order:
            i, spec = by_name[name]
            what = f"nodes[{i}]"
            fmt = _tensor_format(spec["format"], json_path, f"{what}.format")
            if fmt.signed != (spec["activation"] == "none"):
                raise HwGraphError(f"{what}.format.signed must be true exactly when the "
                                   "activation is none (linear)")
            kind = kind_of(spec["kind"])
            in_shapes = [shapes[t] for t in spec["inputs"]]
            in_formats = [formats[t] for t in spec["inputs"]]
            try:
                layer = kind.from_json(name, spec, in_shapes, in_formats, arrays, npz_path, fmt)
                shapes[name] = kind.check_inputs(layer, in_shapes, in_formats)
            except HwGraphError as exc:
                raise HwGraphError(f"{what}: {exc}") from exc
            formats[name] = layer.out_format
            layers.append(layer)
        return HwGraph(
            name=graph_name, input_channels=doc["input"]["channels"],
            input_height=doc["input"]["height"], input_width=doc["input"]["width"],
            input_bits=image.bits, input_frac=image.frac, layers=tuple(layers),
            meta=check_meta(doc, json_path), outputs=tuple(outputs),
        )
    except HwGraphError as exc:
        msg = str(exc)
        raise HwGraphError(msg if msg.startswith(str(json_path)) or msg.startswith(
            str(npz_path)) else f"{json_path}: {msg}") from exc


def _replace_dir(src: Path, dst: Path) -> None:
    """Move directory `src` to `dst`, replacing any existing `dst` without a half-state."""
    if not dst.exists():
        os.replace(src, dst)
        return
    old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
    os.replace(dst, old)
    os.replace(src, dst)
    shutil.rmtree(old, ignore_errors=True)
