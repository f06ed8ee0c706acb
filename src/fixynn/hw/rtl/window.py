"""Window unit of a streaming layer: K-1 line-buffer rows, a K x K register window, counters.

Protocol (docs/rtl.md): one input pixel (all channels) per `in_valid`, raster order,
`in_sof` on the first pixel of a frame. The unit scans a virtual grid of (H + EH) x (W + EW)
positions: the real pixels, then EW zero-padding columns at the right end of every row and EH
zero-padding rows at the bottom, which it walks by itself; so the producer leaves at least
EW idle cycles between rows, and after each padding row the unit waits `gap` cycles to keep
that row gap for the layers downstream. Top/left padding is masking: line-buffer rows above
the frame read as zero and the window is cleared at the start of every row. A window is
passed on (`win_valid`) when its bottom-right position is an output position.
"""

from __future__ import annotations

from fixynn.hw.arith import bits_for
from fixynn.hw.lower.geometry import WindowGeometry
from fixynn.hw.rtl.names import const

ONE = "1'b1"


def window_verilog(geo: WindowGeometry, pixel_bits: int, gap: int, data: str = "in_data",
                   fill: int = 0) -> list[str]:
    """Module-body lines declaring `win` (K*K*pixel_bits), `win_valid`, `win_sof` and
    `win_busy` (a frame is inside the unit: its walk is not finished or a window is leaving).

    Window cell p = i*K + j (i: row, 0 = oldest; j: column, 0 = oldest) sits at bits
    [p*pixel_bits +: pixel_bits]. The pixels come from the wire `data` (valid with
    `in_valid`); padding positions hold `fill` (zero; a signed pool's offset-binary zero).
    """
    k, cw = geo.kernel, pixel_bits
    pad = const(fill, cw)
    h, w, eh, ew = geo.in_height, geo.in_width, geo.extra_rows, geo.extra_cols
    hv, wv = h + eh, w + ew
    rb, cb = bits_for(max(hv - 1, k - 1)), bits_for(wv - 1)
    rowmask = _mask_literal(geo.row_mask(), rb)
    colmask = _mask_literal(geo.col_mask(), cb)
    lines = [
        "  // ---- window unit: line buffer + K x K window (fixynn.hw.rtl.window) ----",
        f"  localparam [{(1 << rb) - 1}:0] ROWMASK = {rowmask};",
        f"  localparam [{(1 << cb) - 1}:0] COLMASK = {colmask};",
        "  reg active;",
        "  reg first_out;",
        f"  reg [{rb - 1}:0] vr;",
        f"  reg [{cb - 1}:0] vc;",
        "  wire start = in_valid & in_sof;",
        f"  wire [{rb - 1}:0] pr = start ? {const(0, rb)} : vr;",
        f"  wire [{cb - 1}:0] pc = start ? {const(0, cb)} : vc;",
        f"  wire row_real = {f'pr < {const(h, rb)}' if eh else ONE};",
        f"  wire col_real = {f'pc < {const(w, cb)}' if ew else ONE};",
        "  wire real_px = row_real & col_real;",
    ]
    gb = bits_for(gap)
    if eh:
        lines += [f"  reg [{gb - 1}:0] gap;",
                  f"  wire pad_go = gap == {const(0, gb)};"]
    else:
        lines.append("  wire pad_go = 1'b1;")
    lines += [
        "  wire adv = start | (active & (real_px ? in_valid : pad_go));",
        f"  wire [{cw - 1}:0] px = real_px ? {data} : {pad};",
        "  wire hit = adv & ROWMASK[pr] & COLMASK[pc];",
        f"  wire last_col = pc == {const(wv - 1, cb)};",
        f"  wire last_row = pr == {const(hv - 1, rb)};",
    ]
    # Line buffer: row g (1..K-1) holds frame row pr-g at column pc.
    col = ["px"]
    if k > 1:
        ab = bits_for(w - 1)
        addr = "pc" if ab == cb else f"pc[{ab - 1}:0]"
        for g in range(1, k):
            lines += [
                f"  reg [{cw - 1}:0] line{g} [0:{w - 1}];",
                f"  wire [{cw - 1}:0] rd{g} = line{g}[{addr}];",
                f"  wire [{cw - 1}:0] col{g} = (col_real & (pr >= {const(g, rb)})) ? rd{g} : "
                f"{pad};",
            ]
            col.append(f"col{g}")
        lines.append("  always @(posedge clk) begin")
        lines.append("    if (adv & col_real) begin")
        for g in range(1, k):
            lines.append(f"      line{g}[{addr}] <= {'px' if g == 1 else f'rd{g - 1}'};")
        lines += ["    end", "  end"]
    # Window cells, concatenated from the highest cell (K*K-1) down to cell 0.
    shifted, cleared = [], []
    for p in reversed(range(k * k)):
        i, j = divmod(p, k)
        if j == k - 1:
            src = col[k - 1 - i]
            shifted.append(src)
            cleared.append(src)
        else:
            shifted.append(f"win[{(p + 1) * cw + cw - 1}:{(p + 1) * cw}]")
            cleared.append(pad)
    lines += [
        f"  reg [{k * k * cw - 1}:0] win;",
        "  reg win_valid;",
        "  reg win_sof;",
        "  always @(posedge clk) begin",
        "    if (adv) begin",
    ]
    if k > 1:
        lines += [
            f"      if (pc == {const(0, cb)}) win <= {{{', '.join(cleared)}}};",
            f"      else win <= {{{', '.join(shifted)}}};",
        ]
    else:
        lines.append("      win <= px;")
    lines += [
        "    end",
        "  end",
        "  always @(posedge clk) begin",
        "    if (rst) begin",
        "      active <= 1'b0;",
        "      first_out <= 1'b0;",
        f"      vr <= {const(0, rb)};",
        f"      vc <= {const(0, cb)};",
        "      win_valid <= 1'b0;",
        "      win_sof <= 1'b0;",
    ]
    if eh:
        lines.append(f"      gap <= {const(0, gb)};")
    lines += [
        "    end else begin",
        "      win_valid <= hit;",
        "      win_sof <= hit & (start | first_out);",
        "      if (hit) first_out <= 1'b0;",
        "      else if (start) first_out <= 1'b1;",
    ]
    if eh:
        # in the bottom padding rows (or the last real row); always, for a one-row frame
        past_real = f" & (pr >= {const(h - 1, rb)})" if h > 1 else ""
        lines += [
            f"      if (start) gap <= {const(0, gb)};",
            f"      else if (!adv && !pad_go) gap <= gap - {const(1, gb)};",
            f"      else if (adv & last_col & !last_row{past_real}) gap <= {const(gap, gb)};",
        ]
    lines += [
        "      if (adv) begin",
        "        if (!last_col) begin",
        "          active <= 1'b1;",
        "          vr <= pr;",
        f"          vc <= pc + {const(1, cb)};",
        "        end else begin",
        "          active <= !last_row;",
        f"          vr <= pr + {const(1, rb)};",
        f"          vc <= {const(0, cb)};",
        "        end",
        "      end",
        "    end",
        "  end",
        "  wire win_busy = active | win_valid;",
    ]
    return lines


