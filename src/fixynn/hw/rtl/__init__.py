"""Fixed-weight RTL for an HwGraph: Verilog emitter, window units, structure, testbench.

Public API:
* `generate_rtl(graph, out_dir, style="csd", pipeline=False, vectors=None) -> RtlSummary`
  (with `vectors`, images (N, C, H, W), also the portable self-checking testbench)
The emitter reads the plan of `fixynn.hw.lower` (fusion, datapaths, window geometry).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fixynn.atomic import atomic_write_json, atomic_write_text
from fixynn.errors import FixynnError
from fixynn.hw.ir import HwGraph, graph_digest
from fixynn.hw.lower import HwOptions, lower
from fixynn.hw.rtl.emit import plan_verilog, top_name
from fixynn.hw.rtl.portable_tb import bench_module, portable_testbench
from fixynn.hw.rtl.stimulus import stimulus

__all__ = ["RtlSummary", "generate_rtl", "top_name"]

SUMMARY_JSON = "rtl.json"


@dataclass(frozen=True)
class RtlSummary:
    out_dir: Path
    top: str
    files: list[str]  # Verilog files, dependencies first, the top module last
    style: str
    pipeline: bool
    row_gap: int  # idle cycles the producer leaves between input rows
    adders: int
    adder_bits: int
    graph_digest: str
    testbench: str | None = None  # the portable testbench's top module, when written
    vectors: int = 0  # images in its vector files


def generate_rtl(
    graph: HwGraph, out_dir: str | Path, style: str = "csd", pipeline: bool = False,
    vectors: np.ndarray | None = None, seed: int = 0,
) -> RtlSummary:
    """Write the Verilog of `graph` into `out_dir` (each file atomically) plus rtl.json.

    With `vectors` (images (N, C, H, W) of the graph input) also the portable self-checking
    testbench, its command file tb.f and vectors/*.hex (golden's outputs on those images,
    idle cycles seeded by `seed`); see rtl.portable_tb."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FixynnError(f"{out_dir}: exists and is not a directory; choose another --out")
    plan = lower(graph, HwOptions(style, pipeline))  # an unknown style is an error here
    gap = plan.row_gap
    stim = stimulus(graph, vectors, gap, seed) if vectors is not None else None
    files = plan_verilog(plan)
    top = top_name(graph)
    order = [name for name in files if name != f"{top}.v"] + [f"{top}.v"]
    if stim is not None:
        files |= portable_testbench(graph, stim, order, gap)
    for name, text in files.items():
        atomic_write_text(out_dir / name, text)
    atomic_write_text(out_dir / "files.f", "".join(f"{name}\n" for name in order))
    structure = [s.structure for s in plan.stages] if style != "naive" else []
    summary = RtlSummary(
        out_dir=out_dir, top=top, files=order, style=style, pipeline=pipeline,
        row_gap=gap, adders=sum(s.adders for s in structure),
        adder_bits=sum(s.total_adder_bits() for s in structure),
        graph_digest=graph_digest(graph),
        testbench=bench_module(graph) if stim is not None else None,
        vectors=0 if stim is None else len(stim.images),
    )
    doc = asdict(summary) | {
        "out_dir": str(out_dir),
        "layers": [asdict(s) | {"adders": s.adders} for s in structure],
    }
    atomic_write_json(out_dir / SUMMARY_JSON, doc)
    return summary
