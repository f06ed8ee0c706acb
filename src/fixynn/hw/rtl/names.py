"""Verilog identifiers and constants: sanitized, deterministic."""

from __future__ import annotations

import re

# Verilog-2005 and SystemVerilog keywords a sanitized layer name could collide with.
_KEYWORD_TEXT = """
always and assign automatic begin bit buf byte case casex casez cell config deassign default
defparam design disable edge else end endcase endconfig endfunction endgenerate endmodule
endprimitive endspecify endtable endtask enum event for force forever fork function generate
genvar if ifnone initial inout input instance int integer join large liblist library localparam
logic longint macromodule medium module nand negedge nmos nor not or output parameter pmos
posedge primitive pull0 pull1 pulldown pullup rcmos real realtime reg release repeat rnmos
rpmos rtran rtranif0 rtranif1 scalared shortint signed small specify specparam strong0 strong1
struct supply0 supply1 table task time tran tranif0 tranif1 tri tri0 tri1 triand trior trireg
type union unsigned use vectored wait wand weak0 weak1 while wire wor xnor xor
"""
_KEYWORDS = frozenset(_KEYWORD_TEXT.split())


def sanitize(name: str, prefix: str = "m") -> str:
    """A legal, readable Verilog identifier for `name` (same input -> same output)."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    ident = re.sub(r"_+", "_", ident).strip("_") or prefix
    if ident[0].isdigit() or ident.lower() in _KEYWORDS:
        ident = f"{prefix}_{ident}"
    return ident


def unique_names(names: list[str], prefix: str = "m") -> list[str]:
    """Sanitize each name; a collision after sanitizing gets a numeric suffix."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        base = sanitize(name, prefix)
        ident, n = base, 1
        while ident in seen:
            ident, n = f"{base}_{n}", n + 1
        seen.add(ident)
        out.append(ident)
    return out


def const(value: int, width: int) -> str:
    """A `width`-bit Verilog literal of `value` (two's complement for negatives)."""
    if width < 1:
        raise ValueError("width must be >= 1")
    return f"{width}'h{value % (1 << width):x}"
