"""Verification that scales: each stage of the plan built and checked alone, then the wiring.

`fixynn verify --mode layers` splits the plan (`hw.lower`) into its stages: one layer, or a
depthwise layer fused with the pointwise layer it feeds (they share no buffer, so they are
checked as one). Each stage becomes a one-stage HwGraph whose image is the stage's input
tensor; the emitter writes its Verilog (the one source of RTL), Verilator builds it with
the C++ testbench, and the simulation, fed golden's output of the previous stage on the real
images, is compared with golden's output of the stage itself (both from one golden run of
the whole graph). The stages build in parallel (a bounded pool) and each build is cached by
its content (`sim.build`: Verilog, testbench, flags, toolchain): a stage's graph is named
after its layers, not after the graph holding it, so the stages that two front-ends share
(N = 2 and N = 14 of one sweep) are built once. Last, the stitched top level runs on fewer
images: the stages are already proven, this checks their wiring and the design's row gap.
It runs in Icarus by default (`stitched_sim`): the portable testbench `fixynn rtl` writes
(rtl.portable_tb), which needs no C++ build, against a Verilator build of the whole design
(docs/rtl.md, "The stitched check in Icarus, measured"). That bench compares every layer, so
under `stage_sim = auto` a stage too large for a Verilator build in the budget is checked
there, on the stitched check's images, instead of alone (docs/rtl.md, "EfficientNet-Lite0
at 64x64": a 1.2 MB unit Verilated into 13.3 MB of C++, a 255 s make).

A residual block is one stage (its add reads the block's input, so the stage from the fork
to the add reads one tensor), and a stage reading a signed tensor gets an exact entry layer
(the IR's image is unsigned): see `stage_groups` and `stage_graph`.

`whole` is the earlier mode: one build of the whole design, every layer compared on every
image. `auto` picks `layers` for designs whose Verilog is larger than `AUTO_LAYERS_BYTES`.

"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fixynn.errors import FixynnError
from fixynn.hw.golden import run_graph
from fixynn.hw.icarus import default_check_cache, verify_icarus
from fixynn.hw.ir import INPUT, HwGraph, HwLayer
from fixynn.hw.lower import HwOptions, Plan, Stage, lower, row_gap
from fixynn.hw.rtl.emit import plan_verilog, top_name
from fixynn.hw.rtl.stimulus import check_images, stimulus
from fixynn.hw.rtl.testbench import cpp_testbench
from fixynn.hw.sim import (
    BUILD_TIMEOUT_S,
    RUN_TIMEOUT_S,
    BuildOptions,
    LayerMismatch,
    VerifyResult,
    build,
    compare,
    simulate,
    verify_graph,
)

MODES = ("auto", "whole", "layers")
STITCHED_SIMS = ("icarus", "verilator")
STAGE_SIMS = ("auto", "verilator", "icarus")
# `auto` verifies per stage above this much Verilog. Measured on EfficientNet-Lite0 at 64x64
# (docs/rtl.md, "EfficientNet-Lite0 at 64x64", CPU seconds on a cold cache): whole 136 s
# against layers ~175 s at N = 4 (2.01 MB), whole 524 s against layers ~311 s at N = 6
# (7.39 MB), since layers builds only the small stages and checks the rest in the stitched
# Icarus run; whole keeps every layer on every image where it is the cheaper one.
AUTO_LAYERS_BYTES = 4_000_000
ENTRY = "stage_input"  # the entry layer of a stage reading a signed tensor (stage_graph)
# `stage_sim = auto` builds a stage of up to this much Verilog in Verilator (every image);
# a larger one is checked in Icarus (inside the stitched check). Measured on EfficientNet-
# Lite0 at 64x64 (docs/rtl.md, "EfficientNet-Lite0 at 64x64"): the stem (121 kB) and block
# 0's layers build in 6-107 s, a 1.2 MB unit's C++ make took 255 s (13.3 MB of C++), where
# Icarus checks it on 2 images in 23 s.
ICARUS_STAGE_BYTES = 150_000
STAGE_IMAGES = 2  # images of a stage checked alone in Icarus (at most the images given)
STITCHED = "stitched"  # a stage whose layers the stitched check in Icarus compares (auto)
STITCHED_IMAGES = 2  # images of the stitched check in `layers` mode (at most the images given)
# The stitched design runs on a couple of images, so its build trades simulation speed for
# compile time: all C++ at -O0 (measured in docs/rtl.md, "Build options, measured").
STITCHED_BUILD = BuildOptions(cxx_opt=("OPT_FAST=-O0", "OPT_SLOW=-O0", "OPT_GLOBAL=-O0"))


@dataclass(frozen=True)
class StageResult:
    """One stage checked alone: its layers' mismatch counts, its size and its times."""

    name: str  # its layers' names joined by "+"
    layers: list[LayerMismatch]  # per layer (Verilator); empty in Icarus, see `totals`
    verilog_bytes: int
    build_s: float  # Verilator build, or iverilog's compile
    sim_s: float
    cached_build: bool  # Verilator: the build reused; Icarus: the whole outcome reused
    simulator: str = "verilator"
    images: int = 0
    totals: tuple[int, int] | None = None  # Icarus: (values compared, mismatches), all layers

    @property
    def outputs_compared(self) -> int:
        return self.totals[0] if self.totals else sum(m.outputs for m in self.layers)

    @property
    def mismatches(self) -> int:
        return self.totals[1] if self.totals else sum(m.mismatches for m in self.layers)

    def to_json(self) -> dict:
        return {"stage": self.name, "simulator": self.simulator, "images": self.images,
                "verilog_bytes": self.verilog_bytes,
                "build_s": round(self.build_s, 3), "sim_s": round(self.sim_s, 3),
                "cached_build": self.cached_build, "outputs_compared": self.outputs_compared,
                "mismatches": self.mismatches,
                "layers": [{"layer": m.layer, "outputs": m.outputs,
                            "mismatches": m.mismatches, "first": m.first}
                           for m in self.layers]}


