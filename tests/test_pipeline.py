"""`run_pipeline` end to end with fake stage functions: which steps rerun when the config changes.

The fakes stand in for training/Verilator/Yosys/PPA (that is what this file tests: the plan,
the cache keys, the results assembly and the report), and record every call.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fixynn.arch import LAYERS_FILE, front_end_layers, mobilenet_v1_layers, save_layers
from fixynn.config import Config, default_config
from fixynn.data import offline
from fixynn.hw.ir import save_graph
from fixynn.hw.synthetic import random_graph_from_shapes
from fixynn.pipeline import plan, run_pipeline, stages
from fixynn.pipeline.runner import StepContext
from fixynn.report.results import validate_results

CALLS: list[str] = []


def fake_transfer(cfg: Config, ctx: StepContext) -> dict[str, Any]:
    CALLS.append("transfer")
    p = ctx.params
    layers = mobilenet_v1_layers(p["model"]["width"], p["model"]["input_size"], 1, 10,
                                 p["model"]["stride_plan"])
    save_layers(layers, ctx.work_dir / LAYERS_FILE)  # as run_transfer does
    rows = []
    for n in p["n_list"]:
        if n:  # the graph depends on the source task and N only, as in the real stage
            graph = random_graph_from_shapes(front_end_layers(layers, n), seed=n,
                                             calibration_images=0, name=f"N{n}")
            save_graph(graph, ctx.work_dir / "hwgraph" / f"N{n}")
        rows += [{"task": t, "n": n, "baseline_acc": 90.0, "fixed_acc": 90.0 - 0.2 * n,
                  "acc_loss_se": 0.1, "fixed_accs": [90.1 - 0.2 * n, 89.9 - 0.2 * n],
                  "acc_loss_ci95": [0.2 * n - 0.5, 0.2 * n + 0.5],
                  "verdict": "holds" if 0.2 * n + 0.5 < 1 else "inconclusive"}
                 for t in p["targets"]]  # percent, as fixynn.train.transfer writes them
    source = {"description": f"Source task `{p['source']}`: float 91.00%."}
    (ctx.work_dir / "transfer.json").write_text(json.dumps({"results": rows, "source": source}))
    return {"tasks": p["targets"]}


def fake_rtl(ctx: StepContext) -> dict[str, Any]:
    CALLS.append(f"rtl/N{ctx.params['n']}")
    return {"n": ctx.params["n"]}


def fake_verify(ctx: StepContext) -> dict[str, Any]:
    CALLS.append(f"verify/N{ctx.params['n']}")
    return {"n": ctx.params["n"], "mode": ctx.params["mode"], "images": ctx.params["images"],
            "top_images": 2, "outputs_compared": 10, "mismatches": 0, "build_s": 1.0,
            "sim_s": 1.0, "wall_s": 2.0, "verilog_bytes": 1000, "stages": []}


def fake_synth(ctx: StepContext) -> dict[str, Any]:
    CALLS.append(f"synth/N{ctx.params['n']}")
    return {"n": ctx.params["n"], "layers": [{"n": ctx.params["n"], "layer": "b0_conv",
                                              "cells": 100, "gate_equivalents": 150.0,
                                              "flip_flops": 10, "library": "osu018_stdcells",
                                              "area_um2": 3600.0, "critical_path_ns": 4.0,
                                              "f_max_mhz": 250.0, "clock_target_ns": 2.0}]}


def fake_ppa(ctx: StepContext) -> dict[str, Any]:
    n, f = ctx.params["n"], ctx.params["freq_mhz"]
    CALLS.append(f"ppa/N{n}")

    def metrics(k: float) -> dict[str, float]:
        return {"tops_per_w": k, "fps": f, "area_mm2": 1.0, "energy_per_frame_uj": 1 / k}

    areas = {"adders": 5e4, "registers": 1e4, "window": 2e3, "control": 1e2, "line_buffer": 3e4,
             "output_select": 1e3}  # um2, the elements of fixynn.hw.ppa.ffe
    ffe = None if n == 0 else {**metrics(10.0), "ops_per_frame": 1e6,
                               "layers": [{"name": "b0_conv", "area_um2": areas}]}
    system = {"hybrid": metrics(1.0 + n), "iso_area_programmable": metrics(1.0),
              "ratios": {"tops_per_w": 1.0 + n}, "model": "MobileNetV1 0.25 @ 28"}
    return {"n": n, "system": system, "ffe": ffe}


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(plan, "missing_needs", lambda stage: [])
    monkeypatch.setattr(plan, "stage_code", lambda stage: ())  # the fakes live here
    for name, fn in (("transfer", fake_transfer), ("rtl", fake_rtl), ("verify", fake_verify),
                     ("synth", fake_synth), ("ppa", fake_ppa)):
        monkeypatch.setattr(stages, f"{name}_step", fn)
    CALLS.clear()
    return CALLS


def _cfg(**changes: dict[str, Any]):
    cfg = default_config(quick=True)
    # workers = 1: every step in this process, where the fakes record their calls
    # synth.liberty = "generic": the same plan whether or not a cell library is installed
    cfg = dataclasses.replace(cfg, sweep=dataclasses.replace(cfg.sweep, n_list=(0, 1, 2)),
                              verify=dataclasses.replace(cfg.verify, images=5, n_list=()),
                              train=dataclasses.replace(cfg.train, workers=1),
                              synth=dataclasses.replace(cfg.synth, liberty="generic"))
    for section, values in changes.items():
        cfg = dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section),
                                                                       **values)})
    return cfg


def test_first_run_runs_everything_and_reports(fakes: list[str], tmp_path: Path) -> None:
    outcome = run_pipeline(_cfg(), tmp_path)
    assert fakes == ["transfer", "rtl/N1", "rtl/N2", "verify/N1", "verify/N2", "synth/N2",
                     "ppa/N0", "ppa/N1", "ppa/N2"]
    doc = json.loads((tmp_path / "results.json").read_text())
    validate_results(doc)
    assert doc["recommended"]["n"] == 2  # loss 0.4% at N = 2, upper bound 0.9%
    assert [r["n"] for r in doc["hardware"]] == [0, 1, 2]
    assert {r["model"] for r in doc["hardware"]} == {"MobileNetV1 0.25 @ 28"}
    assert "Network: MobileNetV1 0.25 @ 28, its own layers" in (
        tmp_path / "report.md").read_text()
    area = doc["ffe_area_breakdown"][0]
    assert area["n"] == 2 and area["registers_mm2"] == pytest.approx(0.0121)
    assert area["adders_mm2"] == pytest.approx(0.05) and area["other_mm2"] == pytest.approx(1e-3)
    assert len(doc["accuracy"]) == 3 * len(_cfg().tasks.targets)
    assert outcome.report["html"] == tmp_path / "report.html"
    assert (tmp_path / "config.toml").is_file()


def test_second_run_does_no_work(fakes: list[str], tmp_path: Path) -> None:
    first = run_pipeline(_cfg(), tmp_path)
    fakes.clear()
    outcome = run_pipeline(_cfg(), tmp_path)
    assert fakes == []
    assert all(a.cached for a in outcome.artifacts.values())
    assert {k: a.digest for k, a in outcome.artifacts.items()} == {
        k: a.digest for k, a in first.artifacts.items()
    }
    doc = json.loads((tmp_path / "results.json").read_text())
    assert all(s["cached"] for s in doc["stages"])


@pytest.mark.parametrize(("changes", "reran"), [
    # a new target task retrains; the graphs come out the same, so no hardware step reruns
    ({"tasks": {"targets": ("fashion-mnist-b", "sklearn-digits")}}, ["transfer"]),
    # the clock is the PPA's (and a mapped synthesis's timing target: below); generic gates
    # do not depend on it
    ({"hardware": {"freq_mhz": 200.0}}, ["ppa/N0", "ppa/N1", "ppa/N2"]),
    ({"verify": {"images": 7}}, ["verify/N1", "verify/N2"]),
    ({"synth": {"max_layers": 2}}, ["synth/N2"]),
])
def test_a_change_reruns_only_its_dependents(fakes: list[str], tmp_path: Path,
                                             changes: dict[str, Any], reran: list[str]) -> None:
    no_report = {"stages": ("transfer", "rtl", "verify", "synth", "ppa")}  # faster
    run_pipeline(_cfg(run=no_report), tmp_path)
    fakes.clear()
    run_pipeline(_cfg(run=no_report, **changes), tmp_path)
    assert fakes == reran


def test_a_cell_library_keys_synthesis_by_content_and_clock(fakes: list[str],
                                                           tmp_path: Path) -> None:
    lib = tmp_path / "cells.lib"
    lib.write_text("library(a) { cell (NAND2X1) { area : 24; } }\n")
    stages_only = {"stages": ("transfer", "rtl", "verify", "synth", "ppa")}
    run_pipeline(_cfg(run=stages_only), tmp_path / "out")
    for changes, reran in (
            ({"synth": {"liberty": str(lib)}}, ["synth/N2"]),  # generic -> mapped
            ({"synth": {"liberty": str(lib)}, "hardware": {"freq_mhz": 200.0}},
             ["synth/N2", "ppa/N0", "ppa/N1", "ppa/N2"])):  # the mapping's timing target
        fakes.clear()
        run_pipeline(_cfg(run=stages_only, **changes), tmp_path / "out")
        assert fakes == reran
    lib.write_text("library(a) { cell (NAND2X1) { area : 25; } }\n")  # same path, new content
    fakes.clear()
    run_pipeline(_cfg(run=stages_only, synth={"liberty": str(lib)},
                      hardware={"freq_mhz": 200.0}), tmp_path / "out")
    assert fakes == ["synth/N2"]


def test_an_edited_tech_file_reruns_ppa_only(fakes: list[str], tmp_path: Path) -> None:
    """Same path, new content: the PPA results must not be reused."""
    tech = tmp_path / "my.tech.toml"
    tech.write_text('[derive]\nfrom = "45nm"\nnode_nm = 32\n')
    cfg = _cfg(run={"stages": ("transfer", "rtl", "verify", "synth", "ppa")},
               hardware={"tech": str(tech)})
    run_pipeline(cfg, tmp_path / "out")
    fakes.clear()
    run_pipeline(cfg, tmp_path / "out")
    assert fakes == []
    tech.write_text('[derive]\nfrom = "45nm"\nnode_nm = 20\n')
    run_pipeline(cfg, tmp_path / "out")
    assert fakes == ["ppa/N0", "ppa/N1", "ppa/N2"]


@pytest.mark.needs_data("opencv-digits")
def test_an_edited_data_file_reruns_what_reads_it(fakes: list[str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A target task's data file changes in place: the training reruns (its graphs come out
    the same here, so the hardware is reused); the verification, on another task's images (the
    first target's, for the default pretrained front-end), does not."""
    digits = tmp_path / "data" / offline.OPENCV_DIGITS_FILE.name
    digits.parent.mkdir()
    shutil.copy(offline.OPENCV_DIGITS_FILE, digits)
    monkeypatch.setattr(offline, "OPENCV_DIGITS_FILE", digits)
    cfg = _cfg(run={"stages": ("transfer", "rtl", "verify", "synth", "ppa")},
               tasks={"targets": ("sklearn-digits", "opencv-digits")}, verify={"n_list": (1,)})
    run_pipeline(cfg, tmp_path / "out")
    fakes.clear()
    digits.write_bytes(digits.read_bytes() + b"\0")
    run_pipeline(cfg, tmp_path / "out")
    assert fakes == ["transfer"]


