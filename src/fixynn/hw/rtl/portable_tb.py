"""A self-checking plain Verilog-2005 testbench and its vector files, for any simulator.

`portable_testbench(graph, stim)` returns file name -> text: `tb_<top>.v`, `tb.f` (the
command file listing the design and the bench, dependencies first) and `vectors/*.hex`
($readmemh, one word per line): `in.hex` (input pixels, channel c at bits [c*B +: B]),
`idle.hex` (idle cycles before each pixel, `rtl.stimulus`) and `o<i>.hex` (golden's output
of layer i, one pixel per line in the layout of port o<i>_data). The bench drives the
documented protocol as a user's system may (random idle cycles inside rows, the row gap,
each frame as soon as `busy` is low, X on `in_data`/`in_sof` while `in_valid` is low),
compares every output value of every layer and its frame-start flag with golden, prints
one line of counts per layer (`FIXYNN-TB layer <i> (<name>): ...`) and ends with one line:
`FIXYNN-TB PASS: ...` or `FIXYNN-TB FAIL: ... <count> mismatches ...`.
Run it from the directory holding the files (`$readmemh` paths are relative), e.g.
`iverilog -g2005 -o tb.vvp -c tb.f && vvp -n tb.vvp`.
"""

from __future__ import annotations

import numpy as np

from fixynn.hw.golden import run_graph
from fixynn.hw.ir import HwGraph
from fixynn.hw.rtl.emit import HEADER, top_name
from fixynn.hw.rtl.names import sanitize
from fixynn.hw.rtl.stimulus import Stimulus, cycle_budget

PASS, FAIL = "FIXYNN-TB PASS", "FIXYNN-TB FAIL"
LAYER = "FIXYNN-TB layer"  # one line per layer before the summary: its own counts
SHOW = 10  # mismatches printed one by one before the summary line
_HEX = np.array(list("0123456789abcdef"))


