"""Per-stage verification (`fixynn verify --mode layers`): every stage alone against golden,
a corrupted stage caught and named, cached builds shared across graphs, the CLI's errors."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import fixynn.hw.stagewise as stagewise
from fixynn.cli import app
from fixynn.errors import FixynnError
from fixynn.hw.golden import run_graph
from fixynn.hw.ir import HwGraph, save_graph
from fixynn.hw.lower import HwOptions, lower
from fixynn.hw.rtl.emit import plan_verilog, top_name
from fixynn.hw.rtl.testbench import cpp_testbench
from fixynn.hw.sim import build
from fixynn.hw.stagewise import (
    AUTO_LAYERS_BYTES,
    ENTRY,
    group_inputs,
    resolve_mode,
    stage_graph,
    stage_groups,
    stage_image,
    verify,
)

sys.path.insert(0, str(Path(__file__).parent))
from test_rtl_emit import small_mobilenet
from test_rtl_graphs import images_for

STAGES = ["b0_conv", "b1_dw+b1_pw"]


@pytest.fixture(scope="module")
def cache_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stage-cache")


@pytest.fixture(scope="module")
def cache(cache_base: Path) -> Path:
    return cache_base / "fixynn" / "verilator"  # where FIXYNN_CACHE=cache_base puts builds


@pytest.fixture(scope="module")
def graph() -> HwGraph:
    """Blocks 0..1 of MobileNetV1 0.25 at 8x8: a conv, then a fused dw+pw pair (small: every
    build costs seconds on shared cores)."""
    return small_mobilenet(2, size=8)


@pytest.fixture(scope="module")
def images(graph: HwGraph) -> np.ndarray:
    return images_for(graph, 5, seed=11)


@pytest.fixture(scope="module")
def first(graph: HwGraph, images: np.ndarray, cache: Path,
          tmp_path_factory: pytest.TempPathFactory) -> stagewise.Verification:
    return verify(graph, images, tmp_path_factory.mktemp("w"), "layers", cache_dir=cache,
                  jobs=2)


def test_stages_follow_the_plan_fused_pairs_together(graph: HwGraph) -> None:
    names = [tuple(s.layer.name for s in g) for g in stage_groups(lower(graph))]
    assert names == [("b0_conv",), ("b1_dw", "b1_pw")]
    unfused = stage_groups(lower(graph, HwOptions(fuse="none")))
    assert [len(g) for g in unfused] == [1] * len(graph.layers)
    # A stage's graph: its image is the stage's input tensor, in that tensor's format.
    sub = stage_graph(lower(graph), stage_groups(lower(graph))[1])
    conv = graph.layers[0]
    assert (sub.input_channels, sub.input_height, sub.input_width) == (conv.out_channels, 8, 8)
    assert (sub.input_bits, sub.input_frac) == (conv.out_bits, conv.out_frac)
    assert [layer.name for layer in sub.layers] == ["b1_dw", "b1_pw"]
    assert lower(sub).stages[0].fused_output  # the pair stays fused inside its stage


def test_layers_mode_checks_every_stage_and_the_stitched_design(
        first: stagewise.Verification, graph: HwGraph, images: np.ndarray) -> None:
    assert first.mode == "layers" and first.ok, first.to_json()
    assert [s.name for s in first.stages] == STAGES
    golden = run_graph(graph, images)
    sizes = [g.size for g in golden]  # values per layer on all 5 images
    assert [s.outputs_compared for s in first.stages] == [sizes[0], sizes[1] + sizes[2]]
    assert all(not s.cached_build and s.build_s > 0 and s.sim_s > 0 for s in first.stages)
    # the stitched design on 2 of the 5 images, every layer of it compared
    assert first.top.images == 2
    assert first.top.outputs_compared == 2 * sum(c * h * w for c, h, w in graph.shapes())
    assert first.outputs_compared == sum(sizes) + first.top.outputs_compared
    assert all(np.mean(g > 0) > 0.05 for g in golden)  # alive: not passing on zeros
    doc = first.to_json()
    assert doc["stages"][1]["stage"] == "b1_dw+b1_pw" and doc["mismatches"] == 0
    assert doc["verilog_bytes"] == sum(len(t) for t in plan_verilog(lower(graph)).values())


def test_a_second_run_builds_nothing(first: stagewise.Verification, graph: HwGraph,
                                     images: np.ndarray, cache: Path, tmp_path: Path) -> None:
    again = verify(graph, images, tmp_path, "layers", cache_dir=cache)
    assert all(s.cached_build for s in again.stages)
    # the stitched check's outcome is kept by content: the same bench is not simulated again
    assert again.top.simulator == "icarus" and again.top.cached_build
    assert again.top.sim_s == 0 and again.top.mismatches == 0
    assert again.ok and again.outputs_compared == first.outputs_compared


def test_the_stitched_check_runs_in_verilator_on_request(
        first: stagewise.Verification, graph: HwGraph, images: np.ndarray, cache: Path,
        tmp_path: Path) -> None:
    result = verify(graph, images, tmp_path, "layers", cache_dir=cache,
                    stitched_sim="verilator")
    assert result.top.simulator == "verilator" and result.ok
    assert [m.layer for m in result.top.layers] == [layer.name for layer in graph.layers]
    assert result.top.outputs_compared == first.top.outputs_compared
    assert all(s.cached_build for s in result.stages)
    with pytest.raises(FixynnError, match="stitched simulator 'vcs' is not one of icarus"):
        verify(graph, images, tmp_path, "layers", cache_dir=cache, stitched_sim="vcs")


def _miswired_top(plan):  # type: ignore[no-untyped-def]
    """The emitter's files with the top level's b0 -> b1 bus rotated by one bit: every
    module is right, only the wiring between two stages is wrong."""
    files = plan_verilog(plan)
    name = f"{top_name(plan.graph)}.v"
    text = files[name]
    files[name] = text.replace(".in_data(o0_data)", ".in_data({o0_data[62:0], o0_data[63]})")
    assert files[name] != text
    return files


def test_the_stitched_check_in_icarus_catches_a_miswired_top(
        first: stagewise.Verification, graph: HwGraph, images: np.ndarray, cache: Path,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fixynn.hw.rtl as rtl

    monkeypatch.setattr(rtl, "plan_verilog", _miswired_top)  # what the Icarus bench runs
    result = verify(graph, images, tmp_path, "layers", cache_dir=cache)
    assert all(s.mismatches == 0 for s in result.stages)  # each stage alone is right
    assert result.top.simulator == "icarus" and result.top.mismatches > 0
    assert not result.ok
    assert "{o0_data[62:0], o0_data[63]}" in (tmp_path / "top" / "rtl" / "fixynn_mnv1.v"
                                              ).read_text()


def test_a_smaller_front_end_reuses_the_stages_it_shares(
        first: stagewise.Verification, images: np.ndarray, cache: Path,
        tmp_path: Path) -> None:
    """N = 1 of the same weights: its stage is the first of N = 2, already built; only its
    own stitched top is new."""
    smaller = small_mobilenet(1, size=8, name="mnv1_n1")
    result = verify(smaller, images, tmp_path, "layers", cache_dir=cache)
    assert [s.name for s in result.stages] == STAGES[:1]
    assert all(s.cached_build for s in result.stages)
    assert not result.top.cached_build and result.ok


def _corrupting(layer: str):  # type: ignore[no-untyped-def]
    """A `plan_verilog` whose files have `layer`'s module output bit 0 inverted."""

    def corrupt(plan):  # type: ignore[no-untyped-def]
        files = plan_verilog(plan)
        name = f"{top_name(plan.graph)}_{layer}.v"
        if name in files:  # the stage holding the layer
            text = files[name]
            files[name] = text.replace("assign out_data = y_q;", "assign out_data = y_q ^ 1;")
            assert files[name] != text
        return files

    return corrupt


