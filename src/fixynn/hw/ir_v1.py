"""Reader of HwGraph format version 1: a chain of layers, each with its input format and a
`fuse_next` flag. Loads as a version-2 graph; the fusion flags become the plan hint
`meta["fuse"]` (fusion is a hardware choice of `fixynn.hw.lower`, not part of the IR).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from fixynn.hw.ir import HwGraph, HwGraphError, HwLayer, check_fields, check_meta
from fixynn.hw.kinds.base import node_arrays, strict_int

_LAYER_SCALARS = (
    "name", "kind", "in_channels", "out_channels", "kernel", "stride", "padding",
    "weight_bits", "in_bits", "in_frac", "out_bits", "out_frac", "activation", "fuse_next",
)
_GRAPH_FIELDS = ("name", "input_channels", "input_height", "input_width", "input_bits",
                 "input_frac", "layers")
_GRAPH_OPTIONAL = ("format", "version", "meta", "digest")
_ARRAYS = ("weight", "bias", "weight_frac")


def graph_from_v1(doc: dict[str, Any], arrays: dict[str, np.ndarray], json_path: Path,
                  npz_path: Path) -> tuple[HwGraph, str]:
    """The graph of a version-1 document and the digest its writer would have stored."""
    check_fields(doc, _GRAPH_FIELDS, _GRAPH_OPTIONAL, json_path, "")
    specs = doc["layers"]
    if not isinstance(specs, list):
        raise HwGraphError(f"{json_path}: field 'layers' must be a list of layer objects, "
                           f"got {specs!r}")
    layers, fused = [], []
    for i, spec in enumerate(specs):
        where = f"layers[{i}]"
        if not isinstance(spec, dict):
            raise HwGraphError(f"{json_path}: {where} must be a layer object, got {spec!r}")
        check_fields(spec, _LAYER_SCALARS, (), json_path, where)
        kwargs = {k: v for k, v in spec.items() if k != "fuse_next"}
        if not isinstance(spec["fuse_next"], bool):
            raise HwGraphError(f"{json_path}: {where}.fuse_next must be true or false, got "
                               f"{spec['fuse_next']!r}")
        try:
            strict_int(spec["padding"], "padding")  # version 1 pads every side alike
            layers.append(HwLayer(**kwargs, **node_arrays(arrays, str(i), _ARRAYS, npz_path)))
        except HwGraphError as exc:
            raise HwGraphError(f"{json_path}: {where}: {exc}") from exc
        if spec["fuse_next"]:
            fused.append(spec["name"])
    meta = check_meta(doc, json_path) | {"fuse": fused}
    try:
        graph = HwGraph(layers=tuple(layers), meta=meta,
                        **{k: doc[k] for k in _GRAPH_FIELDS if k != "layers"})
    except HwGraphError as exc:
        raise HwGraphError(f"{json_path}: {exc}") from exc
    return graph, _v1_digest(doc, layers)


def _v1_digest(doc: dict[str, Any], layers: list[HwLayer]) -> str:
    """The version-1 digest: the document's structure (as written) and the arrays."""
    h = hashlib.sha256(json.dumps({k: v for k, v in doc.items() if k != "digest"},
                                  sort_keys=True).encode())
    for layer in layers:
        for key in _ARRAYS:
            arr = getattr(layer, key)
            h.update(str(arr.shape).encode())
            h.update(arr.astype("<i8").tobytes())
    return h.hexdigest()
