"""Measured switching activity and energy of calibration layers, beside the analytic model.

Per case of fixynn.hw.calibrate.CALIBRATION_CASES: mapped to the Liberty library, simulated at
gate level on real test images (Fashion-MNIST, resized) and on random inputs
(fixynn.hw.activity), energy from the library's power data; the mapped area, path and energy
carried to 45 and 16 nm by Stillmaker & Baas beside the model's figures there. `cyc` is the
simulated / modelled cycles per frame, `pJ45p` the measured energy with the clock's share at
the model's frame period.

The spread of the adder activity: each of `--spread` test images of each task in `--tasks`
simulated on its own (against one random frame), per layer and over all.

    .venv/bin/python benchmarks/bench_activity.py [--cases 9,7,3] [--images 2] [--spread 3]
        [--tasks fashion-mnist-a,opencv-digits,sklearn-digits] [--json F]
"""

from __future__ import annotations

import argparse
import statistics

from fixynn.atomic import atomic_write_json
from fixynn.data.graph_input import verification_images
from fixynn.hw.activity import measure_layer
from fixynn.hw.calibrate import CALIBRATION_CASES, energy_row
from fixynn.hw.liberty import default_liberty, read_liberty, resolve_liberty
from fixynn.hw.liberty_power import read_power
from fixynn.hw.ppa.tech import load_tech


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--liberty", default="auto")
    parser.add_argument("--cases", default="9,7,3", help="CALIBRATION_CASES indices")
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--spread", type=int, default=3, help="images per task, one by one")
    parser.add_argument("--tasks", default="fashion-mnist-a,opencv-digits,sklearn-digits")
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    path = resolve_liberty(args.liberty) or default_liberty()
    library, vdd = read_liberty(path), read_power(path).nom_voltage_v
    techs = [load_tech("45nm"), load_tech("16nm")]
    print(f"{'layer':<50} {'um2':>8} {'mod/map':>7} {'ns':>5} {'MHz':>4} {'act':>5} "
          f"{'adder':>5} {'clk/ff/logic %':>14} {'cyc':>9} {'pJ':>7} {'pJ45':>6} {'pJ45p':>6} "
          f"{'mod45':>6} "
          f"{'mod45a':>6} {'um2@45':>7} {'mod45':>7} {'um2@16':>7} {'mod16':>7} {'ns@16':>5} "
          f"{'s':>4}  adder activity per task (min..max over images)")
    tasks = [t for t in args.tasks.split(",") if t]
    rows = []
    spread: dict[str, list[float]] = {t: [] for t in tasks}
    for index in (int(i) for i in args.cases.split(",")):
        case = CALIBRATION_CASES[index]
        graph = case.graph()
        images, _ = verification_images(graph, args.images)
        act, _ = measure_layer(graph, images, path, style=case.style)
        row = energy_row(graph, act, library, vdd, techs, case.style)
        n45, n16 = row.at_node["45nm"], row.at_node["16nm"]
        parts = [getattr(act.real, p) / act.real.total_pj * 100
                 for p in ("clock_pj", "flip_flops_pj", "logic_pj")]
        per_task = {}
        for task in tasks:
            x, _ = verification_images(graph, args.spread, task=task)
            per_task[task] = [measure_layer(graph, x[i:i + 1], path, style=case.style)[0]
                              .adder_activity for i in range(len(x))]
            spread[task] += per_task[task]
        print(f"{case.label:<50} {row.mapped_um2:>8,.0f} {row.area_ratio:>7.3f} "
              f"{row.critical_path_ns:>5.2f} {1e3 / row.critical_path_ns:>4.0f} "
              f"{row.activity:>5.3f} {row.adder_activity:>5.3f} "
              f"{'/'.join(f'{p:.0f}' for p in parts):>14} "
              f"{f'{row.cycles_per_frame:.0f}/{row.model_cycles_per_frame}':>9} "
              f"{row.measured_pj:>7,.0f} {n45['measured_pj']:>6.1f} "
              f"{n45['measured_at_model_period_pj']:>6.1f} {n45['model_pj_full_activity']:>6.1f} "
              f"{n45['model_pj_measured_activity']:>6.1f} {n45['mapped_um2']:>7,.0f} "
              f"{n45['model_um2']:>7,.0f} {n16['mapped_um2']:>7,.0f} {n16['model_um2']:>7,.0f} "
              f"{n16['critical_path_ns']:>5.2f} {act.seconds:>4.0f}  "
              + " ".join(f"{t}: {min(v):.2f}..{max(v):.2f}" for t, v in per_task.items()),
              flush=True)
        rows.append({**row.__dict__, "layer": case.label, "parts_percent": parts,
                     "seconds": act.seconds, "adder_activity_per_image": per_task})
    every = [a for v in spread.values() for a in v]
    print(f"adder activity, one image at a time: mean {statistics.mean(every):.3f}, "
          f"sd {statistics.pstdev(every):.3f}, min {min(every):.3f}, max {max(every):.3f} over "
          f"{len(rows)} layers x {len(tasks)} tasks x {args.spread} images; per task: "
          + ", ".join(f"{t} {statistics.mean(v):.3f}" for t, v in spread.items()))
    if args.json:
        atomic_write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