def test_a_corrupted_stage_is_caught_and_named(first: stagewise.Verification, graph: HwGraph,
                                              images: np.ndarray, cache_base: Path,
                                              cache: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stagewise, "plan_verilog", _corrupting("b1_pw"))  # the stage builds only
    result = verify(graph, images, tmp_path, "layers", cache_dir=cache)
    assert not result.ok
    bad = {s.name: s.mismatches for s in result.stages}
    assert bad["b0_conv"] == 0 and bad["b1_dw+b1_pw"] > 0
    pair = result.stages[1]
    assert [(m.layer, m.mismatches > 0) for m in pair.layers] == [("b1_dw", False),
                                                                  ("b1_pw", True)]
    assert pair.layers[1].first and pair.layers[1].first[0]["channel"] == 0
    assert result.top.mismatches == 0  # the stitched design came from the real emitter
    # the command fails and names the stage (the builds above are reused)
    monkeypatch.setenv("FIXYNN_CACHE", str(cache_base))
    save_graph(graph, tmp_path / "g")
    out = CliRunner().invoke(app, ["verify", str(tmp_path / "g"), "--mode", "layers",
                                   "--images", "2", "--json", "--work", str(tmp_path / "cli")])
    assert out.exit_code == 1, out.output
    doc = json.loads(out.output)
    assert [s["stage"] for s in doc["stages"] if s["mismatches"]] == ["b1_dw+b1_pw"]


