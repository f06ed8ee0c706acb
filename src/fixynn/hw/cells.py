"""Gate equivalents of the generic Yosys gate-level cells, from NanGate FreePDK45 cell areas.

Shared by synthesis (pricing a netlist, `fixynn.hw.synth`) and the FFE cost model (pricing
each structural element as synthesis builds it, `fixynn.hw.ppa.ffe`), so the two use one table.
"""

from __future__ import annotations

import re

from fixynn.errors import FixynnError

# Cell areas (um2) of the NanGate FreePDK45 Open Cell Library (NangateOpenCellLibrary_typical,
# v2010_12): the cell each generic Yosys gate stands for.
NAND2_X1_UM2 = 0.798
_NANGATE_UM2 = {
    "INV_X1": 0.532, "BUF_X1": 0.798, "NAND2_X1": 0.798, "NOR2_X1": 0.798, "AND2_X1": 1.064,
    "OR2_X1": 1.064, "XOR2_X1": 1.596, "XNOR2_X1": 1.596, "MUX2_X1": 1.862,
    "DFF_X1": 4.522, "DFFR_X1": 5.320,
}


def _ge(*cells: str) -> float:
    return sum(_NANGATE_UM2[c] for c in cells) / NAND2_X1_UM2


# Yosys internal gate-level cell type (regex) -> GE. Flops with enable or synchronous reset
# have no single NanGate cell: they are a DFF plus the gate that realises the extra input.
CELL_GE: tuple[tuple[str, float], ...] = (
    (r"\$_NOT_", _ge("INV_X1")),
    (r"\$_BUF_", _ge("BUF_X1")),
    (r"\$_NAND_", _ge("NAND2_X1")),
    (r"\$_NOR_", _ge("NOR2_X1")),
    (r"\$_AND_", _ge("AND2_X1")),
    (r"\$_OR_", _ge("OR2_X1")),
    (r"\$_XOR_", _ge("XOR2_X1")),
    (r"\$_XNOR_", _ge("XNOR2_X1")),
    (r"\$_MUX_", _ge("MUX2_X1")),
    (r"\$_DFF_[NP]_", _ge("DFF_X1")),
    (r"\$_DFF_[NP][NP][01]_", _ge("DFFR_X1")),  # async set/reset
    (r"\$_DFFE_[NP][NP]_", _ge("DFF_X1", "MUX2_X1")),  # enable = recirculating mux
    (r"\$_DFFE_[NP][NP][01][NP]_", _ge("DFFR_X1", "MUX2_X1")),
    (r"\$_SDFF_[NP][NP][01]_", _ge("DFF_X1", "AND2_X1")),  # sync reset = gated D
    (r"\$_(SDFFE|SDFFCE)_[NP][NP][01][NP]_", _ge("DFF_X1", "MUX2_X1", "AND2_X1")),
)


def cell_ge(cell_type: str) -> float:
    """GE of one Yosys gate-level cell; an unknown type is an error naming it."""
    for pattern, ge in CELL_GE:
        if re.fullmatch(pattern, cell_type):
            return ge
    raise FixynnError(f"Yosys cell type {cell_type!r} has no gate-equivalent mapping in "
                      "fixynn.hw.cells.CELL_GE; synthesize with the generic flow (synth_verilog)")
