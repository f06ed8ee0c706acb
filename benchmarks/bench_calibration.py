"""Calibration of the analytic FFE area model against Yosys: model GE vs synthesized GE.

Synthesizes every layer of fixynn.hw.calibrate.CALIBRATION_CASES (conv / depthwise / pointwise,
kernels 1/3/5, strides 1/2, per-side padding, sparsities, bit widths, csd and shared styles,
the three pool kinds) and of DAG_CALIBRATION_CASES (residual adds with their skip buffer, a
linear pointwise layer, one reading signed values, signed max/avg pools, a projection
shortcut's add: the stage the DAG hardware adds, in a small graph), and prints the
model/synthesis ratio side by side; the target is every ratio within 1 +- 0.15. With
`--liberty` (a .lib path, or `auto` for the installed OSU 0.18 um cells) each layer is mapped to
that cell library and timed by OpenSTA: GE are then the library's NAND2, and the critical path
is printed too.

    .venv/bin/python benchmarks/bench_calibration.py [--tech 45nm] [--liberty auto] [--json F]
"""

from __future__ import annotations

import argparse
import time

from fixynn.atomic import atomic_write_json
from fixynn.hw.calibrate import CALIBRATION_CASES, DAG_CALIBRATION_CASES, calibrate
from fixynn.hw.liberty import default_liberty, read_liberty, resolve_liberty
from fixynn.hw.ppa.tech import load_tech

TOLERANCE = 0.15


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tech", default="45nm")
    parser.add_argument("--liberty", help="map to this Liberty library ('auto': the installed one)")
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args()
    tech = load_tech(args.tech)
    library = None
    if args.liberty:
        library = read_liberty(resolve_liberty(args.liberty) or default_liberty())
    print(f"{'layer':<52} {'model GE':>10} {'synth GE':>10} {'ratio':>6} {'FFs':>6} {'s':>5}")
    rows, bad = [], 0
    for case in (*CALIBRATION_CASES, *DAG_CALIBRATION_CASES):
        t0 = time.perf_counter()
        row = calibrate(case, tech, library)
        ok = abs(row.ratio - 1) <= TOLERANCE
        bad += not ok
        print(f"{case.label:<52} {row.model_ge:>10.0f} {row.synth_ge:>10.0f} {row.ratio:>6.3f} "
              f"{row.synth_flip_flops:>6} {time.perf_counter() - t0:>5.0f}{'' if ok else '  FAIL'}",
              flush=True)
        rows.append({"layer": case.label, "model_ge": row.model_ge, "synth_ge": row.synth_ge,
                     "ratio": row.ratio, "model_by_element_ge": row.model_by_element_ge})
    ratios = [r["ratio"] for r in rows]
    print(f"ratio min {min(ratios):.3f} max {max(ratios):.3f}; "
          f"{len(rows) - bad}/{len(rows)} within +-{TOLERANCE:.0%}")
    if args.json:
        atomic_write_json(args.json, rows)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
