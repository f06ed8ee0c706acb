"""The plan's stream timing (fixynn.hw.lower.timing) against the simulated RTL: under the
densest schedule the protocol allows, every output pixel of every stage leaves in the cycle
the plan says, and frames back to back (each as soon as `busy` allows) repeat at the period
it implies (`Plan.frame_period`). Icarus, with a bench written here that logs cycles (the
shipped benches check values)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fixynn.hw.icarus import compile_files, find_icarus
from fixynn.hw.ir import HwGraph
from fixynn.hw.lower import HwOptions, Plan, lower
from fixynn.hw.rtl.emit import plan_verilog, top_name
from fixynn.hw.rtl.stimulus import stimulus

sys.path.insert(0, str(Path(__file__).parent))
from test_dag_rtl import late_branch_first, mobilenet_v2_blocks, projection, slow_shortcut
from test_rtl_graphs import images_for, random_dag, signed_pool_chain

FRAMES = 3


def dense_idle(plan: Plan, frames: int) -> np.ndarray:
    """Idle cycles before each pixel of the densest schedule: none inside a row, exactly
    `row_gap` between rows, each frame's first pixel in the first cycle `busy` is low."""
    graph = plan.graph
    idle = np.zeros((frames, graph.input_height, graph.input_width), dtype=np.int64)
    idle[:, 1:, 0] = plan.row_gap
    return idle.reshape(frames, -1)


def _bench(plan: Plan, images: np.ndarray, idle: np.ndarray) -> str:
    """Drives `images` with `idle` cycles before each pixel (a frame's first: counted from
    the first cycle `busy` is low) and prints `in <cycle>` for every pixel the design takes
    and `o<i> <cycle>` for every valid output of stage i."""
    graph = plan.graph
    iw = graph.input_channels * graph.input_bits
    words = [int(sum(int(v) << (c * graph.input_bits) for c, v in enumerate(px)))
             for img in images for px in img.reshape(graph.input_channels, -1).T]
    ports = ", ".join(f".o{i}_valid(o{i}_valid), .o{i}_sof(), .o{i}_data()"
                      for i in range(len(graph.layers)))
    logs = "".join(f'    if (o{i}_valid) $display("o{i} %0d", cycles);\n'
                   for i in range(len(graph.layers)))
    pix = graph.input_height * graph.input_width
    return "\n".join([
        "module tb;",
        "  reg clk = 1'b0;",
        "  reg rst = 1'b1;",
        "  reg in_valid = 1'b0;",
        "  reg in_sof = 1'b0;",
        f"  reg [{iw - 1}:0] in_data = {iw}'d0;",
        f"  reg [{iw - 1}:0] mem [0:{len(words) - 1}];",
        f"  integer gaps [0:{len(words) - 1}];",
        "  wire busy;",
        *[f"  wire o{i}_valid;" for i in range(len(graph.layers))],
        "  integer cycles = 0;",
        "  integer img, p, g;",
        f"  {top_name(graph)} dut (.clk(clk), .rst(rst), .in_valid(in_valid), "
        f".in_sof(in_sof), .in_data(in_data), {ports}, .busy(busy));",
        "  always #5 clk = ~clk;",
        "  always @(posedge clk) begin",
        "    cycles = cycles + 1;",
        '    if (in_valid) $display("in %0d", cycles);',
        logs,
        "  end",
        "  task idle; begin in_valid = 1'b0; @(negedge clk); end endtask",
        "  initial begin",
        *[f"    mem[{k}] = {iw}'d{v};" for k, v in enumerate(words)],
        *[f"    gaps[{k}] = {int(v)};" for k, v in enumerate(idle.ravel())],
        "    repeat (2) @(negedge clk);",
        "    rst = 1'b0;",
        f"    for (img = 0; img < {len(images)}; img = img + 1) begin",
        "      while (busy !== 1'b0) idle;",
        f"      for (p = 0; p < {pix}; p = p + 1) begin",
        f"        for (g = 0; g < gaps[img * {pix} + p]; g = g + 1) idle;",
        "        in_valid = 1'b1;",
        "        in_sof = p == 0;",
        f"        in_data = mem[img * {pix} + p];",
        "        @(negedge clk);",
        "      end",
        "    end",
        "    idle;",
        "    while (busy !== 1'b0) idle;",
        "    repeat (8) idle;",
        "    $finish;",
        "  end",
        "endmodule",
        "",
    ])


