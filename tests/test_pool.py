"""maxpool, avgpool, global_avgpool: golden against a loop-by-loop reading of docs/ir.md,
the exactness of the mean's reciprocal, validation, graph.json, value range, the FFE cost."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixynn.hw.golden import run_graph, run_layer
from fixynn.hw.ir import (
    GRAPH_JSON,
    HwGraph,
    HwGraphError,
    HwLayer,
    HwPool,
    graph_digest,
    load_graph,
    save_graph,
)
from fixynn.hw.kinds import kind_of
from fixynn.hw.kinds.pool import round_mean
from fixynn.hw.lower import lower
from fixynn.hw.lower.pool import mean_reciprocal, pool_datapath
from fixynn.hw.numfmt import TensorFormat
from fixynn.hw.ppa.ffe import ELEMENT_GE, estimate_ffe
from fixynn.hw.ppa.tech import load_tech

sys.path.insert(0, str(Path(__file__).parent))
from test_rtl_graphs import pool_chain

U8 = TensorFormat(False, 8, 8)


def _reference(node: HwPool, x: np.ndarray) -> np.ndarray:
    """Scalar loops, Python ints and Fractions, straight from docs/ir.md."""
    b, c, h, w = x.shape
    ho, wo = node.out_size(h, w)
    top, _, left, _ = node.padding
    out = np.zeros((b, c, ho, wo), dtype=np.int64)
    for n in range(b):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    if node.kind == "global_avgpool":
                        cells = [int(v) for v in x[n, ch].flat]
                        real, count = cells, h * w
                    else:
                        real, count = [], node.kernel**2
                        for di in range(node.kernel):
                            for dj in range(node.kernel):
                                yy = i * node.stride + di - top
                                xx = j * node.stride + dj - left
                                if 0 <= yy < h and 0 <= xx < w:
                                    real.append(int(x[n, ch, yy, xx]))
                    if node.kind == "maxpool":  # padding positions excluded
                        out[n, ch, i, j] = max(real)
                    else:  # padding counts as zeros; the mean rounded half up
                        mean = Fraction(sum(real), count)
                        out[n, ch, i, j] = int(np.floor(mean + Fraction(1, 2)))
    return out


CASES = [
    ("maxpool", 2, 2, 0), ("maxpool", 3, 2, (0, 1, 0, 1)), ("maxpool", 3, 1, (2, 0, 1, 2)),
    ("avgpool", 2, 2, 0), ("avgpool", 3, 1, 1), ("avgpool", 3, 2, (1, 0, 2, 1)),
    ("avgpool", 5, 3, (4, 0, 0, 3)), ("avgpool", 1, 2, 0), ("global_avgpool", 1, 1, 0),
]


@pytest.mark.parametrize("fmt", [U8, TensorFormat(False, 3, 0), TensorFormat(True, 6, 2)],
                         ids=str)
@pytest.mark.parametrize(("kind", "k", "stride", "pad"), CASES)
def test_golden_matches_scalar_reference(kind, k, stride, pad, fmt: TensorFormat) -> None:
    node = HwPool("p", kind, ("input",), 3, fmt, kernel=k, stride=stride, padding=pad)
    rng = np.random.default_rng(k * 10 + stride)
    x = rng.integers(fmt.lo, fmt.hi + 1, size=(2, 3, 7, 8))
    got = run_layer(node, x)
    np.testing.assert_array_equal(got, _reference(node, x))
    lo, hi = kind_of(kind).out_range(node)
    assert (lo, hi) == (fmt.lo, fmt.hi) and lo <= got.min() and got.max() <= hi


@st.composite
def _pool_and_map(draw: st.DrawFn) -> tuple[HwPool, np.ndarray]:
    kind = draw(st.sampled_from(["maxpool", "avgpool", "global_avgpool"]))
    signed = draw(st.booleans())
    fmt = TensorFormat(signed, draw(st.integers(2 if signed else 1, 16)), 0)
    k = draw(st.integers(1, 5))
    pad = tuple(draw(st.lists(st.integers(0, k - 1), min_size=4, max_size=4)))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    if kind == "global_avgpool":
        node = HwPool("p", kind, ("input",), 2, fmt)
    else:
        h, w = max(h, k - pad[0] - pad[1]), max(w, k - pad[2] - pad[3])
        node = HwPool("p", kind, ("input",), 2, fmt, kernel=k,
                      stride=draw(st.integers(1, 3)), padding=pad)
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).integers(fmt.lo, fmt.hi + 1, size=(1, 2, h, w))
    return node, x


@given(_pool_and_map())
@settings(max_examples=60, deadline=None)
def test_random_pools_match_scalar_reference(case: tuple[HwPool, np.ndarray]) -> None:
    node, x = case
    np.testing.assert_array_equal(run_layer(node, x), _reference(node, x))


def test_signed_max_excludes_padding_and_means_round_half_up() -> None:
    s8 = TensorFormat(True, 8, 0)
    x = np.full((1, 1, 2, 2), -7)
    pool = HwPool("p", "maxpool", ("input",), 1, s8, kernel=2, stride=1, padding=1)
    assert run_layer(pool, x).tolist() == [[[[-7] * 3] * 3]]  # zero padding would give 0
    # ties go up: -2.5 -> -2, 2.5 -> 3; 1.5 -> 2; -1.25 -> -1
    cases = [([-1, -4, 0, 0], -1), ([-5, -5, 0, 0], -2), ([5, 5, 0, 0], 3), ([3, 3, 0, 0], 2)]
    avg = HwPool("a", "global_avgpool", ("input",), 1, s8)
    for values, want in cases:
        assert int(run_layer(avg, np.array(values).reshape(1, 1, 2, 2))[0, 0, 0, 0]) == want
    assert round_mean(np.array([-5, 5, 7]), 2).tolist() == [-2, 3, 4]


@pytest.mark.parametrize("bits", [1, 8, 16])
def test_the_mean_reciprocal_is_exact_for_every_sum(bits: int) -> None:
    """(sum * mult + offset) >> shift == floor((2 sum + N) / 2N) for every possible sum."""
    for n in [*range(1, 26), 36, 49, 64, 100] if bits < 16 else [1, 3, 9, 25, 49]:
        node = HwPool("g", "global_avgpool", ("input",), 1, TensorFormat(False, bits, 0))
        dp = pool_datapath(node, n, 1)
        total = np.arange(n * (2**bits - 1) + 1, dtype=np.int64)
        got = (total * dp.mult + dp.offset) >> dp.shift
        np.testing.assert_array_equal(got, round_mean(total, n), err_msg=f"N = {n}")
        if n & (n - 1) == 0:  # a power of two: no multiplier, a rounding add and a shift
            assert (dp.mult, dp.shift) == (2, n.bit_length())
    m, s = mean_reciprocal(9, 2 * 9 * 255 + 9)
    assert (m, s) == (3641, 16)  # and S is the smallest shift that is exact:
    assert any((u * -(-(1 << (s - 1)) // 18)) >> (s - 1) != u // 18 for u in range(4600))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kernel": 0}, "kernel must be >= 1"),
    ({"stride": 2.0}, "stride must be an integer"),
    ({"kernel": 2, "padding": 2}, r"padding \(top\) 2 must be in 0..kernel-1"),
    ({"kernel": 3, "padding": (0, 1)}, "padding must be an integer or 4 integers"),
    ({"kind": "minpool"}, "kind 'minpool' is not one of maxpool, avgpool, global_avgpool"),
    ({"kind": "global_avgpool", "kernel": 2}, "a global_avgpool has no kernel"),
    ({"inputs": ("a", "b")}, "inputs must name one tensor"),
    ({"channels": 0}, "channels must be >= 1"),
    ({"in_format": (False, 8, 8)}, "in_format must be a TensorFormat"),
])
def test_invalid_pools_name_the_problem(kwargs: dict, message: str) -> None:
    spec = {"name": "p", "kind": "maxpool", "inputs": (), "channels": 2, "in_format": U8}
    with pytest.raises(HwGraphError, match=message):
        HwPool(**(spec | kwargs))


def test_graph_checks_a_pool_against_its_input() -> None:
    with pytest.raises(HwGraphError, match="channels 3 != 2 of its input 'input'"):
        HwGraph("g", 2, 4, 4, (HwPool("p", "maxpool", (), 3, U8, kernel=2),))
    with pytest.raises(HwGraphError, match="passes its input's format through"):
        HwGraph("g", 2, 4, 4, (HwPool("p", "maxpool", (), 2, TensorFormat(False, 8, 4)),))
    with pytest.raises(HwGraphError, match=r"output map is empty \(0x2\)"):
        HwGraph("g", 2, 2, 4, (HwPool("p", "avgpool", (), 2, U8, kernel=3, stride=1),))


def test_pools_round_trip_through_graph_json(tmp_path: Path) -> None:
    g = pool_chain()
    assert g.shapes() == [(3, 9, 8), (3, 4, 4), (3, 5, 5), (3, 5, 5), (3, 1, 1)]
    save_graph(g, tmp_path / "g")
    doc = json.loads((tmp_path / "g" / GRAPH_JSON).read_text())
    mp, ap, _, gap = doc["nodes"][1:]
    assert (mp["kind"], mp["kernel"], mp["stride"], mp["padding"]) == ("maxpool", 3, 2,
                                                                      [0, 1, 0, 1])
    assert ap["padding"] == 1 and ap["activation"] == "relu"
    assert set(gap) == {"name", "kind", "inputs", "activation", "format", "channels"}
    assert gap["format"] == doc["nodes"][0]["format"]
    loaded = load_graph(tmp_path / "g")
    assert graph_digest(loaded) == graph_digest(g)
    x = np.random.default_rng(1).integers(0, 256, size=(3, 2, 9, 8))
    for a, b in zip(run_graph(g, x), run_graph(loaded, x), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda n: n.update(activation="relu6"), r"nodes\[1\]: a maxpool passes its input's format "
     r"through: format must be .* and activation 'relu'"),
    (lambda n: n["format"].update(frac=3), r"nodes\[1\]: a maxpool passes its input's format"),
    (lambda n: n.update(kernel="3"), r"nodes\[1\]: node 'mp': kernel must be an integer"),
    (lambda n: n.pop("padding"), r"field 'nodes\[1\].padding' missing"),
    (lambda n: n.update(weight_bits=8), r"unknown field 'nodes\[1\].weight_bits'"),
])
def test_bad_pool_fields_name_file_and_field(tmp_path: Path, edit, message: str) -> None:
    path = save_graph(pool_chain(), tmp_path / "g")
    doc = json.loads((path / GRAPH_JSON).read_text())
    edit(doc["nodes"][1])
    doc.pop("digest")
    (path / GRAPH_JSON).write_text(json.dumps(doc))
    with pytest.raises(HwGraphError, match=message) as info:
        load_graph(path)
    assert str(path / GRAPH_JSON) in str(info.value)


def test_pool_lowering_and_cost_by_hand() -> None:
    """maxpool 2x2 stride 2 over one 4-bit channel on 4x4: 3 max nodes of 4 bits, a 2x2
    window (2 cells cleared at row starts), one 4-pixel line, a 4-bit output register."""
    fmt = TensorFormat(False, 4, 4)
    g = HwGraph("mp", 1, 4, 4, (HwPool("p", "maxpool", (), 1, fmt, kernel=2, stride=2),),
                input_bits=4, input_frac=4)
    (stage,) = lower(g).stages
    assert stage.cycles == 16 and stage.structure.adder_widths == {4: 3}
    (layer,) = estimate_ffe(g, load_tech("45nm"), line_buffer="ff").layers
    g_ = ELEMENT_GE
    assert layer.area_ge["adders"] == pytest.approx(3 * 4 * g_["max_bit"])
    assert layer.area_ge["window"] == pytest.approx(16 * g_["window_bit"]
                                                    + 8 * g_["window_clear_bit"])
    assert layer.area_ge["line_buffer"] == pytest.approx(16 * g_["line_buffer_ff_bit"])
    assert layer.area_ge["registers"] == pytest.approx(4 * g_["register_bit"])
    assert layer.ops_per_frame == 0  # no multiply-accumulates
    # avgpool 2x2: a 2-level adder tree (5- and 6-bit adders), the mean a rounding add
    avg = HwGraph("ap", 1, 4, 4, (HwPool("p", "avgpool", (), 1, fmt, kernel=2, stride=2),),
                  input_bits=4, input_frac=4)
    dp = lower(avg).stages[0].datapath
    assert (dp.n, dp.mult, dp.offset, dp.shift) == (4, 2, 4, 3)
    assert lower(avg).stages[0].structure.adder_widths == {5: 2, 6: 1, dp.product_width: 1}


def test_a_signed_pool_is_its_unsigned_twin_in_offset_binary() -> None:
    """Two signed 4-bit channels: the sign bits (bits 3 and 7) flip in and out; padding holds
    the offset-binary zero (0b1000 per channel) for an average, 0 (the minimum) for a max; the
    datapath and its price are the unsigned twin's, plus an inverter per channel each way."""
    s4, u4 = TensorFormat(True, 4, 0), TensorFormat(False, 4, 0)
    tech = load_tech("45nm")
    for kind in ("maxpool", "avgpool"):
        signed, unsigned = (HwPool("p", kind, ("input",), 2, f, kernel=3, stride=2, padding=1)
                            for f in (s4, u4))
        dp, twin = pool_datapath(signed, 5, 5), pool_datapath(unsigned, 5, 5)
        assert dp.sign_mask == 0b1000_1000 and twin.sign_mask == 0
        assert dp.window_fill == (0 if kind == "maxpool" else 0b1000_1000)
        assert (dp.n, dp.mult, dp.offset, dp.shift) == (twin.n, twin.mult, twin.offset,
                                                        twin.shift)
        # the identity behind it, on every 3x3 window of values of the format
        x = np.random.default_rng(0).integers(-8, 8, size=(1, 2, 5, 5))
        np.testing.assert_array_equal(run_layer(signed, x) + 8, run_layer(unsigned, x + 8)
                                      if kind == "maxpool" else _offset_avg(unsigned, x + 8))
        g_s = HwGraph("s", 1, 5, 5, (_pw_to(s4), replace(signed, inputs=("pw",))),
                      input_bits=4, input_frac=0)
        g_u = HwGraph("u", 1, 5, 5, (_pw_to(u4), replace(unsigned, inputs=("pw",))),
                      input_bits=4, input_frac=0)
        est_s, est_u = (estimate_ffe(g, tech, line_buffer="ff").layers[1] for g in (g_s, g_u))
        flip = est_s.area_ge.pop("sign_flip")
        assert flip == pytest.approx(4 * ELEMENT_GE["invert_bit"])
        assert est_s.area_ge == pytest.approx(est_u.area_ge)


def _offset_avg(node: HwPool, x: np.ndarray) -> np.ndarray:
    """The unsigned average of offset-binary values whose padding holds the offset zero."""
    top, bottom, left, right = node.padding
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=8)
    return run_layer(replace(node, padding=0), xp)


def _pw_to(fmt: TensorFormat) -> HwLayer:
    """A 4-bit pointwise layer into 2 channels of `fmt` (linear for a signed format)."""
    return HwLayer(name="pw", kind="pointwise", in_channels=1, out_channels=2,  # type: ignore[arg-type]
                   kernel=1, stride=1, padding=0, weight=np.array([1, -1]).reshape(2, 1, 1, 1),
                   bias=np.zeros(2), weight_bits=4, weight_frac=np.zeros(2), in_bits=4,
                   in_frac=0, out_bits=4, out_frac=0,
                   activation="none" if fmt.signed else "relu", inputs=("input",))
