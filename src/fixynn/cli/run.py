"""`fixynn run`: the end-to-end job, with a live progress display and a log file."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from fixynn.config import load_config
from fixynn.pipeline.runner import Artifact, Events, Step

DEFAULT_OUT = Path("fixynn-out")
LOG_NAME = "fixynn.log"
# Steps that draw their own progress bars (one live display at a time): ours pauses for them.
OWN_PROGRESS = {"transfer"}


class RichEvents(Events):
    """An overall bar for the steps, a spinner per running step, a summary line per step."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
                TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.overall = self.bars.add_task("steps", total=None)
        self.current: int | None = None
        self.paused = False

    def __enter__(self) -> RichEvents:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def started(self, step: Step, index: int, total: int) -> None:
        self.bars.update(self.overall, total=total, completed=index,
                         description=f"steps ({index}/{total})")
        if step.stage in OWN_PROGRESS:
            self.bars.stop()
            self.paused = True
            self.console.print(f"[bold]{step.name}[/]: running (its own progress follows)")
        else:
            self.current = self.bars.add_task(step.name, total=None)

    def finished(self, step: Step, artifact: Artifact) -> None:
        if self.current is not None:
            self.bars.remove_task(self.current)
            self.current = None
        if self.paused:
            self.bars.start()
            self.paused = False
        self.bars.advance(self.overall)
        how = "cached" if artifact.cached else f"done in {artifact.seconds:.1f} s"
        self.console.print(f"  [green]✓[/] {step.name}: {how}")


def _log_to(path: Path) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("fixynn")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return handler


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        config: Annotated[
            Path | None,
            typer.Option(
                "--config",
                help="TOML run config; keys not set keep their default (docs/config.md).",
            ),
        ] = None,
        quick: Annotated[
            bool, typer.Option("--quick", help="Smoke-test scale (<= 3 minutes), before --config.")
        ] = False,
        out: Annotated[Path, typer.Option("--out", help="Output directory.")] = DEFAULT_OUT,
    ) -> None:
        """Train -> fix -> RTL -> verify -> synthesize -> PPA -> report, resumable."""
        from fixynn.pipeline import run_pipeline  # heavy imports only when the command runs
        from fixynn.pipeline.plan import prepare_tasks

        cfg = load_config(config, quick=quick)
        # every task's data is loaded and checked before anything is written or trained
        tasks = prepare_tasks(cfg) if "transfer" in cfg.run.stages else None
        console = Console()
        handler = _log_to(out / LOG_NAME)
        logging.getLogger("fixynn").info(
            "fixynn run: out=%s quick=%s config=%s", out, quick, config
        )
        try:
            with RichEvents(console) as events:
                outcome = run_pipeline(cfg, out, events, tasks)
        finally:
            logging.getLogger("fixynn").removeHandler(handler)
            handler.close()
        for line in outcome.not_run:
            console.print(f"[yellow]not run[/]: {line}")
        if outcome.report:
            console.print(
                f"Report: {outcome.report['html']}  (also {outcome.report['markdown']},"
                f" {outcome.report['results']})"
            )
        console.print(f"Log: {out / LOG_NAME}")
        failed = [a.step for a in outcome.artifacts.values()
                  if a.step.startswith("verify/") and a.result["mismatches"]]
        if failed:  # the report is written; the run still fails: the RTL is wrong
            console.print(f"[red]RTL mismatches the golden model[/] in {', '.join(failed)}")
            raise typer.Exit(1)
