"""`fixynn run --quick` for real: every stage, then a warm rerun that does no work (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fixynn.report.results import validate_results
from userdata import write_cifar10_bin, write_image_folder

FIXYNN = Path(sys.executable).parent / "fixynn"


@pytest.mark.slow
def test_quick_run_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cold = subprocess.run([str(FIXYNN), "run", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=1200)
    assert cold.returncode == 0, cold.stderr[-3000:]
    doc = json.loads((out / "results.json").read_text())
    validate_results(doc)
    assert doc["not_run"] == []
    n_list = doc["config"]["sweep"]["n_list"]
    assert sorted({r["n"] for r in doc["accuracy"]}) == sorted(n_list)
    assert [r["n"] for r in doc["hardware"]] == sorted(n_list)
    assert doc["verification"] and all(r["mismatches"] == 0 for r in doc["verification"])
    assert all(r["images"] == doc["config"]["verify"]["images"] for r in doc["verification"])
    assert doc["synthesis"] and all(r["cells"] > 0 for r in doc["synthesis"])
    assert all(0.0 <= r["fixynn_acc"] <= 1.0 for r in doc["accuracy"])
    assert (out / "report.html").stat().st_size > 10_000
    assert "Report:" in cold.stdout and (out / "fixynn.log").is_file()

    warm = subprocess.run([str(FIXYNN), "run", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert warm.returncode == 0, warm.stderr[-3000:]
    again = json.loads((out / "results.json").read_text())
    assert all(s["cached"] for s in again["stages"])
    assert again["accuracy"] == doc["accuracy"] and again["hardware"] == doc["hardware"]


USER_TASKS = """
[tasks]
targets = ["my-colours", "my-cifar"]

[[tasks.define]]
name = "my-colours"
dataset = "folder:pics"
why = "an image folder: three colour classes"

[[tasks.define]]
name = "my-cifar"
dataset = "cifar10"
root = "cifar"
classes = ["airplane", "cat", "ship"]

[model]
in_channels = 3
"""


@pytest.mark.slow
def test_quick_run_on_user_tasks(tmp_path: Path) -> None:
    """An image folder and CIFAR-format files defined as tasks, through to the report; one
    changed image then retrains only the task that uses it."""
    write_image_folder(tmp_path / "pics")
    write_cifar10_bin(tmp_path / "cifar")
    config, out = tmp_path / "my.toml", tmp_path / "out"
    config.write_text(USER_TASKS)
    command = [str(FIXYNN), "run", "--quick", "--config", str(config), "--out", str(out)]
    cold = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert cold.returncode == 0, cold.stderr[-3000:]
    doc = json.loads((out / "results.json").read_text())
    validate_results(doc)
    assert doc["not_run"] == [] and doc["tasks"]["targets"] == ["my-colours", "my-cifar"]
    data = {row["task"]: row for row in doc["task_data"]}
    assert set(data) == {"fashion-mnist-a", "my-colours", "my-cifar"}
    assert all(row["input_shape"] == [3, 28, 28] for row in data.values())
    assert data["my-colours"]["files"] == 30 and data["my-colours"]["classes"] == [
        "blue", "green", "red"]
    assert data["my-cifar"]["root"] == str(tmp_path / "cifar")
    assert data["my-cifar"]["classes"] == ["airplane", "cat", "ship"]
    assert (data["my-cifar"]["train_images"], data["my-cifar"]["test_images"]) == (30, 6)
    n_list = doc["config"]["sweep"]["n_list"]
    assert sorted((r["task"], r["n"]) for r in doc["accuracy"]) == sorted(
        (t, n) for t in ("my-colours", "my-cifar") for n in n_list)
    assert doc["verification"] and all(r["mismatches"] == 0 for r in doc["verification"])
    page = (out / "report.html").read_text()
    for task in data:
        assert f'alt="task {task}: first training images per class, as fed"' in page
    assert (out / "plots" / "task-my-colours.png").is_file()

    results = out / "work" / "transfer" / "results"
    before = {p.name for p in results.glob("*/*")}
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "pics" / "red" / "img01.png")
    warm = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert warm.returncode == 0, warm.stderr[-3000:]
    again = json.loads((out / "results.json").read_text())
    retrained = {p.name for p in results.glob("*/*")} - before
    assert [name.rsplit("-", 1)[0] for name in retrained] == ["my-colours"]
    reran = {s["step"] for s in again["stages"] if not s["cached"]}
    assert "transfer" in reran and not any(s.startswith(("rtl/", "verify/")) for s in reran)
    changed = {r["task"]: r for r in again["task_data"]}
    assert changed["my-colours"]["content_digest"] != data["my-colours"]["content_digest"]
    assert changed["my-cifar"]["content_digest"] == data["my-cifar"]["content_digest"]
