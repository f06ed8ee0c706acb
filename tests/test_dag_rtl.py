"""Hardware for DAGs (issue 9): signed datapaths, residual adds with the skip buffer sized from
the plan, DAG lowering; RTL == golden in Verilator and in Icarus on random DAGs, a
MobileNetV2-style inverted-residual pair at 64x64."""

from __future__ import annotations

import importlib
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import fixynn.hw.icarus as icarus
import fixynn.hw.lower as lower_mod
from fixynn.hw.golden import run_graph
from fixynn.hw.ir import HwAdd, HwGraph, HwGraphError, HwLayer, HwPool
from fixynn.hw.lower import HwOptions, lower
from fixynn.hw.lower.timing import Stream
from fixynn.hw.numfmt import TensorFormat
from fixynn.hw.ppa.ffe import estimate_ffe
from fixynn.hw.ppa.tech import load_tech
from fixynn.hw.rtl import generate_rtl
from fixynn.hw.rtl.emit import graph_verilog, top_name
from fixynn.hw.sim import lint, verify_graphs
from fixynn.hw.synthetic import random_layer
from fixynn.pipeline.collect import area_rows

sys.path.insert(0, str(Path(__file__).parent))
from test_rtl_emit import _emitted_adders
from test_rtl_graphs import dags, images_for, random_dag, signed_pool_chain

stimulus_mod = importlib.import_module("fixynn.hw.rtl.stimulus")  # the package exports a
# function of the same name


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache") / "fixynn" / "verilator"


def _check(graphs: list[HwGraph], work: Path, cache: Path, style: str = "csd",
           pipeline: bool = False, n: int = 2) -> None:
    images = [images_for(g, n, seed=i) for i, g in enumerate(graphs)]
    results = verify_graphs(graphs, images, work, style, pipeline, cache_dir=cache)
    for g, r in zip(graphs, results, strict=True):
        assert r.mismatches == 0, (g.name, [m.first for m in r.layers if m.mismatches])
        assert r.outputs_compared == n * sum(c * h * w for c, h, w in g.shapes())


def _projections(graph: HwGraph) -> list[HwAdd]:
    """Adds of two computed tensors, neither on the other's path (a projection shortcut)."""
    up: dict[str, set[str]] = {"input": set()}
    for n in graph.layers:
        up[n.name] = set(n.inputs).union(*(up[i] for i in n.inputs))
    return [n for n in graph.layers if isinstance(n, HwAdd) and "input" not in n.inputs
            and n.inputs[0] not in up[n.inputs[1]] | {n.inputs[1]}
            and n.inputs[1] not in up[n.inputs[0]]]


def _has(graphs: list[HwGraph], what: str) -> bool:
    nodes = [n for g in graphs for n in g.layers]
    pools = [n for n in nodes if isinstance(n, HwPool)]
    strided = [{n.name for n in g.layers if getattr(n, "stride", 1) > 1} for g in graphs]
    return {"add": any(isinstance(n, HwAdd) for n in nodes),
            "projection": any(set(a.inputs) & s for g, s in zip(graphs, strided, strict=True)
                              for a in _projections(g)),
            "signed_in": any(isinstance(n, HwLayer) and n.in_signed for n in nodes),
            "signed_out": any(n.out_format.signed for n in nodes),
            "signed_pool": any(p.in_format.signed for p in pools),
            "unsigned_pool": any(not p.in_format.signed for p in pools),
            "every_pool": {p.kind for p in pools} == {"maxpool", "avgpool", "global_avgpool"},
            }[what]


def test_the_generator_draws_what_it_promises() -> None:
    graphs = [random_dag(i, f"g{i}") for i in range(60)]
    assert all(_has(graphs, w) for w in ("add", "projection", "signed_in", "signed_out",
                                         "signed_pool", "unsigned_pool", "every_pool"))
    plans = [lower(g) for g in graphs]
    depths = [s.skip_depth for p in plans for s in p.stages if isinstance(s.layer, HwAdd)]
    assert 0 in depths and max(depths) > 10  # the same tensor twice; a long branch
    assert any(s.fused_input and s.layer.stride > 1 for p in plans for s in p.stages)
    assert any(g.input_height == 1 or g.input_width == 1 for g in graphs)
    assert any(g.input_height != g.input_width for g in graphs)
    bits = {n.out_bits for g in graphs for n in g.layers}
    assert min(bits) == 2 and max(bits) >= 15


