"""The step functions of `fixynn run`: thin adapters from the runner to each stage's module.

Each function takes a StepContext, calls the real stage (training, RTL, Verilator, Yosys, PPA),
writes what should be kept into `ctx.work_dir` and returns a JSON-able summary. The stage
modules are imported inside the functions so that a run which skips a stage never imports it.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fixynn.hw.ir import HwGraph, HwLayer, graph_digest, load_graph, save_graph
from fixynn.pipeline.runner import StepContext

if TYPE_CHECKING:
    from fixynn.config import Config

GRAPH_DIR = "graph"


def _graph(ctx: StepContext, n: int) -> HwGraph:
    return load_graph(ctx.inputs[f"graph/N{n}"].path / GRAPH_DIR)


def _plain(obj: Any) -> Any:
    """A JSON-able copy of a stage's result object (dataclasses, numpy scalars, paths)."""
    for method in ("as_dict", "to_dict", "to_json"):
        if hasattr(obj, method) and callable(getattr(obj, method)):
            obj = getattr(obj, method)()
            break
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


# ---------------------------------------------------------------------------------------------
# transfer: pretrain, fix + fine-tune the front-end per N, transfer to every task, export graphs


def transfer_step(cfg: Config, ctx: StepContext) -> dict[str, Any]:
    """The sweep of `cfg` (bound by the plan; the step's params are the slice it reads). Its
    checkpoints and per-(task, N, repeat) trainings go to the run's cache as artifacts of
    their own, so a changed target task (or a new N) trains only what it adds."""
    from fixynn.train.transfer import run_transfer

    summary = run_transfer(cfg, ctx.work_dir, ctx.store, progress=True, executor=ctx.executor)
    graphs = {n: digest for n, digest in summary["hwgraphs"].items() if int(n) > 0}
    return {"graphs": graphs, "largest_n_under_1pct": summary["largest_n_under_1pct"],
            "seconds_this_run": summary["seconds_this_run"]}


def layers_step(ctx: StepContext) -> dict[str, Any]:
    """Split out the model's layer list, so the PPA steps depend on its content only."""
    from fixynn.arch import LAYERS_FILE, load_layers, save_layers

    layers = load_layers(ctx.inputs["transfer"].path / LAYERS_FILE)
    save_layers(layers, ctx.work_dir / LAYERS_FILE)
    return {"layers": len(layers), "units": layers[-1].block + 1,
            "macs": sum(layer.macs for layer in layers)}


def graph_step(ctx: StepContext) -> dict[str, Any]:
    """Split out one N's HwGraph, so hardware steps depend on its content, not on the tasks."""
    n = ctx.params["n"]
    graph = load_graph(ctx.inputs["transfer"].path / "hwgraph" / f"N{n}")
    save_graph(graph, ctx.work_dir / GRAPH_DIR)
    return {"n": n, "graph_digest": graph_digest(graph), "layers": len(graph.layers)}


# ---------------------------------------------------------------------------------------------
# hardware


def rtl_step(ctx: StepContext) -> dict[str, Any]:
    from fixynn.hw.rtl import generate_rtl

    n = ctx.params["n"]
    rtl = generate_rtl(_graph(ctx, n), ctx.work_dir / "rtl", style=ctx.params["style"])
    texts = [(rtl.out_dir / name).read_text() for name in rtl.files]
    return {"n": n, "files": rtl.files, "lines": sum(t.count("\n") for t in texts),
            "verilog_bytes": sum(len(t) for t in texts), "adders": rtl.adders,
            "adder_bits": rtl.adder_bits}


def verify_step(ctx: StepContext) -> dict[str, Any]:
    from fixynn.data.tasks import task_images
    from fixynn.data.taskspec import task_from_dict
    from fixynn.hw.stagewise import verify

    n = ctx.params["n"]
    graph = _graph(ctx, n)
    images = task_images(task_from_dict(ctx.params["task"]), split="test",
                         limit=ctx.params["images"], size=graph.input_height,
                         channels=graph.input_channels)
    # The simulation files are large and disposable: keep only the summary. The builds stay
    # in the user's Verilator cache, where the stages that several N share are built once.
    with tempfile.TemporaryDirectory(prefix="fixynn-verify-") as build:
        result = verify(graph, images, Path(build), ctx.params["mode"],
                        style=ctx.params["style"],
                        stitched_images=ctx.params["stitched_images"],
                        stitched_sim=ctx.params["stitched_sim"],
                        stage_sim=ctx.params["stage_sim"],
                        stage_images=ctx.params["stage_images"])
    summary = result.to_json()
    (ctx.work_dir / "verify.json").write_text(json.dumps(summary, indent=1))
    return {
        "n": n,
        **{k: summary[k] for k in ("mode", "images", "outputs_compared", "mismatches",
                                   "build_s", "sim_s", "wall_s", "verilog_bytes")},
        "top_images": result.top.images,
        "top_simulator": result.top.simulator,
        "stages": [{k: v for k, v in s.items() if k != "layers"} for s in summary["stages"]],
    }


