"""A transfer sweep and pipeline steps as executor units, locally and on a real local Ray
cluster (`ray.init(num_cpus=2)`, conftest.py): same results, a killed worker retried or
reported by name, finished results kept, a rerun doing only what is missing."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from fixynn.config import replace_keys
from fixynn.executors import Executor, Unit, UnitCallback, UnitsFailed, make_executor
from fixynn.pipeline.runner import Runner, Step, StepContext
from fixynn.train.mobilenet import FIXED, PRETRAINED
from fixynn.train.transfer import TRAINING, run_transfer
from presets import mobilenet_config
from test_executors import die_then_run


class KillUnit(Executor):
    """`inner`, except that unit `victim`'s worker is killed (see die_then_run); records the
    names of the units it was given."""

    def __init__(self, inner: Executor, victim: str, marker: str | None) -> None:
        super().__init__()
        self.inner, self.victim, self.marker = inner, victim, marker
        self.submitted: list[str] = []

    def describe(self) -> str:
        return self.inner.describe()

    def run(self, units: Sequence[Unit], on_result: UnitCallback) -> None:
        self.submitted += [u.name for u in units]
        self.inner.run([Unit(u.name, die_then_run, (self.marker, u.fn, *u.args))
                        if u.name == self.victim else u for u in units], on_result)


SWEEP = replace_keys(mobilenet_config(("transfer",)), {
    "tasks.targets": ["opencv-digits"], "sweep.n_list": [0, 3], "train.pretrain_epochs": 1,
    "train.finetune_epochs": 1, "train.transfer_epochs": 1, "train.batch_size": 16,
    "train.max_source_images": 48, "train.max_train_images": 48, "train.max_test_images": 32,
    "train.seed": 5, "train.repeats": 2, "train.workers": 1,
})


def rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in summary["results"]]


def test_ray_sweep_equals_local_keeps_finished_results_and_redoes_only_the_rest(
        ray_cluster, tmp_path: Path) -> None:
    local = run_transfer(SWEEP, tmp_path / "local", progress=False)  # in this process
    out = tmp_path / "ray"
    for kind in (PRETRAINED, FIXED):  # the same fixed front-end
        shutil.copytree(tmp_path / "local" / "cache" / kind, out / "cache" / kind)
    victim = "opencv-digits/N3/r1"
    with make_executor("ray", workers=2) as ray:
        with pytest.raises(UnitsFailed, match=f"unit '{victim}' failed: its worker process died"):
            run_transfer(SWEEP, out, progress=False, executor=KillUnit(ray, victim, None))
        kept = {p: p.stat().st_mtime_ns for p in (out / "cache" / TRAINING).iterdir()}
        assert len(kept) == 3 * 2 - 1  # (baseline, N = 0, 3) x 2 repeats
        rerun = KillUnit(ray, victim, str(tmp_path / "marker"))  # killed once, then retried
        summary = run_transfer(SWEEP, out, progress=False, executor=rerun)
    assert rerun.submitted == ["opencv-digits/features", victim]  # only what was missing
    assert (tmp_path / "marker").exists()
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in kept.items())
    assert summary["executor"] == "Ray, 2 CPUs"
    assert rows(summary) == rows(local)  # same seeds, same CPU kernels: the same numbers
    assert summary["baselines"] == local["baselines"]


def write_square(ctx: StepContext) -> dict[str, Any]:
    value = ctx.params["x"] ** 2
    (ctx.work_dir / "out" / "value.txt").parent.mkdir()
    (ctx.work_dir / "out" / "value.txt").write_text(str(value))
    return {"value": value}


def add_files(ctx: StepContext) -> dict[str, Any]:
    """Reads its inputs' files: they must have reached wherever this ran."""
    return {"value": sum(int((a.path / "out" / "value.txt").read_text())
                         for a in ctx.inputs.values())}


@pytest.mark.parametrize("kind", ["local", "ray"])
def test_remote_steps_give_the_artifacts_of_steps_run_in_place(kind: str, request,
                                                               tmp_path: Path) -> None:
    if kind == "ray":
        request.getfixturevalue("ray_cluster")
    steps = [Step("sq/a", "sq", write_square, {"x": 3}, remote=True),
             Step("sq/b", "sq", write_square, {"x": 4}, remote=True),
             Step("sum", "sum", add_files, {}, deps=("sq/a", "sq/b"), remote=True)]
    in_place = Runner(tmp_path / "in-place").run(steps)
    with make_executor(kind, workers=2) as executor:
        units = Runner(tmp_path / kind, executor=executor).run(steps)
    assert list(units) == ["sq/a", "sq/b", "sum"]
    assert units["sum"].result == {"value": 25}
    for name, art in in_place.items():
        assert units[name].digest == art.digest and units[name].key == art.key
    assert (units["sq/b"].path / "out" / "value.txt").read_text() == "16"
