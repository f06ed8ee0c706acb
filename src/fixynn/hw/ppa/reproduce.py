"""The paper's headline comparisons next to ours, best design against best design.

    python -m fixynn.hw.ppa.reproduce [--tech 16nm] [--accuracy-split N] [--out table.md]

Nothing here is tuned toward the paper: the rows are read off the same sweep `fixynn ppa
--sweep` prints (MobileNetV1 at 224x224, widths 0.25..1.0, random FFE weights at the given
sparsities, each design's PCA sized by the design-space search for its own work, default
options), and docs/ppa-system.md explains each difference. "DRAM excluded" rows leave DRAM
energy out of the same designs' figures; "DRAM free" rows search both designs again with
DRAM left out of the objective too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace

from fixynn.arch import NUM_BLOCKS
from fixynn.atomic import atomic_write_text
from fixynn.errors import FixynnError
from fixynn.hw.ppa.pca import PcaConfig
from fixynn.hw.ppa.system import (
    DesignPoint,
    SizingOptions,
    SystemResult,
    evaluate_system,
    pca_label,
    sweep,
)
from fixynn.hw.ppa.tech import load_tech

# Whatmough et al., "FixyNN: Efficient Hardware for Mobile Computer Vision via Transfer
# Learning", SysML 2019, abstract: "up to 26.6 TOPS/W (4.81x better than iso-area programmable
# accelerator)" and "< 1% [accuracy loss] resulting in up to 11.2 TOPS/W - nearly 2x more
# efficient than a conventional programmable CNN accelerator of the same area".
PAPER_FULLY_FIXED = (26.6, 4.81)
PAPER_ACCURACY_SPLIT = (11.2, 2.0)
SPARSITIES = (0.0, 0.5)
WIDTHS = (0.25, 0.5, 0.75, 1.0)
RESOLUTION = 224


@dataclass(frozen=True)
class Row:
    claim: str
    paper_tops_per_w: float
    paper_ratio: float
    ours_tops_per_w: float
    ours_ratio: float
    config: str


def no_dram_tops_per_w(point: DesignPoint) -> float:
    """TOPS/W with every DRAM access (image, interface, PCA traffic) left out."""
    dram = sum(v for k, v in point.energy_breakdown_uj.items() if "dram" in k)
    return point.ops_per_frame / ((point.energy_per_frame_uj - dram) * 1e6)


def _config(r: SystemResult, sparsity: float) -> str:
    h, p = r.hybrid, r.iso_area_programmable
    return (f"width {r.width:g}, N={r.n_fixed}, sparsity {sparsity:g}, "
            f"{r.sizing.get('total_area_mm2', h.area_mm2):.2f} mm2; hybrid PCA "
            f"{pca_label(h.pca)}, hand-off {h.pca.get('handoff', '-')}; iso PCA "
            f"{pca_label(p.pca)}")


def _rows_at(label: str, paper: tuple[float, float], r: SystemResult, sparsity: float,
             options: SizingOptions) -> list[Row]:
    """All energy counted; the same designs with DRAM energy left out; and both designs
    searched again with DRAM free (which then streams everything through 8 KiB buffers)."""
    free = evaluate_system(r.width, r.resolution, r.n_fixed, load_tech(r.tech),
                           sparsity=sparsity, options=replace(options, count_dram=False))

    def without_dram(x: SystemResult) -> tuple[float, float]:
        hybrid = no_dram_tops_per_w(x.hybrid)
        return hybrid, hybrid / no_dram_tops_per_w(x.iso_area_programmable)

    return [
        Row(f"{label}, all energy", *paper, r.hybrid.tops_per_w, r.ratios["tops_per_w"],
            _config(r, sparsity)),
        Row(f"{label}, same designs, DRAM excluded", *paper, *without_dram(r),
            _config(r, sparsity)),
        Row(f"{label}, searched with DRAM free", *paper, *without_dram(free),
            _config(free, sparsity)),
    ]


def reproduction_rows(tech_name: str = "16nm", accuracy_split: int | None = None,
                      sparsities: Sequence[float] = SPARSITIES,
                      widths: Sequence[float] = WIDTHS,
                      options: SizingOptions | None = None) -> list[Row]:
    """Rows of the reproduction table (one sweep per sparsity)."""
    if accuracy_split is not None and not 1 <= accuracy_split < NUM_BLOCKS:
        raise FixynnError(f"--accuracy-split must be in 1..{NUM_BLOCKS - 1}, got {accuracy_split}")
    opts = options or SizingOptions()
    tech = load_tech(tech_name)
    n_list = range(1, NUM_BLOCKS + 1) if accuracy_split is None else (accuracy_split, NUM_BLOCKS)
    rows: list[Row] = []
    for sparsity in sparsities:
        results = sweep(tech, PcaConfig(), widths, RESOLUTION, sparsity, options=opts,
                        n_list=n_list)
        fixed = max((r for r in results if r.n_fixed == NUM_BLOCKS),
                    key=lambda r: r.ratios["tops_per_w"])
        rows += _rows_at("fully fixed (best width)", PAPER_FULLY_FIXED, fixed, sparsity, opts)
        partial = [r for r in results if r.n_fixed < NUM_BLOCKS]
        if accuracy_split is None:
            label = "best partial split N<14 (accuracy not checked here)"
        else:
            label = f"split N={accuracy_split} (accuracy verdict holds)"
        best = max(partial, key=lambda r: r.ratios["tops_per_w"])
        rows += _rows_at(label, PAPER_ACCURACY_SPLIT, best, sparsity, opts)
    return rows


def render_markdown(rows: Sequence[Row], tech_name: str, options: SizingOptions) -> str:
    lines = [
        f"Technology: {tech_name}; MobileNetV1 @ {RESOLUTION}x{RESOLUTION}; both designs' PCAs "
        f"sized by search (fps floor {options.fps_floor:g}, batch {options.batch}, weights "
        f"{options.weights}, hand-off {options.handoff}), {PcaConfig().freq_mhz:g} MHz for FFE "
        "and PCA. PCA columns: rows x cols, ifmap/filter/ofmap KiB, R = weights resident.",
        "",
        "| claim | paper TOPS/W | paper x iso-area | ours TOPS/W | ours x iso-area | our point |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r.claim} | {r.paper_tops_per_w:g} | {r.paper_ratio:g} | "
                     f"{r.ours_tops_per_w:.2f} | {r.ours_ratio:.2f} | {r.config} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="FixyNN paper headline vs this model")
    parser.add_argument("--tech", default="16nm", help="built-in table name or TOML file")
    parser.add_argument("--accuracy-split", type=int, default=None,
                        help="the N that kept accuracy within 1%% in your transfer sweep")
    parser.add_argument("--out", default=None, help="also write the Markdown here")
    args = parser.parse_args(argv)
    options = SizingOptions()
    try:
        table = render_markdown(reproduction_rows(args.tech, args.accuracy_split), args.tech,
                                options)
    except FixynnError as exc:
        print(f"fixynn: error: {exc}", file=sys.stderr)
        return 2
    if args.out is not None:
        atomic_write_text(args.out, table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