def hex_words(values: np.ndarray, bits: int) -> str:
    """One hex word per row of `values` (P, C): channel c at bits [c*bits +: bits]."""
    values = np.asarray(values, dtype=np.int64)
    p, c = values.shape
    width = c * bits
    digits = -(-width // 4)
    bit = (values[:, :, None] >> np.arange(bits)) & 1  # (P, C, bits), LSB first
    flat = np.zeros((p, digits * 4), dtype=np.int64)
    flat[:, :width] = bit.reshape(p, width)
    nibbles = flat.reshape(p, digits, 4) @ np.array([1, 2, 4, 8])  # digit 0 = lowest
    text = _HEX[nibbles[:, ::-1]]
    return "".join("".join(row) + "\n" for row in text)


def bench_module(graph: HwGraph) -> str:
    """`tb_<top>`: cannot clash with the design's modules, which all start with the top."""
    return f"tb_{top_name(graph)}"


def portable_testbench(
    graph: HwGraph, stim: Stimulus, design_files: list[str], row_gap: int
) -> dict[str, str]:
    """The bench, its command file and its vectors (file name -> text)."""
    n = len(stim.images)
    pix = graph.input_height * graph.input_width
    pixels = stim.images.transpose(0, 2, 3, 1).reshape(n * pix, graph.input_channels)
    files = {
        "vectors/in.hex": hex_words(pixels, graph.input_bits),
        "vectors/idle.hex": hex_words(stim.idle.reshape(-1, 1), 8),
    }
    for i, out in enumerate(run_graph(graph, stim.images)):
        c = out.shape[1]
        files[f"vectors/o{i}.hex"] = hex_words(out.transpose(0, 2, 3, 1).reshape(-1, c),
                                               graph.layers[i].out_bits)
    tb = bench_module(graph)
    files[f"{tb}.v"] = _bench(graph, tb, n, cycle_budget(graph, stim, row_gap))
    files["tb.f"] = "".join(f"{name}\n" for name in [*design_files, f"{tb}.v"])
    return files


def _bench(graph: HwGraph, tb: str, n: int, max_cycles: int) -> str:
    c, bits = graph.input_channels, graph.input_bits
    pix = graph.input_height * graph.input_width
    iw = c * bits
    shapes = graph.shapes()
    decl, conns, checks, missing, layer_lines = [], [], [], [], []
    for i, (layer, (oc, oh, ow)) in enumerate(zip(graph.layers, shapes, strict=True)):
        ob, per = layer.out_bits, oh * ow
        w, total = oc * ob, n * per
        decl += [
            f"  wire o{i}_valid;",
            f"  wire o{i}_sof;",
            f"  wire [{w - 1}:0] o{i}_data;",
            f"  reg [{w - 1}:0] exp{i} [0:{total - 1}];",
            f"  reg [{w - 1}:0] want{i};",
            f"  integer seen{i} = 0;",
            f"  integer cmp{i} = 0;",
            f"  integer bad{i} = 0;",
        ]
        conns += [f".o{i}_valid(o{i}_valid)", f".o{i}_sof(o{i}_sof)", f".o{i}_data(o{i}_data)"]
        where = f"layer {i} ({sanitize(layer.name)}) image %0d pixel %0d"
        checks += [
            "  always @(posedge clk) begin",
            f"    if (!rst && o{i}_valid !== 1'b0) begin",
            f"      if (o{i}_valid !== 1'b1 || seen{i} >= {total}) begin",
            f"        bad = bad + {oc};",
            f"        bad{i} = bad{i} + {oc};",
            f"        if (bad <= {SHOW}) $display(\"FIXYNN-TB mismatch: layer {i} "
            f"({sanitize(layer.name)}): valid is %b after %0d of {total} pixels\", "
            f"o{i}_valid, seen{i});",
            "      end else begin",
            f"        want{i} = exp{i}[seen{i}];",
            f"        for (ch = 0; ch < {oc}; ch = ch + 1) begin",
            "          compared = compared + 1;",
            f"          cmp{i} = cmp{i} + 1;",
            f"          if (o{i}_data[ch * {ob} +: {ob}] !== want{i}[ch * {ob} +: {ob}]) begin",
            "            bad = bad + 1;",
            f"            bad{i} = bad{i} + 1;",
            f"            if (bad <= {SHOW}) $display(\"FIXYNN-TB mismatch: {where} "
            f"channel %0d: got %h, expected %h\", seen{i} / {per}, seen{i} % {per}, ch, "
            f"o{i}_data[ch * {ob} +: {ob}], want{i}[ch * {ob} +: {ob}]);",
            "          end",
            "        end",
            f"        if (o{i}_sof !== (seen{i} % {per} == 0)) begin",
            "          bad = bad + 1;",
            f"          bad{i} = bad{i} + 1;",
            f"          if (bad <= {SHOW}) $display(\"FIXYNN-TB mismatch: {where}: "
            f"frame-start flag %b\", seen{i} / {per}, seen{i} % {per}, o{i}_sof);",
            "        end",
            "      end",
            f"      seen{i} = seen{i} + 1;",
            "    end",
            "  end",
        ]
        missing.append(
            f"    if (seen{i} < {total}) missing = missing + ({total} - seen{i}) * {oc};")
        layer_lines.append(
            f"    $display(\"{LAYER} {i} ({sanitize(layer.name)}): %0d compared, %0d "
            f"mismatches, %0d missing\", cmp{i}, bad{i}, "
            f"seen{i} < {total} ? ({total} - seen{i}) * {oc} : 0);")
    reads = [f'    $readmemh("vectors/o{i}.hex", exp{i});' for i in range(len(graph.layers))]
    return "\n".join([
        HEADER,
        f"// Self-checking testbench of {top_name(graph)} on {n} images (fixynn.hw.rtl."
        "portable_tb).",
        "// Plain Verilog-2005; run it where tb.f is: iverilog -g2005 -o tb.vvp -c tb.f && "
        "vvp -n tb.vvp",
        f"module {tb};",
        f"  localparam integer N = {n};",
        f"  localparam integer PIX = {pix};",
        f"  localparam integer MAX_CYCLES = {max_cycles};",
        "  reg clk = 1'b0;",
        "  reg rst = 1'b1;",
        "  reg in_valid = 1'b0;",
        "  reg in_sof = 1'b0;",
        f"  reg [{iw - 1}:0] in_data = {{{iw}{{1'bx}}}};",
        "  wire busy;",
        *decl,
        f"  reg [{iw - 1}:0] in_mem [0:{n * pix - 1}];",
        f"  reg [7:0] idle_mem [0:{n * pix - 1}];",
        "  integer img, p, g, ch;",
        "  integer compared = 0;",
        "  integer bad = 0;",
        "  integer missing = 0;",
        "  integer cycles = 0;",
        f"  {top_name(graph)} dut (.clk(clk), .rst(rst), .in_valid(in_valid), "
        ".in_sof(in_sof), .in_data(in_data),",
        f"    {', '.join(conns)}, .busy(busy));",
        "",
        "  always #5 clk = ~clk;",
        "  always @(posedge clk) begin",
        "    cycles = cycles + 1;",
        "    if (cycles > MAX_CYCLES) begin",
        f"      $display(\"{FAIL}: timeout after %0d cycles (hung?), %0d output values "
        "compared, %0d mismatches\", cycles, compared, bad);",
        "      $finish;",
        "    end",
        "  end",
        *checks,
        "",
        "  // One idle cycle: in_valid low, X on in_data and in_sof (they must be ignored).",
        "  task idle;",
        "    begin",
        "      in_valid = 1'b0;",
        "      in_sof = 1'bx;",
        f"      in_data = {{{iw}{{1'bx}}}};",
        "      @(negedge clk);",
        "    end",
        "  endtask",
        "",
        "  // Inputs change at the falling edge; the design samples them at the rising edge.",
        "  initial begin",
        '    $readmemh("vectors/in.hex", in_mem);',
        '    $readmemh("vectors/idle.hex", idle_mem);',
        *reads,
        "    repeat (2) @(negedge clk);",
        "    rst = 1'b0;",
        "    for (img = 0; img < N; img = img + 1) begin",
        "      while (busy !== 1'b0) idle;  // the next frame as soon as busy allows",
        "      for (p = 0; p < PIX; p = p + 1) begin",
        "        for (g = 0; g < idle_mem[img * PIX + p]; g = g + 1) idle;",
        "        in_valid = 1'b1;",
        "        in_sof = p == 0;",
        "        in_data = in_mem[img * PIX + p];",
        "        @(negedge clk);",
        "      end",
        "    end",
        "    idle;",
        "    while (busy !== 1'b0) idle;",
        "    repeat (64) idle;  // nothing may come out once busy has fallen",
        *missing,
        *layer_lines,
        "    if (bad == 0 && missing == 0)",
        f"      $display(\"{PASS}: %0d images, %0d output values compared, 0 mismatches\", N, "
        "compared);",
        "    else",
        f"      $display(\"{FAIL}: %0d images, %0d output values compared, %0d mismatches, "
        "%0d missing\", N, compared, bad, missing);",
        "    $finish;",
        "  end",
        "endmodule",
        "",
    ])
