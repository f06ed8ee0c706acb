"""Technology table: per-operation energies and per-cell areas of one process node, each cited.

A table is a TOML file (built-in ones live in `tech_tables/`; a user passes a path). Two kinds:

* a full table: `name`, `node_nm`, `vdd_v`, `[energy]`, `[area]`, `[sources]`;
* a derived table: `name` and `[derive] from = <table>, node_nm = ..., vdd_v = ...`, scaled
  from another table with the Stillmaker & Baas equations (`scaled`).

See docs/tech.md for every constant, its source and the scaling method.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import tomllib
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from fixynn.errors import FixynnError

# Stillmaker & Baas, "Scaling equations for the accurate prediction of CMOS device performance
# from 180 nm to 7 nm", Integration 58 (2017) 74-81.
# Area scaling factors relative to 45 nm (the paper's area table, 45 nm row):
# area(node) = area(45) * f.
STILLMAKER_AREA_VS_45NM: dict[float, float] = {
    180.0: 19.0,  # the 45 nm row's 180 nm entry (its 180 nm row gives 45 nm: x0.053 = 1/19)
    45.0: 1.0,
    32.0: 0.46,
    20.0: 0.21,
    16.0: 0.19,
    14.0: 0.17,
    10.0: 0.1,
    7.0: 0.059,
}
# Energy per operation vs Vdd: second-order fits e(V) = a V^2 + b V + c for the high-performance
# (HP) PTM/ITRS models (the paper's energy coefficient table);
# energy(node, V) / energy(45, V45) = e_node(V) / e_45(V45).
STILLMAKER_ENERGY_POLY: dict[float, tuple[float, float, float]] = {
    180.0: (0.0, 24.64, -17.98),  # bulk 180 nm: the paper's fit is first order in Vdd
    45.0: (1.018, -0.3107, 0.1539),
    32.0: (0.8367, -0.4341, 0.1701),
    20.0: (0.373, -0.1582, 0.04104),
    16.0: (0.2958, -0.1241, 0.03024),
    14.0: (0.2363, -0.09675, 0.02239),
    10.0: (0.2068, -0.09311, 0.02375),
    7.0: (0.1776, -0.09097, 0.02447),
}
# Delay vs Vdd: third-order fits d(V) = a V^3 + b V^2 + c V + d (the paper's delay coefficient
# table; HP models from 45 nm down), delay(node, V) / delay(from, V0) = d_node(V) / d_from(V0).
STILLMAKER_DELAY_POLY: dict[float, tuple[float, float, float, float]] = {
    180.0: (0.0, 97.09, -356.7, 406.5),
    45.0: (-501.6, 1567.0, -1619.0, 566.1),
    32.0: (-1047.0, 2982.0, -2797.0, 873.5),
    20.0: (0.0, 34.63, -66.37, 41.15),
    16.0: (0.0, 24.8, -47.52, 28.87),
    14.0: (-40.66, 109.2, -100.6, 35.92),
    10.0: (-34.95, 93.65, -85.99, 30.4),
    7.0: (-28.58, 76.6, -70.26, 24.69),
}
SCALING_METHOD = (
    "Stillmaker & Baas, Integration 58 (2017): area x the 45 nm-row area factor, "
    "energy x ratio of the HP energy-vs-Vdd polynomial fits"
)

BUILTIN_DIR = "tech_tables"

_ENERGY_FIELDS = (
    "add_pj_per_bit",
    "register_pj_per_bit",
    "mult_int8_pj",
    "mac_int8_pj",
    "sram_read_pj_per_bit",
    "sram_write_pj_per_bit",
)
# Off-chip DRAM energy is set by the DRAM device and its interface, not by the logic node of
# the accelerator, so node scaling leaves it unchanged (Horowitz's figure is kept).
_OFF_CHIP_FIELDS = ("dram_pj_per_byte",)
_AREA_FIELDS = ("ge_area_um2", "sram_bitcell_area_um2", "mac_int8_area_um2")
# Which TOML section each constant lives in.
ENERGY_SECTION = (*_ENERGY_FIELDS, *_OFF_CHIP_FIELDS, "sram_sizes_bytes", "overhead_fraction")
AREA_SECTION = (*_AREA_FIELDS, "full_adder_ge", "flip_flop_ge", "sram_array_efficiency")


@dataclass(frozen=True)
class TechTable:
    """Constants of one node. Energies in pJ, areas in um2; `sources` cites every field."""

    name: str
    node_nm: float
    vdd_v: float
    # energy (pJ)
    add_pj_per_bit: float  # one full-adder bit of a ripple/carry adder, per add
    register_pj_per_bit: float  # one flip-flop bit, per clocked cycle
    mult_int8_pj: float
    mac_int8_pj: float
    sram_sizes_bytes: tuple[int, ...]  # the SRAM sizes the next two tables are given for
    sram_read_pj_per_bit: tuple[float, ...]
    sram_write_pj_per_bit: tuple[float, ...]
    dram_pj_per_byte: float
    overhead_fraction: float  # clock tree + leakage, as a fraction added to dynamic energy
    # area
    ge_area_um2: float  # one gate equivalent = a NAND2 (X1)
    full_adder_ge: float
    flip_flop_ge: float
    sram_bitcell_area_um2: float
    sram_array_efficiency: float  # bit-cell area / macro area (periphery overhead)
    mac_int8_area_um2: float
    sources: dict[str, str]

    @property
    def full_adder_area_um2(self) -> float:
        return self.full_adder_ge * self.ge_area_um2

    @property
    def flip_flop_area_um2(self) -> float:
        return self.flip_flop_ge * self.ge_area_um2


def _interp_loglog(sizes: tuple[int, ...], values: tuple[float, ...], size: float) -> float:
    """Piecewise power law through (size, value); beyond the ends the end segment's slope.

    SRAM access energy grows about as a power of capacity (bit/word-line length), so a straight
    line in log-log space is the natural interpolant (Horowitz's 8 KB/32 KB points give ~size^0.5).
    """
    if size <= 0:
        raise FixynnError(f"SRAM size must be > 0 bytes, got {size}")
    if len(sizes) == 1:
        return values[0]
    i = min(max(bisect.bisect_left(sizes, size), 1), len(sizes) - 1)
    x0, x1 = math.log(sizes[i - 1]), math.log(sizes[i])
    y0, y1 = math.log(values[i - 1]), math.log(values[i])
    return math.exp(y0 + (y1 - y0) * (math.log(size) - x0) / (x1 - x0))


def sram_read_pj_per_bit(table: TechTable, size_bytes: float) -> float:
    """Read energy per bit of an SRAM of `size_bytes` (log-log interpolation of the table)."""
    return _interp_loglog(table.sram_sizes_bytes, table.sram_read_pj_per_bit, size_bytes)


def sram_write_pj_per_bit(table: TechTable, size_bytes: float) -> float:
    """Write energy per bit of an SRAM of `size_bytes` (log-log interpolation of the table)."""
    return _interp_loglog(table.sram_sizes_bytes, table.sram_write_pj_per_bit, size_bytes)


def sram_area_um2(table: TechTable, bits: float) -> float:
    """Macro area of an SRAM holding `bits`: bit cells divided by the array efficiency."""
    if bits < 0:
        raise FixynnError(f"SRAM bits must be >= 0, got {bits}")
    return bits * table.sram_bitcell_area_um2 / table.sram_array_efficiency


def _energy_factor(from_node: float, from_vdd: float, to_node: float, to_vdd: float) -> float:
    def e(node: float, vdd: float) -> float:
        a, b, c = STILLMAKER_ENERGY_POLY[node]
        return a * vdd * vdd + b * vdd + c

    return e(to_node, to_vdd) / e(from_node, from_vdd)


@dataclass(frozen=True)
class NodeScaling:
    """Stillmaker & Baas factors from one (node, Vdd) to another: multiply area, delay, energy."""

    area: float
    delay: float
    energy: float


def node_scaling(from_node: float, from_vdd: float, to_node: float, to_vdd: float
                 ) -> NodeScaling:
    """Area, delay and energy factors between two nodes at their supplies (e.g. a design mapped
    to osu018, 180 nm at 1.8 V, carried to 45 nm at 0.9 V)."""
    for node in (from_node, to_node):
        if float(node) not in STILLMAKER_DELAY_POLY:
            raise FixynnError(f"node {node:g} nm has no Stillmaker & Baas coefficients here; "
                              f"use one of {sorted(STILLMAKER_DELAY_POLY)} nm")
    for vdd in (from_vdd, to_vdd):
        if not vdd > 0:
            raise FixynnError(f"supply {vdd} V must be > 0")

    def delay(node: float, vdd: float) -> float:
        a, b, c, d = STILLMAKER_DELAY_POLY[float(node)]
        return ((a * vdd + b) * vdd + c) * vdd + d

    return NodeScaling(
        area=STILLMAKER_AREA_VS_45NM[float(to_node)] / STILLMAKER_AREA_VS_45NM[float(from_node)],
        delay=delay(to_node, to_vdd) / delay(from_node, from_vdd),
        energy=_energy_factor(float(from_node), from_vdd, float(to_node), to_vdd))


def scaled(table: TechTable, node_nm: float, vdd_v: float | None = None) -> TechTable:
    """`table` moved to `node_nm` (at `vdd_v`, default the same supply) by Stillmaker & Baas.

    Energies scale by the ratio of the fitted energy-vs-Vdd polynomials, areas by the node's
    area factor; cell ratios (full adder / flip-flop in GE, array efficiency) and off-chip
    DRAM energy are kept.
    """
    vdd = table.vdd_v if vdd_v is None else float(vdd_v)
    for node in (table.node_nm, float(node_nm)):
        if node not in STILLMAKER_ENERGY_POLY:
            raise FixynnError(
                f"node {node:g} nm has no Stillmaker & Baas coefficients here; use one of "
                f"{sorted(STILLMAKER_ENERGY_POLY)} nm"
            )
    if not 0.3 <= vdd <= 1.5:
        raise FixynnError(f"vdd_v = {vdd} V is outside the 0.3..1.5 V range the fits cover")
    ef = _energy_factor(table.node_nm, table.vdd_v, float(node_nm), vdd)
    af = STILLMAKER_AREA_VS_45NM[float(node_nm)] / STILLMAKER_AREA_VS_45NM[table.node_nm]
    changes: dict[str, Any] = {}
    for name in _ENERGY_FIELDS:
        value = getattr(table, name)
        changes[name] = tuple(v * ef for v in value) if isinstance(value, tuple) else value * ef
    for name in _AREA_FIELDS:
        changes[name] = getattr(table, name) * af
    note = (
        f"scaled from {table.name} ({table.node_nm:g} nm, {table.vdd_v:g} V) to "
        f"{node_nm:g} nm, {vdd:g} V by {SCALING_METHOD}: energy x{ef:.4f}, area x{af:.4f}"
    )
    sources = {
        k: v if k in _OFF_CHIP_FIELDS else f"{v}; {note}" for k, v in table.sources.items()
    } | {"scaling": note}
    return replace(
        table,
        name=f"{table.name}->{node_nm:g}nm",
        node_nm=float(node_nm),
        vdd_v=vdd,
        sources=sources,
        **changes,
    )


# ---------------------------------------------------------------------------------------------
# Loading


def builtin_tables() -> list[str]:
    """Names of the built-in tables (files in tech_tables/)."""
    folder = resources.files("fixynn.hw.ppa").joinpath(BUILTIN_DIR)
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_tech(name_or_path: str | Path = "45nm") -> TechTable:
    """A built-in table by name ("45nm", "16nm") or a user TOML file by path."""
    return _load(name_or_path, seen=())


def tech_digest(name_or_path: str | Path) -> str:
    """Hash of the table's content (every constant, after any [derive] chain): what a cache
    key of a PPA result holds, so an edited TOML is seen under the same name or path."""
    table = asdict(load_tech(name_or_path))
    return hashlib.sha256(json.dumps(table, sort_keys=True).encode()).hexdigest()


def _load(name_or_path: str | Path, seen: tuple[str, ...]) -> TechTable:
    text, where, base_dir = _read_source(name_or_path)
    if where in seen:
        raise FixynnError(f"{where}: [derive] from forms a cycle ({' -> '.join(seen)})")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FixynnError(f"{where}: not valid TOML ({exc})") from exc
    if "derive" in doc:
        return _derived(doc, where, base_dir, (*seen, where))
    return _parse_full(doc, where)


def _read_source(name_or_path: str | Path) -> tuple[str, str, Path | None]:
    """(text, where for messages, directory relative `from` paths start in)."""
    name = str(name_or_path)
    if name in builtin_tables():
        res = resources.files("fixynn.hw.ppa").joinpath(BUILTIN_DIR, f"{name}.toml")
        return res.read_text(), f"built-in table {name!r}", None
    path = Path(name_or_path)
    if not path.is_file():
        raise FixynnError(
            f"{path}: no such technology file (give a TOML path or one of the "
            f"built-in tables {builtin_tables()})"
        )
    try:
        return path.read_text(), str(path), path.parent
    except (OSError, UnicodeDecodeError) as exc:
        raise FixynnError(f"{path}: unreadable technology file ({exc})") from exc


def _derived(
    doc: dict[str, Any], where: str, base_dir: Path | None, seen: tuple[str, ...]
) -> TechTable:
    spec = doc["derive"]
    if not isinstance(spec, dict) or "from" not in spec or "node_nm" not in spec:
        raise FixynnError(f"{where}: [derive] needs 'from' (a table) and 'node_nm'")
    node = _number(spec, "node_nm", f"{where}: derive")
    vdd = _number(spec, "vdd_v", f"{where}: derive") if "vdd_v" in spec else None
    base_ref = str(spec["from"])
    if base_dir is not None and base_ref not in builtin_tables():
        base_ref = str(base_dir / base_ref)  # a relative path is relative to the deriving file
    base = _load(base_ref, seen)
    table = scaled(base, node, vdd)
    return replace(table, name=str(doc.get("name", table.name)))


def _parse_full(doc: dict[str, Any], where: str) -> TechTable:
    for section in ("energy", "area", "sources"):
        if not isinstance(doc.get(section), dict):
            raise FixynnError(f"{where}: section [{section}] missing (see docs/tech.md)")
    energy, area, sources = doc["energy"], doc["area"], doc["sources"]
    values: dict[str, Any] = {
        "name": str(doc.get("name") or where),
        "node_nm": _number(doc, "node_nm", where),
        "vdd_v": _number(doc, "vdd_v", where),
        "sources": {str(k): str(v) for k, v in sources.items()},
    }
    list_fields = ("sram_sizes_bytes", "sram_read_pj_per_bit", "sram_write_pj_per_bit")
    for section, sec_name, names in (
        (energy, "energy", ENERGY_SECTION),
        (area, "area", AREA_SECTION),
    ):
        for key in names:
            if key in list_fields:
                values[key] = _number_list(section, key, f"{where}: [{sec_name}]")
            else:
                values[key] = _number(section, key, f"{where}: [{sec_name}]")
    _check(values, where)
    return TechTable(**values)


def _check(values: dict[str, Any], where: str) -> None:
    sizes = values["sram_sizes_bytes"]
    if list(sizes) != sorted(set(sizes)):
        raise FixynnError(f"{where}: [energy] sram_sizes_bytes must be strictly increasing")
    for key in ("sram_read_pj_per_bit", "sram_write_pj_per_bit"):
        if len(values[key]) != len(sizes):
            raise FixynnError(f"{where}: [energy] {key} needs one value per sram_sizes_bytes entry")
    if not 0 <= values["overhead_fraction"] < 10:
        raise FixynnError(f"{where}: [energy] overhead_fraction must be in 0..10")
    if not 0 < values["sram_array_efficiency"] <= 1:
        raise FixynnError(f"{where}: [area] sram_array_efficiency must be in (0, 1]")
    constants = (*_ENERGY_FIELDS, *_OFF_CHIP_FIELDS, *_AREA_FIELDS)
    missing = [k for k in constants if k not in values["sources"]]
    if missing:
        raise FixynnError(
            f"{where}: [sources] has no source for {missing[0]!r}; every constant "
            "needs its public source"
        )


def _number(section: dict[str, Any], key: str, where: str) -> float:
    if key not in section:
        raise FixynnError(f"{where}: field {key!r} missing")
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FixynnError(f"{where}: field {key!r} must be a number, got {value!r}")
    if key != "overhead_fraction" and value <= 0:
        raise FixynnError(f"{where}: field {key!r} must be > 0, got {value!r}")
    return float(value)


def _number_list(section: dict[str, Any], key: str, where: str) -> tuple[Any, ...]:
    value = section.get(key)
    if not isinstance(value, list) or not value:
        raise FixynnError(f"{where}: field {key!r} must be a non-empty list of numbers")
    items = tuple(_number({key: v}, key, where) for v in value)
    return tuple(int(v) for v in items) if key == "sram_sizes_bytes" else items
