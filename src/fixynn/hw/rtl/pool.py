"""Verilog of a pool stage: the plan's `PoolDatapath` written out, one pixel per clock.

maxpool / avgpool read the K x K window of the shared window unit (`rtl.window`: padding
positions are zeros, the smallest unsigned value, so a max never picks one and a sum counts
them as zeros); per channel a balanced tree of max nodes or adders, then for an average the
constant multiply-add and shift of `lower.pool`, and an output register. global_avgpool has
no window: per channel an accumulator of the frame's pixels whose last sum goes through the
same multiply-add into the output register when the frame's last pixel arrives. A signed
input goes through the same datapath in offset binary (`lower.pool`): its sign bits are
flipped on the way in (`xin`) and on the way out, and an average's padding holds the
offset-binary zero.
"""

from __future__ import annotations

from fixynn.hw.arith import bits_for, csd_terms
from fixynn.hw.lower.geometry import WindowGeometry
from fixynn.hw.lower.pool import PoolDatapath
from fixynn.hw.rtl.names import const
from fixynn.hw.rtl.window import window_verilog


def pool_module(mod: str, dp: PoolDatapath, geo: WindowGeometry, gap: int,
                header: str) -> str:
    """One pool stage as a module with the ports of every stage (docs/rtl.md)."""
    node = dp.node
    width = node.channels * dp.bits
    what = (f"{node.kind} {node.channels} channels" if node.kind == "global_avgpool" else
            f"{node.kind} {node.channels} channels, kernel {node.kernel}, stride "
            f"{node.stride}, padding {node.padding}")
    lines = [
        header,
        f"// layer {node.name!r}: {what}",
        f"module {mod} (",
        "    input wire clk,",
        "    input wire rst,",
        "    input wire in_valid,",
        "    input wire in_sof,",
        f"    input wire [{width - 1}:0] in_data,",
        "    output wire out_valid,",
        "    output wire out_sof,",
        f"    output wire [{width - 1}:0] out_data,",
        "    output wire busy",
        ");",
        "  // the low product bits below the mean's shift are legitimately unread",
        "  /* verilator lint_off UNUSEDSIGNAL */",
    ]
    flip = f" ^ {const(dp.sign_mask, width)}" if dp.sign_mask else ""
    if flip:
        lines.append("  // signed values in offset binary (sign bits flipped) through the "
                     "unsigned datapath")
    lines.append(f"  wire [{width - 1}:0] xin = in_data{flip};")
    if node.kind == "global_avgpool":
        lines += _accumulator(dp, geo)
    else:
        lines += window_verilog(geo, width, gap, data="xin", fill=dp.window_fill)
        lines += _window_datapath(dp)
    lines += [
        f"  reg [{width - 1}:0] y_q;",
        "  reg y_valid;",
        "  reg y_sof;",
        "  always @(posedge clk) begin",
        "    y_valid <= rst ? 1'b0 : y_go;",
        "    y_sof <= y_go_sof;",
        "    y_q <= {" + ", ".join(f"y{c}" for c in reversed(range(node.channels))) + "}"
        + flip + ";",
        "  end",
        "  assign out_data = y_q;",
        "  assign out_valid = y_valid;",
        "  assign out_sof = y_sof;",
        "  assign busy = win_busy | y_valid;",
        "  /* verilator lint_on UNUSEDSIGNAL */",
        "endmodule",
        "",
    ]
    return "\n".join(lines)


def _zext(name: str, have: int, want: int) -> str:
    return name if have == want else f"{{{const(0, want - have)}, {name}}}"


