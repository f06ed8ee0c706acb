"""The report: results schema, recommendation, plots, Markdown and HTML (in headless Chromium)."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fixynn.data.preview import contact_sheet
from fixynn.data.types import Dataset
from fixynn.errors import FixynnError
from fixynn.report import plots, write_report
from fixynn.report.plots import PLOTS, pareto_front
from fixynn.report.results import (
    SCHEMA,
    SCHEMA_VERSION,
    SPEC,
    largest_n_per_task,
    recommend,
    validate_results,
)

NS = (0, 2, 7, 14)


def _metrics(tops_per_w: float, fps: float, area: float) -> dict[str, float]:
    return {"tops_per_w": tops_per_w, "fps": fps, "area_mm2": area,
            "energy_per_frame_uj": 10.0 / tops_per_w}


def sample_results() -> dict[str, Any]:
    """A complete results document: loss grows with N, each with a 95% interval of +-0.15
    points; task 'b' is inconclusive at N = 7 (mean 0.9%, upper bound 1.05%) and fails at 14."""
    losses = {"a": {0: 0.0, 2: 0.001, 7: 0.004, 14: 0.008},
              "b": {0: 0.0, 2: 0.002, 7: 0.009, 14: 0.031}}
    hardware = [{"n": n, "ffe": None if n == 0 else _metrics(40.0 + n, 900.0, 0.1 * n),
                 "hybrid": _metrics(2.0 + n, 100.0 + 10 * n, 1.5),
                 "iso_area_programmable": _metrics(2.0, 100.0, 1.5),
                 "ratios": {"tops_per_w": (2.0 + n) / 2.0, "fps": (100.0 + 10 * n) / 100.0,
                            "energy_per_frame": 2.0 / (2.0 + n)},
                 "configs": {"hybrid": "16x8 32/64/32 R", "iso_area_programmable": "64x32 ...",
                             "handoff": "dram" if n else "-"}} for n in NS]
    verdicts = {("a", 14): "holds", ("b", 7): "inconclusive", ("b", 14): "fails"}
    accuracy = [{"task": t, "n": n, "baseline_acc": 0.9, "fixynn_acc": 0.9 - loss, "loss": loss,
                 "loss_se": 0.0008, "loss_ci95": [loss - 0.0015, loss + 0.0015],
                 "verdict": verdicts.get((t, n), "holds"), "repeats": 3}
                for t, per_n in losses.items() for n, loss in per_n.items()]
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "created_utc": "2026-01-01T00:00:00Z",
        "config": {"sweep": {"n_list": list(NS)},
                   "hardware": {"sizing": "search", "fps_floor": 30.0, "batch": 1,
                                "weight_storage": "auto", "handoff": "auto", "area_mm2": 0.0}},
        "environment": {"python": "3.11", "fixynn": "0.1.0", "torch": "2.13.0", "numpy": "2.0",
                        "verilator": "5.048", "yosys": None, "git_revision": "abc123",
                        "platform": "linux", "seed": 0},
        "tasks": {"source": "src", "targets": ["a", "b"], "arch": "mobilenet-v1",
                  "front_end": "Source task `src`: float 90.00%."},
        "task_data": [{"task": t, "dataset": f"folder:/data/{t}", "root": None,
                       "definition": {"name": t, "dataset": f"folder:/data/{t}"},
                       "defined_in": f"my.toml: tasks.define[0] ({t})", "files": 12,
                       "content_digest": "c0ffee" * 10 + t * 4, "data_key": "d" * 64,
                       "split": "the dataset's own", "input_shape": [3, 32, 32],
                       "classes": ["cat", "dog"], "train_images": 10, "test_images": 2,
                       "train_per_class": [5, 5], "test_per_class": [1, 1]}
                      for t in ("src", "a", "b")],
        "accuracy": accuracy,
        "hardware": hardware,
        "ffe_area_breakdown": [{"n": 14, "layer": f"b{i}", "adders_mm2": 0.01 * (i + 1),
                                "registers_mm2": 0.002, "line_buffers_mm2": 0.005,
                                "other_mm2": 0.001}
                               for i in range(5)],
        "verification": [{"n": n, "mode": "layers", "images": 100, "top_images": 2,
                          "top_simulator": "icarus",
                          "outputs_compared": 1000 * n, "mismatches": 0, "build_s": 3.0,
                          "sim_s": 1.0, "wall_s": 4.5, "verilog_bytes": 250_000 * n,
                          "stages": [{"stage": f"b{i}_dw+b{i}_pw", "verilog_bytes": 20_000,
                                      "build_s": 1.5, "sim_s": 0.25, "cached_build": i == 0,
                                      "outputs_compared": 70 * n, "mismatches": 0}
                                     for i in range(n)]} for n in (7, 14)],
        "rtl": [{"n": n, "verilog_bytes": 250_000 * n} for n in (2, 7, 14)],
        "synthesis": [{"n": 14, "layer": "b0_conv", "cells": 1234, "gate_equivalents": 2345.5,
                       "flip_flops": 40, "library": "osu018_stdcells", "area_um2": 56292.0,
                       "critical_path_ns": 3.75, "f_max_mhz": 266.7,
                       "clock_target_ns": 2.0}],
        "recommended": recommend(accuracy, hardware),
        "loss_budget": 0.01,
        "paper_reference": [],
        "stages": [{"step": "transfer", "stage": "transfer", "key": "f" * 64, "cached": True,
                    "seconds": 12.5}],
        "not_run": [],
    }


def test_recommend_picks_largest_n_that_holds() -> None:
    rec = sample_results()["recommended"]
    assert rec["n"] == 2  # N = 7's mean loss is below 1% on both tasks, but b's is not sure
    assert rec["max_loss"] == pytest.approx(0.002)
    assert rec["max_loss_high"] == pytest.approx(0.0035)
    assert rec["hybrid"]["tops_per_w"] == pytest.approx(4.0)
    assert rec["ratios"]["tops_per_w"] == pytest.approx(2.0)


def test_recommend_none_when_nothing_holds() -> None:
    rows = [{"task": "a", "n": 1, "loss": 0.002, "loss_ci95": [-0.01, 0.014],
             "verdict": "inconclusive"}]
    assert recommend(rows, []) is None
    assert recommend([], []) is None


def test_largest_n_per_task() -> None:
    rows = [{"task": t, "n": n, "verdict": v} for t, n, v in [
        ("a", 7, "holds"), ("a", 2, "holds"), ("a", 14, "fails"), ("b", 2, "inconclusive"),
        ("b", 7, "fails")]]
    assert largest_n_per_task(rows) == {"a": 7, "b": None}


def test_pareto_front_drops_dominated_points() -> None:
    pts = [(1.0, 0.0), (2.0, 0.5), (1.5, 0.6), (3.0, 2.0), (2.5, 3.0)]
    assert pareto_front(pts) == [(1.0, 0.0), (2.0, 0.5), (3.0, 2.0)]


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.pop("hardware"), r"results.json.hardware: missing"),
    (lambda d: d["accuracy"][1].update(loss="x"), r"accuracy\[1\].loss: expected float"),
    (lambda d: d["verification"][0].update(mismatches=True), r"mismatches: expected int"),
    (lambda d: d.update(schema_version=99), "regenerate"),
])
def test_validate_results_names_the_bad_key(mutate, message: str) -> None:
    doc = sample_results()
    mutate(doc)
    with pytest.raises(FixynnError, match=message):
        validate_results(doc)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    write_report(sample_results(), out, SHEETS)
    return out


def _sheet(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    labels = np.array([0, 1, 0, 1], dtype=np.int64)
    return contact_sheet(Dataset("t", images, labels, images, labels, ("cat", "dog")))


SHEETS = {f"task-{t}": _sheet(i) for i, t in enumerate(("src", "a", "b"))}


def test_results_json_round_trips_with_every_schema_key(report_dir: Path) -> None:
    doc = json.loads((report_dir / "results.json").read_text())
    validate_results(doc)
    assert set(doc) == set(SPEC)
    assert doc["recommended"]["n"] == 2


def test_plots_are_valid_pngs(report_dir: Path) -> None:
    for name in PLOTS:
        with Image.open(report_dir / "plots" / f"{name}.png") as img:
            img.verify()
            assert img.format == "PNG" and img.size[0] > 300 and img.size[1] > 200


def test_markdown_has_no_empty_section(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    sections = re.split(r"^## ", md, flags=re.M)[1:]
    assert len(sections) == 9
    for sec in sections:
        title, _, body = sec.partition("\n")
        assert body.strip(), f"section {title!r} is empty"
    # a left-out N: its size from this run's RTL beside the largest verified N's cost
    assert "Not verified in this run (not in `verify.n_list`): N = 2 (0.5 MB of Verilog, 0.1x " \
        "N = 14). The largest N verified here is N = 14 (3.5 MB, verified in 4 s wall)" in md
    # per N, then per stage: mode, sizes, times, cache hits
    assert "| 14 | layers | 100 | 2 | icarus | 3.50 | 14000 | 0 | 3 | 1 | 4.5 |" in md
    assert "| 7 | b0_dw+b0_pw | verilator | 100 | 0.020 | 490 | 0 | 1.5 | yes | 0.25 |" in md
    assert md.count("| b6_dw+b6_pw |") == 2 and md.count("| b13_dw+b13_pw |") == 1
    assert "**N = 2**" in md and "upper bound 0.35%" in md
    assert "| b | 7 | 90.00% | 89.10% | 0.90% | [0.75%, 1.05%] | inconclusive |" in md
    assert "| b | 14 | 90.00% | 86.90% | 3.10% | [2.95%, 3.25%] | fails |" in md
    assert "means of 3 independently seeded trainings" in md
    assert "Per task, the largest N at which a loss below 1.00% holds: `a` N = 14; `b` N = 2." in md
    # synthesis: the derived clock (3.75 ns path) against the 2 ns target, fps scaled by it
    assert "Derived clock of the synthesized layers: 267 MHz, set by b0_conv" in md
    assert "against the assumed clock of 500 MHz" in md
    assert "at 267 MHz the N = 14 FFE runs at 480 fps instead of 900" in md
    for name in (*PLOTS, *SHEETS):
        assert f"(plots/{name}.png)" in md
    assert ("| a | folder:/data/a | 12 | c0ffeec0ffeec0ff | 2 | 10 | 2 | 3x32x32 | the "
            "dataset's own |") in md


def test_hardware_section_states_the_sizing_and_configurations(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    assert "sized by design-space search" in md and ">= 30 fps" in md
    assert "| 16x8 32/64/32 R | dram | 64x32 ... |" in md


def test_ratio_plot_with_and_without_a_qualified_n() -> None:
    doc = sample_results()
    with_n = plots.ratio(doc)
    doc["recommended"] = None
    without = plots.ratio(doc)
    assert with_n is not None and without is not None and with_n != without
    doc["hardware"] = []
    assert plots.ratio(doc) is None


def test_sections_say_why_when_stages_did_not_run(tmp_path: Path) -> None:
    doc = sample_results()
    for key in ("accuracy", "hardware", "ffe_area_breakdown", "verification", "synthesis",
                "task_data"):
        doc[key] = []
    doc["recommended"] = None
    doc["not_run"] = ["synth: disabled in run.stages"]
    write_report(doc, tmp_path)
    md = (tmp_path / "report.md").read_text()
    for sec in re.split(r"^## ", md, flags=re.M)[1:]:
        assert sec.partition("\n")[2].strip()
    assert "did not run" in md and "Not run: synth: disabled in run.stages." in md
    assert not (tmp_path / "plots").exists()


def test_html_embeds_every_plot(report_dir: Path) -> None:
    page = (report_dir / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(PLOTS) + len(SHEETS)
    assert 'alt="task a: first training images per class, as fed"' in page
    assert "<b>N = 2</b>" in page and "src=\"plots/" not in page


def test_bad_results_write_nothing(tmp_path: Path) -> None:
    doc = copy.deepcopy(sample_results())
    del doc["stages"]
    with pytest.raises(FixynnError):
        write_report(doc, tmp_path)
    assert list(tmp_path.iterdir()) == []


CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.setAttribute('data-img-check', ok + '/' + imgs.length);
});
</script></body>"""


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_html_images_load_in_headless_chromium(report_dir: Path, tmp_path: Path) -> None:
    page = (report_dir / "report.html").read_text().replace("</body>", CHECK_SCRIPT)
    probe = tmp_path / "probe.html"
    probe.write_text(page)
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    match = re.search(r'data-img-check="(\d+)/(\d+)"', dom)
    assert match, "the check script did not run"
    assert match.group(1) == match.group(2) == str(len(PLOTS) + len(SHEETS))


