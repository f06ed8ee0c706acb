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
    HwLayer,
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
        assert a.act_hi == b.act_hi and a.inputs == b.inputs
    assert a.out_format == b.out_format and a.in_format == b.in_format
    assert loaded.meta["seed"] == 3 and loaded.meta["fuse"] == "all"
    assert loaded.outputs == graph.outputs == (graph.layers[-1].name,)
    doc = json.loads((tmp_path / "g" / GRAPH_JSON).read_text())
    assert doc["version"] == 2 and doc["nodes"][1]["inputs"] == [graph.layers[0].name]
    assert doc["input"]["format"] == {"signed": False, "bits": 8, "frac": 8}
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
        ({"padding": 3}, r"padding \(top\) 3 must be in 0..kernel-1 \(0..2\)"),
        ({"padding": (0, 1, 3, 0)}, r"padding \(left\) 3 must be in 0..kernel-1"),
        ({"padding": (0, 0, 0, -1)}, r"padding \(right\) -1 must be in"),
        ({"padding": (0, 1, 0)}, r"padding must be an integer or 4 integers .*got \[0, 1, 0\]"),
        ({"padding": None}, r"padding must be an integer or 4 integers .*got None"),
        ({"padding": "1"}, r"padding must be an integer or 4 integers"),
        ({"padding": (0, 1.0, 0, 1)}, r"padding\[1\] \(bottom\) must be an integer, got 1.0"),
        ({"padding": (0, True, 0, 1)}, r"padding\[1\] \(bottom\) must be an integer"),
        ({"weight": np.full((3, 2, 3, 3), 0.5)}, "expected integers"),
        ({"activation": "none", "out_bits": 1}, "signed width"),
    ],
)
def test_invalid_layers_name_the_problem(overrides: dict, message: str) -> None:
    with pytest.raises(HwGraphError, match=message):
        _layer(**overrides)


def test_padding_is_stored_per_side_and_sizes_the_output() -> None:
    assert _layer(padding=1).padding == (1, 1, 1, 1)
    assert _layer(padding=[0, 1, 2, 0]).padding == (0, 1, 2, 0)
    assert _layer(padding=np.int64(2)).padding == (2, 2, 2, 2)
    # floor((H + top + bottom - k) / s) + 1 per axis: TF SAME on an even map at stride 2
    same = _layer(padding=(0, 1, 0, 1), stride=2)
    assert same.out_size(8, 6) == (4, 3) and same.out_size(7, 7) == (3, 3)
    assert _layer(padding=(2, 0, 0, 1)).out_size(5, 6) == (5, 5)
    pw = random_layer(np.random.default_rng(0), "p", "pointwise", 2, 2, 1, 1, (0, 0, 0, 0))
    assert pw.padding == (0, 0, 0, 0)
    with pytest.raises(HwGraphError, match=r"padding \(bottom\) 1 must be in 0..kernel-1"):
        replace(pw, padding=(0, 1, 0, 0))


def test_graph_json_writes_one_int_or_four_and_both_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    a = random_layer(rng, "a", "conv", 1, 2, 3, 2, (0, 1, 0, 1), in_frac=8)
    b = random_layer(rng, "b", "depthwise", 2, 2, 3, 1, 1)
    g = HwGraph("pads", 1, 8, 8, (a, b))
    assert g.shapes() == [(2, 4, 4), (2, 4, 4)]
    save_graph(g, tmp_path / "g")
    doc = json.loads((tmp_path / "g" / GRAPH_JSON).read_text())
    assert [n["padding"] for n in doc["nodes"]] == [[0, 1, 0, 1], 1]
    loaded = load_graph(tmp_path / "g")
    assert [lay.padding for lay in loaded.layers] == [(0, 1, 0, 1), (1, 1, 1, 1)]
    assert graph_digest(loaded) == graph_digest(g)
    # a 4-list whose sides agree loads as the int would (and the digest is the same)
    _edit_json(tmp_path / "g", lambda d: d["nodes"][1].update(padding=[1, 1, 1, 1]))
    assert load_graph(tmp_path / "g").layers[1].padding == (1, 1, 1, 1)


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
    _edit_json(path, lambda d: d["nodes"][0]["format"].update(frac=7))
    with pytest.raises(HwGraphError, match="digest mismatch"):  # formats derive; digest tells
        load_graph(path)


@pytest.mark.parametrize(("field", "value"), [
    ("in_channels", 2.0), ("in_channels", 2.5), ("kernel", 3.0), ("kernel", True),
    ("out_bits", 7.5), ("in_frac", 2.5), ("out_frac", float("nan")), ("stride", "1"),
])
def test_non_integer_fields_are_rejected_by_name(field: str, value) -> None:
    with pytest.raises(HwGraphError, match=f"layer 'l0': {field} must be an integer, got"):
        _layer(**{field: value})


