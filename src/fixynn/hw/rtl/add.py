"""Verilog of an add stage: the buffered input's delay buffer, the aligned sum, the clamp.

The input that comes first (`in<skip>_*`: a residual's skip tensor, or a projection
shortcut) is pushed into a buffer of `depth` pixels whenever it is valid; each valid pixel of
the other input (after `delay` registers, the plan's `branch_delay`, usually none) pops the
oldest one, so pixel n of both meet. The depth is the plan's (`lower.timing.buffer_depth`):
exactly the most pixels in flight in any schedule. Then per channel
`acc' = (a << sa) + (b << sb) + 2^(s-1)` at its exact width, the shared clamp
(`wires.requantize_lines`) and the output register.
"""

from __future__ import annotations

from fixynn.hw.arith import bits_for
from fixynn.hw.lower.add import AddDatapath
from fixynn.hw.rtl.names import const
from fixynn.hw.rtl.wires import requantize_lines, shifted


def add_lines(dp: AddDatapath, skip: int, depth: int,
              delay: int = 0) -> tuple[list[str], str, str]:
    """Module-body lines of an add stage (ports in0_*, in1_*, out_*); returns them and the
    expressions of its valid and busy."""
    node = dp.layer
    sk, br = f"in{skip}", f"in{1 - skip}"
    fmt_s = node.in_formats[skip]
    pixel = node.channels * fmt_s.bits
    lines, late = _delay_line(br, node.channels * node.in_formats[1 - skip].bits, delay)
    br_valid, br_sof, br_data = (f"{late}_{p}" for p in ("valid", "sof", "data"))
    lines += ["  // ---- skip-path delay buffer (fixynn.hw.rtl.add) ----",
              f"  wire skip_sof = {sk}_sof;  // frames start at the branch's sof"]
    if depth:
        ab, cb = bits_for(max(depth - 1, 1)), bits_for(depth)
        lines += [
            f"  reg [{pixel - 1}:0] buf_mem [0:{depth - 1}];",
            f"  reg [{ab - 1}:0] wr;",
            f"  reg [{ab - 1}:0] rd;",
            f"  reg [{cb - 1}:0] fill;",
            f"  wire [{pixel - 1}:0] head = buf_mem[rd];",
            "  always @(posedge clk) begin",
            f"    if ({sk}_valid) buf_mem[wr] <= {sk}_data;",
            "  end",
            "  always @(posedge clk) begin",
            "    if (rst) begin",
            f"      wr <= {const(0, ab)};",
            f"      rd <= {const(0, ab)};",
            f"      fill <= {const(0, cb)};",
            "    end else begin",
            f"      if ({sk}_valid) wr <= wr == {const(depth - 1, ab)} ? {const(0, ab)} : "
            f"wr + {const(1, ab)};",
            f"      if ({br_valid}) rd <= rd == {const(depth - 1, ab)} ? {const(0, ab)} : "
            f"rd + {const(1, ab)};",
            f"      fill <= fill + {_widen(f'{sk}_valid', cb)} - {_widen(br_valid, cb)};",
            "    end",
            "  end",
        ]
        busy = "(fill != " + const(0, cb) + ") | y_valid"
    else:  # the same stream twice: nothing to wait for
        lines.append(f"  wire [{pixel - 1}:0] head = {sk}_data;")
        busy = "y_valid"
    lines.append("  // ---- datapath: aligned sum, rounding, requantize ----")
    ys = []
    operands = {skip: "head", 1 - skip: br_data}
    for c in range(node.channels):
        a = int(dp.acc_width[c])
        terms = []
        for i, (fmt, sh) in enumerate(zip(node.in_formats, node.align, strict=True)):
            name = f"x{i}_{c}"
            lines.append(f"  wire [{fmt.bits - 1}:0] {name} = "
                         f"{operands[i]}[{(c + 1) * fmt.bits - 1}:{c * fmt.bits}];")
            terms.append(shifted(name, fmt.bits, sh, a, fmt.signed))
        if dp.bias_const[c]:
            terms.append(const(int(dp.bias_const[c]), a))
        lines.append(f"  wire [{a - 1}:0] acc{c} = {' + '.join(terms)};")
        ys.append(requantize_lines(dp.clamp, c, f"acc{c}", node.out_bits, f"y{c}", lines))
    y_all = "{" + ", ".join(reversed(ys)) + "}" if len(ys) > 1 else ys[0]
    lines += [
        f"  reg [{node.channels * node.out_bits - 1}:0] y_q;",
        "  reg y_valid;",
        "  reg y_sof;",
        "  always @(posedge clk) begin",
        f"    y_valid <= rst ? 1'b0 : {br_valid};",
        f"    y_sof <= {br_sof};",
        f"    y_q <= {y_all};",
        "  end",
        "  assign out_data = y_q;",
        "  assign out_valid = y_valid;",
        "  assign out_sof = y_sof;",
    ]
    busy += "".join(f" | dl{i}_valid" for i in range(delay))
    return lines, br_valid, busy


def _delay_line(src: str, width: int, delay: int) -> tuple[list[str], str]:
    """`delay` registers of the stream `src` (valid, sof, data); returns their lines and the
    prefix of the delayed stream (`src` itself when `delay` is 0)."""
    lines = [f"  // ---- input {src} delayed {delay} cycles, after the buffered one ----"
             ] if delay else []
    for i in range(delay):
        lines += [
            f"  reg [{width - 1}:0] dl{i}_data;",
            f"  reg dl{i}_valid;",
            f"  reg dl{i}_sof;",
            "  always @(posedge clk) begin",
            f"    dl{i}_valid <= rst ? 1'b0 : {src}_valid;",
            f"    dl{i}_sof <= {src}_sof;",
            f"    dl{i}_data <= {src}_data;",
            "  end",
        ]
        src = f"dl{i}"
    return lines, src


def _widen(bit: str, width: int) -> str:
    return bit if width == 1 else f"{{{width - 1}'b0, {bit}}}"
