"""Area against clock target, mapped to a cell library: each layer with and without adder-tree
pipelining, ABC timed for each period, OpenSTA's critical path of the result.

    .venv/bin/python benchmarks/bench_clock.py [--liberty auto] [--periods 10,4,2] [--cases 9,4]

Cases are indices into fixynn.hw.calibrate.CALIBRATION_CASES.
"""

from __future__ import annotations

import argparse
import time

from fixynn.hw.calibrate import CALIBRATION_CASES
from fixynn.hw.liberty import default_liberty, resolve_liberty
from fixynn.hw.synth import synth_graph_layers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--liberty", default="auto")
    parser.add_argument("--periods", default="10,4,2", help="clock targets in ns")
    parser.add_argument("--cases", default="9,4", help="CALIBRATION_CASES indices")
    args = parser.parse_args()
    liberty = resolve_liberty(args.liberty) or default_liberty()
    periods = [float(p) for p in args.periods.split(",")]
    print(f"{'layer':<48} {'pipelined':>9} {'target ns':>9} {'area um2':>10} "
          f"{'path ns':>8} {'f_max MHz':>9} {'FFs':>5} {'s':>4}")
    for index in (int(i) for i in args.cases.split(",")):
        case = CALIBRATION_CASES[index]
        for pipeline in (False, True):
            for period in periods:
                t0 = time.perf_counter()
                ((_, r),) = synth_graph_layers(case.graph(), style=case.style, pipeline=pipeline,
                                               liberty=liberty, clock_ns=period)
                assert r.timing is not None and r.area_um2 is not None
                print(f"{case.label:<48} {pipeline!s:>9} {period:>9g} {r.area_um2:>10,.0f} "
                      f"{r.timing.critical_path_ns:>8.2f} {r.timing.f_max_mhz:>9.0f} "
                      f"{r.flip_flops:>5} {time.perf_counter() - t0:>4.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
