"""HwGraph validation and the json + npz round trip."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fixynn.arch import front_end_layers, mobilenet_v1_layers
from fixynn.hw.ir import (
    GRAPH_JSON,
    WEIGHTS_NPZ,
    HwGraph,
    HwGraphError,
    graph_digest,
    load_graph,
    save_graph,
)
from fixynn.hw.synthetic import random_graph_from_shapes, random_layer


@pytest.fixture(scope="module")
def graph() -> HwGraph:
    shapes = front_end_layers(mobilenet_v1_layers(0.25, 16, 1, 10, "small"), 3)
    return random_graph_from_shapes(shapes, seed=3, sparsity=0.3, fuse_depthwise=True)


def _layer(**overrides):
    rng = np.random.default_rng(0)
    base = random_layer(rng, "l0", "conv", 2, 3, 3, 1, 1)
    return replace(base, **overrides) if overrides else base


def test_round_trip_preserves_every_integer(graph: HwGraph, tmp_path: Path) -> None:
    save_graph(graph, tmp_path / "g")
    loaded = load_graph(tmp_path / "g")
    assert graph_digest(loaded) == graph_digest(graph)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in graph.layers]
    for a, b in zip(graph.layers, loaded.layers, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.shift, b.shift)
        assert a.act_hi == b.act_hi and a.fuse_next == b.fuse_next
    assert loaded.meta["seed"] == 3
    # Saving again replaces the directory without leaving temporaries behind.
    save_graph(loaded, tmp_path / "g")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g"]


def test_shapes_follow_strides(graph: HwGraph) -> None:
    assert graph.shapes()[0] == (8, 16, 16)
    assert graph.output_shape == (32, 8, 8)
    assert graph.input_shapes()[1] == (8, 16, 16)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"weight": np.zeros((3, 2, 2, 2), dtype=int)}, "weight shape"),
        ({"weight": np.full((3, 2, 3, 3), 200)}, "signed 8-bit"),
        ({"bias": np.zeros(4, dtype=int)}, "bias shape"),
        ({"kind": "dense"}, "kind"),
        ({"activation": "gelu"}, "activation"),
        ({"out_bits": 0}, "out_bits"),
        ({"padding": 3}, "padding"),
        ({"weight": np.full((3, 2, 3, 3), 0.5)}, "expected integers"),
        ({"fuse_next": True}, "only a depthwise"),
    ],
)
def test_invalid_layers_name_the_problem(overrides: dict, message: str) -> None:
    with pytest.raises(HwGraphError, match=message):
        _layer(**overrides)


def test_chain_mismatch_is_rejected() -> None:
    rng = np.random.default_rng(0)
    first = random_layer(rng, "a", "conv", 2, 3, 3, 1, 1, in_frac=8)
    good = random_layer(rng, "b", "conv", 3, 3, 3, 1, 1)
    assert len(HwGraph("g", 2, 8, 8, (first, good)).layers) == 2
    with pytest.raises(HwGraphError, match="input format"):
        HwGraph("g", 2, 8, 8, (first, replace(good, in_bits=4)))
    wrong_channels = random_layer(rng, "b", "conv", 2, 3, 3, 1, 1)
    with pytest.raises(HwGraphError, match="in_channels"):
        HwGraph("g", 2, 8, 8, (first, wrong_channels))
    with pytest.raises(HwGraphError, match="unique"):
        HwGraph("g", 2, 8, 8, (first, replace(good, name="a")))
    dw = random_layer(rng, "dw", "depthwise", 3, 3, 3, 1, 1, fuse_next=True)
    with pytest.raises(HwGraphError, match="fuse_next"):
        HwGraph("g", 2, 8, 8, (first, dw))


def test_act_hi_relu6_and_relu() -> None:
    layer = _layer(out_bits=8, out_frac=5)
    assert layer.act_hi == 192  # 6 * 2^5
    assert replace(layer, activation="relu").act_hi == 255
    assert replace(layer, out_frac=6).act_hi == 255  # 6 * 64 = 384 exceeds 8 bits


def test_load_errors_name_the_file(graph: HwGraph, tmp_path: Path) -> None:
    with pytest.raises(HwGraphError, match=GRAPH_JSON):
        load_graph(tmp_path / "missing")
    path = save_graph(graph, tmp_path / "g")
    (path / GRAPH_JSON).write_text("{not json")
    with pytest.raises(HwGraphError, match="not valid JSON"):
        load_graph(path)
    path = save_graph(graph, tmp_path / "g")
    (path / WEIGHTS_NPZ).write_bytes(b"garbage")
    with pytest.raises(HwGraphError, match="unreadable"):
        load_graph(path)
    path = save_graph(graph, tmp_path / "g")
    doc = json.loads((path / GRAPH_JSON).read_text())
    doc["layers"][0]["in_frac"] = 7
    (path / GRAPH_JSON).write_text(json.dumps(doc))
    with pytest.raises(HwGraphError):
        load_graph(path)


@pytest.mark.parametrize(("field", "value"), [
    ("in_channels", 2.0), ("in_channels", 2.5), ("kernel", 3.0), ("kernel", True),
    ("out_bits", 7.5), ("in_frac", 2.5), ("out_frac", float("nan")), ("stride", "1"),
    ("padding", None),
])
def test_non_integer_fields_are_rejected_by_name(field: str, value) -> None:
    with pytest.raises(HwGraphError, match=f"layer 'l0': {field} must be an integer, got"):
        _layer(**{field: value})


def test_non_boolean_and_non_string_fields_are_rejected() -> None:
    with pytest.raises(HwGraphError, match="fuse_next must be true or false, got 'yes'"):
        _layer(fuse_next="yes")
    with pytest.raises(HwGraphError, match="kind 3 is not one of"):
        _layer(kind=3)
    with pytest.raises(HwGraphError, match="layer name must be a non-empty string"):
        _layer(name=7)
    assert _layer(kernel=np.int64(3), fuse_next=np.bool_(False)).kernel == 3  # numpy scalars


def test_graph_fields_and_layer_objects_are_checked() -> None:
    layer = _layer(in_frac=8)
    with pytest.raises(HwGraphError, match=r"input_height must be an integer, got 5\.5"):
        HwGraph("g", 2, 5.5, 8, (layer,))
    spec = {k: getattr(layer, k) for k in ("name", "kind", "in_channels")}
    with pytest.raises(HwGraphError, match=r"layers\[0\] must be an HwLayer, got dict"):
        HwGraph("g", 2, 8, 8, (spec,))
    with pytest.raises(HwGraphError, match="layers must be a sequence of HwLayer"):
        HwGraph("g", 2, 8, 8, layer)
    with pytest.raises(HwGraphError, match="meta must be a dict"):
        HwGraph("g", 2, 8, 8, (layer,), meta=[1])


def _edit_json(path: Path, edit) -> None:
    doc = json.loads((path / GRAPH_JSON).read_text())
    edit(doc)
    (path / GRAPH_JSON).write_text(json.dumps(doc))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.update(layers=5), r"field 'layers' must be a list of layer objects, got 5"),
    (lambda d: d.update(layers=None), r"field 'layers' must be a list.*got None"),
    (lambda d: d.update(layers=["x"]), r"layers\[0\] must be a layer object, got 'x'"),
    (lambda d: d["layers"][1].update(kernel="3"), r"layers\[1\]: .*kernel must be an integer"),
    (lambda d: d["layers"][0].update(in_channels=None),
     r"layers\[0\]: .*in_channels must be an integer, got None"),
    (lambda d: d["layers"][0].pop("stride"), r"field 'layers\[0\].stride' missing"),
    (lambda d: d["layers"][0].update(strides=2), r"unknown field 'layers\[0\].strides'"),
    (lambda d: d.pop("input_bits"), r"field 'input_bits' missing"),
    (lambda d: d.update(input_height=5.5), r"input_height must be an integer, got 5.5"),
    (lambda d: d.update(meta=3), r"field 'meta' must be an object"),
])
def test_bad_graph_json_fields_name_file_and_field(graph: HwGraph, tmp_path: Path,
                                                   edit, message: str) -> None:
    path = save_graph(graph, tmp_path / "g")
    _edit_json(path, edit)
    with pytest.raises(HwGraphError, match=message) as info:
        load_graph(path)
    assert str(path / GRAPH_JSON) in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_weight_arrays_name_the_array(graph: HwGraph, tmp_path: Path) -> None:
    path = save_graph(graph, tmp_path / "g")
    with np.load(path / WEIGHTS_NPZ) as npz:
        arrays = dict(npz)
    arrays["0.bias"] = arrays["0.bias"] + 0.5
    np.savez(path / WEIGHTS_NPZ, **arrays)
    with pytest.raises(HwGraphError, match=r"layers\[0\]: .*bias: expected integers"):
        load_graph(path)
    del arrays["0.bias"]
    np.savez(path / WEIGHTS_NPZ, **arrays)
    with pytest.raises(HwGraphError, match=r"weights.npz: array '0.bias' missing"):
        load_graph(path)


def test_cli_reports_a_bad_field_in_one_line_with_status_2(graph: HwGraph,
                                                           tmp_path: Path) -> None:
    path = save_graph(graph, tmp_path / "g")
    _edit_json(path, lambda d: d["layers"][0].update(kernel="3"))
    exe = Path(sys.executable).parent / "fixynn"
    proc = subprocess.run([str(exe), "rtl", str(path), "--out", str(tmp_path / "v")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "graph.json: layers[0]: layer 'b0_conv': kernel must be an integer" in proc.stderr
    assert not (tmp_path / "v").exists()
