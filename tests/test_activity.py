"""Switching activity (fixynn.hw.activity): toggle counts known by hand, the gate-level
simulation of a mapped layer, its Liberty energy, node scaling and `fixynn power` errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fixynn.cli import app
from fixynn.hw.activity import (
    Instance,
    Toggles,
    gate_energy,
    measure_layer,
    netlist_instances,
    simulate_gates,
    vcd_toggles,
)
from fixynn.hw.ir import HwGraph, save_graph
from fixynn.hw.liberty import find_liberty, read_liberty
from fixynn.hw.liberty_power import read_power
from fixynn.hw.ppa.tech import node_scaling
from fixynn.hw.rtl.emit import graph_verilog
from fixynn.hw.synth import PORTS_NETLIST, synth_verilog
from fixynn.hw.synthetic import random_layer

OSU018 = find_liberty()
needs_gates = pytest.mark.skipif(
    OSU018 is None or shutil.which("sta") is None or shutil.which("iverilog") is None,
    reason="needs the OSU 0.18 um cells, OpenSTA and Icarus Verilog: "
           "bash scripts/install-system-deps.sh")

VCD = """$timescale 1ns $end
$scope module u0 $end
$var wire 1 ! clk $end
$var wire 3 " d [2:0] $end
$var wire 1 # q $end
$upscope $end
$enddefinitions $end
#0
$dumpvars
0!
bx "
0#
$end
#5
1!
b101 "
#10
0!
b10 "
1#
#15
1!
b1x1 "
#20
0!
b111 "
0#
#25
1!
#30
0!
#35
1!
"""


def test_vcd_toggles_by_hand() -> None:
    t = vcd_toggles(VCD)
    # d: x?? -> 101 (first known) -> 010 (3 toggles) -> 1x1 (bit 2: 0->1, bit 1 keeps 1,
    # bit 0: 0->1) -> 111 (bit 1 stays 1): d[2] 2, d[1] 1, d[0] 2
    # rising clock edges up to the last data transition (#20): #5 and #15; the clock-only
    # tail (#25, #35) is the bench idling after the last frame and is not counted
    assert t.cycles == 2
    assert t.per_net == {"clk": 4, "d[2]": 2, "d[1]": 1, "d[0]": 2, "q": 2}


def tiny_graph() -> HwGraph:
    layer = random_layer(np.random.default_rng(3), "pw", "pointwise", 2, 2, 1, 1, 0,
                         weight_bits=4, in_bits=4, out_bits=4)
    return HwGraph("act", 2, 3, 3, (layer,), input_bits=4, input_frac=layer.in_frac)


@needs_gates
def test_gate_level_toggles_of_constant_and_alternating_input(tmp_path: Path) -> None:
    graph = tiny_graph()
    name, text = next(iter(graph_verilog(graph).items()))
    (tmp_path / name).write_text(text)
    synth_verilog([tmp_path / name], Path(name).stem, liberty=OSU018, netlist_dir=tmp_path)
    netlist = (tmp_path / PORTS_NETLIST).read_text()
    models = OSU018.with_suffix(".v")
    inputs = [f"in_data[{b}]" for b in range(2 * 4)]
    # a constant image: the input nets take their value once and never toggle (the bench's
    # X while idle is no value), however many frames
    constant = np.full((3, 2, 3, 3), 9, dtype=np.int64)
    t = vcd_toggles(simulate_gates(graph, constant, netlist, models))
    assert [t.per_net[b] for b in inputs] == [0] * 8
    assert t.cycles > 3 * 9
    # alternating 0 / 15 in raster order: every input bit toggles at each of the 8 pixel
    # changes of a 9-pixel frame; the last pixel (15) and the next frame's first (15) agree
    alternating = np.zeros((2, 2, 3, 3), dtype=np.int64)
    alternating.reshape(2, 2, 9)[:, :, ::2] = 15
    t2 = vcd_toggles(simulate_gates(graph, alternating, netlist, models))
    assert [t2.per_net[b] for b in inputs] == [2 * 8] * 8
    library, power = read_liberty(OSU018), read_power(OSU018)
    instances = netlist_instances(netlist, library)
    e_const, e_alt = (gate_energy(instances, x, library, power) for x in (t, t2))
    assert e_alt.logic_pj / 2 > e_const.logic_pj / 3 > 0  # per frame: data toggles cost


@needs_gates
def test_gate_energy_is_the_liberty_tables_by_hand() -> None:
    library, power = read_liberty(OSU018), read_power(OSU018)
    inv, nand = power.cells["INVX1"], power.cells["NAND2X1"]
    instances = [Instance("INVX1", "i0", {"A": "a", "Y": "n"}),
                 Instance("NAND2X1", "g0", {"A": "n", "B": "b", "Y": "y"})]
    toggles = Toggles({"a": 4, "n": 4, "b": 0, "y": 3}, cycles=10)
    e = gate_energy(instances, toggles, library, power, slew_ns=0.18)
    v2 = 0.5 * 1.8 ** 2
    c_n = nand.input_cap_pf["A"]
    # the inverter's output net n: 4 x (its internal energy at load C_n + 0.5 C_n V^2); y has
    # no load: 3 x NAND2's internal energy at 0; input net a: 4 x 0.5 C_a V^2
    want = (4 * (inv.pin_energy_pj("Y", c_n, 0.18) + v2 * c_n)
            + 3 * nand.pin_energy_pj("Y", 0.0, 0.18) + 4 * v2 * inv.input_cap_pf["A"])
    assert e.logic_pj == pytest.approx(want)
    assert e.clock_pj == e.flip_flops_pj == 0
    assert e.toggles == 11 and e.activity == pytest.approx(11 / (4 * 10))
    # read from the osu018 file: an inverter's energy per transition is ~0.01-0.1 pJ at 1.8 V
    assert 0.005 < inv.pin_energy_pj("Y", c_n, 0.18) < 0.1


def test_node_scaling_is_the_cited_equations() -> None:
    f = node_scaling(180, 1.8, 45, 0.9)
    e180 = 24.64 * 1.8 - 17.98  # Stillmaker & Baas, 180 nm energy fit
    e45 = 1.018 * 0.9 ** 2 - 0.3107 * 0.9 + 0.1539  # 45 nm HP fit
    d180 = 97.09 * 1.8 ** 2 - 356.7 * 1.8 + 406.5
    d45 = -501.6 * 0.9 ** 3 + 1567 * 0.9 ** 2 - 1619 * 0.9 + 566.1
    assert f.energy == pytest.approx(e45 / e180)
    assert f.delay == pytest.approx(d45 / d180)
    assert f.area == pytest.approx(1 / 19)
    g = node_scaling(180, 1.8, 16, 0.8)
    assert g.area == pytest.approx(0.19 / 19)  # = the paper's 180 nm row entry, 0.01
    assert g.energy == pytest.approx((0.2958 * 0.64 - 0.1241 * 0.8 + 0.03024) / e180)
    with pytest.raises(Exception, match="no Stillmaker"):
        node_scaling(180, 1.8, 28, 0.9)


@pytest.mark.parametrize(("args", "message"), [
    (["--images", "0"], "--images must be >= 1"),
    (["--style", "naive"], "--style 'naive'"),
    (["--tech", "nosuch"], "nosuch"),
    (["--liberty", "/no/such.lib"], "no such Liberty file"),
    (["--layers", "zz"], "neither a layer name nor an index"),
])
def test_power_cli_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    graph_dir = save_graph(tiny_graph(), tmp_path / "g")
    result = CliRunner().invoke(app, ["power", str(graph_dir), *args])
    assert result.exit_code != 0
    assert message in str(result.exception) + result.output


def test_power_cli_missing_graph(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["power", str(tmp_path / "none")])
    assert result.exit_code != 0 and not (tmp_path / "none").exists()


@needs_gates
def test_measurement_is_cached_by_content(tmp_path: Path) -> None:
    graph = tiny_graph()
    x = np.arange(2 * 2 * 9).reshape(2, 2, 3, 3) % 16
    first, cached = measure_layer(graph, x, OSU018, cache_dir=tmp_path)
    assert not cached and first.real.cycles > 0 and first.random.toggles > 0
    again, cached = measure_layer(graph, x, OSU018, cache_dir=tmp_path)
    assert cached and again.real == first.real and again.area_um2 == first.area_um2
    # other images: the mapped netlist is reused, the simulation is not
    other, cached = measure_layer(graph, 15 - x, OSU018, cache_dir=tmp_path)
    assert not cached and other.area_um2 == first.area_um2 and other.real != first.real
    for entry in (tmp_path / "energy").iterdir():  # a corrupt entry is measured again
        entry.write_text("{not json")
    redo, cached = measure_layer(graph, x, OSU018, cache_dir=tmp_path)
    assert not cached and redo.real == first.real


@needs_gates
def test_power_cli_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIXYNN_CACHE", str(tmp_path / "cache"))
    graph_dir = save_graph(tiny_graph(), tmp_path / "g")
    result = CliRunner().invoke(app, ["power", str(graph_dir), "--images", "1", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    (row,) = doc["layers"]
    assert row["layer"] == "pw" and doc["library"] == "osu018_stdcells" and doc["vdd_v"] == 1.8
    assert 0 < row["activity"] < 1 and row["adder_activity"] > 0
    n45 = row["at_node"]["45nm"]
    assert n45["measured_pj"] == pytest.approx(row["measured_pj"] * node_scaling(
        180, 1.8, 45, 0.9).energy)
    assert n45["model_pj_measured_activity"] <= n45["model_pj_full_activity"]