def test_report_states_where_the_ffe_activity_comes_from(tmp_path: Path) -> None:
    # the FFE estimate as the ppa stage stores it, through collect into the report: the
    # measured default activity and its spread must reach report.md
    from fixynn.hw.ir import HwGraph, HwLayer
    from fixynn.hw.ppa.ffe import MEASURED_SPREAD, estimate_ffe
    from fixynn.hw.ppa.tech import load_tech
    from fixynn.pipeline.collect import hardware_row
    from fixynn.pipeline.stages import _plain

    layer = HwLayer(
        name="pw", kind="pointwise", in_channels=2, out_channels=1, kernel=1, stride=1,
        padding=0, weight=np.array([3, 1]).reshape(1, 2, 1, 1), bias=np.zeros(1),
        weight_bits=4, weight_frac=np.zeros(1), in_bits=4, in_frac=4, out_bits=4, out_frac=4,
        activation="relu")
    ffe = _plain(estimate_ffe(HwGraph("t", 2, 4, 4, (layer,), input_bits=4, input_frac=4),
                              load_tech("45nm")))
    results = sample_results()
    for h in results["hardware"]:
        if h["ffe"] is not None:
            system = {name: h[name] for name in ("hybrid", "iso_area_programmable")}
            h["ffe"] = hardware_row({"n": h["n"], "system": {**system, "ratios": h["ratios"]},
                                     "ffe": {**ffe, **h["ffe"]}})["ffe"]
    write_report(results, tmp_path, SHEETS)
    md = (tmp_path / "report.md").read_text()
    assert f"(measured default: {MEASURED_SPREAD})" in md
    assert "every flip-flop clocked every cycle (no clock gating)" in md