def test_non_boolean_and_non_string_fields_are_rejected() -> None:
    with pytest.raises(HwGraphError, match="in_signed must be true or false, got 'yes'"):
        _layer(in_signed="yes")
    with pytest.raises(HwGraphError, match="kind 3 is not one of"):
        _layer(kind=3)
    with pytest.raises(HwGraphError, match="layer name must be a non-empty string"):
        _layer(name=7)
    assert _layer(kernel=np.int64(3), in_signed=np.bool_(False)).kernel == 3  # numpy scalars


def test_graph_fields_and_layer_objects_are_checked() -> None:
    layer = _layer(in_frac=8)
    with pytest.raises(HwGraphError, match=r"input_height must be an integer, got 5\.5"):
        HwGraph("g", 2, 5.5, 8, (layer,))
    spec = {k: getattr(layer, k) for k in ("name", "kind", "in_channels")}
    with pytest.raises(HwGraphError,
                       match=r"layers\[0\] must be a node \(HwLayer, HwAdd, HwPool\), got"):
        HwGraph("g", 2, 8, 8, (spec,))
    with pytest.raises(HwGraphError, match="layers must be a sequence of nodes"):
        HwGraph("g", 2, 8, 8, layer)
    with pytest.raises(HwGraphError, match="meta must be a dict"):
        HwGraph("g", 2, 8, 8, (layer,), meta=[1])


def _edit_json(path: Path, edit) -> None:
    doc = json.loads((path / GRAPH_JSON).read_text())
    edit(doc)
    (path / GRAPH_JSON).write_text(json.dumps(doc))


def _write_v1(graph: HwGraph, path: Path, fuse: tuple[str, ...] = ()) -> Path:
    """A version-1 directory, as fixynn wrote them before format 2: a chain, layers with
    their input formats and `fuse_next`, arrays keyed by layer index."""
    scalars = ("name", "kind", "in_channels", "out_channels", "kernel", "stride", "padding",
               "weight_bits", "in_bits", "in_frac", "out_bits", "out_frac", "activation")
    path.mkdir(parents=True)
    doc = {"format": "fixynn-hwgraph", "version": 1, "name": graph.name,
           "input_channels": graph.input_channels, "input_height": graph.input_height,
           "input_width": graph.input_width, "input_bits": graph.input_bits,
           "input_frac": graph.input_frac, "meta": {"seed": 3},
           "layers": [{k: getattr(lay, k) for k in scalars}
                      | {"fuse_next": lay.name in fuse, "padding": lay.padding[0]}
                      for lay in graph.layers]}
    (path / GRAPH_JSON).write_text(json.dumps(doc))
    np.savez(path / WEIGHTS_NPZ, **{f"{i}.{k}": getattr(lay, k) for i, lay in
                                    enumerate(graph.layers) for k in ("weight", "bias",
                                                                      "weight_frac")})
    return path


def test_version_1_directories_still_load(graph: HwGraph, tmp_path: Path) -> None:
    dw = graph.layers[1].name  # b1_dw, followed by its pointwise partner
    loaded = load_graph(_write_v1(graph, tmp_path / "v1", fuse=(dw,)))
    assert loaded.meta == {"seed": 3, "fuse": [dw]}  # fuse_next became the plan hint
    assert [lay.name for lay in loaded.layers] == [lay.name for lay in graph.layers]
    assert loaded.is_chain and loaded.outputs == (graph.layers[-1].name,)
    for a, b in zip(graph.layers, loaded.layers, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)
    from fixynn.hw.lower import lower

    assert [s.fused_output for s in lower(loaded).stages] == [False, True] + [False] * (
        len(graph.layers) - 2)
    save_graph(loaded, tmp_path / "v2")  # and it saves as version 2
    assert json.loads((tmp_path / "v2" / GRAPH_JSON).read_text())["version"] == 2
    assert graph_digest(load_graph(tmp_path / "v2")) == graph_digest(loaded)


V1_DEFECTS = [
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
    (lambda d: d["layers"][0].update(fuse_next="yes"), r"layers\[0\].fuse_next must be true"),
    (lambda d: d["layers"][0].update(padding=[1, 1, 1, 1]),
     r"layers\[0\]: padding must be an integer"),  # version 1 pads every side alike
]

