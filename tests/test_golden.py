"""The golden executor against a literal loop-by-loop reading of DESIGN.md's semantics."""

import math
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixynn.hw.golden import run_graph, run_layer
from fixynn.hw.ir import HwGraph, HwGraphError, HwLayer
from fixynn.hw.kinds import kind_of
from fixynn.hw.numfmt import requantize
from fixynn.hw.synthetic import random_layer


def _reference_layer(layer, x: np.ndarray) -> np.ndarray:
    """Scalar loops, Python ints: slow and obviously right."""
    b, _, h, w = x.shape
    ho, wo = layer.out_size(h, w)
    k, s, (top, _, left, _) = layer.kernel, layer.stride, layer.padding
    cin_per_group = layer.in_channels // layer.groups
    out = np.zeros((b, layer.out_channels, ho, wo), dtype=np.int64)
    for n in range(b):
        for o in range(layer.out_channels):
            base = (o // (layer.out_channels // layer.groups)) * cin_per_group
            shift = int(layer.shift[o])
            for i in range(ho):
                for j in range(wo):
                    acc = int(layer.bias[o])
                    for ci in range(cin_per_group):
                        for di in range(k):
                            for dj in range(k):
                                yy, xx = i * s + di - top, j * s + dj - left
                                if 0 <= yy < h and 0 <= xx < w:
                                    w_ = int(layer.weight[o, ci, di, dj])
                                    acc += w_ * int(x[n, base + ci, yy, xx])
                    y = (acc + (1 << (shift - 1))) >> shift if shift > 0 else acc << -shift
                    out[n, o, i, j] = min(max(y, layer.act_lo), layer.act_hi)
    return out


@pytest.mark.parametrize(
    ("kind", "cin", "cout", "k", "stride", "pad"),
    [("conv", 3, 4, 3, 1, 1), ("conv", 2, 3, 5, 2, 2), ("depthwise", 4, 4, 3, 2, 1),
     ("pointwise", 5, 3, 1, 1, 0), ("pointwise", 4, 2, 1, 2, 0), ("conv", 1, 2, 3, 2, 0)],
)
def test_layer_matches_scalar_reference(kind, cin, cout, k, stride, pad) -> None:
    rng = np.random.default_rng(cin * 10 + k)
    layer = random_layer(rng, "l", kind, cin, cout, k, stride, pad, weight_bits=6, sparsity=0.2)
    # mixed per-channel shifts including 0 and negative (left shift)
    layer = replace(layer, weight_frac=layer.weight_frac - np.arange(cout) * 4)
    x = rng.integers(0, 256, size=(2, cin, 7, 6))
    np.testing.assert_array_equal(run_layer(layer, x), _reference_layer(layer, x))


@pytest.mark.parametrize(("kind", "k", "stride", "pad", "size", "out"), [
    ("conv", 3, 2, (0, 1, 0, 1), (8, 8), (4, 4)),  # TF SAME, stride 2, even map
    ("conv", 3, 2, (1, 1, 1, 1), (7, 7), (4, 4)),  # TF SAME, stride 2, odd map
    ("depthwise", 5, 2, (1, 2, 1, 2), (8, 6), (4, 3)),
    ("conv", 3, 1, (2, 0, 0, 1), (5, 6), (5, 5)),  # every side different
    ("depthwise", 4, 1, (1, 2, 2, 1), (5, 5), (5, 5)),  # even kernel, 'same' at stride 1
])
def test_per_side_padding_matches_scalar_reference(kind, k, stride, pad, size, out) -> None:
    rng = np.random.default_rng(k * 7 + stride)
    layer = random_layer(rng, "l", kind, 3, 3, k, stride, pad, weight_bits=6, sparsity=0.2)
    assert layer.padding == pad and layer.out_size(*size) == out
    x = rng.integers(0, 256, size=(2, 3, *size))
    got = run_layer(layer, x)
    assert got.shape == (2, 3, *out)
    np.testing.assert_array_equal(got, _reference_layer(layer, x))


def test_per_side_padding_pads_the_named_side() -> None:
    """Weights 1 on a 1-channel 2x2 conv: each output is its window's sum, so the zeros
    show where the padding went (bottom/right only: the TF SAME stride-2 case)."""
    layer = HwLayer(name="l", kind="conv", in_channels=1, out_channels=1, kernel=2, stride=1,
                    padding=(0, 1, 0, 1), weight=np.ones((1, 1, 2, 2)), bias=np.zeros(1),
                    weight_bits=2, weight_frac=np.zeros(1), in_bits=8, in_frac=0, out_bits=8,
                    out_frac=0, activation="relu")
    x = np.array([[[[1, 2], [3, 4]]]])
    assert run_layer(layer, x).tolist() == [[[[10, 6], [7, 4]]]]
    flipped = replace(layer, padding=(1, 0, 1, 0))
    assert run_layer(flipped, x).tolist() == [[[[1, 3], [4, 10]]]]


def test_requantize_rounds_half_up_and_clamps() -> None:
    acc = np.array([-5, 5, 6, 7, 100, 1000]).reshape(1, -1)
    assert requantize(acc, np.full(6, 2), 200).tolist() == [[0, 1, 2, 2, 25, 200]]
    assert requantize(acc, np.zeros(6, dtype=int), 50).tolist() == [[0, 5, 6, 7, 50, 50]]
    assert requantize(acc, np.full(6, -1), 255).tolist() == [[0, 10, 12, 14, 200, 255]]


def test_huge_accumulators_take_the_exact_int64_path() -> None:
    rng = np.random.default_rng(1)
    layer = random_layer(rng, "l", "conv", 2, 2, 3, 1, 1)
    offset = 2**55  # beyond float64's exact integers: forces the int64 path
    big = replace(layer, bias=layer.bias + offset,
                  weight_frac=np.full(2, 60 - layer.in_frac + layer.out_frac))
    x = rng.integers(0, 256, size=(1, 2, 5, 5))
    np.testing.assert_array_equal(run_layer(big, x), _reference_layer(big, x))


def test_graph_runs_layers_in_order_and_checks_input() -> None:
    rng = np.random.default_rng(2)
    l0 = random_layer(rng, "a", "conv", 1, 3, 3, 2, 1, in_frac=8)
    l1 = random_layer(rng, "b", "depthwise", 3, 3, 3, 1, 1)
    l2 = random_layer(rng, "c", "pointwise", 3, 4, 1, 1, 0)
    graph = HwGraph("g", 1, 9, 9, (l0, l1, l2))
    x = rng.integers(0, 256, size=(70, 1, 9, 9))  # more than one internal batch
    outs = run_graph(graph, x)
    assert [o.shape for o in outs] == [(70, 3, 5, 5), (70, 3, 5, 5), (70, 4, 5, 5)]
    np.testing.assert_array_equal(outs[2], run_layer(l2, run_layer(l1, run_layer(l0, x))))
    np.testing.assert_array_equal(run_graph(graph, x, keep_all=False)[0], outs[2])
    with pytest.raises(ValueError, match="shape"):
        run_graph(graph, x[:, :, :8])
    with pytest.raises(HwGraphError, match="8-bit"):
        run_graph(graph, x + 256)


def _one_weight_pointwise(bias: int, weight_frac: int, activation: str = "relu") -> HwLayer:
    """1 -> 1 channel pointwise, weight 1, every fraction 0 but the weight's."""
    return HwLayer(name="pw", kind="pointwise", in_channels=1, out_channels=1, kernel=1,
                   stride=1, padding=0, weight=np.ones((1, 1, 1, 1), dtype=np.int64),
                   bias=np.array([bias]), weight_bits=8, weight_frac=np.array([weight_frac]),
                   in_bits=8, in_frac=0, out_bits=8, out_frac=0, activation=activation)


@pytest.mark.parametrize(("bias", "weight_frac", "pixel", "expected"), [
    (2**62 - 1, -1, 1, 255),  # acc = 2^62: acc << 1 wrapped to -2^63 -> 0
    (2**24, -40, 0, 255),  # 2^24 << 40 = 2^64 wrapped to 0
    (-3, -62, 0, 0),  # -3 << 62 wrapped to +2^62 -> 255
    (-3, -62, 3, 0),  # acc 0
    (-3, -62, 4, 255),  # acc 1: 2^62 saturates
    (2**62 - 1, 62, 255, 1),  # (2^62 + 254 + 2^61) >> 62: no overflow on the rounding add
])
def test_left_shift_saturates_instead_of_wrapping(bias, weight_frac, pixel, expected) -> None:
    layer = _one_weight_pointwise(bias, weight_frac)
    graph = HwGraph("g", 1, 1, 1, (layer,), input_bits=8, input_frac=0)
    (out,) = run_graph(graph, np.full((1, 1, 1, 1), pixel), keep_all=False)
    assert int(out[0, 0, 0, 0]) == expected
    assert int(_reference_layer(layer, np.full((1, 1, 1, 1), pixel))[0, 0, 0, 0]) == expected


def test_every_pixel_matches_python_integers_at_the_ir_limits() -> None:
    """All 256 pixels through extreme biases and shifts, against unbounded Python ints."""
    x = np.arange(256).reshape(1, 1, 16, 16)
    for bias in (2**62 - 1, -(2**62 - 1), 2**24, -3, 0, 1):
        for weight_frac in (-62, -40, -8, -1, 0, 1, 8, 40, 62):
            layer = _one_weight_pointwise(bias, weight_frac)
            np.testing.assert_array_equal(run_layer(layer, x), _reference_layer(layer, x),
                                          err_msg=f"bias {bias}, weight_frac {weight_frac}")


def test_relu6_bound_is_an_integer_for_negative_out_frac() -> None:
    # out_frac -2: an output integer q stands for 4q, so ReLU6 caps q at floor(6 / 4) = 1.
    layer = replace(_one_weight_pointwise(0, 0, "relu6"), out_frac=-2)
    assert layer.act_hi == 1 and isinstance(layer.act_hi, int)
    assert replace(layer, out_frac=-1).act_hi == 3 and replace(layer, out_frac=-3).act_hi == 0
    graph = HwGraph("g", 1, 1, 4, (layer,), input_bits=8, input_frac=0)
    (out,) = run_graph(graph, np.array([[[[0, 2, 4, 200]]]]), keep_all=False)
    assert out.dtype == np.int64
    assert out.ravel().tolist() == [0, 1, 1, 1]  # 0 -> 0, 2 -> round(0.5) = 1, capped at 1


def test_accumulator_bound_beyond_int64_is_rejected(monkeypatch) -> None:
    # The real limit (2^60) needs ~2^29 16-bit weights per channel (4 GiB), so lower it.
    monkeypatch.setattr("fixynn.hw.kinds.conv.MAX_PRODUCTS_EXCLUSIVE", 2**20)
    layer = _one_weight_pointwise(0, 0)
    wide = dict(in_channels=16, weight=np.full((1, 16, 1, 1), 127))
    with pytest.raises(HwGraphError, match="not be exact in 64 bits"):
        replace(layer, **wide, in_bits=16)  # 16 * 127 * 65535 > 2^20
    assert replace(layer, **wide).in_channels == 16  # 16 * 127 * 255 < 2^20


@pytest.mark.parametrize(("pixels", "message"), [
    (np.full((1, 1, 1, 1), 0.5), "integers, found 0.5"),
    (np.full((1, 1, 1, 1), np.nan), "NaN"),
    (np.full((1, 1, 1, 1), 256), "0..255"),
    (np.full((1, 1, 1, 1), -1), "0..255"),
    (np.full((1, 1, 1, 1), "3"), "dtype"),
])
def test_bad_pixels_are_rejected(pixels, message) -> None:
    graph = HwGraph("g", 1, 1, 1, (_one_weight_pointwise(0, 0),), input_frac=0)
    with pytest.raises(HwGraphError, match=message):
        run_graph(graph, pixels)
    (out,) = run_graph(graph, np.full((1, 1, 1, 1), 7.0), keep_all=False)  # integral floats
    assert int(out[0, 0, 0, 0]) == 7


def test_linear_layers_give_signed_saturated_outputs_and_feed_signed_inputs() -> None:
    """activation none: clamp to the signed range; the next layer reads signed inputs."""
    rng = np.random.default_rng(5)
    lin = random_layer(rng, "lin", "conv", 2, 3, 3, 1, 1, in_frac=8, activation="none",
                       out_bits=6, out_frac=2)
    assert (lin.act_lo, lin.act_hi) == (-32, 31) and lin.out_format.signed
    nxt = replace(random_layer(rng, "dw", "depthwise", 3, 3, 3, 2, 1, in_bits=6, in_frac=2),
                  in_signed=True)
    graph = HwGraph("g", 2, 7, 5, (lin, nxt))
    x = rng.integers(0, 256, size=(3, 2, 7, 5))
    y_lin, y = run_graph(graph, x)
    np.testing.assert_array_equal(y_lin, _reference_layer(lin, x))
    assert y_lin.min() == -32 and y_lin.max() == 31 and (y_lin < 0).mean() > 0.1
    np.testing.assert_array_equal(y, _reference_layer(nxt, y_lin))
    with pytest.raises(HwGraphError, match="input format unsigned 6b/frac 2 != signed"):
        HwGraph("g", 2, 7, 5, (lin, replace(nxt, in_signed=False)))


def test_a_branching_graph_runs_every_node_on_its_own_input() -> None:
    rng = np.random.default_rng(6)
    stem = replace(random_layer(rng, "stem", "conv", 1, 4, 3, 1, 1, in_frac=8),
                   inputs=("input",))
    left = replace(random_layer(rng, "left", "depthwise", 4, 4, 3, 2, 1), inputs=("stem",))
    right = replace(random_layer(rng, "right", "pointwise", 4, 2, 1, 1, 0), inputs=("stem",))
    # listed out of order on purpose: the graph sorts producers first
    graph = HwGraph("g", 1, 6, 6, (right, left, stem), outputs=("left", "right"))
    assert [lay.name for lay in graph.layers] == ["stem", "right", "left"]
    assert not graph.is_chain
    x = rng.integers(0, 256, size=(2, 1, 6, 6))
    out_left, out_right = run_graph(graph, x, keep_all=False)
    s = _reference_layer(stem, x)
    np.testing.assert_array_equal(out_left, _reference_layer(left, s))
    np.testing.assert_array_equal(out_right, _reference_layer(right, s))
    assert out_left.shape == (2, 4, 3, 3) and out_right.shape == (2, 2, 6, 6)
    with pytest.raises(HwGraphError, match="names no inputs while others do"):
        HwGraph("g", 1, 6, 6, (replace(stem, inputs=()), left), outputs=("left",))


def _reference_add(node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """docs/ir.md's add, one Python int at a time."""
    fa, fb = (f.frac for f in node.in_formats)
    top = max(fa, fb)
    s = top - node.out_frac
    bits = node.out_bits
    lo, hi = {"none": (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1), "relu": (0, 2**bits - 1),
              "relu6": (0, min(2**bits - 1, math.floor(6 * Fraction(2) ** node.out_frac)))
              }[node.activation]
    out = np.zeros(a.shape, dtype=np.int64)
    for idx in np.ndindex(a.shape):
        acc = (int(a[idx]) << (top - fa)) + (int(b[idx]) << (top - fb))
        y = (acc + (1 << (s - 1))) >> s if s > 0 else acc << -s
        out[idx] = min(max(y, lo), hi)
    return out


@pytest.mark.parametrize(("fa", "fb", "fo", "bits", "activation"), [
    (4, 4, 4, 8, "none"), (5, 2, 3, 6, "none"), (2, 6, 6, 9, "relu"), (3, 3, 1, 4, "relu6"),
    (0, 7, 9, 12, "none"), (6, 6, 0, 3, "none"),
])
def test_add_matches_scalar_reference(fa, fb, fo, bits, activation) -> None:
    from fixynn.hw.ir import HwAdd
    from fixynn.hw.numfmt import TensorFormat

    rng = np.random.default_rng(fa * 100 + fb * 10 + fo)
    fmt_a, fmt_b = TensorFormat(True, 7, fa), TensorFormat(False, 5, fb)
    node = HwAdd("sum", ("a", "b"), 3, (fmt_a, fmt_b), bits, fo, activation)
    a = rng.integers(fmt_a.lo, fmt_a.hi + 1, size=(2, 3, 4, 5))
    b = rng.integers(fmt_b.lo, fmt_b.hi + 1, size=(2, 3, 4, 5))
    got = run_layer(node, a, b)
    want = _reference_add(node, a, b)
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(want)) >= 3  # neither constant nor all saturated


def test_add_rules_name_the_field() -> None:
    from fixynn.hw.ir import HwAdd
    from fixynn.hw.numfmt import TensorFormat

    f = TensorFormat(False, 8, 4)
    with pytest.raises(HwGraphError, match="inputs must name two tensors"):
        HwAdd("s", ("a",), 2, (f, f), 8, 4)
    with pytest.raises(HwGraphError, match="differ by 50 > 44"):
        HwAdd("s", ("a", "b"), 2, (f, TensorFormat(False, 8, 54)), 8, 4)
    with pytest.raises(HwGraphError, match=r"channels must be an integer, got 2\.0"):
        HwAdd("s", ("a", "b"), 2.0, (f, f), 8, 4)


def _inverted_residual(rng: np.random.Generator, stride: int) -> HwGraph:
    """MobileNetV2-style: stem, expand 1x1 + ReLU6, depthwise 3x3, linear projection, and
    (stride 1) the residual add of the block's input and the projection."""
    from fixynn.hw.ir import HwAdd

    def named(layer, *inputs):
        return replace(layer, inputs=inputs)

    stem = named(random_layer(rng, "stem", "conv", 3, 4, 3, 1, 1, in_frac=8), "input")
    expand = named(random_layer(rng, "expand", "pointwise", 4, 12, 1, 1, 0), "stem")
    dw = named(random_layer(rng, "dw", "depthwise", 12, 12, 3, stride, 1), "expand")
    project = named(random_layer(rng, "project", "pointwise", 12, 4, 1, 1, 0, activation="none",
                                 out_bits=8, out_frac=4), "dw")
    nodes = [stem, expand, dw, project]
    if stride == 1:
        nodes.append(HwAdd("residual", ("stem", "project"), 4,
                           (stem.out_format, project.out_format), 8, 4, "none"))
    return HwGraph(f"ir{stride}", 3, 9, 7, tuple(nodes), outputs=(nodes[-1].name,))


@pytest.mark.parametrize("stride", [1, 2])
def test_inverted_residual_block_matches_scalar_reference(stride: int) -> None:
    rng = np.random.default_rng(stride)
    graph = _inverted_residual(rng, stride)
    x = rng.integers(0, 256, size=(2, 3, 9, 7))
    outs = dict(zip([n.name for n in graph.layers], run_graph(graph, x), strict=True))
    by_name = {n.name: n for n in graph.layers}
    ref = {"input": x}
    for name in ("stem", "expand", "dw", "project"):
        ref[name] = _reference_layer(by_name[name], ref[by_name[name].inputs[0]])
        np.testing.assert_array_equal(outs[name], ref[name], err_msg=name)
    assert (outs["project"] < 0).any() and (outs["project"] > 0).any()  # signed, alive
    if stride == 1:
        want = _reference_add(by_name["residual"], ref["stem"], ref["project"])
        np.testing.assert_array_equal(outs["residual"], want)
        assert run_graph(graph, x, keep_all=False)[0].shape == (2, 4, 9, 7)
    else:
        assert outs["project"].shape == (2, 4, 5, 4)


def random_dag(seed: int) -> HwGraph:
    """A small random DAG: conv / depthwise / pointwise of any activation (signed outputs
    feeding signed inputs), residual adds of equal-shaped tensors, odd and 1x1 maps."""
    from fixynn.hw.ir import HwAdd

    rng = np.random.default_rng(seed)
    c0, h, w = int(rng.integers(1, 3)), int(rng.integers(1, 6)), int(rng.integers(1, 6))
    tensors = {"input": ((c0, h, w), HwGraph("t", c0, h, w, ()).input_format)}
    nodes: list = []
    consumed: set[str] = set()
    for i in range(int(rng.integers(1, 6))):
        same = [(a, b) for a in tensors for b in tensors if a < b
                and tensors[a][0] == tensors[b][0]]
        act = str(rng.choice(["none", "relu", "relu6"]))
        out_bits = int(rng.integers(2, 9))
        out_frac = int(rng.integers(-1, out_bits + 1))
        if same and rng.random() < 0.4:
            a, b = same[int(rng.integers(len(same)))]
            node = HwAdd(f"n{i}", (a, b), tensors[a][0][0], (tensors[a][1], tensors[b][1]),
                         out_bits, out_frac, act)
            srcs = [a, b]
        else:
            src = str(rng.choice(list(tensors)))
            (c, sh, sw), fmt = tensors[src]
            kind = str(rng.choice(["conv", "depthwise", "pointwise"]))
            k = 1 if kind == "pointwise" else int(rng.choice([1, 3]))
            stride = int(rng.choice([1, 2]))
            pad = 0 if kind == "pointwise" else int(rng.integers(0, k))
            if min(sh, sw) + 2 * pad < k:
                continue
            out_c = c if kind == "depthwise" else int(rng.integers(1, 4))
            node = replace(random_layer(rng, f"n{i}", kind, c, out_c, k, stride, pad,
                                        weight_bits=int(rng.integers(2, 7)), in_bits=fmt.bits,
                                        in_frac=fmt.frac, out_bits=out_bits, out_frac=out_frac,
                                        activation=act),
                           inputs=(src,), in_signed=fmt.signed)
            srcs = [src]
        nodes.append(node)
        consumed.update(srcs)
        shape = kind_of(node.kind).check_inputs(node, [tensors[s][0] for s in srcs],
                                                [tensors[s][1] for s in srcs])
        tensors[node.name] = (shape, node.out_format)
    if not nodes:
        return random_dag(seed + 1)
    outputs = tuple(n.name for n in nodes if n.name not in consumed)
    return HwGraph(f"dag{seed}", c0, h, w, tuple(nodes), outputs=outputs)


def _reference_graph(graph: HwGraph, x: np.ndarray) -> dict[str, np.ndarray]:
    env = {"input": x}
    for node in graph.layers:
        ins = [env[i] for i in node.inputs]
        env[node.name] = (_reference_add(node, *ins) if node.kind == "add"
                          else _reference_layer(node, ins[0]))
    return env


@given(st.integers(0, 2**31 - 1))
@settings(max_examples=40, deadline=None, derandomize=True)
def test_random_dags_match_the_scalar_reference(seed: int) -> None:
    graph = random_dag(seed)
    x = np.random.default_rng(seed).integers(0, 256, size=(1, graph.input_channels,
                                                           graph.input_height,
                                                           graph.input_width))
    ref = _reference_graph(graph, x)
    for node, got in zip(graph.layers, run_graph(graph, x), strict=True):
        np.testing.assert_array_equal(got, ref[node.name], err_msg=node.name)


def test_the_dag_generator_covers_every_kind_and_signed_tensors() -> None:
    graphs = [random_dag(seed) for seed in range(60)]
    kinds = {n.kind for g in graphs for n in g.layers}
    assert kinds == {"conv", "depthwise", "pointwise", "add"}
    assert any(n.out_format.signed for g in graphs for n in g.layers)
    assert any(not g.is_chain for g in graphs)
    assert any(min(s[1:]) == 1 for g in graphs for s in g.shapes())  # 1-pixel rows or maps