@dataclass(frozen=True)
class Verification:
    """The outcome of `verify`: the mode run, every stage alone (`layers` mode) and the
    top level (the whole design on every image, or the stitched check on a few)."""

    mode: str  # "whole" or "layers" (auto resolved)
    images: int  # images every stage (or the whole design) ran on
    verilog_bytes: int  # of the whole design
    stages: list[StageResult]
    top: VerifyResult
    wall_s: float

    @property
    def outputs_compared(self) -> int:
        """Every value compared once: a `STITCHED` stage's values are the top level's."""
        return self.top.outputs_compared + sum(s.outputs_compared for s in self.stages
                                               if s.simulator != STITCHED)

    @property
    def mismatches(self) -> int:
        return self.top.mismatches + sum(s.mismatches for s in self.stages
                                         if s.simulator != STITCHED)

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    @property
    def build_s(self) -> float:
        """Build seconds summed over every build (the stages' overlap in the pool)."""
        return self.top.build_s + sum(s.build_s for s in self.stages)

    @property
    def sim_s(self) -> float:
        return self.top.sim_s + sum(s.sim_s for s in self.stages)

    def to_json(self) -> dict:
        return {"mode": self.mode, "images": self.images, "verilog_bytes": self.verilog_bytes,
                "outputs_compared": self.outputs_compared, "mismatches": self.mismatches,
                "build_s": round(self.build_s, 3), "sim_s": round(self.sim_s, 3),
                "wall_s": round(self.wall_s, 3),
                "stages": [s.to_json() for s in self.stages], "top": self.top.to_json()}


