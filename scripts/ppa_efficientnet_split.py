"""EfficientNet-Lite0 at 3x64x64 (the efficientnet-lite0 job): the hybrid against its iso-area
programmable baseline at each split N, both PCAs sized by the design-space search.

The front-end graphs are the pipeline's own: `EfficientNetFamily.prepare` exports the first
units with `fixynn.frontend.to_hwgraph`, calibrated on `--calib` training images of each
built-in task (`fixynn.train.efficientnet.calibration_images`), and cuts one graph per N.
The back-end's layers come from the model itself (`fixynn.frontend.layer_shapes`), with a
10-class classifier (every built-in task has 10 classes).

    PYTHONPATH=src .venv/bin/python scripts/ppa_efficientnet_split.py --out /tmp/effnet.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from fixynn.arch import with_classes
from fixynn.config import default_config, replace_keys
from fixynn.data.taskspec import BUILTIN_TASKS
from fixynn.frontend import layer_shapes
from fixynn.hw.ppa.ffe import estimate_ffe
from fixynn.hw.ppa.pca import PcaConfig
from fixynn.hw.ppa.system import DesignPoint, SystemResult, evaluate_network, pca_label
from fixynn.hw.ppa.tech import load_tech
from fixynn.nn.efficientnet_lite import efficientnet_lite0
from fixynn.store import Store
from fixynn.train.efficientnet import EfficientNetFamily
from fixynn.train.transfer import cpu_seconds

ARCH = "efficientnet-lite0"
CLASSES = 10  # every built-in task's
HEADER = ("N", "A mm²", "FFE mm²", "hybrid mm²", "hybrid µJ/frame (DRAM)", "hybrid TOPS/W",
          "hybrid fps", "hybrid PCA, hand-off", "iso mm²", "iso µJ/frame (DRAM)", "iso TOPS/W",
          "iso fps", "iso PCA", "TOPS/W ratio", "fps ratio")


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[2, 4, 6, 10], help="split points")
    ap.add_argument("--size", type=int, default=64, help="input resolution")
    ap.add_argument("--calib", type=int, default=11,
                    help="calibration images per built-in task (6 tasks: 66 images)")
    ap.add_argument("--tech", nargs="+", default=["45nm", "16nm"])
    ap.add_argument("--cache", type=Path, default=Path("fixynn-out/ppa-efficientnet-cache"),
                    help="the export's cache (fixynn.store)")
    ap.add_argument("--out", type=Path, help="write every result here as JSON")
    return ap.parse_args()


def main() -> None:
    args = parse()
    tasks = tuple(BUILTIN_TASKS)
    cfg = replace_keys(default_config(), {
        "model.arch": ARCH, "tasks.source": "imagenet", "tasks.targets": tasks,
        "model.input_size": args.size, "model.in_channels": 3,
        "model.calib_images": args.calib, "model.calib_tasks": tasks,
        "sweep.n_list": sorted(args.n)}, "ppa_efficientnet_split")
    start, cpu = time.perf_counter(), cpu_seconds()
    prepared = EfficientNetFamily().prepare(cfg, Store(args.cache), progress=False)
    print(f"export: {time.perf_counter() - start:.0f} s wall, {cpu_seconds() - cpu:.0f} s CPU; "
          f"{prepared.info['calibration_images']} calibration images of {len(tasks)} tasks",
          flush=True)
    model = efficientnet_lite0(args.size)
    layers = with_classes(layer_shapes(model, torch.zeros(1, 3, args.size, args.size)), CLASSES)
    pca = PcaConfig()
    rows: list[dict[str, Any]] = []
    for tech_name in args.tech:
        tech = load_tech(tech_name)
        print(f"\n{tech.name}\n\n" + "| " + " | ".join(HEADER) + " |\n"
              + "|---" * len(HEADER) + "|", flush=True)
        for n in sorted(args.n):
            graph = prepared.front.graph(n, {})
            t0, c0 = time.perf_counter(), cpu_seconds()
            ffe = estimate_ffe(graph, tech, freq_mhz=pca.freq_mhz)
            result = evaluate_network(layers, n, tech, pca, graph, arch=ARCH, ffe=ffe)
            print(summary(result) + f"  <!-- {time.perf_counter() - t0:.0f} s wall, "
                  f"{cpu_seconds() - c0:.0f} s CPU -->", flush=True)
            rows.append(result.as_dict())
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1))


def _dram(point: DesignPoint) -> float:
    return sum(v for k, v in point.energy_breakdown_uj.items() if "dram" in k)


def _pca(point: DesignPoint) -> str:
    return pca_label(point.pca) + (f", {point.pca['handoff']}" if "handoff" in point.pca else "")


def summary(r: SystemResult) -> str:
    """One markdown row: N, A, each design's area, uJ/frame (DRAM), TOPS/W, fps, PCA; ratios."""
    h, p, x = r.hybrid, r.iso_area_programmable, r.ratios
    cells = [str(r.n_fixed), f"{r.sizing['total_area_mm2']:.2f}",
             f"{h.area_breakdown_mm2.get('ffe', 0.0):.2f}"]
    for point in (h, p):
        cells += [f"{point.area_mm2:.2f}",
                  f"{point.energy_per_frame_uj:,.1f} ({_dram(point):,.1f})",
                  f"{point.tops_per_w:.3f}", f"{point.fps:,.0f}", _pca(point)]
    cells += [f"**{x['tops_per_w']:.2f}x**", f"{x['fps']:.2f}x"]
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    main()
