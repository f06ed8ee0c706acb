"""Gate equivalents of the generic Yosys gate-level cells, from NanGate FreePDK45 cell areas,
and their area in any Liberty library's cells (`cell_um2`).

Shared by synthesis (pricing a netlist, `fixynn.hw.synth`) and the FFE cost model (pricing
each structural element as synthesis builds it, `fixynn.hw.ppa.ffe`), so the two use one table.
"""

from __future__ import annotations

import re

from fixynn.errors import FixynnError
from fixynn.hw.liberty import Library

# Cell areas (um2) of the NanGate FreePDK45 Open Cell Library (NangateOpenCellLibrary_typical,
# v2010_12): the cell each generic Yosys gate stands for.
NAND2_X1_UM2 = 0.798
_NANGATE_UM2 = {
    "INV_X1": 0.532, "BUF_X1": 0.798, "NAND2_X1": 0.798, "NOR2_X1": 0.798, "AND2_X1": 1.064,
    "OR2_X1": 1.064, "XOR2_X1": 1.596, "XNOR2_X1": 1.596, "MUX2_X1": 1.862,
    "DFF_X1": 4.522, "DFFR_X1": 5.320,
}


# The primitive gates the recipes below are built from: the NanGate cell that prices each in
# GE, and, for any other Liberty library, the function that picks its cheapest cell (input
# count, truth table: bit i = the output for inputs i; for MUX2 the inputs are A, B, S).
PRIMITIVES: dict[str, tuple[str, tuple[int, int] | None]] = {
    "INV": ("INV_X1", (1, 0b01)), "BUF": ("BUF_X1", (1, 0b10)),
    "NAND2": ("NAND2_X1", (2, 0b0111)), "NOR2": ("NOR2_X1", (2, 0b0001)),
    "AND2": ("AND2_X1", (2, 0b1000)), "OR2": ("OR2_X1", (2, 0b1110)),
    "XOR2": ("XOR2_X1", (2, 0b0110)), "XNOR2": ("XNOR2_X1", (2, 0b1001)),
    "MUX2": ("MUX2_X1", (3, 0xCA)),
    "DFF": ("DFF_X1", None), "DFFR": ("DFFR_X1", None),  # flip-flops: no truth table
}

# Yosys internal gate-level cell type (regex) -> the primitives it stands for. Flops with
# enable or synchronous reset have no single NanGate cell: they are a DFF plus the gate that
# realises the extra input.
CELL_RECIPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"\$_NOT_", ("INV",)),
    (r"\$_BUF_", ("BUF",)),
    (r"\$_NAND_", ("NAND2",)),
    (r"\$_NOR_", ("NOR2",)),
    (r"\$_AND_", ("AND2",)),
    (r"\$_OR_", ("OR2",)),
    (r"\$_XOR_", ("XOR2",)),
    (r"\$_XNOR_", ("XNOR2",)),
    (r"\$_MUX_", ("MUX2",)),
    (r"\$_DFF_[NP]_", ("DFF",)),
    (r"\$_DFF_[NP][NP][01]_", ("DFFR",)),  # async set/reset
    (r"\$_DFFE_[NP][NP]_", ("DFF", "MUX2")),  # enable = recirculating mux
    (r"\$_DFFE_[NP][NP][01][NP]_", ("DFFR", "MUX2")),
    (r"\$_SDFF_[NP][NP][01]_", ("DFF", "AND2")),  # sync reset = gated D
    (r"\$_(SDFFE|SDFFCE)_[NP][NP][01][NP]_", ("DFF", "MUX2", "AND2")),
)


def cell_recipe(cell_type: str) -> tuple[str, ...]:
    """The primitives of one Yosys gate-level cell; an unknown type is an error naming it."""
    for pattern, recipe in CELL_RECIPES:
        if re.fullmatch(pattern, cell_type):
            return recipe
    raise FixynnError(f"Yosys cell type {cell_type!r} has no gate-equivalent mapping in "
                      "fixynn.hw.cells.CELL_RECIPES; synthesize with the generic flow "
                      "(synth_verilog)")


def cell_ge(cell_type: str) -> float:
    """GE of one Yosys gate-level cell: its primitives' NanGate areas / NAND2_X1."""
    return sum(_NANGATE_UM2[PRIMITIVES[p][0]] for p in cell_recipe(cell_type)) / NAND2_X1_UM2


def cell_um2(cell_type: str, library: Library) -> float:
    """Area of one Yosys gate-level cell built from `library`'s cheapest cells."""
    total = 0.0
    for prim in cell_recipe(cell_type):
        function = PRIMITIVES[prim][1]
        total += (library.flip_flop(with_reset=prim == "DFFR")[1] if function is None
                  else library.cheapest(*function)[1])
    return total
