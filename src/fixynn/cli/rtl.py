"""`fixynn rtl` (Verilog of a fixed front-end) and `fixynn verify` (bit-exact vs golden)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from fixynn.errors import FixynnError
from fixynn.hw.arith import STYLES
from fixynn.hw.ir import HwGraph, load_graph
from fixynn.hw.rtl.stimulus import check_images


def _style(value: str) -> str:
    if value not in STYLES:
        raise FixynnError(f"--style {value!r} is not one of {', '.join(STYLES)}")
    return value


def rtl(
    graph: Annotated[Path, typer.Argument(help="HwGraph directory (graph.json + weights.npz)")],
    out: Annotated[Path, typer.Option("--out", help="directory for the Verilog files")],
    style: Annotated[str, typer.Option(help="csd | shared | naive (const * x)")] = "csd",
    pipeline: Annotated[bool, typer.Option(help="registers every 2 adder-tree levels")] = False,
    vectors: Annotated[int, typer.Option(
        "--vectors", help="random images for the portable testbench (0: no testbench)")] = 4,
    vectors_from: Annotated[Path | None, typer.Option(
        "--vectors-from", help=".npy of test images (N, C, H, W) for the testbench, "
        "instead of random ones")] = None,
    seed: Annotated[int, typer.Option(help="seed of the random images and idle cycles")] = 0,
) -> None:
    """Generate the fixed-weight Verilog of GRAPH into --out, with a self-checking
    Verilog-2005 testbench and its vectors (golden's outputs) for any simulator."""
    from fixynn.hw.rtl import generate_rtl

    g = load_graph(graph)
    images = _testbench_images(g, vectors, vectors_from, seed)
    summary = generate_rtl(g, out, _style(style), pipeline, vectors=images, seed=seed)
    typer.echo(f"wrote {len(summary.files)} Verilog files (top {summary.top}) to {out}; "
               f"{summary.adders} adders, {summary.adder_bits} adder bits, input row gap "
               f"{summary.row_gap} cycles")
    if summary.testbench:
        typer.echo(f"testbench {summary.testbench} on {summary.vectors} images "
                   f"({vectors_from or f'random, seed {seed}'}); run it: cd {out} && "
                   "iverilog -g2005 -o tb.vvp -c tb.f && vvp -n tb.vvp")


def _testbench_images(
    graph: HwGraph, count: int, path: Path | None, seed: int
) -> np.ndarray | None:
    """Images for the testbench's vectors: from --vectors-from, else `count` random ones."""
    if path is not None:
        try:
            images = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise FixynnError(f"--vectors-from {path}: not a readable .npy array ({exc})"
                              ) from exc
        return check_images(graph, images, f"--vectors-from {path}")
    if count < 0:
        raise FixynnError(f"--vectors must be >= 0, got {count}")
    if count == 0:
        return None
    shape = (count, graph.input_channels, graph.input_height, graph.input_width)
    return np.random.default_rng(seed).integers(0, 2**graph.input_bits, size=shape)


def verify(
    graph: Annotated[Path, typer.Argument(help="HwGraph directory (graph.json + weights.npz)")],
    images: Annotated[int, typer.Option("--images", help="test images to simulate")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON summary")] = False,
    style: Annotated[str, typer.Option(help="csd | shared | naive")] = "csd",
    pipeline: Annotated[bool, typer.Option(help="verify the pipelined variant")] = False,
    work: Annotated[Path | None, typer.Option(
        help="work directory for the simulation files (default: a folder per graph under "
             "$FIXYNN_CACHE or ~/.cache/fixynn/verify)")] = None,
    build_timeout: Annotated[float, typer.Option(help="seconds for the Verilator build")]
    = 1800.0,
    run_timeout: Annotated[float, typer.Option(help="seconds for the simulation")] = 600.0,
) -> None:
    """Simulate GRAPH's RTL in Verilator on test images and compare with the golden model."""
    from fixynn.data.graph_input import verification_images
    from fixynn.hw.sim import default_work_dir, verify_graph

    g = load_graph(graph)
    data, source = verification_images(g, images)
    result = verify_graph(g, data, work or default_work_dir(g), _style(style), pipeline,
                          build_timeout_s=build_timeout, run_timeout_s=run_timeout)
    if as_json:
        typer.echo(json.dumps(result.to_json() | {"image_source": source}, indent=1))
    else:
        typer.echo(f"images: {result.images} ({source})")
        for m in result.layers:
            typer.echo(f"  {m.layer:<12} {m.outputs:>10} outputs  {m.mismatches} mismatches"
                       + (f"  first: {m.first[0]}" if m.first else ""))
        typer.echo(f"outputs compared: {result.outputs_compared}, mismatches: "
                   f"{result.mismatches}; build {result.build_s:.1f} s"
                   f"{' (cached)' if result.cached_build else ''}, simulation "
                   f"{result.sim_s:.2f} s")
    if not result.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("rtl")(rtl)
    app.command("verify")(verify)