def stage_groups(plan: Plan) -> list[tuple[Stage, ...]]:
    """The plan's stages as units checked alone, each reading one tensor: a stage whose
    output is fused into the next one travels with it (no buffer, no register between
    them), and a stage reading two tensors (a residual add) takes in the stages back to
    where its inputs meet (the residual block from its fork), since a stage's testbench
    drives one input stream."""
    fused: list[list[Stage]] = []
    current: list[Stage] = []
    for stage in plan.stages:
        current.append(stage)
        if not stage.fused_output:
            fused.append(current)
            current = []
    if current:
        raise FixynnError(f"graph {plan.graph.name!r}: the last stage "
                          f"{current[-1].layer.name!r} is fused into a stage that is missing")
    order = {stage.layer.name: i for i, stage in enumerate(plan.stages)}
    groups: list[list[Stage]] = []
    for group in fused:
        while len(sources := group_inputs(group)) > 1:
            # the producer of the latest source joins; an earlier one may be inside it
            latest = max(sources, key=lambda t: order.get(t, -1))
            (k,) = [i for i, g in enumerate(groups) if latest in {s.layer.name for s in g}]
            group = sorted(groups.pop(k) + group, key=lambda s: order[s.layer.name])
        groups.append(group)
    return [tuple(g) for g in groups]


def group_inputs(group: list[Stage] | tuple[Stage, ...]) -> list[str]:
    """The tensors a group of stages reads from outside itself, in reading order."""
    inside = {s.layer.name for s in group}
    return list(dict.fromkeys(t for s in group for t in s.layer.inputs if t not in inside))


def stage_graph(plan: Plan, group: tuple[Stage, ...]) -> HwGraph:
    """A graph of the group's layers alone, its image the group's input tensor.

    The IR's image is unsigned, so a signed input tensor (a linear projection's output)
    arrives offset by 2^(bits-1) and an entry layer (`ENTRY`, as exact as the export's
    input layer) subtracts it: the stage's own layers see golden's tensor exactly.
    Named after its layers only, so equal stages of different graphs have equal Verilog (and
    share one cached build)."""
    (source,) = group_inputs(group)
    fmt = plan.graph.tensor_formats()[source]
    c, h, w = plan.graph.tensor_shapes()[source]
    entry = [_entry_layer(c, fmt.bits, fmt.frac)] if fmt.signed else []
    feed = ENTRY if fmt.signed else INPUT
    layers = [*entry, *(replace(s.layer, inputs=tuple(feed if t == source else t
                                                         for t in s.layer.inputs))
                        for s in group)]
    fused = [s.layer.name for s in group if s.fused_output]
    name = "stage_" + "_".join(s.layer.name for s in group)
    return HwGraph(name=name, input_channels=c, input_height=h, input_width=w,
                   layers=tuple(layers), input_bits=fmt.bits, input_frac=fmt.frac,
                   meta={"fuse": fused}, outputs=(group[-1].layer.name,))


def _entry_layer(channels: int, bits: int, frac: int) -> HwLayer:
    """u -> u - 2^(bits-1) per channel: an unsigned image back onto the signed range."""
    return HwLayer(name=ENTRY, kind="depthwise", in_channels=channels, out_channels=channels,
                   kernel=1, stride=1, padding=0, weight=np.ones((channels, 1, 1, 1), np.int64),
                   bias=np.full(channels, -(1 << (bits - 1)), np.int64), weight_bits=2,
                   weight_frac=np.zeros(channels, np.int64), in_bits=bits, in_frac=frac,
                   out_bits=bits, out_frac=frac, activation="none", inputs=(INPUT,))


def stage_image(plan: Plan, group: tuple[Stage, ...], golden: dict[str, np.ndarray]
                ) -> np.ndarray:
    """Golden's value of the group's input tensor as its stage graph's (unsigned) image."""
    (source,) = group_inputs(group)
    fmt = plan.graph.tensor_formats()[source]
    return golden[source] + (1 << (fmt.bits - 1)) if fmt.signed else golden[source]


