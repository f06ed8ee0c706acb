"""A Liberty library's power data: pin capacitances and internal energy tables.

What the gate-level energy of `fixynn.hw.activity` reads from the library (for osu018 these
are the values in `osu018_stdcells.lib`, characterised at its typical corner, 1.8 V):

* `capacitance` of every input pin (pF): the load a net switches, 0.5 C V^2 per transition;
* `internal_power` tables (energy per transition, capacitive_load_unit x voltage_unit^2 =
  pJ for pF and V): on output pins indexed by output load and input transition, one per related
  input pin; on input pins (a flip-flop's CLK, D) indexed by input transition only.

The file is parsed once by `fixynn.hw.liberty.read_library_group`, the reader the cell areas
and functions come from too. Energy tables are read at one input transition (`slew_ns`, see
activity.NOMINAL_SLEW_NS): the simulation is zero-delay and gives no slews.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fixynn.errors import FixynnError
from fixynn.hw.liberty import Group, read_library_group


def _numbers(values: list[str]) -> np.ndarray:
    return np.array([float(x) for v in values for x in v.split(",") if x.strip()])


@dataclass(frozen=True)
class EnergyTable:
    """Energy per transition (pJ) against (output load pF, input transition ns), or against
    input transition alone (`loads` empty)."""

    loads: tuple[float, ...]
    slews: tuple[float, ...]
    values: tuple[tuple[float, ...], ...]  # [load][slew]

    def at(self, load_pf: float, slew_ns: float) -> float:
        grid = np.array(self.values)
        by_slew = [float(np.interp(slew_ns, self.slews, row)) for row in grid]
        return by_slew[0] if not self.loads else float(np.interp(load_pf, self.loads, by_slew))


@dataclass(frozen=True)
class CellPower:
    """A cell's pin loads and internal energy (per transition, rise and fall averaged)."""

    input_cap_pf: dict[str, float]
    input_energy: dict[str, tuple[EnergyTable, ...]]  # input pin -> its rise/fall tables
    output_energy: dict[str, tuple[EnergyTable, ...]]  # output pin -> every arc's tables

    def pin_energy_pj(self, pin: str, load_pf: float, slew_ns: float) -> float:
        """Internal energy of one transition of `pin`: the mean of its tables (the arcs of an
        output are averaged: which input caused the transition is not recorded)."""
        tables = self.output_energy.get(pin) or self.input_energy.get(pin) or ()
        return float(np.mean([t.at(load_pf, slew_ns) for t in tables])) if tables else 0.0


@dataclass(frozen=True)
class LibraryPower:
    path: Path
    nom_voltage_v: float
    cells: dict[str, CellPower]


def _table(group: Group, templates: dict[str, Group]) -> EnergyTable:
    template = templates.get(group.args[0]) if group.args else None
    index1 = group.attrs.get("index_1") or (template.attrs.get("index_1") if template else None)
    index2 = group.attrs.get("index_2") or (template.attrs.get("index_2") if template else None)
    var1 = template.attrs.get("variable_1", [""])[0] if template else ""
    values = _numbers(group.attrs.get("values", []))
    first = tuple(_numbers(index1 or []))
    if index2 is None:  # one index: input transition
        return EnergyTable((), first, (tuple(values),))
    second = tuple(_numbers(index2))
    grid = values.reshape(len(first), len(second))
    if var1.startswith("input_transition"):  # stored [slew][load]: keep [load][slew]
        return EnergyTable(second, first, tuple(map(tuple, grid.T)))
    return EnergyTable(first, second, tuple(map(tuple, grid)))


def read_power(path: str | Path) -> LibraryPower:
    """The power data of a Liberty file; a one-line error naming the file when it has none."""
    path = Path(path)
    lib = read_library_group(path)
    templates = {g.args[0]: g for g in lib.all("power_lut_template") if g.args}
    voltage = lib.attrs.get("nom_voltage")
    if not voltage:
        raise FixynnError(f"{path}: no nom_voltage; the switching energy needs the supply")
    cells: dict[str, CellPower] = {}
    for cell in lib.all("cell"):
        caps: dict[str, float] = {}
        inputs: dict[str, tuple[EnergyTable, ...]] = {}
        outputs: dict[str, list[EnergyTable]] = {}
        for pin in cell.all("pin"):
            direction = pin.attrs.get("direction", [""])[0]
            tables = [_table(t, templates) for ip in pin.all("internal_power")
                      for t in ip.groups if t.kind in ("rise_power", "fall_power")]
            if direction == "input":
                caps[pin.args[0]] = float(pin.attrs.get("capacitance", ["0"])[0])
                inputs[pin.args[0]] = tuple(tables)
            elif direction == "output":
                outputs[pin.args[0]] = tables
        cells[cell.args[0]] = CellPower(caps, inputs, {k: tuple(v) for k, v in outputs.items()})
    if not any(c.output_energy.get(p) for c in cells.values() for p in c.output_energy):
        raise FixynnError(f"{path}: no internal_power tables; this library has no power data")
    return LibraryPower(path, float(voltage[0]), cells)