def decimator_verilog(geo: WindowGeometry, pixel_bits: int) -> list[str]:
    """Lines declaring `win`, `win_valid`, `win_sof`, `win_busy` for a 1x1 layer fused after
    another (no buffer): the input stream itself, with only the pixels of a stride-s grid
    (rows and columns 0, s, 2s, ...) valid. Row/column counters, no data register."""
    if geo.kernel != 1 or geo.pad_top or geo.pad_left:
        raise ValueError("a fused input is read by a 1x1 layer without padding")
    lines = [
        f"  wire [{pixel_bits - 1}:0] win = in_data;",
        "  wire win_busy = 1'b0;  // no state of its own: the layer's valid registers tell",
    ]
    if geo.stride == 1:
        return [*lines, "  wire win_valid = in_valid;", "  wire win_sof = in_sof;"]
    h, w = geo.in_height, geo.in_width
    rb, cb = bits_for(h), bits_for(w - 1)
    return [
        *lines,
        f"  // ---- stride-{geo.stride} decimator of the fused input (fixynn.hw.rtl.window) ----",
        f"  localparam [{(1 << rb) - 1}:0] ROWMASK = {_mask_literal(geo.row_mask(), rb)};",
        f"  localparam [{(1 << cb) - 1}:0] COLMASK = {_mask_literal(geo.col_mask(), cb)};",
        f"  reg [{rb - 1}:0] vr;",
        f"  reg [{cb - 1}:0] vc;",
        "  wire start = in_valid & in_sof;",
        f"  wire [{rb - 1}:0] pr = start ? {const(0, rb)} : vr;",
        f"  wire [{cb - 1}:0] pc = start ? {const(0, cb)} : vc;",
        "  wire win_valid = in_valid & ROWMASK[pr] & COLMASK[pc];",
        "  wire win_sof = start;  // pixel (0, 0) is always on the grid",
        "  always @(posedge clk) begin",
        "    if (rst) begin",
        f"      vr <= {const(0, rb)};",
        f"      vc <= {const(0, cb)};",
        "    end else if (in_valid) begin",
        f"      vr <= pc == {const(w - 1, cb)} ? pr + {const(1, rb)} : pr;",
        f"      vc <= pc == {const(w - 1, cb)} ? {const(0, cb)} : pc + {const(1, cb)};",
        "    end",
        "  end",
    ]


def _mask_literal(mask: list[bool], bits: int) -> str:
    full = mask + [False] * ((1 << bits) - len(mask))
    value = sum(1 << i for i, hit in enumerate(full) if hit)
    return const(value, len(full))
