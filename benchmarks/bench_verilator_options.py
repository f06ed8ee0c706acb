"""Verilator build options: C++ compile time against simulation speed, by design size.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_verilator_options.py
        [--stages 3] [--images 20] [--configs default O0 ...] [--wide CONFIG ...]

The designs are stages of the default front-end at N = 14 (MobileNetV1 width 0.25 at 28x28,
stride plan "small", random 8-bit weights, dw+pw fused: `bench_rtl.default_ffe`), each
emitted alone as `fixynn verify --mode layers` builds it: the smallest, the largest and
evenly spaced ones between them by Verilog bytes. Every configuration builds every design in
a fresh cache (nothing reused; the Verilator runtime objects of each configuration are
compiled once beforehand, as the real cache keeps them), then simulates `--images` real
images. The `--wide` configurations run on every design, the others on the middle one only
(the default run stays under ~15 minutes on 2 shared cores). Printed: one row per (design,
configuration) with Verilog bytes, adders, build seconds, images/s, and the ratios to the
default configuration measured side by side.
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
from fixynn.hw.ir import INPUT, HwGraph
from fixynn.hw.lower import lower
from fixynn.hw.rtl.emit import plan_verilog, top_name
from fixynn.hw.rtl.stimulus import stimulus
from fixynn.hw.rtl.testbench import cpp_testbench
from fixynn.hw.sim import CXX_OPT, BuildOptions, build, compare, simulate
from fixynn.hw.stagewise import STITCHED_BUILD, stage_graph, stage_groups

# name -> (options, make -j; None: one per core)
CONFIGS: dict[str, tuple[BuildOptions, int | None]] = {
    "default": (BuildOptions(), None),
    "O0": (STITCHED_BUILD, None),  # what the stitched check of --mode layers builds with
    "O2": (BuildOptions(cxx_opt=("OPT_FAST=-O2", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1")), None),
    "Os-slow": (BuildOptions(cxx_opt=("OPT_FAST=-O1", "OPT_SLOW=-Os", "OPT_GLOBAL=-O1")), None),
    "no-split": (BuildOptions(output_split=0), None),
    "j1": (BuildOptions(), 1),
    "threads2": (BuildOptions(threads=2), None),
}


def designs(count: int) -> list[tuple[HwGraph, str]]:
    """`count` stages of the N = 14 front-end, spread by Verilog bytes, with their source
    tensor's name."""
    graph = default_ffe(14)
    plan = lower(graph)
    stages = [(stage_graph(plan, g), g[0].layer.inputs[0]) for g in stage_groups(plan)]
    stages.sort(key=lambda s: _bytes(s[0]))
    picks = sorted({round(i * (len(stages) - 1) / max(count - 1, 1)) for i in range(count)})
    return [stages[i] for i in picks]


def _bytes(graph: HwGraph) -> int:
    return sum(len(t) for t in plan_verilog(lower(graph)).values())


def measure(graph: HwGraph, x, want, options: BuildOptions, jobs: int | None, cache: Path,
            work: Path) -> tuple[float, float, int]:
    """(build seconds, images/s, mismatches) of one design under one configuration."""
    plan = lower(graph)
    files, top = plan_verilog(plan), top_name(graph)
    tb = cpp_testbench([("", graph)], top)
    t0 = time.perf_counter()
    exe, cached = build(files, tb, top, cache, jobs=jobs, options=options)
    build_s = time.perf_counter() - t0
    assert not cached, "the benchmark's cache must be fresh"
    sim_s = []
    for _ in range(2):  # the faster of two runs: the machine is shared
        t1 = time.perf_counter()
        (rtl,) = simulate(exe, [graph], [stimulus(graph, x, plan.row_gap)], work)
        sim_s.append(time.perf_counter() - t1)
    bad = sum(m.mismatches for m in compare(graph, want, rtl))
    return build_s, len(x) / min(sim_s), bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=3, help="designs of different sizes")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS),
                        default=[c for c in CONFIGS if c != "Os-slow"])
    parser.add_argument("--wide", nargs="+", default=["default", "O0"], choices=list(CONFIGS),
                        help="configurations measured on every design")
    args = parser.parse_args()
    full = default_ffe(14)
    images, source = verification_images(full, args.images)
    golden = dict(zip((layer.name for layer in full.layers), run_graph(full, images),
                      strict=True)) | {INPUT: images}
    picked = designs(args.stages)
    print(f"{os.cpu_count()} cores; {args.images} images ({source}); default CXX_OPT "
          f"{' '.join(CXX_OPT)}; load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-vl-") as tmp:
        os.environ["FIXYNN_CACHE"] = str(Path(tmp) / "home")  # runtime objects live here
        warm = designs(1)[0][0]
        for name in args.configs:  # each configuration's runtime objects, untimed
            options, jobs = CONFIGS[name]
            build(plan_verilog(lower(warm)), cpp_testbench([("", warm)], top_name(warm)),
                  top_name(warm), Path(tmp) / f"warm-{name}", jobs=jobs, options=options)
        rows = []
        for k, (graph, src) in enumerate(picked):  # configurations interleaved per design
            want = [golden[layer.name] for layer in graph.layers]
            for name in args.configs:
                if name not in args.wide and k != len(picked) // 2:
                    continue
                options, jobs = CONFIGS[name]
                build_s, ips, bad = measure(graph, golden[src], want, options, jobs,
                                            Path(tmp) / f"c-{name}-{k}", Path(tmp) / "work")
                rows.append((graph, name, build_s, ips, bad))
                print(f"  {graph.name:<22} {name:<9} build {build_s:7.1f} s  "
                      f"{ips:9.1f} images/s  {bad} mismatches", flush=True)
    base = {r[0].name: r for r in rows if r[1] == "default"}
    print("\n| stage | Verilog bytes | adders | config | build s | images/s | build / default "
          "| speed / default |")
    print("|---|---|---|---|---|---|---|---|")
    for graph, name, build_s, ips, _ in rows:
        ref = base.get(graph.name)
        adders = sum(s.structure.adders for s in lower(graph).stages)
        ratio = (f"{build_s / ref[2]:.2f} | {ips / ref[3]:.2f}" if ref else "- | -")
        print(f"| {graph.name} | {_bytes(graph):,} | {adders:,} | {name} | {build_s:.1f} | "
              f"{ips:.1f} | {ratio} |")
    if any(r[4] for r in rows):
        raise SystemExit("mismatches: a configuration built a wrong simulator")


if __name__ == "__main__":
    main()
