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
from fixynn.hw.stagewise import STAGE_IMAGES, STITCHED_IMAGES, Verification


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
    mode: Annotated[str, typer.Option(
        help="whole: one build of the whole design; layers: every stage alone on every "
             "image, then the stitched design on --stitched-images; auto: layers for large "
             "designs (docs/rtl.md)")] = "auto",
    stitched_images: Annotated[int, typer.Option(
        help="images of the stitched design in layers mode")] = STITCHED_IMAGES,
    stitched_sim: Annotated[str, typer.Option(
        help="simulator of the stitched design in layers mode: icarus (no C++ build) | "
             "verilator")] = "icarus",
    stage_sim: Annotated[str, typer.Option(
        help="where each stage is checked in layers mode: auto (small stages alone in "
             "Verilator on every image, large ones inside the stitched Icarus check) | "
             "verilator | icarus (alone, on --stage-images)")] = "auto",
    stage_images: Annotated[int, typer.Option(
        help="images of a stage checked alone in Icarus")] = STAGE_IMAGES,
    jobs: Annotated[int, typer.Option(help="stages built at once (0: one per CPU core)")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON summary")] = False,
    style: Annotated[str, typer.Option(help="csd | shared | naive")] = "csd",
    pipeline: Annotated[bool, typer.Option(help="verify the pipelined variant")] = False,
    work: Annotated[Path | None, typer.Option(
        help="work directory for the simulation files (default: a folder per graph under "
             "$FIXYNN_CACHE or ~/.cache/fixynn/verify)")] = None,
    build_timeout: Annotated[float, typer.Option(help="seconds for each Verilator build")]
    = 1800.0,
    run_timeout: Annotated[float, typer.Option(help="seconds for each simulation")] = 600.0,
) -> None:
    """Simulate GRAPH's RTL in Verilator on test images and compare with the golden model."""
    from fixynn.data.graph_input import verification_images
    from fixynn.hw.sim import default_work_dir
    from fixynn.hw.stagewise import MODES, STAGE_SIMS, STITCHED_SIMS, verify

    if mode not in MODES:  # before loading images or building anything
        raise FixynnError(f"--mode {mode!r} is not one of {', '.join(MODES)}")
    if stitched_images < 1:
        raise FixynnError(f"--stitched-images must be >= 1, got {stitched_images}")
    if stitched_sim not in STITCHED_SIMS:
        raise FixynnError(f"--stitched-sim {stitched_sim!r} is not one of "
                          f"{', '.join(STITCHED_SIMS)}")
    if stage_sim not in STAGE_SIMS:
        raise FixynnError(f"--stage-sim {stage_sim!r} is not one of {', '.join(STAGE_SIMS)}")
    if stage_images < 1:
        raise FixynnError(f"--stage-images must be >= 1, got {stage_images}")
    if jobs < 0:
        raise FixynnError(f"--jobs must be >= 0 (0: one per CPU core), got {jobs}")
    g = load_graph(graph)
    data, source = verification_images(g, images)
    result = verify(g, data, work or default_work_dir(g), mode, _style(style), pipeline,
                    jobs=jobs or None, stitched_images=stitched_images,
                    build_timeout_s=build_timeout, run_timeout_s=run_timeout,
                    stitched_sim=stitched_sim, stage_sim=stage_sim, stage_images=stage_images)
    if as_json:
        typer.echo(json.dumps(result.to_json() | {"image_source": source}, indent=1))
    else:
        _print_verification(result, source)
    if not result.ok:
        raise typer.Exit(1)


def _print_verification(result: Verification, source: str) -> None:
    top = result.top
    typer.echo(f"mode {result.mode} ({result.verilog_bytes / 1e6:.2f} MB of Verilog); "
               f"images: {result.images} ({source})")
    for s in result.stages:
        typer.echo(f"  stage {s.name:<16} {s.outputs_compared:>10} outputs  {s.mismatches} "
                   f"mismatches  {s.simulator} on {s.images} images, build {s.build_s:.1f} s"
                   f"{' (cached)' if s.cached_build else ''}, sim {s.sim_s:.2f} s")
        for m in s.layers:
            if m.first:
                typer.echo(f"    {m.layer}: {m.mismatches} mismatches, first: {m.first[0]}")
    if result.stages:
        typer.echo(f"stitched design on {top.images} images ({top.simulator}):")
    for m in top.layers:
        typer.echo(f"  {m.layer:<12} {m.outputs:>10} outputs  {m.mismatches} mismatches"
                   + (f"  first: {m.first[0]}" if m.first else ""))
    typer.echo(f"outputs compared: {result.outputs_compared}, mismatches: "
               f"{result.mismatches}; top build ({top.simulator}) {top.build_s:.1f} s"
               f"{' (cached)' if top.cached_build else ''}, simulation {top.sim_s:.2f} s; "
               f"{result.wall_s:.1f} s in all")


def register(app: typer.Typer) -> None:
    app.command("rtl")(rtl)
    app.command("verify")(verify)
