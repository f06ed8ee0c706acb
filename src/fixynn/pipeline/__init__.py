"""`fixynn run`: the stages of the end-to-end job and their content-addressed artifact cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fixynn.atomic import atomic_write_text
from fixynn.config import Config, config_to_toml
from fixynn.data.preview import contact_sheet
from fixynn.data.tasks import TaskData
from fixynn.pipeline.collect import collect_results
from fixynn.pipeline.plan import plan_steps
from fixynn.pipeline.runner import Artifact, Events, Runner
from fixynn.report import write_report


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
    runner = Runner(out_dir, events)
    report: dict[str, Path] = {}
    with runner.locked():
        artifacts = runner.run(plan.steps)
        atomic_write_text(out_dir / "config.toml", config_to_toml(cfg))  # what this run ran
        if "report" in cfg.run.stages:
            provenance = [task.provenance for task in plan.tasks.values()]
            sheets = {f"task-{name}": contact_sheet(task.data) for name, task in plan.tasks.items()}
            report = write_report(collect_results(cfg, artifacts, plan.not_run, provenance),
                                  out_dir, sheets)
    return RunOutcome(artifacts, plan.not_run, report)