V2_DEFECTS = [
    (lambda d: d.update(nodes=5), r"field 'nodes' must be a list of node objects, got 5"),
    (lambda d: d.update(nodes=None), r"field 'nodes' must be a list.*got None"),
    (lambda d: d.update(nodes=["x"]), r"nodes\[0\] must be an object with a 'kind', got 'x'"),
    (lambda d: d["nodes"][1].update(kernel="3"), r"nodes\[1\]: .*kernel must be an integer"),
    (lambda d: d["nodes"][0].pop("stride"), r"field 'nodes\[0\].stride' missing"),
    (lambda d: d["nodes"][0].update(in_channels=2), r"unknown field 'nodes\[0\].in_channels'"),
    (lambda d: d["nodes"][0].update(inputs=[]), r"nodes\[0\]: .*non-empty list"),
    (lambda d: d["nodes"][0].update(inputs=["nope"]), r"reads 'nope', which is neither"),
    (lambda d: d["nodes"][0].update(inputs=[d["nodes"][2]["name"]]), r"form a cycle"),
    (lambda d: d["nodes"][0]["format"].update(bits=7.5), r"nodes\[0\].format.bits must be an"),
    (lambda d: d["nodes"][0]["format"].update(signed=True), r"signed must be true exactly"),
    (lambda d: d["input"].update(height=5.5), r"input_height must be an integer, got 5\.5"),
    (lambda d: d["input"]["format"].update(signed=True), r"the image is unsigned"),
    (lambda d: d.update(outputs=["nope"]), r"output 'nope' is not a node"),
    (lambda d: d.update(outputs=[d["nodes"][1]["name"]]), r"feeds no output"),
    (lambda d: d.pop("outputs"), r"field 'outputs' missing"),
    (lambda d: d.update(version=3), r"format version 3 is not 1 or 2"),
    (lambda d: d["nodes"][0].update(padding=[0, 1]), r"nodes\[0\]: .*padding must be an "
     r"integer or 4 integers \(top, bottom, left, right\), got \[0, 1\]"),
    (lambda d: d["nodes"][0].update(padding=[0, 1, 0, "1"]),
     r"nodes\[0\]: .*padding\[3\] \(right\) must be an integer, got '1'"),
    (lambda d: d["nodes"][0].update(padding=[0, 3, 0, 1]),
     r"nodes\[0\]: .*padding \(bottom\) 3 must be in 0..kernel-1"),
]


@pytest.mark.parametrize(("version", "edit", "message"),
                         [(1, *case) for case in V1_DEFECTS] + [(2, *case) for case in V2_DEFECTS])
def test_bad_graph_json_fields_name_file_and_field(graph: HwGraph, tmp_path: Path, version: int,
                                                   edit, message: str) -> None:
    path = _write_v1(graph, tmp_path / "g") if version == 1 else save_graph(graph, tmp_path / "g")
    _edit_json(path, edit)
    with pytest.raises(HwGraphError, match=message) as info:
        load_graph(path)
    assert str(path / GRAPH_JSON) in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_weight_arrays_name_the_array(graph: HwGraph, tmp_path: Path) -> None:
    path = save_graph(graph, tmp_path / "g")
    first = graph.layers[0].name
    with np.load(path / WEIGHTS_NPZ) as npz:
        arrays = dict(npz)
    arrays[f"{first}.bias"] = arrays[f"{first}.bias"] + 0.5
    np.savez(path / WEIGHTS_NPZ, **arrays)
    with pytest.raises(HwGraphError, match=r"nodes\[0\]: .*bias: expected integers"):
        load_graph(path)
    del arrays[f"{first}.bias"]
    np.savez(path / WEIGHTS_NPZ, **arrays)
    with pytest.raises(HwGraphError, match=rf"weights.npz: array '{first}.bias' missing"):
        load_graph(path)


