"""`results.json`: the versioned, documented record of one run (docs/results-schema.md).

Accuracies and losses are fractions in 0..1; `loss = baseline_acc - fixynn_acc` (positive =
FixyNN is worse). Each (task, N) has a 95% interval of the loss and a verdict on the loss
budget (1%): holds, fails or inconclusive (`fixynn.train.verdict`). The recommended design is
the largest N at which the budget holds for every task.
"""

from __future__ import annotations

from typing import Any

from fixynn.errors import FixynnError
from fixynn.train.verdict import BUDGET_POINTS, largest_holding_n

SCHEMA = "fixynn-results"
SCHEMA_VERSION = 6
LOSS_BUDGET = BUDGET_POINTS / 100

# Headline results of the paper (Whatmough et al., "FixyNN: Efficient Hardware for Mobile
# Computer Vision via Transfer Learning", SysML 2019, abstract and Sec. 5): MobileNetV1 at
# 224x224 in a 16 nm class node, versus an iso-area programmable accelerator.
PAPER_POINTS: tuple[dict[str, Any], ...] = (
    {
        "label": "paper: fully fixed",
        "tops_per_w": 26.6,
        "ratio_vs_iso_area": 4.81,
        "max_loss": None,
    },
    {
        "label": "paper: < 1% loss",
        "tops_per_w": 11.2,
        "ratio_vs_iso_area": 2.0,
        "max_loss": LOSS_BUDGET,
    },
)

# Required keys (and their JSON types) of each part of the document; rows of a list share one
# spec. Documented field by field in docs/results-schema.md.
METRICS = {"tops_per_w": float, "fps": float, "area_mm2": float, "energy_per_frame_uj": float}
SPEC: dict[str, Any] = {
    "schema": str,
    "schema_version": int,
    "created_utc": str,
    "config": dict,
    "environment": {
        "python": str,
        "fixynn": str,
        "torch": (str, type(None)),
        "numpy": str,
        "verilator": (str, type(None)),
        "yosys": (str, type(None)),
        "git_revision": (str, type(None)),
        "platform": str,
        "seed": int,
    },
    "tasks": {"source": str, "targets": list},
    "task_data": [
        {
            "task": str,
            "dataset": str,
            "root": (str, type(None)),
            "definition": dict,
            "defined_in": str,
            "files": int,
            "content_digest": str,
            "data_key": str,
            "split": str,
            "input_shape": list,
            "classes": list,
            "train_images": int,
            "test_images": int,
            "train_per_class": list,
            "test_per_class": list,
        }
    ],
    "accuracy": [
        {
            "task": str,
            "n": int,
            "baseline_acc": float,
            "fixynn_acc": float,
            "loss": float,
            "loss_se": (float, type(None)),
            "loss_ci95": list,
            "verdict": str,
            "repeats": int,
        }
    ],
    "hardware": [
        {
            "n": int,
            "ffe": (dict, type(None)),
            "hybrid": METRICS,
            "iso_area_programmable": METRICS,
            "ratios": dict,
        }
    ],
    "ffe_area_breakdown": [
        {
            "n": int,
            "layer": str,
            "adders_mm2": float,
            "registers_mm2": float,
            "line_buffers_mm2": float,
            "other_mm2": float,
        }
    ],
    "verification": [{"n": int, "mode": str, "images": int, "top_images": int,
                      "outputs_compared": int, "mismatches": int, "verilog_bytes": int,
                      "stages": [{"stage": str, "verilog_bytes": int, "build_s": float,
                                  "sim_s": float, "cached_build": bool,
                                  "outputs_compared": int, "mismatches": int}]}],
    "rtl": [{"n": int, "verilog_bytes": int}],
    "synthesis": [
        {"n": int, "layer": str, "cells": int, "gate_equivalents": float, "flip_flops": int,
         "library": (str, type(None)), "area_um2": (float, type(None)),
         "critical_path_ns": (float, type(None)), "f_max_mhz": (float, type(None)),
         "clock_target_ns": (float, type(None))}
    ],
    "recommended": (dict, type(None)),
    "loss_budget": float,
    "paper_reference": list,
    "stages": [{"step": str, "stage": str, "key": str, "cached": bool, "seconds": float}],
    "not_run": list,
}


def largest_n_per_task(accuracy: list[dict[str, Any]]) -> dict[str, int | None]:
    """Task -> the largest N at which the loss budget holds for that task alone (None if it
    holds at no N)."""
    out: dict[str, int | None] = {}
    for row in sorted(accuracy, key=lambda r: r["n"]):
        out.setdefault(row["task"], None)
        if row["verdict"] == "holds":
            out[row["task"]] = row["n"]
    return out


def recommend(
    accuracy: list[dict[str, Any]], hardware: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The largest N at which the loss budget holds for every task, with its hybrid
    efficiency."""
    n = largest_holding_n(accuracy, {r["task"] for r in accuracy})
    if n is None:
        return None
    at_n = [r for r in accuracy if r["n"] == n]
    hw = next((h for h in hardware if h["n"] == n), None)
    return {
        "n": n,
        "max_loss": max(r["loss"] for r in at_n),
        "max_loss_high": max(r["loss_ci95"][1] for r in at_n),
        "hybrid": hw["hybrid"] if hw else None,
        "iso_area_programmable": hw["iso_area_programmable"] if hw else None,
        "ratios": hw["ratios"] if hw else None,
    }


def validate_results(doc: Any, where: str = "results.json") -> None:
    """Raise FixynnError naming the first key that is missing or of the wrong type."""
    _check(doc, SPEC, where)
    if doc["schema"] != SCHEMA or doc["schema_version"] != SCHEMA_VERSION:
        raise FixynnError(
            f"{where}: schema {doc['schema']!r} v{doc['schema_version']} is not "
            f"{SCHEMA!r} v{SCHEMA_VERSION}; regenerate it with this fixynn"
        )


def _check(value: Any, spec: Any, where: str) -> None:
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise FixynnError(f"{where}: expected an object, got {type(value).__name__}")
        for key, sub in spec.items():
            if key not in value:
                raise FixynnError(f"{where}.{key}: missing")
            _check(value[key], sub, f"{where}.{key}")
    elif isinstance(spec, list):
        if not isinstance(value, list):
            raise FixynnError(f"{where}: expected a list, got {type(value).__name__}")
        for i, row in enumerate(value):
            _check(row, spec[0], f"{where}[{i}]")
    else:
        types = spec if isinstance(spec, tuple) else (spec,)
        # JSON has one number type: an integral float may arrive as an int
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            return
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            names = "/".join(t.__name__ for t in types)
            raise FixynnError(f"{where}: expected {names}, got {type(value).__name__}")