def _simulate(plan: Plan, idle: np.ndarray, tmp_path: Path) -> dict[str, list[int]]:
    """Cycle of every taken input pixel ('in') and every valid output of stage i ('o<i>')."""
    files = plan_verilog(plan)
    files["tb.v"] = _bench(plan, images_for(plan.graph, len(idle), seed=0), idle)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    compile_files(sorted(files), tmp_path, tmp_path / "tb.vvp", 300)
    _, vvp = find_icarus()
    out = subprocess.run([vvp, "-n", "tb.vvp"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    log: dict[str, list[int]] = {}
    for line in out.splitlines():
        key, cycle = line.split()
        log.setdefault(key, []).append(int(cycle))
    return log


GRAPHS = {
    "projection": lambda: projection(5, 7),
    "late_branch_first": late_branch_first,
    "slow_shortcut": slow_shortcut,
    "signed_pools": signed_pool_chain,
    "mbv2_16": lambda: mobilenet_v2_blocks(size=16),
    **{f"random{seed}": (lambda seed=seed: random_dag(seed, f"t{seed}")) for seed in range(4)},
}


@pytest.mark.parametrize("pipeline", [False, True])
@pytest.mark.parametrize("name", list(GRAPHS))
def test_every_pixel_leaves_when_the_plan_says(name: str, pipeline: bool,
                                               tmp_path: Path) -> None:
    graph: HwGraph = GRAPHS[name]()
    plan = lower(graph, HwOptions("csd", pipeline))
    log = _simulate(plan, dense_idle(plan, FRAMES), tmp_path)
    pix = graph.input_height * graph.input_width
    starts = log["in"][::pix]
    assert len(log["in"]) == FRAMES * pix
    for i, node in enumerate(graph.layers):
        want = plan.streams[node.name].times
        got = np.array(log[f"o{i}"]).reshape(FRAMES, -1) - np.array(starts)[:, None]
        for frame in got:  # every frame, first output (the latency) to last
            np.testing.assert_array_equal(frame, want, err_msg=f"{name}: {node.name}")
    np.testing.assert_array_equal(np.diff(starts), plan.frame_period)
    assert plan.frame_period > plan.frame_cycles  # frames do not overlap


@pytest.mark.parametrize("name", list(GRAPHS))
def test_every_pixel_leaves_a_fixed_time_after_its_source(name: str, tmp_path: Path) -> None:
    """What the add's buffer sizing rests on: under the benches' random schedule (stalls
    inside rows, longer row gaps, frames a few cycles after `busy` falls), every pixel still
    leaves exactly as long after its source image pixel arrives as in the dense schedule."""
    graph: HwGraph = GRAPHS[name]()
    plan = lower(graph)
    idle = stimulus(graph, images_for(graph, FRAMES, seed=0), plan.row_gap, seed=1).idle
    assert idle[:, 1:].sum() > idle.shape[0] * (graph.input_height - 1) * plan.row_gap
    log = _simulate(plan, idle, tmp_path)
    arrival = np.array(log["in"]).reshape(FRAMES, -1)
    dense_in = plan.streams["input"].times
    for i, node in enumerate(graph.layers):
        s = plan.streams[node.name]
        got = np.array(log[f"o{i}"]).reshape(FRAMES, -1)
        want = arrival[:, s.sources] + (s.times - dense_in[s.sources])[None, :]
        np.testing.assert_array_equal(got, want, err_msg=f"{name}: {node.name}")
