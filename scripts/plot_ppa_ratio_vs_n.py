"""Regenerate docs/img/ppa_ratio_vs_n.png: the hybrid's TOPS/W over the iso-area programmable
accelerator's against the split point N (docs/ppa-system.md, "TOPS/W ratio against N").

Per technology panel: MobileNetV1 @ 224 at widths 0.25..1.0 with random FFE weights (sparsity
0, seed 0: the `fixynn ppa --sweep` designs, area A = the FFE + the base PCA, both PCAs
searched, DRAM counted); on the first panel also the two fixed dies of the text (width 1.0 at
60 mm2, width 0.25 at 6 mm2). Cost: N = 0, 2, 14 on both panels took 69 CPU seconds here
(every PPA point is a design-space search), all 15 N about five times that:

    .venv/bin/python scripts/plot_ppa_ratio_vs_n.py [--out docs/img/ppa_ratio_vs_n.png]
        [--tech 16nm 45nm] [--n 0 1 ... 14] [--split 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from matplotlib.figure import Figure

from fixynn.arch import NUM_BLOCKS
from fixynn.hw.ppa.system import SizingOptions, sweep
from fixynn.hw.ppa.tech import load_tech

WIDTHS = (0.25, 0.5, 0.75, 1.0)
FIXED_DIES = ((1.0, 60.0), (0.25, 6.0))  # (width, die area mm2): docs/ppa-system.md
RESOLUTION = 224


def ratios(tech: str, widths: tuple[float, ...], n_list: list[int],
           area_mm2: float | None = None) -> dict[float, list[float]]:
    """width -> the TOPS/W ratio at each N of `n_list`."""
    results = sweep(load_tech(tech), widths=widths, resolution=RESOLUTION, n_list=n_list,
                    options=SizingOptions(area_mm2=area_mm2))
    return {w: [r.ratios["tops_per_w"] for r in results if r.width == w] for w in widths}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img/ppa_ratio_vs_n.png"))
    parser.add_argument("--tech", nargs="+", default=["16nm", "45nm"])
    parser.add_argument("--n", type=int, nargs="+", default=list(range(NUM_BLOCKS + 1)))
    parser.add_argument("--split", type=int, default=2,
                        help="largest N at which every task lost < 1% (docs/transfer.md)")
    args = parser.parse_args()
    n_list = sorted(args.n)

    fig = Figure(figsize=(11, 4))
    axes = fig.subplots(1, len(args.tech), sharey=True, squeeze=False)[0]
    for index, (ax, tech) in enumerate(zip(axes, args.tech, strict=True)):
        for width, ys in ratios(tech, WIDTHS, n_list).items():
            ax.plot(n_list, ys, marker="o", markersize=3, label=f"width {width:g}, "
                    "A = FFE + base PCA")
        if index == 0:  # the fixed dies are discussed for the first technology only
            for width, area in FIXED_DIES:
                ys = ratios(tech, (width,), n_list, area)[width]
                ax.plot(n_list, ys, marker="s", markersize=3, linestyle="--",
                        label=f"width {width:g}, fixed die A = {area:g} mm\N{SUPERSCRIPT TWO}")
        ax.axhline(1.0, color="0.4", linewidth=0.8)
        ax.axvline(args.split, color="tab:red", linestyle="--", linewidth=1,
                   label=f"N = {args.split}: every task < 1% loss (docs/transfer.md)")
        ax.set_yscale("log")
        ax.set_title(tech)
        ax.set_xlabel("N (blocks fixed)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("TOPS/W ratio, hybrid / iso-area")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"TOPS/W ratio vs N: MobileNetV1 @ {RESOLUTION}, DRAM counted, both PCAs "
                 f"searched (>= {SizingOptions().fps_floor:g} fps)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, format="png", dpi=100, bbox_inches="tight")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
