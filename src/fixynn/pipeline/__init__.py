"""`fixynn run`: the stages of the end-to-end job and their content-addressed artifact cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fixynn.atomic import atomic_write_text
from fixynn.config import Config, config_to_toml
from fixynn.data.preview import contact_sheet
from fixynn.data.tasks import TaskData
from fixynn.executors import Executor, local_workers, make_executor
from fixynn.pipeline.collect import collect_results
from fixynn.pipeline.plan import plan_steps
from fixynn.pipeline.runner import Artifact, Events, Runner
from fixynn.report import write_report


def run_executor(cfg: Config) -> Executor:
    """The executor of every unit of the run: `run.executor`, `train.workers` local processes
    (0 = one per core) with `train.threads` threads each, or the Ray cluster at
    `run.ray_address` (else RAY_ADDRESS, else a new local one)."""
    workers = local_workers(cfg.train.workers, cfg.train.threads)
    return make_executor(cfg.run.executor, workers, cfg.train.threads, cfg.run.ray_address)


@dataclass(frozen=True)
class RunOutcome:
    artifacts: dict[str, Artifact]
    not_run: list[str]
    report: dict[str, Path]  # empty when the report stage is left out


def run_pipeline(cfg: Config, out_dir: str | Path, events: Events | None = None,
                 tasks: dict[str, TaskData] | None = None) -> RunOutcome:
    """Run (or reuse from the cache) every step of `cfg`, then write the report. `tasks`:
    the config's tasks if already prepared (`plan.prepare_tasks`)."""
    out_dir = Path(out_dir)
    plan = plan_steps(cfg, tasks)
    report: dict[str, Path] = {}
    with run_executor(cfg) as executor:
        runner = Runner(out_dir, events, executor)
        with runner.locked():
            artifacts = runner.run(plan.steps)
            atomic_write_text(out_dir / "config.toml", config_to_toml(cfg))  # what this ran
            if "report" in cfg.run.stages:
                provenance = [task.provenance for task in plan.tasks.values()]
                sheets = {f"task-{name}": contact_sheet(task.data)
                          for name, task in plan.tasks.items()}
                report = write_report(collect_results(cfg, artifacts, plan.not_run, provenance),
                                      out_dir, sheets)
    return RunOutcome(artifacts, plan.not_run, report)
