"""Verilog emitter: determinism, names, lint, Yosys, and structure == emitted adders."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fixynn.arch import front_end_layers, mobilenet_v1_layers
from fixynn.hw.ir import HwGraph
from fixynn.hw.lower import HwOptions, lower
from fixynn.hw.lower.structure import layer_structure
from fixynn.hw.rtl import generate_rtl
from fixynn.hw.rtl.emit import graph_verilog, top_name
from fixynn.hw.rtl.names import sanitize, unique_names
from fixynn.hw.sim import lint
from fixynn.hw.synth import yosys_command
from fixynn.hw.synthetic import random_graph_from_shapes, random_layer

sys.path.insert(0, str(Path(__file__).parent))
from test_rtl_graphs import random_stack


def small_mobilenet(n: int = 2, size: int = 12, name: str = "mnv1") -> HwGraph:
    shapes = front_end_layers(mobilenet_v1_layers(0.25, size, 1, 10, "small"), n)
    return random_graph_from_shapes(shapes, seed=3, fuse_depthwise=True, name=name)


def test_output_is_deterministic_and_style_dependent() -> None:
    g = small_mobilenet()
    again = small_mobilenet()
    a, b = graph_verilog(g, "csd"), graph_verilog(again, "csd")
    assert a == b
    assert graph_verilog(g, "shared") != a
    assert graph_verilog(g, "csd", pipeline=True) != a


def test_names_are_sanitized_and_unique() -> None:
    assert sanitize("b0 conv/3x3") == "b0_conv_3x3"
    assert sanitize("3x3") == "m_3x3"
    assert sanitize("module") == "m_module"
    assert sanitize("$%") == "m"
    assert unique_names(["a-b", "a_b", "a.b"]) == ["a_b", "a_b_1", "a_b_2"]
    g = small_mobilenet(1)
    weird = HwGraph(name="my net!", input_channels=1, input_height=12, input_width=12,
                    layers=(replace(g.layers[0], name="wire"),))
    files = graph_verilog(weird)
    assert sorted(files) == ["fixynn_my_net.v", "fixynn_my_net_l_wire.v"]
    assert top_name(weird) == "fixynn_my_net"


@pytest.mark.parametrize("style,pipeline", [("csd", False), ("shared", True), ("naive", False)])
def test_verilator_lint_wall_is_clean(style: str, pipeline: bool) -> None:
    g = small_mobilenet(2)
    assert lint(graph_verilog(g, style, pipeline), top_name(g)) == ""


def test_lint_clean_on_random_stacks() -> None:
    for i in range(6):
        g = random_stack(100 + i, f"s{i}")
        files = graph_verilog(g, "shared" if i % 2 else "csd", pipeline=i % 3 == 0)
        assert lint(files, top_name(g)) == "", g.name


def test_yosys_reads_the_design(tmp_path: Path) -> None:
    g = small_mobilenet(2)
    summary = generate_rtl(g, tmp_path, "csd")
    script = "".join(f"read_verilog -sv {f}\n" for f in summary.files)
    script += f"hierarchy -check -top {summary.top}\nproc\nstat\n"
    (tmp_path / "read.ys").write_text(script)
    proc = subprocess.run([*yosys_command(), "-q", "-s", "read.ys"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _emitted_adders(text: str) -> int:
    """Adders/subtractors/comparators in the datapath part of one layer module."""
    body = text.split("---- datapath")[1]
    count = 0
    for line in body.splitlines():
        if line.strip().startswith(("wire", "reg")) and "=" in line:
            rhs = line.split("=", 1)[1]
            count += len(re.findall(r" [+\-] ", rhs)) + len(re.findall(r" [<>] ", rhs))
    return count


def _structure(g: HwGraph, style: str, pipeline: bool = False) -> list:
    return [stage.structure for stage in lower(g, HwOptions(style, pipeline)).stages]


@pytest.mark.parametrize("style", ["csd", "shared"])
def test_structure_counts_the_adders_the_verilog_contains(style: str) -> None:
    g = small_mobilenet(3, size=12)
    files = graph_verilog(g, style)
    structure = _structure(g, style)
    for layer, s in zip(g.layers, structure, strict=True):
        text = next(v for k, v in files.items() if k.endswith(f"_{layer.name}.v"))
        assert s.adders == _emitted_adders(text), layer.name


def test_structure_numbers_of_a_known_layer() -> None:
    rng = np.random.default_rng(0)
    dw = random_layer(rng, "dw", "depthwise", 4, 4, 3, 1, 1, weight_bits=4, in_bits=6,
                      in_frac=3, out_bits=6, out_frac=3)
    weight = np.zeros_like(dw.weight)
    weight[:, 0, 1, 1] = [1, 3, -7, 0]  # 0 adders, 1 (3 = 4 - 1), 1 (-7 = 1 - 8), none
    weight[0, 0, 0, 0] = 2
    dw = replace(dw, weight=weight, bias=np.zeros(4, dtype=np.int64),
                 weight_frac=np.full(4, 3))  # shift 3: rounding constant 4 is added
    s = layer_structure(dw, 10, 12, "csd")
    assert s.nonzero_weights == 4
    assert s.line_buffer_bits == 2 * 12 * 4 * 6
    assert s.line_buffer_read_bits_per_pixel == 2 * 4 * 6
    assert s.window_register_bits == 9 * 4 * 6
    assert s.input_pixels_per_frame == 120 and s.output_pixels_per_frame == 120
    assert s.pipeline_register_bits == 4 * 6  # output register only
    # multipliers 1 + 1, tree 1 (channel 0: 2x + x), bias/rounding adds on channels 0..2;
    # channel 3 (no weights) is the constant 4 >> 3 = 0. Clamp comparators where acc can
    # exceed (hi + 1) << 3 - 1 = 511: channel 0 max (2 + 1) * 63 + 4 = 193 -> none, channel 1
    # 3 * 63 + 4 = 193 -> none, channel 2 (-7x) -> none.
    assert s.adders == 2 + 1 + 3
    fused = layer_structure(dw, 10, 12, "csd", fused_input=True, fused_output=True)
    assert fused.line_buffer_bits == 0 and fused.window_register_bits == 0
    assert fused.pipeline_register_bits == 0  # the fused partner registers the result


def test_generate_rtl_writes_files_and_summary(tmp_path: Path) -> None:
    g = small_mobilenet(2)
    summary = generate_rtl(g, tmp_path / "rtl", "shared", pipeline=True)
    out = tmp_path / "rtl"
    assert (out / "files.f").read_text().split() == summary.files
    assert summary.files[-1] == f"{summary.top}.v"
    for name in summary.files:
        assert (out / name).read_text().startswith("// Generated by fixynn")
    assert (out / "rtl.json").is_file()
    assert summary.adders == sum(s.adders for s in _structure(g, "shared", True))
    assert not list(out.glob(".*.tmp"))


def test_structure_counts_the_pipeline_registers_the_verilog_contains() -> None:
    g = small_mobilenet(3, size=12)
    files = graph_verilog(g, "csd", pipeline=True)
    for layer, s in zip(g.layers, _structure(g, "csd", pipeline=True), strict=True):
        text = next(v for k, v in files.items() if k.endswith(f"_{layer.name}.v"))
        regs = re.findall(r"reg \[(\d+):0\] (?:r\d+_\d+_\d+|y_q);", text)
        assert s.pipeline_register_bits == sum(int(msb) + 1 for msb in regs), layer.name
    assert any(s.pipeline_register_bits > s.window_register_bits
               for s in _structure(g, "csd", pipeline=True))
