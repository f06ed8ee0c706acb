"""The stitched check in Icarus against Verilator: elaboration and simulation by N.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_icarus_verify.py [--n 2 4 7 10 14]
        [--images 2] [--verilator]

For each N of the default-like front-end (`bench_rtl.default_ffe`), writes the RTL and the
portable testbench on `--images` real images (`verification_images`, as `fixynn verify`)
and runs it in Icarus: `iverilog` seconds (parse, elaborate), `vvp` seconds per image, values
compared and mismatches. `--verilator` also builds the stitched design the way
`stagewise.verify` did before (`STITCHED_BUILD`, -O0, fresh cache) and simulates the same
images, for the ratio side by side. Prints one line per N as it finishes.

`--stages NAME ...` instead runs stages of the N = 14 front-end alone in Icarus, as
`--mode layers` checks them (input: golden's output of the previous stage on `--images` real
images): iverilog seconds, vvp seconds and output values per second, the figure to set
against a Verilator build of the same stage (docs/rtl.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_rtl import default_ffe
from fixynn.data.graph_input import verification_images
from fixynn.hw.golden import run_graph
from fixynn.hw.icarus import run_portable_testbench
from fixynn.hw.ir import INPUT
from fixynn.hw.lower import lower
from fixynn.hw.rtl import generate_rtl
from fixynn.hw.sim import verify_graph
from fixynn.hw.stagewise import STITCHED_BUILD, stage_graph, stage_groups


def bench_stages(names: list[str], images: int) -> None:
    graph = default_ffe(14)
    x, source = verification_images(graph, images)
    golden = dict(zip((layer.name for layer in graph.layers), run_graph(graph, x),
                      strict=True)) | {INPUT: x}
    plan = lower(graph)
    for group in stage_groups(plan):
        sub = stage_graph(plan, group)
        if sub.name.removeprefix("stage_") not in names:
            continue
        with tempfile.TemporaryDirectory(prefix="bench-icarus-") as tmp:
            generate_rtl(sub, Path(tmp), vectors=golden[group[0].layer.inputs[0]])
            size = sum(p.stat().st_size for p in Path(tmp).glob("*.v"))
            r = run_portable_testbench(tmp, timeout_s=3600)
        print(f"{sub.name:<22} {size / 1e6:6.2f} MB  iverilog {r.compile_s:7.1f} s  "
              f"vvp {r.sim_s:7.1f} s on {images} images = {r.compared / r.sim_s:8.0f} values/s  "
              f"{r.compared} values, {r.mismatches} mismatches [{source}]  "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[2, 4, 7, 10, 14])
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--verilator", action="store_true")
    ap.add_argument("--stages", nargs="+", default=[], help="e.g. b7_dw_b7_pw")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    if args.stages:
        bench_stages(args.stages, args.images)
        return
    for n in args.n:
        graph = default_ffe(n)
        images, source = verification_images(graph, args.images)
        with tempfile.TemporaryDirectory(prefix="bench-icarus-") as tmp:
            t0 = time.perf_counter()
            generate_rtl(graph, Path(tmp) / "rtl", vectors=images)
            emit_s = time.perf_counter() - t0
            size = sum(p.stat().st_size for p in (Path(tmp) / "rtl").glob("*.v"))
            r = run_portable_testbench(Path(tmp) / "rtl", timeout_s=3600)
            line = (f"N={n:2d} {size / 1e6:6.2f} MB  emit+vectors {emit_s:6.1f} s  "
                    f"iverilog {r.compile_s:7.1f} s  vvp {r.sim_s / args.images:7.1f} s/image  "
                    f"{r.compared} values, {r.mismatches} mismatches [{source}]")
            if args.verilator:
                v = verify_graph(graph, images, Path(tmp) / "work", cache_dir=Path(tmp) / "c",
                                 options=STITCHED_BUILD, build_timeout_s=3600)
                line += (f"  | verilator -O0 build {v.build_s:7.1f} s  sim {v.sim_s:5.1f} s  "
                         f"{v.mismatches} mismatches")
        print(line + f"  (load {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