def _window_datapath(dp: PoolDatapath) -> list[str]:
    """Per channel the tree over the window cells, then y<c>; y_go = a window is done."""
    bits, channels = dp.bits, dp.node.channels
    lines = [f"  // ---- datapath: {dp.node.kind}, a balanced tree over the {dp.n} window "
             "cells ----"]
    for c in range(channels):
        row = []
        for p in range(dp.n):
            lo = (p * channels + c) * bits
            lines.append(f"  wire [{bits - 1}:0] x{c}_{p} = win[{lo + bits - 1}:{lo}];")
            row.append((f"x{c}_{p}", bits))
        for level, nodes in enumerate(dp.tree(), start=1):
            nxt = []
            for i, (width, pair) in enumerate(nodes):
                if not pair:
                    nxt.append(row[2 * i])
                    continue
                (a, wa), (b, wb) = row[2 * i], row[2 * i + 1]
                name = f"t{c}_{level}_{i}"
                if dp.is_max:
                    expr = f"({a} > {b}) ? {a} : {b}"
                else:
                    expr = f"{_zext(a, wa, width)} + {_zext(b, wb, width)}"
                lines.append(f"  wire [{width - 1}:0] {name} = {expr};")
                nxt.append((name, width))
            row = nxt
        (root, root_w), = row
        if dp.is_max:
            lines.append(f"  wire [{bits - 1}:0] y{c} = {root};")
        else:
            lines += _mean(dp, c, root, root_w)
    return [*lines, "  wire y_go = win_valid;", "  wire y_go_sof = win_sof;"]


def _mean(dp: PoolDatapath, c: int, total: str, total_w: int) -> list[str]:
    """y<c> = (total * mult + offset) >> shift, the multiply a CSD shift-add (lower.pool)."""
    pw = dp.product_width
    wide = _zext(total, total_w, pw)
    terms = [f"{'+' if sign > 0 else '-'} ({wide} << {k})" if k else
             f"{'+' if sign > 0 else '-'} {wide}" for k, sign in reversed(csd_terms(dp.mult))]
    expr = " ".join(terms)
    expr = expr[2:] if expr.startswith("+ ") else f"{const(0, pw)} {expr}"
    if dp.offset:
        expr += f" + {const(dp.offset, pw)}"
    return [f"  wire [{pw - 1}:0] m{c} = {expr};",
            f"  wire [{dp.bits - 1}:0] y{c} = m{c}[{dp.shift + dp.bits - 1}:{dp.shift}];"]


def _accumulator(dp: PoolDatapath, geo: WindowGeometry) -> list[str]:
    """Per channel the running sum of a frame; at its last pixel the mean (y_go)."""
    bits, channels, n = dp.bits, dp.node.channels, dp.n
    nb, sw = bits_for(n - 1), dp.sum_width
    lines = [
        f"  // ---- datapath: global average over the {geo.in_height}x{geo.in_width} map: "
        "an accumulator per channel ----",
        "  reg active;",
        f"  reg [{nb - 1}:0] seen;",
        "  wire start = in_valid & in_sof;",
        "  wire take = start | (in_valid & active);",
        f"  wire [{nb - 1}:0] idx = start ? {const(0, nb)} : seen;",
        f"  wire y_go = take & (idx == {const(n - 1, nb)});",
        "  wire y_go_sof = y_go;  // one output pixel per frame",
        "  wire win_busy = active;",
        "  always @(posedge clk) begin",
        "    if (rst) begin",
        "      active <= 1'b0;",
        f"      seen <= {const(0, nb)};",
        "    end else if (take) begin",
        "      active <= !y_go;",
        f"      seen <= idx + {const(1, nb)};",
        "    end",
        "  end",
    ]
    for c in range(channels):
        lo = c * bits
        lines += [
            f"  reg [{sw - 1}:0] acc{c};",
            f"  wire [{sw - 1}:0] sum{c} = (start ? {const(0, sw)} : acc{c}) + "
            f"{_zext(f'xin[{lo + bits - 1}:{lo}]', bits, sw)};",
            f"  always @(posedge clk) if (take) acc{c} <= sum{c};",
            *_mean(dp, c, f"sum{c}", sw),
        ]
    return lines