def resolve_mode(mode: str, verilog_bytes: int) -> str:
    if mode not in MODES:
        raise FixynnError(f"--mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "auto":
        return "layers" if verilog_bytes > AUTO_LAYERS_BYTES else "whole"
    return mode


def verify(
    graph: HwGraph, images: np.ndarray, work_dir: str | Path, mode: str = "auto",
    style: str = "csd", pipeline: bool = False, cache_dir: Path | None = None,
    jobs: int | None = None, stitched_images: int = STITCHED_IMAGES,
    build_timeout_s: float = BUILD_TIMEOUT_S, run_timeout_s: float = RUN_TIMEOUT_S,
    stitched_sim: str = "icarus", stage_sim: str = "auto", stage_images: int = STAGE_IMAGES,
) -> Verification:
    """Verify `graph`'s RTL against golden on `images` in `mode` (auto | whole | layers).

    `jobs`: stages built at once (default: the CPU cores); `stitched_images`: images of the
    stitched top level in layers mode; `stitched_sim`: its simulator (icarus | verilator);
    `stage_sim`: where each stage is checked: `verilator` (alone, every image), `icarus`
    (alone, on `stage_images` images) or `auto`: up to `ICARUS_STAGE_BYTES` of Verilog in
    Verilator, a larger stage inside the stitched check when that runs in Icarus (its layers'
    rows of that check, on `stitched_images` images), else alone in Icarus."""
    t0 = time.perf_counter()
    if stitched_sim not in STITCHED_SIMS:
        raise FixynnError(f"stitched simulator {stitched_sim!r} is not one of "
                          f"{', '.join(STITCHED_SIMS)}")
    if stage_sim not in STAGE_SIMS:
        raise FixynnError(f"stage simulator {stage_sim!r} is not one of {', '.join(STAGE_SIMS)}")
    images = check_images(graph, images)
    plan = lower(graph, HwOptions(style, pipeline))
    size = sum(len(text) for text in plan_verilog(plan).values())
    mode = resolve_mode(mode, size)
    work_dir = Path(work_dir)
    if mode == "whole":
        top = verify_graph(graph, images, work_dir, style, pipeline, cache_dir,
                           build_timeout_s, run_timeout_s)
        return Verification(mode, len(images), size, [], top, time.perf_counter() - t0)
    if stitched_images < 1:
        raise FixynnError(f"stitched images must be >= 1, got {stitched_images}")
    if stage_images < 1:
        raise FixynnError(f"stage images must be >= 1, got {stage_images}")
    golden = dict(zip((layer.name for layer in graph.layers), run_graph(graph, images),
                      strict=True)) | {INPUT: images}
    groups = stage_groups(plan)
    subs = [stage_graph(plan, group) for group in groups]
    sizes = [_verilog_bytes(sub, style, pipeline) for sub in subs]
    sims = [_stage_sim(stage_sim, stitched_sim, size) for size in sizes]
    alone = [k for k in range(len(groups)) if sims[k] != STITCHED]
    # The stitched check in Icarus is one single-threaded process: it runs beside the stage
    # checks on a core of its own (its result does not depend on theirs).
    cores = os.cpu_count() or 1
    beside = int(stitched_sim == "icarus")
    jobs = max(1, min(jobs or max(1, cores - beside), len(alone)))
    make_jobs = max(1, (cores - beside) // jobs)

    def check(k: int) -> StageResult:
        sub, x = subs[k], stage_image(plan, groups[k], golden)
        if sims[k] == "icarus":
            return _verify_stage_icarus(sub, x[:stage_images], sizes[k], work_dir / f"stage{k}",
                                        style, pipeline, build_timeout_s + run_timeout_s)
        files = plan_verilog(lower(sub, HwOptions(style, pipeline)))
        return _verify_stage(sub, files, x, golden, work_dir / f"stage{k}", cache_dir,
                             make_jobs, build_timeout_s, run_timeout_s)

    # Most weights (longest build) first: the pool finishes sooner, and two verifications of
    # one sweep running at once (N = 7 and N = 14 in two workers) start on different stages
    # instead of one waiting for the other's build of the stage they share.
    order = sorted(alone, key=lambda k: -sum(
        int(np.count_nonzero(s.layer.weight)) for s in groups[k] if hasattr(s.layer, "weight")))
    with ThreadPoolExecutor(max_workers=jobs + beside) as pool:
        if beside:  # submitted first: it holds one worker while the others take the stages
            stitched = pool.submit(verify_icarus, graph, images[:stitched_images],
                                   work_dir / "top", style, pipeline,
                                   build_timeout_s + run_timeout_s, default_check_cache())
        done = dict(zip(order, pool.map(check, order), strict=True))
        top = stitched.result() if beside else verify_graph(
            graph, images[:stitched_images], work_dir / "top", style, pipeline, cache_dir,
            build_timeout_s, run_timeout_s, STITCHED_BUILD)
    rows = {m.layer: m for m in top.layers}
    for k in set(range(len(groups))) - set(alone):  # their layers' rows of the stitched check
        layers = [rows[s.layer.name] for s in groups[k]]
        done[k] = StageResult("+".join(m.layer for m in layers), layers, sizes[k], 0.0, 0.0,
                              top.cached_build, STITCHED, top.images)
    stages = [done[k] for k in range(len(groups))]
    return Verification(mode, len(images), size, stages, top, time.perf_counter() - t0)


def _verilog_bytes(graph: HwGraph, style: str, pipeline: bool) -> int:
    return sum(len(text) for text in plan_verilog(lower(graph, HwOptions(style, pipeline))
                                                  ).values())


def _stage_sim(stage_sim: str, stitched_sim: str, size: int) -> str:
    """Where a stage of `size` bytes of Verilog is checked: `verilator` or `icarus` (alone),
    or `STITCHED` (its layers compared inside the stitched check in Icarus, on the same
    images a check of it alone in Icarus would take: that check would only repeat it)."""
    if stage_sim != "auto" or size <= ICARUS_STAGE_BYTES:
        return "verilator" if stage_sim == "auto" else stage_sim
    return STITCHED if stitched_sim == "icarus" else "icarus"


def _verify_stage(
    sub: HwGraph, files: dict[str, str], x: np.ndarray, golden: dict[str, np.ndarray],
    work_dir: Path, cache_dir: Path | None, make_jobs: int, build_timeout_s: float,
    run_timeout_s: float,
) -> StageResult:
    """Build (Verilog `files`) and simulate one stage graph on `x` (golden's value of its
    input tensor, `stage_image`) and compare each of its layers with golden's output."""
    top = top_name(sub)
    t0 = time.perf_counter()
    exe, cached = build(files, cpp_testbench([("", sub)], top), top, cache_dir,
                        build_timeout_s, jobs=make_jobs)
    t1 = time.perf_counter()
    (rtl,) = simulate(exe, [sub], [stimulus(sub, x, row_gap(sub))], work_dir, run_timeout_s)
    t2 = time.perf_counter()
    # the entry layer (a signed input's offset undone) is the bench's, not the design's
    want = [golden[layer.name] if layer.name != ENTRY else x - (1 << (layer.in_bits - 1))
            for layer in sub.layers]
    layers = [m for m in compare(sub, want, rtl) if m.layer != ENTRY]
    return StageResult("+".join(m.layer for m in layers), layers,
                       sum(len(text) for text in files.values()), t1 - t0, t2 - t1, cached,
                       images=len(x))


def _verify_stage_icarus(sub: HwGraph, x: np.ndarray, size: int, work_dir: Path, style: str,
                         pipeline: bool, timeout_s: float) -> StageResult:
    """One stage graph on `x` in Icarus: its portable bench compares every layer with
    golden of the stage graph, which is golden's value of those layers (the same integer
    semantics on the same input tensor). The outcome is cached by content."""
    r = verify_icarus(sub, x, work_dir, style, pipeline, timeout_s, default_check_cache())
    # the bench also compares the entry layer's values (its own): not the design's
    c, h, w = sub.input_channels, sub.input_height, sub.input_width
    entry = len(x) * c * h * w if sub.layers[0].name == ENTRY else 0
    names = "+".join(layer.name for layer in sub.layers if layer.name != ENTRY)
    return StageResult(names, [], size, r.build_s, r.sim_s, r.cached_build, "icarus", len(x),
                       (r.outputs_compared - entry, r.mismatches))
