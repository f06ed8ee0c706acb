"""`fixynn run --quick` for real, through the CLI, from a cold cache: every stage, what the
report says, that training learns, and the failure paths a user hits (Ctrl-C, a corrupt
front-end file, a corrupt cache artifact, an RTL mismatch). About two minutes on 2 loaded cores.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import fixynn.hw.sim as sim
from fixynn.cli import main
from fixynn.hw.golden import run_graph
from fixynn.report.results import validate_results
from userdata import write_cifar10_bin, write_image_folder

pytestmark = pytest.mark.needs_data("fashion-mnist", "opencv-digits")

# Accuracy floors (fractions) of the quick run's tasks. Measured: the quick run's transfer
# (EfficientNet-Lite0 at 3x64x64, ImageNet weights) at seeds 0, 1 and 2 (300 test images per
# task, 2026-12-03). fashion-mnist-b (5 classes, chance 0.20): baseline 0.700 / 0.753 / 0.717;
# FixyNN mean over N = 2, 6: 0.755 / 0.753 / 0.750; lowest single N 0.720. opencv-digits
# (10 classes, chance 0.10): baseline 0.510 / 0.543 / 0.533; FixyNN mean 0.528 / 0.555 /
# 0.563; lowest single N 0.513. Floor = the lowest of the three seeds minus 3 binomial
# standard errors (300 images; 600 for a mean of two N), rounded down to 0.05.
FLOORS = {
    "fashion-mnist-b": {"baseline": 0.60, "fixynn_mean": 0.65, "fixynn_each": 0.60},
    "opencv-digits": {"baseline": 0.40, "fixynn_mean": 0.45, "fixynn_each": 0.40},
}
SECTIONS = ["Recommended design", "Tasks and their data", "Accuracy per task and N",
            "Hardware per N", "Accuracy vs. efficiency",
            "Bit-exact verification (RTL vs. golden)", "Synthesis (Yosys)", "Environment",
            "Pipeline steps"]
TIMEOUT_S = 1200


@dataclass
class QuickRun:
    out: Path
    interrupted: subprocess.CompletedProcess
    first_piece: Path  # finished before the Ctrl-C (the calibrated weights)
    first_piece_stat: tuple[int, int]  # (inode, mtime_ns) once restored after the corruption
    corrupt: subprocess.CompletedProcess
    cold: subprocess.CompletedProcess
    cold_s: float


def _run(cmd: list[str], out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*cmd, "run", "--quick", "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def _interrupt_after_calibration(cmd: list[str], out: Path) -> tuple[subprocess.
                                                                     CompletedProcess, Path]:
    """Ctrl-C (SIGINT) once the calibrated front-end's weights, the first finished piece,
    exist."""
    # SIGINT at its default in the child: a shell starts background jobs with it ignored
    proc = subprocess.Popen([*cmd, "run", "--quick", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + TIMEOUT_S
    found: list[Path] = []
    while not found and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        found = list((out / "cache" / "calibrated").glob("[!.]*/graph/weights.npz"))  # sealed
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert found, f"no calibrated front-end appeared (exit {proc.returncode}): {stderr[-2000:]}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), found[0]


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory, fixynn_cmd: list[str]) -> QuickRun:
    out = tmp_path_factory.mktemp("quick") / "out"
    start = time.monotonic()
    interrupted, piece = _interrupt_after_calibration(fixynn_cmd, out)
    good = piece.read_bytes()
    piece.write_bytes(b"not an npz file")
    corrupt = _run(fixynn_cmd, out)
    piece.write_bytes(good)  # in place: a recalibration would replace the file (new inode)
    stat = (piece.stat().st_ino, piece.stat().st_mtime_ns)
    cold = _run(fixynn_cmd, out)
    assert cold.returncode == 0, cold.stderr[-3000:]
    return QuickRun(out, interrupted, piece, stat, corrupt, cold, time.monotonic() - start)


def test_ctrl_c_exits_130_and_keeps_finished_work(quick: QuickRun) -> None:
    assert quick.interrupted.returncode == 130, quick.interrupted.stderr[-2000:]
    assert ("fixynn: interrupted; finished work is kept, rerun to resume"
            in quick.interrupted.stderr)
    assert "Traceback" not in quick.interrupted.stderr
    # the rerun resumed from the front-end calibrated before the Ctrl-C: not redone
    assert (quick.first_piece.stat().st_ino, quick.first_piece.stat().st_mtime_ns) == \
        quick.first_piece_stat


def test_corrupt_front_end_is_one_line_exit_2(quick: QuickRun) -> None:
    err = quick.corrupt.stderr.strip()
    assert quick.corrupt.returncode == 2, err[-2000:]
    last = err.splitlines()[-1]
    assert last.startswith("fixynn: error: ") and str(quick.first_piece) in last
    assert "unreadable calibrated front-end" in last and "delete its folder" in last


def test_report_sections_verdicts_and_learning(quick: QuickRun) -> None:
    out = quick.out
    print(f"quick run, interrupted + corrupt + cold: {quick.cold_s:.0f} s")
    doc = json.loads((out / "results.json").read_text())
    validate_results(doc)
    assert doc["not_run"] == []
    n_list = doc["config"]["sweep"]["n_list"]
    tasks = doc["config"]["tasks"]["targets"]
    assert sorted((r["task"], r["n"]) for r in doc["accuracy"]) == sorted(
        (t, n) for t in tasks for n in n_list)
    assert [r["n"] for r in doc["hardware"]] == sorted(n_list)
    assert all(r["hybrid"]["tops_per_w"] > 0 for r in doc["hardware"])
    verified = doc["verification"]
    assert [r["n"] for r in verified] == doc["config"]["verify"]["n_list"]
    assert all(r["mismatches"] == 0 and r["outputs_compared"] > 0 for r in verified)
    assert all(r["images"] == doc["config"]["verify"]["images"] for r in verified)
    assert doc["synthesis"] and all(r["cells"] > 0 for r in doc["synthesis"])

    report = (out / "report.md").read_text()
    assert [line[3:] for line in report.splitlines() if line.startswith("## ")] == SECTIONS
    assert "PASS: every compared output matches the golden executor." in report
    assert "FAIL" not in report
    assert (out / "report.html").stat().st_size > 10_000
    assert f"Report: {out / 'report.html'}" in " ".join(quick.cold.stdout.split())

    classes = {row["task"]: row["classes"] for row in doc["task_data"]}
    for task in tasks:
        rows = [r for r in doc["accuracy"] if r["task"] == task]
        floor, chance = FLOORS[task], 1 / len(classes[task])
        assert floor["fixynn_mean"] > 1.4 * chance  # the floors are well above chance
        assert rows[0]["baseline_acc"] >= floor["baseline"], rows
        assert sum(r["fixynn_acc"] for r in rows) / len(rows) >= floor["fixynn_mean"], rows
        if floor["fixynn_each"] is not None:
            assert min(r["fixynn_acc"] for r in rows) >= floor["fixynn_each"], rows


def test_warm_rerun_does_no_work(quick: QuickRun, fixynn_cmd: list[str]) -> None:
    before = json.loads((quick.out / "results.json").read_text())
    warm = _run(fixynn_cmd, quick.out)
    assert warm.returncode == 0, warm.stderr[-3000:]
    again = json.loads((quick.out / "results.json").read_text())
    assert all(s["cached"] for s in again["stages"])
    assert again["accuracy"] == before["accuracy"] and again["hardware"] == before["hardware"]


def test_corrupt_cache_artifact_is_redone(quick: QuickRun, fixynn_cmd: list[str]) -> None:
    before = json.loads((quick.out / "results.json").read_text())
    step = next(s for s in before["stages"] if s["step"] == "ppa/N2")
    artifact = quick.out / "cache" / "ppa" / step["key"] / "artifact.json"
    artifact.write_text('{"truncated": ')
    rerun = _run(fixynn_cmd, quick.out)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    after = json.loads((quick.out / "results.json").read_text())
    redone = [s["step"] for s in after["stages"] if not s["cached"]]
    assert redone == ["ppa/N2"]
    assert after["hardware"] == before["hardware"]
    assert "unreadable artifact" in (quick.out / "fixynn.log").read_text()


def test_rtl_mismatch_fails_the_run_and_the_report(quick: QuickRun, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Last on the shared run: it leaves a FAIL report. The golden model disagrees by one."""
    cfg = tmp_path / "three.toml"
    # a new verify key (the RTL build is cached); one worker: steps run in this process, where
    # the golden model is patched
    cfg.write_text("[verify]\nimages = 3\n[train]\nworkers = 1\n")
    monkeypatch.setattr(sim, "run_graph", lambda g, x: [o + 1 for o in run_graph(g, x)])
    monkeypatch.setattr(sys, "argv", ["fixynn", "run", "--quick", "--config", str(cfg),
                                      "--out", str(quick.out)])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    stdout = capsys.readouterr().out
    assert "RTL mismatches the golden model in verify/N2" in stdout
    doc = json.loads((quick.out / "results.json").read_text())
    bad = doc["verification"][0]
    assert bad["images"] == 3 and bad["mismatches"] == bad["outputs_compared"] > 0
    assert f"FAIL: {bad['mismatches']} mismatching outputs." in (
        quick.out / "report.md").read_text()


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
def test_quick_run_on_user_tasks(tmp_path: Path, fixynn_cmd: list[str]) -> None:
    """An image folder and CIFAR-format files defined as tasks, through to the report; one
    changed image then retrains only the task that uses it."""
    write_image_folder(tmp_path / "pics")
    write_cifar10_bin(tmp_path / "cifar")
    config, out = tmp_path / "my.toml", tmp_path / "out"
    config.write_text(USER_TASKS)
    command = [*fixynn_cmd, "run", "--quick", "--config", str(config), "--out", str(out)]
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

    trainings = out / "cache" / "training"  # one artifact per training
    before = {p.name for p in trainings.iterdir()}
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "pics" / "red" / "img01.png")
    warm = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert warm.returncode == 0, warm.stderr[-3000:]
    again = json.loads((out / "results.json").read_text())
    retrained = {json.loads((trainings / name / "artifact.json").read_text())["unit"]
                 for name in {p.name for p in trainings.iterdir()} - before}
    assert retrained and {unit.split("/")[0] for unit in retrained} == {"my-colours"}
    reran = {s["step"] for s in again["stages"] if not s["cached"]}
    assert "transfer" in reran and not any(s.startswith(("rtl/", "verify/")) for s in reran)
    changed = {r["task"]: r for r in again["task_data"]}
    assert changed["my-colours"]["content_digest"] != data["my-colours"]["content_digest"]
    assert changed["my-cifar"]["content_digest"] == data["my-cifar"]["content_digest"]