def smallest_layers(graph: HwGraph, count: int) -> list[int]:
    """Indices of the `count` weighted layers (conv, depthwise, pointwise) with the fewest
    weights, in graph order: a representative subset at bounded Yosys time (adds and pools
    have no weights to size by)."""
    weighted = [i for i, node in enumerate(graph.layers) if isinstance(node, HwLayer)]
    order = sorted(weighted, key=lambda i: graph.layers[i].weight.size)
    return sorted(order[:count])


def synth_step(ctx: StepContext) -> dict[str, Any]:
    from fixynn.hw.synth import DEFAULT_CLOCK_NS, synth_graph_layers

    n = ctx.params["n"]
    graph = _graph(ctx, n)
    picked = smallest_layers(graph, ctx.params["max_layers"])
    liberty = ctx.params["liberty"]
    results = synth_graph_layers(graph, style=ctx.params["style"], layers=picked,
                                 liberty=Path(liberty) if liberty else None,
                                 clock_ns=ctx.params.get("clock_ns", DEFAULT_CLOCK_NS))
    rows = [{"n": n, "layer": name, "cells": sum(res.cells.values()),
             "gate_equivalents": res.ge, "flip_flops": res.flip_flops,
             "library": res.library, "area_um2": res.area_um2,
             "critical_path_ns": res.timing.critical_path_ns if res.timing else None,
             "f_max_mhz": res.timing.f_max_mhz if res.timing else None,
             "clock_target_ns": ctx.params["clock_ns"] if res.timing else None}
            for name, res in results]
    (ctx.work_dir / "synth.json").write_text(
        json.dumps([{"layer": name, **res.to_dict()} for name, res in results], indent=1))
    return {"n": n, "layers": rows}


def sizing_options(p: dict[str, Any]) -> Any:
    """The PPA stage's sizing options from the run config's hardware section."""
    from fixynn.hw.ppa.system import SizingOptions

    return SizingOptions(sizing=p["sizing"], fps_floor=p["fps_floor"], batch=p["batch"],
                         weights=p["weight_storage"], handoff=p["handoff"],
                         area_mm2=p["area_mm2"] or None)


def ppa_step(ctx: StepContext) -> dict[str, Any]:
    from fixynn.arch import LAYERS_FILE, load_layers, with_classes
    from fixynn.hw.ppa.ffe import estimate_ffe
    from fixynn.hw.ppa.pca import PcaConfig
    from fixynn.hw.ppa.system import SystemResult, size_split
    from fixynn.hw.ppa.tech import load_tech

    p = ctx.params
    tech = load_tech(p["tech"])
    pca = PcaConfig(rows=p["pca_rows"], cols=p["pca_cols"], freq_mhz=p["freq_mhz"])
    # The trained model's own layers (as the transfer stage traced them), with the largest
    # target task's classifier; the FFE is priced here in the run's RTL style, so size_split
    # takes the estimate (evaluate_system is the paper's 224x224 ImageNet MobileNetV1 only).
    layers = with_classes(load_layers(ctx.inputs["layers"].path / LAYERS_FILE),
                          p["num_classes"])
    ffe = None
    if p["n"] > 0:
        graph = _graph(ctx, p["n"])
        ffe = estimate_ffe(graph, tech, freq_mhz=p["freq_mhz"], style=p["rtl_style"])
    hybrid, programmable, sizing = size_split(layers, p["n"], tech, pca, ffe,
                                              sizing_options(p))
    system = SystemResult(arch=p["arch"], width=p["width"], resolution=p["input_size"],
                          n_fixed=p["n"], tech=tech.name, weights="trained", hybrid=hybrid,
                          iso_area_programmable=programmable, sizing=sizing)
    return {"n": p["n"], "system": _plain(system), "ffe": None if ffe is None else _plain(ffe)}