def test_cli_reports_a_bad_field_in_one_line_with_status_2(graph: HwGraph,
                                                           tmp_path: Path) -> None:
    path = save_graph(graph, tmp_path / "g")
    _edit_json(path, lambda d: d["nodes"][0].update(kernel="3"))
    exe = Path(sys.executable).parent / "fixynn"
    proc = subprocess.run([str(exe), "rtl", str(path), "--out", str(tmp_path / "v")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "graph.json: nodes[0]: layer 'b0_conv': kernel must be an integer" in proc.stderr
    assert not (tmp_path / "v").exists()


def test_dag_rules_name_the_node() -> None:
    rng = np.random.default_rng(1)
    a = replace(random_layer(rng, "a", "conv", 2, 3, 3, 1, 1, in_frac=8), inputs=("input",))
    b = replace(random_layer(rng, "b", "conv", 3, 3, 3, 1, 1), inputs=("c",))
    c = replace(random_layer(rng, "c", "conv", 3, 3, 3, 1, 1), inputs=("b",))
    with pytest.raises(HwGraphError, match="'b', 'c' form a cycle"):
        HwGraph("g", 2, 8, 8, (a, b, c))
    with pytest.raises(HwGraphError, match="reads 'x', which is neither a node nor 'input'"):
        HwGraph("g", 2, 8, 8, (replace(a, inputs=("x",)),))
    with pytest.raises(HwGraphError, match="reads 1 input"):
        HwGraph("g", 2, 8, 8, (replace(a, inputs=("input", "input")),))
    with pytest.raises(HwGraphError, match="'input' is the image's name"):
        HwGraph("g", 2, 8, 8, (replace(a, name="input"),))
    side = replace(random_layer(rng, "side", "conv", 2, 3, 3, 1, 1, in_frac=8),
                   inputs=("input",))
    with pytest.raises(HwGraphError, match="node 'side' feeds no output"):
        HwGraph("g", 2, 8, 8, (side, a))
    two = HwGraph("g", 2, 8, 8, (side, a), outputs=("a", "side"))
    assert two.outputs == ("a", "side") and not two.is_chain
    with pytest.raises(HwGraphError, match="outputs must be distinct"):
        HwGraph("g", 2, 8, 8, (a,), outputs=("a", "a"))


def test_a_dag_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    a = replace(random_layer(rng, "a", "conv", 2, 3, 3, 1, 1, in_frac=8, activation="none"),
                inputs=("input",))
    b = replace(random_layer(rng, "b", "pointwise", 3, 2, 1, 1, 0), inputs=("a",),
                in_signed=True)
    c = replace(random_layer(rng, "c", "depthwise", 3, 3, 3, 2, 1), inputs=("a",),
                in_signed=True)
    g = HwGraph("dag", 2, 5, 7, (a, b, c), outputs=("c", "b"))
    loaded = load_graph(save_graph(g, tmp_path / "d"))
    assert graph_digest(loaded) == graph_digest(g)
    assert loaded.outputs == ("c", "b") and [lay.inputs for lay in loaded.layers] == [
        ("input",), ("a",), ("a",)]
    assert loaded.layers[1].in_format.signed and loaded.layers[0].out_format.signed


def test_docs_worked_example(tmp_path: Path) -> None:
    """docs/ir.md's worked example, number for number."""
    from fixynn.hw.golden import run_graph

    pw = HwLayer(name="pw", kind="pointwise", in_channels=1, out_channels=2, kernel=1,
                 stride=1, padding=0, weight=np.array([3, -2]).reshape(2, 1, 1, 1),
                 bias=np.array([5, -40]), weight_bits=4, weight_frac=np.array([1, 1]),
                 in_bits=8, in_frac=8, out_bits=8, out_frac=4, activation="relu6",
                 inputs=("input",))
    lin = HwLayer(name="lin", kind="depthwise", in_channels=2, out_channels=2, kernel=3,
                  stride=2, padding=1, weight=np.ones((2, 1, 3, 3), dtype=int),
                  bias=np.array([0, -100]), weight_bits=2, weight_frac=np.array([-1, 0]),
                  in_bits=8, in_frac=4, out_bits=6, out_frac=2, activation="none",
                  inputs=("pw",))
    g = HwGraph("example", 1, 2, 2, (pw, lin), outputs=("lin",))
    y_pw, y_lin = run_graph(g, np.array([[[[100, 255], [0, 7]]]]))
    assert y_pw.tolist() == [[[[10, 24], [0, 1]], [[0, 0], [0, 0]]]]
    assert y_lin.tolist() == [[[[18]], [[-25]]]]
    doc = json.loads((save_graph(g, tmp_path / "example") / GRAPH_JSON).read_text())
    assert doc["digest"].startswith("7019990c")
    assert doc["nodes"][1]["format"] == {"signed": True, "bits": 6, "frac": 2}


def test_a_residual_add_round_trips_and_lowers(tmp_path: Path) -> None:
    from fixynn.hw.golden import run_graph
    from fixynn.hw.lower import lower
    from test_golden import _inverted_residual

    g = _inverted_residual(np.random.default_rng(3), stride=1)
    path = save_graph(g, tmp_path / "block")
    doc = json.loads((path / GRAPH_JSON).read_text())
    add = doc["nodes"][-1]
    assert add == {"name": "residual", "kind": "add", "inputs": ["stem", "project"],
                   "activation": "none", "channels": 4,
                   "format": {"signed": True, "bits": 8, "frac": 4}}
    loaded = load_graph(path)
    assert graph_digest(loaded) == graph_digest(g)
    x = np.random.default_rng(4).integers(0, 256, size=(1, 3, 9, 7))
    np.testing.assert_array_equal(run_graph(loaded, x)[-1], run_graph(g, x)[-1])
    add_stage = lower(loaded).stages[-1]
    assert add_stage.layer.name == "residual" and add_stage.skip == 0  # 'stem' is the skip
    assert add_stage.skip_depth > 7  # the 3x3 depthwise of the branch waits a row and more
    _edit_json(path, lambda d: d["nodes"][-1].update(inputs=["stem", "expand"]))
    with pytest.raises(HwGraphError, match=r"nodes\[4\]: channels 4 != 12 of its input 'expand'"):
        load_graph(path)
