"""A pipeline step as an executor unit: it runs where the executor puts it, possibly on
another machine, so its inputs and outputs travel as file contents, not paths.

The unit rebuilds its input artifacts' directories in a temporary directory, runs the step
function there and returns (result, {relative path: bytes} of what it wrote, seconds); the
runner writes those files into the step's work directory and finishes the artifact as for a
step run in place. The hardware steps' files are small (a graph's `weights.npz` and JSON,
Verilog, summaries), so shipping them costs little.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fixynn.pipeline.runner import Artifact, StepContext, StepFn

Files = dict[str, bytes]


def read_files(root: Path) -> Files:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def write_files(root: Path, files: Files) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def shipped_inputs(inputs: Mapping[str, Artifact]) -> dict[str, tuple[Artifact, Files]]:
    return {name: (art, read_files(art.path)) for name, art in inputs.items()}


def step_unit(fn: StepFn, step: str, params: Mapping[str, Any],
              inputs: dict[str, tuple[Artifact, Files]]) -> tuple[dict[str, Any], Files, float]:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fixynn-step-") as tmp:
        root = Path(tmp)
        local: dict[str, Artifact] = {}
        for index, (name, (art, files)) in enumerate(inputs.items()):
            write_files(root / "inputs" / str(index), files)
            local[name] = dataclasses.replace(art, path=root / "inputs" / str(index))
        work = root / "work"
        work.mkdir()
        ctx = StepContext(step=step, params=params, inputs=local, work_dir=work)
        result = fn(ctx)
        return result, read_files(work), time.perf_counter() - start