def test_auto_mode_picks_by_verilog_size() -> None:
    assert resolve_mode("auto", AUTO_LAYERS_BYTES) == "whole"
    assert resolve_mode("auto", AUTO_LAYERS_BYTES + 1) == "layers"
    assert resolve_mode("whole", 10**9) == "whole"
    with pytest.raises(FixynnError, match="--mode 'fast' is not one of auto, whole, layers"):
        resolve_mode("fast", 1)


@pytest.mark.parametrize(("args", "message"), [
    (["--mode", "fast"], "--mode 'fast' is not one of auto, whole, layers"),
    (["--mode", "layers", "--stitched-images", "0"], "--stitched-images must be >= 1"),
    (["--jobs", "-1"], "--jobs must be >= 0"),
    (["--stitched-sim", "vcs"], "--stitched-sim 'vcs' is not one of icarus, verilator"),
    (["--stage-sim", "vcs"], "--stage-sim 'vcs' is not one of auto, verilator, icarus"),
    (["--stage-images", "0"], "--stage-images must be >= 1"),
])
def test_cli_mode_errors_are_one_line(args: list[str], message: str, graph: HwGraph,
                                      tmp_path: Path, fixynn_cmd: list[str]) -> None:
    save_graph(graph, tmp_path / "g")
    proc = subprocess.run([*fixynn_cmd, "verify", str(tmp_path / "g"), *args,
                           "--work", str(tmp_path / "w")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "w").exists()  # nothing built or written


def test_concurrent_builds_of_one_design_compile_once(tmp_path: Path) -> None:
    """Two verifications sharing a stage (two N of one sweep, in two workers) wait for one
    another: one compiles, the other finds the finished build."""
    sub = small_mobilenet(1, size=6, name="lock")
    files, top = plan_verilog(lower(sub)), top_name(sub)
    tb = cpp_testbench([("", sub)], top)
    results: list[tuple[Path, bool]] = []

    def run() -> None:
        results.append(build(files, tb, top, tmp_path))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(cached for _, cached in results) == [False, True]
    assert results[0][0] == results[1][0] and results[0][0].is_file()
    assert not list(tmp_path.glob(".build-*"))  # no second build folder left behind


# A DAG with signed tensors and a residual add (MobileNetV2-style blocks at 8x8).


@pytest.fixture(scope="module")
def dag() -> HwGraph:
    from test_dag_rtl import mobilenet_v2_blocks

    return mobilenet_v2_blocks(size=8, seed=3)


DAG_STAGES = ["stem", "b1_expand+b1_dw+b1_project+b1_add", "b2_expand", "b2_dw+b2_project"]


def test_a_residual_block_is_one_stage_and_a_signed_input_enters_exactly(dag: HwGraph) -> None:
    plan = lower(dag)
    groups = stage_groups(plan)
    assert ["+".join(s.layer.name for s in g) for g in groups] == DAG_STAGES
    images = images_for(dag, 3, seed=5)
    golden = dict(zip((layer.name for layer in dag.layers), run_graph(dag, images),
                      strict=True)) | {"input": images}
    for group in groups:
        sub, x = stage_graph(plan, group), stage_image(plan, group, golden)
        signed = dag.tensor_formats()[group_inputs(group)[0]].signed
        assert (sub.layers[0].name == ENTRY) == signed
        assert x.min() >= 0 and x.max() < 2**sub.input_bits  # an image the IR accepts
        for layer, out in zip(sub.layers, run_graph(sub, x), strict=True):
            if layer.name != ENTRY:  # the stage alone computes golden's values exactly
                np.testing.assert_array_equal(out, golden[layer.name])
    # the signed sum b2_expand reads spans its range: the offset is exercised both ways
    assert golden["b1_add"].min() < 0 < golden["b1_add"].max()


def test_layers_mode_checks_large_stages_inside_the_stitched_check(
        dag: HwGraph, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`auto`: stages up to the size threshold in Verilator on every image; the larger ones
    as their layers' rows of the stitched check in Icarus (every layer compared there),
    counted once; a second run reuses both (builds and the Icarus outcome)."""
    images = images_for(dag, 4, seed=6)
    sizes = dict(zip((layer.name for layer in dag.layers),
                     (g[0].size for g in run_graph(dag, images)), strict=True))
    monkeypatch.setattr(stagewise, "ICARUS_STAGE_BYTES", 50_000)
    result = verify(dag, images, tmp_path / "a", "layers", cache_dir=cache)
    assert result.ok, result.to_json()
    assert [s.name for s in result.stages] == DAG_STAGES
    for s in result.stages:
        per_image = sum(sizes[name] for name in s.name.split("+"))  # entry layer left out
        assert s.simulator == ("stitched" if s.verilog_bytes > 50_000 else "verilator")
        assert s.images == (2 if s.simulator == "stitched" else 4)
        assert s.outputs_compared == s.images * per_image and not s.cached_build
    assert {s.simulator for s in result.stages} == {"verilator", "stitched"}
    top = result.top
    assert [m.layer for m in top.layers] == [layer.name for layer in dag.layers]
    assert top.outputs_compared == 2 * sum(sizes.values())  # per-layer rows from Icarus
    assert result.outputs_compared == top.outputs_compared + sum(
        s.outputs_compared for s in result.stages if s.simulator == "verilator")
    again = verify(dag, images, tmp_path / "b", "layers", cache_dir=cache)
    assert all(s.cached_build for s in again.stages) and again.top.cached_build
    assert again.outputs_compared == result.outputs_compared and again.ok


def test_a_corrupted_stage_is_caught_in_icarus(
        dag: HwGraph, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fixynn.hw.rtl as rtl

    # what the Icarus benches are built from
    monkeypatch.setattr(rtl, "plan_verilog", _corrupting("b2_project"))
    result = verify(dag, images_for(dag, 2, seed=7), tmp_path, "layers", cache_dir=cache,
                    stage_sim="icarus")
    bad = {s.name: s.mismatches for s in result.stages}
    assert bad["b2_dw+b2_project"] > 0 and not result.ok
    assert all(v == 0 for k, v in bad.items() if k != "b2_dw+b2_project"), bad
    with pytest.raises(FixynnError, match="stage simulator 'vcs' is not one of auto"):
        verify(dag, images_for(dag, 1, seed=0), tmp_path, "layers", stage_sim="vcs")
