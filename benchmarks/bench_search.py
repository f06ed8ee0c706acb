"""The PCA design-space search (fixynn.hw.ppa.search) timed, and checked against exhaustive search.

    .venv/bin/python benchmarks/bench_search.py [--tech 16nm] [--full]

For a few (network, area, batch) cases, runs the steepest-descent search and the exhaustive
search of the same space side by side and prints points evaluated, wall seconds, the speed-up
and the energy of the descent's pick over the exhaustive optimum (1.000 = it found the
optimum). Default space: a reduced one (sides 8..256, buffers 8 KiB..4 MiB) so the exhaustive
reference finishes in minutes; --full also times the descent alone in the shipped space on
MobileNetV1 1.0 @ 224, which is what `fixynn ppa` runs.
"""

from __future__ import annotations

import argparse
import time

from fixynn.arch import back_end_layers, mobilenet_v1_layers
from fixynn.hw.ppa.pca import PcaConfig, evaluate_pca
from fixynn.hw.ppa.search import SearchSpace, search_pca
from fixynn.hw.ppa.tech import load_tech

REDUCED = SearchSpace(sides=(8, 16, 32, 64, 128, 256),
                      buffer_kib=tuple(float(2**k) for k in range(3, 13)))
# (width, N: back-end from block N, area mm2 at 16 nm, frames per batch)
CASES = ((0.25, 0, 0.3, 1), (0.25, 0, 1.0, 4), (0.25, 0, 3.0, 1), (0.5, 4, 1.0, 1),
         (0.5, 0, 3.0, 4), (1.0, 10, 3.0, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tech", default="16nm")
    parser.add_argument("--full", action="store_true", help="also the shipped space at 1.0@224")
    args = parser.parse_args()
    tech = load_tech(args.tech)
    net = mobilenet_v1_layers(1.0, 224)
    start = time.perf_counter()
    for _ in range(100):
        evaluate_pca(net, PcaConfig(), tech)
    print(f"one PCA evaluation, MobileNetV1 1.0 @ 224: "
          f"{(time.perf_counter() - start) * 10:.2f} ms")
    print(f"{'width':>5} {'N':>3} {'mm2':>5} {'B':>3} {'descent pts':>11} {'s':>6} "
          f"{'exhaustive pts':>14} {'s':>6} {'speed-up':>8} {'E/E_opt':>8}")
    for width, n, area, batch in CASES:
        layers = back_end_layers(mobilenet_v1_layers(width, 224), n)
        t0 = time.perf_counter()
        fast = search_pca(layers, tech, area, 30.0, space=REDUCED, batch=batch)
        t1 = time.perf_counter()
        full = search_pca(layers, tech, area, 30.0, space=REDUCED, batch=batch,
                           method="exhaustive")
        t2 = time.perf_counter()
        if fast is None or full is None:
            print(f"{width:5g} {n:3d} {area:5g} {batch:3d}  infeasible")
            continue
        print(f"{width:5g} {n:3d} {area:5g} {batch:3d} {fast.evaluated:11d} {t1 - t0:6.2f} "
              f"{full.evaluated:14d} {t2 - t1:6.2f} {(t2 - t1) / (t1 - t0):7.1f}x "
              f"{fast.best.energy_per_frame_uj / full.best.energy_per_frame_uj:8.3f}")
    if args.full:
        for area in (0.3, 3.0, 55.0):
            t0 = time.perf_counter()
            found = search_pca(net, tech, area, 30.0)
            assert found is not None
            print(f"shipped space, 1.0 @ 224, {area:g} mm2: {found.evaluated} points in "
                  f"{time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