# Default suite: one hypothesis example of 6 DAGs (one Verilator build), shipped style; new
# ones every run (`pytest --hypothesis-seed=N` repeats one).
@given(dags(6))
@settings(max_examples=1, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_random_dags_match_golden(cache: Path, tmp_path: Path, graphs: list[HwGraph]) -> None:
    _check(graphs, tmp_path / graphs[0].name, cache)


@pytest.mark.parametrize("seed", range(3))
def test_random_dags_pass_in_icarus(seed: int, tmp_path: Path) -> None:
    graph = random_dag(700 + seed, f"i{seed}")
    style = ("csd", "shared", "naive")[seed]
    generate_rtl(graph, tmp_path, style=style, pipeline=seed == 1,
                 vectors=images_for(graph, 2, seed), seed=seed)
    result = icarus.run_portable_testbench(tmp_path)
    assert result.passed, result.line
    assert result.compared == 2 * sum(c * h * w for c, h, w in graph.shapes())
    assert result.warnings == ""


def test_random_dags_are_lint_clean() -> None:
    """verilator -Wall and iverilog -g2005 -Wall, random DAGs and the two-branch adds (a
    projection's buffer, a delayed branch)."""
    graphs = [*(random_dag(300 + i, f"l{i}") for i in range(4)), projection(5, 7),
              late_branch_first()]
    for i, g in enumerate(graphs):
        files = graph_verilog(g, "shared" if i % 2 else "csd", pipeline=i > 1)
        assert lint(files, top_name(g)) == "", g.name
        assert icarus.lint(files) == "", g.name


@pytest.mark.slow
@pytest.mark.parametrize("batch", range(5))
def test_500_random_dags_match_golden(batch: int, cache: Path, tmp_path: Path) -> None:
    graphs = [random_dag(20_000 * (batch + 1) + i, f"b{i}") for i in range(100)]
    style, pipeline = [("csd", False), ("shared", True), ("csd", True), ("shared", False),
                       ("naive", False)][batch]
    _check(graphs, tmp_path, cache, style, pipeline)


def test_structure_counts_the_adders_of_add_and_signed_stages() -> None:
    graphs = [random_dag(40 + i, f"s{i}") for i in range(10)]
    for g in [*graphs, signed_pool_chain(), projection(5, 7), late_branch_first()]:
        files = graph_verilog(g, "csd")
        for stage in lower(g, HwOptions("csd")).stages:
            text = next(v for k, v in files.items() if k.endswith(f"_{stage.layer.name}.v"))
            assert stage.structure.adders == _emitted_adders(text), (g.name, stage.layer.name)


# The skip buffer: sized exactly from the plan.


def _unit(name: str, kind: str, src: str, k: int = 1, pad: int | tuple[int, ...] = 0,
          stride: int = 1) -> HwLayer:
    return HwLayer(name=name, kind=kind, in_channels=1, out_channels=1,  # type: ignore[arg-type]
                   kernel=k, stride=stride, padding=pad, weight=np.ones((1, 1, k, k)),
                   bias=np.zeros(1), weight_bits=4, weight_frac=np.zeros(1), in_bits=8,
                   in_frac=0, out_bits=8, out_frac=0, activation="relu", inputs=(src,))


def _residual(branch: list[HwLayer], h: int = 5, w: int = 7) -> HwGraph:
    fmt = TensorFormat(False, 8, 0)
    add = HwAdd("sum", ("input", branch[-1].name), 1, (fmt, fmt), 9, 0, "relu")
    return HwGraph("res", 1, h, w, (*branch, add), input_frac=0)


def test_skip_depth_of_a_pointwise_branch_is_two() -> None:
    """Skip pixel n at t(n); the branch's at t(n) + 2 (window register, output register): at
    the push of pixel m, pixels up to m - 2 have been popped, so m and m - 1 wait."""
    plan = lower(_residual([_unit("pw", "pointwise", "input")]))
    assert plan.stages[-1].skip_depth == 2
    assert plan.stages[-1].structure.delay_buffer_bits == 2 * 8


def test_skip_depth_grows_with_the_branch_latency() -> None:
    """A 3x3 'same' window waits one row and one pixel more per layer."""
    one = lower(_residual([_unit("dw", "depthwise", "input", 3, 1)])).stages[-1].skip_depth
    two = lower(_residual([_unit("dw", "depthwise", "input", 3, 1),
                           _unit("dw2", "depthwise", "dw", 3, 1)])).stages[-1].skip_depth
    w, gap = 7, 2  # two 3x3 pad-1 layers: a row gap of 2
    assert one > w and two > one + w
    assert lower(_residual([_unit("dw", "depthwise", "input", 3, 1)])).row_gap == 1
    assert gap == lower(_residual([_unit("dw", "depthwise", "input", 3, 1),
                                   _unit("dw2", "depthwise", "dw", 3, 1)])).row_gap


def _dense(monkeypatch: pytest.MonkeyPatch) -> None:
    """The densest schedule the protocol allows: no idle cycle inside a row."""
    monkeypatch.setattr(stimulus_mod, "P_IDLE", 0.0)


@pytest.mark.parametrize("branch", ["pw", "dw"])
def test_a_buffer_one_entry_short_fails_and_the_planned_one_passes(
        branch: str, monkeypatch: pytest.MonkeyPatch, cache: Path, tmp_path: Path) -> None:
    layers = ([_unit("pw", "pointwise", "input")] if branch == "pw" else
              [_unit("dw", "depthwise", "input", 3, 1), _unit("pw", "pointwise", "dw")])
    graph = _residual(layers)
    planned = lower(graph).stages[-1].skip_depth
    _dense(monkeypatch)
    images = [images_for(graph, 3, seed=1)]
    ok = verify_graphs([graph], images, tmp_path / "ok", cache_dir=cache)[0]
    assert ok.mismatches == 0
    real = lower_mod.buffer_depth
    monkeypatch.setattr(lower_mod, "buffer_depth", lambda *a: real(*a) - 1)
    assert lower(graph).stages[-1].skip_depth == planned - 1
    short = verify_graphs([replace(graph, name="res_short")], images, tmp_path / "short",
                          cache_dir=cache)[0]
    assert short.mismatches > 0


# Adds of two computed branches: the input that comes first waits in the buffer.

U8 = TensorFormat(False, 8, 0)


def _two_branches(name: str, a: list[HwLayer], b: list[HwLayer], h: int, w: int) -> HwGraph:
    add = HwAdd("sum", (a[-1].name, b[-1].name), 1, (U8, U8), 9, 0, "relu")
    return HwGraph(name, 1, h, w, (*a, *b, add), input_frac=0)


def projection(h: int, w: int) -> HwGraph:
    """A ResNet projection shortcut: main 3x3 stride 2 (pad 1) + 3x3, shortcut 1x1 stride 2."""
    return _two_branches(f"proj{h}x{w}", [_unit("m1", "conv", "input", 3, 1, stride=2),
                                          _unit("m2", "conv", "m1", 3, 1)],
                         [_unit("sc", "pointwise", "input", stride=2)], h, w)


def slow_shortcut() -> HwGraph:
    """A shortcut of four pointwise layers (8 cycles) against a 3x3 branch padded after
    only (its pixel (i, j) waits for image pixel (i + 2, j + 2)) on 4x6: the dense schedule
    holds 12 shortcut pixels at most, but a stall before a main-branch source lets 14 in."""
    chain = [_unit(f"p{i}", "pointwise", f"p{i - 1}" if i else "input") for i in range(4)]
    return _two_branches("slow_sc", chain, [_unit("late", "conv", "input", 3, (0, 2, 0, 2))],
                         4, 6)


def equal_branches() -> HwGraph:
    """Two pointwise layers of the image: the same cycles in every schedule, no buffer."""
    return _two_branches("equal", [_unit("a", "pointwise", "input")],
                         [_unit("b", "pointwise", "input")], 4, 4)


def test_a_projection_shortcut_waits_for_the_main_branch() -> None:
    """The 1x1 stride-2 shortcut (input 1 of the add) comes first. On 5x7 (4 output
    columns) it pushes output row r at image row 2r, while the main branch's row r needs m1's
    row r + 1, i.e. image row 2r + 3: shortcut rows r and r + 1 wait, 8 pixels."""
    add = lower(projection(5, 7)).stages[-1]
    assert (add.skip, add.skip_depth) == (1, 8)
    assert add.structure.delay_buffer_bits == 8 * 8
    assert lower(projection(6, 6)).stages[-1].skip_depth == 6
    assert lower(equal_branches()).stages[-1].skip_depth == 0
    assert lower(slow_shortcut()).stages[-1].skip_depth == 14


def test_the_buffer_covers_a_stall_between_the_branches_sources(
        monkeypatch: pytest.MonkeyPatch, cache: Path, tmp_path: Path) -> None:
    """Long stalls before every pixel: the planned depths pass on every two-branch add; the
    slow shortcut's buffer sized by the dense schedule alone (12, not 14) loses pixels."""
    monkeypatch.setattr(stimulus_mod, "P_IDLE", 1.0)
    monkeypatch.setattr(stimulus_mod, "STALL_MAX", 40)
    graphs = [projection(5, 7), projection(6, 6), equal_branches(), late_branch_first(),
              slow_shortcut()]
    images = [images_for(g, 3, seed=i) for i, g in enumerate(graphs)]
    for g, r in zip(graphs, verify_graphs(graphs, images, tmp_path / "ok", cache_dir=cache),
                    strict=True):
        assert r.mismatches == 0, g.name
        assert r.outputs_compared == 3 * sum(c * h * w for c, h, w in g.shapes())

    def dense_only(early: Stream, late: Stream, where: str) -> int:
        popped = np.searchsorted(late.times, early.times, side="right")
        return int((np.arange(1, len(early.times) + 1) - popped).max())

    monkeypatch.setattr(lower_mod, "buffer_depth", dense_only)
    graph = replace(slow_shortcut(), name="slow_sc_dense")
    assert lower(graph).stages[-1].skip_depth == 12
    assert dense_only(*[lower(projection(5, 7)).streams[n] for n in ("sc", "m2")], "") == 8
    short = verify_graphs([graph], images[-1:], tmp_path / "short", cache_dir=cache)[0]
    assert short.mismatches > 0


def late_branch_first() -> HwGraph:
    """Seven pointwise layers (14 cycles) against the late 3x3 branch on 4x2: the chain's
    pixels start from earlier image pixels but, in the dense schedule, its first ones leave
    2 cycles after the 3x3 branch's."""
    chain = [_unit(f"p{i}", "pointwise", f"p{i - 1}" if i else "input") for i in range(7)]
    return _two_branches("late_first", chain,
                         [_unit("late", "conv", "input", 3, (0, 2, 0, 2))], 4, 2)


def test_an_input_that_would_come_first_is_delayed(monkeypatch: pytest.MonkeyPatch,
                                                   cache: Path, tmp_path: Path) -> None:
    """The chain waits in the buffer (its sources come first in every schedule), the 3x3
    branch is delayed by exactly 3 registers (its pixel 0 leaves at cycle 12, the chain's at
    14: one more so that a pop never meets its own push); without them the buffer would be
    read before it is written. Bit-exact under the dense schedule, where it matters."""
    graph = late_branch_first()
    plan = lower(graph)
    add = plan.stages[-1]
    assert (add.skip, add.skip_depth, add.branch_delay) == (0, 5, 3)
    assert add.structure.pipeline_register_bits == 9 + 3 * 8  # output + 3 delay registers
    chain, late = plan.streams["p6"], plan.streams["late"]
    assert (chain.times[0], late.times[0]) == (14, 12)
    with pytest.raises(HwGraphError, match="does not come before the other"):
        lower_mod.buffer_depth(chain, late, "")
    _dense(monkeypatch)
    result = verify_graphs([graph], [images_for(graph, 3, seed=2)], tmp_path, cache_dir=cache)
    assert result[0].mismatches == 0
    assert result[0].outputs_compared == 3 * sum(c * h * w for c, h, w in graph.shapes())


def test_an_add_whose_sources_cross_has_no_hardware() -> None:
    """Which input of an add comes first must not depend on the schedule. On a 6x1 map, a
    5x5 stride-3 max pool (padding 2) starts its rows from image rows 2 and 5; a 3x3 stride-3
    conv then a 3x3 pool from rows 4 and 4: the order flips between the two pixels, and the
    lowering refuses the add by name (golden still runs it)."""
    pool = HwPool("mp", "maxpool", ("input",), 1, U8, kernel=5, stride=3, padding=2)
    conv = _unit("c", "conv", "input", 3, 1, stride=3)
    late = HwPool("mp2", "maxpool", ("c",), 1, U8, kernel=3, stride=1, padding=1)
    graph = HwGraph("cross", 1, 6, 1, (pool, conv, late, HwAdd(
        "sum", ("mp", "mp2"), 1, (U8, U8), 9, 0, "relu")), input_frac=0)
    assert run_graph(graph, np.ones((1, 1, 6, 1), dtype=int))[-1].shape == (1, 1, 2, 1)
    with pytest.raises(HwGraphError, match=r"layer 'sum': neither input \('mp', 'mp2'\) "
                                           "starts from earlier image pixels"):
        lower(graph)
    # the rule on streams by hand: sources (0, 5) against (1, 4) cross
    a = Stream(np.array([3, 9]), np.array([0, 5]))
    b = Stream(np.array([4, 8]), np.array([1, 4]))
    node = HwAdd("sum", ("a", "b"), 1, (U8, U8), 9, 0)
    with pytest.raises(HwGraphError, match=r"^x: neither input \('a', 'b'\) starts from "
                                           "earlier image pixels"):
        lower_mod._join([a, b], node, "x")
    assert lower_mod._join([a, a], node, "x") == (0, 0)
    early, late = Stream(np.array([3, 9]), np.array([0, 1])), Stream(np.array([10, 12]),
                                                                     np.array([0, 4]))
    assert lower_mod._join([late, early], node, "x") == (1, 0)  # input 1 buffered
    # sources in order, but the late-sourced pixel 0 leaves a cycle earlier: 2 registers
    assert lower_mod._join([Stream(np.array([5, 9]), np.array([0, 1])),
                            Stream(np.array([4, 12]), np.array([1, 1]))], node, "x") == (0, 2)


def test_ffe_prices_the_add_and_its_buffer() -> None:
    tech = load_tech("45nm")
    short = estimate_ffe(_residual([_unit("pw", "pointwise", "input")]), tech, line_buffer="ff")
    long = estimate_ffe(_residual([_unit("dw", "depthwise", "input", 3, 1),
                                   _unit("pw", "pointwise", "dw")]), tech, line_buffer="ff")
    add_s, add_l = short.layers[-1], long.layers[-1]
    assert add_s.kind == "add" and add_s.line_buffer_bits == 2 * 8
    assert add_l.line_buffer_bits > add_s.line_buffer_bits
    assert add_l.area_ge["delay_buffer"] > add_s.area_ge["delay_buffer"] > 0
    assert add_s.adder_bits.total > 0


def test_ffe_prices_the_projection_buffer_and_the_report_groups_it() -> None:
    """The shortcut's 8-pixel buffer (8 bits each) in the add's area, like a skip buffer; the
    report's area table places every element of adds and signed pools (before, a graph with
    an add stopped `area_rows` with an unknown element)."""
    est = estimate_ffe(projection(5, 7), load_tech("45nm"), line_buffer="ff")
    add = est.layers[-1]
    assert add.line_buffer_bits == 8 * 8 and add.area_ge["delay_buffer"] > 0
    sram = estimate_ffe(projection(5, 7), load_tech("45nm")).layers[-1]
    assert sram.area_um2["delay_buffer"] > 0 and sram.energy_pj["delay_buffer"] > 0
    rows = area_rows({"n": 3, "ffe": est.to_dict()})
    total = sum(v for r in rows for k, v in r.items() if k.endswith("_mm2"))
    assert total == pytest.approx(sum(sum(s.area_um2.values()) for s in est.layers) * 1e-6)
    assert rows[-1]["line_buffers_mm2"] == pytest.approx(add.area_um2["delay_buffer"] * 1e-6)


# A MobileNetV2-style pair of inverted-residual blocks at 64x64.


def mobilenet_v2_blocks(size: int = 64, seed: int = 0) -> HwGraph:
    """stem conv 3x3 (3 -> 8, ReLU6); block 1, stride 1: expand 1x1 (8 -> 32, ReLU6),
    depthwise 3x3 (ReLU6), linear projection (32 -> 8, signed), residual add (signed);
    block 2, stride 2: expand (signed input, 8 -> 32), depthwise 3x3 stride 2, linear
    projection (32 -> 16). Random weights, 8-bit activations; fused dw + pw in both."""
    rng = np.random.default_rng(seed)

    def layer(name: str, kind: str, src: str, cin: int, cout: int, k: int, s: int,
              fmt: TensorFormat, act: str) -> HwLayer:
        out_frac = 4 if act == "none" else 5
        lay = random_layer(rng, name, kind, cin, cout, k, s, k // 2, weight_bits=6,
                           in_bits=fmt.bits, in_frac=fmt.frac, out_bits=8, out_frac=out_frac,
                           sparsity=0.3, activation=act)
        return replace(lay, inputs=(src,), in_signed=fmt.signed)

    u8, relu, lin = TensorFormat(False, 8, 8), TensorFormat(False, 8, 5), TensorFormat(True, 8, 4)
    stem = layer("stem", "conv", "input", 3, 8, 3, 1, u8, "relu6")
    e1 = layer("b1_expand", "pointwise", "stem", 8, 32, 1, 1, relu, "relu6")
    d1 = layer("b1_dw", "depthwise", "b1_expand", 32, 32, 3, 1, relu, "relu6")
    p1 = layer("b1_project", "pointwise", "b1_dw", 32, 8, 1, 1, relu, "none")
    add = HwAdd("b1_add", ("stem", "b1_project"), 8, (relu, lin), 8, 4, "none")
    e2 = layer("b2_expand", "pointwise", "b1_add", 8, 32, 1, 1, lin, "relu6")
    d2 = layer("b2_dw", "depthwise", "b2_expand", 32, 32, 3, 2, relu, "relu6")
    p2 = layer("b2_project", "pointwise", "b2_dw", 32, 16, 1, 1, relu, "none")
    return HwGraph("mbv2", 3, size, size, (stem, e1, d1, p1, add, e2, d2, p2),
                   meta={"fuse": "all"})


def test_mobilenet_v2_blocks_lower_as_planned() -> None:
    g = mobilenet_v2_blocks()
    plan = lower(g)
    by = {s.layer.name: s for s in plan.stages}
    assert by["b1_dw"].fused_output and by["b1_project"].fused_input
    assert by["b2_dw"].fused_output and by["b2_project"].fused_input
    assert by["b1_add"].skip == 0 and by["b1_add"].skip_depth > 64
    assert by["b2_expand"].datapath.x_min == -128  # reads the signed sum
    assert lint(graph_verilog(g), top_name(g)) == ""  # verilator -Wall


@pytest.mark.slow
def test_mobilenet_v2_blocks_verify_in_verilator(cache: Path, tmp_path: Path) -> None:
    g = mobilenet_v2_blocks()
    t0 = time.perf_counter()
    result = verify_graphs([g], [images_for(g, 4, seed=0)], tmp_path, cache_dir=cache)[0]
    assert result.mismatches == 0
    assert result.outputs_compared == 4 * sum(c * h * w for c, h, w in g.shapes())
    print(f"\nmbv2 64x64: build {result.build_s:.1f} s, simulation {result.sim_s:.2f} s, "
          f"{result.outputs_compared} outputs, total {time.perf_counter() - t0:.1f} s")


def efficientnet_lite0_front(size: int = 64, blocks: int = 4, seed: int = 0) -> HwGraph:
    """The stem and the first `blocks` MBConv blocks of EfficientNet-Lite0 with random
    weights: TensorFlow SAME padding per side (a stride-2 layer on an even map pads only
    bottom/right), ReLU6 expand and depthwise, linear projection, residual adds."""
    from fixynn.nn.efficientnet_lite import BLOCKS, same_padding

    rng = np.random.default_rng(seed)
    u8, relu, lin = TensorFormat(False, 8, 8), TensorFormat(False, 8, 5), TensorFormat(True, 8, 4)
    nodes: list[HwLayer | HwAdd] = []

    def layer(name: str, kind: str, src: str, fmt: TensorFormat, cin: int, cout: int, k: int,
              s: int, hw: int, act: str) -> HwLayer:
        top, bottom = same_padding(hw, k, s)
        lay = random_layer(rng, name, kind, cin, cout, k, s, (top, bottom, top, bottom),
                           weight_bits=6, in_bits=fmt.bits, in_frac=fmt.frac, out_bits=8,
                           out_frac=4 if act == "none" else 5, sparsity=0.3, activation=act)
        lay = replace(lay, inputs=(src,), in_signed=fmt.signed)
        nodes.append(lay)
        return lay

    cur = layer("stem", "conv", "input", u8, 3, 32, 3, 2, size, "relu6")
    fmt, hw = relu, -(-size // 2)
    for b, spec in enumerate(BLOCKS[:blocks]):
        x, x_fmt = cur, fmt
        mid = spec.in_channels * spec.expand
        if spec.expand != 1:
            cur = layer(f"b{b}_expand", "pointwise", cur.name, fmt, spec.in_channels, mid, 1, 1,
                        hw, "relu6")
            fmt = relu
        cur = layer(f"b{b}_dw", "depthwise", cur.name, fmt, mid, mid, spec.kernel, spec.stride,
                    hw, "relu6")
        hw = -(-hw // spec.stride)
        cur = layer(f"b{b}_project", "pointwise", cur.name, relu, mid, spec.out_channels, 1, 1,
                    hw, "none")
        fmt = lin
        if spec.residual:
            add = HwAdd(f"b{b}_add", (x.name, cur.name), spec.out_channels, (x_fmt, lin), 8, 4,
                        "none")
            nodes.append(add)
            cur = add  # type: ignore[assignment]
    return HwGraph("effl0", 3, size, size, tuple(nodes), meta={"fuse": "all"},
                   outputs=(cur.name,))


def test_efficientnet_lite0_front_lowers_with_same_padding() -> None:
    g = efficientnet_lite0_front()
    stages = {s.layer.name: s for s in lower(g).stages}
    assert stages["stem"].layer.padding == (0, 1, 0, 1)  # SAME, stride 2 on 64: after only
    assert stages["b3_dw"].layer.padding == (1, 2, 1, 2)  # 5x5 stride 2 on 16
    assert stages["b2_add"].skip == 0 and stages["b2_add"].skip_depth > 16
    assert g.tensor_shapes()["b3_project"] == (40, 8, 8)


@pytest.mark.slow
def test_efficientnet_lite0_front_verifies_in_verilator(cache: Path, tmp_path: Path) -> None:
    g = efficientnet_lite0_front()
    assert lint(graph_verilog(g), top_name(g)) == ""  # verilator -Wall
    result = verify_graphs([g], [images_for(g, 2, seed=0)], tmp_path, cache_dir=cache,
                           build_timeout_s=3600)[0]
    assert result.mismatches == 0
    assert result.outputs_compared == 2 * sum(c * h * w for c, h, w in g.shapes())
    print(f"\nEfficientNet-Lite0 stem + 4 blocks 64x64: build {result.build_s:.1f} s, "
          f"simulation {result.sim_s:.2f} s, {result.outputs_compared} outputs")


def test_synthesis_picks_the_smallest_weighted_layers_of_a_dag() -> None:
    """The synth step sizes its subset by weights; an add has none (the default job's N = 10
    front-end crashed there)."""
    from fixynn.pipeline.stages import smallest_layers

    graph = _residual([_unit("dw", "depthwise", "input", 3, 1), _unit("pw", "pointwise", "dw")])
    assert [graph.layers[i].name for i in smallest_layers(graph, 2)] == ["dw", "pw"]
    assert [graph.layers[i].name for i in smallest_layers(graph, 1)] == ["pw"]
