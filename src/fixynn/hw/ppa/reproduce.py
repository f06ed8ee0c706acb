"""The paper's headline comparisons next to ours, under our stated assumptions.

    python -m fixynn.hw.ppa.reproduce [--tech 16nm] [--accuracy-split N] [--out table.md]

Nothing here is tuned toward the paper: the rows are read off the same sweep `fixynn ppa
--sweep` prints (MobileNetV1 at 224x224, widths 0.25..1.0, random FFE weights at the given
sparsities, the default 32x32 PCA), and docs/ppa-system.md explains each difference.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fixynn.arch import NUM_BLOCKS
from fixynn.atomic import atomic_write_text
from fixynn.errors import FixynnError
from fixynn.hw.ppa.pca import PcaConfig
from fixynn.hw.ppa.system import DesignPoint, SystemResult, sweep
from fixynn.hw.ppa.tech import load_tech

# Whatmough et al., "FixyNN: Efficient Hardware for Mobile Computer Vision via Transfer
# Learning", SysML 2019, abstract: "up to 26.6 TOPS/W (4.81x better than iso-area programmable
# accelerator)" and "< 1% [accuracy loss] resulting in up to 11.2 TOPS/W - nearly 2x more
# efficient than a conventional programmable CNN accelerator of the same area".
PAPER_FULLY_FIXED = (26.6, 4.81)
PAPER_ACCURACY_SPLIT = (11.2, 2.0)
SPARSITIES = (0.0, 0.5)


@dataclass(frozen=True)
class Row:
    claim: str
    paper_tops_per_w: float
    paper_ratio: float
    ours_tops_per_w: float
    ours_ratio: float
    config: str


def _no_dram_tops_per_w(point: DesignPoint) -> float:
    """TOPS/W with every DRAM access (image, interface, PCA traffic) left out."""
    dram = sum(v for k, v in point.energy_breakdown_uj.items() if "dram" in k)
    return point.ops_per_frame / ((point.energy_per_frame_uj - dram) * 1e6)


def _config(r: SystemResult, sparsity: float) -> str:
    iso = r.iso_area_programmable.pca
    return (f"width {r.width:g}, N={r.n_fixed}, FFE sparsity {sparsity:g}, "
            f"area {r.hybrid.area_mm2:.1f} mm2, iso PCA {iso['rows']}x{iso['cols']}")


def reproduction_rows(tech_name: str = "16nm", accuracy_split: int | None = None,
                      sparsities: Sequence[float] = SPARSITIES) -> list[Row]:
    """Rows of the reproduction table (one sweep per sparsity)."""
    if accuracy_split is not None and not 1 <= accuracy_split < NUM_BLOCKS:
        raise FixynnError(f"--accuracy-split must be in 1..{NUM_BLOCKS - 1}, got {accuracy_split}")
    tech = load_tech(tech_name)
    rows: list[Row] = []
    for sparsity in sparsities:
        results = sweep(tech, PcaConfig(), sparsity=sparsity)
        fixed = max((r for r in results if r.n_fixed == NUM_BLOCKS),
                    key=lambda r: r.hybrid.tops_per_w)
        rows.append(Row("fully fixed (best width), all energy", *PAPER_FULLY_FIXED,
                        fixed.hybrid.tops_per_w, fixed.ratios["tops_per_w"],
                        _config(fixed, sparsity)))
        rows.append(Row("fully fixed (same point), DRAM energy excluded", *PAPER_FULLY_FIXED,
                        _no_dram_tops_per_w(fixed.hybrid),
                        _no_dram_tops_per_w(fixed.hybrid)
                        / _no_dram_tops_per_w(fixed.iso_area_programmable),
                        _config(fixed, sparsity)))
        if accuracy_split is None:
            partial = [r for r in results if 0 < r.n_fixed < NUM_BLOCKS]
            label = "best partial split N<14 (accuracy not checked here)"
        else:
            partial = [r for r in results if r.n_fixed == accuracy_split]
            label = f"split N={accuracy_split} (< 1% accuracy loss per transfer sweep)"
        best = max(partial, key=lambda r: r.hybrid.tops_per_w)
        rows.append(Row(label, *PAPER_ACCURACY_SPLIT, best.hybrid.tops_per_w,
                        best.ratios["tops_per_w"], _config(best, sparsity)))
    return rows


def render_markdown(rows: Sequence[Row], tech_name: str) -> str:
    lines = [
        f"Technology: {tech_name}; PCA: {PcaConfig().rows}x{PcaConfig().cols} int8 WS array, "
        f"3 x {PcaConfig().ifmap_sram_kib:g} KiB buffers, {PcaConfig().freq_mhz:g} MHz "
        "(FFE at the same clock); MobileNetV1 @ 224x224.",
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
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown here")
    args = parser.parse_args(argv)
    try:
        table = render_markdown(reproduction_rows(args.tech, args.accuracy_split), args.tech)
    except FixynnError as exc:
        print(f"fixynn: error: {exc}", file=sys.stderr)
        return 2
    if args.out is not None:
        atomic_write_text(args.out, table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
