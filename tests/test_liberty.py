"""Liberty libraries, mapped synthesis and OpenSTA timing, against independent oracles: the
library's LEF footprints, flip-flop counts times the cell area, and a chain of inverters."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from fixynn.errors import FixynnError
from fixynn.hw.cells import cell_ge, cell_um2
from fixynn.hw.liberty import OSU018_PATHS, find_liberty, parse_function, read_liberty
from fixynn.hw.liberty_power import read_power
from fixynn.hw.sta import parse_report
from fixynn.hw.synth import synth_verilog

OSU018 = find_liberty()
needs_osu018 = pytest.mark.skipif(
    OSU018 is None or shutil.which("sta") is None,
    reason="needs the OSU 0.18 um cells (Debian qflow-tech-osu018, unpacked) and OpenSTA "
           "(Debian opensta): bash scripts/install-system-deps.sh")

SMALL_LIB = """
library(tiny) {
  time_unit : "1ns";
  cell (NAND2X1) { area : 24; pin(A) { direction : input; } pin(B) { direction : input; }
    pin(Y) { direction : output; function : "(!(A B))"; } }
  cell (MUXI) { area : 48; pin(A) { direction : input; } pin(B) { direction : input; }
    pin(S) { direction : input; } pin(Y) { direction : output; function : "(!((S A) + (!S B)))"; } }
  cell (INVX1) { area : 16; pin(A) { direction : input; }
    pin(Y) { direction : output; function : "A'"; } }
  cell (DFF) { area : 96; ff (IQ,IQN) { next_state : "D"; clocked_on : "CLK"; }
    pin(CLK) { direction : input; } pin(D) { direction : input; }
    pin(Q) { direction : output; function : "IQ"; } }
}
"""


@pytest.mark.parametrize(("text", "table"), [
    ("(!(A B))", 0b0111), ("A'", None), ("(A^B)", 0b0110), ("A*B+!A*!B", 0b1001),
    ("(A+B)'", 0b0001), ("A | B & 0", 0b1010), ("A & (B | 1)", 0b1010),
])
def test_parse_function_truth_tables(text: str, table: int | None) -> None:
    f = parse_function(text)
    if table is None:  # one input
        assert [f({"A": a}) for a in (False, True)] == [True, False]
        return
    got = sum(int(f({"A": bool(r & 1), "B": bool(r & 2)})) << r for r in range(4))
    assert got == table


def test_parse_function_rejects_garbage() -> None:
    for bad in ("(A B", "A @ B", "A B)"):
        with pytest.raises(ValueError):
            parse_function(bad)


def test_read_small_library_and_price_gates(tmp_path: Path) -> None:
    path = tmp_path / "tiny.lib"
    path.write_text(SMALL_LIB)
    lib = read_liberty(path)
    assert lib.name == "tiny" and lib.nand2_um2 == 24
    assert lib.sequential_cells == {"DFF"} and lib.flip_flop() == ("DFF", 96)
    # a multiplexer from the inverting one plus an inverter; an AND2 from NAND2 + INV
    assert lib.cheapest(3, 0xCA) == ("MUXI+INVX1", 64)
    assert cell_um2("$_AND_", lib) == 40 and cell_um2("$_DFFE_PP_", lib) == 96 + 64
    with pytest.raises(FixynnError, match="no cell computes the 2-input function 0x6"):
        cell_um2("$_XOR_", lib)
    with pytest.raises(FixynnError, match="no D flip-flop cell with an asynchronous reset"):
        lib.flip_flop(with_reset=True)


def test_bad_library_files(tmp_path: Path) -> None:
    empty = tmp_path / "x.lib"
    empty.write_text("not a liberty file")
    with pytest.raises(FixynnError, match=r"x\.lib: not a Liberty library"):
        read_liberty(empty)
    with pytest.raises(FixynnError, match="cannot read the Liberty file"):
        read_liberty(tmp_path / "missing.lib")


@pytest.mark.parametrize(("cut", "error"), [
    # the file ends inside a group: the error names the line that group opens on (line 4)
    (lambda t: t[:t.index("pin(A)")], r"tiny\.lib:4: `cell \(\.\.\.\) \{` is never closed"),
    (lambda t: t + "\n}\n", r"tiny\.lib:15: '\}' closes no group"),
    (lambda t: t.replace("cell (NAND2X1)", "cell (NAND2X1"), r"tiny\.lib:4: `cell \(` has no"),
])
def test_malformed_library_names_file_and_line(tmp_path: Path, cut: Callable[[str], str],
                                               error: str) -> None:
    path = tmp_path / "tiny.lib"
    path.write_text(cut(SMALL_LIB))
    for reader in (read_liberty, read_power):  # one parser: both readers say the same
        with pytest.raises(FixynnError, match=error) as info:
            reader(path)
        assert "\n" not in str(info.value)


def test_bad_area_names_the_cell(tmp_path: Path) -> None:
    path = tmp_path / "tiny.lib"
    path.write_text(SMALL_LIB.replace("area : 24", "area : 2x4"))
    with pytest.raises(FixynnError, match=r"tiny\.lib:4: cell NAND2X1's area '2x4' is not a"):
        read_liberty(path)


def test_error_line_is_the_files_line(tmp_path: Path) -> None:
    # comments spanning lines keep the count: the unclosed library opens on line 3
    path = tmp_path / "c.lib"
    path.write_text("/* a\n comment */\nlibrary (c) {\n  cell (X) {\n  area : 1;\n}\n")
    with pytest.raises(FixynnError, match=r"c\.lib:3: `library \(\.\.\.\) \{` is never closed"):
        read_liberty(path)


def test_env_library_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FIXYNN_LIBERTY", str(tmp_path / "none.lib"))
    with pytest.raises(FixynnError, match=r"FIXYNN_LIBERTY=.*none\.lib: no such file"):
        find_liberty()


@needs_osu018
def test_osu018_areas_match_its_lef_footprints() -> None:
    lib = read_liberty(OSU018)
    assert len(lib.cell_area_um2) == 32
    lef = next(p.with_suffix(".lef") for p in OSU018_PATHS if p.is_file())
    sizes = dict(re.findall(r"MACRO (\w+)\s.*?SIZE ([0-9.]+ BY [0-9.]+)", lef.read_text(),
                            re.S))
    for cell in ("NAND2X1", "XOR2X1", "DFFPOSX1", "FAX1", "MUX2X1"):
        w, h = (float(v) for v in sizes[cell].split(" BY "))
        assert lib.cell_area_um2[cell] == pytest.approx(w * h)
    # the gates fixynn's element recipes use, priced in osu018 cells
    assert cell_um2("$_NAND_", lib) == 24 and cell_um2("$_DFF_P_", lib) == 96
    assert cell_um2("$_MUX_", lib) == 48 + 16  # osu018's only multiplexer inverts
    assert cell_ge("$_DFF_P_") == pytest.approx(4.522 / 0.798)  # NanGate, unchanged


@needs_osu018
def test_mapped_register_is_its_flip_flops(tmp_path: Path) -> None:
    src = tmp_path / "reg16.v"
    src.write_text("module reg16(input clk, input [15:0] d, output reg [15:0] q);\n"
                   "  always @(posedge clk) q <= d;\nendmodule\n")
    result = synth_verilog([src], "reg16", liberty=OSU018)
    assert result.cells == {"DFFPOSX1": 16} and result.flip_flops == 16
    assert result.area_um2 == 16 * 96 and result.ge == 16 * 96 / 24
    assert result.sequential_ge == result.ge and result.library == "osu018_stdcells"


def inverter_chain(n: int) -> str:
    invs = "\n".join(f"  INVX1 i{k} (.A(w{k}), .Y(w{k + 1}));" for k in range(n))
    wires = ", ".join(f"w{k}" for k in range(n + 1))
    return (f"module chain(clk, d, q);\n  input clk, d;\n  output q;\n  wire {wires};\n"
            f"  DFFPOSX1 r0 (.CLK(clk), .D(d), .Q(w0));\n{invs}\n"
            f"  DFFPOSX1 r1 (.CLK(clk), .D(w{n}), .Q(q));\nendmodule\n")


@needs_osu018
def test_critical_path_grows_with_the_logic_on_it() -> None:
    from fixynn.hw.sta import critical_path

    lib = read_liberty(OSU018)
    short, long = (critical_path(inverter_chain(n), "chain", lib) for n in (2, 10))
    assert short.startpoint == long.startpoint == "r0"
    assert short.endpoint == long.endpoint == "r1"
    per_inverter = (long.critical_path_ns - short.critical_path_ns) / 8
    # an INVX1 driving one INVX1 input (~0.01 pF) switches in tens of picoseconds at 0.18 um
    assert 0.01 < per_inverter < 0.2
    assert long.f_max_mhz == pytest.approx(1e3 / long.critical_path_ns)


def test_parse_report_of_a_real_run() -> None:
    report = """Startpoint: _307_ (rising edge-triggered flip-flop clocked by clk)
Endpoint: _293_ (rising edge-triggered flip-flop clocked by clk)
Path Group: clk
Path Type: max
   0.0000    0.0000 ^ _307_/CLK (DFFPOSX1)
   0.2292    0.2292 v _307_/Q (DFFPOSX1)
   0.0714    1.7164 ^ _173_/Y (NAND2X1)
             1.7164   data arrival time
1000.0000 1000.0000 ^ _293_/CLK (DFFPOSX1)
  -0.1851  999.8149   library setup time
           999.8149   data required time
           998.0985   slack (MET)
"""
    timing = parse_report(report, "top")
    assert timing.critical_path_ns == pytest.approx(1.7164 + 0.1851)
    assert (timing.startpoint, timing.endpoint) == ("_307_", "_293_")
    with pytest.raises(FixynnError, match=r"OpenSTA on .top.: Error: netlist\.v, line 3"):
        parse_report("Error: netlist.v, line 3 syntax error\n", "top")
