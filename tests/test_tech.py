"""Technology table: built-in values, user TOML files, bad files, scaling, SRAM interpolation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fixynn.errors import FixynnError
from fixynn.hw.ppa.tech import (
    builtin_tables,
    load_tech,
    scaled,
    sram_area_um2,
    sram_read_pj_per_bit,
    sram_write_pj_per_bit,
)

BUILTIN_45 = Path(__file__).parents[1] / "src/fixynn/hw/ppa/tech_tables/45nm.toml"


def test_builtin_45nm_holds_horowitz_and_nangate_numbers() -> None:
    t = load_tech("45nm")
    assert (t.node_nm, t.vdd_v) == (45.0, 0.9)
    assert t.add_pj_per_bit * 8 == pytest.approx(0.03)  # 8b add 0.03 pJ
    assert t.mult_int8_pj == 0.2
    assert t.sram_read_pj_per_bit[0] * 64 == pytest.approx(10.0)  # 8 KB, 64 b: 10 pJ
    assert t.sram_read_pj_per_bit[-1] * 64 == pytest.approx(100.0)  # 1 MB: 100 pJ
    assert t.dram_pj_per_byte * 8 == pytest.approx(1950.0)  # midpoint of 1.3-2.6 nJ / 64 b
    assert t.full_adder_area_um2 == pytest.approx(4.256, abs=1e-3)
    assert t.flip_flop_area_um2 == pytest.approx(4.522, abs=1e-3)
    for key in ("add_pj_per_bit", "register_pj_per_bit", "dram_pj_per_byte", "ge_area_um2",
                "sram_bitcell_area_um2", "mac_int8_area_um2", "full_adder_ge"):
        assert t.sources[key], key
    assert set(builtin_tables()) >= {"45nm", "16nm"}


def test_16nm_is_stillmaker_scaled_45nm() -> None:
    t45, t16 = load_tech("45nm"), load_tech("16nm")
    # energy polynomials (HP): 45 nm at 0.9 V, 16 nm at 0.8 V
    e45 = 1.018 * 0.81 - 0.3107 * 0.9 + 0.1539
    e16 = 0.2958 * 0.64 - 0.1241 * 0.8 + 0.03024
    assert e16 / e45 == pytest.approx(0.1721, abs=1e-4)
    assert t16.add_pj_per_bit == pytest.approx(t45.add_pj_per_bit * e16 / e45)
    assert t16.sram_read_pj_per_bit[1] == pytest.approx(t45.sram_read_pj_per_bit[1] * e16 / e45)
    assert t16.ge_area_um2 == pytest.approx(0.798 * 0.19)
    assert t16.full_adder_ge == t45.full_adder_ge  # cell ratios are node independent
    assert t16.dram_pj_per_byte == t45.dram_pj_per_byte  # off-chip: not a logic-node energy
    assert "Stillmaker" not in t16.sources["dram_pj_per_byte"]
    assert (t16.node_nm, t16.vdd_v, t16.name) == (16.0, 0.8, "16nm")
    assert "Stillmaker" in t16.sources["scaling"]
    assert "Stillmaker" in t16.sources["add_pj_per_bit"]


def test_scaling_round_trip_and_unknown_node() -> None:
    t = load_tech()
    back = scaled(scaled(t, 16.0), 45.0)
    assert back.add_pj_per_bit == pytest.approx(t.add_pj_per_bit)
    assert back.ge_area_um2 == pytest.approx(t.ge_area_um2)
    with pytest.raises(FixynnError, match="28 nm"):
        scaled(t, 28.0)
    with pytest.raises(FixynnError, match="vdd_v"):
        scaled(t, 16.0, vdd_v=3.0)


def test_sram_interpolation_is_log_log() -> None:
    t = load_tech()
    assert sram_read_pj_per_bit(t, 8192) == pytest.approx(10 / 64)
    assert sram_read_pj_per_bit(t, 32768) == pytest.approx(20 / 64)
    # halfway in log size is the geometric mean of the neighbours
    assert sram_read_pj_per_bit(t, 16384) == pytest.approx(math.sqrt(10 * 20) / 64)
    # below 8 KB: the first segment's slope (energy ~ size^0.5): 1 KB -> 10 / sqrt(8) pJ
    assert sram_read_pj_per_bit(t, 1024) == pytest.approx(10 / math.sqrt(8) / 64)
    assert sram_write_pj_per_bit(t, 65536) > sram_read_pj_per_bit(t, 32768)
    assert sram_area_um2(t, 1000) == pytest.approx(1000 * 0.346 / 0.7)
    with pytest.raises(FixynnError, match="size"):
        sram_read_pj_per_bit(t, 0)


def test_user_toml_full_and_derived(tmp_path: Path) -> None:
    text = BUILTIN_45.read_text().replace('name = "45nm"', 'name = "mine"')
    text = text.replace("add_pj_per_bit = 0.00375", "add_pj_per_bit = 0.005")
    user = tmp_path / "mine.toml"
    user.write_text(text)
    t = load_tech(user)
    assert (t.name, t.add_pj_per_bit) == ("mine", 0.005)
    derived = tmp_path / "d.toml"
    derived.write_text(f'name = "mine16"\n[derive]\nfrom = "{user}"\nnode_nm = 16\n')
    d = load_tech(str(derived))
    assert d.name == "mine16" and d.vdd_v == 0.9
    assert d.add_pj_per_bit == pytest.approx(scaled(t, 16).add_pj_per_bit)
    # a relative `from` is relative to the deriving file, not to the working directory
    rel = tmp_path / "sub" / "rel.toml"
    rel.parent.mkdir()
    rel.write_text('[derive]\nfrom = "../mine.toml"\nnode_nm = 16\nvdd_v = 0.8\n')
    assert load_tech(rel).add_pj_per_bit == pytest.approx(scaled(t, 16, 0.8).add_pj_per_bit)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace("add_pj_per_bit = 0.00375", 'add_pj_per_bit = "x"'),
         "'add_pj_per_bit' must be a number"),
        (lambda s: s.replace("dram_pj_per_byte = 243.75", ""), "'dram_pj_per_byte' missing"),
        (lambda s: s.replace("ge_area_um2 = 0.798", "ge_area_um2 = -1"), "must be > 0"),
        (lambda s: s.replace("[area]", "[arena]"), r"\[area\] missing"),
        (lambda s: s.replace("[energy]", "[energy"), "not valid TOML"),
        (lambda s: s.replace('dram_pj_per_byte = "', 'other = "'), "no source for"),
        (lambda s: s.replace("[8192, 32768, 1048576]", "[32768, 8192, 1048576]"),
         "strictly increasing"),
        (lambda s: s.replace("[0.15625, 0.3125, 1.5625]    #", "[0.1, 0.2]    #"),
         "one value per"),
    ],
)
def test_bad_user_files_name_the_field(tmp_path: Path, edit, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(edit(BUILTIN_45.read_text()))
    with pytest.raises(FixynnError, match=message) as info:
        load_tech(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_and_cyclic_files(tmp_path: Path) -> None:
    with pytest.raises(FixynnError, match="no such technology file"):
        load_tech(tmp_path / "nope.toml")
    loop = tmp_path / "loop.toml"
    loop.write_text(f'[derive]\nfrom = "{loop}"\nnode_nm = 16\n')
    with pytest.raises(FixynnError, match="cycle"):
        load_tech(loop)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(FixynnError, match="missing"):
        load_tech(empty)