def test_unavailable_stage_is_reported_not_faked(monkeypatch: pytest.MonkeyPatch,
                                                 fakes: list[str], tmp_path: Path) -> None:
    monkeypatch.setattr(plan, "missing_needs",
                        lambda stage: ["fixynn.hw.synth:synth_layer"] if stage == "synth" else [])
    run_pipeline(_cfg(), tmp_path)
    assert not any(c.startswith("synth") for c in fakes)
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["synthesis"] == []
    assert doc["not_run"] == ["synth: not available (missing fixynn.hw.synth:synth_layer)"]
    assert "Not run: synth: not available" in (tmp_path / "report.md").read_text()


def test_left_out_stages_do_not_run(fakes: list[str], tmp_path: Path) -> None:
    run_pipeline(_cfg(run={"stages": ("transfer", "ppa")}), tmp_path)
    assert fakes == ["transfer", "ppa/N0", "ppa/N1", "ppa/N2"]
    assert not (tmp_path / "report.html").exists()


def test_transfer_step_trains_the_run_config_and_is_keyed_by_all_it_reads() -> None:
    """Training takes the run's own Config (one config system); the step's key holds every
    key of the sections training reads, so no change to them can reuse a stale sweep."""
    if plan.missing_needs("transfer"):
        pytest.skip("the transfer stage is not available")
    cfg = default_config()
    step = next(s for s in plan.plan_steps(cfg).steps if s.name == "transfer")
    assert step.fn.args == (cfg,)
    assert (step.params["source"], step.params["targets"]) == (cfg.tasks.source,
                                                               list(cfg.tasks.targets))
    assert step.params["n_list"] == list(cfg.sweep.n_list)
    for name in ("model", "train"):
        assert step.params[name] == cfg.to_dict()[name]


