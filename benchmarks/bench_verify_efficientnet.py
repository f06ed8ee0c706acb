"""Verification of the EfficientNet-Lite0 front-end at 3x64x64, every N: what it costs.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_verify_efficientnet.py
        [--n 2 4 6 8] [--stage-sim auto|verilator|icarus] [--images 100] [--json OUT]

For each N (the stem and N - 1 blocks; N = 1 is the stem alone) the integer HwGraph is
exported as the default job builds it (`fixynn.frontend.to_hwgraph`, ImageNet weights,
formats calibrated on `--calib` training images of `--task` replicated to 3 channels, input
(p - 127) / 128), lowered (a refused kind stops that N with the error), and verified per
stage (`fixynn.hw.stagewise.verify`, `--mode layers`; `--mode whole` for one Verilator build of
the whole design, the comparison) on the task's first `--images` test images, the way the
pipeline's verify step calls it. All N share one fresh cache (`--cache`,
default a new temp folder), so N's stages that a smaller N built or checked are reused, as
in a run's sweep. Printed per N: nodes, Verilog bytes, stages, per stage its simulator,
bytes, build (or iverilog) and simulation seconds, cached or not, values and mismatches;
the stitched check's seconds; wall, CPU seconds of this process and its children, and the
load average before and after (the machine is shared: wall times depend on it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fixynn.data.tasks import load_task
from fixynn.errors import FixynnError
from fixynn.frontend import to_hwgraph
from fixynn.hw.ir import HwGraph
from fixynn.hw.lower import lower
from fixynn.hw.rtl.emit import plan_verilog
from fixynn.hw.stagewise import (
    STAGE_IMAGES,
    STAGE_SIMS,
    STITCHED_IMAGES,
    stage_groups,
    verify,
)
from fixynn.nn.efficientnet_lite import efficientnet_lite0, normalize


def front_end(n: int, calib: np.ndarray, size: int) -> HwGraph:
    """The stem and blocks 0..n-2 as an integer HwGraph (docs/frontend.md, `to_hwgraph`)."""
    pixels = torch.from_numpy(calib)
    out = to_hwgraph(efficientnet_lite0(size), normalize(pixels[:1]), n, pixels,
                     pixel_offset=127, pixel_scale=128, name=f"efficientnet_lite0_n{n}",
                     executor="torch")
    return out.graph


def cpu_s() -> float:
    """CPU seconds of this process and every child it waited for (compilers, simulators)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(n: int, graph: HwGraph, images: np.ndarray, args: argparse.Namespace
            ) -> dict[str, Any]:
    plan = lower(graph)  # a kind the lowering refuses raises here, naming the node
    size = sum(len(text) for text in plan_verilog(plan).values())
    kinds = sorted({node.kind for node in graph.layers})
    print(f"\nN = {n}: {len(graph.layers)} nodes ({', '.join(kinds)}), "
          f"{size / 1e6:.2f} MB Verilog, {len(stage_groups(plan))} stages; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    load0, c0, t0 = os.getloadavg()[0], cpu_s(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as work:
        result = verify(graph, images, Path(work), args.mode, cache_dir=args.cache / "verilator",
                        jobs=args.jobs, stitched_images=args.stitched_images,
                        stage_sim=args.stage_sim, stage_images=args.stage_images)
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    print("| stage | simulator | images | Verilog bytes | build s | sim s | cached | values "
          "| mismatches |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in result.stages:
        print(f"| {s.name} | {s.simulator} | {s.images} | {s.verilog_bytes:,} | "
              f"{s.build_s:.1f} | {s.sim_s:.1f} | {'yes' if s.cached_build else 'no'} | "
              f"{s.outputs_compared:,} | {s.mismatches} |")
    top = result.top
    print(f"top level ({top.simulator}, {top.images} images): build {top.build_s:.1f} s, "
          f"sim {top.sim_s:.1f} s, {top.outputs_compared:,} values, {top.mismatches} "
          f"mismatches{' (cached)' if top.cached_build else ''}")
    load1 = os.getloadavg()[0]
    print(f"N = {n}: {'PASS' if result.ok else 'FAIL'}, {result.outputs_compared:,} values, "
          f"wall {wall:.1f} s, CPU {cpu:.1f} s, load {load0:.1f} -> {load1:.1f}", flush=True)
    return {"n": n, "nodes": len(graph.layers), "kinds": kinds, "verilog_bytes": size,
            "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "load": [load0, load1],
            "verification": result.to_json()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[2, 4, 6, 8])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--task", default="fashion-mnist-a")
    parser.add_argument("--calib", type=int, default=64, help="calibration training images")
    parser.add_argument("--images", type=int, default=100, help="test images verified")
    parser.add_argument("--mode", choices=("layers", "whole"), default="layers",
                        help="whole: one Verilator build of the design (the mode before)")
    parser.add_argument("--stage-sim", choices=STAGE_SIMS, default="auto")
    parser.add_argument("--stage-images", type=int, default=STAGE_IMAGES)
    parser.add_argument("--stitched-images", type=int, default=STITCHED_IMAGES)
    parser.add_argument("--jobs", type=int, default=None, help="stages at once (default: cores)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="build and check cache shared by every N (default: a fresh one)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.cache = args.cache or Path(tempfile.mkdtemp(prefix="bench-verify-cache-"))
    os.environ["FIXYNN_CACHE"] = str(args.cache)  # the Icarus checks' outcomes live there too
    args.cache = args.cache / "fixynn"
    data = load_task(args.task, args.size, channels=3)
    rng = np.random.default_rng(1)
    calib = data.train_images[np.sort(rng.permutation(len(data.train_images))[:args.calib])]
    images = data.test_images[:args.images].astype(np.int64)
    print(f"{args.task}: {len(calib)} calibration images, {len(images)} test images; mode "
          f"{args.mode}, stages {args.stage_sim}, cache {args.cache}; {os.cpu_count()} cores",
          flush=True)
    rows = []
    start = time.perf_counter()
    for n in sorted(args.n):
        graph = front_end(n, calib, args.size)
        try:
            rows.append(measure(n, graph, images, args))
        except FixynnError as exc:
            print(f"N = {n}: not verified: {exc}", flush=True)
            rows.append({"n": n, "error": str(exc)})
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
    print(f"\nall N: wall {time.perf_counter() - start:.0f} s")
    sys.exit(0 if all(r.get("verification", {}).get("mismatches", 1) == 0 for r in rows) else 1)


if __name__ == "__main__":
    main()