def _ppa_params(cfg: Config) -> dict[str, Any]:
    """The params the plan gives ppa/N2 (tasks stand-ins: 10 classes each, no data read)."""
    from types import SimpleNamespace

    names = (*cfg.offline_tasks(), *cfg.model.calib_tasks)
    tasks = {name: SimpleNamespace(data=SimpleNamespace(num_classes=10),
                                   provenance={"data_key": name}) for name in names}
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, stages=("transfer", "ppa")))
    steps = plan.plan_steps(cfg, tasks).steps  # type: ignore[arg-type]
    return dict(next(s for s in steps if s.name == "ppa/N2").params)


def test_ppa_step_names_the_model_it_priced(tmp_path: Path) -> None:
    """The plan carries model.arch to the PPA step, and MobileNetV1's width only where it
    means something; results.json's hardware rows name the network."""
    from types import SimpleNamespace

    from fixynn.pipeline.collect import hardware_row
    from fixynn.pipeline.runner import StepContext
    from presets import mobilenet_config

    if plan.missing_needs("ppa") or plan.missing_needs("transfer"):
        pytest.skip("the ppa stage is not available")
    lite = default_config(quick=True)
    assert lite.model.arch == "efficientnet-lite0"
    assert (_ppa_params(lite)["arch"], _ppa_params(lite)["width"]) == ("efficientnet-lite0",
                                                                       None)
    cfg = mobilenet_config(quick=True)
    params = _ppa_params(cfg)
    assert (params["arch"], params["width"]) == ("mobilenet-v1", cfg.model.width)
    m = cfg.model
    layers = mobilenet_v1_layers(m.width, m.input_size, m.in_channels, 10, m.stride_plan)
    save_layers(layers, tmp_path / "layers" / LAYERS_FILE)
    graph = random_graph_from_shapes(front_end_layers(layers, 2), calibration_images=0)
    save_graph(graph, tmp_path / "graph" / stages.GRAPH_DIR)
    inputs = {"layers": SimpleNamespace(path=tmp_path / "layers"),
              "graph/N2": SimpleNamespace(path=tmp_path / "graph")}
    result = stages.ppa_step(StepContext("ppa/N2", params, inputs, tmp_path))  # type: ignore[arg-type]
    model = f"MobileNetV1 {m.width:g} @ {m.input_size}"
    assert result["system"]["model"] == model and result["system"]["arch"] == "mobilenet-v1"
    assert hardware_row(result)["model"] == model
    assert result["system"]["hybrid"]["ops_per_frame"] == 2 * sum(x.macs for x in layers)
